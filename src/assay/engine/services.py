"""Testkube's ``services``: background tasks started before steps, awaited ready, stopped after.

A ``services`` map (on the spec, or on a step) starts, in order, each service's ``count``
instances through the execution's runner (local processes, docker containers on the
execution's network), each reachable at ``{{ services.NAME.<index>.ip }}`` (all of them:
``{{ services.NAME.*.ip }}``, rendered ``ip1,ip2``). Readiness is awaited with the
instance's ``readinessProbe`` (``tcpSocket``, ``httpGet`` or ``exec``; Kubernetes' timing
fields, see :class:`Probe`); an instance without one is ready once started. A service
whose task ends before it is ready, whose probe fails ``failureThreshold`` times in a row
(or, with a ``timeout``, is not ready within it) fails the run with an
:class:`~assay.errors.InfrastructureError` naming the service and the probe.

Each instance's output is kept, masked, as the artifact ``services/NAME-<index>.log``
(unless ``logs: never``). The services of a scope are stopped together, whatever way the
steps ended (:meth:`ServiceManager.stop`).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from assay.engine.context import ExecutionContext
from assay.errors import DefinitionError, InfrastructureError
from assay.runners.base import TaskHandle, TaskSpec
from assay.spec.expressions import evaluate, is_truthy
from assay.spec.workflow import Service, Step, TestWorkflow

__all__ = [
    "Probe",
    "ServiceManager",
    "ServiceScope",
    "SpecBuilder",
    "Timing",
    "check_services",
    "keeps_logs",
]

SpecBuilder = Callable[[str, int, Service, Mapping[str, Any]], TaskSpec]
"""Builds the task of instance ``index`` of service ``name`` (given its variables)."""

_MAX_COUNT = 100
_NOT_YET = ("matrix", "shards", "pod", "content", "transfer", "restart_policy")
"""Service fields not honoured yet (a service sees the execution's ``/data`` as it is)."""
_PROBE_KINDS = ("tcpSocket", "httpGet", "exec")


@dataclass(frozen=True)
class Timing:
    """When a probe runs and how its results count (Kubernetes' fields and defaults)."""

    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Timing:
        """``initialDelaySeconds``, ``periodSeconds``, ``timeoutSeconds``,
        ``successThreshold``, ``failureThreshold`` of a probe."""
        return cls(
            initial_delay=_number(raw, "initialDelaySeconds", 0, where),
            period=_number(raw, "periodSeconds", 10, where, minimum=1),
            timeout=_number(raw, "timeoutSeconds", 1, where, minimum=1),
            success_threshold=int(_number(raw, "successThreshold", 1, where, minimum=1)),
            failure_threshold=int(_number(raw, "failureThreshold", 3, where, minimum=1)),
        )


@dataclass(frozen=True)
class Probe:
    """A Kubernetes readiness probe: one action (``kind``), and its timing."""

    kind: str
    timing: Timing = Timing()
    port: int = 0
    path: str = "/"
    scheme: str = "HTTP"
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Probe:
        """The probe of ``readinessProbe`` ``raw``; bad input names ``where``."""
        kinds = [kind for kind in _PROBE_KINDS if kind in raw]
        if len(kinds) != 1:
            raise DefinitionError(
                f"{where}: needs exactly one of {', '.join(_PROBE_KINDS)}"
                + ("" if not kinds else f" (found {', '.join(kinds)})")
            )
        kind, action = kinds[0], raw[kinds[0]] or {}
        timing = Timing.parse(raw, where)
        if kind == "exec":
            command = action.get("command") if isinstance(action, Mapping) else None
            if not command or not isinstance(command, list):
                raise DefinitionError(f"{where}.exec.command: a list of strings is required")
            return cls(kind, timing, command=tuple(str(part) for part in command))
        if not isinstance(action, Mapping) or "port" not in action:
            raise DefinitionError(f"{where}.{kind}.port is required")
        port = action["port"]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise DefinitionError(f"{where}.{kind}.port: {port!r} is not a port number")
        headers = tuple(
            (str(h.get("name")), str(h.get("value", ""))) for h in action.get("httpHeaders") or []
        )
        scheme = str(action.get("scheme", "HTTP")).upper()
        if scheme not in ("HTTP", "HTTPS"):
            raise DefinitionError(f"{where}.{kind}.scheme: {scheme!r} is not HTTP or HTTPS")
        return cls(
            kind,
            timing,
            port=port,
            path=str(action.get("path") or "/"),
            scheme=scheme,
            host=action.get("host"),
            headers=headers,
        )

    def describe(self, ip: str) -> str:
        """The probe as a user reads it: ``httpGet http://10.0.0.2:8000/health``."""
        if self.kind == "exec":
            return "exec " + " ".join(self.command)
        host = self.host or ip
        if self.kind == "tcpSocket":
            return f"tcpSocket {host}:{self.port}"
        return f"httpGet {self.scheme.lower()}://{host}:{self.port}{self.path}"

    def check(self, ip: str, run: Callable[[list[str], float], int | None]) -> str | None:
        """Probe once; None when it succeeded, else why it failed."""
        host, timeout = self.host or ip, self.timing.timeout
        try:
            if self.kind == "exec":
                code = run(list(self.command), timeout)
                if code is None:
                    return f"no answer within {timeout:g}s"
                return None if code == 0 else f"exit code {code}"
            if self.kind == "tcpSocket":
                with socket.create_connection((host, self.port), timeout=timeout):
                    return None
            return self._http(host)
        except OSError as exc:
            return exc.strerror or str(exc) or type(exc).__name__

    def _http(self, host: str) -> str | None:
        connection: http.client.HTTPConnection
        if self.scheme == "HTTPS":  # as the kubelet: the certificate is not verified
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            connection = http.client.HTTPSConnection(
                host, self.port, timeout=self.timing.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(host, self.port, timeout=self.timing.timeout)
        try:
            connection.request("GET", self.path, headers=dict(self.headers))
            status = connection.getresponse().status
        finally:
            connection.close()
        return None if 200 <= status < 400 else f"HTTP status {status}"


def check_services(workflow: TestWorkflow) -> None:
    """Every service's probe and timeout, checked before a run (bad input, exit 2)."""

    def check(services: Mapping[str, Service], where: str) -> None:
        for name, service in services.items():
            if service.readiness_probe is not None:
                Probe.parse(service.readiness_probe, f"{where}.{name}.readinessProbe")
            _seconds(service.timeout, f"{where}.{name}.timeout")

    def walk(steps: Sequence[Step], where: str) -> None:
        for index, step in enumerate(steps):
            here = f"{where}[{index}]"
            check(step.services, f"{here}.services")
            walk(step.setup, f"{here}.setup")
            walk(step.steps, f"{here}.steps")
            if step.parallel is not None:
                walk(step.parallel.setup, f"{here}.parallel.setup")
                walk(step.parallel.steps, f"{here}.parallel.steps")
                walk(step.parallel.after, f"{here}.parallel.after")

    spec = workflow.spec
    check(spec.services, "spec.services")
    for part in ("setup", "steps", "after"):
        walk(getattr(spec, part), f"spec.{part}")


@dataclass
class _Instance:
    name: str
    index: int
    handle: TaskHandle
    ip: str
    reader: threading.Thread
    lines: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name}-{self.index}"


@dataclass
class ServiceScope:
    """Services started together (a spec's, or a step's); stopped together."""

    instances: list[_Instance] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


class ServiceManager:
    """Starts, awaits and stops the services of one execution through its runner."""

    def __init__(self, ctx: ExecutionContext, build: SpecBuilder) -> None:
        self.ctx = ctx
        self.build = build

    @contextlib.contextmanager
    def running(self, services: Mapping[str, Service], where: str) -> Iterator[None]:
        """Services started and ready for the body, stopped after it whatever happens."""
        scope = ServiceScope()
        try:
            if services:
                self.start(services, where, scope)
            yield
        finally:
            self.stop(scope)

    def start(self, services: Mapping[str, Service], where: str, scope: ServiceScope) -> None:
        """Start each service's instances, in order, and wait until they are ready; what
        was started is in ``scope`` (for :meth:`stop`) even when this raises."""
        for name, service in services.items():
            here = f"{where}.{name}"
            for key in _NOT_YET:
                if getattr(service, key):
                    self.ctx.sink.warning(f"{here}: `{key}` is not supported yet; ignored")
            probe = None
            if service.readiness_probe is not None:
                probe = Probe.parse(service.readiness_probe, f"{here}.readinessProbe")
            count = self._count(service, here)
            limit = _seconds(service.timeout, f"{here}.timeout")
            started = [
                self._start_one(name, index, count, service, scope) for index in range(count)
            ]
            self.ctx.services[name] = [{"ip": inst.ip, "name": inst.label} for inst in started]
            scope.names.append(name)
            with ThreadPoolExecutor(max_workers=count) as pool:
                results = list(pool.map(self._await, started, [probe] * count, [limit] * count))
            failures = [failure for failure in results if failure]
            if failures:
                raise InfrastructureError("; ".join(failures))

    def stop(self, scope: ServiceScope) -> None:
        """Stop every instance of ``scope`` (all at once), keep their logs, forget them."""
        runner = self.ctx.runner
        if scope.instances:
            with ThreadPoolExecutor(max_workers=len(scope.instances)) as pool:
                list(pool.map(lambda inst: runner.cancel(inst.handle), scope.instances))
        for inst in scope.instances:
            with contextlib.suppress(InfrastructureError):
                runner.wait(inst.handle)
            inst.reader.join(timeout=10.0)
            self.ctx.write_log("services", f"service {inst.label}: stopped")
        for name in scope.names:
            self.ctx.services.pop(name, None)
        scope.instances.clear()
        scope.names.clear()

    # -- internals ------------------------------------------------------------------------

    def _count(self, service: Service, where: str) -> int:
        raw = service.count if service.count is not None else 1
        value = raw
        if isinstance(raw, str):
            context = self.ctx.expression_context(dict(os.environ))
            value = evaluate(raw, context)
        try:
            count = int(value)
        except (TypeError, ValueError):
            raise DefinitionError(f"{where}.count: {value!r} is not a number") from None
        if not 0 < count <= _MAX_COUNT:
            raise DefinitionError(f"{where}.count: {count} is not between 1 and {_MAX_COUNT}")
        return count

    def _start_one(
        self, name: str, index: int, count: int, service: Service, scope: ServiceScope
    ) -> _Instance:
        spec = self.build(name, index, service, {"index": index, "count": count})
        for note in self.ctx.runner.unsupported(spec) if index == 0 else ():
            self.ctx.sink.warning(f"service {name}: {note}")
        handle = self.ctx.runner.start(spec)
        keep = keeps_logs(service.logs)
        log_path = self.ctx.artifacts_dir / "services" / f"{name}-{index}.log"
        instance = _Instance(name, index, handle, "", threading.Thread())
        try:
            instance.ip = self.ctx.runner.address(handle)
        finally:  # stopped with the others, even when its address cannot be read
            instance.reader = threading.Thread(
                target=self._copy_logs,
                args=(instance, log_path if keep else None),
                name=f"service-{name}-{index}",
                daemon=True,
            )
            instance.reader.start()
            scope.instances.append(instance)
        self.ctx.write_log("services", f"service {instance.label}: started at {instance.ip}")
        return instance

    def _copy_logs(self, instance: _Instance, path: Path | None) -> None:
        """The instance's output, masked, into its artifact (the last lines kept too)."""
        out: BinaryIO | None = None
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                out = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
            for line in self.ctx.runner.logs(instance.handle):
                masked = self.ctx.masker(line)
                instance.lines = [*instance.lines[-9:], masked]
                if out is not None:
                    out.write(masked.encode("utf-8", "replace") + b"\n")
                    out.flush()
        except OSError as exc:
            self.ctx.write_log("services", f"service {instance.label}: log not kept: {exc}")
        finally:
            if out is not None:
                with contextlib.suppress(OSError):
                    out.close()

    def _await(self, inst: _Instance, probe: Probe | None, limit: float | None) -> str | None:
        """Wait until ``inst`` is ready; None, or why it never was."""
        what = f"service {inst.name!r} (instance {inst.index})"
        if probe is None:  # as in Kubernetes: ready once running
            return None
        started = time.monotonic()
        describe, timing = probe.describe(inst.ip), probe.timing
        cancelled = self.ctx.cancelled
        if cancelled.wait(timing.initial_delay):
            return f"{what}: aborted while waiting for readiness"
        successes = failures = 0
        why = "not probed"
        while True:
            why_now = probe.check(inst.ip, lambda cmd, t: self._exec(inst, cmd, t))
            if why_now is None:
                successes, failures = successes + 1, 0
                if successes >= timing.success_threshold:
                    self.ctx.write_log("services", f"service {inst.label}: ready ({describe})")
                    return None
            else:
                why, successes, failures = why_now, 0, failures + 1
                if limit is None and failures >= timing.failure_threshold:
                    return self._not_ready(inst, f"{describe} failed {failures} times ({why})")
            if not inst.reader.is_alive():
                return self._not_ready(inst, f"ended before {describe} succeeded ({why})")
            if limit is not None and time.monotonic() - started >= limit:
                return self._not_ready(inst, f"{describe} not ready within {limit:g}s ({why})")
            if cancelled.wait(timing.period):
                return f"{what}: aborted while waiting for readiness"

    def _exec(self, inst: _Instance, command: list[str], timeout: float) -> int | None:
        """An exec probe's command, ``/data`` mapped as in any command the runner gets."""
        mapped = [self.ctx.workspace.map_text(part) for part in command]
        return self.ctx.runner.exec(inst.handle, mapped, timeout)

    def _not_ready(self, inst: _Instance, why: str) -> str:
        for line in inst.lines:
            self.ctx.write_log("services", f"[{inst.label}] {line}")
        message = f"service {inst.name!r} (instance {inst.index}) was not ready: {why}"
        self.ctx.write_log("services", message)
        return message


def keeps_logs(setting: str | None) -> bool:
    """``logs``: kept unless ``never`` (or another false value)."""
    if setting is None:
        return True
    text = setting.strip()
    return text != "never" and is_truthy(text)


def _seconds(value: str | None, where: str) -> float | None:
    if value is None:
        return None
    from assay.spec.base import parse_duration

    try:
        return parse_duration(value)
    except (ValueError, DefinitionError) as exc:
        raise DefinitionError(f"{where}: {exc}") from None


def _number(
    raw: Mapping[str, Any], key: str, default: float, where: str, minimum: float = 0
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise DefinitionError(f"{where}.{key}: {value!r} is not a number >= {minimum:g}")
    return float(value)
