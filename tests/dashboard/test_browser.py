"""The dashboard as a person uses it, in a real headless Chromium against a real `assay
server`: every request the pages make goes to that server (anything else is recorded,
refused, and fails the test). With ASSAY_SCREENSHOTS=1 each page is saved to
docs/images/ for docs/dashboard.md."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dashboard_support import SCREENSHOTS, Site

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Visitor:
    """A browser context logged in (or not) on the site, recording foreign requests."""

    def __init__(self, browser: Any, site: Site, viewport: dict[str, int] = DESKTOP) -> None:
        self.site = site
        self.context = browser.new_context(viewport=viewport, base_url=site.url)
        self.foreign: list[str] = []
        self.requests: list[str] = []
        """Every request the pages made to the server (method and path)."""
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.site.url + "/") or url == self.site.url:
            self.requests.append(f"{route.request.method} {url.removeprefix(self.site.url)}")
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def wait_for_request(self, request: str) -> None:
        """Wait until the pages have made ``request`` (method and path)."""
        for _ in range(100):
            if request in self.requests:
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"no {request}: {self.requests}")

    def page_requests(self, start: int) -> list[str]:
        """The requests made since the ``start``-th, but for static files and the icon."""
        return [
            r
            for r in self.requests[start:]
            if not r.startswith(("GET /static/", "GET /favicon.ico"))
        ]

    def login(self, scope: str = "admin") -> None:
        self.page.goto("/executions")
        assert "/login" in self.page.url
        self.page.fill("#token", self.site.tokens[scope])
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_url(re.compile(r"/executions$"))

    def shot(self, name: str) -> None:
        """Save the page for docs/dashboard.md (only with ASSAY_SCREENSHOTS=1)."""
        if os.environ.get("ASSAY_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.foreign == [], f"requests left the server: {self.foreign}"


def words(locator: Any) -> str:
    """The text of an element, whitespace collapsed (as a screen reader reads it)."""
    return " ".join(str(locator.text_content()).split())


@pytest.fixture
def visitor(browser: Any, site: Site) -> Iterator[Visitor]:
    visitor = Visitor(browser, site)
    yield visitor
    visitor.close()


def test_login_then_passing_and_failing_executions(visitor: Visitor) -> None:
    page = visitor.page
    page.goto("/executions")
    page.wait_for_selector("#token")
    visitor.shot("login")
    page.fill("#token", "assay_not-a-token")
    page.click("form[action='/login'] button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That token is unknown, revoked or expired."
    visitor.login()
    rows = page.locator("table.executions tbody tr")
    statuses = {
        rows.nth(i).get_attribute("data-id"): words(rows.nth(i).locator(".status"))
        for i in range(rows.count())
    }
    assert statuses[visitor.site.executions["passing"]] == "✓ passed"
    assert statuses[visitor.site.executions["failing"]] == "✗ failed"
    visitor.shot("executions")
    # filters: the failed ones of calc only
    page.select_option("#f-status", "failed")
    page.fill("#f-workflow", "calc")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=failed"))
    ids = page.locator("table.executions tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert ids == [visitor.site.executions["failing"]]


def test_failing_execution_shows_its_failed_test_message_and_output(visitor: Visitor) -> None:
    visitor.login()
    page = visitor.page
    page.click(f"tr[data-id='{visitor.site.executions['failing']}'] td:nth-child(2) a")
    page.wait_for_selector("#execution")
    test = page.locator("article.test").first
    assert "test_divide" in test.locator(".test-name").inner_text()
    assert "divide must round down" in test.locator(".message").inner_text()
    assert re.search(r"tests/test_calc\.py:\d+", test.locator(".where").inner_text())
    assert "assert 3.5 == 3" in test.locator("pre.trace").inner_text()
    steps = page.locator("#steps li.step")
    assert steps.count() == 2
    assert words(steps.nth(1).locator(".status")) == "✗ failed"
    log = page.locator("details.log-section", has_text="Unit tests")
    assert "1 failed, 1 passed" in log.locator("pre.log").inner_text()
    visitor.shot("execution-failed")
    # keyboard: the skip link is the first stop, and it leads to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_workflow_page_has_definition_form_charts_and_schedule(visitor: Visitor) -> None:
    visitor.login()
    page = visitor.page
    page.goto("/workflows/calc")
    definition = page.locator("pre.yaml").inner_text()
    assert "cronjob" in definition
    assert "content: |\n" in definition  # the test file reads as written, not as one "...\n..."
    assert "    def test_add():\n" in definition
    assert page.locator("select#cfg-level option").all_inner_texts() == ["quick", "full"]
    assert page.locator("#cfg-repeat").get_attribute("type") == "number"
    assert page.locator("#cfg-verbose").get_attribute("type") == "checkbox"
    assert "0 3 * * *" in page.locator("section[aria-labelledby=schedules-h]").inner_text()
    page.wait_for_selector("#chart-pass-rate .main-svg")  # drawn by plotly.js, served locally
    visitor.shot("workflow")


STREAM = "GET /v1/test-workflow-executions/notifications"


def test_start_a_run_and_watch_it_appear_and_finish_without_reloading(visitor: Visitor) -> None:
    visitor.login()
    page = visitor.page
    page.evaluate("window.notReloaded = true")
    visitor.wait_for_request(STREAM)  # the list follows the server's event stream
    loaded = len(visitor.requests)
    queued = httpx.post(
        f"{visitor.site.url}/v1/test-workflows/calc/executions",
        json={"config": {"repeat": 3}, "tags": {"branch": "main"}},
        headers={"Authorization": f"Bearer {visitor.site.tokens['run']}"},
        timeout=30,
    )
    assert queued.status_code == 200, queued.text
    row = page.locator(f"tr[data-id='{queued.json()['id']}']")
    row.wait_for()
    first_seen = words(row.locator(".status"))
    assert first_seen in ("◷ queued", "▶ running"), first_seen
    page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{queued.json()['id']}'] .status\")"
        ".dataset.status === 'running'"
    )
    visitor.shot("executions-live")
    page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{queued.json()['id']}'] .status\")"
        ".dataset.status === 'passed'",
        timeout=180_000,
    )
    assert page.evaluate("window.notReloaded") is True
    # it all came through the one stream opened with the page: no request since, no polling
    assert visitor.page_requests(loaded) == []


def test_run_a_workflow_with_config_from_the_form(visitor: Visitor) -> None:
    visitor.login("run")
    page = visitor.page
    page.goto("/workflows/calc")
    page.select_option("#cfg-level", "full")
    page.fill("#cfg-repeat", "3")
    page.check("#cfg-verbose")
    visitor.shot("run-form")
    page.click("form.run-form button[type=submit]")
    page.wait_for_url(re.compile(r"/executions/[0-9a-f]{32}$"))
    path = page.url.removeprefix(visitor.site.url)
    loaded = visitor.requests.index("POST /workflows/calc/run")  # redirected to the page
    page.evaluate("window.notReloaded = true")
    # steps appear as they start and end, while the execution runs (Unit tests sleeps 3 s)
    # (on a loaded machine Prepare itself may be seen running first: wait for the second step)
    running = page.locator("#steps li.step[data-status='running']", has_text="Unit tests")
    running.wait_for(timeout=180_000)
    assert page.locator("#execution").get_attribute("data-finished") == "0"
    prepare = page.locator("#steps li.step", has_text="Prepare")
    assert words(prepare.locator(".status")) == "✓ passed"
    # the live log, a section per step
    page.wait_for_function(
        "(document.getElementById('live-log') || {}).textContent?.includes("
        "'level=full repeat=3 verbose=true')",
        timeout=180_000,
    )
    sections = page.locator("#live-log details.log-section summary").all_inner_texts()
    assert sections[:2] == ["Prepare", "Unit tests"], sections
    assert "level=full" in str(page.locator("#live-log details", has_text="Prepare").text_content())
    visitor.shot("execution-running")
    page.wait_for_selector("#execution[data-finished='1']", timeout=180_000)
    assert page.evaluate("window.notReloaded") is True  # the page updated itself
    # the page's own requests: the event stream, then once, at the end, the finished view
    later = visitor.page_requests(loaded + 1)
    assert later == [
        f"GET /v1/test-workflow-executions/{path.rsplit('/', 1)[1]}/notifications?progress=true",
        f"GET {path}",
    ], later
    assert words(page.locator(".exec-head h1 .status")) == "✗ failed"
    facts = words(page.locator("dl.facts"))
    assert "level=full" in facts and "repeat=3" in facts and "verbose=True" in facts
    assert "divide must round down" in page.locator("article.test .message").inner_text()
    # the same run again, then stopped while it runs
    page.click("form[action$='/rerun'] button")
    page.wait_for_selector("#execution[data-finished='0']")
    page.click("form[action$='/abort'] button")
    page.wait_for_selector("#execution[data-finished='1']", timeout=180_000)
    assert words(page.locator(".exec-head h1 .status")) == "■ aborted"


def test_quarantine_a_flaky_test_from_the_tests_page(visitor: Visitor) -> None:
    visitor.login()
    page = visitor.page
    page.goto("/tests")
    flaky = page.locator("article.flaky", has_text="test_retry_on_reset")
    evidence = flaky.locator("ul.evidence a").first
    assert evidence.get_attribute("href").startswith("/executions/")
    assert "REQ-7" in page.locator("section[aria-labelledby=req-h]").inner_text()
    visitor.shot("tests")
    flaky.locator("input[name=reason]").fill("resets on the shared runner")
    flaky.locator("input[name=until]").fill("2099-01-31")
    flaky.locator("button[type=submit]").click()
    page.wait_for_selector("[role=status]")
    assert (
        "quarantined tests.test_net::test_retry_on_reset"
        in page.locator("[role=status]").inner_text()
    )
    table = page.locator("section[aria-labelledby=q-h] table")
    assert "resets on the shared runner" in table.inner_text()
    assert "2099-02-01 00:00 UTC" in table.inner_text()  # through the 31st
    # and out again
    table.locator("button", has_text="Remove").first.click()
    page.wait_for_selector("[role=status]")
    assert "No test is quarantined." in page.locator("section[aria-labelledby=q-h]").inner_text()


def test_trends_page_draws_its_charts(visitor: Visitor) -> None:
    visitor.login()
    page = visitor.page
    page.goto("/trends")
    assert "Last 7 days of every workflow" in page.locator("#trends-window").inner_text()
    for chart in ("pass-rate", "duration-p50", "duration-p95", "failures"):
        page.wait_for_selector(f"#chart-{chart} .main-svg")
    visitor.shot("trends")
    page.fill("#t-branch", "feature-x")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"branch=feature-x"))
    data = page.locator("#chart-failures").get_attribute("data-chart")
    assert '"name":"calc"' in data and "nightly" not in data


def test_read_scope_sees_no_buttons_and_logout_ends_the_session(browser: Any, site: Site) -> None:
    visitor = Visitor(browser, site)
    try:
        visitor.login("read")
        page = visitor.page
        page.goto("/workflows/calc")
        assert page.locator("form.run-form").count() == 0
        page.goto("/tests")
        assert page.locator("form.quarantine-form").count() == 0
        page.click("header form.who button")
        page.wait_for_url(re.compile(r"/login$"))
        page.goto("/executions")
        assert "/login" in page.url
    finally:
        visitor.close()


def test_phone_width(browser: Any, site: Site) -> None:
    visitor = Visitor(browser, site, PHONE)
    try:
        visitor.login()
        page = visitor.page
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the list scrolls sideways on a phone"
        visitor.shot("executions-phone")
    finally:
        visitor.close()
