"""Template resolution: `use`, step `template`, config rendering, errors, conformance."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from spec_helpers import walk

from assay.errors import DefinitionError
from assay.spec import (
    Definition,
    Step,
    TestWorkflow,
    TestWorkflowTemplate,
    load_text,
    normalize_template_name,
    resolve_templates,
)

TEMPLATES = """
kind: TestWorkflowTemplate
apiVersion: testworkflows.testkube.io/v1
metadata:
  name: official--tool--v1
spec:
  config:
    version: {type: string, default: "1.0"}
    run: {type: string, default: "tool run"}
    workers: {type: integer, default: 2}
    enabled: {type: boolean, default: false}
  content:
    files:
    - path: /data/tool.cfg
      content: "version={{ config.version }}"
  container:
    image: "tool:{{ config.version }}"
    workingDir: /data/template
    env:
    - {name: FROM_TEMPLATE, value: "t"}
    - {name: SHARED, value: "template"}
    resources:
      requests: {cpu: 100m}
  pod:
    labels: {tier: template, owner: template}
    volumes: [{name: cache, emptyDir: {}}]
  job:
    activeDeadlineSeconds: 60
    labels: {job: template}
  services:
    db: {image: "postgres:16"}
  setup:
  - name: Template setup
    shell: echo setup
  steps:
  - name: Run tool
    condition: "config.enabled || always"
    shell: "{{ config.run }} --workers {{ config.workers }} --id {{ execution.id }}"
  after:
  - name: Template after
    shell: echo after
---
kind: TestWorkflowTemplate
apiVersion: testworkflows.testkube.io/v1
metadata:
  name: plain--steps
spec:
  config:
    target: {type: string}
  steps:
  - name: Echo
    shell: "echo {{ config.target }} {{ env.HOME }}"
  after:
  - name: Bye
    shell: echo bye
---
kind: TestWorkflowTemplate
apiVersion: testworkflows.testkube.io/v1
metadata:
  name: labels--only
spec:
  config:
    name: {type: string, default: ""}
  pod:
    labels:
      spread: "{{execution.id}}{{config.name}}"
