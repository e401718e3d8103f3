"""Docker runner: each task is a container of its step's image, through the Docker Engine API.

The execution's data directory is bind-mounted at ``/data`` in every container, so what
one step writes there (a ``content.git`` checkout in ``/data/repo``) the next one sees; its
reports directory is mounted at ``/assay/reports``, where pytest writes the JUnit XML the
engine collects. The engine hands over this machine's paths: they are mapped back to
those container paths in the command, the environment and the working directory.

A background thread copies the container's output into a log file next to the task (as
the local runner's), which :meth:`DockerRunner.logs` follows; :meth:`DockerRunner.wait`
keeps the exit code in a file and removes the container, whatever way it ended.
Containers carry labels (execution, task, step, workspace), so a restarted engine finds
them again (:meth:`DockerRunner.attach`) and a crashed one's are removed
(:func:`stop_strays`). Once :meth:`DockerRunner.prepare` made an execution's network
(``assay-<execution id>``, labelled the same way), its containers join it, reachable by IP
and by their aliases (services); :meth:`DockerRunner.release` and :func:`stop_strays`
remove it. Containers never get the Docker socket, privileged mode or the
host's network. The ``docker`` SDK is imported only here, when a docker runner is used.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from assay.errors import DefinitionError, InfrastructureError
from assay.runners.base import TaskHandle, TaskResult, TaskSpec
from assay.runners.docker_job import (
    LABEL_EXECUTION,
    LABEL_TASK,
    LABEL_WORKSPACE,
    DockerJob,
    container_mapper,
    network_name,
    pull_policy,
)
from assay.runners.tail import tail_lines

__all__ = ["DockerRunner", "stop_strays"]

_GRACE_SECONDS = 3.0
_WAIT_SLICE_SECONDS = 1.0


def docker_client() -> Any:
    """A client for the daemon of ``DOCKER_HOST`` (or the local socket), API version
    negotiated; an unreachable daemon is an :class:`InfrastructureError`."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InfrastructureError(f"the docker runner needs the `docker` package: {exc}") from exc
    try:
        client = docker.from_env(version="auto", timeout=60)
        client.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise InfrastructureError(
            f"cannot reach the Docker daemon at {where}: {_why(exc)}"
        ) from None
    return client


