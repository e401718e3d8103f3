"""Artifacts stay inside the workspace; ASSAY_HOME stays private; secrets stay masked
in every form (issue 10.5)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from urllib.parse import quote, quote_plus

from cli_support import Cli

from assay.settings import Settings
from support import write_files

SECRET = "S3cr3tValue/with spaces&more+42"


def _flow(tmp_path: Path, name: str, spec: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        "apiVersion: testworkflows.testkube.io/v1\n"
        f"kind: TestWorkflow\nmetadata: {{name: {name}}}\nspec:\n" + spec
    )
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_artifact_paths_out_of_the_workspace_are_refused(
    cli: Cli, tmp_path: Path, assay_home: Settings
) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"private.txt": "not yours\n", "deep/also.txt": "nor this\n"})
    (outside / "private.txt").chmod(0o640)
    source = tmp_path / "checkout"
    write_files(source, {"reports/ok.txt": "fine\n"})
    (source / "reports" / "escape.txt").symlink_to(outside / "private.txt")
    flow = _flow(
        tmp_path,
        "confined",
        f"""\
  steps:
    - name: make links
      shell: |
        mkdir -p /data/out
        echo kept > /data/out/kept.txt
        ln -s {outside} /data/out/tree
        ln -s {outside}/private.txt /data/out/file-link.txt
        ln -s kept.txt /data/out/inner-link.txt
      artifacts:
        paths: ["/data/out/**", "../outside/private.txt", "{outside}/private.txt"]
    - name: other base
      shell: "true"
      artifacts:
        workingDir: {outside}
        paths: ["*.txt"]
    - name: source links
      shell: "true"
      artifacts:
        paths: ["reports/*.txt"]
""",
    )
    done = cli("run", "-f", str(flow), "--source", str(source), "-o", "json", check=0)
    result = json.loads(done.stdout)
    assert result["status"] == "passed"
    stored = cli("artifacts", result["id"], check=0).stdout.splitlines()
    names = sorted(line.split("\t")[0] for line in stored)
    assert names == ["inner-link.txt", "kept.txt", "reports/ok.txt"]
    refused = [line for line in done.stderr.splitlines() if "not collected" in line]
    assert any(
        line.startswith("warning: artifacts: not collected: ../outside/") for line in refused
    )
    for named in (
        f"{outside}/private.txt: {outside}/private.txt is outside the workspace",  # absolute
        "/data/out/tree links to",
        "/data/out/file-link.txt links to",
        f"*.txt: {outside} is outside the workspace",  # artifacts.workingDir
        "escape.txt links to",  # a link in the --source checkout
    ):
        assert any(named in line for line in refused), (named, refused)
    # nothing was written outside ASSAY_HOME, nor read from outside
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["assay-home", "checkout", "confined.yaml", "gitconfig", "outside"]
    )
    artifacts = assay_home.executions_dir / result["id"] / "artifacts"
    assert not any("not yours" in p.read_text() for p in artifacts.rglob("*") if p.is_file())
    log = cli("logs", result["id"], check=0).stdout
    assert "artifacts: not collected:" in log


def test_home_is_private_and_secrets_masked_in_every_form(
    cli: Cli, tmp_path: Path, assay_home: Settings
) -> None:
    source = tmp_path / "checkout"
    write_files(
        source,
        {
            "tests/test_secret.py": (
                "import base64, os, urllib.parse\n\n"
                "KEY = os.environ['API_KEY']\n\n"
                "def test_prints_encoded_forms():\n"
                "    print('b64', base64.b64encode(KEY.encode()).decode())\n"
                "    print('url', urllib.parse.quote(KEY, safe=''))\n"
                "    print('plus', urllib.parse.quote_plus(KEY))\n\n"
                "def test_compares_the_key():\n"
                "    assert KEY == 'nope'\n"
            )
        },
    )
    flow = _flow(
        tmp_path,
        "masked",
        """\
  container:
    env:
      - name: API_KEY
        valueFrom: {secretKeyRef: {name: backend, key: api-key}}
  steps:
    - name: tests
      shell: python -m pytest tests -rA -p no:cacheprovider --junit-xml=/data/artifacts/junit.xml
      artifacts: {paths: ["/data/artifacts/**"]}
