"""The ``assay`` command: entry point, error handling and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import analytics as analytics_commands
from assay.cli import get as get_commands
from assay.cli import install as install_commands
from assay.cli import quarantine as quarantine_commands
from assay.cli import report as report_commands
from assay.cli import secret as secret_commands
from assay.cli import server as server_commands
from assay.cli import shard as shard_commands
from assay.cli import shutdown
from assay.cli import webhooks as webhook_commands
from assay.cli.ci_options import (
    FailOnFlaky,
    MaxDuration,
    MaxFailures,
    MinPassRate,
    MinTests,
    SlackWebhook,
    echo_verdict,
    parse_gates,
)
from assay.cli.common import (
    SERVER_VARIABLE,
    app_instance,
    failing_test_lines,
    parse_pairs,
    remote_client,
    set_command,
    set_server,
    summary_line,
)
from assay.errors import AssayError, DefinitionError

if TYPE_CHECKING:
    from assay.ci.gates import Gates, Verdict

__all__ = ["app", "main"]

app = typer.Typer(
    name="assay",
    help="Run declarative test workflows and keep their history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich's renderer costs ~0.1 s
)
app.add_typer(get_commands.app, name="get")
app.add_typer(secret_commands.app, name="secret")
app.add_typer(shard_commands.app, name="shard")
app.command("report")(report_commands.report)
app.add_typer(quarantine_commands.app, name="quarantine")
app.add_typer(analytics_commands.app)  # flaky, trends, trace
app.command("server")(server_commands.server)
app.add_typer(server_commands.tokens, name="token")
app.add_typer(webhook_commands.app, name="webhooks")
app.add_typer(install_commands.app, name="install")

FilesOption = Annotated[
    list[Path],
    typer.Option("-f", "--file", help="A definition file or a directory of them (repeatable)."),
]


class RunOutput(StrEnum):
    """Output formats of `assay run`."""

    TEXT = "text"
    JSON = "json"
    YAML = "yaml"  # --dry-run only


@app.callback()
def _root(
    context: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=shutdown.print_version,
            help="Print the version and exit.",
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar=SERVER_VARIABLE,
            metavar="URL",
            help="Talk to this `assay server` (token from ASSAY_TOKEN) instead of the local store.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run declarative test workflows and keep their history."""
    set_command(context.invoked_subcommand)
    set_server(server)


@app.command()
def validate(file: FilesOption) -> None:
    """Check definitions: YAML, kinds, fields, types, expressions; exit 2 naming every problem."""
    from assay.spec.loader import load_paths

    loaded = load_paths(file)
    for item in loaded:
        typer.echo(f"ok  {item.kind}/{item.name}  ({item.source}:{item.line})")
    typer.echo(f"{len(loaded)} definition(s) valid")


@app.command()
def apply(file: FilesOption) -> None:
    """Validate definitions, then store them all so `assay run NAME` finds them."""
    client = remote_client()
    if client is not None:
        from assay.cli.remote import apply_files

        applied = apply_files(client, file)
    else:
        applied = app_instance().apply(file)
    for kind, name in applied:
        typer.echo(f"applied {kind}/{name}")


