"""Live progress for ``assay run --watch``: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console

from assay.status import ExecutionStatus, StepStatus

__all__ = ["PlainSink", "RichSink", "make_sink"]

_STYLE = {
    StepStatus.PASSED: "green",
    StepStatus.SKIPPED: "dim",
    StepStatus.FAILED: "red",
    StepStatus.TIMEOUT: "red",
    StepStatus.ERROR: "red",
    StepStatus.ABORTED: "yellow",
}


class PlainSink:
    """One line per event on stderr (logs on stdout when streaming)."""

    def __init__(self, stream_logs: bool) -> None:
        self.stream_logs = stream_logs
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
            self._say(f"{ref} | {line}", err=False)

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

    def __init__(self, stream_logs: bool) -> None:
        super().__init__(stream_logs)
        self.console = Console(stderr=True)
        self._status = self.console.status("")
        self._started: dict[str, float] = {}

    def execution_started(self, execution_id: str, name: str) -> None:
        """Start the spinner."""
        self.console.print(f"[bold]▶ {name}[/] [dim]{execution_id}[/]")
        self._status.start()

    def step_started(self, ref: str, name: str) -> None:
        """Show the running step next to the spinner."""
        self._started[ref] = time.monotonic()
        self._status.update(f"[cyan]{ref}[/] {name}")

    def log(self, ref: str, line: str) -> None:
        """Print log lines above the spinner."""
        if self.stream_logs and not line.startswith("=== step "):
            self.console.print(f"[dim]{ref} │[/] {line}", markup=False, highlight=False)

    def warning(self, message: str) -> None:
        """Print a warning in yellow."""
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def step_finished(self, ref: str, name: str, status: StepStatus, seconds: float) -> None:
        """Print the step result."""
        style = _STYLE.get(status, "white")
        self.console.print(f"[{style}]{status:>8}[/] {ref} {name} [dim]{seconds:.1f}s[/]")

    def execution_finished(self, execution_id: str, status: ExecutionStatus) -> None:
        """Stop the spinner."""
        self._status.stop()


def make_sink(stream_logs: bool) -> PlainSink:
    """A rich sink on a terminal, plain lines otherwise."""
    return RichSink(stream_logs) if sys.stderr.isatty() else PlainSink(stream_logs)
