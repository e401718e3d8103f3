"""The Kubernetes API calls of the live runner, through the official ``kubernetes`` client.

The client is imported when a :class:`Cluster` is made, never at CLI start-up. Objects go and
come as plain dicts (the rendered objects are dicts; answers are read with
``_preload_content=False``), so no model classes stand between the runner and the API.
Every API fault becomes an :class:`~assay.errors.InfrastructureError` naming the call.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from assay.errors import InfrastructureError

__all__ = ["Cluster", "Gone"]

T = TypeVar("T")
_IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class Gone(InfrastructureError):
    """A watch's resourceVersion is too old (410): list again."""


class Cluster:
    """One namespace of one cluster: kubeconfig (``KUBECONFIG``, ``~/.kube/config``) or,
    inside a Pod, the in-cluster service account."""

    def __init__(self, namespace: str) -> None:
        try:
            import kubernetes
        except ImportError:
            raise InfrastructureError(
                "--runner kubernetes and --watch-namespace need the kubernetes client: "
                "pip install 'assay[kubernetes]'"
            ) from None
        # the client's typed models are not used: objects stay dicts, so it is typed Any here
        client: Any = kubernetes.client
        config: Any = kubernetes.config
        self.namespace = namespace
        try:
            kubeconfig = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
            if Path(kubeconfig.split(os.pathsep)[0]).is_file():
                api = config.new_client_from_config(config_file=kubeconfig)
            elif _IN_CLUSTER_TOKEN.is_file():
                config.load_incluster_config()
                api = client.ApiClient()
            else:
                raise InfrastructureError(
                    f"Kubernetes: no kubeconfig ({kubeconfig} does not exist; KUBECONFIG "
                    "names another) and not in a cluster"
                )
        except config.ConfigException as exc:
            raise InfrastructureError(f"Kubernetes: cannot load the configuration: {exc}") from None
        self._exception: type[Exception] = client.ApiException
        self.api: Any = api
        self.core: Any = client.CoreV1Api(api)
        self.batch: Any = client.BatchV1Api(api)
        self.custom: Any = client.CustomObjectsApi(api)
        self._streams: set[Any] = set()
        self._streams_lock = threading.Lock()
        self._interrupted = False

    def interrupt(self) -> None:
        """End every open watch at once (and any opened later): their readers see the
        stream end. For stopping from another thread."""
        with self._streams_lock:
            self._interrupted = True
            streams = list(self._streams)
        for response in streams:
            response.shutdown()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except self._exception as exc:
            status = getattr(exc, "status", 0)
            message = _message(getattr(exc, "body", None)) or getattr(exc, "reason", "") or str(exc)
            if status == 410:
                raise Gone(f"Kubernetes: {what}: {message}") from None
            raise InfrastructureError(f"Kubernetes: {what}: {status} {message}") from None
        except OSError as exc:  # connection refused, DNS, TLS
            raise InfrastructureError(f"Kubernetes: {what}: {exc}") from None
        except Exception as exc:  # urllib3's errors are not OSErrors
            if type(exc).__module__.startswith("urllib3"):
                raise InfrastructureError(f"Kubernetes: {what}: {exc}") from None
            raise

    def _json(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        response = self._call(what, call)
        data: dict[str, Any] = json.loads(response.data)
        return data

    def create(self, item: dict[str, Any]) -> dict[str, Any]:
        """Create one rendered object (Secret, ConfigMap, Service, Pod, Job)."""
        kind, name, ns = item["kind"], item["metadata"]["name"], self.namespace
        calls: dict[str, Callable[[], Any]] = {
            "Secret": lambda: self.core.create_namespaced_secret(ns, item, _preload_content=False),
            "ConfigMap": lambda: self.core.create_namespaced_config_map(
                ns, item, _preload_content=False
            ),
            "Service": lambda: self.core.create_namespaced_service(
                ns, item, _preload_content=False
            ),
            "Pod": lambda: self.core.create_namespaced_pod(ns, item, _preload_content=False),
            "Job": lambda: self.batch.create_namespaced_job(ns, item, _preload_content=False),
        }
        return self._json(f"create {kind} {name}", calls[kind])

    def delete(self, kind: str, name: str) -> bool:
        """Delete an object (a Job with its Pods, in the background); False if it was gone."""
        ns = self.namespace
        calls: dict[str, Callable[[], Any]] = {
            "Secret": lambda: self.core.delete_namespaced_secret(name, ns),
            "ConfigMap": lambda: self.core.delete_namespaced_config_map(name, ns),
            "Service": lambda: self.core.delete_namespaced_service(name, ns),
            "Pod": lambda: self.core.delete_namespaced_pod(name, ns, grace_period_seconds=0),
            "Job": lambda: self.batch.delete_namespaced_job(
                name, ns, propagation_policy="Background", _preload_content=False
            ),
        }
        try:
            self._call(f"delete {kind} {name}", calls[kind])
        except InfrastructureError as exc:
            if ": 404 " in str(exc):
                return False
            raise
        return True

    def read_job(self, name: str) -> dict[str, Any]:
        return self._json(
            f"read Job {name}",
            lambda: self.batch.read_namespaced_job(name, self.namespace, _preload_content=False),
        )

    def read_pod(self, name: str) -> dict[str, Any]:
        return self._json(
            f"read Pod {name}",
            lambda: self.core.read_namespaced_pod(name, self.namespace, _preload_content=False),
        )

    def patch_pod(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of a Pod (its annotations: :mod:`assay.kube.signals`)."""
        return self._json(
            f"patch Pod {name}",
            lambda: self.core.patch_namespaced_pod(
                name,
                self.namespace,
                patch,
                _content_type="application/merge-patch+json",
                _preload_content=False,
            ),
        )

    def read_log(self, pod: str, container: str) -> bytes:
        """A container's output so far (not followed)."""
        response = self._call(
            f"logs of {pod}/{container}",
            lambda: self.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, _preload_content=False
            ),
        )
        try:
            return bytes(response.data)
        finally:
            response.release_conn()

    def list_pods(self, selector: str) -> tuple[list[dict[str, Any]], str]:
        """The Pods ``selector`` matches, and the list's resourceVersion."""
        listed = self._json(
            f"list Pods {selector}",
            lambda: self.core.list_namespaced_pod(
                self.namespace, label_selector=selector, _preload_content=False
            ),
        )
        return list(listed.get("items", [])), str(listed["metadata"]["resourceVersion"])

    def events(self, uid: str, reason: str) -> list[dict[str, Any]]:
        """The Events about the object ``uid`` with ``reason``, the latest last."""
        listed = self._json(
            f"list Events {reason} of {uid}",
            lambda: self.core.list_namespaced_event(
                self.namespace,
                field_selector=f"involvedObject.uid={uid},reason={reason}",
                _preload_content=False,
            ),
        )
        items: list[dict[str, Any]] = listed.get("items", [])
        return sorted(items, key=lambda event: str(event.get("lastTimestamp") or ""))

    def watch_pods(self, selector: str, version: str, seconds: int) -> Iterator[dict[str, Any]]:
        """The watch events (``type``, ``object``) of the Pods after ``version``, for at most
        ``seconds``; :class:`Gone` if that version is too old."""
        return self._watch(
            f"watch Pods {selector}",
            lambda: self.core.list_namespaced_pod(
                self.namespace,
                label_selector=selector,
                watch=True,
                resource_version=version,
                timeout_seconds=seconds,
                _preload_content=False,
            ),
        )

    def list_custom(
        self, group: str, version: str, plural: str
    ) -> tuple[list[dict[str, Any]], str]:
        """The custom objects ``plural`` of ``group/version``, and the list's resourceVersion."""
        listed = self._json(
            f"list {plural}.{group}",
            lambda: self.custom.list_namespaced_custom_object(
                group, version, self.namespace, plural, _preload_content=False
            ),
        )
        return list(listed.get("items", [])), str(listed["metadata"]["resourceVersion"])

    def watch_custom(
        self, group: str, version: str, plural: str, since: str, seconds: int
    ) -> Iterator[dict[str, Any]]:
        """The watch events of the custom objects ``plural`` after resourceVersion ``since``
        (bookmarks included), for at most ``seconds`` (or until the connection is silent 30 s
        longer); :class:`Gone` if ``since`` is too old."""
        return self._watch(
            f"watch {plural}.{group}",
            lambda: self.custom.list_namespaced_custom_object(
                group,
                version,
                self.namespace,
                plural,
                watch=True,
                resource_version=since,
                allow_watch_bookmarks=True,
                timeout_seconds=seconds,
                # a connection gone silent (no FIN) ends too: the server ends it before
                _request_timeout=(10, seconds + 30),
                _preload_content=False,
            ),
        )

    def _watch(self, what: str, call: Callable[[], Any]) -> Iterator[dict[str, Any]]:
        """The events of a watch request; an ``ERROR`` event is raised (:class:`Gone` for
        410). The stream ends when the server ends it, or at :meth:`interrupt`."""
        response = self._call(what, call)
        with self._streams_lock:
            self._streams.add(response)
            interrupted = self._interrupted
        if interrupted:
            response.shutdown()
        try:
            for line in _lines(response):
                if not line.strip():
                    continue
                try:
                    event: dict[str, Any] = json.loads(line)
                except ValueError:  # cut in the middle of an event: the caller resumes
                    return
                if event.get("type") == "ERROR":
                    code = event.get("object", {}).get("code")
                    message = _message(event.get("object")) or "watch error"
                    raise (Gone if code == 410 else InfrastructureError)(f"Kubernetes: {message}")
                yield event
        finally:
            with self._streams_lock:
                self._streams.discard(response)
            response.release_conn()

    def follow_log(self, pod: str, container: str) -> Iterator[bytes]:
        """A container's output as it comes (``follow=true``), in chunks, until it ends or
        the connection drops."""
        response = self._call(
            f"logs of {pod}/{container}",
            lambda: self.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, follow=True, _preload_content=False
            ),
        )
        try:
            yield from _chunks(response)
        finally:
            response.release_conn()


def _chunks(response: Any) -> Iterator[bytes]:
    """The body of a streamed HTTP answer as it comes; a dropped connection ends it (the
    caller resumes)."""
    try:
        yield from response.stream(4096, decode_content=False)
    except Exception as exc:
        if not type(exc).__module__.startswith(("urllib3", "http")):
            raise


def _lines(response: Any) -> Iterator[str]:
    """Lines of a streamed HTTP answer (a last line without newline included)."""
    pending = b""
    for chunk in _chunks(response):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _message(body: Any) -> str | None:
    """The ``message`` of a Status (as JSON text or a dict)."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)[:200] or None
    if isinstance(body, dict):
        return str(body.get("message") or "") or None
    return None
