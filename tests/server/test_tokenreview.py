"""In Kubernetes, a ServiceAccount token is accepted through the API server's TokenReview.

No cluster runs here: the API server is a stand-in on loopback that checks every request
body against the published ``authentication.k8s.io/v1`` TokenReview schema
(kubernetes-validate, strict) and the caller's own bearer token, and answers as the API
server does for the tokens it knows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from server_support import ApiServer, running_server

SERVER_TOKEN = "server-own-sa-token"
USERS = {
    "sa-ci-token": {
        "username": "system:serviceaccount:ci:runner",
        "groups": ["system:serviceaccounts"],
    },
    "sa-viewer-token": {"username": "system:serviceaccount:ops:viewer", "groups": ["team:viewers"]},
    "sa-nobody-token": {"username": "system:serviceaccount:x:nobody", "groups": []},
}


class TokenReviewStandIn(BaseHTTPRequestHandler):
    """POST /apis/authentication.k8s.io/v1/tokenreviews, as the API server answers it."""

    reviews: list[dict[str, Any]] = []  # noqa: RUF012 (one stand-in per test module)
    problems: list[str] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/apis/authentication.k8s.io/v1/tokenreviews":
            self._answer(404, {"kind": "Status", "code": 404})
            return
        if self.headers.get("Authorization") != f"Bearer {SERVER_TOKEN}":
            self.problems.append(f"caller's bearer: {self.headers.get('Authorization')}")
            self._answer(401, {"kind": "Status", "code": 401})
            return
        try:
            kubernetes_validate.validate(body, "1.31", strict=True)
        except kubernetes_validate.ValidationError as exc:
            self.problems.append(str(exc).splitlines()[0])
            self._answer(400, {"kind": "Status", "code": 400})
            return
        self.reviews.append(body)
        user = USERS.get(body["spec"]["token"])
        status: dict[str, Any] = {"authenticated": user is not None}
        if user is not None:
            status["user"] = user
        else:
            status["error"] = "invalid bearer token"
        answer = {**body, "status": status}
        kubernetes_validate.validate(answer, "1.31", strict=True)
        self._answer(201, answer)

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def kube_api() -> Iterator[str]:
    standin = ThreadingHTTPServer(("127.0.0.1", 0), TokenReviewStandIn)
    thread = threading.Thread(target=standin.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{standin.server_address[1]}"
    standin.shutdown()
    standin.server_close()


@pytest.fixture(scope="module")
def api(kube_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    tmp = tmp_path_factory.mktemp("kube")
    token_file = tmp / "sa-token"
    token_file.write_text(SERVER_TOKEN + "\n")
    env = {
        "ASSAY_SERVER_KUBE_API_URL": kube_api,
        "ASSAY_SERVER_KUBE_TOKEN_FILE": str(token_file),
        "ASSAY_SERVER_KUBE_CA_FILE": str(tmp / "no-ca.crt"),
        "ASSAY_SERVER_KUBE_SCOPES": json.dumps(
            {"system:serviceaccount:ci:runner": "run", "team:viewers": "read"}
        ),
        "ASSAY_SERVER_KUBE_AUDIENCES": json.dumps(["assay"]),
    }
    url = f"sqlite:///{tmp / 'home' / 'assay.db'}"
    with running_server(tmp / "home", url, extra_env=env) as server:
        yield server


def _status(api: ApiServer, token: str, method: str, path: str) -> int:
    with api.client(token=token) as client:
        return client.request(method, path).status_code


def test_service_account_tokens_get_the_scope_of_their_user_or_group(api: ApiServer) -> None:
    TokenReviewStandIn.reviews.clear()
    assert _status(api, "sa-ci-token", "GET", "/v1/test-workflow-executions") == 200
    assert _status(api, "sa-ci-token", "POST", "/v1/test-workflow-executions/none-1/abort") == 404
    assert _status(api, "sa-ci-token", "GET", "/v1/tokens") == 403  # run, not admin
    assert _status(api, "sa-viewer-token", "GET", "/v1/test-workflows") == 200  # by group
    assert _status(api, "sa-viewer-token", "POST", "/v1/test-workflow-executions/x/abort") == 403
    assert _status(api, "sa-nobody-token", "GET", "/v1/test-workflows") == 401  # no scope mapped
    assert _status(api, "forged-token", "GET", "/v1/test-workflows") == 401  # not authenticated
    assert _status(api, api.tokens["admin"], "GET", "/v1/tokens") == 200  # assay's own first
    assert TokenReviewStandIn.problems == []
    reviewed = [review["spec"] for review in TokenReviewStandIn.reviews]
    assert {"token": "sa-ci-token", "audiences": ["assay"]} in reviewed
    assert all(spec["token"] != api.tokens["admin"] for spec in reviewed)
    # accepted reviews are reused for a while: three calls with sa-ci-token, one review
    assert sum(spec["token"] == "sa-ci-token" for spec in reviewed) == 1


def test_the_stand_in_refuses_what_the_api_server_would(kube_api: str, tmp_path: Path) -> None:
    import httpx

    url = f"{kube_api}/apis/authentication.k8s.io/v1/tokenreviews"
    bad = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"tokn": "x"}}
    headers = {"Authorization": f"Bearer {SERVER_TOKEN}"}
    assert httpx.post(url, json=bad, headers=headers).status_code == 400
    TokenReviewStandIn.problems.clear()
