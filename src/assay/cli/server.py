"""``assay server`` and ``assay token``: the API server and its bearer tokens.

Nothing of FastAPI, uvicorn or SQLAlchemy is imported until one of these commands runs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from assay.cli.common import app_instance
from assay.cli.output import Format, emit

__all__ = ["server", "tokens"]

tokens = typer.Typer(
    help="Bearer tokens of `assay server` (kept hashed; a new one is shown once).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class ScopeName(StrEnum):
    """Scopes of a token (each includes the ones before)."""

    READ = "read"
    RUN = "run"
    ADMIN = "admin"


class LogFormat(StrEnum):
    """Log formats of the server."""

    TEXT = "text"
    JSON = "json"


def server(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env ASSAY_SERVER_HOST; 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port [env ASSAY_SERVER_PORT; 8088]"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0, max=64, help="Workers running queued executions [env ASSAY_SERVER_WORKERS; 1]"
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port, each with its own workers "
            "[env ASSAY_SERVER_PROCESSES; 1]",
        ),
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option(
            help="Delete logs and artifacts of executions finished longer ago than this (30d); "
            "results stay [env ASSAY_SERVER_RETENTION; keep all]"
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Time zone of cron schedules naming none [env ASSAY_SERVER_TIMEZONE, "
            "ASSAY_TIMEZONE; UTC]"
        ),
    ] = None,
    watch_namespace: Annotated[
        str | None,
        typer.Option(
            help="Keep the definitions of this namespace's Testkube custom resources (Test, "
            "TestWorkflow, ...) in sync, through the kubeconfig or the Pod's service account "
            "[env ASSAY_SERVER_WATCH_NAMESPACE; off]"
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help="text or json (one object per line) [env ASSAY_SERVER_LOG_FORMAT]"),
    ] = None,
) -> None:
    """Serve the REST API (/v1, OpenAPI at /openapi.json) on the store of ASSAY_HOME or
    ASSAY_DATABASE_URL; every /v1 call needs a token from `assay token create`. Also fires
    cron schedules, sends webhooks, serves /metrics, prunes with --retention, and syncs a
    namespace's custom resources with --watch-namespace."""
    from pydantic import ValidationError

    from assay.errors import DefinitionError
    from assay.server.serve import serve
    from assay.server.settings import ServerSettings

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "processes": processes,
        "retention": retention,
        "timezone": timezone,
        "watch_namespace": watch_namespace,
        "log_format": None if log_format is None else log_format.value,
    }
    try:  # flags win over ASSAY_SERVER_* variables, which win over defaults
        settings = ServerSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DefinitionError(f"server setting {where}: {first['msg']}") from None
    serve(settings)


@tokens.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name to list and revoke it by.")],
    scope: Annotated[
        ScopeName, typer.Option(help="read; run (+ run, abort); admin (+ apply, delete, tokens)")
    ],
    expires: Annotated[
        str | None, typer.Option(help="30d, 12h, 2w, YYYY-MM-DD or ISO date-time; none: never")
    ] = None,
) -> None:
    """Create a token and print it (only it, on stdout): it is not shown again."""
    from assay.app import parse_until
    from assay.store.tokens import Scope

    expiry = parse_until(expires, option="--expires") if expires else None
    _entry, secret = app_instance().tokens.create(name, Scope(scope.value), expires_at=expiry)
    typer.echo(secret)


@tokens.command("list")
def list_(
    output: Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")] = (
        Format.TABLE
    ),
) -> None:
    """Tokens with scope, expiry and last use (never the secret)."""
    rows = [entry.as_dict() for entry in app_instance().tokens.list()]
    if output is Format.TABLE and not rows:
        typer.echo("no tokens")
        return
    emit(
        rows,
        output,
        [
            ("name", "NAME"),
            ("scope", "SCOPE"),
            ("active", "ACTIVE"),
            ("createdAt", "CREATED"),
            ("expiresAt", "EXPIRES"),
            ("lastUsedAt", "LAST USED"),
            ("revokedAt", "REVOKED"),
        ],
    )


@tokens.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    app_instance().tokens.revoke(name)
    typer.echo(f"revoked {name}")
