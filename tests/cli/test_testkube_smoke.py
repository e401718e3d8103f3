"""Acceptance: Testkube's own pytest smoke workflows, run by the local runner."""

from __future__ import annotations

from cli_support import Cli, insteadof

from support import CONFORMANCE, GitRepo

SMOKE = CONFORMANCE / "testkube" / "workflows" / "pytest--smoke.yaml"
PROJECT = "test/pytest/pytest-project"

# Testkube's labels say what each workflow must end as.
EXPECTED = {
    "workflows": {"passed"},
    "expected-fail": {"failed"},
    "expected-random-fail": {"passed", "failed"},
}


def pytest_project() -> dict[str, str]:
    return {
        f"{PROJECT}/requirements.txt": "pytest\n",
        f"{PROJECT}/tests/success/test_success.py": (
            "def test_one():\n    assert 1 + 1 == 2\n\n"
            "def test_two():\n    assert 'a'.upper() == 'A'\n"
        ),
        f"{PROJECT}/tests/fail/test_fail.py": (
            "def test_fails():\n    assert 1 == 2, 'this one fails on purpose'\n"
        ),
        f"{PROJECT}/tests/random/test_random.py": (
            "import random\n\ndef test_random():\n    assert random.random() < 0.5\n"
        ),
        "README.md": "testkube fixture\n",
        "other/unrelated.txt": "not part of the sparse checkout\n",
    }


def test_pytest_smoke_workflows_reach_expected_status(cli: Cli, git_repo: GitRepo) -> None:
    repo = git_repo(pytest_project())
    insteadof(cli, repo, "https://github.com/kubeshop/testkube")
    cli.env["PIP_NO_INDEX"] = "1"  # requirements.txt is satisfied by the host environment
    import yaml

    docs = [d for d in yaml.safe_load_all(SMOKE.read_text()) if d]
    assert len(docs) == 4
    for doc in docs:
        name, label = doc["metadata"]["name"], doc["metadata"]["labels"]["core-tests"]
        done = cli("run", "-f", str(SMOKE), name, "-o", "json")
        assert done.returncode in (0, 1), done.stderr
        import json

        execution = json.loads(done.stdout)
        assert execution["status"] in EXPECTED[label], (name, execution, done.stderr)
        if doc["metadata"]["labels"].get("junit") == "true":
            summary = execution["summary"]
            # tests/success holds 2 tests; tests/fail and tests/random 1 each
            assert summary["tests"] == (2 if label == "workflows" else 3), (name, summary)
            assert summary["passed"] + summary["failed"] == summary["tests"], (name, summary)
            if label == "expected-fail":
                assert summary["failed"] == 1 and summary["passed"] == 2
            elif label == "workflows":
                assert summary["passed"] == 2
            else:  # the random test decides, and the status follows it
                assert summary["failed"] == (execution["status"] == "failed")
            artifacts = cli("artifacts", execution["id"], check=0).stdout
            assert "pytest-report.xml" in artifacts
        else:  # no --junit-xml in the script: assay's own pytest report is used
            assert execution["summary"]["passed"] == 2
