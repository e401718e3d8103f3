"""Seed 000 material: its Test definitions verbatim and a backend repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from support import commit_all

SEED_TESTS = """\
apiVersion: tests.testkube.io/v3
kind: Test
metadata:
  name: backend-auth-e2e
  namespace: testkube
  labels:
    app: missing-table
    test-type: e2e
    layer: backend
spec:
  type: pytest/test
  content:
    type: git
    repository:
      type: git
      uri: https://github.com/silverbeer/missing-table.git
      branch: main
      path: backend/tests
  executionRequest:
    args:
      - "test_auth_endpoints.py::TestAuthLogin"
      - "test_auth_endpoints.py::TestAuthSignup"
      - "-v"
      - "--tb=short"
      - "--junit-xml=results.xml"

    variables:
      TEST_MODE:
        name: TEST_MODE
        value: "true"
      SUPABASE_URL:
        name: SUPABASE_URL
        value: "https://ppgxasqgqbnauvxozmjw.supabase.co"
      BACKEND_URL:
        name: BACKEND_URL
        value: "http://missing-table-backend.missing-table-dev.svc.cluster.local:8000"

    secretEnvs:
      SUPABASE_SERVICE_KEY:
        secretName: testkube-secrets
        secretKey: supabase-service-key

    workingDir: backend

    # Python 3.13 image with uv
    image: ghcr.io/astral-sh/uv:python3.13-bookworm-slim

    preRunScript: |
      #!/bin/bash
      set -e
      echo "Installing dependencies..."
      uv pip install --system pytest pytest-cov httpx python-dotenv
      uv pip install --system -r requirements.txt || true
      echo "Dependencies installed"
---
apiVersion: tests.testkube.io/v3
kind: Test
metadata:
  name: backend-api-e2e
  namespace: testkube
  labels:
    app: missing-table
    test-type: e2e
spec:
  type: pytest/test
  content:
    type: git
    repository:
      type: git
      uri: https://github.com/silverbeer/missing-table.git
      branch: main
      path: backend/tests
  executionRequest:
    args:
      - "test_enhanced_e2e.py::TestCompleteGameLifecycle"
      - "-v"
      - "--tb=short"

    variables:
      TEST_MODE:
        name: TEST_MODE
        value: "true"
      SUPABASE_URL:
        name: SUPABASE_URL
        value: "https://ppgxasqgqbnauvxozmjw.supabase.co"
      BACKEND_URL:
        name: BACKEND_URL
        value: "http://missing-table-backend.missing-table-dev.svc.cluster.local:8000"

    secretEnvs:
      SUPABASE_SERVICE_KEY:
        secretName: testkube-secrets
        secretKey: supabase-service-key

    workingDir: backend
    image: ghcr.io/astral-sh/uv:python3.13-bookworm-slim

    preRunScript: |
      #!/bin/bash
      set -e
      uv pip install --system pytest httpx python-dotenv
      uv pip install --system -r requirements.txt || true
"""

AUTH_TESTS = """\
import os

import httpx  # installed by the preRunScript
import dotenv  # python-dotenv, installed by the preRunScript


class TestAuthLogin:
    def test_variables_reach_the_test(self):
        assert os.environ["TEST_MODE"] == "true"
        assert os.environ["SUPABASE_URL"].startswith("https://")

    def test_secret_reaches_the_test(self):
        key = os.environ["SUPABASE_SERVICE_KEY"]
        assert key.startswith("sb-service-key-")

    def test_requirements_installed(self):
        import assay_seed_requirement

        assert assay_seed_requirement.VALUE == 42


class TestAuthSignup:
    def test_signup_validation(self):
        key = os.environ["SUPABASE_SERVICE_KEY"]
        assert {BUG} == 2, f"signup rejected with key={key}"


class TestNotSelected:
    def test_not_run(self):
        raise AssertionError("only the classes named in args run")
"""

API_TESTS = """\
import os


class TestCompleteGameLifecycle:
    def test_lifecycle(self):
        assert os.environ["BACKEND_URL"].endswith(":8000")
"""


def seed_backend_repo(
    git_repo: Callable[[dict[str, str]], Path], *, fixed: bool, repo: Path | None = None
) -> Path:
    """The missing-table layout: backend/requirements.txt, backend/tests/*.py."""
    files = {
        "backend/requirements.txt": "assay-seed-requirement==1.0\n",
        "backend/tests/test_auth_endpoints.py": AUTH_TESTS.replace(
            "{BUG}", "1 + 1" if fixed else "1 + 2"
        ),
        "backend/tests/test_enhanced_e2e.py": API_TESTS,
        "README.md": "missing-table (test fixture)\n",
    }
    if repo is None:
        return git_repo(files)
    for rel, text in files.items():
        (repo / rel).write_text(text)
    commit_all(repo, "fix the signup bug")
    return repo
