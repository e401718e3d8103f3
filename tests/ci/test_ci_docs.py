"""README's "Use in GitHub Actions", docs/ci.md and examples/github agree with the action
and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ci_support import InProcess

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXAMPLES = sorted((ROOT / "examples" / "github").glob("*.yml"))
FLAGS = [
    "--github",
    "--comment-key",
    "--check-name",
    "--no-comment",
    "--no-check-run",
    "--min-tests",
    "--max-failures",
    "--min-pass-rate",
    "--max-duration",
    "--fail-on-flaky",
    "--slack-webhook",
]


def assay_steps(workflow: dict[str, object]) -> list[dict[str, object]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    return [
        step
        for job in jobs.values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("OWNER/assay@")
    ]


def test_readme_section_is_the_runnable_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("## Quick start") < readme.index("## Use in GitHub Actions")
    section = readme.split("## Use in GitHub Actions", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    example = (ROOT / "examples" / "github" / "local-runner.yml").read_text(encoding="utf-8")
    body = "".join(line for line in example.splitlines(True) if not line.startswith("#"))
    assert block == body.lstrip("\n")
    assert "docs/ci.md" in section


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_use_the_action_as_it_is(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    permissions = workflow["permissions"]
    assert permissions["pull-requests"] == "write" and permissions["checks"] == "write"
    [step] = assay_steps(workflow)
    assert set(step["with"]) <= set(ACTION["inputs"])  # type: ignore[arg-type]
    assert "workflows" in step["with"]  # type: ignore[operator]
    header = path.read_text(encoding="utf-8").split("\n\n", 1)[0]
    runnable = {"local-runner.yml", "kind-kubernetes.yml"}
    assert ("NOT RUNNABLE" in header) == (path.name not in runnable), header


def test_example_arguments_exist_or_are_marked_future(assay: InProcess) -> None:
    run_help = assay("run", "--help", check=0).stdout
    local = yaml.safe_load((ROOT / "examples" / "github" / "local-runner.yml").read_text())
    args = str(assay_steps(local)[0]["with"]["args"])  # type: ignore[index]
    assert all(arg in run_help for arg in re.findall(r"--[a-z-]+", args))
    server = yaml.safe_load((ROOT / "examples" / "github" / "server-mode.yml").read_text())
    assert "--server" in str(assay_steps(server)[0]["with"]["args"])  # type: ignore[index]
    assert "--server" in run_help  # remote runs landed; the report step is not remote yet:
    assert "report --github" in (ROOT / "examples" / "github" / "server-mode.yml").read_text()
    kind = yaml.safe_load((ROOT / "examples" / "github" / "kind-kubernetes.yml").read_text())
    assert assay_steps(kind)[0]["with"]["runner"] == "kubernetes"  # type: ignore[index]


def test_every_flag_is_in_the_cli_and_documented(assay: InProcess) -> None:
    helps = assay("report", "--help", check=0).stdout
    run_help = assay("run", "--help", check=0).stdout
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for flag in FLAGS:
        assert flag in helps and flag in ci and flag in cli, flag
    for flag in FLAGS[5:]:
        assert flag in run_help, flag
    for name in ACTION["inputs"]:
        assert f"`{name}`" in ci, name
    for name in ACTION["outputs"]:
        assert f"`{name}`" in ci, name
    without = ci.split("## Without the action", 1)[1].split("\n## ", 1)[0]
    for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", without)):
        assert flag in helps + run_help, flag
