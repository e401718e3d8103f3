"""Check-run annotations: where a failing test is in the checkout, and at most 50."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_support import case, record

from assay.ci.annotations import MAX_ANNOTATIONS, SourceIndex, build_annotations
from assay.reports.data import collect_report
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


# --- the line that failed, from the trace ------------------------------------------------

HELPERS = """\
def check(n):
    value = n * 2
    assert value == 3, "bad value"
"""

CONFTEST = """\
import pytest

@pytest.fixture
def cart():
    raise RuntimeError("no cart")
"""

# pytest's long report of test_add[1] failing inside check(), from tests/helpers.py (entries
# before the last one end with ": ")
LONG_HELPER = """\
self = <tests.test_cart.TestCart object at 0x7f>, n = 1

    @pytest.mark.parametrize("n", [1, 2])
    def test_add(self, n):
>       assert check(n)

tests/test_cart.py:7:\x20
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

n = 1

    def check(n):
        value = n * 2
>       assert value == 3, "bad value"
E       AssertionError: bad value

tests/helpers.py:3: AssertionError"""

# the same with --tb=short, by way of an installed package and a .venv in the checkout
SHORT_HELPER = """\
tests/test_cart.py:7: in test_add
    assert check(n)
/home/runner/work/shop/shop/services/shop/tests/helpers.py:3: in check
    assert value == 3, "bad value"
/opt/hostedtoolcache/Python/3.12.4/x64/lib/python3.12/site-packages/pluggy/api.py:2: in x
    raise
.venv/lib/python3.12/site-packages/helpers.py:1: in y
    raise
/usr/lib/python3.12/api.py:2: in z
    raise
E   AssertionError: bad value"""

# Python's own traceback (pytest --tb=native, or any Python tool)
NATIVE_HELPER = """\
Traceback (most recent call last):
  File "/home/runner/work/shop/shop/services/shop/tests/test_cart.py", line 7, in test_add
    assert check(n)
  File "/home/runner/work/shop/shop/services/shop/tests/helpers.py", line 3, in check
    assert value == 3, "bad value"
AssertionError: bad value"""


@pytest.fixture
def helpers(workspace: Path) -> Path:
    tests = workspace / "services" / "shop" / "tests"
    (tests / "helpers.py").write_text(HELPERS)
    (tests / "conftest.py").write_text(CONFTEST)
    # names an installed package's trace entries end with
    (workspace / "api.py").write_text("a = 1\nb = 2\n")
    venv = workspace / ".venv" / "lib" / "python3.12" / "site-packages"
    venv.mkdir(parents=True)
    (venv / "helpers.py").write_text("x = 1\n")
    return workspace


def _placed(store: ExecutionStore, workspace: Path, cases: list[object]) -> list[tuple[str, int]]:
    row = record(store, "shop", cases)
    made = build_annotations(collect_report(store, [row.id], with_base=False), workspace)
    return [(a["path"], a["start_line"]) for a in made.items]


def test_the_line_that_failed_in_the_test_itself(store: ExecutionStore, helpers: Path) -> None:
    own = "def test_pay():\n>       assert False\nE       assert False\n\ntests/test_cart.py:11: E"
    cases = [case("test_pay", "failed", classname="tests.test_cart", message="m", trace=own)]
    assert _placed(store, helpers, cases) == [("services/shop/tests/test_cart.py", 11)]
    # the def line, where it was before traces: 10
    index = SourceIndex(helpers)
    assert index.definition_line("services/shop/tests/test_cart.py", "test_pay") == 10


@pytest.mark.parametrize(
    "trace", [LONG_HELPER, SHORT_HELPER, NATIVE_HELPER], ids=["long", "short", "native"]
)
def test_a_failure_in_a_helper_is_shown_where_the_test_called_it(
    store: ExecutionStore, helpers: Path, trace: str
) -> None:
    cases = [
        case(
            "test_add[1]",
            "failed",
            classname="tests.test_cart.TestCart",
            file="tests/test_cart.py",
            message="AssertionError: bad value",
            trace=trace,
        )
    ]
    # line 7 of the test's file (its def is on line 6), not line 3 of helpers.py
    assert _placed(store, helpers, cases) == [("services/shop/tests/test_cart.py", 7)]
    index = SourceIndex(helpers)
    # without the test's own file in it, the last entry in the checkout: the helper's line,
    # not the files of installed packages and the standard library named after it
    assert index.failure_line(trace, "services/shop/tests/test_other.py") == (
        "services/shop/tests/helpers.py",
        3,
    )


def test_a_failure_outside_the_test_file(store: ExecutionStore, helpers: Path) -> None:
    setup = (
        "@pytest.fixture\n    def cart():\n>       raise RuntimeError\nE   RuntimeError: no cart"
        "\n\ntests/conftest.py:5: RuntimeError"
    )
    cases = [
        case("test_pay", "errored", classname="tests.test_cart", message="m", trace=setup),
        # a test in no file of the checkout, failing in one: annotated there
        case("test_gone", "failed", file="elsewhere/test_gone.py", message="m", trace=setup),
    ]
    conftest = ("services/shop/tests/conftest.py", 5)
    assert _placed(store, helpers, cases) == [conftest, conftest]


def test_without_a_location_in_the_checkout_the_def_line(
    store: ExecutionStore, helpers: Path
) -> None:
    nowhere = [
        "E   ConnectionRefusedError\n\n/usr/lib/python3.12/socket.py:850: ConnectionRefusedError",
        "tests/test_missing.py:3: in test_pay\n    boom()\nE   NameError",
        "tests/test_cart.py:500: AssertionError",  # past the end of the file: another version
        "node_modules/x/tests/test_cart.py:11: AssertionError",  # a skipped folder
        "/usr/lib/python3/dist-packages/requests/api.py:2: in get",  # not the checkout's api.py
        '  File "<string>", line 1, in <module>\nSyntaxError',
        "AssertionError: assert 1 == 2",
    ]
    cases = [
        case("test_pay", "failed", classname="tests.test_cart", message="m", trace=trace, attempt=n)
        for n, trace in enumerate(nowhere, start=1)
    ]
    # each attempt a test of its own execution, so that each is the final one
    for single in cases:
        assert _placed(store, helpers, [single]) == [("services/shop/tests/test_cart.py", 10)]


def test_a_flaky_test_is_shown_where_it_failed(store: ExecutionStore, helpers: Path) -> None:
    cases = [
        case(
            "test_add[2]",
            "failed",
            classname="tests.test_cart.TestCart",
            message="AssertionError: bad value",
            trace=SHORT_HELPER,
        ),
        case("test_add[2]", "passed", classname="tests.test_cart.TestCart", attempt=2),
    ]
    row = record(store, "shop", cases)
    made = build_annotations(collect_report(store, [row.id], with_base=False), helpers)
    assert [(a["path"], a["start_line"], a["annotation_level"]) for a in made.items] == [
        ("services/shop/tests/test_cart.py", 7, "warning")
    ]
