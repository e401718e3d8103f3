"""`services` on the local runner: real processes on loopback, real readiness probes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from engine_support import RunWorkflow

from assay.engine.events import NullSink
from assay.engine.execution import Engine
from assay.engine.services import Probe, Timing
from assay.errors import DefinitionError
from assay.processes import pids_with_env
from assay.settings import Settings
from assay.store import Database
from assay.store.executions import ExecutionStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_of(settings: Settings, execution_id: str) -> str:
    return (settings.executions_dir / execution_id / "log.txt").read_text()


def statuses(db: Database, execution_id: str) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in ExecutionStore(db).steps(execution_id)]


WEB = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: with-web}}
spec:
  config:
    token: {{type: string, default: s3cr3t-value, sensitive: true}}
  services:
    web:
      image: ignored:1
      shell: |
        echo "serving with {{{{ config.token }}}}"
        exec python3 -m http.server {port} --bind 127.0.0.1
      readinessProbe:
        httpGet: {{path: /, port: {port}}}
        periodSeconds: 1
  steps:
    - name: fetch
      shell: |
        python3 -c "import urllib.request as u
        print(u.urlopen('http://{{{{ services.web.0.ip }}}}:{port}/').status)"
  after:
    - name: still-there
      shell: |
        python3 -c "import socket
        socket.create_connection(('{{{{ services.web.0.ip }}}}', {port}))"
"""


def test_a_service_is_ready_before_the_steps_and_gone_after(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    port = free_port()
    row = run(WEB.format(port=port))
    log = log_of(assay_home, row.id)
    assert row.status == "passed", log
    assert statuses(db, row.id) == [("fetch", "passed"), ("still-there", "passed")]
    assert "service web-0: started at 127.0.0.1" in log
    assert f"service web-0: ready (httpGet http://127.0.0.1:{port}/)" in log
    assert "\n200\n" in log  # the step's request
    kept = (assay_home.executions_dir / row.id / "artifacts" / "services" / "web-0.log").read_text()
    assert "serving with ***" in kept and "s3cr3t-value" not in kept
    assert '"GET / HTTP/1.1" 200' in kept  # the probe's and the step's requests
    kept_path = assay_home.executions_dir / row.id / "artifacts" / "services" / "web-0.log"
    assert kept_path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(OSError):  # stopped: nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert not pids_with_env("ASSAY_EXIT_FILE", str(assay_home.work_dir / row.id))


def test_a_service_that_never_gets_ready_is_an_error_naming_it_and_its_probe(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    port = free_port()
    started = time.monotonic()
    row = run(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: never-ready}\nspec:\n  services:\n    db:\n"
        "      shell: echo booting; sleep 60\n"
        f"      readinessProbe: {{tcpSocket: {{port: {port}}}, periodSeconds: 1, "
        "failureThreshold: 2}\n"
        "  steps: [{name: never, shell: 'true'}]\n"
    )
    assert time.monotonic() - started < 10
    assert row.status == "error"
    assert row.error is not None
    assert "service 'db' (instance 0) was not ready" in row.error
    assert f"tcpSocket 127.0.0.1:{port} failed 2 times" in row.error
    assert statuses(db, row.id) == []  # no step ran
    log = log_of(assay_home, row.id)
    assert "[db-0] booting" in log and "service db-0: stopped" in log


def test_the_timeout_of_a_service_bounds_its_readiness(
    run: RunWorkflow, assay_home: Settings
) -> None:
    row = run(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: slow-ready}\nspec:\n  services:\n    slow:\n"
        "      timeout: 2s\n      shell: sleep 60\n"
        "      readinessProbe: {exec: {command: [test, -e, /data/never]}, periodSeconds: 1}\n"
        "  steps: [{shell: 'true'}]\n"
    )
    assert row.status == "error" and row.error is not None
    assert "service 'slow' (instance 0) was not ready: exec test -e /data/never" in row.error
    assert "not ready within 2s (exit code 1)" in row.error


