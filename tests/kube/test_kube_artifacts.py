"""Artifacts on the Kubernetes runner: copied inside the Pod by the entry script (confined to
/data), streamed framed by the result container, decoded on this machine (confined to the
execution's artifacts, whatever the Pod prints)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from kube_support import IDENTITY, render_yaml, run_pod, validate_strictly, workflow
from standin import StandIn

from assay.kube.artifacts import ArtifactReceiver
from assay.kube.model import ARTIFACTS_LIMIT, PlanOptions
from assay.kube.render import entry_script
from assay.settings import Settings
from support import Cli

BINARY = bytes(range(256)) * 3 + b"\n\r\x00end"
STEPS = """
- name: prepare
  shell: mkdir -p /data/repo
- name: make
  workingDir: /data/repo
  shell: |
    mkdir -p out/sub
    echo '<testsuite><testcase classname="c" name="t_artifact"/></testsuite>' >out/report.xml
    printf '{binary}' > out/sub/bin.dat
    echo hidden > out/.hidden
    ln -s /etc/passwd out/passwd
    ln -s report.xml out/inner
  artifacts:
    paths: ["out/**", "../../x", "/etc/hostname"]
"""


def _printf(data: bytes) -> str:
    return "".join(f"\\{byte:03o}" for byte in data)


def _steps() -> str:
    return STEPS.format(binary=_printf(BINARY))


# -- in the Pod: the entry script, run for real with each shell ---------------------------


@pytest.mark.parametrize("shell", [("/bin/sh",), ("busybox", "sh"), ("bash",)])
def test_the_pod_copies_only_files_inside_data_and_reports_the_rest(
    tmp_path: Path, shell: tuple[str, ...]
) -> None:
    if shell[0] != "/bin/sh" and not any(
        (Path(part) / shell[0]).exists() for part in os.environ["PATH"].split(os.pathsep)
    ):
        pytest.skip(f"no {shell[0]}")
    pod = run_pod(render_yaml(workflow(_steps())).objects, IDENTITY.job_name, tmp_path, shell=shell)
    assert pod.status("2") == "passed", pod.logs
    kept = tmp_path / "data" / ".assay" / "artifacts" / "2"
    names = sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file())
    assert names == ["out/inner", "out/report.xml", "out/sub/bin.dat"]  # no .hidden, no link out
    assert (kept / "out" / "sub" / "bin.dat").read_bytes() == BINARY
    refused = (tmp_path / "data" / ".assay" / "refused" / "2").read_text()
    assert "out/passwd links to /etc/passwd, outside the workspace" in refused
    assert f"../../x: {tmp_path}/x is outside the workspace" in refused
    assert "/etc/hostname: /etc/hostname is outside the workspace" in refused
    # the result container sends what was kept, framed, and what was refused
    received = ArtifactReceiver(tmp_path / "host", str, ARTIFACTS_LIMIT)
    plain = [line for line in pod.logs["result"].splitlines() if not received.take(line)]
    assert len(plain) == 1 and plain[0].startswith('{"status"')
    warnings = received.close()
    assert sorted(received.kept) == ["out/inner", "out/report.xml", "out/sub/bin.dat"]
    assert (tmp_path / "host" / "out" / "sub" / "bin.dat").read_bytes() == BINARY
    assert len(warnings) == 3 and all("not collected" in w for w in warnings)


def test_the_pod_keeps_to_the_size_cap_across_steps(tmp_path: Path) -> None:
    text = workflow("""
- shell: head -c 600 /dev/zero > /data/a.bin
  artifacts: {paths: [a.bin]}
- shell: head -c 600 /dev/zero > /data/b.bin; head -c 300 /dev/zero > /data/c.bin
  artifacts: {paths: ["*.bin"]}
