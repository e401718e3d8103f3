"""Legacy Test/TestSuite models and their conversion to TestWorkflows."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from spec_helpers import DATA

from assay.errors import DefinitionError
from assay.spec import (
    EnvVar,
    LegacyTest,
    LegacyTestSuite,
    Step,
    TestWorkflow,
    load_definitions,
    load_text,
    suite_to_workflow,
    test_to_workflow,
)
from assay.spec.legacy.conversion import EXECUTORS, NOTES_ANNOTATION
from support import skip_unless_ci


def _seed() -> dict[str, TestWorkflow]:
    out = {}
    for item in load_definitions(DATA / "seed000-tests.yaml"):
        assert isinstance(item.model, LegacyTest)
        out[item.name] = test_to_workflow(item.model)
    return out


def _test(spec: dict[str, Any], name: str = "t") -> LegacyTest:
    doc = {
        "apiVersion": "tests.testkube.io/v3",
        "kind": "Test",
        "metadata": {"name": name},
        "spec": spec,
    }
    (item,) = load_text(yaml.safe_dump(doc), f"{name}.yaml")
    assert isinstance(item.model, LegacyTest)
    return item.model


def _git(path: str | None = None, **extra: Any) -> dict[str, Any]:
    repo: dict[str, Any] = {"type": "git", "uri": "https://example.com/r.git", "branch": "main"}
    if path is not None:
        repo["path"] = path
    repo.update(extra)
    return {"type": "git", "repository": repo}


def _env(workflow: TestWorkflow) -> dict[str, EnvVar]:
    assert workflow.spec.container is not None
    return {e.name: e for e in workflow.spec.container.env}


def _step(workflow: TestWorkflow, name: str) -> Step:
    (step,) = [s for s in workflow.spec.steps if s.name == name]
    return step


# --------------------------------------------------------------------------- seed 000


def test_seed_fixture_is_the_seed_text() -> None:
    """The fixture holds the two Phase 2 blocks of seed 000 verbatim."""
    seeds = sorted((DATA.parents[3] / "shared" / "seeds").glob("000_*.txt"))
    if not seeds:
        skip_unless_ci("seed 000 not available")
    seed_text = seeds[0].read_text(encoding="utf-8")
    fixture = (DATA / "seed000-tests.yaml").read_text(encoding="utf-8")
    for block in fixture.split("\n---\n")[1:]:
        assert block.strip() in seed_text


def test_seed_auth_test_converts() -> None:
    workflow = _seed()["backend-auth-e2e"]
    assert workflow.api_version == "testworkflows.testkube.io/v1"
    assert workflow.kind == "TestWorkflow"
    assert workflow.metadata.name == "backend-auth-e2e"
    assert workflow.metadata.namespace == "testkube"
    assert workflow.metadata.labels == {
        "app": "missing-table",
        "test-type": "e2e",
        "layer": "backend",
    }
    # content: the whole repository (a working directory is set), at branch main
    assert workflow.spec.content is not None and workflow.spec.content.git is not None
    git = workflow.spec.content.git
    assert git.uri == "https://github.com/silverbeer/missing-table.git"
    assert git.revision == "main"
    assert git.paths == []
    # container image and environment
    assert workflow.spec.container is not None
    assert workflow.spec.container.image == "ghcr.io/astral-sh/uv:python3.13-bookworm-slim"
    env = _env(workflow)
    assert env["TEST_MODE"].value == "true"
    assert env["SUPABASE_URL"].value == "https://ppgxasqgqbnauvxozmjw.supabase.co"
    assert env["BACKEND_URL"].value == (
        "http://missing-table-backend.missing-table-dev.svc.cluster.local:8000"
    )
    secret = env["SUPABASE_SERVICE_KEY"]
    assert secret.value is None
    assert secret.value_from is not None and secret.value_from.secret_key_ref is not None
    assert secret.value_from.secret_key_ref.name == "testkube-secrets"
    assert secret.value_from.secret_key_ref.key == "supabase-service-key"
    # steps
    assert [s.name for s in workflow.spec.steps] == ["pre-run", "test"]
    pre = _step(workflow, "pre-run")
    assert pre.working_dir == "/data/repo/backend"
    assert pre.shell is not None
    assert pre.shell.startswith("#!/bin/bash\nset -e\n")
    assert "uv pip install --system -r requirements.txt || true" in pre.shell
    test = _step(workflow, "test")
    assert test.working_dir == "/data/repo/backend/tests"
    assert test.run is not None
    assert test.run.command == ["pytest"]
    assert test.run.args == [
        "test_auth_endpoints.py::TestAuthLogin",
        "test_auth_endpoints.py::TestAuthSignup",
        "-v",
        "--tb=short",
        "--junit-xml=results.xml",
    ]
    # the user's relative report is collected from the step's directory
    assert test.artifacts is not None
    assert test.artifacts.paths == ["/data/repo/backend/tests/results.xml"]
    assert not test.negative


def test_seed_api_test_gets_a_junit_report() -> None:
    workflow = _seed()["backend-api-e2e"]
    test = _step(workflow, "test")
    assert test.run is not None and test.run.args is not None
    assert test.run.args[:3] == [
        "test_enhanced_e2e.py::TestCompleteGameLifecycle",
        "-v",
        "--tb=short",
    ]
    assert test.run.args[-1] == "--junit-xml=/data/artifacts/junit/backend-api-e2e.xml"
    assert test.artifacts is not None
    assert test.artifacts.paths == ["/data/artifacts/junit/backend-api-e2e.xml"]
    assert _step(workflow, "pre-run").working_dir == "/data/repo/backend"
    assert test.working_dir == "/data/repo/backend/tests"
    assert "layer" not in workflow.metadata.labels


def test_converted_seed_dumps_to_a_loadable_workflow() -> None:
    for workflow in _seed().values():
        text = yaml.safe_dump(workflow.model_dump(by_alias=True, exclude_none=True))
        (item,) = load_text(text, "converted.yaml")
        assert item.kind == "TestWorkflow"
        assert item.model == workflow


# --------------------------------------------------------------------------- working directories


@pytest.mark.parametrize(
    ("path", "workdir", "pre", "test", "paths"),
    [
        ("backend/tests", "backend", "/data/repo/backend", "/data/repo/backend/tests", []),
        ("tests", None, "/data/repo/tests", "/data/repo/tests", ["tests"]),
        ("e2e/tests", "backend", "/data/repo/backend", "/data/repo/backend", []),
        (None, "backend", "/data/repo/backend", "/data/repo/backend", []),
        (None, None, "/data/repo", "/data/repo", []),
        ("backend", "backend", "/data/repo/backend", "/data/repo/backend", []),
    ],
)
def test_working_directory_rule(
    path: str | None, workdir: str | None, pre: str, test: str, paths: list[str]
) -> None:
    request: dict[str, Any] = {"preRunScript": "make deps", "postRunScript": "make clean"}
    if workdir is not None:
        request["workingDir"] = workdir
    workflow = test_to_workflow(
        _test({"type": "pytest/test", "content": _git(path), "executionRequest": request})
    )
    assert _step(workflow, "pre-run").working_dir == pre
    assert _step(workflow, "test").working_dir == test
    assert _step(workflow, "post-run").working_dir == test
    assert workflow.spec.content is not None and workflow.spec.content.git is not None
    assert workflow.spec.content.git.paths == paths


def test_repository_working_dir_is_used_too() -> None:
    content = _git("app/tests", workingDir="app")
    workflow = test_to_workflow(
        _test(
            {"type": "pytest/test", "content": content, "executionRequest": {"preRunScript": "x"}}
        )
    )
    assert _step(workflow, "pre-run").working_dir == "/data/repo/app"
    assert _step(workflow, "test").working_dir == "/data/repo/app/tests"


def test_git_file_runs_in_its_directory_with_the_file_as_target() -> None:
    content = _git("test/k6/smoke.js", commit="0123abc")
    content["type"] = "git-file"
    workflow = test_to_workflow(_test({"type": "k6/script", "content": content}))
    test = _step(workflow, "test")
    assert test.working_dir == "/data/repo/test/k6"
    assert test.run is not None
    assert test.run.command == ["k6", "run"]
    assert test.run.args == ["/data/repo/test/k6/smoke.js"]
    assert workflow.spec.content is not None and workflow.spec.content.git is not None
    assert workflow.spec.content.git.revision == "0123abc"  # commit wins over branch


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("test_type", "command"),
    [
        ("pytest/test", ["pytest"]),
        ("k6/script", ["k6", "run"]),
        ("postman/collection", ["newman", "run"]),
        ("cypress/project", ["npx", "cypress", "run"]),
        ("playwright/test", ["npx", "playwright", "test"]),
        ("maven/test", ["mvn", "test"]),
        ("gradle/test", ["gradle", "test"]),
        ("artillery/test", ["artillery", "run"]),
        ("jmeter/test", ["jmeter", "-n", "-t"]),
        ("curl/test", ["curl"]),
        ("ginkgo/test", ["ginkgo"]),
    ],
)
def test_executor_table(test_type: str, command: list[str]) -> None:
    workflow = test_to_workflow(_test({"type": test_type, "content": _git("suite")}))
    run = _step(workflow, "test").run
    assert run is not None
    assert run.command == command
    assert test_type.split("/")[0] in EXECUTORS


def test_string_content_is_written_and_targeted() -> None:
    spec = {
        "type": "k6/script",
        "content": {"type": "string", "data": "export default function () {}"},
        "executionRequest": {"args": ["--vus", "2"]},
    }
    workflow = test_to_workflow(_test(spec))
    assert workflow.spec.content is not None
    (file,) = workflow.spec.content.files
    assert (file.path, file.content) == ("/data/test-content", "export default function () {}")
    test = _step(workflow, "test")
    assert test.working_dir == "/data"
    assert test.run is not None
    assert test.run.args == ["/data/test-content", "--vus", "2"]


def test_pytest_string_content_gets_a_py_suffix() -> None:
    spec = {"type": "pytest/test", "content": {"type": "string", "data": "def test_x(): pass"}}
    workflow = test_to_workflow(_test(spec, "inline"))
    assert workflow.spec.content is not None
    assert workflow.spec.content.files[0].path == "/data/test-content.py"
    run = _step(workflow, "test").run
    assert run is not None
    assert run.args == ["/data/test-content.py", "--junit-xml=/data/artifacts/junit/inline.xml"]


def test_file_uri_is_fetched_first_and_quoted() -> None:
    spec = {"type": "k6/script", "content": {"type": "file-uri", "uri": "https://h/x.js?a=1&b=2"}}
    workflow = test_to_workflow(_test(spec))
    assert [s.name for s in workflow.spec.steps] == ["fetch-content", "test"]
    fetch = workflow.spec.steps[0]
    assert fetch.shell == "curl -fsSL --retry 3 -o /data/test-content 'https://h/x.js?a=1&b=2'"


def test_args_mode_override_drops_the_target_and_run_path_is_replaced() -> None:
    spec = {
        "type": "k6/script",
        "content": {"type": "string", "data": "x"},
        "executionRequest": {"args": ["--quiet", "<runPath>"], "argsMode": "override"},
    }
    run = _step(test_to_workflow(_test(spec)), "test").run
    assert run is not None
    assert run.args == ["--quiet", "/data/test-content"]


def test_explicit_command_wins_and_container_type_is_accepted() -> None:
    spec = {
        "type": "container-executor-curl/test",
        "executionRequest": {
            "command": ["curl", "-f"],
            "args": ["https://example.com"],
            "image": "curlimages/curl:8.8.0",
        },
    }
    workflow = test_to_workflow(_test(spec))
    run = _step(workflow, "test").run
    assert run is not None
    assert (run.command, run.args) == (["curl", "-f"], ["https://example.com"])
    assert workflow.spec.container is not None
    assert workflow.spec.container.image == "curlimages/curl:8.8.0"


def test_unknown_type_without_command_is_an_error() -> None:
    with pytest.raises(DefinitionError) as info:
        test_to_workflow(_test({"type": "soapui/xml", "content": _git("x")}, "soap"))
    message = str(info.value)
    assert "spec.type 'soapui/xml'" in message
    assert "pytest" in message and "k6" in message and "postman" in message


@pytest.mark.parametrize("flag", ["--junitxml=out/r.xml", "--junit-xml=out/r.xml"])
def test_pytest_user_junit_flag_is_kept(flag: str) -> None:
    spec = {"type": "pytest/test", "content": _git("tests"), "executionRequest": {"args": [flag]}}
    test = _step(test_to_workflow(_test(spec)), "test")
    assert test.run is not None
    assert test.run.args == [flag]
    assert test.artifacts is not None
    assert test.artifacts.paths == ["/data/repo/tests/out/r.xml"]


def test_pytest_junit_flag_with_separate_value() -> None:
    spec = {
        "type": "pytest/test",
        "content": _git("tests"),
        "executionRequest": {"args": ["--junitxml", "/data/artifacts/r.xml"]},
    }
    test = _step(test_to_workflow(_test(spec)), "test")
    assert test.artifacts is not None
    assert test.artifacts.paths == ["/data/artifacts/r.xml"]


# --------------------------------------------------------------------------- environment and limits


def test_environment_sources() -> None:
    request = {
        "envs": {"PLAIN": "1", "OVERRIDDEN": "env"},
        "variables": {
            "OVERRIDDEN": {"name": "OVERRIDDEN", "value": "variable", "type": "basic"},
            "TOKEN": {
                "name": "TOKEN",
                "type": "secret",
                "secretRef": {"name": "creds", "key": "token"},
            },
            "RAW": {"name": "RAW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        },
        "secretEnvs": {"legacy-secret": "LEGACY_KEY"},
        "httpsProxy": "http://proxy:3128",
    }
    workflow = test_to_workflow(
        _test({"type": "pytest/test", "content": _git(), "executionRequest": request})
    )
    env = _env(workflow)
    assert env["PLAIN"].value == "1"
    assert env["OVERRIDDEN"].value == "variable"
    for name, secret, key in (
        ("TOKEN", "creds", "token"),
        ("RAW", "s", "k"),
        ("LEGACY_KEY", "legacy-secret", "LEGACY_KEY"),
    ):
        ref = env[name].value_from
        assert ref is not None and ref.secret_key_ref is not None
        assert (ref.secret_key_ref.name, ref.secret_key_ref.key) == (secret, key)
    assert env["HTTPS_PROXY"].value == "http://proxy:3128"


def test_secret_variable_needs_a_reference() -> None:
    request = {"variables": {"TOKEN": {"name": "TOKEN", "type": "secret"}}}
    with pytest.raises(DefinitionError, match=r"variables\.TOKEN: a secret variable needs"):
        test_to_workflow(
            _test({"type": "pytest/test", "content": _git(), "executionRequest": request})
        )


def test_limits_negative_post_run_and_schedule() -> None:
    request = {
        "activeDeadlineSeconds": 600,
        "timeout": "5m",
        "negativeTest": True,
        "postRunScript": "echo done",
        "jobTemplate": "apiVersion: batch/v1",
    }
    spec = {
        "type": "pytest/test",
        "content": _git(),
        "schedule": "*/5 * * * *",
        "executionRequest": request,
    }
    workflow = test_to_workflow(_test(spec))
    assert workflow.spec.job is not None
    assert workflow.spec.job.active_deadline_seconds == 300
    assert _step(workflow, "test").negative
    post = _step(workflow, "post-run")
    assert (post.condition, post.shell) == ("always", "echo done")
    assert [e.model_dump(exclude_defaults=True) for e in workflow.spec.events] == [
        {"cronjob": {"cron": "*/5 * * * *"}}
    ]
    notes = workflow.metadata.annotations[NOTES_ANNOTATION]
    assert "executionRequest.jobTemplate is not supported" in notes


def test_legacy_models_reject_unknown_fields() -> None:
    with pytest.raises(DefinitionError, match=r"spec\.content\.repository\.brnach: unknown field"):
        _test({"type": "pytest/test", "content": _git(brnach="main")})


# --------------------------------------------------------------------------- TestSuite


def _suite() -> TestWorkflow:
    (item,) = load_definitions(DATA / "suite.yaml")
    assert isinstance(item.model, LegacyTestSuite)
    return suite_to_workflow(item.model)


def test_suite_batches_become_execute_steps() -> None:
    workflow = _suite()
    assert workflow.metadata.name == "backend-e2e-suite"
    assert workflow.metadata.labels == {"app": "missing-table"}
    steps = workflow.spec.steps
    assert [s.name for s in steps] == ["batch-1", "batch-2", "batch-3", "batch-4"]
    assert [s.stop_on_failure for s in steps] == [True, False, False, False]

    first = steps[0].execute
    assert first is not None
    assert first.parallelism == 1
    assert [t.name for t in first.tests] == ["backend-auth-e2e"]

    second = steps[1].execute
    assert second is not None
    assert second.parallelism == 2
    assert [t.name for t in second.tests] == ["backend-api-e2e", "backend-contract"]


def test_suite_variables_are_merged_under_step_requests() -> None:
    second = _suite().spec.steps[1].execute
    assert second is not None
    api, contract = second.tests
    assert api.execution_request is not None and contract.execution_request is not None
    assert api.execution_request["args"] == ["-k", "lifecycle"]
    assert api.execution_request["variables"]["TEST_MODE"]["value"] == "false"
    assert contract.execution_request["variables"]["TEST_MODE"]["value"] == "true"
    token = contract.execution_request["variables"]["API_TOKEN"]
    assert token["secretRef"] == {"name": "testkube-secrets", "key": "api-token"}


def test_suite_delays() -> None:
    steps = _suite().spec.steps
    assert (steps[2].delay, steps[2].execute) == ("30s", None)
    assert steps[3].delay == "1m"  # the longest delay of the batch
    assert steps[3].execute is not None
    assert [t.name for t in steps[3].execute.tests] == ["frontend-smoke"]


def test_suite_before_after_limits_and_schedule() -> None:
    workflow = _suite()
    (before,) = workflow.spec.setup
    assert before.name == "before-1" and before.stop_on_failure
    (after,) = workflow.spec.after
    assert (after.name, after.condition) == ("after-1", "always")
    assert after.execute is not None and after.execute.tests[0].name == "cleanup-database"
    assert workflow.spec.job is not None and workflow.spec.job.active_deadline_seconds == 1800
    assert [e.model_dump(exclude_defaults=True) for e in workflow.spec.events] == [
        {"cronjob": {"cron": "0 3 * * *"}}
    ]
    assert workflow.metadata.description == "Backend E2E, auth first"


def test_suite_step_needs_test_or_delay() -> None:
    text = (
        "apiVersion: tests.testkube.io/v3\nkind: TestSuite\nmetadata: {name: s}\n"
        "spec:\n  steps:\n  - execute:\n    - test: a\n      delay: 1s\n"
    )
    with pytest.raises(
        DefinitionError, match=r"s\.yaml:7: spec\.steps\[0\]\.execute\[0\]: a suite"
    ):
        load_text(text, "s.yaml")
