"""The HTML report: one self-contained file with matplotlib charts as inline SVG."""

from __future__ import annotations

import re

import pytest
from lxml import etree, html
from reports_support import F, P, Q, case, open_store, record

from assay.reports.data import collect_report
from assay.reports.html import render_html
from assay.settings import Settings
from assay.store import ExecutionStore

TRACE = "def test_a():\n>       assert '<i>x</i>'\n\ntests/test_api.py:7: Error"


@pytest.fixture
def store(assay_home: Settings) -> ExecutionStore:
    return open_store(assay_home)


@pytest.fixture
def page(store: ExecutionStore) -> str:
    for run in range(3):
        record(store, "api", [case("test_a", P, 100 + run), case("test_b", P, 50)], branch="main")
    pr = record(
        store,
        "api",
        [
            case(
                "test_a",
                F,
                900,
                message="AssertionError: <b>not bold</b>\nline 2",
                trace=TRACE,
            ),
            case("test_b", F, 10, attempt=1, message="flaked"),
            case("test_b", P, 20, attempt=2),
            case("test_$price[<1>]", P, 30),
            case("test_q", Q, 5, message="quarantined bug"),
        ],
        branch="feature",
    )
    auth = record(store, "auth", [case("test_login", P, 40, classname="tests.test_auth")])
    return render_html(collect_report(store, [pr.name, auth.name], history=20))


def test_html_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "@import" not in page
    assert set(re.findall(r"url\((.)", page)) <= {"#"}  # only references inside the page
    # no XML prolog or DTD of the embedded SVG documents
    assert "<?xml" not in page and "DTD" not in page


def test_html_has_svg_charts(page: str) -> None:
    tree = html.fromstring(page)
    captions = [c.text_content() for c in tree.iter("figcaption")]
    assert captions == ["Outcomes", "Slowest tests", "History"]
    svgs = [el for el in tree.iter() if isinstance(el.tag, str) and el.tag.endswith("svg")]
    assert len(svgs) == 3
    # text is kept as text: execution names and test names are searchable in the charts
    chart_text = " ".join(etree.tostring(svg, encoding="unicode") for svg in svgs)
    assert "api-4" in chart_text and "auth-1" in chart_text
    assert "test_$price[&lt;1&gt;]" in chart_text
    # the charts share one document: their element ids must not clash
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert ids and len(ids) == len(set(ids))


def test_html_lists_failures_flaky_and_quarantined_escaped(page: str) -> None:
    tree = html.fromstring(page)
    text = tree.text_content()
    assert "Failed tests (1)" in text
    assert "Flaky tests: passed on retry (1)" in text
    assert "Quarantined failures (1)" in text
    assert "AssertionError: <b>not bold</b>" in text  # shown as text ...
    assert not tree.xpath("//b")  # ... never as markup
    # the trace under the message, in the same collapsed section, escaped too
    [trace] = tree.xpath("//details/pre[@class='trace']")
    assert trace.text_content() == TRACE
    assert not tree.xpath("//i")
    assert "tests.test_api::test_a" in text and "new" in text
    rows = tree.xpath("//h2[.='Executions']/following-sibling::table[1]/tbody/tr")
    assert [r.xpath("string(td[1]/strong)") for r in rows] == ["api-4", "auth-1", "Total"]
    assert rows[0].xpath("string(td[3])") == "4 (+2)"  # 4 tests against 2 in api-3


def test_html_without_tests_or_history_still_renders(store: ExecutionStore) -> None:
    row = record(store, "empty", [])
    page = render_html(collect_report(store, [row.name], history=20))
    assert "<svg" not in page and "No recorded durations." in page
