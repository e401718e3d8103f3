"""The stand-in's API server: the part of the Kubernetes API the runner uses, on loopback.

Objects are kept in memory with one resourceVersion counter, as etcd's revision: every
change gets the next number, and watches replay the changes after the version they name
(none or "0": the current objects as ADDED first). Request bodies are validated strictly
(no unknown field, required fields present) against the official OpenAPI schemas of
Kubernetes 1.31 shipped by ``kubernetes-validate``; a refused body is a 422 ``Invalid``
Status, as the API server answers. Lists take ``labelSelector`` and ``fieldSelector`` (the
field labels the API server knows for the kind). Every create, a client's or a
controller's, passes :attr:`Store.admit` (the quota admission of :mod:`standin.quota`).
Creating a Job creates its Pod, which the :class:`~standin.kubelet.Kubelet` runs on the
Docker Engine.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SCHEMA_VERSION = "1.31.0"
RESOURCES = {
    # plural -> (group/version path prefix, kind, apiVersion)
    "pods": ("/api/v1", "Pod", "v1"),
    "configmaps": ("/api/v1", "ConfigMap", "v1"),
    "secrets": ("/api/v1", "Secret", "v1"),
    "events": ("/api/v1", "Event", "v1"),
    "resourcequotas": ("/api/v1", "ResourceQuota", "v1"),
    "jobs": ("/apis/batch/v1", "Job", "batch/v1"),
}
FIELDS = {"metadata.name", "metadata.namespace"}
EVENT_FIELDS = FIELDS | {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
}
"""The field labels a ``fieldSelector`` may name (the API server's, per kind)."""
DELETE_OPTIONS = {"apiVersion", "kind", "gracePeriodSeconds", "propagationPolicy", "dryRun"}


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An API error answered as a ``Status`` object."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def response(self) -> JSONResponse:
        body = status(self.code, self.reason, self.message, self.details)
        return JSONResponse(body, status_code=self.code)


def status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def validate(body: dict[str, Any]) -> None:
    """Strict schema validation, as a 422 when the body does not conform."""
    try:
        kubernetes_validate.validate(body, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.absolute_path) or "<root>"
        kind = body.get("kind", "object")
        raise ApiError(422, "Invalid", f"{kind} is invalid: {where}: {exc.message}") from None
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        raise ApiError(400, "BadRequest", str(exc)) from None


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def fields_match(selector: str, kind: str, item: dict[str, Any]) -> bool:
    """Field selectors (``f=v``, ``f==v``, ``f!=v``) over the field labels of ``kind``; an
    unknown label is a 400, as the API server answers."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        negated = "!=" in term
        key, value = term.replace("!=", "=").replace("==", "=").split("=", 1)
        if key not in (EVENT_FIELDS if kind == "Event" else FIELDS):
            raise ApiError(400, "BadRequest", f'"{key}" is not a known field selector')
        found: Any = item
        for part in ("source.component" if key == "source" else key).split("."):
            found = found.get(part, "") if isinstance(found, dict) else ""
        if (str(found) == value) == negated:
            return False
    return True


@dataclass
class Event:
    version: int
    kind: str
    type: str
    object: dict[str, Any]


@dataclass
class Store:
    """The objects, their change log and the lock and condition guarding both."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    version: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)
    on_create: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    admit: list[Callable[[Store, str, str, dict[str, Any]], None]] = field(default_factory=list)
    """Admission checks, under the lock, of every object created (by a client or by a
    controller), its name generated: raise an :class:`ApiError` to refuse it."""
    on_delete: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def _record(self, kind: str, kind_of_change: str, item: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        item["metadata"]["resourceVersion"] = str(self.version)
        self.events.append(Event(self.version, kind, kind_of_change, copy.deepcopy(item)))
        self.lock.notify_all()
        return copy.deepcopy(item)

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + secrets.token_hex(3)[:5]
        if not name:
            raise ApiError(422, "Invalid", f"{kind}: metadata.name: Required value")
        with self.lock:
            if (kind, namespace, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{kind.lower()}s "{name}" already exists')
            meta["name"] = name
            for check in self.admit:
                check(self, kind, namespace, body)
            meta.update(
                name=name, namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=timestamp()
            )
            if kind == "Secret" and "stringData" in body:
                data = body.setdefault("data", {})
                for key, value in body.pop("stringData").items():
                    data[key] = base64.b64encode(value.encode()).decode()
            self.objects[(kind, namespace, name)] = body
            created = self._record(kind, "ADDED", body)
        for hook in self.on_create:
            hook(created)
        return created

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            item = self.objects.get((kind, namespace, name))
            if item is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            return copy.deepcopy(item)

    def update(
        self, kind: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        """Apply ``change`` to a stored object (the controllers' status updates)."""
        with self.lock:
            item = self.objects.get((kind, namespace, name))
            if item is not None:
                change(item)
                self._record(kind, "MODIFIED", item)

    def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            item = self.objects.pop((kind, namespace, name), None)
            if item is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            if kind == "Pod":  # gone at once, as after its kubelet's final grace-0 delete
                item["metadata"].setdefault("deletionTimestamp", timestamp())
                item["metadata"]["deletionGracePeriodSeconds"] = 0
            deleted = self._record(kind, "DELETED", item)
        for hook in self.on_delete:
            hook(deleted)
        return deleted

    def list(
        self, kind: str, namespace: str, selector: str, fields: str = ""
    ) -> tuple[list[dict[str, Any]], int]:
        with self.lock:
            items = [
                copy.deepcopy(item)
                for (k, ns, _), item in self.objects.items()
                if k == kind
                and ns == namespace
                and selector_matches(selector, item["metadata"].get("labels", {}))
                and fields_match(fields, kind, item)
            ]
            return items, self.version

    def changes_after(self, version: int) -> list[Event]:
        with self.lock:
            return [event for event in self.events if event.version > version]


class Api:
    """The HTTP side: routes for the resources of :data:`RESOURCES` and pod logs."""

    def __init__(
        self, store: Store, token: str, logs: Callable[[str, str, str, bool], Iterator[bytes]]
    ) -> None:
        self.store = store
        self.token = token
        self.logs = logs
        self.requests: list[tuple[str, str]] = []
        """(method, path and query) of every request, for tests."""
        self.stream_limit: float | None = None
        """Seconds after which watch and log streams are cut (a dropped connection, as a
        restarted API server or a proxy's idle timeout does); None: never."""
        routes = []
        for plural, (prefix, _, _) in RESOURCES.items():
            collection = f"{prefix}/namespaces/{{namespace}}/{plural}"
            routes.append(Route(collection, self._collection(plural), methods=["GET", "POST"]))
            routes.append(
                Route(f"{collection}/{{name}}", self._item(plural), methods=["GET", "DELETE"])
            )
        routes.append(Route("/api/v1/namespaces/{namespace}/pods/{name}/log", self._log))
        self.app = Starlette(routes=routes)

    def _authorised(self, request: Request) -> None:
        self.requests.append((request.method, str(request.url.path) + "?" + request.url.query))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _collection(self, plural: str) -> Callable[[Request], Any]:
        _, kind, api_version = RESOURCES[plural]

        async def endpoint(request: Request) -> Response:
            try:
                self._authorised(request)
                namespace = request.path_params["namespace"]
                if request.method == "POST":
                    body = await request.json()
                    if body.get("kind") != kind or body.get("apiVersion") != api_version:
                        raise ApiError(
                            400, "BadRequest", f"expected {api_version} {kind} in the body"
                        )
                    validate(body)
                    ns = body.get("metadata", {}).get("namespace")
                    if ns not in (None, namespace):
                        raise ApiError(
                            400,
                            "BadRequest",
                            "the namespace of the object does not match the request's",
                        )
                    return JSONResponse(self.store.create(kind, namespace, body), status_code=201)
                selector = request.query_params.get("labelSelector", "")
                if request.query_params.get("watch") in ("true", "1"):
                    return self._watch(request, kind, namespace, selector)
                fields = request.query_params.get("fieldSelector", "")
                items, version = self.store.list(kind, namespace, selector, fields)
                return JSONResponse(
                    {
                        "kind": f"{kind}List",
                        "apiVersion": api_version,
                        "metadata": {"resourceVersion": str(version)},
                        "items": items,
                    }
                )
            except ApiError as exc:
                return exc.response()

        return endpoint

    def _watch(self, request: Request, kind: str, namespace: str, selector: str) -> Response:
        since = request.query_params.get("resourceVersion") or "0"
        timeout = float(request.query_params.get("timeoutSeconds") or 1800)
        timeout = min(timeout, self.stream_limit or timeout)
        initial: list[dict[str, Any]] = []
        if since == "0":
            items, version = self.store.list(kind, namespace, selector)
            initial = [{"type": "ADDED", "object": item} for item in items]
        else:
            version = int(since)
            oldest = self.store.events[0].version if self.store.events else 0
            if version < oldest - 1:
                raise ApiError(410, "Expired", f"too old resource version: {version}")

        async def lines() -> AsyncIterator[bytes]:
            seen = version
            for event in initial:
                yield (json.dumps(event) + "\n").encode()
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if await request.is_disconnected():
                    return
                for event in self.store.changes_after(seen):
                    seen = event.version
                    meta = event.object["metadata"]
                    if (
                        event.kind == kind
                        and meta.get("namespace") == namespace
                        and selector_matches(selector, meta.get("labels", {}))
                    ):
                        yield (
                            json.dumps({"type": event.type, "object": event.object}) + "\n"
                        ).encode()
                await asyncio.sleep(0.05)

        return StreamingResponse(lines(), media_type="application/json")

    def _item(self, plural: str) -> Callable[[Request], Any]:
        _, kind, _ = RESOURCES[plural]

        async def endpoint(request: Request) -> Response:
            try:
                self._authorised(request)
                namespace, name = request.path_params["namespace"], request.path_params["name"]
                if request.method == "GET":
                    return JSONResponse(self.store.get(kind, namespace, name))
                raw = await request.body()
                options = json.loads(raw) if raw else {}
                unknown = set(options) - DELETE_OPTIONS
                if unknown:
                    raise ApiError(
                        400, "BadRequest", f"DeleteOptions: unknown field {sorted(unknown)[0]!r}"
                    )
                policy = options.get("propagationPolicy") or request.query_params.get(
                    "propagationPolicy"
                )
                if policy not in (None, "Orphan", "Background", "Foreground"):
                    raise ApiError(
                        400, "BadRequest", f"propagationPolicy {policy!r} is not supported"
                    )
                deleted = self.store.delete(kind, namespace, name)
                if kind == "Job" and policy in ("Background", "Foreground"):
                    # dependents: the Job's Pods (Foreground waits for them, done here at once)
                    uid = deleted["metadata"]["uid"]
                    for pod in self.store.list("Pod", namespace, f"controller-uid={uid}")[0]:
                        self.store.delete("Pod", namespace, pod["metadata"]["name"])
                if kind == "Pod":  # its registry returns the deleted object (ReturnDeletedObject)
                    return JSONResponse(deleted)
                details = {"name": name, "kind": plural, "uid": deleted["metadata"]["uid"]}
                return JSONResponse(status(200, "", "", details))
            except ApiError as exc:
                return exc.response()

        return endpoint

    async def _log(self, request: Request) -> Response:
        try:
            self._authorised(request)
            namespace, name = request.path_params["namespace"], request.path_params["name"]
            pod = self.store.get("Pod", namespace, name)
            containers = [
                c["name"]
                for c in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
            ]
            container = request.query_params.get("container")
            if container is None:
                if len(pod["spec"]["containers"]) != 1:
                    raise ApiError(
                        400, "BadRequest", f"a container name must be specified for pod {name}"
                    )
                container = containers[-1]
            if container not in containers:
                raise ApiError(
                    400, "BadRequest", f"container {container} is not valid for pod {name}"
                )
            statuses = [
                *pod.get("status", {}).get("initContainerStatuses", []),
                *pod.get("status", {}).get("containerStatuses", []),
            ]
            state = next((s["state"] for s in statuses if s["name"] == container), {})
            if "running" not in state and "terminated" not in state:
                reason = state.get("waiting", {}).get("reason", "PodInitializing")
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "{container}" in pod "{name}" is waiting to start: {reason}',
                )
            follow = request.query_params.get("follow") in ("true", "1")
            stream = self.logs(pod["metadata"]["uid"], container, name, follow)
            if self.stream_limit is not None:
                stream = _cut(stream, time.monotonic() + self.stream_limit)
            return StreamingResponse(stream, media_type="text/plain")
        except ApiError as exc:
            return exc.response()


def _cut(chunks: Iterator[bytes], end: float) -> Iterator[bytes]:
    """``chunks`` until ``end`` (monotonic): the stream is dropped there."""
    for chunk in chunks:
        yield chunk
        if time.monotonic() >= end:
            return
