"""Testkube's legacy ``Test`` and ``TestSuite`` (``tests.testkube.io/v3``) and their conversion.

The models follow the v3 CRDs of ``kubeshop/testkube-operator`` (``api/tests/v3``,
``api/testsuite/v3``) plus the fields of the API's execution request; unknown
fields are rejected like everywhere else. Two additions accepted by assay:
``executionRequest.workingDir`` (a directory inside the repository, an alias of
``content.repository.workingDir``) and ``executionRequest.timeout`` (seconds or a
duration such as ``10m``), and ``secretEnvs`` entries written as
``{ENV: {secretName, secretKey}}``.

Conversion rules (:func:`test_to_workflow`, :func:`suite_to_workflow`)
======================================================================

Both return a validated ``TestWorkflow`` (``testworkflows.testkube.io/v1``) that
keeps the name, namespace and labels; things assay cannot honour are listed in
the annotation ``assay.dev/conversion-notes``.

Workspace
    The repository is checked out at ``/data/repo``; reports and artifacts go to
    ``/data/artifacts``. The local runner maps ``/data`` to the execution workspace.

Content (``spec.content``)
    * ``git`` (and the deprecated ``git-file``/``git-dir``) -> ``spec.content.git``:
      ``uri``; ``revision`` = ``commit``, else ``branch``; ``paths`` =
      ``[repository.path]`` when a path is set and no working directory is (with a
      working directory Testkube checks out the whole repository, and so does
      assay); ``usernameSecret``/``tokenSecret`` -> ``usernameFrom``/``tokenFrom``
      secret references; ``authType`` kept.
    * ``string`` -> ``spec.content.files`` writes ``data`` to ``/data/test-content``
      (``/data/test-content.py`` for pytest, which only collects ``.py`` files);
      that file is the test's target.
    * ``file-uri`` -> a first step ``fetch-content`` downloads ``uri`` to the same
      path with ``curl``.

Working directories
    ``W`` is ``executionRequest.workingDir``, else ``content.repository.workingDir``;
    ``P`` is ``content.repository.path`` (when ``P`` names a file — content type
    ``git-file`` or a last segment with an extension — its directory is used as
    ``P`` and the file becomes the test's target). Relative to ``/data/repo``:

    * the ``pre-run`` step runs in ``W``; without ``W`` in ``P``; without both in
      ``/data/repo``;
    * the ``test`` (and ``post-run``) step runs in ``P`` when ``P`` is set and lies
      inside ``W`` (or there is no ``W``); otherwise in ``W``; otherwise in
      ``/data/repo``.

    Seed example: ``workingDir: backend``, ``path: backend/tests`` -> ``pre-run`` in
    ``/data/repo/backend`` (``-r requirements.txt`` resolves there), ``test`` in
    ``/data/repo/backend/tests`` (``test_auth_endpoints.py::...`` resolves there).
    Without a repository (string/file-uri content) both run in ``/data``.

Environment (``spec.container.env``, so every step sees it)
    ``envs`` -> literal values; ``variables`` of type ``basic`` -> ``value``; of type
    ``secret`` -> ``valueFrom.secretKeyRef{name: secretRef.name, key: secretRef.key}``
    (a ``valueFrom`` given verbatim is kept); ``secretEnvs`` ``{ENV: {secretName,
    secretKey}}`` -> ``ENV`` from that secret key; Testkube's string form
    ``{SECRET_NAME: KEY}`` -> ``KEY`` from key ``KEY`` of secret ``SECRET_NAME``;
    ``httpProxy``/``httpsProxy`` -> ``HTTP_PROXY``/``HTTPS_PROXY``; ``envConfigMaps``/
    ``envSecrets`` with ``mapToVariables`` -> ``envFrom``. Later sources win on
    duplicate names. ``image`` -> ``spec.container.image``; ``imagePullSecrets`` ->
    ``spec.pod.imagePullSecrets``.

Steps
    1. ``pre-run``: ``shell`` = ``preRunScript`` (when set).
    2. ``test``: ``run.command``/``run.args``. With ``executionRequest.command``: that
       command and the args (``<runPath>`` in args is replaced by the target).
       Otherwise by the executor (the part of ``spec.type`` before ``/``):

       ============ ========================= =========================
       executor     command                   target appended
       ============ ========================= =========================
       pytest       ``pytest``                yes (when there is one)
       k6           ``k6 run``                yes
       postman      ``newman run``            yes
       cypress      ``npx cypress run``       no
       playwright   ``npx playwright test``   no
       maven        ``mvn test``              no
       gradle       ``gradle test``           no
       artillery    ``artillery run``         yes
       jmeter(d)    ``jmeter -n -t``          yes
       curl         ``curl``                  no (a JSON string content
                                              ``{"command": [...]}`` gives the command)
       ginkgo       ``ginkgo``                no
       container    the image's entrypoint    no
       ============ ========================= =========================

       Then the args; ``argsMode: override`` (or ``replace``) drops the target. Any
       other type without a command is a DefinitionError. For pytest, unless the
       args contain ``--junit-xml``/``--junitxml``, ``--junit-xml=/data/artifacts/
       junit/<test-name>.xml`` is appended; the report (a relative user path is
       resolved against the step's directory) is an artifact of the step, as are
       ``artifactRequest.dirs`` (``<dir>/**``). ``negativeTest`` -> ``negative``.
    3. ``post-run``: ``shell`` = ``postRunScript``, ``condition: always``.

    ``activeDeadlineSeconds`` and ``executionRequest.timeout`` -> ``job.activeDeadlineSeconds``
    (the smaller); ``spec.schedule`` -> ``events: [{cronjob: {cron}}]``.

TestSuite
    Each batch ``spec.steps[i]`` becomes a step ``batch-<i+1>`` running its tests as
    child executions: ``execute: {tests: [{name, executionRequest}], parallelism:
    <number of tests>}``; the suite's ``executionRequest.variables`` are merged
    under each entry's own. The batch's ``stopOnFailure`` (v3 default ``false``)
    sets the step's internal ``stop_on_failure``: when false, later batches still run
    after a failure (the suite still fails). ``delay`` entries become the step's
    ``delay`` (the longest one when several; a batch of only delays is a pure delay
    step). ``before`` batches become ``spec.setup`` steps ``before-<i+1>``; ``after``
    batches ``spec.after`` steps ``after-<i+1>`` with ``condition: always``. The
    suite's ``executionRequest.timeout`` -> ``job.activeDeadlineSeconds``.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from assay.errors import DefinitionError
from assay.spec.base import KubeObject, SpecModel, parse_duration
from assay.spec.workflow import EnvVarSource, Metadata, TestWorkflow

__all__ = [
    "ARTIFACTS_DIR",
    "CONTENT_FILE",
    "LEGACY_API_VERSION",
    "REPO_DIR",
    "ArtifactRequest",
    "EnvReference",
    "LegacyContent",
    "LegacyExecutionRequest",
    "LegacyRepository",
    "LegacySecretRef",
    "LegacyTest",
    "LegacyTestSpec",
    "LegacyTestSuite",
    "LegacyTestSuiteSpec",
    "LegacyVariable",
    "SecretEnvRef",
    "SuiteBatch",
    "SuiteExecutionRequest",
    "SuiteStep",
    "SuiteStepExecutionRequest",
    "suite_to_workflow",
    "test_to_workflow",
]

LEGACY_API_VERSION = "tests.testkube.io/v3"
WORKFLOW_API_VERSION = "testworkflows.testkube.io/v1"
DATA_DIR = "/data"
REPO_DIR = "/data/repo"
ARTIFACTS_DIR = "/data/artifacts"
JUNIT_DIR = "/data/artifacts/junit"
CONTENT_FILE = "/data/test-content"
VARIABLES_FILE = "/data/variables-file"
NOTES_ANNOTATION = "assay.dev/conversion-notes"
SOURCE_ANNOTATION = "assay.dev/converted-from"


# --------------------------------------------------------------------------- models


def _stringify(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class LegacySecretRef(SpecModel):
    """A key of a Kubernetes secret (``namespace`` is informational)."""

    name: str
    key: str
    namespace: str | None = None


class LegacyConfigMapRef(SpecModel):
    """A key of a Kubernetes config map."""

    name: str
    key: str
    namespace: str | None = None


class LegacyRepository(SpecModel):
    """``spec.content.repository``: a git repository."""

    type: str = "git"
    uri: str
    branch: str | None = None
    commit: str | None = None
    path: str | None = None
    working_dir: str | None = None
    username: str | None = None
    token: str | None = None
    username_secret: LegacySecretRef | None = None
    token_secret: LegacySecretRef | None = None
    certificate_secret: str | None = None
    auth_type: Literal["basic", "header"] | None = None


class LegacyContent(SpecModel):
    """``spec.content``: where the test comes from."""

    type: Literal["string", "file-uri", "git-file", "git-dir", "git"] | None = None
    repository: LegacyRepository | None = None
    data: str | None = None
    uri: str | None = None


class LegacyVariable(SpecModel):
    """One entry of ``executionRequest.variables``."""

    name: str | None = None
    value: str | None = None
    type: Literal["basic", "secret"] | None = None
    secret_ref: LegacySecretRef | None = None
    config_map_ref: LegacyConfigMapRef | None = None
    value_from: EnvVarSource | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any) -> Any:
        return _stringify(value)


class SecretEnvRef(SpecModel):
    """``secretEnvs`` entry in the ``{ENV: {secretName, secretKey}}`` form."""

    secret_name: str
    secret_key: str


class ArtifactRequest(SpecModel):
    """``executionRequest.artifactRequest``."""

    storage_class_name: str | None = None
    volume_mount_path: str | None = None
    dirs: list[str] = Field(default_factory=list)
    masks: list[str] = Field(default_factory=list)
    storage_bucket: str | None = None
    omit_folder_per_execution: bool = False
    shared_between_pods: bool = False
    use_default_storage_class_name: bool = False
    sidecar_scraper: bool = False


class EnvReference(SpecModel):
    """``envConfigMaps``/``envSecrets`` entry."""

    reference: KubeObject
    mount: bool = False
    mount_path: str | None = None
    map_to_variables: bool = False


ArgsMode = Literal["append", "override", "replace"]


class LegacyExecutionRequest(SpecModel):
    """``spec.executionRequest`` of a Test."""

    name: str | None = None
    test_suite_name: str | None = None
    number: int | None = None
    execution_labels: dict[str, str] = Field(default_factory=dict)
    namespace: str | None = None
    variables_file: str | None = None
    is_variables_file_uploaded: bool = False
    variables: dict[str, LegacyVariable] = Field(default_factory=dict)
    test_secret_uuid: str | None = None
    test_suite_secret_uuid: str | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    args_mode: ArgsMode | None = None
    image: str | None = None
    image_pull_secrets: list[KubeObject] = Field(default_factory=list)
    envs: dict[str, str] = Field(default_factory=dict)
    secret_envs: dict[str, SecretEnvRef | str] = Field(default_factory=dict)
    sync: bool = False
    http_proxy: str | None = None
    https_proxy: str | None = None
    negative_test: bool = False
    is_negative_test_changed_on_run: bool = False
    active_deadline_seconds: int | None = None
    uploads: list[str] = Field(default_factory=list)
    bucket_name: str | None = None
    artifact_request: ArtifactRequest | None = None
    job_template: str | None = None
    job_template_reference: str | None = None
    cron_job_template: str | None = None
    cron_job_template_reference: str | None = None
    content_request: KubeObject | None = None
    pre_run_script: str | None = None
    post_run_script: str | None = None
    execute_post_run_script_before_scraping: bool = False
    source_scripts: bool = False
    scraper_template: str | None = None
    scraper_template_reference: str | None = None
    pvc_template: str | None = None
    pvc_template_reference: str | None = None
    env_config_maps: list[EnvReference] = Field(default_factory=list)
    env_secrets: list[EnvReference] = Field(default_factory=list)
    running_context: KubeObject | None = None
    test_execution_name: str | None = None
    download_artifact_execution_i_ds: list[str] = Field(
        default_factory=list, alias="downloadArtifactExecutionIDs"
    )
    download_artifact_test_names: list[str] = Field(default_factory=list)
    slave_pod_request: KubeObject | None = None
    execution_namespace: str | None = None
    disable_webhooks: bool = False
    # assay additions
    working_dir: str | None = None
    timeout: int | str | None = None

    @field_validator("envs", mode="before")
    @classmethod
    def _envs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _stringify(v) for k, v in value.items()}
        return value

    @field_validator("args", "command", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_stringify(v) for v in value]
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_duration(value)
        return value


class LegacyTestSpec(SpecModel):
    """``spec`` of a Test."""

    type: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    content: LegacyContent | None = None
    source: str | None = None
    schedule: str | None = None
    execution_request: LegacyExecutionRequest | None = None
    uploads: list[str] = Field(default_factory=list)


class _LegacyDefinition(SpecModel):
    api_version: Literal["tests.testkube.io/v3"]
    metadata: Metadata
    status: KubeObject | None = None


class LegacyTest(_LegacyDefinition):
    """A Testkube ``Test`` (v3)."""

    __test__ = False
    kind: Literal["Test"] = "Test"
    spec: LegacyTestSpec


class SuiteStepExecutionRequest(SpecModel):
    """``executionRequest`` of one test in a suite batch (overrides the Test's)."""

    name: str | None = None
    execution_labels: dict[str, str] = Field(default_factory=dict)
    namespace: str | None = None
    variables: dict[str, LegacyVariable] = Field(default_factory=dict)
    args: list[str] = Field(default_factory=list)
    args_mode: ArgsMode | None = None
    command: list[str] = Field(default_factory=list)
    sync: bool = False
    http_proxy: str | None = None
    https_proxy: str | None = None
    negative_test: bool = False
    job_template: str | None = None
    job_template_reference: str | None = None
    cron_job_template: str | None = None
    cron_job_template_reference: str | None = None
    scraper_template: str | None = None
    scraper_template_reference: str | None = None
    pvc_template: str | None = None
    pvc_template_reference: str | None = None
    running_context: KubeObject | None = None


class SuiteStep(SpecModel):
    """One entry of a batch: a test to run, or a delay."""

    test: str | None = None
    delay: str | None = None
    execution_request: SuiteStepExecutionRequest | None = None

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one(self) -> SuiteStep:
        if (self.test is None) == (self.delay is None):
            raise ValueError("a suite step needs exactly one of `test` or `delay`")
        return self


class DownloadArtifacts(SpecModel):
    """``downloadArtifacts`` of a batch."""

    all_previous_steps: bool = False
    previous_step_numbers: list[int] = Field(default_factory=list)
    previous_test_names: list[str] = Field(default_factory=list)


class SuiteBatch(SpecModel):
    """A batch: entries run in parallel."""

    stop_on_failure: bool = False
    download_artifacts: DownloadArtifacts | None = None
    execute: list[SuiteStep] = Field(default_factory=list)


class SuiteExecutionRequest(SpecModel):
    """``spec.executionRequest`` of a TestSuite."""

    name: str | None = None
    namespace: str | None = None
    variables: dict[str, LegacyVariable] = Field(default_factory=dict)
    secret_uuid: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    execution_labels: dict[str, str] = Field(default_factory=dict)
    sync: bool = False
    http_proxy: str | None = None
    https_proxy: str | None = None
    timeout: int | str | None = None
    job_template: str | None = None
    job_template_reference: str | None = None
    cron_job_template: str | None = None
    cron_job_template_reference: str | None = None
    scraper_template: str | None = None
    scraper_template_reference: str | None = None
    pvc_template: str | None = None
    pvc_template_reference: str | None = None
    running_context: KubeObject | None = None

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_duration(value)
        return value


class LegacyTestSuiteSpec(SpecModel):
    """``spec`` of a TestSuite."""

    before: list[SuiteBatch] = Field(default_factory=list)
    steps: list[SuiteBatch] = Field(default_factory=list)
    after: list[SuiteBatch] = Field(default_factory=list)
    repeats: int | None = None
    description: str | None = None
    schedule: str | None = None
    execution_request: SuiteExecutionRequest | None = None


class LegacyTestSuite(_LegacyDefinition):
    """A Testkube ``TestSuite`` (v3)."""

    __test__ = False
    kind: Literal["TestSuite"] = "TestSuite"
    spec: LegacyTestSuiteSpec = LegacyTestSuiteSpec()


# --------------------------------------------------------------------------- helpers


class _Executor:
    def __init__(self, command: list[str], *, target: bool, junit: bool = False) -> None:
        self.command = command
        self.target = target
        self.junit = junit


EXECUTORS: dict[str, _Executor] = {
    "pytest": _Executor(["pytest"], target=True, junit=True),
    "k6": _Executor(["k6", "run"], target=True),
    "postman": _Executor(["newman", "run"], target=True),
    "cypress": _Executor(["npx", "cypress", "run"], target=False),
    "playwright": _Executor(["npx", "playwright", "test"], target=False),
    "maven": _Executor(["mvn", "test"], target=False),
    "gradle": _Executor(["gradle", "test"], target=False),
    "artillery": _Executor(["artillery", "run"], target=True),
    "jmeter": _Executor(["jmeter", "-n", "-t"], target=True),
    "jmeterd": _Executor(["jmeter", "-n", "-t"], target=True),
    "curl": _Executor(["curl"], target=False),
    "ginkgo": _Executor(["ginkgo"], target=False),
}
_CONTENT_SUFFIX = {"pytest": ".py"}


def _secret_source(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _under(base: str, rel: str | None) -> str:
    if not rel:
        return base
    if rel.startswith("/"):
        return posixpath.normpath(rel)
    return posixpath.normpath(posixpath.join(base, rel))


def _clean(rel: str | None) -> str | None:
    if rel is None:
        return None
    text = rel.strip()
    if text in ("", ".", "./"):
        return None
    if text.startswith("/"):
        return posixpath.normpath(text)
    return posixpath.normpath(text).lstrip("/")


def _looks_like_file(path: str) -> bool:
    last = posixpath.basename(path.rstrip("/"))
    return "." in last.lstrip(".")


def _env_list(pairs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dedupe by name: later entries win, first position kept."""
    merged: dict[str, dict[str, Any]] = {}
    for entry in pairs:
        merged[entry["name"]] = entry
    return list(merged.values())


def _variable_env(
    key: str, variable: LegacyVariable, where: str, notes: list[str]
) -> dict[str, Any]:
    name = variable.name or key
    if variable.secret_ref is not None:
        ref = variable.secret_ref
        return {"name": name, "valueFrom": _secret_source(ref.name, ref.key)}
    if variable.config_map_ref is not None:
        cm = variable.config_map_ref
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": cm.name, "key": cm.key}}}
    source = variable.value_from.dump() if variable.value_from is not None else {}
    if source:
        return {"name": name, "valueFrom": source}
    if variable.type == "secret" and variable.value is None:
        raise DefinitionError(
            f"{where}.variables.{key}: a secret variable needs secretRef {{name, key}}"
        )
    return {"name": name, "value": variable.value or ""}


def _request_env(req: LegacyExecutionRequest, where: str, notes: list[str]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in req.envs.items()]
    for key, variable in req.variables.items():
        env.append(_variable_env(key, variable, where, notes))
    for key, value in req.secret_envs.items():
        if isinstance(value, SecretEnvRef):
            env.append(
                {"name": key, "valueFrom": _secret_source(value.secret_name, value.secret_key)}
            )
        else:
            env.append({"name": value, "valueFrom": _secret_source(key, value)})
    if req.http_proxy:
        env.append({"name": "HTTP_PROXY", "value": req.http_proxy})
    if req.https_proxy:
        env.append({"name": "HTTPS_PROXY", "value": req.https_proxy})
    return _env_list(env)


def _env_from(req: LegacyExecutionRequest, notes: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for refs, kind, field in (
        (req.env_config_maps, "configMapRef", "envConfigMaps"),
        (req.env_secrets, "secretRef", "envSecrets"),
    ):
        for ref in refs:
            name = ref.reference.get("name")
            if ref.map_to_variables and name:
                result.append({kind: {"name": name}})
            if ref.mount:
                notes.append(f"executionRequest.{field}: mounting {name!r} is not supported")
    return result


def _junit_target(args: list[str]) -> str | None:
    """The junit path named in pytest args, if any."""
    for i, arg in enumerate(args):
        for flag in ("--junit-xml", "--junitxml"):
            if arg == flag and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def _seconds(value: int | str | None) -> int | None:
    if value is None:
        return None
    return max(1, int(parse_duration(value) + 0.999))


def _note_unsupported(obj: SpecModel, fields: Iterable[str], prefix: str, notes: list[str]) -> None:
    data = obj.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
    for alias in fields:
        if alias in data:
            notes.append(f"{prefix}.{alias} is not supported and was ignored")


_UNSUPPORTED_REQUEST = (
    "jobTemplate",
    "jobTemplateReference",
    "cronJobTemplate",
    "cronJobTemplateReference",
    "scraperTemplate",
    "scraperTemplateReference",
    "pvcTemplate",
    "pvcTemplateReference",
    "slavePodRequest",
    "uploads",
    "bucketName",
    "contentRequest",
    "sourceScripts",
)


def _metadata(
    meta: Metadata, description: str | None, kind: str, notes: list[str]
) -> dict[str, Any]:
    annotations = dict(meta.annotations)
    annotations[SOURCE_ANNOTATION] = f"{kind}/{LEGACY_API_VERSION}"
    if notes:
        annotations[NOTES_ANNOTATION] = "; ".join(notes)
    out: dict[str, Any] = {
        "name": meta.name,
        "labels": dict(meta.labels),
        "annotations": annotations,
    }
    if meta.namespace:
        out["namespace"] = meta.namespace
    desc = description or meta.description
    if desc:
        out["description"] = desc
    return out


def _validated(data: dict[str, Any], what: str) -> TestWorkflow:
    try:
        return TestWorkflow.model_validate(data)
    except ValidationError as exc:  # pragma: no cover - a conversion bug, not user input
        raise DefinitionError(f"{what}: conversion produced an invalid workflow: {exc}") from exc


# --------------------------------------------------------------------------- Test


def test_to_workflow(test: LegacyTest) -> TestWorkflow:
    """Convert a legacy ``Test`` to a ``TestWorkflow`` (rules in the module docstring)."""
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


# --------------------------------------------------------------------------- TestSuite


def _variables_dump(variables: dict[str, LegacyVariable]) -> dict[str, Any]:
    return {k: v.model_dump(by_alias=True, exclude_none=True) for k, v in variables.items()}


def _batch_step(
    step_name: str,
    batch: SuiteBatch,
    suite_variables: dict[str, LegacyVariable],
    where: str,
    notes: list[str],
) -> dict[str, Any] | None:
    tests: list[dict[str, Any]] = []
    delays: list[tuple[float, str]] = []
    for entry in batch.execute:
        if entry.delay is not None:
            delays.append((parse_duration(entry.delay), entry.delay))
            continue
        assert entry.test is not None
        item: dict[str, Any] = {"name": entry.test}
        request: dict[str, Any] = {}
        if entry.execution_request is not None:
            request = entry.execution_request.model_dump(
                by_alias=True, exclude_none=True, exclude_defaults=True
            )
        variables = {**suite_variables}
        if entry.execution_request is not None:
            variables.update(entry.execution_request.variables)
        if variables:
            request["variables"] = _variables_dump(variables)
        if request:
            item["executionRequest"] = request
        tests.append(item)
    if not tests and not delays:
        notes.append(f"{where}: empty batch skipped")
        return None
    step: dict[str, Any] = {"name": step_name, "x-assay-stop-on-failure": batch.stop_on_failure}
    if delays:
        step["delay"] = max(delays)[1]
    if tests:
        step["execute"] = {"parallelism": len(tests), "tests": tests}
    if batch.download_artifacts is not None:
        notes.append(f"{where}.downloadArtifacts is not supported and was ignored")
    return step


def suite_to_workflow(suite: LegacyTestSuite) -> TestWorkflow:
    """Convert a legacy ``TestSuite`` to a ``TestWorkflow`` of ``execute`` steps."""
    spec = suite.spec
    name = suite.metadata.name
    req = spec.execution_request or SuiteExecutionRequest()
    notes: list[str] = []
    workflow_spec: dict[str, Any] = {}

    def batches(items: list[SuiteBatch], prefix: str, field: str) -> list[dict[str, Any]]:
        out = []
        for i, batch in enumerate(items):
            step = _batch_step(
                f"{prefix}-{i + 1}", batch, req.variables, f"spec.{field}[{i}]", notes
            )
            if step is not None:
                out.append(step)
        return out

    setup = batches(spec.before, "before", "before")
    steps = batches(spec.steps, "batch", "steps")
    after = batches(spec.after, "after", "after")
    for step in after:
        step["condition"] = "always"
    if setup:
        workflow_spec["setup"] = setup
    workflow_spec["steps"] = steps
    if after:
        workflow_spec["after"] = after
    deadline = _seconds(req.timeout)
    if deadline:
        workflow_spec["job"] = {"activeDeadlineSeconds": deadline}
    if spec.schedule:
        workflow_spec["events"] = [{"cronjob": {"cron": spec.schedule}}]
    if spec.repeats and spec.repeats > 1:
        notes.append("spec.repeats is not supported and was ignored")
    _note_unsupported(
        req,
        (
            "jobTemplate",
            "jobTemplateReference",
            "cronJobTemplate",
            "cronJobTemplateReference",
            "scraperTemplate",
            "scraperTemplateReference",
            "pvcTemplate",
            "pvcTemplateReference",
        ),
        "executionRequest",
        notes,
    )
    data = {
        "apiVersion": WORKFLOW_API_VERSION,
        "kind": "TestWorkflow",
        "metadata": _metadata(suite.metadata, spec.description, "TestSuite", notes),
        "spec": workflow_spec,
    }
    return _validated(data, f"TestSuite {name!r}")
