"""Kubernetes: an execution as a Job whose Pod runs the steps in order, and the manifests that
install ``assay server`` in a cluster.

:mod:`.plan` turns a resolved TestWorkflow into containers, :mod:`.render` into objects,
:mod:`.install` makes the server's manifests, :mod:`.manifests` prints them; :mod:`.cluster` is
the API client (also of :mod:`assay.server.kube_sync`). Import the modules themselves: this
package imports nothing (start-up time).
"""
