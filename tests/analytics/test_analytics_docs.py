"""The walkthrough in docs/analytics.md works as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def test_try_it_runs_as_written(tmp_path: Path) -> None:
    text = DOC.read_text()
    section = text.split("## Try it", 1)[1]
    script, printed = re.findall(r"```(?:bash)?\n(.*?)```", section, re.S)[:2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "PYTEST_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = [line.rstrip() for line in done.stdout.splitlines()]
    for line in printed.strip("\n").splitlines():
        assert line.rstrip() in out, f"{line!r} not printed:\n{done.stdout}"
    assert "Newly failing against main" in done.stdout
    assert "requirement BR-E2E-002 has no passing test" in done.stderr
    assert "payment sandbox is slow" in done.stdout
    assert (tmp_path / "assay-home").is_dir()
