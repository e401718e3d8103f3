"""`assay flaky`, `assay trends`, `assay trace`, `assay quarantine` output shapes and bad input
(the real console script over a stored history)."""

from __future__ import annotations

import yaml
from analytics_support import Cli, History, tid

from assay.store import Database


def test_flaky_outputs(cli: Cli, home_db: Database) -> None:
    history = History(home_db)
    history.run("wf", {"test_x[a-b]": ["failed", "passed"], "ok": "passed"})
    table = cli("flaky", check=0).stdout
    # ids are shortened to a prefix when the table would not fit 80 columns
    assert tid("wf", "test_x[a-b]")[:8] in table and "mod::test_x[a-b]" in table
    assert "retry" in table
    everything = yaml.safe_load(cli("flaky", "--all", "-o", "yaml", check=0).stdout)
    assert [(t["name"], t["verdict"]) for t in everything] == [
        ("test_x[a-b]", "flaky"),
        ("ok", "stable"),
    ]
    assert cli.json("flaky", "--workflow", "nope") == []
    assert "no flaky tests" in cli("flaky", "--workflow", "nope", check=0).stdout
    for bad in (["--flip-threshold", "2"], ["--window", "0"], ["--min-results", "-1"]):
        cli("flaky", *bad, check=2)


def test_trends_outputs(cli: Cli, home_db: Database) -> None:
    history = History(home_db)
    history.run("wf", {"a": "passed", "b": "passed"}, branch="main", durations={"b": 700})
    pr = history.run("wf", {"a": "failed", "b": "passed"}, branch="feature")
    data = cli.json("trends")
    assert set(data) == {"points", "slowest", "base", "newlyFailing"}
    (point,) = data["points"]
    assert (point["workflow"], point["executions"], point["passRate"]) == ("wf", 2, 0.5)
    assert set(point) == {
        "workflow",
        "period",
        "executions",
        "passed",
        "passRate",
        "testPassRate",
        "durationP50Ms",
        "durationP95Ms",
        "tests",
    }
    assert data["slowest"][0]["name"] == "b"
    (comparison,) = data["newlyFailing"]
    assert comparison["execution"] == pr.name
    assert [(t["name"], t["baseStatus"]) for t in comparison["tests"]] == [("a", "passed")]
    table = cli("trends", "--bucket", "week", check=0).stdout
    assert "Newly failing against main" in table and tid("wf", "a")[:8] in table
    assert "no earlier execution on branch dev" in cli("trends", "--base", "dev", check=0).stdout
    assert cli.json("trends", "--execution", pr.name, "--top", "1")["slowest"][0]["name"] == "b"
    cli("trends", "--bucket", "month", check=2)
    cli("trends", "--execution", "nope-1", check=2)


def test_trace_and_quarantine_outputs(cli: Cli, home_db: Database) -> None:
    History(home_db).run("wf", {"t": "passed"}, requirements={"t": ["BR-1"]})
    assert "BR-1" in cli("trace", "--require-all", check=0).stdout
    assert cli.json("trace", "--window", "1")["requirements"][0]["status"] == "passed"
    assert "no test names a requirement" in cli("trace", "--workflow", "x", check=0).stdout
    cli("trace", "--workflow", "x", "-r", "BR-1", check=1)

    assert "no quarantined tests" in cli("quarantine", "list", check=0).stdout
    cli("quarantine", "add", tid("wf", "t"), "--until", "soon", check=2)
    added = cli.json("quarantine", "add", tid("wf", "t"), "--until", "2099-01-01")
    assert added[0]["until"] == "2099-01-02T00:00:00+00:00" and added[0]["active"] is True
    assert tid("wf", "t")[:8] in cli("quarantine", "list", check=0).stdout
    past = cli("quarantine", "add", tid("wf", "t"), "--until", "2001-01-01", check=0)
    assert "already expired" in past.stderr
