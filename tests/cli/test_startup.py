"""The CLI starts without loading what only some commands need."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "httpx", "matplotlib", "assay.ci", "assay.store.test_cases")


def test_cli_start_up_loads_no_heavy_module() -> None:
    probe = (
        f"import sys, assay.cli.main\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
