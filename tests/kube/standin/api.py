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

CustomResourceDefinitions may be created (``/apis/apiextensions.k8s.io/v1/...``); each served
version's resources are then served under ``/apis/GROUP/VERSION/namespaces/NS/PLURAL`` like
the built-in ones, their bodies validated against the version's ``openAPIV3Schema`` (unknown
fields refused where the schema does not preserve them, as ``kubectl``'s strict field
validation does; ``metadata`` against the official ObjectMeta schema). A 404 answers a
resource no CRD defines. :meth:`Store.compact` forgets the change log, so watches from an
older resourceVersion are answered 410 Gone, as after etcd's compaction.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema
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
    "services": ("/api/v1", "Service", "v1"),
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
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SUBDOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)


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


def validate_service(body: dict[str, Any]) -> None:
    """A Service validated as any object; only headless ones (``clusterIP: None``) are
    served: the stand-in has no service proxy, only DNS names (:mod:`standin.kubelet`)."""
    validate(body)
    spec = body.get("spec") or {}
    if spec.get("clusterIP") != "None" or spec.get("type", "ClusterIP") != "ClusterIP":
        raise ApiError(
            422,
            "Invalid",
            "Service is invalid: spec.clusterIP: the stand-in serves only headless Services "
            '(clusterIP: "None")',
        )
    name = body.get("metadata", {}).get("name", "")
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
        raise ApiError(
            422,
            "Invalid",
            f'Service "{name}" is invalid: metadata.name: Invalid value: "{name}": a DNS-1035 '
            "label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character",
        )


def validate_custom(schema: dict[str, Any], body: dict[str, Any]) -> None:
    """A custom resource against its CRD version's ``openAPIV3Schema`` (422 if it does not
    conform), its metadata against the official ObjectMeta schema."""
    kind = body.get("kind", "object")
    try:
        validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": body.get("metadata", {})})
    except ApiError as exc:
        raise ApiError(422, "Invalid", exc.message.replace("ConfigMap", kind, 1)) from None
    name = body.get("metadata", {}).get("name")
    if isinstance(name, str) and not SUBDOMAIN.fullmatch(name):
        raise ApiError(
            422,
            "Invalid",
            f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase '
            "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
        )
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(body))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "<root>"
        raise ApiError(422, "Invalid", f"{kind} is invalid: {where}: {error.message}")
    unknown = _unknown_field(schema, body, "")
    if unknown:
        raise ApiError(422, "Invalid", f'{kind} is invalid: unknown field "{unknown}"')