def test_instances_and_step_services_and_exec_probes(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    row = run(
        """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: many}
spec:
  config: {workers: {type: integer, default: 2}}
  services:
    pair:
      count: config.workers
      shell: touch /data/pair-{{ index }}-of-{{ count }}; sleep 60
      readinessProbe:
        exec: {command: [sh, -c, 'ls /data/pair-*-of-2']}
        periodSeconds: 1
  steps:
    - name: all-ips
      shell: test "{{ services.pair.*.ip }}" = "127.0.0.1,127.0.0.1" && ls /data/pair-1-of-2
    - name: scoped
      services:
        side: {shell: sleep 60, logs: never}
      steps:
        - name: inner
          shell: echo "side at {{ services.side.0.ip }}"
    - name: after-scope
      shell: echo "pair still at {{ services.pair.1.ip }}"
"""
    )
    log = log_of(assay_home, row.id)
    assert row.status == "passed", log
    assert statuses(db, row.id) == [
        ("all-ips", "passed"),
        ("scoped", "passed"),
        ("inner", "passed"),
        ("after-scope", "passed"),
    ]
    assert "side at 127.0.0.1" in log
    assert log.index("service side-0: stopped") < log.index("=== step after-scope ===")
    services = assay_home.executions_dir / row.id / "artifacts" / "services"
    assert sorted(p.name for p in services.iterdir()) == ["pair-0.log", "pair-1.log"]


def test_service_fields_not_honoured_are_warned_about(assay_home: Settings, db: Database) -> None:
    from engine_support import workflow

    from assay.engine.execution import RunOptions
    from assay.engine.resolve import Catalog
    from assay.runners import LocalRunner

    warnings: list[str] = []

    class Sink(NullSink):
        def warning(self, message: str) -> None:
            warnings.append(message)

    engine = Engine(assay_home, db, LocalRunner(grace_seconds=0.5), Catalog(), Sink())
    row = engine.run(
        workflow(
            "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
            "metadata: {name: warned}\nspec:\n  services:\n    s:\n"
            "      shell: sleep 30\n      transfer: [{from: /data}]\n"
            "      pod: {labels: {a: b}}\n  steps: [{shell: 'true'}]\n"
        ),
        RunOptions(),
    )
    assert row.status == "passed"
    assert "spec.services.s: `transfer` is not supported yet; ignored" in warnings
    assert "spec.services.s: `pod` is not supported yet; ignored" in warnings


def test_a_step_cannot_use_a_service_of_another_scope(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    row = run(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: scoped}\nspec:\n  steps:\n"
        "    - {name: one, services: {s: {shell: sleep 60}}, shell: 'true'}\n"
        "    - {name: two, shell: 'echo {{ services.s.0.ip }}'}\n"
    )
    assert row.status == "error"
    assert statuses(db, row.id) == [("one", "passed"), ("two", "error")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "needs exactly one of tcpSocket, httpGet, exec"),
        ({"tcpSocket": {"port": 1}, "exec": {"command": ["x"]}}, "(found tcpSocket, exec)"),
        ({"httpGet": {"path": "/"}}, "where.httpGet.port is required"),
        ({"tcpSocket": {"port": "http"}}, "where.tcpSocket.port: 'http' is not a port number"),
        ({"exec": {"command": "true"}}, "where.exec.command: a list of strings is required"),
        ({"tcpSocket": {"port": 1}, "periodSeconds": 0}, "where.periodSeconds: 0 is not a num"),
        ({"httpGet": {"port": 1, "scheme": "FTP"}}, "'FTP' is not HTTP or HTTPS"),
    ],
)
def test_bad_probes_are_definition_errors_naming_the_field(raw: dict, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        Probe.parse(raw, "where")
    assert message in str(caught.value)


def test_probe_defaults_are_kubernetes_ones() -> None:
    probe = Probe.parse({"httpGet": {"port": 8080}}, "where")
    assert probe.timing == Timing(0.0, 10.0, 1.0, 1, 3)
    assert probe.describe("10.0.0.2") == "httpGet http://10.0.0.2:8080/"


def test_an_http_probe_fails_on_an_error_status(tmp_path: Path) -> None:
    import http.server
    import threading

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = Probe.parse({"httpGet": {"port": server.server_port, "path": "/h"}}, "w")
        assert probe.check("127.0.0.1", lambda cmd, t: 0) == "HTTP status 503"
    finally:
        server.shutdown()


def test_a_bad_probe_is_refused_before_anything_is_recorded(run: RunWorkflow, db: Database) -> None:
    with pytest.raises(DefinitionError) as caught:
        run(
            "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
            "metadata: {name: bad-probe}\nspec:\n  steps:\n"
            "    - {name: s, shell: 'true', services: {db: {shell: 'sleep 1', "
            "readinessProbe: {tcpSocket: {port: 0}}}}}\n"
        )
    assert str(caught.value) == (
        "spec.steps[0].services.db.readinessProbe.tcpSocket.port: 0 is not a port number"
    )
    assert ExecutionStore(db).recent() == []


SLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: slow-with-service}
spec:
  job: {activeDeadlineSeconds: DEADLINE}
  services:
    bg: {shell: exec sleep 300}
  steps:
    - {name: long, shell: 'echo long-started; sleep 60'}
  after:
    - {name: cleanup, condition: always, shell: 'echo "cleanup sees {{ services.bg.0.ip }}"'}
"""


def test_services_are_stopped_at_the_deadline(
    run: RunWorkflow, db: Database, assay_home: Settings
) -> None:
    row = run(SLOW.replace("DEADLINE", "2"))
    assert row.status == "timeout"
    log = log_of(assay_home, row.id)
    assert log.index("timed out after") < log.index("service bg-0: stopped")
    assert not pids_with_env("ASSAY_EXIT_FILE", str(assay_home.work_dir / row.id))


def test_services_are_stopped_on_abort(engine: Engine, db: Database, assay_home: Settings) -> None:
    import threading

    from engine_support import workflow

    from assay.engine.execution import RunOptions

    def abort_once_running() -> None:
        for _ in range(200):
            found = list(assay_home.executions_dir.glob("*/log.txt"))
            if found and "long-started" in found[0].read_text():
                break
            time.sleep(0.05)
        engine.cancel("stopped by the test")

    threading.Thread(target=abort_once_running, daemon=True).start()
    row = engine.run(workflow(SLOW.replace("DEADLINE", "120")), RunOptions())
    assert row.status == "aborted"
    assert statuses(db, row.id) == [("long", "aborted"), ("cleanup", "passed")]
    log = log_of(assay_home, row.id)
    assert "cleanup sees 127.0.0.1" in log and "service bg-0: stopped" in log
    assert not pids_with_env("ASSAY_EXIT_FILE", str(assay_home.work_dir / row.id))
