"""Every /v1 endpoint needs a bearer token of enough scope: none or a bad one is 401, a
smaller scope 403; tokens from `assay token create` work at once, revoked ones stop."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from server_support import SCOPES, ApiServer

WORKFLOW = {
    "apiVersion": "testworkflows.testkube.io/v1",
    "kind": "TestWorkflow",
    "metadata": {"name": "auth-probe"},
    "spec": {"steps": [{"name": "s", "shell": "echo hi"}]},
}

# (method, path, json body, scope needed)
ENDPOINTS: list[tuple[str, str, object, str]] = [
    ("GET", "/v1/test-workflows", None, "read"),
    ("GET", "/v1/test-workflows/auth-probe", None, "read"),
    ("GET", "/v1/tests", None, "read"),
    ("GET", "/v1/test-suites", None, "read"),
    ("GET", "/v1/test-workflow-templates", None, "read"),
    ("GET", "/v1/test-workflow-executions", None, "read"),
    ("GET", "/v1/test-workflow-executions/nothing-1", None, "read"),
    ("GET", "/v1/test-workflow-executions/nothing-1/logs", None, "read"),
    ("GET", "/v1/test-workflow-executions/nothing-1/notifications", None, "read"),
    ("GET", "/v1/test-workflow-executions/nothing-1/artifacts", None, "read"),
    ("GET", "/v1/test-workflow-executions/nothing-1/artifacts/a.txt", None, "read"),
    ("GET", "/v1/test-workflow-executions/nothing-1/testcases", None, "read"),
    ("GET", "/v1/analytics/flaky", None, "read"),
    ("GET", "/v1/analytics/trends", None, "read"),
    ("GET", "/v1/analytics/trace", None, "read"),
    ("GET", "/v1/reports?execution=nothing-1", None, "read"),
    ("GET", "/v1/quarantine", None, "read"),
    ("POST", "/v1/test-workflows", WORKFLOW, "admin"),
    ("PUT", "/v1/test-workflows/auth-probe", WORKFLOW, "admin"),
    ("DELETE", "/v1/test-workflows/not-there", None, "admin"),
    ("POST", "/v1/quarantine", {"testIds": ["0000000000000000"]}, "admin"),
    ("DELETE", "/v1/quarantine/0000000000000000", None, "admin"),
    ("GET", "/v1/tokens", None, "admin"),
    ("POST", "/v1/tokens", {"name": "", "scope": "read"}, "admin"),
    ("DELETE", "/v1/tokens/not-there", None, "admin"),
]


def _call(api: ApiServer, scope: str | None, method: str, path: str, body: object) -> int:
    with api.client(scope) as client:
        return client.request(method, path, json=body).status_code


@pytest.mark.parametrize(("method", "path", "body", "needed"), ENDPOINTS)
def test_scope_matrix(api: ApiServer, method: str, path: str, body: object, needed: str) -> None:
    with api.client("admin") as admin:  # the probe workflow exists for GET and PUT
        admin.post("/v1/test-workflows", json=WORKFLOW).raise_for_status()
    assert _call(api, None, method, path, body) == 401
    for scope in SCOPES:
        status = _call(api, scope, method, path, body)
        allowed = SCOPES.index(scope) >= SCOPES.index(needed)
        if allowed:
            assert status not in (401, 403), (scope, status)
            assert status < 500, (scope, status)
        else:
            assert status == 403, (scope, status)


def test_unknown_malformed_and_expired_tokens_are_401(api: ApiServer) -> None:
    headers = [
        {"Authorization": "Bearer assay_not-a-token"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {api.tokens['admin']}"},
        {"Authorization": api.tokens["admin"]},
    ]
    with api.client(None) as client:
        for header in headers:
            response = client.get("/v1/test-workflows", headers=header)
            assert response.status_code == 401, header
            assert response.json()["error"]
            assert response.headers["www-authenticate"].startswith("Bearer")
    expiry = datetime.now(UTC) + timedelta(seconds=5)
    expiring = api.token("short-lived", "admin", expires_at=expiry)
    with api.client(token=expiring) as client:
        assert client.get("/v1/test-workflows").status_code == 200
        time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.2)
        late = client.get("/v1/test-workflows")
        assert late.status_code == 401
        assert late.json() == {"error": "unknown, expired or revoked token"}


def test_forbidden_names_the_scope(api: ApiServer) -> None:
    with api.client("read") as client:
        response = client.delete("/v1/test-workflows/x")
    assert response.status_code == 403
    assert response.json() == {"error": "token 'test-read' has scope read; this needs admin"}


def test_health_and_ready_need_no_token(api: ApiServer) -> None:
    with api.client(None) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").json() == {"status": "ready"}
        assert client.get("/openapi.json").json()["paths"]


def test_token_cli_prints_only_the_token_which_works_until_revoked(api: ApiServer) -> None:
    created = api.cli("token", "create", "from-cli", "--scope", "run", "--expires", "30d")
    secret = created.stdout
    assert re.fullmatch(r"assay_[A-Za-z0-9_-]{43}\n", secret), secret
    assert created.stderr == ""
    secret = secret.strip()
    with api.client(token=secret) as client:
        assert client.get("/v1/test-workflows").status_code == 200
        assert client.delete("/v1/test-workflows/x").status_code == 403
        listed = {t["name"]: t for t in api.cli_json("token", "list")}
        assert listed["from-cli"]["scope"] == "run" and listed["from-cli"]["active"]
        assert listed["from-cli"]["lastUsedAt"] is not None
        assert secret not in api.cli("token", "list", "-o", "json").stdout
        assert api.cli("token", "create", "from-cli", "--scope", "read", check=2).stderr == (
            "error: a token named 'from-cli' exists; revoke it first\n"
        )
        api.cli("token", "revoke", "from-cli")
        assert client.get("/v1/test-workflows").status_code == 401
    assert "no token named 'nobody'" in api.cli("token", "revoke", "nobody", check=2).stderr
    bad = api.cli("token", "create", "x", "--scope", "root", check=2).stderr
    assert "root" in bad
    assert (
        "--expires 'tomorrow'"
        in api.cli(
            "token", "create", "y", "--scope", "read", "--expires", "tomorrow", check=2
        ).stderr
    )


def test_tokens_api_creates_lists_and_revokes(api: ApiServer) -> None:
    with api.client("admin") as admin:
        created = admin.post(
            "/v1/tokens", json={"name": "api-made", "scope": "read", "expires": "2h"}
        )
        assert created.status_code == 201
        secret = created.json()["token"]
        listed = admin.get("/v1/tokens").json()
        assert all("token" not in entry and "tokenHash" not in entry for entry in listed)
        assert secret not in admin.get("/v1/tokens").text
        with api.client(token=secret) as reader:
            assert reader.get("/v1/test-workflow-executions").status_code == 200
            assert reader.get("/v1/tokens").status_code == 403
            assert admin.delete("/v1/tokens/api-made").json()["revokedAt"]
            assert reader.get("/v1/test-workflow-executions").status_code == 401
        bad = admin.post("/v1/tokens", json={"name": "x", "scope": "root"})
        assert bad.status_code == 422 and "scope" in bad.json()["error"]
