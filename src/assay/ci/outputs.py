"""The files GitHub Actions gives a step: the job summary and the step outputs.

``$GITHUB_STEP_SUMMARY`` takes Markdown (appended: several steps may write to it, up to
1 MiB per step).  ``$GITHUB_OUTPUT`` takes ``name=value`` lines; a value with a line break
is written as ``name<<DELIMITER`` ... ``DELIMITER`` with a delimiter the value does not hold.
Workflow commands (``::warning::``) escape ``%``, CR and LF, as the runner expects.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from assay.errors import InfrastructureError

__all__ = [
    "MAX_SUMMARY_BYTES",
    "append_step_summary",
    "format_outputs",
    "truncate",
    "workflow_command",
    "write_outputs",
]

MAX_SUMMARY_BYTES = 1024 * 1024
"""GitHub's limit for one step's job summary."""


def truncate(text: str, limit: int, note: str) -> str:
    """``text`` cut at a line break so that, with ``note`` appended, it holds at most
    ``limit`` characters; an open code fence is closed first.  Unchanged if it fits."""
    if len(text) <= limit:
        return text
    closing = "\n```\n"
    budget = limit - len(note) - len(closing) - 2
    if budget <= 0:
        return note[:limit]
    cut = text[:budget]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    fences = sum(1 for line in cut.splitlines() if line.lstrip().startswith("```"))
    if fences % 2:
        cut += closing.rstrip("\n")
    return f"{cut}\n\n{note}"


def append_step_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to the job summary file (cut to GitHub's 1 MiB)."""
    data = markdown.encode("utf-8")
    if len(data) > MAX_SUMMARY_BYTES:
        text = data[: MAX_SUMMARY_BYTES - 1024].decode("utf-8", errors="ignore")
        markdown = truncate(text + "\n…", len(text), "… (cut: a job summary holds at most 1 MiB)")
    _append(path, markdown if markdown.endswith("\n") else markdown + "\n")


def format_outputs(values: Mapping[str, str]) -> str:
    """``values`` in the ``$GITHUB_OUTPUT`` format."""
    lines: list[str] = []
    for name, value in values.items():
        if "\n" in name or "=" in name or "<<" in name:
            raise ValueError(f"bad output name {name!r}")
        if "\n" in value or "\r" in value:
            delimiter = f"ASSAY_EOF_{secrets.token_hex(8)}"
            while delimiter in value:
                delimiter = f"ASSAY_EOF_{secrets.token_hex(8)}"
            lines += [f"{name}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n" if lines else ""


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append ``values`` to the ``$GITHUB_OUTPUT`` file."""
    _append(path, format_outputs(values))


def workflow_command(command: str, message: str, **properties: str) -> str:
    """``::command key=value,...::message``, escaped as the Actions runner expects."""
    props = ",".join(f"{key}={_escape(value, prop=True)}" for key, value in properties.items())
    return f"::{command}{' ' + props if props else ''}::{_escape(message)}"


def _escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def _append(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise InfrastructureError(f"cannot write {path}: {exc.strerror or exc}") from exc
