"""A stand-in of the Kubernetes API on loopback, for the Kubernetes runner's tests.

No Kubernetes can run on these machines, so the runner is tested at its one seam, the API:
:class:`StandIn` serves the subset the runner uses (:mod:`standin.api`: create, get, replace,
list, delete and watch Jobs, Pods, ConfigMaps, Secrets, headless Services, Events and
ResourceQuotas; patch Pods' labels and annotations (:mod:`standin.patch`); Pod logs
with ``follow``; CRDs and their custom resources), validating every body strictly against the
Kubernetes 1.31 OpenAPI schemas (a custom resource against its CRD's), enforcing object-count
quotas (:mod:`standin.quota`), and runs each Job's Pod and each bare Pod on the Docker Engine
(:mod:`standin.kubelet`: one Pod network with DNS names, readiness probes by
:mod:`standin.probe`; it also injects node faults for tests; ``pods=False``: none). A
kubeconfig pointing at it (bearer token) is written for the runner to load as it would a
cluster's.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import uvicorn
import yaml

from standin.api import Api, ApiError, Store
from standin.kubelet import Kubelet
from standin.patch import patched_pod
from standin.quota import admit

__all__ = ["StandIn"]


class StandIn:
    """The API server (a uvicorn thread on 127.0.0.1) and its kubelet; a context manager."""

    def __init__(self, root: Path, namespace: str = "tests", *, pods: bool = True) -> None:
        self.root = root
        self.namespace = namespace
        self.store = Store()
        self.store.admit.append(admit)
        self.kubelet = Kubelet(self.store, root / "pods") if pods else None
        """None (``pods`` false): Pods are stored, never run (no Docker needed)."""
        self.token = secrets.token_hex(16)
        self.api = Api(self.store, self.token, self.kubelet.logs if self.kubelet else _no_logs)
        self.api.patch = patched_pod
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.api.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="standin", daemon=True)
        self.kubeconfig = root / "kubeconfig"

    def __enter__(self) -> StandIn:
        self.root.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
                    "users": [{"name": "runner", "user": {"token": self.token}}],
                    "contexts": [
                        {
                            "name": "standin",
                            "context": {
                                "cluster": "standin",
                                "user": "runner",
                                "namespace": self.namespace,
                            },
                        }
                    ],
                    "current-context": "standin",
                }
            ),
            encoding="utf-8",
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Kubernetes stand-in did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self.kubelet is not None:
            self.kubelet.cleanup()

    def objects(self, kind: str) -> list[str]:
        """Names of the stored objects of ``kind`` in the namespace."""
        return sorted(
            name for (k, ns, name) in self.store.objects if k == kind and ns == self.namespace
        )


def _no_logs(_uid: str, _container: str, pod: str, _follow: bool) -> Iterator[bytes]:
    raise ApiError(400, "BadRequest", f"pod {pod} runs nowhere (a stand-in without kubelet)")
