#!/usr/bin/env bash
# Shared setup: system packages (as root, with apt) and the project's virtualenv.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ASSAY_VENV:-$ROOT/.venv}"

docker_socket_answers() {  # the daemon answers on its socket (no docker CLI needed)
  [ -S /var/run/docker.sock ] && python3 - <<'PY' 2>/dev/null
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect("/var/run/docker.sock")
s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
raise SystemExit(0 if b"OK" in s.recv(4096) else 1)
PY
}

need_apt=()
command -v git >/dev/null 2>&1 || need_apt+=(git)
if [ "${ASSAY_SETUP_SYSTEM:-auto}" != "no" ] && [ "${1:-}" = "--with-services" ]; then
  command -v busybox >/dev/null 2>&1 || need_apt+=(busybox) # alpine's sh, for tests/kube
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
  # the dashboard's browser tests (tests/dashboard) drive Debian's chromium with Playwright
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install: ${need_apt[*]} (not root or no apt-get)" >&2
  fi
fi

# The Docker runner's tests need a daemon: start one (as root) when none answers.
if [ "${ASSAY_SETUP_SYSTEM:-auto}" != "no" ] && [ "${1:-}" = "--with-services" ] \
  && [ "$(id -u)" = "0" ] && command -v dockerd >/dev/null 2>&1 && ! docker_socket_answers; then
  mkdir -p "$ROOT/.cache"
  echo "setup: starting dockerd (log: .cache/dockerd.log)"
  nohup dockerd >"$ROOT/.cache/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do docker_socket_answers && break; sleep 0.5; done
  docker_socket_answers || echo "setup: dockerd did not start; see .cache/dockerd.log" >&2
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python >= 3.11 is required (found $("$PY" --version 2>&1))" >&2
  exit 3
fi
stamp="$VENV/.assay-installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "setup: installing assay and its development tools into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
