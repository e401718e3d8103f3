"""What the Kubernetes objects of an execution hold: field by field, secrets as references,
every object valid against the official schemas (1.31 and the newest shipped)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kube_support import (
    IDENTITY,
    SCHEMA_VERSIONS,
    job_name,
    named,
    of_kind,
    render_yaml,
    validate_strictly,
    workflow,
)

from assay.errors import DefinitionError
from assay.spec.yaml_text import dump_documents

JOB = IDENTITY.job_name
SEED_TEST = (
    __import__("pathlib").Path(__file__).parents[1] / "spec" / "data" / "seed000-tests.yaml"
).read_text()

KITCHEN_SINK = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: kitchen-sink}
spec:
  config:
    version: {type: string, default: "3.12"}
    password: {type: string, default: hunter2-very-secret, sensitive: true}
  job:
    activeDeadlineSeconds: 600
    labels: {team: qa}
    annotations: {owner: qa@example.com}
  pod:
    serviceAccountName: tester
    nodeSelector: {disktype: ssd}
    tolerations: [{key: dedicated, operator: Equal, value: tests, effect: NoSchedule}]
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions: [{key: zone, operator: In, values: [a, b]}]
    imagePullSecrets: [{name: registry}]
    labels: {purpose: e2e}
    annotations: {note: kitchen}
    securityContext: {runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000}
    volumes:
    - name: cache
      persistentVolumeClaim: {claimName: pip-cache}
  container:
    image: "python:{{ config.version }}-slim"
    imagePullPolicy: IfNotPresent
    resources:
      requests: {cpu: 250m, memory: 256Mi}
      limits: {cpu: "1", memory: 1Gi}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: cache, mountPath: /root/.cache}
    env:
    - {name: MODE, value: e2e}
    - name: DB_PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
    - name: REGION
      valueFrom: {configMapKeyRef: {name: settings, key: region}}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    envFrom:
    - configMapRef: {name: shared-env}
  content:
    git:
      uri: https://example.com/org/repo.git
      revision: main
      token: ghp_literal_token_value_123
    files:
    - path: /data/settings.ini
      content: "password={{ config.password }}\\n"
    - path: /etc/app/extra.conf
      content: "x=1\\n"
      mode: 0644
  services:
    db:
      image: postgres:16
      env:
      - {name: POSTGRES_PASSWORD, value: "{{ config.password }}"}
      readinessProbe:
        tcpSocket: {port: 5432}
        periodSeconds: 1
  steps:
  - name: install
    shell: pip install -r requirements.txt
  - name: test
    workingDir: tests
    timeout: 5m
    retry: {count: 2}
    run:
      command: [pytest, "--db={{ services.db.0.ip }}"]
      resources: {limits: {cpu: "2", memory: 2Gi}}
  - name: shards
    parallel:
      count: 2
      pod: {nodeSelector: {pool: workers}}
      container: {image: "python:3.12-slim"}
      shell: pytest --shard={{ index }}/{{ count }}
  after:
  - name: report
    condition: always
    shell: echo done
"""


@pytest.fixture(scope="module")
def sink() -> list[dict[str, Any]]:
    return render_yaml(KITCHEN_SINK).objects


