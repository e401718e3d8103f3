"""Every error answers ``{"error": message}``: 401/403 auth, 404 unknown names and ids,
409 a name taken, 422 bad input, 503 when the store or runner fails; bad input never gives a 5xx."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from assay.errors import (
    AssayError,
    ConflictError,
    DefinitionError,
    InfrastructureError,
    NotFoundError,
    ResultsError,
)
from assay.faults import describe_fault

_log = logging.getLogger("assay.server")

__all__ = ["ERROR_RESPONSES", "error_response", "install_error_handlers", "status_of"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": text,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                }
            }
        },
    }
    for code, text in (
        (401, "Missing, unknown, expired or revoked token"),
        (403, "The token's scope does not allow this"),
        (404, "No such workflow, execution, artifact or token"),
        (409, "A name that is taken (the message names the field)"),
        (422, "Bad input (the message names the field)"),
    )
}
"""The error answers, for the OpenAPI document."""


def status_of(exc: AssayError) -> int:
    """The HTTP status of an assay error."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, DefinitionError | ResultsError):
        return 422
    if isinstance(exc, InfrastructureError):
        return 503
    return 500


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _where(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location if part != "body") or "body"


async def _assay_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AssayError)
    return error_response(status_of(exc), str(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    lines = [f"{_where(tuple(error['loc']))}: {error['msg']}" for error in exc.errors()]
    return error_response(422, "; ".join(lines) or "invalid request")


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)


async def _fault(_request: Request, exc: Exception) -> JSONResponse:
    """A storage or OS fault is 503 in one line; anything else is a bug: 500, logged."""
    fault = describe_fault(exc)
    if fault is not None:
        return error_response(503, fault)
    _log.error("unexpected error", exc_info=exc)
    return error_response(500, "internal error (logged by the server)")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as ``{"error": message}``."""
    app.add_exception_handler(Exception, _fault)
    app.add_exception_handler(AssayError, _assay_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