"""


def _templates() -> dict[str, TestWorkflowTemplate]:
    out = {}
    for item in load_text(TEMPLATES, "templates.yaml"):
        assert isinstance(item.model, TestWorkflowTemplate)
        out[item.name] = item.model
    return out


def _workflow(spec: dict[str, Any]) -> TestWorkflow:
    doc = {
        "apiVersion": "testworkflows.testkube.io/v1",
        "kind": "TestWorkflow",
        "metadata": {"name": "wf"},
        "spec": spec,
    }
    (item,) = load_text(yaml.safe_dump(doc), "wf.yaml")
    assert isinstance(item.model, TestWorkflow)
    return item.model


def _names(steps: list[Step]) -> list[str | None]:
    return [s.name for s in steps]


# --------------------------------------------------------------------------- spec.use


def test_spec_use_merges_and_renders_config() -> None:
    workflow = _workflow(
        {
            "use": [{"name": "official/tool/v1", "config": {"version": "2.5", "workers": "4"}}],
            "config": {"mine": {"type": "string", "default": "x"}},
            "container": {
                "workingDir": "/data/repo",
                "env": [{"name": "SHARED", "value": "workflow"}, {"name": "OWN", "value": "w"}],
            },
            "pod": {"labels": {"owner": "workflow"}, "volumes": [{"name": "w", "emptyDir": {}}]},
            "job": {"labels": {"job": "workflow"}},
            "steps": [{"name": "Mine", "shell": "echo {{ config.mine }}"}],
            "after": [{"name": "Mine after", "shell": "echo done"}],
        }
    )
    resolved = resolve_templates(workflow, _templates())
    spec = resolved.spec
    assert spec.use == []
    # the template's parameters are not added to the workflow's config
    assert set(spec.config) == {"mine"}
    # steps: template setup+steps first, workflow's own after the template's
    assert _names(spec.setup) == ["Template setup"]
    assert _names(spec.steps) == ["Run tool", "Mine"]
    assert _names(spec.after) == ["Mine after", "Template after"]
    run_tool = spec.steps[0]
    assert run_tool.shell == "tool run --workers 4 --id {{ execution.id }}"
    assert run_tool.condition == "always"  # `config.enabled || always`, enabled=false
    # the workflow's own expressions are untouched
    assert spec.steps[1].shell == "echo {{ config.mine }}"
    # container: workflow wins, env deduplicated, image rendered
    assert spec.container is not None
    assert spec.container.image == "tool:2.5"
    assert spec.container.working_dir == "/data/repo"
    assert [(e.name, e.value) for e in spec.container.env] == [
        ("FROM_TEMPLATE", "t"),
        ("SHARED", "workflow"),
        ("OWN", "w"),
    ]
    assert spec.container.resources == {"requests": {"cpu": "100m"}}
    # content, pod, job, services
    assert spec.content is not None
    assert [(f.path, f.content) for f in spec.content.files] == [("/data/tool.cfg", "version=2.5")]
    assert spec.pod == {
        "labels": {"tier": "template", "owner": "workflow"},
        "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "w", "emptyDir": {}}],
    }
    assert spec.job is not None
    assert spec.job.active_deadline_seconds == 60
    assert spec.job.labels == {"job": "workflow"}
    assert set(spec.services) == {"db"}


def test_workflow_image_replaces_template_command() -> None:
    workflow = _workflow(
        {"use": [{"name": "official--tool--v1"}], "container": {"image": "mine:1"}}
    )
    spec = resolve_templates(workflow, _templates()).spec
    assert spec.container is not None
    assert spec.container.image == "mine:1"


def test_several_uses_keep_their_order() -> None:
    workflow = _workflow(
        {
            "use": [
                {"name": "plain/steps", "config": {"target": "a"}},
                {"name": "official/tool/v1"},
            ],
            "steps": [{"name": "Mine", "shell": "true"}],
        }
    )
    spec = resolve_templates(workflow, _templates()).spec
    assert _names(spec.steps) == ["Echo", "Run tool", "Mine"]
    assert _names(spec.after) == ["Template after", "Bye"]


def test_input_workflow_is_not_modified() -> None:
    workflow = _workflow({"use": [{"name": "official/tool/v1"}], "steps": [{"shell": "true"}]})
    before = workflow.model_dump()
    resolve_templates(workflow, _templates())
    assert workflow.model_dump() == before


# --------------------------------------------------------------------------- step template


def test_step_template_expands_into_nested_steps() -> None:
    workflow = _workflow(
        {
            "steps": [
                {
                    "name": "Run from template",
                    "workingDir": "/data/repo/x",
                    "template": {"name": "plain/steps", "config": {"target": "world"}},
                    "steps": [{"name": "Own sub-step", "shell": "true"}],
                }
            ]
        }
    )
    (step,) = resolve_templates(workflow, _templates()).spec.steps
    assert step.template is None
    assert step.working_dir == "/data/repo/x"
    assert _names(step.steps) == ["Echo", "Bye", "Own sub-step"]
    assert step.steps[0].shell == "echo world {{ env.HOME }}"


def test_step_template_with_container_is_wrapped() -> None:
    workflow = _workflow(
        {
            "steps": [
                {
                    "name": "Tool",
                    "template": {"name": "official/tool/v1", "config": {"version": "3"}},
                }
            ]
        }
    )
    (step,) = resolve_templates(workflow, _templates()).spec.steps
    (wrapper,) = step.steps
    assert wrapper.container is not None and wrapper.container.image == "tool:3"
    assert wrapper.content is not None
    assert _names(wrapper.setup) == ["Template setup"]
    assert _names(wrapper.steps) == ["Run tool", "Template after"]
    assert step.container is None  # nothing leaks into the outer step


def test_step_use_merges_container_into_the_step() -> None:
    workflow = _workflow(
        {
            "steps": [
                {
                    "name": "Uses",
                    "use": [{"name": "official/tool/v1"}],
                    "container": {"env": [{"name": "SHARED", "value": "step"}]},
                    "steps": [{"name": "Own", "shell": "true"}],
                }
            ]
        }
    )
    (step,) = resolve_templates(workflow, _templates()).spec.steps
    assert step.use == []
    assert step.container is not None
    assert step.container.image == "tool:1.0"
    assert {e.name: e.value for e in step.container.env}["SHARED"] == "step"
    assert _names(step.setup) == ["Template setup"]
    assert _names(step.steps) == ["Run tool", "Own", "Template after"]
    assert set(step.services) == {"db"}


def test_parallel_and_service_use() -> None:
    workflow = _workflow(
        {
            "services": {"worker": {"image": "w:1", "use": [{"name": "labels/only"}]}},
            "steps": [
                {
                    "name": "Parallel",
                    "parallel": {
                        "count": 2,
                        "use": [{"name": "labels/only", "config": {"name": "-x"}}],
                        "shell": "echo {{ index }}",
                    },
                }
            ],
        }
    )
    spec = resolve_templates(workflow, _templates()).spec
    assert spec.services["worker"].pod == {"labels": {"spread": "{{execution.id}}"}}
    assert spec.services["worker"].use == []
    parallel = spec.steps[0].parallel
    assert parallel is not None
    assert parallel.pod == {"labels": {"spread": "{{execution.id}}-x"}}
    assert parallel.shell == "echo {{ index }}"


def test_parallel_template_is_moved_into_a_first_step() -> None:
    workflow = _workflow(
        {
            "steps": [
                {
                    "name": "P",
                    "parallel": {
                        "count": 2,
                        "template": {"name": "plain/steps", "config": {"target": "t"}},
                    },
                }
            ]
        }
    )
    parallel = resolve_templates(workflow, _templates()).spec.steps[0].parallel
    assert parallel is not None
    assert parallel.template is None
    # the moved step only holds the template's steps, so it is flattened away
    assert _names(parallel.steps) == ["Echo", "Bye"]
    assert parallel.steps[0].shell == "echo t {{ env.HOME }}"


# --------------------------------------------------------------------------- errors


def test_missing_template_names_template_and_step_path() -> None:
    workflow = _workflow(
        {
            "steps": [
                {"name": "a", "shell": "true"},
                {"name": "b", "template": {"name": "official/nope/v9"}},
            ]
        }
    )
    with pytest.raises(DefinitionError) as info:
        resolve_templates(workflow, _templates())
    message = str(info.value)
    assert message.startswith("spec.steps[1].template: template 'official/nope/v9' not found")
    assert "official--nope--v9" in message


def test_missing_template_in_nested_use() -> None:
    workflow = _workflow({"steps": [{"name": "a", "steps": [{"use": [{"name": "gone"}]}]}]})
    with pytest.raises(
        DefinitionError, match=r"^spec\.steps\[0\]\.steps\[0\]\.use\[0\]: template 'gone'"
    ):
        resolve_templates(workflow, _templates())


def test_config_without_value_is_an_error() -> None:
    workflow = _workflow({"steps": [{"template": {"name": "plain/steps"}}]})
    with pytest.raises(DefinitionError, match=r"needs config\.target"):
        resolve_templates(workflow, _templates())


def test_bad_config_type_is_an_error() -> None:
    workflow = _workflow({"use": [{"name": "official/tool/v1", "config": {"workers": "many"}}]})
    with pytest.raises(DefinitionError, match=r"spec\.use\[0\]: config\.workers: 'many'"):
        resolve_templates(workflow, _templates())


def test_recursive_template_is_stopped() -> None:
    loop = load_text(
        "kind: TestWorkflowTemplate\napiVersion: testworkflows.testkube.io/v1\n"
        "metadata: {name: loop}\nspec:\n  steps:\n  - template: {name: loop}\n"
    )[0].model
    assert isinstance(loop, TestWorkflowTemplate)
    workflow = _workflow({"steps": [{"template": {"name": "loop"}}]})
    with pytest.raises(DefinitionError, match="recursive template"):
        resolve_templates(workflow, {"loop": loop})


def test_normalize_template_name() -> None:
    assert normalize_template_name("official/k6/v1") == "official--k6--v1"
    assert normalize_template_name("official--k6--v1") == "official--k6--v1"


# --------------------------------------------------------------------------- conformance


def _uses_templates(item: Definition) -> bool:
    return any(key in ("use", "template") for key, _ in walk(item.raw.get("spec", {})))


def test_conformance_workflows_using_templates_resolve(
    conformance_definitions: list[Definition],
    conformance_templates: dict[str, TestWorkflowTemplate],
) -> None:
    users = [i for i in conformance_definitions if i.kind == "TestWorkflow" and _uses_templates(i)]
    assert len(users) >= 20
    for item in users:
        assert isinstance(item.model, TestWorkflow)
        resolved = resolve_templates(item.model, conformance_templates)
        dumped = resolved.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
        leftovers = [
            key for key, value in walk(dumped["spec"]) if key in ("use", "template") and value
        ]
        assert leftovers == [], item.name
        # no template config expression is left behind
        assert "config.run" not in yaml.safe_dump(dumped), item.name
        # and the result is still a valid workflow
        TestWorkflow.model_validate(resolved.model_dump(by_alias=True, exclude_none=True))


def test_conformance_k6_template_step(
    conformance_definitions: list[Definition],
    conformance_templates: dict[str, TestWorkflowTemplate],
) -> None:
    (item,) = [i for i in conformance_definitions if i.name == "k6-workflow-smoke-template"]
    assert isinstance(item.model, TestWorkflow)
    (step,) = resolve_templates(item.model, conformance_templates).spec.steps
    assert step.name == "Run from template"
    assert step.content is not None and step.content.git is not None
    (inner,) = step.steps
    assert inner.name == "Run k6 tests"
    assert inner.run is not None
    assert inner.run.image == "grafana/k6:1.1.0"
    assert inner.run.shell is not None
    assert inner.run.shell.startswith("mkdir -p /data/artifacts && k6 run k6-smoke-test.js")


def test_conformance_distribute_evenly(
    conformance_definitions: list[Definition],
    conformance_templates: dict[str, TestWorkflowTemplate],
) -> None:
    (item,) = [i for i in conformance_definitions if i.name == "distributed-k6-workflow-smoke"]
    assert isinstance(item.model, TestWorkflow)
    parallel = resolve_templates(item.model, conformance_templates).spec.steps[0].parallel
    assert parallel is not None
    assert parallel.pod is not None
    assert parallel.pod["labels"] == {"distribute-evenly": "{{execution.id}}"}
    assert parallel.pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert parallel.count == "config.workers"  # the workflow's own config stays an expression
    assert parallel.run is not None and parallel.run.shell is not None
    assert "{{ shellquote(config.vus) }}" in parallel.run.shell


def test_conformance_setup_template(
    conformance_definitions: list[Definition],
    conformance_templates: dict[str, TestWorkflowTemplate],
) -> None:
    (item,) = [i for i in conformance_definitions if i.name == "oss-standalone-installation-test"]
    assert isinstance(item.model, TestWorkflow)
    spec = resolve_templates(item.model, conformance_templates).spec
    assert "dind" in spec.services
    assert spec.container is not None
    assert spec.container.image == "gcr.io/google.com/cloudsdktool/google-cloud-cli:530.0.0"
    assert spec.pod is not None and spec.pod["volumes"][0]["name"] == "kubeconfig"
    first = spec.steps[0]
    assert first.container is not None
    assert first.container.env[0].value == "tcp://{{ services.dind.0.ip }}:2375"
    assert first.steps[0].name == "Set up Kind cluster (with external access)"
