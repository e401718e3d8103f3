"""http_service / HttpServices: start, readiness, teardown, and logs on failure."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

import pytest

from assay.testing import HttpServices, ServiceStartError

SERVER = [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_starts_serves_and_stops(tmp_path: Path) -> None:
    (tmp_path / "health").write_text("ok")
    with HttpServices(tmp_path) as services:
        site = services(SERVER, cwd=tmp_path, ready_path="health", name="site")
        with urllib.request.urlopen(f"{site.url}/health") as response:
            assert response.read() == b"ok"
        assert _alive(site.pid)
        assert services.log_files() == [("http_service log: site", site.log_path)]
    assert not _alive(site.pid)


def test_port_and_host_reach_the_command_as_env_too(tmp_path: Path) -> None:
    script = (
        "import http.server, os; "
        "http.server.HTTPServer((os.environ['HOST'], int(os.environ['PORT'])), "
        "http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    with HttpServices(tmp_path) as services:
        service = services([sys.executable, "-c", script], cwd=tmp_path)
        assert service.url == f"http://127.0.0.1:{service.port}"


def test_a_process_that_exits_early_is_reported_with_its_output(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; print('bad config: no DATABASE_URL'); sys.exit(3)",
    ]
    with HttpServices(tmp_path) as services, pytest.raises(ServiceStartError) as caught:
        services(command, name="api", timeout=30)
    message = str(caught.value)
    assert "api" in message
    assert "the process exited with code 3" in message
    assert "bad config: no DATABASE_URL" in message


def test_a_service_never_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    script = "import os, time; open('pid', 'w').write(str(os.getpid())); print('warming up')"
    command = [sys.executable, "-u", "-c", script + "; time.sleep(600)"]
    with HttpServices(tmp_path) as services:
        with pytest.raises(ServiceStartError) as caught:
            services(command, name="slow", cwd=tmp_path, timeout=2)
        message = str(caught.value)
        assert "did not become ready" in message
        assert "timed out after" in message
        assert "last exception: ConnectionRefusedError" in message
        assert "warming up" in message
        assert not _alive(int((tmp_path / "pid").read_text()))


def test_a_missing_command(tmp_path: Path) -> None:
    with pytest.raises(ServiceStartError, match="cannot start"):
        HttpServices(tmp_path)(["/nonexistent/assay-service"])
    with pytest.raises(ValueError):
        HttpServices(tmp_path)([])


FIXTURE_TESTS = """
import sys
import urllib.request

SCRIPT = '''
import http.server, os
print("hello from the service", flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])),
                       http.server.SimpleHTTPRequestHandler).serve_forever()
'''


def test_fails(http_service):
    service = http_service([sys.executable, "-c", SCRIPT], name="greeter")
    urllib.request.urlopen(service.url).close()
    assert False, "the test fails"


def test_passes(http_service):
    service = http_service([sys.executable, "-c", SCRIPT], name="quiet")
    with open("pids.txt", "a") as pids:
        pids.write(f"{service.pid}\\n")
"""


def test_fixture_attaches_logs_to_failing_tests_and_stops_services(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_svc=FIXTURE_TESTS)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*- http_service log: greeter -*", "hello from the service", "*short test summary*"]
    )
    assert "http_service log: quiet" not in result.stdout.str()
    (pid,) = (pytester.path / "pids.txt").read_text().split()
    assert not _alive(int(pid))
