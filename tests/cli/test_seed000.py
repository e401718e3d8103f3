"""Acceptance: seed 000's two Test definitions, unmodified, against a local repository."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cli_support import Cli, insteadof, offline_packages

from seed_support import SEED_TESTS, seed_backend_repo
from support import GitRepo, make_wheel

SECRET = "sb-service-key-1234567890"


def test_seed_tests_run_install_and_gate(cli: Cli, git_repo: GitRepo, tmp_path: Path) -> None:
    repo = seed_backend_repo(git_repo, fixed=False)
    insteadof(cli, repo, "https://github.com/silverbeer/missing-table.git")
    requirement = make_wheel(tmp_path / "dist", "assay-seed-requirement", "1.0", "VALUE = 42\n")
    offline_packages(cli, tmp_path / "links", [requirement])
    definitions = tmp_path / "k8s"
    definitions.mkdir()
    (definitions / "backend-e2e.yaml").write_text(SEED_TESTS)
    cli("secret", "set", "testkube-secrets", f"supabase-service-key={SECRET}", check=0)
    cli("apply", "-f", str(definitions), check=0)

    failing = cli("run", "backend-auth-e2e", "-o", "json", "--tag", "sha=one", check=1)
    assert SECRET not in failing.stdout + failing.stderr
    execution = cli.json("get", "executions", "--workflow", "backend-auth-e2e", "-o", "json")[0]
    log = cli("logs", execution["id"], check=0).stdout
    context = f"execution: {execution}\nlog:\n{log}"
    assert execution["status"] == "failed", context
    assert execution["summary"]["tests"] == 4, context
    assert execution["summary"]["failed"] == 1, context
    assert [s["name"] for s in execution["steps"]][:2] == ["pre-run", "test"], context
    assert "Dependencies installed" in log
    assert SECRET not in log and "key=***" in log
    cases = cli.json("get", "testcases", execution["id"], "-o", "json")
    assert {c["status"] for c in cases} == {"passed", "failed"}
    messages = " ".join(c["message"] or "" for c in cases)
    assert "key=***" in messages and SECRET not in messages
    # the failure's text too, which pytest's report of the failed assert repeats
    traces = " ".join(c["trace"] or "" for c in cases)
    assert "key=***" in traces and SECRET not in traces
    # the requirements.txt package landed in the execution's venv, proven by a test importing it
    assert any(
        c["name"] == "test_requirements_installed" and c["status"] == "passed" for c in cases
    )

    seed_backend_repo(git_repo, fixed=True, repo=repo)
    cli("run", "backend-auth-e2e", check=0)
    api = cli("run", "backend-api-e2e", "-o", "json", check=0)
    assert '"status": "passed"' in api.stdout
    assert not re.search(r"sb-service-key-\d+", cli("logs", "backend-api-e2e-1", check=0).stdout)
    assert shutil.which("git")
