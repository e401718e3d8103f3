"""Start-up of the remote CLI: `assay get executions` against `assay server`, against
`python -c pass` and the local `assay get executions` on the same store, same run.

Usage: python bench/remote.py [--runs N]

A store with a few executions is made by the local CLI, a token created, and `assay
server` (no workers) started on a free loopback port. Then each command runs as a real
process with bytecode caches in use (PYTHONDONTWRITEBYTECODE is removed, as users have
caches), interleaved, ``--runs`` times after one warm-up; medians and ratios are printed.
The remote figure includes the request: the server's answer is part of what a user waits
for. The import floors of what the remote path keeps are timed too: typer (which converts
option values with pydantic, so both), httpx as the client imports it, and assay.client.
Goal: remote `get executions` under 0.25 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from startup import NOOP, timed

GOAL_SECONDS = 0.25
HTTPX_AS_USED = "import sys; sys.modules['httpx._main'] = None; import httpx"
"""httpx as assay.client imports it: without its own command-line client (rich, pygments)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"assay server exited {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit("assay server did not answer /health in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    python, assay = sys.executable, str(Path(sys.executable).parent / "assay")
    work = Path(tempfile.mkdtemp(prefix="assay-remote-"))
    server = None
    try:
        (work / "noop.yaml").write_text(NOOP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["ASSAY_HOME"] = str(work / "home")
        if env.get("PYTHONPATH"):  # commands run in `work`: keep a relative src/ working
            parts = env["PYTHONPATH"].split(os.pathsep)
            env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in parts if p)
        for _ in range(5):  # a store with a few executions
            timed([assay, "run", "-f", str(work / "noop.yaml")], work, env)
        token = subprocess.run(
            [assay, "token", "create", "bench", "--scope", "read"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        url = f"http://127.0.0.1:{free_port()}"
        server = subprocess.Popen(
            [assay, "server", "--port", url.rsplit(":", 1)[1], "--workers", "0"],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(url, server)
        remote_env = {k: v for k, v in env.items() if k != "ASSAY_HOME"}
        remote_env.update({"ASSAY_SERVER": url, "ASSAY_TOKEN": token})
        jobs = [
            ("python -c pass", [python, "-c", "pass"], env),
            ("import typer, pydantic", [python, "-c", "import typer, pydantic"], env),
            ("import httpx (as used)", [python, "-c", HTTPX_AS_USED], env),
            ("import assay.client", [python, "-c", "import assay.client"], env),
            ("local get executions", [assay, "get", "executions"], env),
            ("remote get executions", [assay, "get", "executions"], remote_env),
        ]
        times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
        for _, argv, job_env in jobs:  # warm-up: bytecode caches, page cache
            timed(argv, work, job_env)
        for _ in range(args.runs):  # interleaved so drift hits all alike
            for name, argv, job_env in jobs:
                times[name].append(timed(argv, work, job_env))
        med = {name: statistics.median(values) for name, values in times.items()}
        floor = med["python -c pass"]
        print(f"{args.runs} runs each, medians (s); x pass = ratio to `python -c pass`")
        for name, value in med.items():
            print(f"{name:26} {value:7.3f} {value / floor:6.1f}")
        remote = med["remote get executions"]
        print(
            f"remote / local: {remote / med['local get executions']:.2f}; remote above the "
            f"floor: {remote - floor:+.3f} s; goal {GOAL_SECONDS} s: "
            + ("ok" if remote <= GOAL_SECONDS else "over")
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
