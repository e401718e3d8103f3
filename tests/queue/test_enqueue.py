"""Queueing a run: every check a run makes happens before anything is stored (exit 2);
sensitive config is sealed; source archives are checked and kept; abort and rerun."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
from queue_support import Apply

from assay.app import Assay
from assay.engine.requests import RunRequest
from assay.errors import DefinitionError, NotFoundError
from assay.store.sealing import Sealer

ROOT = Path(__file__).resolve().parents[2]

TYPED = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: typed}
spec:
  config:
    count: {type: integer, default: 1}
    ratio: {type: number, default: 0.5}
    mode: {type: string, enum: [fast, slow], default: fast}
    token: {type: string, sensitive: true, default: none}
  concurrency: {group: "typed-{{ config.mode }}", max: 2}
  steps:
    - shell: echo {{ config.count }} {{ config.mode }} {{ config.token }}
"""


def _stored(assay: Assay) -> int:
    return len(assay.executions.recent(limit=100))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"undeclared": "1"}, r"unknown config parameter\(s\) undeclared"),
        ({"count": "many"}, r"config.count: 'many' is not a valid integer"),
        ({"count": "1; rm -rf ~"}, r"config.count: '1; rm -rf ~' is not a valid integer"),
        ({"count": "$(touch /tmp/x)"}, r"config.count: .* is not a valid integer"),
        ({"ratio": "0.5`id`"}, r"config.ratio: .* is not a valid number"),
        ({"mode": "fast; reboot"}, r"config.mode: 'fast; reboot' is not one of"),
    ],
)
def test_bad_config_is_refused_before_anything_is_stored(
    assay: Assay, apply: Apply, config: dict[str, str], message: str
) -> None:
    apply(TYPED)
    with pytest.raises(DefinitionError, match=message) as raised:
        assay.enqueue("typed", config=config, tags={})
    assert raised.value.exit_code == 2
    assert _stored(assay) == 0
    assert not (assay.settings.home / "sources").exists()


def test_unknown_workflows_runners_and_bad_concurrency_are_refused(
    assay: Assay, apply: Apply
) -> None:
    apply(TYPED)
    with pytest.raises(NotFoundError):
        assay.enqueue("missing", config={}, tags={})
    with pytest.raises(DefinitionError, match="runner 'kubernetes': not one of local, docker"):
        assay.enqueue("typed", config={}, tags={}, runner="kubernetes")
    for concurrency, message in [
        ("{max: 0}", r"spec.concurrency.max: 0 is not an integer of at least 1"),
        ("{max: many}", r"spec.concurrency.max: 'many'"),
        ("{group: g, limit: 2}", r"spec.concurrency: unknown field\(s\) limit"),
        ('{group: "{{ config.token }}"}', r"uses sensitive config.token"),
    ]:
        apply(TYPED.replace('{group: "typed-{{ config.mode }}", max: 2}', concurrency))
        with pytest.raises(DefinitionError, match=message):
            assay.enqueue("typed", config={}, tags={})
    assert _stored(assay) == 0


def test_a_queued_run_records_what_the_worker_needs_and_no_secret(
    assay: Assay, apply: Apply
) -> None:
    apply(TYPED)
    secret = "s3cr3t-value-of-the-token"
    row = assay.enqueue(
        "typed", config={"count": "3", "token": secret, "mode": "slow"}, tags={"team": "a"}
    )
    assert (row.status, row.name, row.runner, row.tags) == (
        "queued",
        "typed-1",
        "local",
        {"team": "a"},
    )
    assert row.config == {"count": 3, "ratio": 0.5, "mode": "slow", "token": "***"}
    assert (row.concurrency_group, row.concurrency_max) == ("typed-slow", 2)
    assert row.owner_pid is None and row.owner_host is None and row.lease_owner is None
    stored = assay.executions.get(row.id)
    assert stored.request is not None
    assert secret not in repr(stored.request)
    request = RunRequest.from_json(stored.request)
    assert request.config["count"] == "3" and request.runner is None
    assert request.config_values(assay.sealer) == {"count": "3", "token": secret, "mode": "slow"}
    assert request.workflow.metadata.name == "typed"
    key = assay.settings.home / "queue.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    database = assay.settings.sqlite_file
    if database is not None:  # not in the file, not in its write-ahead log
        assay.db.close()
        for path in database.parent.glob(f"{database.name}*"):
            assert secret.encode() not in path.read_bytes()
    other = Sealer(assay.settings.home / "elsewhere.key")
    other.seal("x")  # a different key
    with pytest.raises(DefinitionError, match="cannot be opened with this queue key"):
        request.config_values(other)