class DockerRunner:
    """Runs tasks as containers; ``default_image`` serves steps that name none."""

    name = "docker"

    def __init__(
        self, default_image: str | None = None, grace_seconds: float = _GRACE_SECONDS
    ) -> None:
        self.default_image = default_image or os.environ.get("ASSAY_DOCKER_IMAGE") or None
        self.grace_seconds = grace_seconds
        self._client: Any = None
        self._writers: dict[str, threading.Thread] = {}
        self._results: dict[str, TaskResult] = {}
        self._cancelled: set[str] = set()
        self._waiting: set[str] = set()
        self._networks: dict[Path, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Docker client, connected on first use."""
        if self._client is None:
            self._client = docker_client()
        return self._client

    def unsupported(self, spec: TaskSpec) -> list[str]:
        """Settings the docker runner ignores (privileged mode, host namespaces)."""
        security = spec.security_context or {}
        return [
            f"securityContext.{key} is not granted by the docker runner"
            for key in ("privileged", "allowPrivilegeEscalation", "capabilities")
            if security.get(key)
        ]

    def start(self, spec: TaskSpec) -> TaskHandle:
        """Create and start the container (pulling its image as its policy says)."""
        image = spec.image or self.default_image
        if not image:
            raise DefinitionError(
                f"{spec.name}: the docker runner needs an image "
                "(container.image, run.image, or ASSAY_DOCKER_IMAGE)"
            )
        task_id = uuid.uuid4().hex[:12]
        task_dir = spec.workspace / ".tasks" / task_id
        task_dir.mkdir(parents=True)
        (spec.workspace / "reports").mkdir(exist_ok=True)
        with self._lock:
            network = self._networks.get(spec.workspace)
        image_env = self._ensure_image(image, pull_policy(spec))
        job = DockerJob.from_spec(spec, image, {LABEL_TASK: task_id}, network, image_env)
        from docker.errors import DockerException

        arguments = job.create_arguments()
        if job.aliases:
            endpoint = self.client.api.create_endpoint_config(aliases=list(job.aliases))
            arguments["networking_config"] = {job.network: endpoint}
        try:
            container = self.client.containers.create(**arguments)
        except DockerException as exc:
            raise InfrastructureError(
                f"cannot create a container of {image!r}: {_why(exc)}"
            ) from None
        try:
            container.start()
        except DockerException as exc:
            with contextlib.suppress(DockerException):
                container.remove(force=True)
            raise InfrastructureError(
                f"cannot start a container of {image!r}: {_why(exc)}"
            ) from None
        deadline = None if spec.timeout is None else time.time() + spec.timeout
        handle = TaskHandle(
            self.name,
            task_id,
            {
                "container": container.id,
                "log": str(task_dir / "output.log"),
                "exit": str(task_dir / "exit"),
                "deadline": deadline,
                "network": job.network,
                "workspace": str(spec.workspace),
                "data": str(spec.data),
            },
        )
        self._follow(handle)
        return handle

    def prepare(self, workspace: Path) -> None:
        """Create the execution's network (labelled as its containers; reused if there)."""
        from docker.errors import DockerException

        name = network_name(workspace)
        labels = {LABEL_EXECUTION: workspace.name, LABEL_WORKSPACE: str(workspace)}
        try:
            if not self.client.networks.list(names=[name]):
                self.client.networks.create(name, driver="bridge", labels=labels)
        except DockerException as exc:
            raise InfrastructureError(f"cannot create network {name}: {_why(exc)}") from None
        with self._lock:
            self._networks[workspace] = name

    def release(self, workspace: Path) -> None:
        """Remove the execution's network (and any container of it still attached)."""
        with self._lock:
            name = self._networks.pop(workspace, None)
        if name is not None:
            _remove_networks(self.client, workspace, self.grace_seconds)

    def address(self, handle: TaskHandle) -> str:
        """The container's IP address on its network."""
        container = self._container(handle)
        if container is None:
            raise InfrastructureError(f"container of task {handle.task_id} is gone")
        settings = container.attrs.get("NetworkSettings") or {}
        network = (settings.get("Networks") or {}).get(handle.data.get("network", "bridge"))
        address = (network or {}).get("IPAddress") or settings.get("IPAddress")
        if not address:
            raise InfrastructureError(f"container of task {handle.task_id} has no IP address")
        return str(address)

    def exec(self, handle: TaskHandle, command: list[str], timeout: float) -> int | None:
        """Run ``command`` in the task's container (``docker exec``); None after ``timeout``
        (the command is left to end with the container)."""
        from docker.errors import DockerException

        api = self.client.api
        if "workspace" in handle.data:
            data = handle.data.get("data")
            to_container = container_mapper(
                Path(handle.data["workspace"]), Path(data) if data else None
            )
            command = [to_container(part) for part in command]
        try:
            exec_id = api.exec_create(handle.data["container"], command)["Id"]
            api.exec_start(exec_id, detach=True)
            end = time.monotonic() + timeout
            while True:
                state = api.exec_inspect(exec_id)
                if not state.get("Running"):
                    code = state.get("ExitCode")
                    return None if code is None else int(code)
                if time.monotonic() >= end:
                    return None
                time.sleep(0.05)
        except DockerException as exc:
            if "is not running" in _why(exc) or "No such container" in _why(exc):
                return 126  # nothing to run it in: the probe fails
            raise InfrastructureError(f"cannot exec in container: {_why(exc)}") from None

    def attach(self, data: Mapping[str, Any]) -> TaskHandle:
        """Find a task again (after a restart): its container, or its saved log and exit."""
        inner = dict(data.get("data", {}))
        if data.get("runner") != self.name or not {"container", "log", "exit"} <= inner.keys():
            raise InfrastructureError(f"not a docker task handle: {dict(data)!r}")
        handle = TaskHandle(self.name, str(data["task_id"]), inner)
        if not Path(inner["exit"]).exists() and self._container(handle) is not None:
            self._follow(handle)
        return handle

    def logs(self, handle: TaskHandle) -> Iterator[str]:
        """Follow the task's output until it has ended."""
        return tail_lines(Path(handle.data["log"]), lambda: self._ended(handle))

    def wait(self, handle: TaskHandle) -> TaskResult:
        """Wait for the container (stopping it at the deadline), then remove it."""
        with self._lock:
            known = self._results.get(handle.task_id)
        if known is not None:
            return known
        deadline: float | None = handle.data.get("deadline")
        with self._lock:
            self._waiting.add(handle.task_id)
        exit_code, timed_out, ended = None, False, False
        try:
            exit_code, timed_out = self._wait_exit(handle, deadline)
            ended = not timed_out
        finally:  # an error too (the daemon lost) still stops and removes the container
            if not ended:
                self._stop(handle)
            self._finish(handle, exit_code)
            with self._lock:
                self._waiting.discard(handle.task_id)
        result = TaskResult(
            exit_code=exit_code,
            timed_out=timed_out,
            cancelled=handle.task_id in self._cancelled,
        )
        with self._lock:
            self._results[handle.task_id] = result
        return result

    def cancel(self, handle: TaskHandle) -> None:
        """Stop the container (SIGTERM, SIGKILL after the grace period) and remove it."""
        with self._lock:
            self._cancelled.add(handle.task_id)
            waited = handle.task_id in self._waiting
        self._stop(handle)
        if not waited:  # nobody here waits for it (a re-attached task): clean up now
            self._finish(handle, None)

    # -- internals ------------------------------------------------------------------------

    def _ensure_image(self, image: str, policy: str) -> dict[str, str]:
        """Make ``image`` present as ``policy`` says; its own environment variables."""
        from docker.errors import DockerException, ImageNotFound

        if policy != "Always":
            try:
                return _image_env(self.client.images.get(image))
            except ImageNotFound:
                if policy == "Never":
                    raise InfrastructureError(
                        f"image {image!r} is not present and imagePullPolicy is Never"
                    ) from None
            except DockerException as exc:
                raise InfrastructureError(f"cannot inspect image {image!r}: {_why(exc)}") from None
        try:
            return _image_env(self.client.images.pull(image))
        except DockerException as exc:
            raise InfrastructureError(f"cannot pull image {image!r}: {_why(exc)}") from None

    def _container(self, handle: TaskHandle) -> Any:
        from docker.errors import DockerException, NotFound

        try:
            return self.client.containers.get(handle.data["container"])
        except NotFound:
            return None
        except DockerException as exc:
            raise InfrastructureError(f"cannot inspect container: {_why(exc)}") from None

    def _follow(self, handle: TaskHandle) -> None:
        """Copy the container's output to the task's log file, from a thread (the whole
        output: a re-attached task's file is written anew, before any reader opens it)."""
        container_id = handle.data["container"]
        log = Path(handle.data["log"]).open("wb")  # noqa: SIM115 - closed by the thread

        def copy() -> None:
            with contextlib.suppress(Exception), log:
                for chunk in self.client.api.logs(container_id, stream=True, follow=True):
                    log.write(chunk)
                    log.flush()

        writer = threading.Thread(target=copy, name=f"docker-logs-{handle.task_id}", daemon=True)
        with self._lock:
            self._writers[handle.task_id] = writer
        writer.start()

    def _wait_exit(self, handle: TaskHandle, deadline: float | None) -> tuple[int | None, bool]:
        """The container's exit code, or (None, True) once the deadline passed."""
        import requests
        from docker.errors import DockerException, NotFound

        container_id = handle.data["container"]
        while True:
            remaining = None if deadline is None else deadline - time.time()
            if remaining is not None and remaining <= 0:
                return None, True
            slice_ = _WAIT_SLICE_SECONDS if remaining is None else min(remaining, 1.0)
            try:
                status = self.client.api.wait(container_id, timeout=max(slice_, 0.05))
                return int(status["StatusCode"]), False
            except NotFound:
                return _saved_exit(handle), False
            except requests.exceptions.RequestException as exc:
                if _read_timeout(exc):
                    continue  # not ended within this slice
                raise InfrastructureError(f"lost the Docker daemon: {exc}") from None
            except DockerException as exc:
                raise InfrastructureError(f"cannot wait for container: {_why(exc)}") from None

    def _stop(self, handle: TaskHandle) -> None:
        from docker.errors import DockerException

        with contextlib.suppress(DockerException):
            self.client.api.stop(handle.data["container"], timeout=int(self.grace_seconds))

    def _finish(self, handle: TaskHandle, exit_code: int | None) -> None:
        """Let the log copy drain, keep the exit code, remove the container."""
        from docker.errors import DockerException

        with self._lock:
            writer = self._writers.pop(handle.task_id, None)
        if writer is not None:
            writer.join(timeout=10.0)
        exit_path = Path(handle.data["exit"])
        with contextlib.suppress(OSError):
            exit_path.write_text("" if exit_code is None else str(exit_code))
        with contextlib.suppress(DockerException):
            self.client.api.remove_container(handle.data["container"], force=True, v=True)

    def _ended(self, handle: TaskHandle) -> bool:
        with self._lock:
            if handle.task_id in self._results:
                return True
            writer = self._writers.get(handle.task_id)
        if writer is not None:
            return not writer.is_alive()
        return Path(handle.data["exit"]).exists() or self._container(handle) is None


def _image_env(image: Any) -> dict[str, str]:
    """An image's ``ENV`` settings (``Config.Env``, ``NAME=value`` strings)."""
    pairs = ((image.attrs.get("Config") or {}).get("Env") or []) if image is not None else []
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def _read_timeout(exc: Exception) -> bool:
    """A call that outlived its timeout (over a unix socket, a wrapped urllib3 error)."""
    from urllib3.exceptions import ReadTimeoutError

    return "ReadTimeout" in type(exc).__name__ or any(
        isinstance(arg, ReadTimeoutError) for arg in exc.args
    )


def _why(exc: Exception) -> str:
    """The daemon's own explanation of a failed call, else the exception's text."""
    return str(getattr(exc, "explanation", None) or exc)


def _saved_exit(handle: TaskHandle) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(Path(handle.data["exit"]).read_text().strip())
    return None


def stop_strays(workspace: Path, grace_seconds: float = _GRACE_SECONDS) -> int:
    """Remove every container still there for a task of ``workspace`` (found by label),
    recorded or not, then the execution's network: those of an execution whose assay
    process died. Returns how many containers there were."""
    client = docker_client()
    try:
        return _remove_networks(client, workspace, grace_seconds)
    finally:
        client.close()


def _remove_containers(client: Any, workspace: Path, grace_seconds: float) -> int:
    from docker.errors import DockerException

    found = client.containers.list(all=True, filters={"label": f"{LABEL_WORKSPACE}={workspace}"})
    for container in found:
        with contextlib.suppress(DockerException):
            container.stop(timeout=int(grace_seconds))
        with contextlib.suppress(DockerException):
            container.remove(force=True, v=True)
    return len(found)


def _remove_networks(client: Any, workspace: Path, grace_seconds: float) -> int:
    """Remove the containers of ``workspace`` still attached, then its networks (found by
    label); returns how many containers there were."""
    from docker.errors import DockerException, NotFound

    removed = _remove_containers(client, workspace, grace_seconds)
    networks = client.networks.list(filters={"label": f"{LABEL_WORKSPACE}={workspace}"})
    for network in networks:
        try:
            network.remove()
        except NotFound:
            pass
        except DockerException as exc:
            raise InfrastructureError(
                f"cannot remove network {network.name}: {_why(exc)}"
            ) from None
    return removed