def _unknown_field(schema: dict[str, Any], value: Any, path: str) -> str | None:
    """The first field of ``value`` a structural schema does not declare (None: none)."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found = _unknown_field(schema["items"], item, f"{path}[{index}]")
            if found:
                return found
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return None
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if properties is not None and key in properties:
            found = _unknown_field(properties[key], item, where)
        elif isinstance(extra, dict):
            found = _unknown_field(extra, item, where)
        elif properties is not None and not extra:
            return where
        else:
            found = None
        if found:
            return found
    return None


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
    compacted: int = 0
    """Watches from before this resourceVersion are 410 Gone (:meth:`compact`)."""
    lock: threading.Condition = field(default_factory=threading.Condition)
    on_create: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    admit: list[Callable[[Store, str, str, dict[str, Any]], None]] = field(default_factory=list)
    """Admission checks, under the lock, of every object created (by a client or by a
    controller), its name generated: raise an :class:`ApiError` to refuse it."""
    on_delete: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    on_update: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    """Called with the object a client replaced or patched (not a controller's update)."""

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

    def replace(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace an object (PUT): 404 if there is none, 409 if the body names another
        resourceVersion than the stored one."""
        meta = body.setdefault("metadata", {})
        with self.lock:
            item = self.objects.get((kind, namespace, name))
            if item is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            stored = item["metadata"]
            if meta.get("resourceVersion") not in (None, stored["resourceVersion"]):
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.lower()}s "{name}": the object '
                    "has been modified; please apply your changes to the latest version",
                )
            meta.update(
                name=name,
                namespace=namespace,
                uid=stored["uid"],
                creationTimestamp=stored["creationTimestamp"],
            )
            self.objects[(kind, namespace, name)] = body
            replaced = self._record(kind, "MODIFIED", body)
        for hook in self.on_update:
            hook(replaced)
        return replaced

    def patch(
        self,
        kind: str,
        namespace: str,
        name: str,
        patched: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Replace an object by ``patched(stored)`` (a PATCH: the function applies and
        validates the patch, raising an :class:`ApiError` to refuse it)."""
        with self.lock:
            item = self.objects.get((kind, namespace, name))
            if item is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            body = patched(copy.deepcopy(item))
            self.objects[(kind, namespace, name)] = body
            result = self._record(kind, "MODIFIED", body)
        for hook in self.on_update:
            hook(result)
        return result

    def compact(self) -> None:
        """Forget the change log, as etcd's compaction does: a watch from an older
        resourceVersion is then 410 Gone."""
        with self.lock:
            self.events.clear()
            self.compacted = self.version

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


@dataclass(frozen=True)
class Resource:
    """A served resource: the kind and apiVersion of its objects, and their validation."""

    kind: str
    api_version: str
    check: Callable[[dict[str, Any]], None] = validate


class Api:
    """The HTTP side: routes for the resources of :data:`RESOURCES`, pod logs, CRDs and the
    custom resources they define."""

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
        self.custom: dict[tuple[str, str, str], Resource] = {}
        """(group, version, plural) -> resource, from the created CRDs."""
        self.crds: dict[str, dict[str, Any]] = {}
        self.patch: Callable[[dict[str, Any], Any, str], dict[str, Any]] | None = None
        """PATCH of Pods (:func:`standin.patch.patched_pod`: stored, patch, content type ->
        the patched Pod, validated); None: PATCH is not served."""
        routes = []
        for plural, (prefix, kind, api_version) in RESOURCES.items():
            check = validate_service if kind == "Service" else validate
            builtin = functools.partial(_same, Resource(kind, api_version, check))
            collection = f"{prefix}/namespaces/{{namespace}}/{plural}"
            routes.append(Route(collection, self._collection(builtin), methods=["GET", "POST"]))
            methods = ["GET", "PUT", "DELETE", *(["PATCH"] if kind == "Pod" else [])]
            routes.append(Route(f"{collection}/{{name}}", self._item(builtin), methods=methods))
        routes.append(Route("/api/v1/namespaces/{namespace}/pods/{name}/log", self._log))
        routes.append(Route(CRD_PATH, self._create_crd, methods=["POST"]))
        custom = "/apis/{group}/{version}/namespaces/{namespace}/{plural}"
        routes.append(Route(custom, self._collection(self._custom), methods=["GET", "POST"]))
        routes.append(
            Route(f"{custom}/{{name}}", self._item(self._custom), methods=["GET", "PUT", "DELETE"])
        )
        self.app = Starlette(routes=routes)

    def _authorised(self, request: Request) -> None:
        self.requests.append((request.method, str(request.url.path) + "?" + request.url.query))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _custom(self, request: Request) -> Resource:
        params = request.path_params
        found = self.custom.get((params["group"], params["version"], params["plural"]))
        if found is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return found

    async def _create_crd(self, request: Request) -> Response:
        """Create a CustomResourceDefinition: its served versions are served from then on."""
        try:
            self._authorised(request)
            body = await request.json()
            validate(body)
            name, spec = body["metadata"]["name"], body["spec"]
            if name != f"{spec['names']['plural']}.{spec['group']}":
                raise ApiError(422, "Invalid", f"metadata.name {name!r}: must be PLURAL.GROUP")
            if spec["scope"] != "Namespaced":
                raise ApiError(422, "Invalid", "only Namespaced custom resources are served")
            if name in self.crds:
                raise ApiError(409, "AlreadyExists", f'customresourcedefinitions "{name}" exists')
            for version in spec["versions"]:
                if version["served"]:
                    schema = version.get("schema", {}).get("openAPIV3Schema", {})
                    self.custom[(spec["group"], version["name"], spec["names"]["plural"])] = (
                        Resource(
                            spec["names"]["kind"],
                            f"{spec['group']}/{version['name']}",
                            functools.partial(validate_custom, schema),
                        )
                    )
            body["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=timestamp())
            body["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
            self.crds[name] = body
            return JSONResponse(body, status_code=201)
        except ApiError as exc:
            return exc.response()

    @staticmethod
    async def _body(request: Request, resource: Resource, namespace: str) -> dict[str, Any]:
        """The request's object, of the resource's kind and namespace, validated."""
        body: dict[str, Any] = await request.json()
        if body.get("kind") != resource.kind or body.get("apiVersion") != resource.api_version:
            raise ApiError(
                400, "BadRequest", f"expected {resource.api_version} {resource.kind} in the body"
            )
        resource.check(body)
        if body.get("metadata", {}).get("namespace") not in (None, namespace):
            raise ApiError(
                400, "BadRequest", "the namespace of the object does not match the request's"
            )
        return body

    def _collection(self, resolve: Callable[[Request], Resource]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                self._authorised(request)
                resource = resolve(request)
                kind, namespace = resource.kind, request.path_params["namespace"]
                if request.method == "POST":
                    body = await self._body(request, resource, namespace)
                    return JSONResponse(self.store.create(kind, namespace, body), status_code=201)
                selector = request.query_params.get("labelSelector", "")
                if request.query_params.get("watch") in ("true", "1"):
                    return self._watch(request, kind, namespace, selector)
                fields = request.query_params.get("fieldSelector", "")
                items, version = self.store.list(kind, namespace, selector, fields)
                return JSONResponse(
                    {
                        "kind": f"{kind}List",
                        "apiVersion": resource.api_version,
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
            if version < max(oldest - 1, self.store.compacted):
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

    def _item(self, resolve: Callable[[Request], Resource]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                self._authorised(request)
                resource = resolve(request)
                kind = resource.kind
                namespace, name = request.path_params["namespace"], request.path_params["name"]
                if request.method == "GET":
                    return JSONResponse(self.store.get(kind, namespace, name))
                if request.method == "PUT":
                    body = await self._body(request, resource, namespace)
                    if body.get("metadata", {}).get("name") not in (None, name):
                        raise ApiError(400, "BadRequest", "the name of the object does not match")
                    return JSONResponse(self.store.replace(kind, namespace, name, body))
                if request.method == "PATCH":
                    return JSONResponse(await self._patched(request, kind, namespace, name))
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
                if kind in ("Pod", "Service"):  # their registries return the deleted object
                    return JSONResponse(deleted)
                plural = request.url.path.rstrip("/").split("/")[-2]
                details = {"name": name, "kind": plural, "uid": deleted["metadata"]["uid"]}
                return JSONResponse(status(200, "", "", details))
            except ApiError as exc:
                return exc.response()

        return endpoint

    async def _patched(
        self, request: Request, kind: str, namespace: str, name: str
    ) -> dict[str, Any]:
        patch = self.patch
        if patch is None:
            raise ApiError(405, "MethodNotAllowed", f"PATCH of {kind}: not served")
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "BadRequest", "the patch is not JSON") from None
        return self.store.patch(
            kind, namespace, name, lambda stored: patch(stored, body, content_type)
        )

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


def _same(resource: Resource, _request: Request) -> Resource:
    return resource


def _cut(chunks: Iterator[bytes], end: float) -> Iterator[bytes]:
    """``chunks`` until ``end`` (monotonic): the stream is dropped there."""
    for chunk in chunks:
        yield chunk
        if time.monotonic() >= end:
            return
