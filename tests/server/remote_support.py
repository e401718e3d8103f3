"""The `assay` CLI in remote mode against a real `assay server` on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading

from server_support import ApiServer
from support import ASSAY

JUNIT = (
    '<testsuite name="s" tests="2">'
    '<testcase classname="m" name="test_ok" time="0.01"/>'
    '<testcase classname="m" name="test_bad" time="0.02">'
    '<failure message="boom">trace</failure></testcase></testsuite>'
)

MIXED = f"""\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {{name: mixed}}
spec:
  steps:
  - name: tests
    shell: |
      mkdir -p /data/artifacts/sub
      echo '{JUNIT}' > /data/artifacts/junit.xml
      echo 'notes' > /data/artifacts/sub/notes.txt
      echo 'line one'; echo 'line two'
      exit 1
    artifacts:
      paths: ["/data/artifacts/**"]
"""

PASSING = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: passing}
spec:
  steps:
  - name: hello
    shell: echo hello from passing
"""


def remote_env(
    server: ApiServer,
    token: str | None = "admin",
    url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the CLI in remote mode: ASSAY_SERVER and the token of ``token``
    (a scope, or a literal token when not one), and no local store (ASSAY_HOME is
    elsewhere, and must stay untouched)."""
    env = {k: v for k, v in server.env.items() if not k.startswith("ASSAY_")}
    env["ASSAY_HOME"] = str(server.home.parent / "client-home")
    env["ASSAY_SERVER"] = server.url if url is None else url
    if token is not None:
        env["ASSAY_TOKEN"] = server.tokens.get(token, token)
    env.update(extra_env or {})
    return env


def remote(
    server: ApiServer,
    *args: str,
    token: str | None = "admin",
    url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`assay ARGS` in remote mode (:func:`remote_env`), in the directory beside the
    server's home."""
    return subprocess.run(
        [ASSAY, *args],
        env=remote_env(server, token, url, extra_env),
        cwd=server.home.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def no_traceback(done: subprocess.CompletedProcess[str]) -> str:
    """The one line of stderr, checked to be one line without a traceback."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def client_home_untouched(server: ApiServer) -> bool:
    """Remote commands never create the local store."""
    return not (server.home.parent / "client-home").exists() and not os.environ.get("ASSAY_SERVER")


class CuttingProxy:
    """A TCP proxy on loopback in front of a server that closes each of its first ``cuts``
    connections once ``cut_after`` bytes of the answer went through (a network drop in
    the middle of an event stream); later connections pass whole."""

    def __init__(self, target: str, cut_after: int, cuts: int = 1) -> None:
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.cut_after, self.cuts = cut_after, cuts
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections += 1
            limit = self.cut_after if self.connections <= self.cuts else None
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, limit), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while chunk := source.recv(256):
                if limit is not None and sent + len(chunk) >= limit:
                    sink.sendall(chunk[: limit - sent])
                    break
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.listener.close()
