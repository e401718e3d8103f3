"""`services` run live by `assay run --runner kubernetes` against the API stand-in: a headless
Service and a Pod per instance, awaited until Ready (the stand-in kubelet runs the
readinessProbe), reached from the Job's Pod by their DNS names, their logs kept as artifacts,
everything deleted at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standin import StandIn
from test_live import NS, left_behind, wait_until_gone, write

from support import Cli

SERVED = "served-by-the-web-service"

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: kube-services}}
spec:
  container:
    image: "{image}"
  services:
    web:
      image: "{image}"
      shell: >-
        mkdir -p /srv && echo SERVED > /srv/index.txt && cd /srv
        && exec python3 -m http.server 8000
      readinessProbe:
        httpGet: {{path: /index.txt, port: 8000}}
        periodSeconds: 1
  steps:
    - name: fetch
      container:
        env:
          - {{name: WEB, value: "{{{{ services.web.0.ip }}}}"}}
      shell: |
        python3 - <<'PY'
        import os, urllib.request
        fqdn = os.environ["WEB"]  # web-0.SERVICE.NAMESPACE.svc.cluster.local
        short, service = ".".join(fqdn.split(".")[:2]), fqdn.split(".")[1]
        for name, host in (("fqdn", fqdn), ("short", short), ("service", service)):
            body = urllib.request.urlopen(f"http://{{host}}:8000/index.txt").read()
            print(name, host, body.decode().strip())
        PY
""".replace("SERVED", SERVED)


def run(cli: Cli, path: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    done = cli("run", "-f", str(path), "--runner", "kubernetes", "--namespace", NS, "-o", "json",
               *extra)  # fmt: skip
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_a_service_is_ready_before_the_steps_and_reached_by_its_dns_names(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    code, result, stderr = run(cli, write(tmp_path, docker_image, WORKFLOW))
    assert code == 0, (stderr, result)
    assert result["status"] == "passed"
    log = cli("logs", str(result["id"]), check=0).stdout
    # {{ services.web.0.ip }} is the Pod's DNS name; its short form and the headless
    # Service's name (all its ready Pods) resolve too, as in a cluster
    assert f".{NS}.svc.cluster.local {SERVED}" in log, log
    assert all(f"{name} web-0." in log or name == "service" for name in ("fqdn", "short")), log
    assert log.count(SERVED) == 3, log
    assert "service 'web' (instance 0): ready" in log
    kept = Path(cli.env["ASSAY_HOME"]) / "executions" / str(result["id"]) / "artifacts"
    served_log = (kept / "services" / "web-0.log").read_text(encoding="utf-8")
    assert "GET /index.txt" in served_log
    assert oct((kept / "services" / "web-0.log").stat().st_mode & 0o777) == "0o600"
    posts = [
        path.split("?")[0].rsplit("/", 1)[-1] for m, path in standin.api.requests if m == "POST"
    ]
    assert posts == ["configmaps", "services", "pods", "jobs"]
    deletes = [path for method, path in standin.api.requests if method == "DELETE"]
    assert any("/services/" in path for path in deletes)
    assert wait_until_gone(standin) == {} and standin.objects("Service") == []


NOT_READY = [
    # nothing listens on the probe's port: never ready; the limit from the environment
    pytest.param(("port: 8000}", "port: 8001}"), "4", "was not ready within 4s", id="env"),
    # ... or from the service's own `timeout`
    pytest.param(
        ("port: 8000}", "port: 8001}", "periodSeconds: 1", "periodSeconds: 1\n      timeout: 3s"),
        "600",
        "was not ready within 3s",
        id="service-timeout",
    ),
    # the service's container ends first: an error at once
    pytest.param(
        ("&& exec python3 -m http.server 8000", "&& exit 3"),
        "600",
        "ended before it was ready (exit code 3, Error)",
        id="ended",
    ),
]


@pytest.mark.parametrize(("change", "timeout", "expected"), NOT_READY)
def test_a_service_that_is_not_ready_is_an_error_naming_it(
    cli: Cli,
    standin: StandIn,
    docker_image: str,
    tmp_path: Path,
    change: tuple[str, ...],
    timeout: str,
    expected: str,
) -> None:
    text = WORKFLOW
    for old, new in zip(change[::2], change[1::2], strict=True):
        text = text.replace(old, new)
    assert text != WORKFLOW
    cli.env["ASSAY_KUBERNETES_SERVICE_TIMEOUT"] = timeout
    code, result, stderr = run(cli, write(tmp_path, docker_image, text))
    assert code == 3, (stderr, result)
    assert result["status"] == "error"
    error = str(result["error"])
    assert error.startswith("service 'web' (instance 0): Pod kube-services-"), error
    assert expected in error, error
    steps = {step["name"]: step["status"] for step in result["steps"]}  # type: ignore[attr-defined]
    assert steps == {"fetch": "skipped"}
    assert not any(path.endswith("/jobs") for m, path in standin.api.requests if m == "POST")
    assert wait_until_gone(standin) == {} and standin.objects("Service") == []
    assert left_behind(standin) == {}
