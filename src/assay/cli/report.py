"""``assay report``: Markdown (PR comment), self-contained HTML, or merged JUnit."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from assay.cli.common import app_instance
from assay.errors import InfrastructureError

__all__ = ["ReportFormat", "report"]

HISTORY = 20
"""Executions per workflow in the HTML report's history chart."""


class ReportFormat(StrEnum):
    """Formats of `assay report`."""

    MARKDOWN = "markdown"
    HTML = "html"
    JUNIT = "junit"


def report(
    executions: Annotated[
        list[str], typer.Argument(help="Execution ids, id prefixes or names.", show_default=False)
    ],
    format: Annotated[
        ReportFormat, typer.Option("--format", "-F", help="markdown, html or junit.")
    ] = ReportFormat.MARKDOWN,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")
    ] = None,
    base: Annotated[
        str, typer.Option(help="Compare with the latest execution tagged branch=BASE.")
    ] = "main",
) -> None:
    """Report on executions: totals with changes against the base branch, failed, flaky and
    quarantined tests.  Several executions make one report with a row each."""
    from assay.results.report_data import collect_report

    store = app_instance().executions
    history = HISTORY if format is ReportFormat.HTML else 0
    data = collect_report(store, executions, base_branch=base, history=history)
    if format is ReportFormat.JUNIT:
        from assay.results.report_junit import render_junit

        _write(render_junit(data), output)
    elif format is ReportFormat.HTML:
        from assay.results.report_html import render_html

        _write(render_html(data).encode("utf-8"), output)
    else:
        from assay.results.report_markdown import render_markdown

        _write(render_markdown(data).encode("utf-8"), output)


def _write(content: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(content)
    except OSError as exc:
        raise InfrastructureError(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output}", err=True)
