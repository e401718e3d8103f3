"""Check-run annotations: where a failing test is in the checkout, and at most 50."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_support import case, record

from assay.ci.annotations import MAX_ANNOTATIONS, SourceIndex, build_annotations
from assay.results.report_data import collect_report
from assay.settings import Settings
from assay.store import Database, ExecutionStore

TESTS = """\
import pytest


class TestCart:
    @pytest.mark.parametrize("n", [1, 2])
    def test_add(self, n):
        assert n


async def test_pay():
    assert False
"""


@pytest.fixture
def store(assay_home: Settings) -> Iterator[ExecutionStore]:
    database = Database(assay_home.database_url)
    yield ExecutionStore(database)
    database.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "services" / "shop" / "tests").mkdir(parents=True)
    (root / "services" / "shop" / "tests" / "test_cart.py").write_text(TESTS)
    (root / "node_modules" / "x" / "tests").mkdir(parents=True)
    (root / "node_modules" / "x" / "tests" / "test_cart.py").write_text(TESTS)
    (root / "README.md").write_text("hello\n")
    return root


def test_paths_are_resolved_against_the_checkout(workspace: Path) -> None:
    index = SourceIndex(workspace)
    want = "services/shop/tests/test_cart.py"
    assert index.resolve(want) == want
    assert index.resolve("tests/test_cart.py") == want  # pytest rootdir was services/shop
    assert index.resolve("/home/runner/work/shop/shop/services/shop/tests/test_cart.py") == want
    assert index.resolve("C:\\ci\\services\\shop\\tests\\test_cart.py") == want
    assert index.resolve("tests/test_missing.py") is None
    assert index.resolve("../../etc/passwd") is None
    assert index.from_classname("tests.test_cart.TestCart") == want
    assert index.from_classname("com.example.CartTest") is None
    assert index.definition_line(want, "test_add[2]") == 6
    assert index.definition_line(want, "test_pay") == 10
    assert index.definition_line(want, "test_gone") is None


def test_ambiguous_paths_are_not_guessed(workspace: Path) -> None:
    other = workspace / "services" / "billing" / "tests"
    other.mkdir(parents=True)
    (other / "test_cart.py").write_text(TESTS)
    assert SourceIndex(workspace).resolve("tests/test_cart.py") is None


def test_annotations_for_failures_then_flaky(store: ExecutionStore, workspace: Path) -> None:
    row = record(
        store,
        "shop",
        [
            case(
                "test_add[2]",
                "failed",
                classname="tests.test_cart.TestCart",
                file="tests/test_cart.py",
                line=4,
                message="assert 0",
            ),
            case("test_pay", "errored", classname="tests.test_cart", message="boom"),
            case("test_checkout", "failed", classname="tests.test_elsewhere", message="x"),
            case(
                "test_add[1]",
                "failed",
                classname="tests.test_cart.TestCart",
                file="tests/test_cart.py",
                message="first",
            ),
            case(
                "test_add[1]",
                "passed",
                classname="tests.test_cart.TestCart",
                file="tests/test_cart.py",
                attempt=2,
            ),
        ],
    )
    report = collect_report(store, [row.id], with_base=False)
    made = build_annotations(report, workspace)
    path = "services/shop/tests/test_cart.py"
    assert [(a["path"], a["start_line"], a["annotation_level"]) for a in made.items] == [
        (path, 6, "failure"),
        (path, 10, "failure"),  # no file attribute: found from the classname
        (path, 6, "warning"),  # flaky
    ]
    assert made.items[0]["title"] == "tests.test_cart.TestCart::test_add[2] failed"
    assert made.items[1]["title"] == "tests.test_cart::test_pay errored"
    assert made.items[2]["message"].startswith("passed on attempt 2 after 1 failed attempt(s)")
    assert made.unplaced == 1 and made.dropped == 0  # test_checkout: no such file


def test_line_falls_back_to_the_reported_one(store: ExecutionStore, workspace: Path) -> None:
    row = record(
        store,
        "shop",
        [case("generated", "failed", file="README.md", line=0, message="m")],
    )
    made = build_annotations(collect_report(store, [row.id], with_base=False), workspace)
    assert [(a["path"], a["start_line"]) for a in made.items] == [("README.md", 1)]


def test_at_most_50_annotations(store: ExecutionStore, workspace: Path) -> None:
    cases = [
        case(f"test_{i:03d}", "failed", file="tests/test_cart.py", line=i, message="x" * 70_000)
        for i in range(60)
    ]
    row = record(store, "shop", cases)
    made = build_annotations(collect_report(store, [row.id], with_base=False), workspace)
    assert len(made.items) == MAX_ANNOTATIONS == 50 and made.dropped == 10
    assert all(len(a["message"]) <= 4000 for a in made.items)
    assert made.items[0]["start_line"] == 1  # line 0 from the report, at least 1
