"""Conformance: Testkube's own `services` and `parallel` workflows on the docker runner, with
their images substituted (docs/runners.md, "Conformance").

The YAML is Testkube's, unchanged but for every `image`, which becomes a local image: the
test image plus small Python stand-ins for the tool, called with the workflow's own
arguments. `alpine/jmeter:5.6`: `jmeter-server` listens on `-Dserver_port`; `jmeter -R {{
services.slave.*.ip }}` reaches every listed server and writes the `-l`/`-o` reports.
`locustio/locust:2.32.3`: `locust --master` listens on 5557 and writes its `--html` report;
`locust --worker --master-host {{ services.master.0.ip }}` reports its `/data` and
directory to the master. Services, `count`, `readinessProbe`, `use: distribute/evenly`,
`{{ services.NAME.*.ip }}`, `parallel` with `transfer`, `content.git`, `workingDir` and
artifacts are Testkube's.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

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


LOCUST = """\
#!/usr/bin/python3
import os, socket, socketserver, sys
args = sys.argv[1:]
if "--master" in args:
    class Hello(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline().decode().strip()
            if line:
                print(f"worker connected: {line}", flush=True)
    html = next(a for a in args if a.startswith("--html=")).split("=", 1)[1]
    assert os.path.exists("locust_test.py"), os.getcwd()
    open(html, "w").write("<html>locust report</html>\\n")
    print("master listening on 5557", flush=True)
    socketserver.ThreadingTCPServer(("0.0.0.0", 5557), Hello).serve_forever()
host = args[args.index("--master-host") + 1]
with socket.create_connection((host, 5557), timeout=5) as conn:
    conn.sendall(f"{sorted(os.listdir('/data'))} {os.getcwd()}\\n".encode())
print(f"worker reported to {host}")
"""


def tool_image(base: str, name: str, tools: dict[str, str]) -> str:
    """``base`` with ``tools`` (name -> script) in ``/usr/local/bin``: built once, cached in
    the daemon under a tag derived from their text; never pulled."""
    from docker.errors import ImageNotFound

    digest = hashlib.sha256(repr((base, sorted(tools.items()))).encode()).hexdigest()
    tag = f"assay-test-{name}:{digest[:12]}"
    client = docker_client()
    try:
        client.images.get(tag)
    except ImageNotFound:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for tool, text in tools.items():
                info = tarfile.TarInfo(f"usr/local/bin/{tool}")
                info.size, info.mode = len(text.encode()), 0o755
                tar.addfile(info, io.BytesIO(text.encode()))
        container = client.containers.create(base, ["true"])
        try:
            container.put_archive("/", archive.getvalue())
            repository, version = tag.split(":")
            container.commit(repository=repository, tag=version)
        finally:
            container.remove(force=True)
    finally:
        client.close()
    return tag


def left_in_docker(execution_id: str) -> tuple[list[Any], list[Any]]:
    client = docker_client()
    try:
        labels = {"label": f"assay.execution={execution_id}"}
        return (
            list(client.containers.list(all=True, filters=labels)),
            list(client.networks.list(filters=labels)),
        )
    finally:
        client.close()


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
    cli: Cli, tmp_path: Path, git_repo: GitRepo, docker_image: str
) -> None:
    tools = {"jmeter": JMETER_CLIENT, "jmeter-server": JMETER_SERVER}
    jmeter_image = tool_image(docker_image, "jmeter", tools)
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
        assert left_in_docker(result["id"]) == ([], [])


def test_distributed_locust_runs_parallel_workers_against_its_master_service(
    cli: Cli, tmp_path: Path, git_repo: GitRepo, docker_image: str
) -> None:
    project = "test/locust/locust-project"
    repo = git_repo({f"{project}/locust_test.py": "# the locustfile\n", "README.md": "x\n"})
    insteadof(cli, repo, "https://github.com/kubeshop/testkube")
    source = TESTKUBE / "workflows" / "locust--smoke.yaml"
    docs = [d for d in yaml.safe_load_all(source.read_text()) if d]
    [doc] = [d for d in docs if d["metadata"]["name"] == "distributed-locust-workflow-smoke"]
    path = tmp_path / "locust.yaml"
    path.write_text(
        yaml.safe_dump(substituted(doc, tool_image(docker_image, "locust", {"locust": LOCUST})))
    )
    args = ("run", "-f", str(path), "-f", str(EVENLY), doc["metadata"]["name"])
    done = cli(*args, "--runner", "docker", "-o", "json")
    result = json.loads(done.stdout)
    log = cli("logs", result["id"]).stdout
    assert result["status"] == "passed", log
    ip = log.split("service master-0: started at ", 1)[1].split()[0]
    assert f"service master-0: ready (tcpSocket {ip}:5557)" in log
    assert log.count(f"worker reported to {ip}") == 2  # config.workers: 2
    home = Path(cli.env["ASSAY_HOME"]) / "executions" / result["id"] / "artifacts"
    master = (home / "services" / "master-0.log").read_text()
    # each worker has its own /data, holding only what `transfer` copied: /data/repo
    assert master.count(f"worker connected: ['repo'] /data/repo/{project}") == 2
    assert "`parallel.paused` is ignored: workers start as soon as a slot is free" in done.stderr
    assert "spec.services.master: `transfer` is not supported yet" in done.stderr
    assert left_in_docker(result["id"]) == ([], [])
