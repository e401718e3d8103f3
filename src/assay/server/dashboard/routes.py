"""The dashboard's frame: templates, login and logout, static files (ours, plus plotly.js
from the installed ``plotly`` wheel: nothing is fetched from anywhere else)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, ParamSpec

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from assay.errors import DefinitionError, NotFoundError
from assay.server.dashboard import views
from assay.server.dashboard.auth import (
    COOKIE,
    Viewer,
    authenticate,
    csrf_valid,
    page_viewer,
    viewer_of,
)
from assay.status import ExecutionStatus

__all__ = ["render", "router"]

_P = ParamSpec("_P")

STATIC = Path(__file__).parent / "static"
CHART_LIBRARY = "plotly.min.js"
"""Served from the ``plotly`` package's own files (``plotly/package_data``)."""


def chart_library() -> Path | None:
    """plotly.js as installed with the ``plotly`` package, if it is."""
    try:
        path = resources.files("plotly") / "package_data" / CHART_LIBRARY
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/executions"
    return target


def _duration(ms: float | None) -> str:
    from assay.reports.markdown import format_duration

    return "\u2013" if ms is None else format_duration(int(ms))


async def form_data(request: Request) -> dict[str, str]:
    """The fields of a submitted (url-encoded) form; 403 when the browser says the form
    came from another site (``Origin``), the login form included."""
    from urllib.parse import parse_qsl, urlsplit

    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, f"a form posted from {origin} is not accepted here")

    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


@functools.cache
def environment() -> Environment:
    """The pages' templates (autoescaped, strict)."""
    env = Environment(
        loader=PackageLoader("assay.server.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = _duration
    env.filters["chart_rows"] = views.chart_rows
    env.filters["tojson_attr"] = lambda value: json.dumps(value, separators=(",", ":"))
    env.globals["marks"] = views.STATUS_MARKS
    env.globals["statuses"] = [s.value for s in ExecutionStatus]
    env.globals["ranges"] = views.RANGES
    env.globals["location"] = views.failure_location
    return env


def render(
    request: Request, viewer: Viewer | None, template: str, status: int = 200, **ctx: Any
) -> HTMLResponse:
    """A page, with the time its template took in ``Server-Timing``."""
    started = time.perf_counter()
    can_run = viewer is not None and viewer.allows("run")
    workers = getattr(request.app.state, "workers", None) is not None
    html = (
        environment()
        .get_template(template)
        .render(viewer=viewer, path=request.url.path, can_run=can_run, workers=workers, **ctx)
    )
    response = HTMLResponse(html, status_code=status)
    spent = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = f"render;dur={spent:.1f}"
    return response


def errors_as_pages(handler: Callable[_P, Response]) -> Callable[_P, Response]:
    """``handler`` with bad input (400) and unknown names (404) shown as a page."""

    @functools.wraps(handler)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> Response:
        try:
            return handler(*args, **kwargs)
        except (NotFoundError, DefinitionError) as exc:
            request = next(a for a in [*args, *kwargs.values()] if isinstance(a, Request))
            status = 404 if isinstance(exc, NotFoundError) else 400
            return render(request, viewer_of(request), "error.html", status, message=str(exc))

    return wrapped


router = APIRouter(include_in_schema=False)
"""The dashboard, mounted at ``/`` by :func:`assay.server.app.create_app`."""

Form = Depends(form_data)
PageViewer = Depends(page_viewer)


@router.get("/")
def home() -> Response:
    return RedirectResponse("/executions", 303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, None, "login.html", next=safe_next(next), error=None)


@router.post("/login")
def login(request: Request, fields: dict[str, str] = Form) -> Response:
    secret = fields.get("token", "").strip()
    target = safe_next(fields.get("next"))
    if not secret or authenticate(request, secret) is None:
        error = "That token is unknown, revoked or expired."
        return render(request, None, "login.html", 401, next=target, error=error)
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
def logout(viewer: Viewer = PageViewer, fields: dict[str, str] = Form) -> Response:
    if not csrf_valid(viewer.secret, fields.get("csrf")):
        raise HTTPException(403, "the form expired or came from another site")
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    library = chart_library()
    if name == CHART_LIBRARY and library is not None:
        path = library
    elif name in {p.name for p in STATIC.iterdir()}:
        path = STATIC / name
    else:
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
