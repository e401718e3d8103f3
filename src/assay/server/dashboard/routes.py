"""The dashboard's routes: server-rendered pages (Jinja2), a few small JSON endpoints that
keep pages live, and its static files (ours, plus plotly.js from the installed ``plotly``
wheel: nothing is fetched from anywhere else)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from assay.errors import DefinitionError, NotFoundError
from assay.server.dashboard import views
from assay.server.dashboard.auth import COOKIE, Authenticate, Viewer, csrf_valid
from assay.status import ExecutionStatus

if TYPE_CHECKING:
    from assay.app import Assay

__all__ = ["RunActions", "dashboard_router"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

STATIC = Path(__file__).parent / "static"
CHART_LIBRARY = "plotly.min.js"
"""Served from the ``plotly`` package's own files (``plotly/package_data``)."""


@dataclass(frozen=True, slots=True)
class RunActions:
    """What the Run, Abort and Re-run buttons do (the server's queue); absent when the
    dashboard is served without one."""

    run: Callable[[str, dict[str, Any]], str]
    """(workflow, config) -> the id of the queued execution."""
    abort: Callable[[str], None]
    """Request the abort of an execution."""
    rerun: Callable[[str], str]
    """(execution id) -> the id of the new execution."""


def _chart_library() -> Path | None:
    try:
        path = resources.files("plotly") / "package_data" / CHART_LIBRARY
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def _safe_next(target: str | None) -> str:
    """A local path to go to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/executions"
    return target


def _duration(ms: int | float | None) -> str:
    from assay.reports.markdown import format_duration

    return "\u2013" if ms is None else format_duration(int(ms))


async def form_data(request: Request) -> dict[str, str]:
    """The fields of a submitted (url-encoded) form."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


class Dashboard:
    """The pages of one server, over one application facade."""

    def __init__(
        self, assay: Assay, authenticate: Authenticate, actions: RunActions | None = None
    ) -> None:
        self.assay = assay
        self.authenticate = authenticate
        self.actions = actions
        self.env = Environment(
            loader=PackageLoader("assay.server.dashboard", "templates"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["duration"] = _duration
        self.env.filters["tojson_attr"] = lambda value: json.dumps(value, separators=(",", ":"))
        self.env.globals["marks"] = views.STATUS_MARKS
        self.env.globals["statuses"] = [s.value for s in ExecutionStatus]
        self.env.globals["ranges"] = views.RANGES
        self.chart_library = _chart_library()

    # who is asking

    def viewer_of(self, request: Request) -> Viewer | None:
        """The viewer whose valid token is in the request's cookie."""
        secret = request.cookies.get(COOKIE)
        if not secret:
            return None
        found = self.authenticate(secret)
        return None if found is None else Viewer(found[0], found[1], secret)

    def page_viewer(self, request: Request) -> Viewer:
        """The viewer of a page; without one, a redirect to the login form."""
        viewer = self.viewer_of(request)
        if viewer is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            location = "/login?" + urlencode({"next": target})
            raise HTTPException(303, "log in first", headers={"Location": location})
        return viewer

    def api_viewer(self, request: Request) -> Viewer:
        """The viewer of a live-update request; 401 without one."""
        viewer = self.viewer_of(request)
        if viewer is None:
            raise HTTPException(401, "log in first")
        return viewer

    def acting(self, viewer: Viewer, form: dict[str, str], scope: str) -> None:
        """Check a submitted form: its CSRF token (403) and the viewer's scope (403)."""
        if not csrf_valid(viewer.secret, form.get("csrf")):
            raise HTTPException(403, "the form expired or came from another site: reload the page")
        if not viewer.allows(scope):
            raise HTTPException(403, f"token {viewer.name!r} lacks the {scope!r} scope")

    # rendering

    def render(
        self, request: Request, viewer: Viewer | None, template: str, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        """A page, with the time it took in ``Server-Timing``."""
        started = time.perf_counter()
        html = self.env.get_template(template).render(
            viewer=viewer, path=request.url.path, can_run=self.can_run(viewer), **ctx
        )
        spent = (time.perf_counter() - started) * 1000
        response = HTMLResponse(html, status_code=status)
        response.headers["Server-Timing"] = f"render;dur={spent:.1f}"
        return response

    def require_actions(self) -> RunActions:
        """The run actions; 503 when this server has none (no queue)."""
        if self.actions is None:
            raise HTTPException(503, "this server runs nothing: it has no queue")
        return self.actions

    def can_run(self, viewer: Viewer | None) -> bool:
        """Whether the run, abort and re-run buttons are shown."""
        return viewer is not None and self.actions is not None and viewer.allows("run")

    def errors_as_pages(self, handler: Callable[_P, Response]) -> Callable[_P, Response]:
        """``handler`` with bad input (400) and unknown names (404) shown as a page."""

        @functools.wraps(handler)
        def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> Response:
            try:
                return handler(*args, **kwargs)
            except (NotFoundError, DefinitionError) as exc:
                request = next(a for a in [*args, *kwargs.values()] if isinstance(a, Request))
                status = 404 if isinstance(exc, NotFoundError) else 400
                return self.render(
                    request, self.viewer_of(request), "error.html", status, message=str(exc)
                )

        return wrapped


def dashboard_router(
    assay: Assay, authenticate: Authenticate, actions: RunActions | None = None
) -> APIRouter:
    """The dashboard's routes, to mount at ``/`` of the server."""
    from assay.server.dashboard import pages

    board = Dashboard(assay, authenticate, actions)
    router = APIRouter(include_in_schema=False)
    page_viewer = Depends(board.page_viewer)
    api_viewer = Depends(board.api_viewer)
    form = Depends(form_data)

    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/executions", 303)

    @router.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        return board.render(request, None, "login.html", next=_safe_next(next), error=None)

    @router.post("/login")
    def login(request: Request, fields: dict[str, str] = form) -> Response:
        secret = fields.get("token", "").strip()
        target = _safe_next(fields.get("next"))
        if not secret or board.authenticate(secret) is None:
            error = "That token is unknown, revoked or expired."
            return board.render(request, None, "login.html", 401, next=target, error=error)
        response = RedirectResponse(target, 303)
        response.set_cookie(
            COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @router.post("/logout")
    def logout(viewer: Viewer = page_viewer, fields: dict[str, str] = form) -> Response:
        if not csrf_valid(viewer.secret, fields.get("csrf")):
            raise HTTPException(403, "the form expired or came from another site")
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name == CHART_LIBRARY and board.chart_library is not None:
            path = board.chart_library
        elif name in {p.name for p in STATIC.iterdir()}:
            path = STATIC / name
        else:
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    pages.add_pages(router, board, page_viewer, api_viewer, form)
    return router