""",
    )
    cli("secret", "set", "backend", f"api-key={SECRET}", check=0)
    done = cli("run", "-f", str(flow), "--source", str(source), "-o", "json", check=1)
    result = json.loads(done.stdout)
    log = cli("logs", result["id"], check=0).stdout
    assert "b64 ***" in log and "url ***" in log and "plus ***" in log
    assert "'***...***'" in log  # pytest shortened the secret: both ends masked
    cases = cli("get", "testcases", result["id"], "-o", "json", check=0).stdout
    execution = cli("get", "execution", result["id"], "-o", "json", check=0).stdout
    artifacts = assay_home.executions_dir / result["id"] / "artifacts"
    junit = (artifacts / "junit.xml").read_text()
    assert "***" in junit and "***" in cases
    raw = SECRET.encode()
    forms = {
        SECRET,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        SECRET.replace("&", "&amp;"),
        SECRET[:8],  # the start pytest shows when it shortens the value ("S3cr3tVa...")
        SECRET[-8:],
    }
    for where, text in {"log": log, "testcases": cases, "execution": execution}.items():
        assert not [form for form in forms if form in text], where
    assert not [form for form in forms if form in junit], "stored junit.xml"
    db = b"".join(p.read_bytes() for p in assay_home.home.glob("assay.db*"))
    assert not [form for form in forms if form.encode() in db], "database"

    home = assay_home.home
    for directory in (home, home / "executions", home / "work", home / "secrets"):
        assert _mode(directory) == 0o700, directory
    assert _mode(artifacts) == 0o700 and _mode(artifacts / "junit.xml") == 0o600
    for database in home.glob("assay.db*"):
        assert _mode(database) == 0o600, database
    assert _mode(home / "secrets" / "backend.json") == 0o600


def test_existing_home_is_tightened(cli: Cli, assay_home: Settings, tmp_path: Path) -> None:
    cli("get", "executions", check=0)
    home, database = assay_home.home, assay_home.home / "assay.db"
    home.chmod(0o755)
    database.chmod(0o644)
    (home / "executions").chmod(0o755)
    cli("get", "executions", check=0)
    assert (_mode(home), _mode(database), _mode(home / "executions")) == (0o700, 0o600, 0o700)
    # a home that holds something else (ASSAY_HOME=/tmp) keeps its mode; assay's dirs do not
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "someone-elses.txt").write_text("x")
    shared.chmod(0o755)
    cli.env["ASSAY_HOME"] = str(shared)
    cli("get", "executions", check=0)
    assert _mode(shared) == 0o755 and _mode(shared / "executions") == 0o700
    assert _mode(shared / "assay.db") == 0o600


def test_import_rejects_a_name_validate_rejects(cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text('<testsuite name="s"><testcase classname="c" name="t"/></testsuite>')
    for bad in ("Bad_Name", "../escape", "-x", "a" * 254):
        done = cli("import", str(report), "--workflow", bad, check=2)
        assert "not a valid workflow name" in done.stderr and "Traceback" not in done.stderr
    assert cli.json("get", "executions", "-o", "json") == []
    cli("import", str(report), "--workflow", "good-name.v2", check=0)


def test_content_is_written_only_inside_the_workspace(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    escaping = _flow(
        tmp_path,
        "escaping-files",
        f"""\
  content:
    files:
      - {{path: "../../../../../../../..{target}", content: "x"}}
  steps:
    - shell: "true"
""",
    )
    done = cli("run", "-f", str(escaping), check=2)
    assert "spec.content.files[0].path" in done.stderr and "outside /data" in done.stderr
    assert cli.json("get", "executions", "-o", "json") == []
    # a link planted by an earlier step is judged when the step's content is written
    outside = tmp_path / "outside"
    outside.mkdir()
    linked = _flow(
        tmp_path,
        "linked-files",
        f"""\
  steps:
    - shell: ln -s {outside} /data/escape
    - name: writes through the link
      content:
        files:
          - {{path: /data/escape/planted.txt, content: "x"}}
      shell: "true"
""",
    )
    result = json.loads(cli("run", "-f", str(linked), "-o", "json", check=3).stdout)
    step = result["steps"][1]
    assert step["status"] == "error" and "outside the execution's workspace" in step["message"]
    assert not target.exists() and list(outside.iterdir()) == []
