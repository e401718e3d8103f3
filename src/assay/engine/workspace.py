"""The per-execution workspace: the ``/data`` tree and an isolated virtualenv.

Testkube workflows address their files under ``/data`` (``/data/repo``,
``/data/artifacts``). The local runner gives each execution its own directory
and maps ``/data`` onto it: a path that starts with ``/data/`` — in a working
directory, artifact path, command, argument, shell script or environment value
— is rewritten to the execution's data directory.

Each execution also gets a virtualenv, first on ``PATH``: ``pip install`` and
``uv pip install --system`` land there, never in the host's Python. The
environment assay runs in stays visible behind it (a ``.pth`` file lists its
site-packages), so installed packages shadow those, and tools on its ``PATH``
stay reachable.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import sys
import sysconfig
import venv
from collections.abc import Sequence
from pathlib import Path

from assay.errors import DefinitionError, InfrastructureError

__all__ = ["DATA_ROOT", "Workspace", "is_inside"]

DATA_ROOT = "/data"
_DATA_REF = re.compile(r"(?<![\w.\-/])/data(?=/|\s|$|[\"';:])")
_PIP_SHIM = """#!{python}
import sys
from pip._internal.cli.main import main
sys.exit(main())
"""


class Workspace:
    """Directories of one execution under ``ASSAY_HOME/work/<id>``."""

    def __init__(self, root: Path, data: Path | None = None) -> None:
        self.root = root
        self.data = data or root / "data"
        self.venv = root / "venv"
        self.reports = root / "reports"

    def with_data(self, data: Path) -> Workspace:
        """This workspace with ``data`` as its ``/data`` (created): a parallel worker's own
        data directory, beside the shared virtualenv and reports."""
        try:
            data.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InfrastructureError(f"cannot create {data}: {exc}") from exc
        return Workspace(self.root, data)

    def create(self) -> None:
        """Make the directories and the virtualenv."""
        try:
            for path in (self.data, self.reports):
                path.mkdir(parents=True, exist_ok=True)
            self._make_venv()
        except OSError as exc:
            raise InfrastructureError(f"cannot create workspace {self.root}: {exc}") from exc

    def remove(self) -> None:
        """Delete the workspace (symlinked sources are unlinked, not followed)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def map_text(self, text: str) -> str:
        """Rewrite ``/data`` references to this workspace's data directory."""
        return _DATA_REF.sub(str(self.data).replace("\\", "\\\\"), text)

    def resolve(self, path: str, base: Path | None = None) -> Path:
        """A definition path as a real path (``/data`` mapped; relative to ``base``)."""
        mapped = Path(self.map_text(path))
        if mapped.is_absolute():
            return mapped
        return (base or self.data) / mapped

    def resolve_inside(self, path: str, roots: Sequence[Path]) -> Path:
        """:meth:`resolve` for a path assay writes to: refused (bad input) unless it really
        is (links resolved) inside one of ``roots``."""
        target = self.resolve(path)
        real = Path(os.path.realpath(target))
        if not is_inside(real, [Path(os.path.realpath(root)) for root in roots]):
            raise DefinitionError(f"{path}: {real} is outside the execution's workspace")
        return target

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """The process environment of a step: host env, venv first on PATH, then ``extra``."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
        assay_bin = str(Path(sys.executable).parent)
        parts = [str(self.venv / "bin"), assay_bin, *env.get("PATH", os.defpath).split(os.pathsep)]
        env["PATH"] = os.pathsep.join(dict.fromkeys(p for p in parts if p))
        env["VIRTUAL_ENV"] = str(self.venv)
        env["UV_PYTHON"] = str(self.venv / "bin" / "python")  # else `--system` escapes the venv
        env["PYTHONNOUSERSITE"] = "1"
        env.update(extra)
        return env

    def _make_venv(self) -> None:
        venv.EnvBuilder(with_pip=False, symlinks=True, clear=False).create(self.venv)
        purelib = Path(
            sysconfig.get_path("purelib", vars={"base": str(self.venv), "platbase": str(self.venv)})
        )
        inherited = [p for p in (*site.getsitepackages(), sysconfig.get_path("purelib")) if p]
        purelib.mkdir(parents=True, exist_ok=True)
        # addsitedir (not a bare path) so the host's own .pth files, e.g. editable installs,
        # are processed too; appended after the venv's site-packages, so installs shadow.
        lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(inherited)]
        (purelib / "_assay_host.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
        python = self.venv / "bin" / "python"
        for name in ("pip", "pip3"):
            shim = self.venv / "bin" / name
            shim.write_text(_PIP_SHIM.format(python=python), encoding="utf-8")
            shim.chmod(0o755)


def is_inside(path: Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` is one of ``roots`` or below one (both already real paths)."""
    return any(path == root or path.is_relative_to(root) for root in roots)
