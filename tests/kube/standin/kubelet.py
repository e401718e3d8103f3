"""The stand-in's Job controller and kubelet: a Job's Pod, and a bare Pod, run for real on
the Docker Engine.

Every container is on the stand-in's own Docker network (the Pod network): the Pod's
``podIP`` is its first container's address there, and its DNS names are network aliases
(``HOSTNAME.SUBDOMAIN`` when a Service ``SUBDOMAIN`` exists; the name of each headless Service
whose selector matches it; each also under ``.NAMESPACE[.svc[.cluster.local]]``). A
container's ``readinessProbe`` (:mod:`standin.probe`) sets its ``ready`` and the Pod's
``ContainersReady`` and ``Ready`` conditions; without one it is ready while it runs.

A Job gets one Pod (``backoffLimit`` beyond 0 is not retried). The Pod's volumes: an
``emptyDir`` is a Docker volume; ``configMap``, ``secret`` and ``projected`` volumes are
written into a directory of this machine (items, modes) and bind-mounted read-only, as is a
``downwardAPI`` volume (:mod:`standin.downward`), rewritten atomically as a kubelet does when
a client patches or replaces the Pod's labels or annotations. Init
containers run one at a time, in order, each only after the previous one exited 0; then the
containers. Statuses are the real containers': ``terminated.exitCode``, ``reason``
(``Completed``, ``Error``, ``OOMKilled`` from Docker's OOM flag). An image the daemon lacks is
never pulled (no registry here): the container waits with reason ``ErrImagePull``, then
``ImagePullBackOff`` (``ErrImageNeverPull`` under ``imagePullPolicy: Never``), as a kubelet
whose pulls fail reports it, until the Pod is deleted. A missing Secret or ConfigMap key in
``env`` is ``CreateContainerConfigError``. There is one node (:data:`NODE_LABELS`): a Pod
whose ``nodeSelector`` it does not match stays Pending, ``PodScheduled`` false with reason
``Unschedulable``. The Job's status follows its Pod's end. A Pod the API refuses (a quota) is
a ``FailedCreate`` Warning Event on its Job, tried again until the Job is deleted. Tests inject
node faults: :meth:`Kubelet.evict` and :meth:`Kubelet.lose_node`.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from standin.api import ApiError, Store, timestamp
from standin.downward import DownwardVolume
from standin.probe import Prober

LABEL = "assay.standin.pod"
SERVER_LABEL = "assay.standin.server"
"""Containers and volumes carry their Pod's uid and their stand-in's :attr:`Kubelet.server`."""
_EXPANSION = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_UNITS = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip
PULL_BACKOFF_SECONDS = 0.5
CREATE_RETRY_SECONDS = 0.5
"""The Job controller's next try at a Pod it could not create (its backoff, shortened)."""
KILLED = 137
NODE_LABELS = {
    "kubernetes.io/hostname": "standin",
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
}
"""The labels of the stand-in's one node: a Pod whose nodeSelector they miss is unschedulable."""


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (``$$`` is a ``$``; unknown names stay)."""

    def one(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        return env.get(found.group(1), found.group(0))

    return _EXPANSION.sub(one, text)


def quantity(text: str | int) -> float:
    found = _QUANTITY.match(str(text))
    if not found:
        raise ValueError(f"quantity {text!r}")
    number, unit = found.groups()
    if unit == "m":
        return float(number) / 1000
    return float(number) * _UNITS[unit]


class PodGone(Exception):
    """The Pod was deleted while it ran."""


class Kubelet:
    """Runs the Pods of created Jobs (and bare Pods) on Docker; removes them when deleted."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.docker = docker.from_env()
        self.server = secrets.token_hex(6)
        self.labels_filter = {"label": f"{SERVER_LABEL}={self.server}"}
        """Docker filter of what this stand-in made (others may run beside it)."""
        self.network = f"standin-{self.server}"
        """The Pod network: every container of every Pod is on this Docker network."""
        self.docker.networks.create(
            self.network, driver="bridge", labels={SERVER_LABEL: self.server}
        )
        self._containers: dict[tuple[str, str], str] = {}  # (pod uid, container) -> docker id
        self._deleted: set[str] = set()
        self._stopped: set[str] = set()  # pods whose node no longer reports (evicted, lost)
        self._runs: dict[str, threading.Thread] = {}  # pod uid -> the thread running it
        self._events: dict[str, str] = {}  # Job uid -> its FailedCreate Event
        self._made: dict[str, tuple[list[str], Path]] = {}  # pod uid -> (volumes, directory)
        self._lock = threading.Lock()
        self._downward: dict[str, list[DownwardVolume]] = {}  # pod uid -> its volumes
        self._downward_lock = threading.Lock()
        self.downward_delay = 0.0
        """Seconds between a change of a Pod's metadata and its downwardAPI files' (a real
        kubelet's: up to its sync period, typically under a minute)."""
        self.threads: list[threading.Thread] = []
        store.on_create.append(self._created)
        store.on_delete.append(self._deleted_object)
        store.on_update.append(self._updated)

    # -- controllers ---------------------------------------------------------------------

    def _created(self, item: dict[str, Any]) -> None:
        if item["kind"] == "Job":
            self._control(item)
        elif item["kind"] == "Pod" and not item["metadata"].get("ownerReferences"):
            self._start(item)

    def _control(self, job: dict[str, Any]) -> None:
        """The Job controller: create the Job's Pod; refused (a quota), a ``FailedCreate``
        Warning Event on the Job and another try until the Job is deleted."""
        meta = job["metadata"]
        try:
            self.store.get("Job", meta["namespace"], meta["name"])
            self._start(self._job_pod(job))
        except ApiError as exc:
            if exc.code == 404:
                return
            self._failed_create(job, f"Error creating: {exc.message}")
            retry = threading.Timer(CREATE_RETRY_SECONDS, self._control, args=(job,))
            retry.daemon = True
            retry.start()

    def _failed_create(self, job: dict[str, Any], message: str) -> None:
        """Record the Event as the job-controller's recorder does (repeats aggregated)."""
        meta = job["metadata"]
        namespace, uid = meta["namespace"], meta["uid"]
        name = self._events.get(uid)
        if name is not None:

            def again(event: dict[str, Any]) -> None:
                event.update(message=message, count=event["count"] + 1, lastTimestamp=timestamp())

            self.store.update("Event", namespace, name, again)
            return
        now = timestamp()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}"},
            "involvedObject": {
                "kind": "Job",
                "namespace": namespace,
                "name": meta["name"],
                "uid": uid,
                "apiVersion": "batch/v1",
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": "FailedCreate",
            "message": message,
            "source": {"component": "job-controller"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": "Warning",
            "eventTime": None,
            "reportingComponent": "job-controller",
            "reportingInstance": "",
        }
        self._events[uid] = self.store.create("Event", namespace, event)["metadata"]["name"]

    def _start(self, pod: dict[str, Any]) -> None:
        thread = threading.Thread(target=self._run_pod, args=(pod,), daemon=True)
        self.threads.append(thread)
        with self._lock:
            self._runs[pod["metadata"]["uid"]] = thread
        thread.start()

    def _job_pod(self, job: dict[str, Any]) -> dict[str, Any]:
        meta = job["metadata"]
        template = job["spec"]["template"]
        uid = meta["uid"]
        labels = {
            **template.get("metadata", {}).get("labels", {}),
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
            "job-name": meta["name"],
            "batch.kubernetes.io/job-name": meta["name"],
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{secrets.token_hex(3)[:5]}",
                "labels": labels,
                "annotations": dict(template.get("metadata", {}).get("annotations", {})),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        created = self.store.create("Pod", meta["namespace"], pod)

        def active(item: dict[str, Any]) -> None:
            item["status"] = {"active": 1, "startTime": timestamp()}

        self.store.update("Job", meta["namespace"], meta["name"], active)
        return created

    def _updated(self, item: dict[str, Any]) -> None:
        """A client changed a Pod: its downwardAPI files follow (after
        :attr:`downward_delay`)."""
        if item["kind"] != "Pod" or item["metadata"]["uid"] not in self._downward:
            return
        if self.downward_delay <= 0:
            self._refresh(item)
            return
        timer = threading.Timer(self.downward_delay, self._refresh, args=(item,))
        timer.daemon = True
        timer.start()

    def _refresh(self, item: dict[str, Any]) -> None:
        """Rewrite the Pod's downwardAPI volumes from its stored metadata (the latest)."""
        meta = item["metadata"]
        with self._downward_lock:
            try:
                pod = self.store.get("Pod", meta["namespace"], meta["name"])
            except ApiError:
                return
            if pod["metadata"]["uid"] != meta["uid"]:
                return
            for volume in self._downward.get(meta["uid"], []):
                volume.write(pod)

    def _deleted_object(self, item: dict[str, Any]) -> None:
        if item["kind"] != "Pod":
            return
        uid = item["metadata"]["uid"]
        with self._downward_lock:
            self._downward.pop(uid, None)
        with self._lock:
            self._deleted.add(uid)
            ids = [cid for (pod, _), cid in self._containers.items() if pod == uid]
        for cid in ids:
            with contextlib.suppress(docker.errors.APIError):
                self.docker.containers.get(cid).remove(force=True)
        made = self._made.get(uid)
        if made is not None:  # else the Pod's thread removes them as it stops
            self._remove(item, *made)
        if (item.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            self._job_ended(item, "Failed")  # deleted before its end: a failure to its Job

    # -- faults a test injects -------------------------------------------------------------

    def evict(self, namespace: str, name: str, message: str) -> None:
        """Evict a Pod as the kubelet's eviction manager does under node pressure: the Pod
        ``Failed`` with reason ``Evicted``, the message and a ``DisruptionTarget`` condition
        (``TerminationByKubelet``) while its containers still run; then they are killed and
        reported terminated (exit 137); the Job fails."""
        pod = self._halt(namespace, name)
        condition = _disruption("TerminationByKubelet", message)

        def failed(item: dict[str, Any]) -> None:
            item["status"].update(phase="Failed", reason="Evicted", message=message)
            _set_condition(item, condition)

        self._update_pod(pod, failed)
        self._kill(pod)

        def killed(item: dict[str, Any]) -> None:
            for entry in [
                *item["status"].get("initContainerStatuses", []),
                *item["status"].get("containerStatuses", []),
            ]:
                state = entry["state"]
                if "terminated" in state:
                    continue
                end = {"exitCode": KILLED, "finishedAt": timestamp()}
                if "running" in state:
                    end |= {"reason": "Error", "startedAt": state["running"]["startedAt"]}
                else:
                    end |= {
                        "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated",
                    }
                entry["state"] = {"terminated": end}

        self._update_pod(pod, killed)
        self._job_ended(pod, "Failed")

    def lose_node(self, namespace: str, name: str, *, node_deleted: bool = False) -> None:
        """The Pod's node stops answering (its containers killed here; nothing more is
        reported). Then, as the control plane of 1.31 does once the ``unreachable``
        toleration (300 s, not waited here) is over: the taint eviction controller adds a
        ``DisruptionTarget`` condition (``DeletionByTaintManager``) and deletes the Pod
        gracefully (``deletionTimestamp`` set; it stays, as no kubelet confirms). With
        ``node_deleted`` (the Node object removed), the Pod garbage collector instead marks it
        ``Failed`` with ``DisruptionTarget`` ``DeletionByPodGC`` and force-deletes it."""
        pod = self._halt(namespace, name)
        self._kill(pod)
        if node_deleted:
            condition = _disruption("DeletionByPodGC", "PodGC: node no longer exists")

            def collected(item: dict[str, Any]) -> None:
                if item["status"].get("phase") not in ("Succeeded", "Failed"):
                    item["status"]["phase"] = "Failed"
                _set_condition(item, condition)

            self._update_pod(pod, collected)
            with contextlib.suppress(ApiError):
                self.store.delete("Pod", namespace, name)
            self._job_ended(pod, "Failed")
            return
        taint = "Taint manager: deleting due to NoExecute taint"
        condition = _disruption("DeletionByTaintManager", taint)
        self._update_pod(pod, lambda item: _set_condition(item, condition))

        def terminating(item: dict[str, Any]) -> None:
            grace = item["spec"].get("terminationGracePeriodSeconds", 30)
            item["metadata"].update(deletionTimestamp=timestamp(), deletionGracePeriodSeconds=grace)

        self._update_pod(pod, terminating)

    def _halt(self, namespace: str, name: str) -> dict[str, Any]:
        """The Pod, its kubelet from now on silent about it (its thread reports nothing)."""
        pod = self.store.get("Pod", namespace, name)
        with self._lock:
            self._stopped.add(pod["metadata"]["uid"])
        return pod

    def _kill(self, pod: dict[str, Any]) -> None:
        """Kill the Pod's containers (SIGKILL) and wait for its thread to stop."""
        uid = pod["metadata"]["uid"]
        with self._lock:
            ids = [cid for (p, _), cid in self._containers.items() if p == uid]
            thread = self._runs.get(uid)
        for cid in ids:
            with contextlib.suppress(docker.errors.APIError):
                self.docker.api.kill(cid)
        if thread is not None:
            thread.join(timeout=30)

    # -- one Pod ---------------------------------------------------------------------------

    def _update_pod(self, pod: dict[str, Any], change: Any) -> None:
        meta = pod["metadata"]
        self.store.update("Pod", meta["namespace"], meta["name"], change)

    def _set_container(
        self, pod: dict[str, Any], name: str, init: bool, state: dict[str, Any], **extra: Any
    ) -> None:
        key = "initContainerStatuses" if init else "containerStatuses"

        def change(item: dict[str, Any]) -> None:
            for entry in item["status"][key]:
                if entry["name"] == name:
                    entry["state"] = state
                    entry.update(extra)

        self._update_pod(pod, change)

    def _gone(self, pod: dict[str, Any]) -> bool:
        """Deleted, or its node no longer reports it (:meth:`evict`, :meth:`lose_node`)."""
        with self._lock:
            uid = pod["metadata"]["uid"]
            return uid in self._deleted or uid in self._stopped

    def _run_pod(self, pod: dict[str, Any]) -> None:
        spec = pod["spec"]
        init = spec.get("initContainers", [])
        main = spec["containers"]

        def pending(item: dict[str, Any]) -> None:
            waiting = {"waiting": {"reason": "PodInitializing"}}

            def entry(c: dict[str, Any]) -> dict[str, Any]:
                return {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": waiting,
                }

            item["status"] = {
                "phase": "Pending",
                "startTime": timestamp(),
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "ContainersReady", "status": "False"},
                    {"type": "Ready", "status": "False"},
                ],
                "initContainerStatuses": [entry(c) for c in init],
                "containerStatuses": [entry(c) for c in main],
            }

        self._update_pod(pod, pending)
        wanted = pod["spec"].get("nodeSelector", {})
        if any(NODE_LABELS.get(key) != value for key, value in wanted.items()):
            self._unschedulable(pod)
            return
        workdir = self.root / pod["metadata"]["uid"]
        volumes: list[str] = []
        phase = "Failed"
        message = None
        try:
            mounts_by_volume = self._volumes(pod, workdir, volumes)
            ok = all(self._run_container(pod, c, True, mounts_by_volume) == 0 for c in init)
            if ok:
                codes = [self._run_container(pod, c, False, mounts_by_volume) for c in main]
                ok = all(code == 0 for code in codes)
            phase = "Succeeded" if ok else "Failed"
        except PodGone:
            pass
        except (ApiError, docker.errors.APIError) as exc:
            message = str(exc)
        finally:
            uid = pod["metadata"]["uid"]
            with self._lock:
                self._made[uid] = (volumes, workdir)
                deleted, stopped = uid in self._deleted, uid in self._stopped
            if deleted:
                self._remove(pod, volumes, workdir)
            elif not stopped:
                ended = {"phase": phase, **({"message": message} if message else {})}
                self._update_pod(pod, lambda item: item["status"].update(ended))
                self._job_ended(pod, phase)

    def _unschedulable(self, pod: dict[str, Any]) -> None:
        """The one node does not match: Pending, not scheduled, until deleted."""

        def change(item: dict[str, Any]) -> None:
            item["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node "
                    "affinity/selector.",
                }
            ]

        self._update_pod(pod, change)

    def _remove(self, pod: dict[str, Any], volumes: list[str], workdir: Path) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            ids = [cid for (p, _), cid in self._containers.items() if p == uid]
        for cid in ids:
            with contextlib.suppress(docker.errors.APIError):
                self.docker.containers.get(cid).remove(force=True)
        for name in volumes:
            with contextlib.suppress(docker.errors.APIError):
                self.docker.volumes.get(name).remove(force=True)
        shutil.rmtree(workdir, ignore_errors=True)

    def cleanup(self) -> None:
        """Everything the stand-in made in Docker, whatever the state of its Pods."""
        for container in self.docker.api.containers(all=True, filters=self.labels_filter):
            with contextlib.suppress(docker.errors.APIError):
                self.docker.api.remove_container(container["Id"], force=True)
        for volume in self.docker.volumes.list(filters=self.labels_filter):
            with contextlib.suppress(docker.errors.APIError):
                volume.remove(force=True)
        for network in self.docker.networks.list(filters=self.labels_filter):
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
        self.docker.close()

    def _job_ended(self, pod: dict[str, Any], phase: str) -> None:
        owner = next(iter(pod["metadata"].get("ownerReferences", [])), None)
        if owner is None:
            return

        def change(job: dict[str, Any]) -> None:
            if phase == "Succeeded":
                done = {"type": "Complete", "status": "True"}
            else:  # backoffLimit 0: the first failure is the last
                done = {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            job["status"] = {
                "active": 0,
                "succeeded" if phase == "Succeeded" else "failed": 1,
                **({"completionTime": timestamp()} if phase == "Succeeded" else {}),
                "conditions": [done],
            }

        self.store.update("Job", pod["metadata"]["namespace"], owner["name"], change)

    def _volumes(
        self, pod: dict[str, Any], workdir: Path, made: list[str]
    ) -> dict[str, tuple[str, str]]:
        """Each volume as (Docker mount type, source)."""
        namespace = pod["metadata"]["namespace"]
        result: dict[str, tuple[str, str]] = {}
        for volume in pod["spec"].get("volumes", []):
            name = volume["name"]
            if "emptyDir" in volume:
                docker_name = f"standin-{pod['metadata']['uid'][:8]}-{name}"
                self.docker.volumes.create(
                    docker_name, labels={LABEL: pod["metadata"]["uid"], SERVER_LABEL: self.server}
                )
                made.append(docker_name)
                result[name] = ("volume", docker_name)
                continue
            directory = workdir / "volumes" / name
            directory.mkdir(parents=True, exist_ok=True)
            if "downwardAPI" in volume:
                self._downward_volume(pod, directory, volume)
                result[name] = ("bind", str(directory))
                continue
            sources = volume["projected"]["sources"] if "projected" in volume else [volume]
            for source in sources:
                if "configMap" in source:
                    ref = source["configMap"]
                    data = self.store.get("ConfigMap", namespace, ref["name"]).get("data", {})
                    files = {k: v.encode() for k, v in data.items()}
                elif "secret" in source:
                    ref = source["secret"]
                    found = self.store.get(
                        "Secret", namespace, ref.get("secretName") or ref["name"]
                    )
                    files = {k: base64.b64decode(v) for k, v in found.get("data", {}).items()}
                else:
                    raise ApiError(422, "Invalid", f"volume {name}: not supported by the stand-in")
                items = ref.get("items") or [{"key": key, "path": key} for key in files]
                for item in items:
                    path = directory / item["path"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(files[item["key"]])
                    path.chmod(item.get("mode", ref.get("defaultMode", 0o644)))
            result[name] = ("bind", str(directory))
        return result

    def _downward_volume(
        self, pod: dict[str, Any], directory: Path, volume: dict[str, Any]
    ) -> None:
        """A ``downwardAPI`` volume, written from the Pod's stored metadata and rewritten on
        every change a client makes (:mod:`standin.downward`)."""
        meta = pod["metadata"]
        try:
            found = DownwardVolume(directory, volume["downwardAPI"])
        except ValueError as exc:
            raise ApiError(422, "Invalid", f"volume {volume['name']}: {exc}") from None
        with self._downward_lock:
            self._downward.setdefault(meta["uid"], []).append(found)
            found.write(self.store.get("Pod", meta["namespace"], meta["name"]))

    def _env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = expand(variable["value"], env)
                continue
            source = variable.get("valueFrom", {})
            if "secretKeyRef" in source or "configMapKeyRef" in source:
                secret = "secretKeyRef" in source
                ref = source["secretKeyRef" if secret else "configMapKeyRef"]
                kind = "Secret" if secret else "ConfigMap"
                try:
                    data = self.store.get(kind, namespace, ref["name"]).get("data", {})
                except ApiError:
                    data = {}
                if ref["key"] not in data:
                    raise _ConfigError(
                        f'{kind.lower()} "{ref["name"]}" key "{ref["key"]}" not found'
                    )
                value = data[ref["key"]]
                env[variable["name"]] = base64.b64decode(value).decode() if secret else value
            elif "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                meta = pod["metadata"]
                env[variable["name"]] = {
                    "metadata.name": meta["name"],
                    "metadata.namespace": meta["namespace"],
                    "metadata.uid": meta["uid"],
                }.get(path, "")
        return env

    def _run_container(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        init: bool,
        volumes: dict[str, tuple[str, str]],
    ) -> int:
        name = container["name"]
        image = container["image"]
        if self._gone(pod):
            raise PodGone
        try:
            self.docker.images.get(image)
        except docker.errors.ImageNotFound:
            self._image_missing(pod, container, init)
        try:
            env = self._env(pod, container)
        except _ConfigError as exc:
            self._set_container(
                pod,
                name,
                init,
                {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}},
            )
            while not self._gone(pod):
                threading.Event().wait(PULL_BACKOFF_SECONDS)
            raise PodGone from None
        mounts = []
        for mount in container.get("volumeMounts", []):
            kind, source = volumes[mount["name"]]
            if mount.get("subPath"):
                if kind != "bind":
                    raise ApiError(
                        422, "Invalid", "subPath of an emptyDir: not supported by the stand-in"
                    )
                source = f"{source}/{mount['subPath']}"
            mounts.append(
                Mount(
                    mount["mountPath"],
                    source,
                    type=kind,
                    read_only=bool(mount.get("readOnly")) or kind == "bind",
                )
            )
        security = {
            **pod["spec"].get("securityContext", {}),
            **container.get("securityContext", {}),
        }
        user = None
        if "runAsUser" in security:
            user = str(security["runAsUser"]) + (
                f":{security['runAsGroup']}" if "runAsGroup" in security else ""
            )
        limits = container.get("resources", {}).get("limits", {})
        created = self.docker.containers.create(
            image,
            entrypoint=[expand(part, env) for part in container.get("command", [])] or None,
            command=[expand(part, env) for part in container.get("args", [])] or None,
            environment=env,
            working_dir=container.get("workingDir"),
            mounts=mounts,
            user=user,
            mem_limit=int(quantity(limits["memory"])) if "memory" in limits else None,
            memswap_limit=int(quantity(limits["memory"])) if "memory" in limits else None,
            nano_cpus=int(quantity(limits["cpu"]) * 1e9) if "cpu" in limits else None,
            labels={LABEL: pod["metadata"]["uid"], SERVER_LABEL: self.server},
            hostname=pod["spec"].get("hostname", pod["metadata"]["name"])[:63],
            network=self.network,
            networking_config={
                self.network: self.docker.api.create_endpoint_config(aliases=self._aliases(pod))
            },
            detach=True,
        )
        with self._lock:
            self._containers[(pod["metadata"]["uid"], name)] = created.id
        if self._gone(pod):
            created.remove(force=True)
            raise PodGone
        created.start()
        started = timestamp()
        address = self._address(pod, created.id)
        self._set_container(
            pod,
            name,
            init,
            {"running": {"startedAt": started}},
            containerID=f"docker://{created.id}",
            started=True,
        )
        prober = None
        if not init:  # Pending until a container runs

            def running(item: dict[str, Any]) -> None:
                if item["status"]["phase"] == "Pending":
                    item["status"]["phase"] = "Running"

            self._update_pod(pod, running)
            if "readinessProbe" in container:

                def report(ready: bool) -> None:
                    if not self._gone(pod):
                        self._set_ready(pod, name, ready)

                prober = Prober(self.docker, created.id, address, container, report)
                prober.start()
            else:  # no probe: ready once running
                self._set_ready(pod, name, True)
        try:
            created.wait()
            state = self.docker.api.inspect_container(created.id)["State"]
        except docker.errors.APIError:
            raise PodGone from None
        finally:
            if prober is not None:
                prober.stop()
        if not init and not self._gone(pod):
            self._set_ready(pod, name, False)
        if self._gone(pod):
            raise PodGone
        code = int(state["ExitCode"])
        reason = "OOMKilled" if state.get("OOMKilled") else ("Completed" if code == 0 else "Error")
        terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": timestamp(),
            "containerID": f"docker://{created.id}",
        }
        self._set_container(pod, name, init, {"terminated": terminated})
        return code

    def _aliases(self, pod: dict[str, Any]) -> list[str]:
        """The Pod's DNS names (Docker network aliases), as a cluster's DNS gives them:
        ``HOSTNAME.SUBDOMAIN`` when a Service named ``SUBDOMAIN`` exists, and the name of
        every Service whose selector matches its labels (a headless Service: its Pods'
        addresses); each also with ``.NAMESPACE``, ``.NAMESPACE.svc`` and
        ``.NAMESPACE.svc.cluster.local``. Unlike a cluster's, they exist before the Pod is
        Ready."""
        meta, spec = pod["metadata"], pod["spec"]
        namespace, labels = meta["namespace"], meta.get("labels", {})
        services = self.store.list("Service", namespace, "")[0]
        names = []
        hostname, subdomain = spec.get("hostname"), spec.get("subdomain")
        if hostname and subdomain and any(s["metadata"]["name"] == subdomain for s in services):
            names.append(f"{hostname}.{subdomain}")
        for service in services:
            selector = service["spec"].get("selector") or {}
            if selector and all(labels.get(key) == value for key, value in selector.items()):
                names.append(service["metadata"]["name"])
        suffixes = ("", f".{namespace}", f".{namespace}.svc", f".{namespace}.svc.cluster.local")
        return [name + suffix for name in names for suffix in suffixes]

    def _address(self, pod: dict[str, Any], container_id: str) -> str:
        """The container's address on the Pod network; the Pod's ``podIP`` is its first
        container's (each container of a Pod has its own address here)."""
        found = self.docker.api.inspect_container(container_id)["NetworkSettings"]["Networks"]
        address = str(found[self.network]["IPAddress"])

        def change(item: dict[str, Any]) -> None:
            if "podIP" not in item["status"]:
                item["status"].update(podIP=address, podIPs=[{"ip": address}], hostIP="127.0.0.1")

        self._update_pod(pod, change)
        return address

    def _set_ready(self, pod: dict[str, Any], name: str, ready: bool) -> None:
        """A container's ``ready``, and the Pod's ``ContainersReady`` and ``Ready``
        conditions (true when every container is)."""

        def change(item: dict[str, Any]) -> None:
            statuses = item["status"]["containerStatuses"]
            for entry in statuses:
                if entry["name"] == name:
                    entry["ready"] = ready
            every = all(entry["ready"] for entry in statuses)
            for kind in ("ContainersReady", "Ready"):
                _set_condition(
                    item,
                    {
                        "type": kind,
                        "status": "True" if every else "False",
                        "lastTransitionTime": timestamp(),
                    },
                )

        self._update_pod(pod, change)

    def _image_missing(self, pod: dict[str, Any], container: dict[str, Any], init: bool) -> None:
        """Never pulled: report the kubelet's waiting reasons until the Pod is deleted."""
        image = container["image"]
        never = container.get("imagePullPolicy") == "Never"
        reasons = ["ErrImageNeverPull"] if never else ["ErrImagePull", "ImagePullBackOff"]
        messages = {
            "ErrImageNeverPull": f'Container image "{image}" is not present '
            "with pull policy of Never",
            "ErrImagePull": f'failed to pull and unpack image "{image}": no registry is reachable',
            "ImagePullBackOff": f'Back-off pulling image "{image}"',
        }
        turn = 0
        while not self._gone(pod):
            reason = reasons[min(turn, len(reasons) - 1)]
            self._set_container(
                pod,
                container["name"],
                init,
                {"waiting": {"reason": reason, "message": messages[reason]}},
            )
            turn += 1
            threading.Event().wait(PULL_BACKOFF_SECONDS)
        raise PodGone

    def logs(self, pod_uid: str, container: str, pod_name: str, follow: bool) -> Iterator[bytes]:
        with self._lock:
            cid = self._containers.get((pod_uid, container))
        if cid is None:
            return iter(())
        try:
            handle = self.docker.containers.get(cid)
            return iter(handle.logs(stream=True, follow=follow, stdout=True, stderr=True))
        except docker.errors.APIError:
            return iter(())


def _disruption(reason: str, message: str) -> dict[str, Any]:
    return {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": timestamp(),
    }


def _set_condition(pod: dict[str, Any], condition: dict[str, Any]) -> None:
    conditions = pod["status"].setdefault("conditions", [])
    conditions[:] = [c for c in conditions if c["type"] != condition["type"]] + [condition]


class _ConfigError(Exception):
    """A variable's Secret or ConfigMap key is missing."""
