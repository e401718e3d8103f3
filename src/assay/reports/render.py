"""A report in one of its formats, as bytes: what ``assay report`` writes and the server's
``/v1/reports`` returns."""

from __future__ import annotations

from assay.errors import DefinitionError
from assay.reports.model import Report

__all__ = ["FORMATS", "MEDIA_TYPES", "render_report"]

FORMATS = ("markdown", "html", "junit")
MEDIA_TYPES = {
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "junit": "application/xml",
}


def render_report(report: Report, format: str, *, markdown: str | None = None) -> bytes:
    """``report`` as ``format`` (markdown, html or junit); ``markdown`` replaces the plain
    Markdown rendering (the CLI's carries the verdict of its gates)."""
    if format == "junit":
        from assay.reports.junit import render_junit

        return render_junit(report)
    if format == "html":
        from assay.reports.html import render_html

        return render_html(report).encode("utf-8")
    if format == "markdown":
        if markdown is None:
            from assay.reports.markdown import render_markdown

            markdown = render_markdown(report)
        return markdown.encode("utf-8")
    raise DefinitionError(f"format {format!r}: expected one of {', '.join(FORMATS)}")