def test_seed_000_backend_auth_e2e_renders_as_a_job_with_secret_references() -> None:
    rendered = render_yaml(SEED_TEST.split("---\n", 2)[1], namespace="testkube")
    job = named(rendered.objects, "Job", job_name("backend-auth-e2e"))
    assert job["metadata"]["namespace"] == "testkube"
    pod = job["spec"]["template"]["spec"]
    clone, pre_run, test = pod["initContainers"]
    assert clone["image"] == "alpine/git"
    env_of_clone = {v["name"]: v.get("value") for v in clone["env"]}
    assert env_of_clone["ASSAY_GIT_URI"] == "https://github.com/silverbeer/missing-table.git"
    assert env_of_clone["ASSAY_GIT_REVISION"] == "main"
    for container in (pre_run, test):
        assert container["image"] == "ghcr.io/astral-sh/uv:python3.13-bookworm-slim"
        env = {v["name"]: v for v in container["env"]}
        assert env["SUPABASE_SERVICE_KEY"] == {
            "name": "SUPABASE_SERVICE_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": "testkube-secrets", "key": "supabase-service-key"}
            },
        }
        assert env["TEST_MODE"]["value"] == "true"
        assert env["SUPABASE_URL"]["value"] == "https://ppgxasqgqbnauvxozmjw.supabase.co"
        assert env["BACKEND_URL"]["value"] == (
            "http://missing-table-backend.missing-table-dev.svc.cluster.local:8000"
        )
    command = test["args"][test["args"].index("--") + 1 :]
    assert command == [
        "pytest",
        "test_auth_endpoints.py::TestAuthLogin",
        "test_auth_endpoints.py::TestAuthSignup",
        "-v",
        "--tb=short",
        "--junit-xml=results.xml",
    ]
    assert "dir=/data/repo/backend/tests" in test["args"]
    # the entry script masks the Secret's value; the report is the one --junit-xml names
    assert (
        "mask=SUPABASE_SERVICE_KEY" in pre_run["args"]
        and "mask=SUPABASE_SERVICE_KEY" in test["args"]
    )
    assert "xml=/data/repo/backend/tests/results.xml" in test["args"]
    assert "uv pip install --system pytest pytest-cov httpx python-dotenv" in pre_run["args"][-1]
    assert pod["containers"][0]["args"] == ["finish", "content-git", "1", "2"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["assay.io/workflow"] == "backend-auth-e2e"
    assert labels["assay.io/execution"] == IDENTITY.id
    for item in rendered.objects:
        validate_strictly(item)


def test_every_object_validates_strictly(sink: list[dict[str, Any]]) -> None:
    kinds = sorted({item["kind"] for item in sink})
    assert kinds == ["ConfigMap", "Job", "Pod", "Secret", "Service"]
    for item in sink:
        validate_strictly(item)
    assert SCHEMA_VERSIONS[0] == "1.31.0" and SCHEMA_VERSIONS[1] >= "1.37"


def test_the_validation_catches_unknown_and_missing_fields(sink: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    job = json.loads(json.dumps(main_job(sink)))
    job["spec"]["template"]["spec"]["initContainers"][0]["imagePolicy"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strictly(job)
    del job["spec"]["template"]["spec"]["initContainers"][0]["imagePolicy"]
    del job["spec"]["template"]["spec"]["initContainers"][0]["name"]
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strictly(job)


def main_job(objects: list[dict[str, Any]], workflow_name: str = "kitchen-sink") -> dict[str, Any]:
    return named(objects, "Job", job_name(workflow_name))


def main_init_containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(main_job(objects)["spec"]["template"]["spec"]["initContainers"])


def test_job_and_pod_settings_are_mapped(sink: list[dict[str, Any]]) -> None:
    job = main_job(sink)
    assert job["metadata"]["labels"]["team"] == "qa"
    assert job["metadata"]["annotations"] == {"owner": "qa@example.com"}
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 600 + 10 + 30  # one `always` step
    template = job["spec"]["template"]
    assert template["metadata"]["labels"]["purpose"] == "e2e"
    assert template["metadata"]["annotations"]["note"] == "kitchen"
    steps = json.loads(template["metadata"]["annotations"]["assay.io/steps"])
    assert [s["name"] for s in steps][-4:] == ["install", "test", "shards", "report"]
    pod = template["spec"]
    assert pod["serviceAccountName"] == "tester"
    assert pod["nodeSelector"] == {"disktype": "ssd"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["affinity"]["nodeAffinity"]
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["restartPolicy"] == "Never"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["cache"] == {
        "name": "cache",
        "persistentVolumeClaim": {"claimName": "pip-cache"},
    }
    assert volumes["assay-data"] == {"name": "assay-data", "emptyDir": {}}


def test_container_settings_are_mapped_and_inherited(sink: list[dict[str, Any]]) -> None:
    containers = {
        c["name"]: c for c in main_job(sink)["spec"]["template"]["spec"]["initContainers"]
    }
    install, test = containers["step-1"], containers["step-2"]
    assert install["image"] == "python:3.12-slim"  # {{ config.version }} rendered
    assert install["imagePullPolicy"] == "IfNotPresent"
    assert install["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert test["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}  # run overrides
    assert install["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in install["volumeMounts"]}
    assert mounts["/root/.cache"]["name"] == "cache"
    assert mounts["/data"]["name"] == "assay-data"
    assert mounts["/etc/app/extra.conf"] == {
        "name": "assay",
        "mountPath": "/etc/app/extra.conf",
        "subPath": "files/file-1",
        "readOnly": True,
    }
    env = {v["name"]: v for v in install["env"]}
    assert env["MODE"] == {"name": "MODE", "value": "e2e"}
    assert env["DB_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "password"}}
    assert env["REGION"]["valueFrom"] == {"configMapKeyRef": {"name": "settings", "key": "region"}}
    assert env["NODE"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert install["envFrom"] == [{"configMapRef": {"name": "shared-env"}}]
    args = test["args"]
    assert {"ref=2", "retries=2", "timeout=300", "dir=/data/repo/tests", "deadline=600"} <= set(
        args
    )
    assert "condition=always" in containers["step-4"]["args"]


def test_services_are_pods_behind_a_headless_service(sink: list[dict[str, Any]]) -> None:
    service_name = f"{job_name('kitchen-sink')}-db"
    service = named(sink, "Service", service_name)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {
        "assay.io/execution": IDENTITY.id,
        "assay.io/service": "db",
    }
    (pod,) = of_kind(sink, "Pod")
    assert pod["metadata"]["labels"]["assay.io/service"] == "db"
    assert pod["spec"]["subdomain"] == service_name
    assert pod["spec"]["hostname"] == "db-0"
    assert pod["spec"]["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": 5432}
    # {{ services.db.0.ip }} is the instance's DNS name in the namespace
    (test,) = [c for c in main_init_containers(sink) if c["name"] == "step-2"]
    assert f"--db=db-0.{service_name}.tests.svc.cluster.local" in test["args"]


def test_parallel_workers_are_jobs_of_their_own(sink: list[dict[str, Any]]) -> None:
    workers = [j for j in of_kind(sink, "Job") if "assay.io/worker" in j["metadata"]["labels"]]
    assert [w["metadata"]["labels"]["assay.io/worker"] for w in workers] == ["0", "1"]
    for index, worker in enumerate(workers):
        labels = worker["metadata"]["labels"]
        assert labels["assay.io/step"] == "3" and labels["assay.io/execution"] == IDENTITY.id
        pod = worker["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"pool": "workers"}
        # the workflow's volumes come along: the inherited container mounts `cache`
        assert {v["name"] for v in pod["volumes"]} == {"assay-data", "assay", "assay-pod", "cache"}
        (step,) = pod["initContainers"]
        assert step["args"][-1] == f"set -e\npytest --shard={index}/2"
        assert f"ref=3.w{index}" in step["args"]
    main = main_job(sink)["spec"]["template"]["spec"]["initContainers"]
    (waiting,) = [c for c in main if c["name"] == "step-3"]
    assert waiting["args"][-4:] == ["/bin/sh", "/.assay/entry.sh", "wait", "3"]


def test_no_secret_value_is_printed(sink: list[dict[str, Any]]) -> None:
    rendered = render_yaml(KITCHEN_SINK)
    printed = dump_documents(rendered.masked())
    for secret in ("ghp_literal_token_value_123", "hunter2-very-secret"):
        assert secret not in printed
    assert "password=***" in printed
    # the literal git token lives only in the Secret the runner creates, read by reference
    (secret,) = of_kind(rendered.objects, "Secret")
    assert secret["stringData"] == {"token": "ghp_literal_token_value_123"}
    clone = main_job(rendered.objects)["spec"]["template"]["spec"]["initContainers"][0]
    token = {v["name"]: v for v in clone["env"]}["ASSAY_GIT_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    for item in rendered.objects:
        if item["kind"] != "Secret":
            assert "ghp_literal_token_value_123" not in json.dumps(item)


def test_labels_let_a_restarted_server_find_every_object(sink: list[dict[str, Any]]) -> None:
    for item in sink:
        labels = item["metadata"]["labels"]
        assert labels["assay.io/execution"] == IDENTITY.id, item["metadata"]["name"]
        assert labels["assay.io/workflow"] == "kitchen-sink"
        assert item["metadata"]["namespace"] == "tests"


def test_config_map_holds_the_entry_script_and_files(sink: list[dict[str, Any]]) -> None:
    config_map = named(sink, "ConfigMap", f"{job_name('kitchen-sink')}-assay")
    data = config_map["data"]
    assert data["entry.sh"].startswith("# assay's step entry")
    assert data["file-0"] == "password=hunter2-very-secret\n"  # masked only when printed
    assert data["files-content.list"] == "files/file-0 - /data/settings.ini\n"
    assert data["file-1"] == "x=1\n"


@pytest.mark.parametrize(
    ("spec", "steps", "message"),
    [
        ("pod: {hostNetwork: true}", "- shell: 'true'", "spec.pod.hostNetwork: not a Pod setting"),
        ("", "- run: {image: x}", "the image's own entrypoint"),
        ("container: {image: null}", "- shell: 'true'", "no image"),
        (
            "container: {image: x, env: [{name: S, valueFrom: {secretKeyRef: {name: a, key: b}}}]}",
            "- condition: \"env.S == 'x'\"\n  shell: 'true'",
            "reads env.S, which comes from a Secret",
        ),
        ("pod: {volumes: [{name: assay-data, emptyDir: {}}]}", "- shell: 'true'", "assay's own"),
        ("content: {git: {uri: 'https://x/y.git', mountPath: /src}}", "- shell: 'true'", "/data"),
        ("container: {image: x, imagePullPolicy: Sometimes}", "- shell: 'true'", "Sometimes"),
    ],
)
def test_bad_input_names_the_field(spec: str, steps: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(")):
        render_yaml(workflow(steps, spec=spec))


def test_conditions_and_until_are_decided_before_the_pod_starts() -> None:
    text = workflow(
        """
- condition: "passed && config.enabled"
  shell: 'true'
- condition: "!passed"
  shell: 'true'
- condition: "config.enabled || failed"
  retry: {count: 1, until: "failed"}
  shell: 'true'
""",
        spec="config:\n  enabled: {type: boolean, default: true}",
    )
    job = named(render_yaml(text).objects, "Job", JOB)
    args = [c["args"] for c in job["spec"]["template"]["spec"]["initContainers"]]
    assert "condition=notfailed" in args[0]
    assert "condition=failed" in args[1]
    assert "condition=always" in args[2] and "until=failed" in args[2]


def test_notes_say_what_is_left_out() -> None:
    text = workflow(
        "- name: fan\n  execute: {workflows: [{name: other}]}\n- paused: true\n  shell: 'true'"
    )
    notes = render_yaml(text).notes
    assert any("`execute` runs other executions" in note for note in notes)
    assert any("`paused` is ignored" in note for note in notes)


def test_containers_of_assays_own_run_without_privileges_and_need_no_step_image() -> None:
    text = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: fan}
spec:
  content:
    git: {uri: "https://example.com/r.git"}
    files: [{path: /data/a.txt, content: a}]
  steps:
  - parallel:
      count: 1
      container: {image: "python:3.12"}
      shell: 'true'
"""
    objects = render_yaml(text).objects
    pod = named(objects, "Job", job_name("fan"))["spec"]["template"]["spec"]
    containers = [*pod["initContainers"], *pod["containers"]]
    assert [c["name"] for c in containers] == [
        "step-content-git",
        "step-content-files",
        "step-1",
        "result",
    ]
    for container in containers:
        assert container["image"] == "alpine/git"  # no step image in the main Pod
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
    for item in objects:
        validate_strictly(item)


def test_step_services_render_per_instance_and_are_noted() -> None:
    text = workflow(
        """
- name: with-workers
  services:
    api:
      image: "nginx:1.27"
      count: 2
      env: [{name: SLOT, value: "{{ index }}/{{ count }}"}]
      timeout: 1m30s
      logs: never
  shell: curl {{ services.api.1.ip }}
"""
    )
    rendered = render_yaml(text)
    pods = of_kind(rendered.objects, "Pod")
    # what the live runner needs: the entry's name, its readiness timeout, no log artifact
    assert [p["metadata"]["annotations"] for p in pods] == [
        {"assay.io/service": "api", "assay.io/ready-timeout": "90", "assay.io/logs": "never"}
    ] * 2
    assert [p["spec"]["containers"][0]["env"][0]["value"] for p in pods] == ["0/2", "1/2"]
    assert [p["metadata"]["labels"]["assay.io/step"] for p in pods] == ["1", "1"]
    assert "command" not in pods[0]["spec"]["containers"][0]  # the image's entrypoint runs
    (step,) = named(rendered.objects, "Job", job_name("wf"))["spec"]["template"]["spec"][
        "initContainers"
    ]
    assert step["args"][-1].endswith(f"curl api-1.{job_name('wf')}-api.tests.svc.cluster.local")
    assert any("its services run for the whole execution" in note for note in rendered.notes)
    for item in rendered.objects:
        validate_strictly(item)


def test_a_steps_mount_replaces_an_inherited_one_at_the_same_path() -> None:
    text = workflow(
        """
- container:
    volumeMounts: [{name: b, mountPath: /cache}]
  shell: 'true'
""",
        spec="""
container:
  image: busybox
  volumeMounts: [{name: a, mountPath: /cache}]
pod:
  volumes: [{name: a, emptyDir: {}}, {name: b, emptyDir: {}}]
""",
    )
    objects = render_yaml(text).objects
    (step,) = named(objects, "Job", job_name("wf"))["spec"]["template"]["spec"]["initContainers"]
    assert [m["name"] for m in step["volumeMounts"] if m["mountPath"] == "/cache"] == ["b"]
    for item in objects:
        validate_strictly(item)
