"""Taking in a step's results: pytest's reports of each attempt, and its artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.engine.artifacts import ArtifactFinder, store_masked
from assay.engine.context import ExecutionContext
from assay.engine.pytest_reports import AttemptReports, PytestOutput, Unrecorded, unrecorded_note
from assay.errors import ResultsError
from assay.results.junit import iter_junit

__all__ = ["ResultIntake"]


class ResultIntake:
    """Reads JUnit into ``ctx.cases`` (masked, quarantine applied) and stores artifacts."""

    def __init__(self, ctx: ExecutionContext) -> None:
        self.ctx = ctx
        self._unrecorded: dict[str, list[Unrecorded]] = {}

    def task_reports(
        self, ref: str, attempt: int, reports: AttemptReports, output: PytestOutput
    ) -> None:
        """Read the pytest plugin's reports of one task attempt (else assay's fallback
        report); remember a pytest run that left neither."""
        plugin = reports.plugin_files()
        for report in plugin:
            self.junit(report, attempt)
        if plugin:
            with self.ctx.lock:
                self.ctx.recorded_junit.update(reports.user_junit(self.ctx.workspace.map_text))
        elif not self.junit(reports.fallback, attempt) and (output.ran or reports.plugin_ran()):
            self._unrecorded.setdefault(ref, []).append(Unrecorded(attempt, output.junit_files))

    def unrecorded_note(self, ref: str, name: str, last: int) -> str | None:
        """Warn (log, sink) when pytest ran in step ``ref`` but no report of it was read."""
        note = unrecorded_note(self._unrecorded.pop(ref, []), last, self.ctx.ingested)
        if note:
            self.ctx.write_log(ref, f"warning: {note}")
            self.ctx.sink.warning(f"step {name!r}: {note}")
        return note

    def artifacts(self, patterns: Sequence[str], base: Path, attempt: int) -> None:
        """Store the files ``patterns`` match (relative to ``base``) from inside the
        workspace only, masked; read the JUnit among them, but for users' reports the
        pytest plugin already recorded. What was refused is logged and warned about."""
        finder = ArtifactFinder(self.ctx.allowed_roots())
        for pattern in patterns:
            for found in finder.find(self.ctx.workspace.resolve(pattern, base), base, pattern):
                store_masked(found.source, self.ctx.artifacts_dir / found.name, self.ctx.masker)
                if found.source.suffix.lower() != ".xml":
                    continue
                if found.source in self.ctx.recorded_junit:
                    self.ctx.write_log("-", f"artifacts: {found.name}: already recorded by assay")
                else:
                    self.junit(found.source, attempt)
        for refusal in dict.fromkeys(finder.refused):
            self.ctx.write_log("-", f"artifacts: not collected: {refusal}")
            self.ctx.sink.warning(f"artifacts: not collected: {refusal}")

    def junit(self, report: Path, attempt: int) -> bool:
        """Read the cases of one JUnit file as attempt ``attempt``; whether it was one."""
        if not report.is_file():
            return False
        try:
            cases = list(iter_junit(report))
        except ResultsError as exc:
            if "not JUnit" not in str(exc) and "not a JUnit" not in str(exc):
                self.ctx.sink.warning(f"{report.name}: {exc}")
            return False
        for case in cases:
            case.attempt += attempt - 1  # reruns inside one report stay distinct attempts
            case.apply_quarantine(self.ctx.workflow, self.ctx.quarantined)
            self.ctx.masker.mask_case(case)
        with self.ctx.lock:
            self.ctx.cases.extend(cases)
            self.ctx.ingested.add(report.resolve())
        return True
