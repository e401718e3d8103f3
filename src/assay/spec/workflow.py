"""TestWorkflow and TestWorkflowTemplate, modelled on Testkube's v1 schema.

Fields assay runs are typed; Kubernetes-native fragments (pod, volumes, probes,
security contexts) are kept verbatim as :data:`KubeObject` so that nothing a
user wrote is dropped, and runners report what they cannot honour.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from assay.spec.base import KubeObject, SpecModel, parse_duration

__all__ = [
    "Artifacts",
    "Container",
    "Content",
    "ContentFile",
    "CronJob",
    "EnvVar",
    "Event",
    "Execute",
    "ExecuteTest",
    "ExecuteWorkflow",
    "GitContent",
    "Metadata",
    "Parallel",
    "ParamSpec",
    "Retry",
    "Run",
    "SecretKeyRef",
    "Service",
    "Step",
    "TemplateRef",
    "TestWorkflow",
    "TestWorkflowTemplate",
    "WorkflowSpec",
]

API_VERSIONS = ("testworkflows.testkube.io/v1", "assay.dev/v1")


class Metadata(SpecModel):
    """Object metadata: the name identifies a definition in the store."""

    name: Annotated[
        str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    ]
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    description: str | None = None


class ParamSpec(SpecModel):
    """A typed configuration parameter (`spec.config.NAME`)."""

    type: Literal["string", "integer", "number", "boolean"] = "string"
    description: str | None = None
    default: Any = None
    enum: list[Any] | None = None
    example: Any = None
    sensitive: bool = False
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    format: str | None = None


class SecretKeyRef(SpecModel):
    """Reference to one key of a named secret."""

    name: str
    key: str
    optional: bool = False


class EnvVarSource(SpecModel):
    """Where an environment variable's value comes from."""

    secret_key_ref: SecretKeyRef | None = None
    config_map_key_ref: KubeObject | None = None
    field_ref: KubeObject | None = None
    resource_field_ref: KubeObject | None = None


class EnvVar(SpecModel):
    """An environment variable, literal or from a secret."""

    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else str(value)


class Container(SpecModel):
    """Container settings; the local runner uses env, workingDir, command and args."""

    image: str | None = None
    image_pull_policy: str | None = None
    env: list[EnvVar] = []
    env_from: list[KubeObject] = []
    working_dir: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    resources: KubeObject | None = None
    security_context: KubeObject | None = None
    volume_mounts: list[KubeObject] = []


class Run(Container):
    """What a step executes: a shell script or a command with args."""

    shell: str | None = None


class GitContent(SpecModel):
    """A git repository to check out (``revision`` is a branch, tag or commit)."""

    uri: str
    revision: str | None = None
    paths: list[str] = []
    username: str | None = None
    username_from: EnvVarSource | None = None
    token: str | None = None
    token_from: EnvVarSource | None = None
    ssh_key: str | None = None
    ssh_key_from: EnvVarSource | None = None
    auth_type: str | None = None
    mount_path: str | None = None
    cone: bool = False


class ContentFile(SpecModel):
    """A file written into the workspace before steps run."""

    path: str
    content: str | None = None
    content_from: EnvVarSource | None = None
    mode: int | None = None


class Content(SpecModel):
    """Content materialised before the steps: git checkout and files."""

    git: GitContent | None = None
    files: list[ContentFile] = []
    tarball: list[KubeObject] = []


class Artifacts(SpecModel):
    """Files kept after a step (globs, ``**`` allowed)."""

    working_dir: str | None = None
    paths: list[str] = []
    compress: KubeObject | None = None


class Retry(SpecModel):
    """Re-run a failed step up to ``count`` times (``until`` is an expression).

    ``scope`` (an assay extension): ``step`` re-runs the whole step, as Testkube does;
    ``failed-tests`` re-runs only the test cases that failed (pytest, by JUnit identity).
    """

    count: Annotated[int, Field(ge=0)]
    until: str | None = None
    scope: Literal["step", "failed-tests"] = "step"


class TemplateRef(SpecModel):
    """Use of a TestWorkflowTemplate with config overrides."""

    name: str
    config: dict[str, Any] = {}


class Job(SpecModel):
    """Kubernetes Job settings; activeDeadlineSeconds bounds the whole execution."""

    active_deadline_seconds: int | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    namespace: str | None = None


class Service(Container):
    """A background service started for the steps (Testkube `services`)."""

    shell: str | None = None
    description: str | None = None
    count: int | str | None = None
    matrix: dict[str, Any] = {}
    shards: dict[str, Any] = {}
    timeout: str | None = None
    logs: str | None = None
    readiness_probe: KubeObject | None = None
    pod: KubeObject | None = None
    content: Content | None = None
    use: list[TemplateRef] = []
    transfer: list[KubeObject] = []
    restart_policy: str | None = None


class ExecuteTest(SpecModel):
    """A legacy Test run as a child execution of an `execute` step."""

    name: str
    description: str | None = None
    execution_request: KubeObject | None = None
    tarball: KubeObject | None = None
    count: int | str | None = None
    max_count: int | str | None = None
    matrix: dict[str, Any] = {}
    shards: dict[str, Any] = {}


class ExecuteWorkflow(SpecModel):
    """A workflow run as a child execution of an `execute` step."""

    name: str | None = None
    description: str | None = None
    config: dict[str, Any] = {}
    selector: KubeObject | None = None
    tarball: KubeObject | None = None
    target: KubeObject | None = None
    count: int | str | None = None
    max_count: int | str | None = None
    matrix: dict[str, Any] = {}
    shards: dict[str, Any] = {}


