"""The definitions of one namespace's Testkube custom resources, kept in the store
(``assay server --watch-namespace``).

For each kind of :data:`~assay.kube.install.CRDS`, a loop lists the custom resources, then
watches them from the list's resourceVersion (resumed after a dropped stream, listed again
after 410 Gone, with backoff after errors). ADDED and MODIFIED objects are applied through
:meth:`assay.app.Assay.apply_text`, the call behind ``assay apply`` and the API, so they are
validated alike: an invalid one is logged (its name, the field) and the store keeps what it
had. The stored source of a definition from the cluster is its origin,
``kubernetes://NAMESPACE/PLURAL/NAME``; DELETED, or absence from a new list, removes only a
definition still of that origin (one applied since through the API stays). A path given to
``assay apply`` never holds ``//``, and the API's source is ``body``: the origins cannot
clash.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError
from assay.kube.install import Kind

if TYPE_CHECKING:
    from assay.app import Assay
    from assay.kube.cluster import Cluster

__all__ = ["ORIGIN", "DefinitionSync", "definition_of", "origin_of"]

log = logging.getLogger("assay.server.kube_sync")

ORIGIN = "kubernetes://"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


def origin_of(namespace: str, kind: Kind, name: str = "") -> str:
    """The stored source of a definition from the cluster (without ``name``: the prefix of
    every one of ``kind`` in ``namespace``)."""
    return f"{ORIGIN}{namespace}/{kind.plural}/{name}"


def definition_of(item: dict[str, Any]) -> dict[str, Any]:
    """The definition document of a custom resource: its metadata as written (name,
    namespace, labels, annotations but kubectl's last-applied copy), no ``status``."""
    meta = item.get("metadata") or {}
    metadata: dict[str, Any] = {key: meta[key] for key in ("name", "namespace") if key in meta}
    if meta.get("labels"):
        metadata["labels"] = meta["labels"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        metadata["annotations"] = annotations
    rest = {k: v for k, v in item.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    return {
        "apiVersion": item.get("apiVersion"),
        "kind": item.get("kind"),
        "metadata": metadata,
        **rest,
    }


class DefinitionSync:
    """Keeps ``facade``'s definitions in step with the custom resources of ``namespace``;
    :meth:`run` is the loop of one kind (a thread each), :meth:`interrupt` ends them."""

    def __init__(self, facade: Assay, namespace: str, *, watch_seconds: int = 300) -> None:
        self.facade = facade
        self.namespace = namespace
        self.watch_seconds = watch_seconds
        self._cluster: Cluster | None = None
        self._lock = threading.Lock()
        self._interrupted = False

    def interrupt(self) -> None:
        """End the open watches (the loops then see their stop event)."""
        with self._lock:
            self._interrupted = True
            cluster = self._cluster
        if cluster is not None:
            cluster.interrupt()

    def run(self, kind: Kind, stop: threading.Event) -> None:
        """List, then watch the objects of ``kind`` until ``stop``; never raises."""
        what = f"{kind.plural}.{kind.group} in {self.namespace}"
        version: str | None = None
        failures = 0
        while not stop.is_set():
            try:
                cluster = self._connect()
                if version is None:
                    items, version = cluster.list_custom(kind.group, kind.version, kind.plural)
                    self._resync(kind, items)
                    failures = 0
                for event in cluster.watch_custom(
                    kind.group, kind.version, kind.plural, version, self.watch_seconds
                ):
                    if stop.is_set():
                        return
                    meta = (event.get("object") or {}).get("metadata") or {}
                    version = meta.get("resourceVersion") or version
                    self._event(kind, event)
            except Exception as exc:  # the API or the store may come back: never give up
                from assay.kube.cluster import Gone

                if isinstance(exc, Gone):
                    log.info("%s: resourceVersion %s expired; listing again", what, version)
                else:
                    failures += 1
                    delay = min(BACKOFF_SECONDS * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
                    log.warning("watching %s: %s (again in %.1f s)", what, exc, delay)
                    stop.wait(delay)
                version = None  # changes may have been missed: list again

    def _connect(self) -> Cluster:
        from assay.kube.cluster import Cluster

        with self._lock:
            if self._cluster is None:
                self._cluster = Cluster(self.namespace)
                if self._interrupted:
                    self._cluster.interrupt()
            return self._cluster

    def _resync(self, kind: Kind, items: list[dict[str, Any]]) -> None:
        """Apply the listed objects that changed; withdraw the definitions of this origin
        whose object is gone."""
        stored = self.facade.definitions.sources(kind.kind, origin_of(self.namespace, kind))
        listed = set()
        for item in items:
            name = str(item["metadata"]["name"])
            listed.add(name)
            if stored.get(name) != (origin_of(self.namespace, kind, name), definition_of(item)):
                self._apply(kind, item)
        for name, (source, _document) in stored.items():
            if name not in listed:
                self._withdraw(kind, name, source)

    def _event(self, kind: Kind, event: dict[str, Any]) -> None:
        item = event.get("object") or {}
        if event.get("type") in ("ADDED", "MODIFIED"):
            self._apply(kind, item)
        elif event.get("type") == "DELETED":
            name = str(item["metadata"]["name"])
            self._withdraw(kind, name, origin_of(self.namespace, kind, name))

    def _apply(self, kind: Kind, item: dict[str, Any]) -> None:
        name = str(item["metadata"]["name"])
        source = origin_of(self.namespace, kind, name)
        try:
            self.facade.apply_text(json.dumps(definition_of(item)), source=source, kind=kind.kind)
        except DefinitionError as exc:
            log.warning(
                "%s %s in %s not applied (invalid): %s", kind.kind, name, self.namespace, exc
            )
            return
        log.info("%s %s applied from %s", kind.kind, name, source)

    def _withdraw(self, kind: Kind, name: str, source: str) -> None:
        if self.facade.withdraw_definition(kind.kind, name, source):
            log.info("%s %s removed (gone from %s)", kind.kind, name, self.namespace)
