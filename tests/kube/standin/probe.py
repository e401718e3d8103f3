"""The stand-in kubelet's readiness prober: a container's ``readinessProbe``, run as the
kubelet runs it, its outcome reported through a callback.

``exec`` runs the command in the container (``docker exec``, exit 0 is success);
``tcpSocket`` connects from this machine to the container's address (or ``host``);
``httpGet`` expects a status from 200 to 399 (``scheme``, ``host``, ``path``,
``httpHeaders``). A ``port`` may name one of the container's ``ports``. Timing as Kubernetes
defines it: the first probe after ``initialDelaySeconds`` (0), then every ``periodSeconds``
(10), each allowed ``timeoutSeconds`` (1); ready after ``successThreshold`` (1) successes in a
row, not ready after ``failureThreshold`` (3) failures in a row.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

__all__ = ["Prober"]


class Prober:
    """Probes one container until :meth:`stop`; ``report(ready)`` at every change."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        address: str,
        container: dict[str, Any],
        report: Callable[[bool], None],
    ) -> None:
        self.client = client
        self.container_id = container_id
        self.address = address
        self.container = container
        self.probe: dict[str, Any] = container["readinessProbe"]
        self.report = report
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="standin-probe", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        probe = self.probe
        period = float(probe.get("periodSeconds", 10))
        success_threshold = int(probe.get("successThreshold", 1))
        failure_threshold = int(probe.get("failureThreshold", 3))
        ready: bool | None = None
        successes = failures = 0
        if self._stopped.wait(float(probe.get("initialDelaySeconds", 0))):
            return
        while not self._stopped.is_set():
            if self.check():
                successes, failures = successes + 1, 0
                if successes >= success_threshold and ready is not True:
                    ready = True
                    self.report(True)
            else:
                successes, failures = 0, failures + 1
                if failures >= failure_threshold and ready is not False:
                    ready = False
                    self.report(False)
            self._stopped.wait(period)

    def check(self) -> bool:
        """One probe: whether it succeeded."""
        probe = self.probe
        timeout = float(probe.get("timeoutSeconds", 1))
        if "exec" in probe:
            return self._exec([str(part) for part in probe["exec"].get("command", [])])
        if "tcpSocket" in probe:
            action = probe["tcpSocket"]
            host = action.get("host") or self.address
            try:
                with socket.create_connection((host, self._port(action["port"])), timeout):
                    return True
            except OSError:
                return False
        if "httpGet" in probe:
            return self._http(probe["httpGet"], timeout)
        return False

    def _port(self, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for declared in self.container.get("ports", []):
            if declared.get("name") == port:
                return int(declared["containerPort"])
        return 0  # an unknown name: the probe fails, as the kubelet's does

    def _http(self, action: dict[str, Any], timeout: float) -> bool:
        scheme = str(action.get("scheme", "HTTP")).lower()
        host = action.get("host") or self.address
        path = action.get("path") or "/"
        url = f"{scheme}://{host}:{self._port(action['port'])}{path}"
        headers = {item["name"]: item["value"] for item in action.get("httpHeaders", [])}
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return 200 <= int(answer.status) < 400
        except urllib.error.HTTPError as exc:
            return 200 <= exc.code < 400
        except (OSError, ValueError):
            return False

    def _exec(self, command: list[str]) -> bool:
        try:
            made = self.client.api.exec_create(self.container_id, command)
            self.client.api.exec_start(made["Id"])
            return bool(self.client.api.exec_inspect(made["Id"]).get("ExitCode") == 0)
        except docker.errors.APIError:
            return False