class Execute(SpecModel):
    """Run other tests/workflows as child executions, ``parallelism`` at a time."""

    parallelism: int | None = None
    async_: Annotated[bool, Field(alias="async")] = False
    tests: list[ExecuteTest] = []
    workflows: list[ExecuteWorkflow] = []


class StepBase(SpecModel):
    """Fields shared by steps and by the template of a parallel group."""

    name: str | None = None
    condition: str | None = None
    paused: bool = False
    negative: bool = False
    optional: bool = False
    pure: bool | None = None
    retry: Retry | None = None
    timeout: str | None = None
    delay: str | None = None
    working_dir: str | None = None
    container: Container | None = None
    content: Content | None = None
    services: dict[str, Service] = {}
    shell: str | None = None
    run: Run | None = None
    execute: Execute | None = None
    artifacts: Artifacts | None = None
    template: TemplateRef | None = None
    use: list[TemplateRef] = []
    setup: list[Step] = []
    steps: list[Step] = []

    @field_validator("timeout", "delay")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and "{{" not in value:
            parse_duration(value)
        return value

    @field_validator("condition", mode="before")
    @classmethod
    def _condition(cls, value: Any) -> Any:
        return str(value).lower() if isinstance(value, bool) else value

    def timeout_seconds(self) -> float | None:
        """The step timeout in seconds, if any."""
        return None if self.timeout is None else parse_duration(self.timeout)


class Parallel(StepBase):
    """A group of parallel workers (count, matrix, shards) running one step template."""

    description: str | None = None
    count: int | str | None = None
    max_count: int | str | None = None
    parallelism: int | str | None = None
    matrix: dict[str, Any] = {}
    shards: dict[str, Any] = {}
    transfer: list[KubeObject] = []
    fetch: list[KubeObject] = []
    logs: str | None = None
    job: Job | None = None
    pod: KubeObject | None = None
    events: list[KubeObject] = []
    config: dict[str, ParamSpec] = {}
    system: KubeObject | None = None
    after: list[Step] = []


class Step(StepBase):
    """One step of a workflow; may hold nested steps."""

    parallel: Parallel | None = None
    stop_on_failure: bool = Field(default=True, exclude=True, alias="x-assay-stop-on-failure")
    """Internal (set by TestSuite conversion): False lets later steps run after this one fails."""

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if self.shell is not None and self.run is not None and self.run.shell is not None:
            raise ValueError("a step cannot have both `shell` and `run.shell`")
        return self


class CronJob(SpecModel):
    """A schedule: run the workflow at every ``cron`` time with this config and these tags.

    ``timezone`` defaults to the scheduler's (``assay server --timezone``, UTC by default);
    ``tags`` is an assay extension; ``labels``, ``annotations`` and ``target`` (Kubernetes
    CronJob settings in Testkube) are kept and not used.
    """

    cron: str
    timezone: str | None = None
    config: dict[str, Any] = {}
    tags: dict[str, str] = {}
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    target: KubeObject | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from assay.spec.cron import check_cron

        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        from assay.spec.cron import check_timezone

        return None if value is None else check_timezone(value)

    @field_validator("config", mode="before")
    @classmethod
    def _scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, dict | list):
                    raise ValueError(f"config {key!r}: expected a string, number or boolean")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: item if isinstance(item, str) else str(item) for key, item in value.items()
            }
        return value


class Event(SpecModel):
    """An entry of ``spec.events``: a ``cronjob`` schedule."""

    cronjob: CronJob | None = None


class WorkflowSpec(SpecModel):
    """The `spec` of a TestWorkflow or TestWorkflowTemplate."""

    use: list[TemplateRef] = []
    config: dict[str, ParamSpec] = {}
    system: KubeObject | None = None
    content: Content | None = None
    container: Container | None = None
    job: Job | None = None
    pod: KubeObject | None = None
    events: list[Event] = []
    execution: KubeObject | None = None
    concurrency: KubeObject | None = None
    notifications: KubeObject | None = None
    services: dict[str, Service] = {}
    setup: list[Step] = []
    steps: list[Step] = []
    after: list[Step] = []

    @model_validator(mode="after")
    def _schedule_config(self) -> WorkflowSpec:
        for event in self.events:
            if event.cronjob is None:
                continue
            unknown = sorted(set(event.cronjob.config) - set(self.config))
            if unknown and not self.use:  # templates may declare more config
                declared = ", ".join(sorted(self.config)) or "none"
                raise ValueError(
                    f"events: cronjob config {', '.join(map(repr, unknown))} is not declared "
                    f"in spec.config (declared: {declared})"
                )
        return self


class _Definition(SpecModel):
    api_version: str
    metadata: Metadata
    spec: WorkflowSpec = WorkflowSpec()
    description: str | None = None

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if value not in API_VERSIONS:
            raise ValueError(f"unsupported apiVersion {value!r}; expected one of {API_VERSIONS}")
        return value


class TestWorkflow(_Definition):
    """A runnable workflow definition."""

    __test__ = False
    kind: Literal["TestWorkflow"] = "TestWorkflow"


class TestWorkflowTemplate(_Definition):
    """A reusable fragment included with `use` or a step `template`."""

    __test__ = False
    kind: Literal["TestWorkflowTemplate"] = "TestWorkflowTemplate"


StepBase.model_rebuild()
Step.model_rebuild()
Parallel.model_rebuild()
