"""The v3 models of the legacy ``Test`` and ``TestSuite`` (``kubeshop/testkube-operator``
``api/tests/v3``, ``api/testsuite/v3``) and of the API's execution request; unknown fields
are rejected like everywhere else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from assay.spec.base import KubeObject, SpecModel, parse_duration
from assay.spec.workflow import EnvVarSource, Metadata

LEGACY_API_VERSION = "tests.testkube.io/v3"


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