@app.command()
def run(
    name: Annotated[str | None, typer.Argument(help="Definition to run.")] = None,
    file: Annotated[
        list[Path] | None,
        typer.Option("-f", "--file", help="Definition file or directory (repeatable)."),
    ] = None,
    config: Annotated[
        list[str] | None, typer.Option("--config", "-c", help="Config value KEY=VALUE.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag KEY=VALUE.")] = None,
    source: Annotated[
        Path | None, typer.Option(help="Run against this local checkout instead of git content.")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Stream step logs live.")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            help="With --server: wait for the end (exit code as local); --no-wait prints the "
            "execution id and returns."
        ),
    ] = True,
    runner: Annotated[
        str,
        typer.Option(envvar="ASSAY_RUNNER", help="Where steps run: local, docker or kubernetes."),
    ] = "local",
    output: Annotated[
        RunOutput, typer.Option("-o", "--output", help="text or json")
    ] = RunOutput.TEXT,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="With --runner kubernetes: print the objects it would create (-o yaml|json)."
        ),
    ] = False,
    namespace: Annotated[
        str, typer.Option(envvar="ASSAY_KUBERNETES_NAMESPACE", help="Kubernetes namespace.")
    ] = "assay",
    keep_workspace: Annotated[bool, typer.Option(help="Keep the scratch workspace.")] = False,
    min_tests: MinTests = None,
    max_failures: MaxFailures = None,
    min_pass_rate: MinPassRate = None,
    max_duration: MaxDuration = None,
    fail_on_flaky: FailOnFlaky = False,
    slack_webhook: SlackWebhook = None,
) -> None:
    """Run a workflow, test or suite; exit 0 passed, 1 failed (tests or a gate), 2 bad input,
    3 infrastructure."""
    from assay.cli.execute import notify_run, print_dry_run, run_definition

    if dry_run:
        pairs = parse_pairs(config, "--config")
        print_dry_run(name, file, pairs, runner, dry_run, namespace, output is RunOutput.JSON)
        return
    if output is RunOutput.YAML:
        raise DefinitionError("--output yaml: only with --dry-run (text or json otherwise)")
    if source is not None and not source.is_dir():
        raise DefinitionError(f"--source {source}: not a directory")
    gates = parse_gates(min_tests, max_failures, min_pass_rate, max_duration, fail_on_flaky)
    webhook = None
    if slack_webhook:
        from assay.ci.slack import check_webhook

        webhook = check_webhook(slack_webhook)
    client = remote_client()
    if client is not None:
        from assay.cli.remote import run_remote

        if webhook is not None:
            raise DefinitionError("--slack-webhook works with local runs only")
        remote_result = run_remote(
            client,
            name=name,
            files=file,
            config=parse_pairs(config, "--config"),
            tags=parse_pairs(tag, "--tag"),
            source=source,
            wait=wait,
            watch=watch,
            json_output=output is RunOutput.JSON,
        )
        if remote_result is None:  # --no-wait: the id is printed
            return
        execution_id = remote_result["id"]
        verdict = _print_run(remote_result, lambda: client.testcases(execution_id), output, gates)
        raise typer.Exit(int(verdict.exit_code))
    result = run_definition(
        name=name,
        file=file,
        config=parse_pairs(config, "--config"),
        tags=parse_pairs(tag, "--tag"),
        source=source,
        watch=watch,
        json_output=output is RunOutput.JSON,
        runner_name=runner,
        keep_workspace=keep_workspace,
        namespace=namespace,
    )
    store = app_instance().executions

    def cases() -> list[dict[str, Any]]:
        from assay.app import testcase_json

        return [testcase_json(case) for case in store.test_cases(result["id"])]

    verdict = _print_run(result, cases, output, gates)
    if webhook is not None:
        notify_run(webhook, result, verdict)
    raise typer.Exit(int(verdict.exit_code))


def _print_run(
    result: dict[str, Any],
    cases: Callable[[], list[dict[str, Any]]],
    output: RunOutput,
    gates: Gates,
) -> Verdict:
    """Print a finished run: its JSON, or the summary line, the failing tests and the
    error; then the gates' verdict, which it returns."""
    from assay.cli.execute import judge_run

    verdict = judge_run(result, gates)
    if output is RunOutput.JSON:
        import json

        if gates.any:
            result["gates"] = [gate.as_dict() for gate in verdict.gates]
            result["verdict"] = {"status": verdict.status, "reasons": verdict.reasons}
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(summary_line(result))
        for line in failing_test_lines(result, cases):
            typer.echo(line)
        if result.get("error"):
            typer.echo(f"error: {result['error']}", err=True)
    if gates.any:
        echo_verdict(verdict)
    return verdict


@app.command()
def worker(
    count: Annotated[int, typer.Option("--count", "-n", help="Workers in this process.")] = 1,
    max_running: Annotated[
        int | None,
        typer.Option(help="Running queued executions at most, all workers of the store together."),
    ] = None,
    lease_ttl: Annotated[
        float, typer.Option(help="Seconds a claim lasts unless renewed.", hidden=True)
    ] = 30.0,
    heartbeat: Annotated[
        float, typer.Option(help="Seconds between lease renewals.", hidden=True)
    ] = 5.0,
) -> None:
    """Run queued executions from the store until SIGINT/SIGTERM (exit 0 when idle, else
    130/143: running executions are aborted and recorded)."""
    from assay.cli.worker import run_workers

    run_workers(count=count, max_running=max_running, lease_ttl=lease_ttl, heartbeat=heartbeat)


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="JUnit XML files.")],
    workflow: Annotated[str, typer.Option(help="Workflow name to record under.")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag KEY=VALUE.")] = None,
) -> None:
    """Record an execution from JUnit XML produced elsewhere."""
    assay = app_instance()
    row = assay.import_junit(files, workflow, parse_pairs(tag, "--tag"))
    result = assay.execution_json(row)
    typer.echo(summary_line(result))
    raise typer.Exit(_exit_code(result["status"]))


