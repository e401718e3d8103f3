"""The import graph of src/assay: imports go down the layers, and no module imports itself
back through others.  Every import counts, also one inside a function or under
``TYPE_CHECKING``.  The layers are drawn in docs/architecture.md."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "assay"

LAYERS: dict[str, int] = {
    # ground floor: shared value types and settings, importing nothing of assay's
    "assay": 0,  # the package's own __init__: __version__
    "errors": 0,
    "status": 0,
    "model": 0,
    "envvars": 0,
    "processes": 0,  # /proc facts: pid + start time, process-group liveness
    "faults": 0,
    "moments": 0,  # aware UTC datetimes  # OS and store faults -> one line (exit 3)
    "pytest_attempts": 0,  # per-attempt pytest reports, reruns: also run in step images
    # where assay keeps its data (ASSAY_HOME, the database URL); raises assay.errors
    "settings": 1,
    # definitions; processes; the pytest plugin shipped to users
    "spec": 1,
    "runners": 1,
    "testing": 1,
    "client": 1,  # the remote CLI's HTTP client of `assay server` (httpx only)
    # checkouts; JUnit reports parsed; storage
    "content": 2,
    "results": 2,
    "store": 2,
    # questions over the history; reports of executions
    "analytics": 3,
    "reports": 3,
    "ops": 3,  # scheduler, webhook outbox sender, retention, metrics (over the store)
    # running an execution; CI over reports
    "engine": 4,
    "ci": 4,
    # the application facade, then the command line
    "app": 5,
    "kube": 5,  # an execution as Kubernetes objects (engine's config and parallel settings)
    "server": 6,  # `assay server`: the HTTP API over the application facade
    "cli": 7,
}
"""Layer of each top-level package or module of ``assay``: it may import lower layers only
(and itself); peers on one layer do not know each other."""


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted
    path: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(SRC)}:{self.line}"

    @property
    def upward(self) -> bool:
        """Whether this import reaches a package on the same or a higher layer."""
        source, target = component(self.source), component(self.target)
        return source != target and LAYERS[source] <= LAYERS.get(target, 99)


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path], src: Path = SRC) -> Iterator[Import]:
    """Every ``assay`` module ``path`` imports, at any depth of its code."""
    source = module_name(path, src)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; other names come from base
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "assay" or target.startswith("assay."):
                yield Import(source, target, path, node.lineno)


def all_imports() -> list[Import]:
    modules = all_modules()
    return [found for path in modules.values() for found in imports_of(path, modules)]


def component(module: str) -> str:
    """The top-level package or module of ``assay`` that ``module`` belongs to."""
    return module.split(".")[1] if "." in module else module


def test_every_package_has_a_layer() -> None:
    components = {component(name) for name in all_modules()}
    assert components - LAYERS.keys() == set(), "place new packages in LAYERS"


def test_imports_go_down_the_layers() -> None:
    upward = [
        f"{found.where}: {found.source} (layer {LAYERS[component(found.source)]}) imports "
        f"{found.target} (layer {LAYERS.get(component(found.target), '?')})"
        for found in all_imports()
        if found.upward
    ]
    assert upward == []


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {name: set() for name in all_modules()}
    for found in all_imports():
        if found.target in graph and found.target != found.source:
            graph[found.source].add(found.target)
    cycles = [sorted(group) for group in strongly_connected(graph) if len(group) > 1]
    assert cycles == []


def test_the_cycle_search_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    groups = sorted(sorted(group) for group in strongly_connected(graph) if len(group) > 1)
    assert groups == [["a", "b", "c"]]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("def f():\n    from assay.cli.main import app\n", True),  # function-level
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import assay.engine\n", True),
        ("from ..engine import steps\n", True),  # relative
        ("from assay.model import CaseStatus\n", False),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path: Path, code: str, caught: bool) -> None:
    """An upward import planted in a copy of store/ is found, however it is written."""
    planted = tmp_path / "src" / "assay" / "store" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text(code, encoding="utf-8")
    modules = {**all_modules(), "assay.store.planted": planted}
    found = list(imports_of(planted, modules, src=tmp_path / "src"))
    assert found and found[0].source == "assay.store.planted"
    assert any(f.upward for f in found) is caught
