"""Path-scoped policies: which tests must carry requirement markers, where skips are forbidden."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PathPolicy", "forbid_collect_skip", "forbid_skip", "skip_reason"]


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(path))


@dataclass(frozen=True)
class PathPolicy:
    """A set of directories or files a policy applies to (everything beneath them)."""

    roots: tuple[Path, ...] = ()
    display_base: Path | None = None

    @classmethod
    def from_config(cls, config: pytest.Config, option: str, ini: str) -> PathPolicy:
        """Combine a repeatable command-line option (relative to the invocation directory)
        with a `paths` ini setting (relative to the ini file)."""
        cli: Iterable[str] = config.getoption(option) or ()
        ini_paths: Iterable[Path] = config.getini(ini) or ()
        base = config.invocation_params.dir
        roots = [_absolute(base / p) for p in cli] + [_absolute(p) for p in ini_paths]
        return cls(tuple(dict.fromkeys(roots)), config.rootpath)

    def __bool__(self) -> bool:
        return bool(self.roots)

    def match(self, path: Path) -> str | None:
        """The configured root containing `path`, for messages; None when outside all."""
        if not self.roots:
            return None
        path = _absolute(path)
        for root in self.roots:
            if path.is_relative_to(root):
                return self._show(root)
        return None

    def _show(self, root: Path) -> str:
        if self.display_base is not None and root.is_relative_to(self.display_base):
            return root.relative_to(self.display_base).as_posix() or "."
        return str(root)


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason given to a skip, without pytest's 'Skipped: ' prefix."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _message(root: str, reason: str) -> str:
    return f"skip not allowed under {root} (no-skip policy): {reason}"


def forbid_skip(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, root: str
) -> pytest.TestReport:
    """Turn a skipped test report into a failure that shows the skip reason."""
    message = _message(root, skip_reason(report))

    def fail() -> None:
        pytest.fail(message, pytrace=False)

    failed = pytest.TestReport.from_item_and_call(
        item, pytest.CallInfo.from_call(fail, when=report.when)
    )
    failed.start, failed.stop, failed.duration = report.start, report.stop, report.duration
    return failed


def forbid_collect_skip(report: pytest.CollectReport, root: str) -> pytest.CollectReport:
    """Turn a module-level skip (`pytest.skip(allow_module_level=True)`, `importorskip`)
    into a collection error that shows the skip reason."""
    return pytest.CollectReport(
        report.nodeid, "failed", _message(root, skip_reason(report)), [], report.sections
    )
