"""Crash recovery, signals, concurrent runs and storage faults, on the real `assay` command.

Storage faults are real filesystems: a read-only bind mount or a small tmpfs, mounted in a
private mount namespace (``unshare``) of the command under test, so nothing leaks to the
host, and root (who ignores permission bits) meets them too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import ASSAY, Cli

SLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: slow}}
spec:
  steps:
    - shell: echo $$ > {pid}; sleep 120
  after:
    - condition: always
      shell: echo cleaned > {cleaned}
    - shell: echo ran > {never}
"""


def _running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_slow(cli: Cli, tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """`assay run` of a workflow whose step sleeps; returns the run and the step's pid."""
    pidfile = tmp_path / "pid"
    path = tmp_path / "slow.yaml"
    path.write_text(
        SLOW.format(pid=pidfile, cleaned=tmp_path / "cleaned", never=tmp_path / "never")
    )
    proc = subprocess.Popen(
        [ASSAY, "run", "-f", str(path)],
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(pidfile, proc)
    return proc, int(pidfile.read_text())


def _wait_for(marker: Path, proc: subprocess.Popen[str]) -> None:
    """Until a step has written ``marker`` (its pid)."""
    deadline = time.monotonic() + 300  # generous: CI machines can be very busy
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline, f"{marker.name} never appeared"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


def _home(cli: Cli) -> Path:
    return Path(cli.env["ASSAY_HOME"])


def test_kill_9_then_the_next_command_stops_the_orphans_and_aborts(
    cli: Cli, tmp_path: Path
) -> None:
    proc, step_pid = _start_slow(cli, tmp_path)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=30)
    time.sleep(0.3)
    assert _running(step_pid), "the step should outlive a killed assay (its own group)"
    [workspace] = list((_home(cli) / "work").iterdir())

    executions = cli.json("get", "executions")  # any command that opens the store
    assert not _running(step_pid)
    [execution] = executions
    assert execution["status"] == "aborted"
    assert "ended while it was running" in execution["error"]
    assert "1 task process group(s) stopped" in execution["error"]
    assert not workspace.exists()
    assert not (tmp_path / "cleaned").exists()  # no one left to run `after` steps
    log = cli("logs", execution["name"], check=0).stdout
    assert "aborted: the assay process that ran it" in log


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_aborts_runs_always_steps_and_exits(
    cli: Cli, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    proc, step_pid = _start_slow(cli, tmp_path)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (out, err)
    assert (
        err.strip().splitlines()[-1]
        == f"error: interrupted by {sig.name}: execution slow-1 aborted"
    )
    assert "Traceback" not in err
    assert (tmp_path / "cleaned").read_text() == "cleaned\n"  # condition: always ran
    assert not (tmp_path / "never").exists()
    assert not _running(step_pid)
    [execution] = cli.json("get", "executions")
    assert execution["status"] == "aborted"
    assert execution["error"] == f"interrupted by {sig.name}"
    steps = cli.json("get", "execution", execution["name"])["steps"]
    assert [s["status"] for s in steps] == ["aborted", "passed", "aborted"]
    assert not (_home(cli) / "work" / execution["id"]).exists()


def test_a_second_signal_stops_the_always_steps_too(cli: Cli, tmp_path: Path) -> None:
    cleanup = tmp_path / "cleanup-started"
    path = tmp_path / "stuck.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\nkind: TestWorkflow\n"
        "metadata: {name: stuck}\nspec:\n  steps:\n"
        f"    - shell: echo $$ > {tmp_path / 'pid'}; sleep 120\n"
        "  after:\n    - condition: always\n"
        f"      shell: echo $$ > {cleanup}; sleep 120\n"
    )
    proc = subprocess.Popen(
        [ASSAY, "run", "-f", str(path)],
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(tmp_path / "pid", proc)
    proc.send_signal(signal.SIGTERM)
    _wait_for(cleanup, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)  # not the 10 s grace, let alone 120 s
    assert proc.returncode == 143, (out, err)
    assert not _running(int(cleanup.read_text()))
    steps = cli.json("get", "execution", "stuck-1")["steps"]
    assert [s["status"] for s in steps] == ["aborted", "aborted"]


QUICK = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: quick}
spec:
  steps:
    - shell: echo hello
"""


@pytest.mark.slow
def test_thirty_runs_at_once_on_a_new_home_all_succeed(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK)
    assert not _home(cli).exists()
    procs = [
        subprocess.Popen(
            [ASSAY, "run", "-f", str(path), "-o", "json"],
            env=cli.env,
            cwd=cli.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(30)
    ]
    names = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        names.append(json.loads(out)["name"])
    assert sorted(names) == sorted(f"quick-{n}" for n in range(1, 31))


def _in_namespace(cli: Cli, mounts: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `assay ARGS` after ``mounts`` (shell commands) in a private mount namespace."""
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-r", "--mount"]
    return subprocess.run(
        [*unshare, "sh", "-ec", f'{mounts}\nexec "$@"', "sh", ASSAY, *args],
        env=cli.env,
        cwd=cli.cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _read_only(path: Path) -> str:
    return f"mount --bind '{path}' '{path}'\nmount -o remount,bind,ro '{path}'"


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 3, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("get", "executions"),
        ("secret", "set", "token", "key=value"),
        ("run", "-f", "{quick}"),
        ("apply", "-f", "{quick}"),
        ("import", "{junit}", "--workflow", "wf"),
    ],
    ids=lambda args: "-".join(a for a in args if not a.startswith("{")),
)
def test_a_read_only_home_is_one_line_and_exit_3(
    cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "quick.yaml").write_text(QUICK)
    (tmp_path / "junit.xml").write_text('<testsuite name="s"><testcase name="t"/></testsuite>')
    cli("apply", "-f", str(tmp_path / "quick.yaml"), check=0)  # an existing store
    home = _home(cli)
    values = {"quick": str(tmp_path / "quick.yaml"), "junit": str(tmp_path / "junit.xml")}
    done = _in_namespace(cli, _read_only(home), *(a.format(**values) for a in args))
    line = _one_line(done)
    assert str(home) in line
    assert "read-only file system" in line.lower()


def test_an_unwritable_executions_directory_records_the_execution_as_error(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "quick.yaml").write_text(QUICK)
    executions = _home(cli) / "executions"
    executions.mkdir(parents=True)
    done = _in_namespace(cli, _read_only(executions), "run", "-f", str(tmp_path / "quick.yaml"))
    line = _one_line(done)
    assert str(executions) in line and "Read-only file system" in line
    [execution] = cli.json("get", "executions")
    assert execution["status"] == "error"  # not left queued
    assert execution["error"] == line.removeprefix("error: ")


FILLER = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: filler}
spec:
  steps:
    - shell: head -c 64M /dev/zero > fill || true; echo after the disk filled
"""


def test_a_full_disk_mid_run_records_error_with_the_cause(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "filler.yaml").write_text(FILLER)
    home = _home(cli)
    home.mkdir(parents=True)
    cli.env["ASSAY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'store.db'}"  # on another disk
    mount = f"mount -t tmpfs -o size=8m tmpfs '{home}'"
    done = _in_namespace(cli, mount, "run", "-f", str(tmp_path / "filler.yaml"), "-o", "json")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error"
    assert "No space left on device" in result["error"]
    assert str(home) in result["error"]
