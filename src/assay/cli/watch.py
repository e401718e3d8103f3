"""Live progress for ``assay run --watch``: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING

from assay.status import ExecutionStatus, StepStatus

if TYPE_CHECKING:  # rich is imported only for a terminal
    from rich.text import Text

__all__ = ["PlainSink", "RichSink", "log_text", "make_sink"]

_STYLE = {
    StepStatus.PASSED: "green",
    StepStatus.SKIPPED: "dim",
    StepStatus.FAILED: "red",
    StepStatus.TIMEOUT: "red",
    StepStatus.ERROR: "red",
    StepStatus.ABORTED: "yellow",
}


class PlainSink:
    """One line per event on stderr (logs on stdout when streaming, unless
    ``logs_to_stderr``: then stdout is left to the JSON result)."""

    def __init__(self, stream_logs: bool, logs_to_stderr: bool = False) -> None:
        self.stream_logs = stream_logs
        self.logs_to_stderr = logs_to_stderr
        self._lock = threading.Lock()

    def _say(self, text: str, *, err: bool = True) -> None:
        with self._lock:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)

    def execution_started(self, execution_id: str, name: str) -> None:
        """Announce the execution."""
        self._say(f"execution {name} ({execution_id}) started")

    def step_started(self, ref: str, name: str) -> None:
        """Announce a step."""
        self._say(f"step {ref} {name}: running")

    def log(self, ref: str, line: str) -> None:
        """Print a log line when streaming."""
        if self.stream_logs and not line.startswith("=== step "):
            self._say(f"{ref} | {line}", err=self.logs_to_stderr)

    def warning(self, message: str) -> None:
        """Print a warning."""
        self._say(f"warning: {message}")

    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None:
        """Print a step's result."""
        self._say(f"step {ref} {name}: {status} ({seconds:.1f}s)")

    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None:
        """Print the final state."""
        self._say(f"execution {execution_id}: {status}")


class RichSink(PlainSink):
    """Coloured step lines and a spinner for the running step."""

    def __init__(self, stream_logs: bool, logs_to_stderr: bool = False) -> None:
        from rich.console import Console

        super().__init__(stream_logs, logs_to_stderr)
        self.console = Console(stderr=True)
        self._status = self.console.status("")
        self._started: dict[str, float] = {}

    def execution_started(self, execution_id: str, name: str) -> None:
        """Start the spinner."""
        self.console.print(f"[bold]▶ {_escape(name)}[/] [dim]{execution_id}[/]")
        self._status.start()

    def step_started(self, ref: str, name: str) -> None:
        """Show the running step next to the spinner."""
        self._started[ref] = time.monotonic()
        self._status.update(f"[cyan]{_escape(ref)}[/] {_escape(name)}")

    def log(self, ref: str, line: str) -> None:
        """Print log lines above the spinner."""
        if self.stream_logs and not line.startswith("=== step "):
            self.console.print(log_text(ref, line), highlight=False)

    def warning(self, message: str) -> None:
        """Print a warning in yellow."""
        self.console.print(f"[yellow]warning:[/] {_escape(message)}", highlight=False)

    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None:
        """Print the step result."""
        style = _STYLE.get(status, "white")
        self.console.print(
            f"[{style}]{status:>8}[/] {_escape(ref)} {_escape(name)} [dim]{seconds:.1f}s[/]"
        )

    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None:
        """Stop the spinner."""
        self._status.stop()


def log_text(ref: str, line: str) -> Text:
    """A streamed log line: the step ref dimmed, the line verbatim (never markup)."""
    from rich.text import Text

    return Text.assemble((f"{ref} │ ", "dim"), line)


def _escape(text: str) -> str:
    """``text`` shown as is inside rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def make_sink(stream_logs: bool, logs_to_stderr: bool = False) -> PlainSink:
    """A rich sink on a terminal, plain lines otherwise."""
    sink = RichSink if sys.stderr.isatty() else PlainSink
    return sink(stream_logs, logs_to_stderr)