""")
    rendered = render_yaml(text)
    job = rendered.objects[-1]
    for container in job["spec"]["template"]["spec"]["initContainers"]:
        container["args"].insert(1, "cap=1000")  # as ASSAY_KUBERNETES_ARTIFACTS_LIMIT=1000
    pod = run_pod(rendered.objects, IDENTITY.job_name, tmp_path)
    assert pod.status("2") == "passed", pod.logs
    state = tmp_path / "data" / ".assay"
    assert (state / "artifacts" / "1" / "a.bin").stat().st_size == 600
    kept = sorted(p.name for p in (state / "artifacts" / "2").iterdir())
    assert kept == ["c.bin"]  # a.bin again and b.bin would pass 1000 bytes in all
    assert "would exceed the limit of 1000 bytes" in (state / "refused" / "2").read_text()


# -- on this machine: the Pod is not trusted ----------------------------------------------


def _frame(name: str, data: bytes, size: int | None = None, digest: str | None = None) -> list[str]:
    encoded = base64.b64encode(data).decode()
    return [
        f"assay-artifact 1 {name}",
        *(f"+{encoded[i : i + 76]}" for i in range(0, len(encoded), 76)),
        f"assay-artifact-end {len(data) if size is None else size} "
        f"{digest or hashlib.sha256(data).hexdigest()}",
    ]


def test_hostile_result_lines_never_write_outside_the_artifacts(tmp_path: Path) -> None:
    target = tmp_path / "home" / "artifacts"
    outside = tmp_path / "home" / "escaped"
    (tmp_path / "home").mkdir()
    target.mkdir()
    (target / "link").symlink_to(tmp_path / "home")
    received = ArtifactReceiver(target, lambda text: text.replace("s3cret", "***"), 100)
    lines = [
        *_frame("../escaped", b"x"),
        *_frame("../../escaped", b"x"),
        *_frame(str(outside), b"x"),
        *_frame("a/../../escaped", b"x"),
        *_frame("link/escaped", b"x"),
        *_frame("link/new/escaped", b"x"),
        *_frame("ok/report.txt", b"token s3cret\n"),
        *_frame("bad-sum", b"abc", digest="0" * 64),
        *_frame("bad-size", b"abc", size=4),
        *_frame("too-big", b"y" * 101),
        *_frame("cut", b"abc")[:2],
        "assay-artifact 1 huge",
        "+" + "QUFB" * 1_000_000,  # refused before it is decoded
        "assay-artifact-end 3000000 -",
        "assay-artifact-refused 1 out/x: /etc/passwd is outside the workspace",
    ]
    assert all(received.take(line) for line in lines)
    assert not received.take('{"status": "passed", "steps": {}}')
    warnings = received.close()
    assert received.kept == ["ok/report.txt"]
    assert (target / "ok" / "report.txt").read_text() == "token ***\n"  # masked as elsewhere
    assert not outside.exists() and not (tmp_path / "escaped").exists()
    assert not (tmp_path / "home" / "link").exists()
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["artifacts"]
    text = "\n".join(warnings)
    assert sorted(p.name for p in target.iterdir()) == ["link", "ok"]
    for name in ("../escaped", str(outside), "a/../../escaped", "link/escaped", "link/new/escaped"):
        assert repr(name) in text
    assert "sha256 does not match" in text and "3 bytes received" in text
    assert "'too-big': over the limit of 100 bytes" in text and "'cut': incomplete" in text
    assert "'huge': over the limit" in text
    assert "not collected: out/x: /etc/passwd is outside the workspace" in text


def test_the_entry_scripts_default_cap_is_the_runners() -> None:
    assert f"cap={ARTIFACTS_LIMIT}\n" in entry_script()


# -- rendering --------------------------------------------------------------------------------


def test_artifacts_render_as_entry_options_and_still_validate() -> None:
    text = workflow(
        """
- name: group
  workingDir: /data/repo
  artifacts: {workingDir: reports, paths: ["*.xml"]}
  steps:
  - shell: echo one
    artifacts: {paths: ["out/**", "{{ config.extra }}"]}
