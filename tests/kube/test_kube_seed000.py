"""Acceptance: seed 000's ``backend-auth-e2e`` Test through `assay run --runner kubernetes`
against the stand-in (issue 14), as on the local runner (tests/cli/test_seed000.py).

The Test is seed 000's verbatim except its ``image:``, replaced by a locally built stand-in of
``ghcr.io/astral-sh/uv:python3.13-bookworm-slim`` (no registry is reachable; assay has no image
override, so a copy of the definitions with only that line changed is applied). That image
(tests/kube/seed_cluster.uv_image) has ``uv`` from its PyPI wheel and the wheels the
preRunScript installs preinstalled as an offline index (``UV_FIND_LINKS=/wheels``,
``UV_OFFLINE=1`` in the image): ``uv pip install --system`` really runs, offline.

The content is cloned inside the Pod by the git init container from a ``git daemon`` on the
Docker bridge (what the kubelet's containers reach); the URL stays GitHub's, rewritten by the
git image's system config (``url.<mirror>.insteadOf``) as behind a mirror: the git image is the
operator's choice (``ASSAY_KUBERNETES_GIT_IMAGE``), nothing of the Test changes. The secret is
a Kubernetes Secret created first in the stand-in's namespace, as with kubectl; its value is
resolved by the kubelet and masked in the Pod (entry.sh), so it reaches neither assay's logs
nor its results.
"""

from __future__ import annotations

import json
from pathlib import Path

from kubernetes import client, config
from seed_cluster import GitMirror, uv_image
from standin import StandIn
from test_live import NS, wait_until_gone

from seed_support import SEED_TESTS, seed_backend_repo
from support import Cli, GitRepo, make_wheel

SECRET = "sb-service-key-1234567890"
UPSTREAM = "https://github.com/silverbeer/missing-table.git"
SEED_IMAGE = "image: ghcr.io/astral-sh/uv:python3.13-bookworm-slim"


def test_seed_000_backend_auth_e2e_runs_in_a_pod_with_real_logs_counts_and_exit_code(
    cli: Cli, standin: StandIn, docker_image: str, git_repo: GitRepo, tmp_path: Path
) -> None:
    repo = seed_backend_repo(git_repo, fixed=False)
    requirement = make_wheel(tmp_path / "dist", "assay-seed-requirement", "1.0", "VALUE = 42\n")
    image = uv_image(docker_image, [requirement])
    assert SEED_TESTS.count(SEED_IMAGE) == 2
    definitions = tmp_path / "k8s"
    definitions.mkdir()
    (definitions / "backend-e2e.yaml").write_text(SEED_TESTS.replace(SEED_IMAGE, f"image: {image}"))
    core = client.CoreV1Api(config.new_client_from_config(str(standin.kubeconfig)))
    core.create_namespaced_secret(
        NS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "testkube-secrets"},
            "stringData": {"supabase-service-key": SECRET},
        },
    )
    with GitMirror(tmp_path / "mirror") as mirror:
        url = mirror.serve(repo, "missing-table.git")
        cli.env["ASSAY_KUBERNETES_GIT_IMAGE"] = mirror.image(image, url, UPSTREAM)
        cli("apply", "-f", str(definitions), check=0)
        done = cli(
            "run", "backend-auth-e2e", "--runner", "kubernetes", "--namespace", NS, "-o", "json"
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    result = json.loads(done.stdout)
    log = cli("logs", result["id"], check=0).stdout
    context = f"result: {result}\nlog:\n{log}"
    assert (result["status"], result["runner"]) == ("failed", "kubernetes"), context
    assert (result["summary"]["tests"], result["summary"]["failed"]) == (4, 1), context
    steps = {step["name"]: step for step in result["steps"]}
    assert steps["pre-run"]["status"] == "passed", context
    assert (steps["test"]["status"], steps["test"]["exitCode"]) == ("failed", 1), context
    # the real logs: the clone in the Pod, uv's install, pytest's verbose run
    assert f"checked out {UPSTREAM} (main)" in log, context
    assert "Installing dependencies..." in log and "Dependencies installed" in log
    assert "assay-seed-requirement==1.0" in log  # uv's report of requirements.txt
    assert "test_auth_endpoints.py::TestAuthSignup::test_signup_validation FAILED" in log
    assert "1 failed, 3 passed" in log
    assert SECRET not in log and "key=***" in log
    cases = cli.json("get", "testcases", result["id"])
    assert sorted((c["name"], c["status"]) for c in cases) == [
        ("test_requirements_installed", "passed"),
        ("test_secret_reaches_the_test", "passed"),
        ("test_signup_validation", "failed"),
        ("test_variables_reach_the_test", "passed"),
    ]
    texts = " ".join((c["message"] or "") + (c["trace"] or "") for c in cases)
    assert "key=***" in texts and SECRET not in texts
    home = Path(cli.env["ASSAY_HOME"])
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert SECRET.encode() not in stored
    assert standin.objects("Secret") == ["testkube-secrets"]  # the user's: left alone
    core.delete_namespaced_secret("testkube-secrets", NS)
    assert wait_until_gone(standin) == {}
