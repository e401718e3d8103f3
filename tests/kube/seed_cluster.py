"""What seed 000 needs around the stand-in, built here with no registry and no Internet:

- :func:`uv_image`: a local stand-in of ``ghcr.io/astral-sh/uv:python3.13-bookworm-slim``
  (``docker build`` FROM the Debian test image of scripts/test-image.sh): ``uv`` from the
  PyPI wheel in ``.cache/wheelhouse`` (scripts/test.sh downloads it on the host), ``git``
  from Debian, the system Python not marked externally managed (as in the python:*-slim
  images), and an offline package index: the wheelhouse (and ``extra`` wheels) copied to
  ``/wheels`` with ``UV_OFFLINE=1``, ``UV_FIND_LINKS=/wheels``. Cached in the daemon under a
  tag hashed from its inputs.
- :class:`GitMirror`: ``git daemon`` serving bare repositories on the Docker bridge's
  gateway address, which the kubelet's containers reach, and :meth:`GitMirror.image`: the
  git image for ``ASSAY_KUBERNETES_GIT_IMAGE`` whose system git config
  (``url.<mirror>.insteadOf``) sends a GitHub URL to the mirror, as an operator's git image
  behind a mirror would. Removed when the mirror stops.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import socket
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from types import TracebackType

import docker

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
COPY uv.whl /tmp/uv.whl
RUN python3 -c "import zipfile; z = zipfile.ZipFile('/tmp/uv.whl'); \\
[open('/usr/local/bin/' + n.rsplit('/', 1)[1], 'wb').write(z.read(n)) \\
 for n in z.namelist() if '.data/scripts/' in n]" \\
 && chmod 755 /usr/local/bin/uv /usr/local/bin/uvx && rm /tmp/uv.whl \\
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && uv --version
COPY wheels /wheels
ENV UV_OFFLINE=1 UV_FIND_LINKS=/wheels UV_NO_CACHE=1
"""


def _docker(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def uv_image(base: str, extra: list[Path]) -> str:
    """The tag of the local uv image (built once per set of inputs)."""
    wheels = sorted(WHEELHOUSE.glob("*.whl"))
    uv = [wheel for wheel in wheels if wheel.name.startswith("uv-")]
    if not uv:
        raise RuntimeError(f"no uv wheel in {WHEELHOUSE}: scripts/test.sh downloads it")
    digest = hashlib.sha256(f"{base}\n{DOCKERFILE}".encode())
    for wheel in [*wheels, *extra]:  # by content: a rebuilt wheel differs only in its dates
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                digest.update(f"{wheel.name}/{member}".encode() + archive.read(member))
    tag = f"assay-test-uv:{digest.hexdigest()[:12]}"
    client = docker.from_env()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text(DOCKERFILE)
        shutil.copy(uv[0], Path(context) / "uv.whl")
        (Path(context) / "wheels").mkdir()
        for wheel in [*wheels, *extra]:
            if wheel not in uv:
                shutil.copy(wheel, Path(context) / "wheels" / wheel.name)
        _docker("build", "-q", "--build-arg", f"BASE={base}", "-t", tag, context)
    return tag


def bridge_gateway() -> str:
    """The address of this machine on Docker's default bridge."""
    client = docker.from_env()
    try:
        config = client.networks.get("bridge").attrs["IPAM"]["Config"]
    finally:
        client.close()
    if "Gateway" in config[0]:
        return str(config[0]["Gateway"])
    return str(next(ipaddress.ip_network(config[0]["Subnet"]).hosts()))  # Docker's choice


class GitMirror:
    """``git daemon`` on the bridge gateway serving ``root``'s bare repositories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = bridge_gateway()
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        self.images: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None

    def serve(self, repo: Path, name: str) -> str:
        """Serve ``repo`` (a bare clone of it) as ``name``; its URL."""
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(repo), str(self.root / name)], check=True
        )
        return f"git://{self.host}:{self.port}/{name}"

    def image(self, base: str, url: str, instead_of: str) -> str:
        """A git image FROM ``base`` whose system config rewrites ``instead_of`` to ``url``."""
        tag = f"assay-test-git-mirror:{self.port}-{time.monotonic_ns()}"
        recipe = f"FROM {base}\nRUN git config --system url.{url}.insteadOf {instead_of}\n"
        _docker("build", "-q", "-t", tag, "-", stdin=recipe)
        self.images.append(tag)
        return tag

    def __enter__(self) -> GitMirror:
        self.root.mkdir(parents=True, exist_ok=True)
        daemon = ["git", "daemon", "--reuseaddr", "--export-all", "--informative-errors"]
        where = [f"--base-path={self.root}", f"--listen={self.host}", f"--port={self.port}"]
        self._process = subprocess.Popen(
            [*daemon, *where, str(self.root)], stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self._process.kill()
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        for tag in self.images:
            subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