""",
        spec="config: {extra: {type: string, default: more.txt}}",
    )
    rendered = render_yaml(text)
    for item in rendered.objects:
        validate_strictly(item)
    (container,) = rendered.objects[-1]["spec"]["template"]["spec"]["initContainers"]
    args = container["args"]
    assert "artifacts=out/**\nmore.txt\n/data/reports/*.xml" in args
    assert "artdir=/data/repo" in args
    assert not any(arg.startswith("cap=") for arg in args)  # the default


def test_a_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_KUBERNETES_ARTIFACTS_LIMIT", "1000")
    assert PlanOptions.from_env("ns").artifacts_limit == 1000
    monkeypatch.setenv("ASSAY_KUBERNETES_ARTIFACTS_LIMIT", "5MB")
    with pytest.raises(Exception, match="not a number of bytes"):
        PlanOptions.from_env("ns")


# -- end to end through the stand-in ----------------------------------------------------------

LIVE = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: kube-artifacts}}
spec:
  container: {{image: "{image}"}}
  steps:
"""


@pytest.fixture
def cli(assay_home: Settings, tmp_path: Path, standin: StandIn) -> Cli:
    env = {**os.environ, "ASSAY_HOME": str(assay_home.home), "KUBECONFIG": str(standin.kubeconfig)}
    env.pop("PYTEST_ADDOPTS", None)
    return Cli(env, tmp_path)


def test_artifacts_of_a_live_run_are_listed_and_downloaded_byte_identical(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    steps = "".join("  " + line + "\n" for line in _steps().strip("\n").splitlines())
    wf = tmp_path / "wf.yaml"
    wf.write_text(LIVE.format(image=docker_image) + steps, encoding="utf-8")
    done = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", "tests", "-o", "json")
    assert done.returncode == 0, done.stderr
    execution = json.loads(done.stdout)["id"]
    listed = cli("artifacts", execution).stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == [
        "out/inner",
        "out/report.xml",
        "out/sub/bin.dat",
    ]
    cli("artifacts", execution, "--download", str(tmp_path / "got"))
    assert (tmp_path / "got" / "out" / "sub" / "bin.dat").read_bytes() == BINARY
    assert "t_artifact" in (tmp_path / "got" / "out" / "report.xml").read_text()
    cases = cli.json("get", "testcases", execution)  # JUnit among artifacts, as elsewhere
    assert [(c["name"], c["status"]) for c in cases] == [("t_artifact", "passed")]
    log = cli("logs", execution, check=0).stdout
    assert "assay-artifact" not in log and "+" + base64.b64encode(BINARY).decode()[:20] not in log
    assert "artifacts: not collected: out/**: /data/repo/out/passwd links to /etc/passwd" in log
    assert "artifacts: not collected: ../../x: /x is outside the workspace" in log
    assert "not collected: out/**" in done.stderr  # warned, as the other runners do
    home = Path(cli.env["ASSAY_HOME"])
    assert not any(home.rglob("passwd")) and not any(home.rglob("hostname"))


def test_artifacts_past_the_limit_are_refused_with_a_warning(
    cli: Cli, standin: StandIn, docker_image: str, tmp_path: Path
) -> None:
    steps = "".join("  " + line + "\n" for line in _steps().strip("\n").splitlines())
    wf = tmp_path / "wf.yaml"
    wf.write_text(LIVE.format(image=docker_image) + steps, encoding="utf-8")
    cli.env["ASSAY_KUBERNETES_ARTIFACTS_LIMIT"] = "500"
    done = cli("run", "-f", str(wf), "--runner", "kubernetes", "--namespace", "tests", "-o", "json")
    assert done.returncode == 0, done.stderr
    execution = json.loads(done.stdout)["id"]
    listed = [line.split("\t")[0] for line in cli("artifacts", execution).stdout.splitlines()]
    assert sorted(listed) == ["out/inner", "out/report.xml"]  # bin.dat would pass 500 bytes
    warning = f"out/sub/bin.dat: {len(BINARY)} bytes would exceed the limit of 500 bytes"
    assert warning in done.stderr
    assert warning in cli("logs", execution, check=0).stdout