def test_the_queue_key_can_come_from_the_environment(
    assay: Assay, apply: Apply, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv("ASSAY_QUEUE_KEY", Fernet.generate_key().decode())
    apply(TYPED)
    row = assay.enqueue("typed", config={"token": "abc"}, tags={})
    assert not (assay.settings.home / "queue.key").exists()
    assert row.request is not None
    sealed = RunRequest.from_json(row.request)
    assert sealed.config_values(Sealer(assay.settings.home / "queue.key")) == {"token": "abc"}
    monkeypatch.setenv("ASSAY_QUEUE_KEY", "not-a-key")
    with pytest.raises(DefinitionError, match="ASSAY_QUEUE_KEY: not a queue key"):
        sealed.config_values(Sealer(assay.settings.home / "queue.key"))


def test_every_runnable_kind_is_queued_as_a_workflow_that_loads_again(
    assay: Assay, apply: Apply
) -> None:
    apply((ROOT / "tests/spec/data/seed000-tests.yaml").read_text())
    apply((ROOT / "tests/spec/data/suite.yaml").read_text())
    for name in ("backend-auth-e2e", "backend-e2e-suite"):
        row = assay.enqueue(name, config={}, tags={})
        assert row.request is not None
        from assay.engine.resolve import Catalog

        expected = Catalog(store=assay.definitions).workflow(name)
        assert RunRequest.from_json(row.request).workflow == expected


def _archive(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


REPO = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: repo}
spec:
  container: {workingDir: /data/repo}
  steps:
    - shell: cat hello.txt
"""


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([_member("/etc/evil")], "absolute or climbs out"),
        ([_member("a/../../evil")], "absolute or climbs out"),
        ([_member("out", tarfile.SYMTYPE, "../../etc")], "links to '../../etc'"),
        ([_member("abs", tarfile.SYMTYPE, "/etc/passwd")], "links to '/etc/passwd'"),
        ([_member("ok"), _member("hard", tarfile.LNKTYPE, "ok")], "hard links"),
        ([_member("dev", tarfile.CHRTYPE)], "only files, directories and symbolic links"),
        ([_member("fifo", tarfile.FIFOTYPE)], "only files, directories and symbolic links"),
    ],
)
def test_unsafe_source_archives_are_refused_before_anything_is_stored(
    assay: Assay, apply: Apply, tmp_path: Path, members: list[tarfile.TarInfo], message: str
) -> None:
    apply(REPO)
    archive = _archive(tmp_path / "src.tar.gz", members)
    with pytest.raises(DefinitionError, match=message):
        assay.enqueue("repo", config={}, tags={}, source_archive=archive)
    assert _stored(assay) == 0
    assert not (assay.settings.home / "sources").exists()


def test_a_source_archive_is_kept_once_per_content_and_fills_data_repo(
    assay: Assay, apply: Apply, tmp_path: Path
) -> None:
    apply(REPO)
    with pytest.raises(DefinitionError, match="/data/repo"):  # nothing would fill it
        assay.enqueue("repo", config={}, tags={})
    not_gzip = tmp_path / "plain.tar.gz"
    not_gzip.write_text("hello")
    with pytest.raises(DefinitionError, match=r"not a readable \.tar\.gz"):
        assay.enqueue("repo", config={}, tags={}, source_archive=not_gzip)
    archive = _archive(
        tmp_path / "src.tar.gz",
        [_member("hello.txt"), _member("inside", tarfile.SYMTYPE, "hello.txt")],
    )
    first = assay.enqueue("repo", config={}, tags={}, source_archive=archive)
    second = assay.enqueue("repo", config={}, tags={}, source_archive=archive)
    assert first.request is not None and second.request is not None
    assert first.request["source"] == second.request["source"]
    kept = assay.settings.home / first.request["source"]
    assert kept.read_bytes() == archive.read_bytes()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert os.listdir(kept.parent) == [kept.name]


def test_abort_and_rerun(assay: Assay, apply: Apply) -> None:
    apply(TYPED)
    row = assay.enqueue("typed", config={"token": "tk", "count": "2"}, tags={"t": "1"})
    again = assay.rerun(row.name)
    assert again.id != row.id and again.name == "typed-2" and again.status == "queued"
    assert (again.tags, again.config) == (row.tags, row.config)
    assert again.request == row.request  # the sealed token reused as it is
    assert (again.concurrency_group, again.concurrency_max) == ("typed-fast", 2)

    aborted = assay.abort(row.name)
    assert (aborted.status, aborted.error) == ("aborted", "aborted while queued")
    assert assay.abort(row.id).status == "aborted"  # again: as it is
    third = assay.rerun(row.id)  # an aborted run can be run again
    assert third.name == "typed-3"
    assert [r.id for r in assay.queue.waiting()] == [again.id, third.id]

    local = assay.executions.create("typed", runner="local")  # as `assay run` records it
    with pytest.raises(DefinitionError, match="was not queued"):
        assay.rerun(local.id)
    with pytest.raises(DefinitionError, match="not started through the queue"):
        assay.abort(local.id)
    with pytest.raises(NotFoundError):
        assay.abort("nope")
