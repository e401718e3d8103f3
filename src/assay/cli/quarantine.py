"""``assay quarantine``: tests whose failures are shown but fail nothing, until expiry.
With ``--server`` / ``ASSAY_SERVER`` the server's quarantine (``/v1/quarantine``; adding and
removing need an admin token)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.app import parse_until
from assay.cli.common import app_instance, remote_client
from assay.cli.output import Format, emit, print_table

if TYPE_CHECKING:
    from assay.store.quarantine import QuarantineStore

__all__ = ["app", "parse_until"]

app = typer.Typer(
    help="Quarantine tests: their failures are recorded as `quarantined` and do not fail "
    "the execution until the quarantine expires or is removed.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TestIds = Annotated[
    list[str], typer.Argument(help="Test ids, as shown by `assay get testcases` or `assay flaky`.")
]


def _store() -> QuarantineStore:
    return app_instance().quarantine


@app.command("add")
def add(
    test_ids: TestIds,
    reason: Annotated[str | None, typer.Option(help="Why (shown in lists and reports).")] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Expiry: YYYY-MM-DD (through that day, UTC), ISO date-time, or 7d."),
    ] = None,
    output: Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")] = (
        Format.TABLE
    ),
) -> None:
    """Quarantine tests (known from stored results); again replaces reason and expiry."""
    expiry = parse_until(until) if until else None
    client = remote_client()
    entries: list[dict[str, Any]]
    if client is not None:
        entries = client.quarantine_add(test_ids, reason=reason, until=expiry)
    else:
        store = _store()
        added = [store.add(test_id, reason=reason, until=expiry) for test_id in test_ids]
        entries = [entry.as_dict() for entry in added]
    if output is not Format.TABLE:
        emit(entries, output, [])
        return
    for entry in entries:
        label = f"{entry['classname']}::{entry['name']}" if entry["classname"] else entry["name"]
        ends = f"until {entry['until']}" if entry["until"] else "until removed"
        typer.echo(f"quarantined {entry['testId']} ({entry['workflow']}: {label}) {ends}")
        if not entry["active"]:
            typer.echo(f"note: the quarantine of {entry['testId']} has already expired", err=True)


@app.command("remove")
def remove(test_ids: TestIds) -> None:
    """End the quarantine of tests."""
    client = remote_client()
    remove_one = client.quarantine_remove if client is not None else _store().remove
    for test_id in test_ids:
        remove_one(test_id)
        typer.echo(f"removed {test_id} from quarantine")


@app.command("list")
def list_(
    all_entries: Annotated[bool, typer.Option("--all", help="Include expired entries.")] = False,
    output: Annotated[Format, typer.Option("-o", "--output", help="table, json or yaml")] = (
        Format.TABLE
    ),
) -> None:
    """Quarantined tests (active ones; --all adds expired ones)."""
    client = remote_client()
    if client is not None:
        rows = client.quarantine_list(include_expired=all_entries)
    else:
        rows = [entry.as_dict() for entry in _store().list(include_expired=all_entries)]
    if output is Format.TABLE and not rows:
        typer.echo("no quarantined tests")
        return
    if output is not Format.TABLE:
        emit(rows, output, [])
        return
    print_table(
        rows,
        [
            ("testId", "TEST ID"),
            ("workflow", "WORKFLOW"),
            ("classname", "CLASS"),
            ("name", "NAME"),
            ("until", "UNTIL"),
            ("active", "ACTIVE"),
            ("reason", "REASON"),
        ],
    )
