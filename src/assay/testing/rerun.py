"""Re-running only the failed tests of an earlier attempt (``retry.scope: failed-tests``).

The engine writes the JUnit identities (classname, name) of the failed tests to a
file and names it in ``ASSAY_RERUN_ONLY``; this plugin then deselects every other
test. Identities are computed exactly as pytest's junitxml writes them, so they
match the report the failures were read from.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.envvars import RERUN_ONLY

__all__ = ["junit_identity", "select_reruns"]


def junit_identity(item: pytest.Item) -> tuple[str, str]:
    """(classname, name) of ``item`` as pytest's JUnit XML reports it."""
    from _pytest.junitxml import mangle_test_address

    names = mangle_test_address(item.nodeid)
    return ".".join(names[:-1]), names[-1]


def select_reruns(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the tests listed in the ``ASSAY_RERUN_ONLY`` file, if it is set."""
    listing = os.environ.get(RERUN_ONLY)
    if not listing:
        return
    wanted = {
        tuple(line.split("\t", 1))
        for line in Path(listing).read_text(encoding="utf-8").splitlines()
        if "\t" in line
    }
    kept = [item for item in items if junit_identity(item) in wanted]
    deselected = [item for item in items if junit_identity(item) not in wanted]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept
