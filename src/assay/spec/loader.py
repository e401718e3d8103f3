"""Load definitions from YAML files: TestWorkflow, TestWorkflowTemplate, Test, TestSuite.

:func:`load_definitions` reads a file, or every ``*.yaml``/``*.yml`` under a
directory (recursively, sorted, hidden files and directories skipped); each file
may hold several ``---`` documents, empty ones are skipped.

Every problem is reported as ``FILE:LINE: FIELD.PATH: message`` — YAML syntax
errors with ``FILE:LINE:COLUMN``. All the problems of all files are collected
into a single :class:`~assay.errors.DefinitionError` (one line each), together
with duplicate names (same kind and name in two places).

Line numbers come from the YAML node tree (the composer keeps each node's start
mark): a pydantic error's ``loc`` (aliases, list indexes) is followed down the
tree to the deepest node that exists. Files are limited to
:data:`MAX_FILE_BYTES`, and aliases may not expand a document beyond
:data:`MAX_NODES` nodes (the "billion laughs"), nor be recursive.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from assay.errors import DefinitionError
from assay.spec.checks import check_expressions
from assay.spec.messages import describe_error, format_path, join_messages, type_name
from assay.spec.workflow import API_VERSIONS, TestWorkflow, TestWorkflowTemplate

if TYPE_CHECKING:
    from assay.spec.legacy import LegacyTest, LegacyTestSuite
    from assay.spec.webhook import Webhook

__all__ = [
    "KINDS",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "RUNNABLE_KINDS",
    "Definition",
    "DefinitionModel",
    "load_definitions",
    "load_paths",
    "load_text",
]

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Largest definition file accepted."""
MAX_NODES = 1_000_000
"""Most YAML nodes a document may expand to (aliases counted at every use)."""

DefinitionModel = Union[
    TestWorkflow, TestWorkflowTemplate, "LegacyTest", "LegacyTestSuite", "Webhook"
]

_LEGACY_API_VERSION = "tests.testkube.io/v3"
_WEBHOOK_API_VERSION = "executor.testkube.io/v1"

RUNNABLE_KINDS = ("TestWorkflow", "TestSuite", "Test")
"""Kinds `assay run` runs (templates are only used by them)."""


class _Kinds(Mapping[str, tuple[tuple[str, ...], type[BaseModel]]]):
    """Accepted kinds and their apiVersions and model; the legacy models (Test,
    TestSuite) and Webhook are imported only when such a document is met."""

    _names = ("TestWorkflow", "TestWorkflowTemplate", "Test", "TestSuite", "Webhook")

    def __getitem__(self, kind: str) -> tuple[tuple[str, ...], type[BaseModel]]:
        if kind == "TestWorkflow":
            return API_VERSIONS, TestWorkflow
        if kind == "TestWorkflowTemplate":
            return API_VERSIONS, TestWorkflowTemplate
        if kind in ("Test", "TestSuite"):
            from assay.spec import legacy

            model = legacy.LegacyTest if kind == "Test" else legacy.LegacyTestSuite
            return (legacy.LEGACY_API_VERSION,), model
        if kind == "Webhook":
            from assay.spec.webhook import WEBHOOK_API_VERSIONS, Webhook

            return WEBHOOK_API_VERSIONS, Webhook
        raise KeyError(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def versions(self, kind: str) -> tuple[str, ...]:
        """The apiVersions accepted for ``kind`` (without importing its model)."""
        if kind == "Webhook":
            return (_WEBHOOK_API_VERSION,)
        return (_LEGACY_API_VERSION,) if kind in ("Test", "TestSuite") else API_VERSIONS


KINDS = _Kinds()
"""Accepted kinds: their apiVersions and model."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Definition:
    """One loaded document."""

    kind: str
    name: str
    source: Path
    line: int
    model: DefinitionModel
    raw: dict[str, Any]

    @property
    def where(self) -> str:
        """``FILE:LINE`` of the document."""
        return f"{self.source}:{self.line}"


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, source: str, line: int | None, path: str, message: str) -> None:
        where = f"{source}:{line}" if line is not None else source
        self.lines.append(f"{where}: {path}: {message}" if path else f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise DefinitionError("\n".join(dict.fromkeys(self.lines)))


# --------------------------------------------------------------------------- public API


def load_definitions(path: str | Path) -> list[Definition]:
    """Load every definition in ``path`` (a file or a directory)."""
    return load_paths([path])


def load_paths(paths: Sequence[str | Path]) -> list[Definition]:
    """Load every definition in ``paths`` (files or directories); every problem of every
    file is reported, and names must be unique across all of them."""
    problems = _Problems()
    files: list[Path] = []
    for path in paths:
        root = Path(path)
        if not root.exists():
            problems.add(str(root), None, "", "no such file or directory")
        else:
            files += [root] if root.is_file() else _yaml_files(root)
    definitions: list[Definition] = []
    for file in dict.fromkeys(files):
        try:
            size = file.stat().st_size
            if size > MAX_FILE_BYTES:
                problems.add(
                    str(file), None, "", f"file too large ({size} bytes; limit {MAX_FILE_BYTES})"
                )
                continue
            data = file.read_bytes()
        except OSError as exc:
            problems.add(str(file), None, "", f"cannot read: {exc.strerror or exc}")
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.add(str(file), None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        definitions += _load(text, file, problems)
    _check_duplicates(definitions, problems)
    problems.raise_if_any()
    return definitions


def load_text(text: str, source: str = "<string>") -> list[Definition]:
    """Load the definitions in a YAML string (``source`` names it in messages)."""
    problems = _Problems()
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        problems.add(source, None, "", f"text too large (limit {MAX_FILE_BYTES} bytes)")
        problems.raise_if_any()
    definitions = _load(text, Path(source), problems)
    _check_duplicates(definitions, problems)
    problems.raise_if_any()
    return definitions


def _yaml_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            if filename.startswith("."):
                continue
            if filename.endswith((".yaml", ".yml")):
                found.append(Path(directory) / filename)
    return sorted(found)


def _check_duplicates(definitions: Sequence[Definition], problems: _Problems) -> None:
    seen: dict[tuple[str, str], Definition] = {}
    for item in definitions:
        key = (item.kind, item.name)
        first = seen.get(key)
        if first is None:
            seen[key] = item
            continue
        problems.add(
            str(item.source),
            item.line,
            "metadata.name",
            f"duplicate {item.kind} {item.name!r}: also defined at {first.where}",
        )


# --------------------------------------------------------------------------- YAML


def _load(text: str, source: Path, problems: _Problems) -> list[Definition]:
    definitions: list[Definition] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            size_error = _check_size(node)
            if size_error:
                problems.add(str(source), node.start_mark.line + 1, "", size_error)
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            definition = _definition(data, node, source, problems)
            if definition is not None:
                definitions.append(definition)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else None
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (line {exc.context_mark.line + 1})"
        message = ": ".join(part for part in (context, exc.problem or "") if part)
        problems.lines.append(
            f"{source}:{where}: invalid YAML: {message}"
            if where
            else f"{source}: invalid YAML: {message}"
        )
    except yaml.YAMLError as exc:
        problems.add(str(source), None, "", f"invalid YAML: {exc}")
    except RecursionError:
        problems.add(str(source), None, "", "invalid YAML: nested too deeply")
    finally:
        loader.dispose()
    return definitions


def _check_size(root: yaml.Node) -> str | None:
    """Reject recursive aliases and documents expanding beyond MAX_NODES."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Recursive
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_NODES:
                    break
        active.discard(key)
        sizes[key] = total
        return total

    try:
        if size(root) > MAX_NODES:
            return f"document expands to more than {MAX_NODES} nodes (YAML aliases?)"
    except _Recursive:
        return "recursive YAML alias"
    except RecursionError:
        return "document nested too deeply"
    return None


class _Recursive(Exception):
    pass


def _line_of(node: yaml.Node, loc: Sequence[str | int]) -> tuple[int, int]:
    """Line of the deepest node along ``loc`` and how many ``loc`` items were found."""
    line = node.start_mark.line + 1
    depth = 0
    current: yaml.Node | None = node
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line = key.start_mark.line + 1
                    nxt = value
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            nxt = current.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        current = nxt
        depth += 1
    return line, depth


# --------------------------------------------------------------------------- documents


def _accepted() -> str:
    return "; ".join(f"{kind} ({', '.join(KINDS.versions(kind))})" for kind in KINDS)


def _definition(data: Any, node: yaml.Node, source: Path, problems: _Problems) -> Definition | None:
    src = str(source)
    doc_line = node.start_mark.line + 1
    if not isinstance(data, dict):
        problems.add(src, doc_line, "", f"a definition must be a mapping, not {type_name(data)}")
        return None
    kind = data.get("kind")
    if kind is None:
        problems.add(src, doc_line, "kind", f"missing field 'kind' (accepted: {_accepted()})")
        return None
    if not isinstance(kind, str) or kind not in KINDS:
        line, _ = _line_of(node, ["kind"])
        problems.add(src, line, "kind", f"unknown kind {kind!r}; accepted kinds: {_accepted()}")
        return None
    versions = KINDS.versions(kind)
    api_version = data.get("apiVersion")
    if api_version not in versions:
        line, _ = _line_of(node, ["apiVersion"])
        expected = ", ".join(versions)
        message = (
            f"missing field 'apiVersion' (expected {expected} for kind {kind})"
            if api_version is None
            else f"apiVersion {api_version!r} is not accepted for kind {kind}; expected {expected}"
        )
        problems.add(src, line, "apiVersion", message)
        return None
    model_cls = KINDS[kind][1]
    reports: dict[tuple[int, str], list[str]] = {}
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        model = None
        for error in exc.errors():
            loc, path, message = describe_error(error, data, model_cls)
            line, _ = _line_of(node, loc)
            reports.setdefault((line, path), []).append(message)
    except RecursionError:
        problems.add(src, doc_line, "", "definition nested too deeply")
        return None
    for loc, message in check_expressions(kind, data):  # also beside schema errors: all at once
        line, _ = _line_of(node, loc)
        reports.setdefault((line, format_path(loc)), []).append(message)
    for (line, path), messages in sorted(reports.items(), key=lambda item: item[0][0]):
        problems.add(src, line, path, join_messages(messages))
    if model is None:
        return None
    metadata = getattr(model, "metadata", None)
    name = getattr(metadata, "name", "")
    return Definition(kind=kind, name=name, source=source, line=doc_line, model=model, raw=data)  # type: ignore[arg-type]