@app.command()
def logs(
    execution: Annotated[str, typer.Argument(help="Execution id or name.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing until the execution ends.")
    ] = False,
) -> None:
    """Print the (masked) log of an execution."""
    client = remote_client()
    if client is not None:
        if follow:
            from assay.cli.remote import follow_logs

            follow_logs(client, execution, sys.stdout.buffer)
        else:
            sys.stdout.buffer.write(client.logs(execution))
        return
    assay = app_instance()
    ended = None if follow else assay.ended_log_path(execution)
    if ended is not None:
        sys.stdout.write(ended.read_text(encoding="utf-8"))
        return
    row = assay.executions.get(execution)
    if follow:
        assay.follow_log(row, sys.stdout.buffer)
        return
    path = assay.log_path(row)
    if path.exists():
        sys.stdout.write(path.read_text(encoding="utf-8"))
    elif row.pruned_at is not None:
        typer.echo(
            f"the log of {row.name} was pruned (retention) on {row.pruned_at:%Y-%m-%d}", err=True
        )


@app.command()
def artifacts(
    execution: Annotated[str, typer.Argument(help="Execution id or name.")],
    download: Annotated[Path | None, typer.Option(help="Copy artifacts into DIR.")] = None,
) -> None:
    """List (or download) the artifacts of an execution."""
    import shutil

    client = remote_client()
    if client is not None:
        from assay.cli.remote import list_artifacts

        list_artifacts(client, execution, download)
        return
    assay = app_instance()
    row = assay.executions.get(execution)
    base = assay.settings.executions_dir / row.id / "artifacts"
    for path in assay.artifacts(row):
        rel = path.relative_to(base)
        if download is not None:
            target = download / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        typer.echo(f"{rel}\t{path.stat().st_size}")


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age such as 30d, 12h, 2w (finished before).")
    ],
    keep: Annotated[
        int, typer.Option(min=0, help="Keep the newest N finished executions of each workflow.")
    ] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
) -> None:
    """Delete the logs and artifacts of old executions; their results, summaries and steps
    stay (flaky, trends and trace still see them). `assay server --retention` does it hourly."""
    result = app_instance().prune(older_than, keep=keep, dry_run=dry_run)
    size = f"{result.bytes / 1_000_000:.1f} MB"
    if dry_run:
        typer.echo(
            f"would prune the logs and artifacts of {result.executions} execution(s), {size}"
        )
        return
    typer.echo(
        f"pruned the logs and artifacts of {result.executions} execution(s), {size}; "
        f"{result.deliveries} old webhook delivery(ies); results kept"
    )


@app.command()
def abort(
    execution: Annotated[str, typer.Argument(help="Execution id or name.")],
) -> None:
    """Abort a queued or running execution on the server (--server / ASSAY_SERVER)."""
    client = remote_client()
    if client is None:
        raise DefinitionError(
            f"`assay abort` needs a server (--server or {SERVER_VARIABLE}); a local run is "
            "aborted with Ctrl-C in its terminal"
        )
    result = client.abort(execution)
    typer.echo(f"{result['name']} ({result['id']}): {result['status']}")


def _exit_code(status: str) -> int:
    from assay.status import ExecutionStatus

    return int(ExecutionStatus(status).exit_code)


@shutdown.exits_fast
def main() -> None:
    """Console entry point: usage errors exit 2; AssayError prints and exits with its code;
    a storage or runtime fault (OSError, a store error) prints one line and exits 3."""
    try:
        app()  # standalone: typer.Exit codes pass through, usage errors exit 2
    except AssayError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        from assay.faults import describe_fault

        fault = describe_fault(exc)
        if fault is None:
            raise
        typer.echo(f"error: {fault}", err=True)
        sys.exit(3)
