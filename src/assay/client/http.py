"""``ServerClient``: the remote CLI's calls to ``assay server`` (``/v1``, bearer token).

httpx is imported on the first request, not with this module. Every failure becomes an
:class:`~assay.errors.AssayError` of one line naming the server:

- the server cannot be reached (refused, DNS, timeout, TLS): ``InfrastructureError`` (exit 3);
- 401 (no token, unknown, expired or revoked): :class:`TokenRefused` (exit 2);
- 403 (the token lacks the scope): :class:`ScopeMissing` naming the scope (exit 2);
- 404: ``NotFoundError`` (exit 2); 400, 409, 413, 422: ``DefinitionError`` with the
  server's message (exit 2); any other answer, 5xx included: ``InfrastructureError``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from assay.client.sse import Event, parse_events
from assay.errors import AssayError, DefinitionError, InfrastructureError, NotFoundError

if TYPE_CHECKING:
    import httpx

__all__ = ["ScopeMissing", "ServerClient", "TokenRefused"]

KIND_PATHS = {
    "TestWorkflowTemplate": "/v1/test-workflow-templates",
    "TestWorkflow": "/v1/test-workflows",
    "Test": "/v1/tests",
    "TestSuite": "/v1/test-suites",
}
"""Where the server keeps each kind, in the order they are applied (templates first)."""
_YAML = "application/yaml"

STREAM_RECONNECTS = 5
"""A dropped event stream is resumed (``Last-Event-ID``) this many times in a row at most."""


class TokenRefused(DefinitionError):
    """The server refused the token (HTTP 401): a credential to fix, not a fault to retry."""


class ScopeMissing(DefinitionError):
    """The token is valid but lacks the scope the request needs (HTTP 403)."""


class ServerClient:
    """Typed calls to one ``assay server``; each method is one endpoint."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        self._http: httpx.Client | None = None

    # -- definitions ---------------------------------------------------------------------

    def apply(self, definitions: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Store definitions (parsed documents): one request per kind, templates first; the
        server validates each request's documents, then stores them all or none. Returns
        ``(kind, name)`` of each."""
        unknown = {str(item.get("kind")) for item in definitions} - set(KIND_PATHS)
        if unknown:
            raise DefinitionError(f"kinds the server does not store: {', '.join(sorted(unknown))}")
        applied: list[tuple[str, str]] = []
        for kind, path in KIND_PATHS.items():
            documents = [item for item in definitions if item.get("kind") == kind]
            if not documents:
                continue
            text = "\n---\n".join(json.dumps(item) for item in documents)  # JSON is YAML
            answer = self._call(
                "POST", path, content=text.encode("utf-8"), headers={"Content-Type": _YAML}
            )
            applied += [(kind, str(item["name"])) for item in _items(answer.json())]
        return applied

    def workflows(self) -> list[dict[str, Any]]:
        """Applied definitions."""
        return _items(self._call("GET", "/v1/test-workflows").json())

    # -- executions ----------------------------------------------------------------------

    def run(
        self,
        name: str,
        *,
        config: Mapping[str, str],
        tags: Mapping[str, str],
        source: Path | None = None,
    ) -> dict[str, Any]:
        """Queue an execution of ``name``; ``source`` is a .tar.gz of the checkout, unpacked
        at ``/data/repo`` of the execution. Returns the execution (queued)."""
        body: dict[str, Any] = {"config": dict(config), "tags": dict(tags)}
        if source is not None:
            body["sourceUpload"] = self.upload_source(source)
        path = f"/v1/test-workflows/{_seg(name)}/executions"
        return dict(self._call("POST", path, json=body).json())

    def upload_source(self, archive: Path) -> str:
        """Upload a .tar.gz checkout; returns the upload id a run request names."""
        with archive.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size  # declared: a server refuses it unread
            answer = self._call(
                "POST",
                "/v1/uploads",
                content=stream,
                headers={"Content-Type": "application/gzip", "Content-Length": str(size)},
            )
        return str(answer.json()["id"])

    def executions(
        self, *, workflow: str | None = None, limit: int = 20, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Executions, newest first."""
        params: dict[str, Any] = {"pageSize": limit, "page": 0}
        if workflow:
            params["workflow"] = workflow
        if status:
            params["status"] = status
        return _items(self._call("GET", "/v1/test-workflow-executions", params=params).json())

    def execution(self, ref: str) -> dict[str, Any]:
        """One execution (id, id prefix or name) with its steps."""
        return dict(self._call("GET", self._execution_path(ref)).json())

    def rerun(self, ref: str) -> dict[str, Any]:
        """Queue the run request of execution ``ref`` again; returns the new execution."""
        return dict(self._call("POST", self._execution_path(ref, "rerun")).json())

    def abort(self, ref: str) -> dict[str, Any]:
        """Ask for an execution to be aborted; returns it as the server then sees it."""
        return dict(self._call("POST", self._execution_path(ref, "abort")).json())

    def logs(self, ref: str) -> bytes:
        """The masked log of an execution so far."""
        return self._call("GET", self._execution_path(ref, "logs")).content

    def testcases(self, ref: str) -> list[dict[str, Any]]:
        """Every test-case attempt of an execution."""
        return _items(self._call("GET", self._execution_path(ref, "testcases")).json())

    def artifacts(self, ref: str) -> list[dict[str, Any]]:
        """Artifacts of an execution: ``name`` (a relative path) and ``size``."""
        return _items(self._call("GET", self._execution_path(ref, "artifacts")).json())

    def download_artifact(self, ref: str, path: str, target: Path) -> None:
        """Write one artifact to ``target`` (streamed)."""
        url = self._execution_path(ref, "artifacts") + "/" + quote(path)
        try:
            with self._stream("GET", url) as answer, target.open("wb") as out:
                for chunk in answer.iter_bytes():
                    out.write(chunk)
        except _Dropped as exc:
            raise InfrastructureError(f"download of {path} from {self.url} cut: {exc}") from None

    def notifications(self, ref: str) -> Iterator[Event]:
        """The execution's events as they happen, from its start: ``log`` (one line each,
        id = the log's byte offset past it), then ``result`` (the final execution). A
        dropped connection is resumed from the last event id, at most
        :data:`STREAM_RECONNECTS` times in a row. Ends when the server ends the stream."""
        path = self._execution_path(ref, "notifications")
        last_id: str | None = None
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                with self._stream("GET", path, headers, timeout=self._stream_timeout()) as answer:
                    for event in parse_events(answer.iter_lines()):
                        failures = 0
                        if event.id is not None:
                            last_id = event.id
                        yield event
                return
            except (_Dropped, InfrastructureError) as dropped:
                if isinstance(dropped, InfrastructureError) and last_id is None:
                    raise  # never connected: the server is not there
                failures += 1
                if failures > STREAM_RECONNECTS:
                    raise InfrastructureError(
                        f"the event stream of {ref} from {self.url} dropped "
                        f"{failures} times in a row: {dropped}"
                    ) from None
                time.sleep(min(0.2 * 2**failures, 3.0))

    def _stream_timeout(self) -> httpx.Timeout:
        _import_httpx()
        import httpx

        # heartbeats keep a quiet stream alive: a read waits for several of them
        return httpx.Timeout(self.timeout, read=max(self.timeout, 60.0))

    # -- analytics and reports -----------------------------------------------------------

    def analytics(self, name: str, params: Mapping[str, Any]) -> Any:
        """``/v1/analytics/NAME`` (flaky, trends, trace) with the CLI's options as query."""
        query = {key: value for key, value in params.items() if value is not None}
        return self._call("GET", f"/v1/analytics/{_seg(name)}", params=query).json()

    def report(self, executions: list[str], *, format: str, base: str) -> bytes:
        """A report of ``executions`` rendered by the server (markdown, html or junit)."""
        params = {"execution": executions, "format": format, "base": base}
        return self._call("GET", "/v1/reports", params=params).content

    def report_data(self, executions: list[str], *, base: str, history: int) -> dict[str, Any]:
        """What a report of ``executions`` is made of, as JSON (``format=data``), for
        gates and GitHub publishing done here (:mod:`assay.reports.model`)."""
        params = {"execution": executions, "format": "data", "base": base, "history": history}
        return dict(self._call("GET", "/v1/reports", params=params).json())

    # -- quarantine ----------------------------------------------------------------------

    def quarantine_list(self, *, include_expired: bool = False) -> list[dict[str, Any]]:
        """Quarantined tests (expired ones too with ``include_expired``)."""
        params = {"all": "true"} if include_expired else {}
        return _items(self._call("GET", "/v1/quarantine", params=params).json())

    def quarantine_add(
        self, test_ids: list[str], *, reason: str | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        """Quarantine tests (an admin token); returns their entries."""
        body: dict[str, Any] = {"testIds": list(test_ids), "reason": reason}
        if until is not None:
            body["until"] = until.isoformat()
        return _items(self._call("POST", "/v1/quarantine", json=body).json())

    def quarantine_remove(self, test_id: str) -> None:
        """End the quarantine of a test (an admin token)."""
        self._call("DELETE", f"/v1/quarantine/{_seg(test_id)}")

    # -- plumbing ------------------------------------------------------------------------

    def _execution_path(self, ref: str, action: str = "") -> str:
        path = f"/v1/test-workflow-executions/{_seg(ref)}"
        return f"{path}/{action}" if action else path

    def _client(self) -> httpx.Client:
        if self._http is None:
            _import_httpx()
            import httpx

            headers = {"Accept": "application/json", "User-Agent": "assay-cli"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._http = httpx.Client(
                base_url=self.url, headers=headers, timeout=self.timeout, follow_redirects=True
            )
        return self._http

    def close(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        _import_httpx()
        import httpx

        try:
            answer = self._client().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        _check(answer, self.url)
        return answer

    @contextmanager
    def _stream(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, **options: Any
    ) -> Iterator[httpx.Response]:
        """A streamed response, checked like any other. A network fault once the headers
        arrived (a cut body) raises :class:`_Dropped`: the caller may resume."""
        _import_httpx()
        import httpx

        arrived = False
        try:
            with self._client().stream(method, path, headers=headers, **options) as answer:
                arrived = True
                if answer.status_code >= 400:
                    answer.read()
                    _check(answer, self.url)
                yield answer
        except httpx.HTTPError as exc:
            if arrived:
                raise _Dropped(str(exc).strip() or type(exc).__name__) from None
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> InfrastructureError:
        reason = str(exc).strip() or type(exc).__name__
        return InfrastructureError(f"cannot reach the assay server at {self.url}: {reason}")


def _import_httpx() -> None:
    """Import httpx without its command-line client: ``import httpx`` also imports
    ``httpx._main`` (click, rich, pygments: ~0.2 s, a third of the remote CLI's start-up)
    unless that import fails, which httpx expects (it then defines a stub ``main``)."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx  # noqa: F401


class _Dropped(Exception):
    """An event stream ended by the network, not by the server."""


def _seg(value: str) -> str:
    return quote(value, safe="")


def _items(data: Any) -> list[dict[str, Any]]:
    """A list answer, bare or wrapped (``{"items": [...]}``)."""
    if isinstance(data, dict):
        data = data.get("items", data.get("results", []))
    return [dict(item) for item in data]


def _check(answer: httpx.Response, url: str) -> None:
    """Raise the error an answer stands for (nothing for 2xx)."""
    code = answer.status_code
    if code < 400:
        return
    message = _message(answer)
    error: AssayError
    if code == 401 and "authorization" not in answer.request.headers:
        error = TokenRefused(f"the server {url} needs a token: set ASSAY_TOKEN")
    elif code == 401:
        error = TokenRefused(
            f"the server {url} refused the token (ASSAY_TOKEN): {message or 'unauthorized'}"
        )
    elif code == 403:
        error = ScopeMissing(f"the token lacks a scope for this request at {url}: {message}")
    elif code == 404:
        error = NotFoundError(message or f"not found: {answer.request.url.path}")
    elif code in (400, 409, 413, 422):
        error = DefinitionError(message or f"the server refused the request ({code})")
    else:
        error = InfrastructureError(f"the assay server at {url} answered {code}: {message}")
    raise error


def _message(answer: httpx.Response) -> str:
    """The server's explanation: ``detail`` (a string or FastAPI's list), ``message``,
    ``error``, else the text; one line."""
    try:
        data = answer.json()
    except ValueError:
        return " ".join(answer.text.split())[:500]
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "title"):
            if key in data:
                data = data[key]
                break
    if isinstance(data, list):
        parts = []
        for item in data:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                text = str(item.get("msg", item))
                parts.append(f"{where}: {text}" if where else text)
            else:
                parts.append(str(item))
        data = "; ".join(parts)
    return " ".join(str(data).split())
