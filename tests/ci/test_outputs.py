"""Step outputs, job summary, workflow commands and GitHub's size limits."""

from __future__ import annotations

from pathlib import Path

from ci_support import read_outputs

from assay.ci.outputs import (
    MAX_SUMMARY_BYTES,
    append_step_summary,
    format_outputs,
    truncate,
    workflow_command,
    write_outputs,
)
from assay.ci.publish import COMMENT_LIMIT, comment_body, marker
from assay.reports.markdown import MARKER


def test_outputs_single_and_multiline(tmp_path: Path) -> None:
    text = format_outputs({"status": "failed", "tests": "6", "gate": ""})
    assert text == "status=failed\ntests=6\ngate=\n"
    tricky = "line one\nASSAY_EOF_x\nline three"
    multi = format_outputs({"report": tricky})
    head, *body, tail = multi.splitlines()
    name, delimiter = head.split("<<")
    assert name == "report" and delimiter == tail and delimiter not in tricky
    assert "\n".join(body) == tricky
    path = tmp_path / "out"
    write_outputs(path, {"a": "1", "report": tricky})
    write_outputs(path, {"a": "2"})  # appended: a later value wins, as in Actions
    assert read_outputs(path) == {"a": "2", "report": tricky}


def test_workflow_commands_are_escaped() -> None:
    line = workflow_command("error", "50% done\r\nnext", file="a,b.py", line="3", title="x::y")
    assert line == "::error file=a%2Cb.py,line=3,title=x%3A%3Ay::50%25 done%0D%0Anext"
    assert workflow_command("warning", "plain") == "::warning::plain"


def test_truncate_cuts_at_a_line_and_closes_a_fence() -> None:
    assert truncate("short", 10, "NOTE") == "short"
    text = "intro\n```text\n" + "x" * 50 + "\n" + "y" * 50 + "\n```\n"
    cut = truncate(text, 80, "NOTE")
    assert len(cut) <= 80 and cut.endswith("\n\nNOTE")
    assert cut.count("```") == 2  # the open fence is closed before the note


def test_comment_body_fits_github(tmp_path: Path) -> None:
    huge = MARKER + "\n### report\n" + "\n".join(f"- line {i} " + "z" * 100 for i in range(2000))
    body = comment_body(huge, None, "<sub>footer</sub>")
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(MARKER + "\n") and "cut to fit a GitHub comment" in body
    keyed = comment_body(MARKER + "\n### ok\n", "auth", "")
    assert keyed == "<!-- assay-report:auth -->\n### ok\n"
    assert marker("auth") != marker(None) and marker(None) not in keyed


def test_step_summary_appends_and_stays_under_1_mib(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    append_step_summary(path, "# one")
    append_step_summary(path, "# two\n")
    assert path.read_text() == "# one\n# two\n"
    big = tmp_path / "big.md"
    append_step_summary(big, "\n".join("é" * 100 for _ in range(12_000)))
    data = big.read_bytes()
    assert len(data) <= MAX_SUMMARY_BYTES and data.decode().rstrip().endswith("at most 1 MiB)")
