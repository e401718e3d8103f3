"""``assay server``: the REST API (Testkube's ``/v1`` paths where they overlap), bearer
tokens with scopes, live logs over Server-Sent Events, over :class:`assay.app.Assay`.

Nothing here is imported at CLI start-up: ``assay server`` imports
:func:`assay.server.serve.serve` when it runs.
"""
