"""A legacy ``Test`` converted to a ``TestWorkflow`` (rules in :mod:`assay.spec.legacy`)."""

from __future__ import annotations

import json
import posixpath
import shlex
from typing import Any

from assay.errors import DefinitionError
from assay.spec.legacy.conversion import (
    _CONTENT_SUFFIX,
    _UNSUPPORTED_REQUEST,
    CONTENT_FILE,
    DATA_DIR,
    EXECUTORS,
    JUNIT_DIR,
    REPO_DIR,
    VARIABLES_FILE,
    WORKFLOW_API_VERSION,
    _clean,
    _env_from,
    _inside,
    _junit_target,
    _looks_like_file,
    _metadata,
    _note_unsupported,
    _request_env,
    _seconds,
    _secret_source,
    _under,
    _validated,
)
from assay.spec.legacy.models import LegacyExecutionRequest, LegacyTest
from assay.spec.workflow import TestWorkflow


def test_to_workflow(test: LegacyTest) -> TestWorkflow:
    """Convert a legacy ``Test`` to a ``TestWorkflow`` (rules in :mod:`assay.spec.legacy`)."""
    spec = test.spec
    name = test.metadata.name
    where = f"Test {name!r}: spec.executionRequest"
    req = spec.execution_request or LegacyExecutionRequest()
    notes: list[str] = []
    executor_name = spec.type.split("/", 1)[0].strip().lower()
    executor = EXECUTORS.get(executor_name)

    workflow_spec: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    content = spec.content
    content_type = (content.type if content else None) or (
        "git" if content and content.repository else None
    )
    target: str | None = None
    custom_command: list[str] | None = None
    pre_dir = test_dir = DATA_DIR

    if content_type in ("git", "git-file", "git-dir"):
        assert content is not None
        repo = content.repository
        if repo is None or not repo.uri:
            raise DefinitionError(
                f"Test {name!r}: spec.content.repository.uri is required for content type "
                f"{content_type!r}"
            )
        path = _clean(repo.path)
        workdir = _clean(req.working_dir) or _clean(repo.working_dir)
        if path and (content_type == "git-file" or _looks_like_file(path)):
            target = _under(REPO_DIR, path)
            path = _clean(posixpath.dirname(path))
        git: dict[str, Any] = {"uri": repo.uri}
        revision = repo.commit or repo.branch
        if revision:
            git["revision"] = revision
        if repo.path and not workdir:
            git["paths"] = [repo.path.strip().lstrip("/")]
        if repo.username:
            git["username"] = repo.username
        if repo.token:
            git["token"] = repo.token
        if repo.username_secret:
            ref = repo.username_secret
            git["usernameFrom"] = _secret_source(ref.name, ref.key)
        if repo.token_secret:
            ref = repo.token_secret
            git["tokenFrom"] = _secret_source(ref.name, ref.key)
        if repo.auth_type:
            git["authType"] = repo.auth_type
        if repo.certificate_secret:
            notes.append("content.repository.certificateSecret is not supported and was ignored")
        workflow_spec["content"] = {"git": git}
        pre_dir = _under(REPO_DIR, workdir or path)
        if path and (not workdir or _inside(path, workdir)):
            test_dir = _under(REPO_DIR, path)
        else:
            test_dir = _under(REPO_DIR, workdir)
    elif content_type == "string":
        assert content is not None
        target = CONTENT_FILE + _CONTENT_SUFFIX.get(executor_name, "")
        workflow_spec["content"] = {"files": [{"path": target, "content": content.data or ""}]}
        if executor_name == "curl":
            custom_command = _curl_command(content.data or "")
    elif content_type == "file-uri":
        assert content is not None
        if not content.uri:
            raise DefinitionError(f"Test {name!r}: spec.content.uri is required for file-uri")
        target = CONTENT_FILE + _CONTENT_SUFFIX.get(executor_name, "")
        steps.append(
            {
                "name": "fetch-content",
                "workingDir": DATA_DIR,
                "shell": (
                    f"curl -fsSL --retry 3 -o {shlex.quote(target)} {shlex.quote(content.uri)}"
                ),
            }
        )
    elif spec.source:
        notes.append(f"spec.source {spec.source!r} (a TestSource) is not supported")

    # container: image, env, envFrom
    container: dict[str, Any] = {}
    if req.image:
        container["image"] = req.image
    env = _request_env(req, where, notes)
    if env:
        container["env"] = env
    env_from = _env_from(req, notes)
    if env_from:
        container["envFrom"] = env_from
    if container:
        workflow_spec["container"] = container
    if req.image_pull_secrets:
        workflow_spec["pod"] = {"imagePullSecrets": req.image_pull_secrets}
    if req.variables_file:
        files = workflow_spec.setdefault("content", {}).setdefault("files", [])
        files.append({"path": VARIABLES_FILE, "content": req.variables_file})

    # the test command
    args = list(req.args)
    override = req.args_mode in ("override", "replace")
    if target is not None:
        args = [a.replace("<runPath>", target) for a in args]
    if req.command:
        command = list(req.command)
    elif custom_command is not None:
        command = custom_command
    elif executor is not None:
        command = list(executor.command)
        if executor.target and target is not None and not override:
            args.insert(0, target)
        if executor_name == "postman" and req.variables_file and not override:
            args += ["-e", VARIABLES_FILE]
    elif executor_name == "container":
        command = []
    else:
        known = ", ".join(sorted(EXECUTORS))
        raise DefinitionError(
            f"Test {name!r}: spec.type {spec.type!r} has no known command and "
            f"executionRequest.command is empty; known types: {known} (or container/*, "
            "or set executionRequest.command)"
        )

    artifacts: list[str] = []
    if executor_name == "pytest" and (not req.command or command[:1] == ["pytest"]):
        report = _junit_target(args)
        if report is None:
            report = f"{JUNIT_DIR}/{name}.xml"
            args.append(f"--junit-xml={report}")
        artifacts.append(_under(test_dir, report))
    if req.artifact_request is not None:
        ar = req.artifact_request
        artifacts += [_under(test_dir, d).rstrip("/") + "/**" for d in ar.dirs]
        _note_unsupported(
            ar,
            ("storageClassName", "volumeMountPath", "masks", "storageBucket", "sharedBetweenPods"),
            "executionRequest.artifactRequest",
            notes,
        )

    if req.pre_run_script:
        steps.append({"name": "pre-run", "workingDir": pre_dir, "shell": req.pre_run_script})
    run: dict[str, Any] = {}
    if command:
        run["command"] = command
    if args:
        run["args"] = args
    test_step: dict[str, Any] = {"name": "test", "workingDir": test_dir, "run": run}
    if req.negative_test:
        test_step["negative"] = True
    if artifacts:
        test_step["artifacts"] = {"paths": list(dict.fromkeys(artifacts))}
    steps.append(test_step)
    if req.post_run_script:
        steps.append(
            {
                "name": "post-run",
                "workingDir": test_dir,
                "condition": "always",
                "shell": req.post_run_script,
            }
        )
    workflow_spec["steps"] = steps

    deadlines = [s for s in (req.active_deadline_seconds, _seconds(req.timeout)) if s]
    if deadlines:
        workflow_spec["job"] = {"activeDeadlineSeconds": min(deadlines)}
    if spec.schedule:
        workflow_spec["events"] = [{"cronjob": {"cron": spec.schedule}}]
    _note_unsupported(req, _UNSUPPORTED_REQUEST, "executionRequest", notes)
    if spec.uploads:
        notes.append("spec.uploads is not supported and was ignored")

    data = {
        "apiVersion": WORKFLOW_API_VERSION,
        "kind": "TestWorkflow",
        "metadata": _metadata(test.metadata, spec.description, "Test", notes),
        "spec": workflow_spec,
    }
    return _validated(data, f"Test {name!r}")


test_to_workflow.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _curl_command(data: str) -> list[str] | None:
    """Testkube's curl executor content: ``{"command": ["curl", ...], ...}``."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("command"), list):
        return [str(part) for part in parsed["command"]]
    return None
