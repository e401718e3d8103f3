"""A local stand-in for the few GitHub REST endpoints assay calls, and a Slack webhook.

It keeps comments and check runs in memory, pages comment lists with a ``Link`` header as
GitHub does, answers 403 "Resource not accessible by integration" to writes in read-only
mode (a fork's token), can live under a path prefix (GitHub Enterprise Server's
``/api/v3``), records every request, and validates every request body against the schemas
copied from GitHub's OpenAPI description (``data/github-openapi-fragment.yaml``), made
strict: a property the schema does not define is an error too.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml

DATA = Path(__file__).resolve().parent / "data"
FRAGMENT = DATA / "github-openapi-fragment.yaml"
TOKEN = "ghs_SECRETtoken1234567890abcdef"
SLACK_PATH = "/services/T0001/B0001/XXXXsecretXXXX"
READ_ONLY = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    "status": "403",
}


def load_schemas() -> dict[tuple[str, str], Any]:
    """(method, OpenAPI path) -> the request-body schema, strict."""
    spec = yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))
    schemas = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            schemas[(method.upper(), path)] = _strict(copy.deepcopy(schema))
    return schemas


def _strict(schema: Any) -> Any:
    """No property beyond those the schema defines (where it does not say otherwise)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for item in schema:
            _strict(item)
    return schema


SCHEMAS = load_schemas()
ROUTES = [
    ("GET", re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$"), None),
    (
        "POST",
        re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$"),
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    ),
    (
        "PATCH",
        re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$"),
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
    ),
    (
        "POST",
        re.compile(r"^/repos/([^/]+)/([^/]+)/check-runs$"),
        "/repos/{owner}/{repo}/check-runs",
    ),
]


@dataclass
class Recorded:
    """One request as received."""

    method: str
    path: str
    """Without the prefix."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubStandIn:
    """State and configuration of the stand-in (see the module docstring)."""

    prefix: str = ""
    token: str = TOKEN
    read_only: bool = False
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    slack: list[Any] = field(default_factory=list)
    schema_errors: list[str] = field(default_factory=list)
    fail: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """``"METHOD kind"`` (kind: comments, comment, check-runs) -> forced status and body."""
    slack_status: int = 200
    port: int = 0
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SLACK_PATH}"

    def github_requests(self) -> list[Recorded]:
        return [r for r in self.requests if not r.path.startswith("/services/")]

    def add_comment(self, number: int, body: str, login: str = "someone") -> int:
        """Seed a comment, as if written by someone else earlier."""
        with self._lock:
            comment_id = self._next_id
            self._next_id += 1
            self.comments[comment_id] = {
                "id": comment_id,
                "issue": number,
                "body": body,
                "user": {"login": login},
                "html_url": f"https://github.example/o/r/pull/{number}#issuecomment-{comment_id}",
            }
            return comment_id

    def issue_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == number]

    # --- request handling ----------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> Any:
        """-> (status, headers, body)"""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        body = json.loads(raw) if raw else None
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return 404, {}, {"message": "Not Found (outside the API prefix)"}
            path = path[len(self.prefix) :]
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers, body))
        if path == SLACK_PATH:
            with self._lock:
                self.slack.append(body)
            return self.slack_status, {}, "ok" if self.slack_status == 200 else "invalid_token"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "Bad credentials"}
        for route_method, pattern, openapi_path in ROUTES:
            match = pattern.match(path)
            if route_method != method or not match:
                continue
            if openapi_path is not None:
                self._validate(method, openapi_path, body)
            kind = {"GET": "comments", "PATCH": "comment"}.get(method, "")
            kind = kind or ("check-runs" if path.endswith("check-runs") else "comments")
            if f"{method} {kind}" in self.fail:
                status, payload = self.fail[f"{method} {kind}"]
                return status, {}, payload
            if method != "GET" and self.read_only:
                return 403, {}, READ_ONLY
            return self._route(method, path, match, query, body)
        return 404, {}, {"message": "Not Found"}

    def _validate(self, method: str, openapi_path: str, body: Any) -> None:
        validator = jsonschema.Draft4Validator(SCHEMAS[(method, openapi_path)])
        for error in validator.iter_errors(body):
            where = "/".join(str(p) for p in error.absolute_path)
            self.schema_errors.append(f"{method} {openapi_path} at {where}: {error.message}")

    def _route(
        self, method: str, path: str, match: re.Match[str], query: dict[str, list[str]], body: Any
    ) -> Any:
        if method == "GET":
            number = int(match[3])
            per_page = min(100, int(query.get("per_page", ["30"])[0]))
            page = int(query.get("page", ["1"])[0])
            items = self.issue_comments(number)
            chunk = items[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(items):
                nxt = f"{self.api_url}{path}?per_page={per_page}&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
            return 200, headers, [_public(c) for c in chunk]
        if method == "POST" and path.endswith("/comments"):
            comment_id = self.add_comment(int(match[3]), body["body"], "github-actions[bot]")
            return 201, {}, _public(self.comments[comment_id])
        if method == "PATCH":
            comment = self.comments.get(int(match[3]))
            if comment is None:
                return 404, {}, {"message": "Not Found"}
            comment["body"] = body["body"]
            return 200, {}, _public(comment)
        with self._lock:
            run = {"id": len(self.check_runs) + 1, **body}
            run["html_url"] = f"https://github.example/o/r/runs/{run['id']}"
            self.check_runs.append(run)
        return 201, {}, run


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if k != "issue"}


def serve(stand_in: GitHubStandIn) -> ThreadingHTTPServer:
    """Start serving ``stand_in`` on a free local port (in a daemon thread)."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body = stand_in.handle(self.command, self.path, headers, raw)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stand_in.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
