"""docs/reports.md: its bash blocks run as written, and the shown comment is what they print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_doc_examples_run_as_written(tmp_path: Path) -> None:
    script = "set -euo pipefail\n" + "\n".join(_blocks("bash"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "PYTEST_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    # the Markdown shown in the doc is exactly the comment the example wrote
    shown = _blocks("markdown")[0]
    assert (tmp_path / "comment.md").read_text(encoding="utf-8") == shown
    assert "exit 1: a test failed" in done.stdout
    assert (tmp_path / "report.html").exists() and b"<flakyFailure" in (
        tmp_path / "merged.xml"
    ).read_bytes()
    plan_lines = (tmp_path / "shard-0.txt").read_text().split()
    assert plan_lines and all(line.startswith("tests/test_shop.py::") for line in plan_lines)
    assert "actual makespan" in done.stdout and "in shop-3" in done.stdout
