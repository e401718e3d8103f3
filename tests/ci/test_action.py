"""The composite action (action.yml): its wiring, the CLI options its scripts use, and its
`run` steps executed with bash under a GitHub Actions-like environment (expressions
substituted here, as the runner would) against the local GitHub stand-in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from ci_support import TOKEN, GitHubStandIn, actions_env, make_repo, read_outputs

from assay.ci.reporting import outputs as report_outputs
from support import Cli

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
STEPS = {step.get("id") or step["name"]: step for step in ACTION["runs"]["steps"]}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NOT_ASSAY = {"--disable-pip-version-check", "--help"}


def expressions(value: Any) -> list[str]:
    return EXPRESSION.findall(yaml.safe_dump(value))


def report_output_names() -> set[str]:
    """The outputs `assay report --github` writes."""
    from datetime import UTC, datetime

    from assay.ci.gates import Gates, Totals, judge
    from assay.reports.data import Report

    empty = Report([], "main", datetime.now(UTC))
    return set(report_outputs(empty, judge([], Totals(), Gates()), None))


def test_wiring() -> None:
    assert ACTION["runs"]["using"] == "composite"
    inputs = ACTION["inputs"]
    written = report_output_names()
    for expression in expressions(ACTION["runs"]) + expressions(ACTION["outputs"]):
        for name in re.findall(r"inputs\.([\w-]+)", expression):
            assert name in inputs, expression
        for step, name in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
            assert step in STEPS, expression
            if step == "report":  # written by `assay report --github`
                assert name in written, expression
            else:
                assert f"{name}=" in STEPS[step]["run"], expression
    # inputs reach scripts through env only: no expression inside a script
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", "")
    assert STEPS["Install assay"]["env"]["ASSAY_ACTION_PATH"] == "${{ github.action_path }}"


def test_scripts_use_only_options_the_cli_has(cli: Cli) -> None:
    helps = cli("run", "--help", check=0).stdout + cli("report", "--help", check=0).stdout
    scripts = "\n".join(step.get("run", "") for step in ACTION["runs"]["steps"])
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", scripts)) - NOT_ASSAY
    assert used, scripts
    missing = sorted(option for option in used if option not in helps)
    assert missing == []
    assert {"--github", "--min-pass-rate", "--tag", "--runner"} <= used


class Composite:
    """Runs the action's `run` steps in order, as the Actions runner would."""

    def __init__(self, repo: Path, env: dict[str, str], inputs: dict[str, str]) -> None:
        self.repo = repo
        self.env = env
        self.inputs = {
            name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()
        }
        self.inputs["github-token"] = TOKEN
        self.inputs.update(inputs)
        self.outputs: dict[str, dict[str, str]] = {}

    def value(self, expression: str) -> str:
        if expression.startswith("inputs."):
            return self.inputs[expression.removeprefix("inputs.")]
        if expression == "github.action_path":
            return str(ROOT)
        match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        assert match, f"unexpected expression {expression}"
        return self.outputs.get(match[1], {}).get(match[2], "")

    def run(self, step_id: str) -> subprocess.CompletedProcess[str]:
        step = STEPS[step_id]
        output = Path(self.env["GITHUB_OUTPUT"])
        output.write_text("")
        env = {**self.env}
        for name, raw in step.get("env", {}).items():
            env[name] = EXPRESSION.sub(lambda m: self.value(m[1]), str(raw))
        done = subprocess.run(
            # what the runner does for `shell: bash`
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=self.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.outputs[step_id] = read_outputs(output)
        return done

    def report_condition(self) -> bool:
        condition = STEPS["report"]["if"]
        assert condition == (
            "${{ always() && inputs.report == 'true' && steps.run.outputs.execution-ids != '' }}"
        )
        return self.inputs["report"] == "true" and bool(
            self.value("steps.run.outputs.execution-ids")
        )


def base_env(cli: Cli, github: GitHubStandIn, root: Path) -> dict[str, str]:
    env = {k: v for k, v in cli.env.items() if k != "GITHUB_TOKEN"}
    env.update(actions_env(root, github, token=None))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env["RUNNER_TEMP"] = str(root)
    return env


def test_composite_steps_run_and_report(cli: Cli, github: GitHubStandIn, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    env = base_env(cli, github, tmp_path / "gh")
    env["GITHUB_WORKSPACE"] = str(repo)
    action = Composite(
        repo,
        env,
        {"workflows": "# the suites\nk8s/auth.yaml\nk8s/api.yaml api\n", "min-tests": "5"},
    )
    ran = action.run("run")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # the report step decides
    assert "api-1 failed: 4 tests, 2 passed, 1 failed, 1 skipped" in ran.stdout
    assert "::group::assay run -f k8s/api.yaml api" in ran.stdout
    ids = action.outputs["run"]["execution-ids"].split()
    assert len(ids) == 2
    listed = cli.json("get", "executions")
    assert {e["tags"]["branch"] for e in listed} == {"fix-login"}
    assert {e["tags"]["sha"] for e in listed} == {"m" * 40}

    assert action.report_condition()
    reported = action.run("report")
    assert reported.returncode == 1, reported.stdout + reported.stderr
    assert TOKEN not in reported.stdout + reported.stderr
    assert "gate min-tests: 5 ran >= 5" in reported.stdout
    values = action.outputs["report"]
    assert values["status"] == "failed" and values["execution-ids"] == " ".join(ids)
    assert len(github.issue_comments(7)) == 1 and len(github.check_runs) == 1
    assert github.check_runs[0]["output"]["annotations"][0]["path"] == "backend/tests/test_api.py"


def test_composite_without_report_gates_each_run(
    cli: Cli, github: GitHubStandIn, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    env = base_env(cli, github, tmp_path / "gh")
    action = Composite(
        repo,
        env,
        {
            "workflows": "k8s/api.yaml",
            "report": "false",
            "max-failures": "1",
            "tag-commit": "false",
            "args": "--config 'unused=a b'",
        },
    )
    ran = action.run("run")
    assert "--config" in cli("run", "--help", check=0).stdout
    assert ran.returncode == 2, ran.stdout + ran.stderr  # the workflow declares no config
    assert "unused" in ran.stderr  # the quoted value reached assay as one argument
    action.inputs["args"] = ""
    ran = action.run("run")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # 1 failure tolerated by the gate
    assert "gate max-failures: 1 failed <= 1" in ran.stderr
    assert not action.report_condition()
    assert github.requests == []
