"""The dashboard's HTTP rules, against the same real `assay server`: login and its cookie,
scopes as in the API, CSRF, bad input, escaping, the chart library served locally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dashboard_support import Site

from assay.server.dashboard.auth import COOKIE, csrf_token


@pytest.fixture
def http(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield client


def logged_in(site: Site, scope: str) -> httpx.Client:
    client = httpx.Client(base_url=site.url, timeout=30)
    client.cookies.set(COOKIE, site.tokens[scope])
    return client


def first_event(client: httpx.Client, path: str) -> dict[str, Any]:
    """The data of the first event of a Server-Sent Events stream (then disconnects)."""
    with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data:"):
                data: dict[str, Any] = json.loads(line.removeprefix("data:").strip())
                data.pop("ts")
                return data
    raise AssertionError(f"{path}: the stream ended without an event")


def test_the_event_streams_take_the_session_cookie_and_nothing_else_does(site: Site) -> None:
    passing = site.executions["passing"]
    with logged_in(site, "read") as reader:
        page = first_event(reader, "/v1/test-workflow-executions/notifications?status=passed")
        assert passing in [row["id"] for row in page["executions"]]
        assert {row["status"] for row in page["executions"]} == {"passed"}
        bad = reader.get("/v1/test-workflow-executions/notifications?tag=nokey")
        assert bad.status_code == 422 and "tag 'nokey': write KEY=VALUE" in bad.json()["error"]
        one = first_event(reader, f"/v1/test-workflow-executions/{passing}/notifications")
        assert "log" in one
        # the cookie opens event streams only: the rest of the API wants a bearer token
        assert reader.get(f"/v1/test-workflow-executions/{passing}").status_code == 401
    with httpx.Client(base_url=site.url, timeout=30) as stranger:
        stranger.cookies.set(COOKIE, "assay_revoked-or-made-up")
        stream = stranger.get("/v1/test-workflow-executions/notifications")
        assert stream.status_code == 401


def test_pages_need_a_login_and_live_endpoints_answer_401(http: httpx.Client) -> None:
    page = http.get("/executions?status=failed")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fexecutions%3Fstatus%3Dfailed"
    assert http.get("/v1/test-workflow-executions/notifications").status_code == 401
    assert http.get("/login").status_code == 200


def test_login_keeps_the_token_in_an_httponly_samesite_cookie(
    site: Site, http: httpx.Client
) -> None:
    answer = http.post("/login", data={"token": site.tokens["read"], "next": "/trends"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/trends"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={site.tokens['read']};")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    # never to another site after logging in
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = http.post("/login", data={"token": site.tokens["read"], "next": target})
        assert answer.headers["location"] == "/executions"
    foreign = http.post(
        "/login", data={"token": site.tokens["read"]}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "set-cookie" not in foreign.headers
    wrong = http.post("/login", data={"token": "assay_wrong", "next": "/trends"})
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers


def test_forms_need_the_csrf_token_and_the_api_scope(site: Site) -> None:
    failing = site.executions["failing"]
    with logged_in(site, "admin") as admin:
        no_csrf = admin.post("/tests/quarantine", data={"test_id": "x", "reason": "r"})
        assert no_csrf.status_code == 403
        forged = admin.post("/logout", data={"csrf": csrf_token(site.tokens["run"])})
        assert forged.status_code == 403
    with logged_in(site, "run") as runner:
        csrf = csrf_token(site.tokens["run"])
        refused = runner.post("/tests/quarantine", data={"csrf": csrf, "test_id": "x"})
        assert refused.status_code == 403  # quarantine needs admin, as POST /v1/quarantine
        assert "needs admin" in refused.text
    with logged_in(site, "read") as reader:
        csrf = csrf_token(site.tokens["read"])
        for path in ("/workflows/calc/run", f"/executions/{failing}/rerun"):
            answer = reader.post(path, data={"csrf": csrf})
            assert answer.status_code == 403, path
            assert "needs run" in answer.text


def test_bad_input_is_a_page_naming_the_problem(site: Site) -> None:
    with logged_in(site, "run") as runner:
        missing = runner.get("/executions/no-such-execution")
        assert missing.status_code == 404
        assert "no execution &#39;no-such-execution&#39;" in missing.text
        bad = runner.get("/executions?status=green")
        assert bad.status_code == 400
        assert "status &#39;green&#39;: not one of" in bad.text
        assert runner.get("/trends?days=12").status_code == 400
        before = first_event(runner, "/v1/test-workflow-executions/notifications")
        csrf = csrf_token(site.tokens["run"])
        wrong = runner.post(
            "/workflows/calc/run", data={"csrf": csrf, "config.level": "huge", "config.repeat": "1"}
        )
        assert wrong.status_code == 400
        assert "config.level" in wrong.text and "huge" in wrong.text
        after = first_event(runner, "/v1/test-workflow-executions/notifications")
        assert after == before  # nothing queued
        unknown = runner.post(f"/executions/{site.executions['failing']}/delete", data={})
        assert unknown.status_code == 404 and "abort or rerun" in unknown.text


def test_text_from_the_store_is_escaped(
    site: Site, tmp_path_factory: pytest.TempPathFactory
) -> None:
    junit = tmp_path_factory.mktemp("escape") / "junit.xml"
    junit.write_text(
        '<testsuite name="s"><testcase classname="c" name="&lt;img src=x onerror=alert(1)&gt;">'
        '<failure message="&lt;script&gt;alert(2)&lt;/script&gt;">boom</failure>'
        "</testcase></testsuite>"
    )
    site.cli("import", str(junit), "--workflow", "escape", "--tag", "note=<b>bold</b>", expect=1)
    with logged_in(site, "read") as reader:
        listing = reader.get("/executions?workflow=escape").text
        assert "<b>bold</b>" not in listing and "note=&lt;b&gt;bold&lt;/b&gt;" in listing
        stream = "/v1/test-workflow-executions/notifications?workflow=escape"
        ref = first_event(reader, stream)["executions"][0]["id"]
        page = reader.get(f"/executions/{ref}").text
        assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)" in page
        assert "<img src=x" not in page


def test_the_chart_library_comes_from_the_installed_plotly_package(http: httpx.Client) -> None:
    import plotly

    answer = http.get("/static/plotly.min.js")
    assert answer.status_code == 200
    shipped = plotly.__file__.replace("__init__.py", "package_data/plotly.min.js")
    with open(shipped, "rb") as file:
        assert answer.content == file.read()
    assert http.get("/static/dashboard.js").status_code == 200
    assert http.get("/static/..%2Fpages.py").status_code == 404
    assert http.get("/static/missing.js").status_code == 404
