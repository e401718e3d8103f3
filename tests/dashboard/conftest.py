"""The dashboard under test: a seeded store served by a real `assay server`, and a headless
Chromium that may reach that server only."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import CHROMIUM, CHROMIUM_ARGS, Site, running_server, server_env

from assay.app import Assay
from assay.settings import Settings
from assay.store.tokens import Scope

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata:
  name: calc
spec:
  config:
    level:
      type: string
      default: quick
      enum: [quick, full]
      description: full also runs the division test
    repeat:
      type: integer
      default: 1
    verbose:
      type: boolean
      default: false
  events:
    - cronjob:
        cron: "0 3 * * *"
  content:
    files:
      - path: /data/tests/test_calc.py
        content: |
          import os


          def divide(a, b):
              return a / b


          def test_add():
              assert 1 + 1 == 2


          def test_divide():
              if os.environ["LEVEL"] == "full":
                  assert divide(7, 2) == 3, "divide must round down"
  steps:
    - name: Prepare
      shell: echo "level={{ config.level }} repeat={{ config.repeat }} verbose={{ config.verbose }}"
    - name: Unit tests
      shell: >-
        cd /data && sleep {{ config.repeat }} && LEVEL={{ config.level }}
        PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest tests -q -p no:cacheprovider
"""

FLAKY_JUNIT = """\
<testsuite name="nightly" tests="2">
  <testcase classname="tests.test_net" name="test_retry_on_reset" time="0.4">{outcome}
    <properties><property name="requirement" value="REQ-7"/></properties>
  </testcase>
  <testcase classname="tests.test_net" name="test_connect" time="1.5">
    <properties><property name="requirement" value="REQ-8"/></properties>
  </testcase>
</testsuite>
"""


def seed(site: Site, tmp: Path) -> None:
    """A passing and a failing run of `calc` (real local runs), and a `nightly` history
    of imports where one test flips between passing and failing (flaky)."""
    (tmp / "calc.yaml").write_text(WORKFLOW)
    site.cli("apply", "-f", str(tmp / "calc.yaml"))
    site.cli("run", "calc", "--config", "repeat=0", "--tag", "branch=main", "--tag", "sha=4f2a9c1")
    site.cli(
        "run",
        "calc",
        "--config",
        "level=full",
        "--config",
        "repeat=0",
        "--tag",
        "branch=feature-x",
        "--tag",
        "sha=9be01d7",
        expect=1,
    )
    for index in range(8):
        outcome = '<failure message="connection reset by peer">ConnectionResetError</failure>'
        junit = tmp / f"nightly-{index}.xml"
        junit.write_text(FLAKY_JUNIT.format(outcome=outcome if index % 2 else ""))
        site.cli("import", str(junit), "--workflow", "nightly", expect=index % 2)
    app = Assay(Settings(home=site.home, database_url=f"sqlite:///{site.home / 'assay.db'}"))
    rows = {row.status: row.id for row in app.executions.recent(workflow="calc")}
    site.executions = {"passing": rows["passed"], "failing": rows["failed"]}
    for scope in Scope:
        site.tokens[scope.value] = app.tokens.create(f"{scope.value}-token", scope)[1]
    app.db.close()


def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The seeded ASSAY_HOME and what :func:`seed` recorded, built once per test session:
    xdist workers share the session's base directory and take turns on a lock, so the
    first seeds and the others read its record (each serves its own copy)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    record = shared / "dashboard-seed.json"
    with (shared / "dashboard-seed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            tmp = shared / "dashboard-seed"
            shutil.rmtree(tmp, ignore_errors=True)  # left by a worker whose seeding failed
            tmp.mkdir()
            site = Site(url="", home=tmp / "home", env=server_env(tmp / "home"))
            seed(site, tmp)
            seeded = {"executions": site.executions, "tokens": site.tokens}
            record.with_suffix(".part").write_text(json.dumps(seeded))
            record.with_suffix(".part").rename(record)
    return shared / "dashboard-seed" / "home", json.loads(record.read_text())


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("dashboard")
    origin, seeded = seeded_home(tmp_path_factory)
    shutil.copytree(origin, tmp / "home", symlinks=True)  # tests may change their store
    env = server_env(tmp / "home")
    site = Site(url="", home=tmp / "home", env=env, **seeded)
    with running_server(env) as url:
        site.url = url
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running in
    the thread while it is open, and other modules' tests call ``asyncio.run``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
