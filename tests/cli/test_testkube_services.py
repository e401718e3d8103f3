"""Conformance: Testkube's own `services` workflows on the docker runner, with their images
substituted (docs/runners.md, "Conformance").

The YAML is Testkube's, unchanged but for every `image`: `alpine/jmeter:5.6` becomes a local
image, the test image plus two small Python stand-ins called with the workflow's own
arguments (`jmeter-server` listens on `-Dserver_port`; `jmeter -R {{ services.slave.*.ip }}`
reaches every listed server and writes the `-l`/`-o` reports). Services, `count`,
`readinessProbe`, `use: distribute/evenly`, `{{ services.NAME.*.ip }}`, `content.git`,
`workingDir` and artifacts are Testkube's.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import Cli, insteadof

from assay.runners.docker import docker_client
from support import CONFORMANCE, GitRepo

TESTKUBE = CONFORMANCE / "testkube"
JMETER = TESTKUBE / "workflows" / "jmeter--smoke.yaml"
EVENLY = TESTKUBE / "templates" / "distribute--evenly.yaml"
JMETER_SERVER = """\
#!/usr/bin/python3
import socketserver, sys
port = int(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-Dserver_port=")))
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"jmeter-server ready\\n")
print(f"listening on {port}", flush=True)
socketserver.ThreadingTCPServer(("0.0.0.0", port), Echo).serve_forever()
"""
JMETER_CLIENT = """\
#!/usr/bin/python3
import os, socket, sys
argv = [a for a in sys.argv[1:] if a not in ("-n", "-X", "-e")]
options = dict(zip(argv[::2], argv[1::2]))
remotes = options["-R"].split(",")
assert open(options["-t"]).read().startswith("<jmeterTestPlan"), options["-t"]
lines = []
for host in remotes:
    with socket.create_connection((host, 1099), timeout=5) as conn:
        lines.append(f"{host},{conn.recv(100).decode().strip()}")
os.makedirs(options["-o"], exist_ok=True)
open(options["-l"], "w").write("\\n".join(lines) + "\\n")
open(os.path.join(options["-o"], "index.html"), "w").write("<html>ok</html>\\n")
print(f"remote engines: {len(remotes)}: {','.join(remotes)}")
"""


@pytest.fixture(scope="module")
def jmeter_image(docker_image: str) -> str:
    """The test image with ``jmeter`` and ``jmeter-server`` stand-ins (built once, cached
    in the daemon under a tag derived from their text)."""
    from docker.errors import ImageNotFound

    digest = hashlib.sha256((docker_image + JMETER_SERVER + JMETER_CLIENT).encode()).hexdigest()
    tag = f"assay-test-jmeter:{digest[:12]}"
    client = docker_client()
    try:
        client.images.get(tag)
    except ImageNotFound:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name, text in (("jmeter", JMETER_CLIENT), ("jmeter-server", JMETER_SERVER)):
                info = tarfile.TarInfo(f"usr/local/bin/{name}")
                info.size, info.mode = len(text.encode()), 0o755
                tar.addfile(info, io.BytesIO(text.encode()))
        container = client.containers.create(docker_image, ["true"])
        try:
            container.put_archive("/", archive.getvalue())
            repository, version = tag.split(":")
            container.commit(repository=repository, tag=version)
        finally:
            container.remove(force=True)
    finally:
        client.close()
    return tag


def substituted(doc: dict[str, Any], image: str) -> dict[str, Any]:
    """``doc`` with every ``image`` replaced by ``image``."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if "image" in out:
                out["image"] = image
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(doc)


def test_distributed_jmeter_workflows_run_with_their_services(
    cli: Cli, tmp_path: Path, git_repo: GitRepo, jmeter_image: str
) -> None:
    repo = git_repo({"test/jmeter/jmeter-executor-smoke.jmx": "<jmeterTestPlan version='1.2'/>\n"})
    insteadof(cli, repo, "https://github.com/kubeshop/testkube")
    docs = [d for d in yaml.safe_load_all(JMETER.read_text()) if d]
    wanted = ["distributed-jmeter-workflow-smoke", "distributed-jmeter-workflow-smoke-shell"]
    chosen = [substituted(d, jmeter_image) for d in docs if d["metadata"]["name"] in wanted]
    assert len(chosen) == 2
    path = tmp_path / "jmeter.yaml"
    path.write_text(yaml.safe_dump_all(chosen))
    for name in wanted:
        args = ("run", "-f", str(path), "-f", str(EVENLY), name, "--runner", "docker")
        done = cli(*args, "-o", "json")
        result = json.loads(done.stdout)
        log = cli("logs", result["id"]).stdout
        assert result["status"] == "passed", log
        assert "remote engines: 2: " in log
        ips = log.split("remote engines: 2: ", 1)[1].split()[0].split(",")
        for index, ip in enumerate(ips):
            assert f"service slave-{index}: started at {ip}" in log
            assert f"service slave-{index}: ready (tcpSocket {ip}:1099)" in log
        home = Path(cli.env["ASSAY_HOME"]) / "executions" / result["id"] / "artifacts"
        assert (home / "services" / "slave-1.log").read_text() == "listening on 1099\n"
        assert "jmeter-server ready" in (home / "jtl-report.jtl").read_text()
        client = docker_client()
        try:
            labels = {"label": f"assay.execution={result['id']}"}
            assert client.containers.list(all=True, filters=labels) == []
            assert client.networks.list(filters=labels) == []
        finally:
            client.close()
