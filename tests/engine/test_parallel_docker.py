"""`parallel` on the docker runner: each worker in its own containers with its own `/data`,
filled by `transfer` and read back by `fetch`; JUnit of every worker ingested."""

from __future__ import annotations

from typing import Any

from engine_support import workflow

from assay.engine.execution import Engine, RunOptions
from assay.engine.resolve import Catalog
from assay.runners.docker import DockerRunner, docker_client
from assay.settings import Settings
from assay.store import Database
from assay.store.executions import ExecutionStore

WORKFLOW = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: docker-workers}
spec:
  container: {image: IMAGE}
  content:
    files:
      - {path: /data/marker, content: "the execution's own"}
      - path: /data/in/test_worker.py
        content: |
          import os
          def test_sees_only_what_was_transferred():
              assert sorted(os.listdir("/data")) == ["in"]
  steps:
    - name: group
      parallel:
        count: 2
        transfer: [{from: /data/in}]
        fetch: [{from: /data/out}]
        artifacts: {paths: [/data/out/*]}
        shell: |
          cd /data/in && python3 -m pytest -q -p no:cacheprovider
          mkdir -p /data/out && echo "worker {{ index }}" > /data/out/result-{{ index }}.txt
    - name: collected
      shell: cat /data/out/result-0.txt /data/out/result-1.txt; test -e /data/marker
"""


def containers_and_networks(execution_id: str) -> tuple[list[Any], list[Any]]:
    client = docker_client()
    try:
        filters = {"label": f"assay.execution={execution_id}"}
        return (
            list(client.containers.list(all=True, filters=filters)),
            list(client.networks.list(filters=filters)),
        )
    finally:
        client.close()


def test_workers_have_their_own_data_with_transfer_and_fetch(
    assay_home: Settings, docker_image: str
) -> None:
    db = Database(assay_home.database_url)
    engine = Engine(assay_home, db, DockerRunner(docker_image, 1.0), Catalog())
    row = engine.run(workflow(WORKFLOW.replace("IMAGE", docker_image)), RunOptions())
    log = (assay_home.executions_dir / row.id / "log.txt").read_text()
    assert row.status == "passed", log
    assert "worker 0\nworker 1\n" in log
    cases = ExecutionStore(db).test_cases(row.id)
    assert len(cases) == 2  # one per worker, each from its own report
    artifacts = assay_home.executions_dir / row.id / "artifacts" / "workers"
    kept = sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*.txt"))
    assert kept == ["1.w0/out/result-0.txt", "1.w1/out/result-1.txt"]
    assert containers_and_networks(row.id) == ([], [])
    db.close()
