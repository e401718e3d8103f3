"""Errors raised by assay.testing; all derive from `assay.errors.AssayError`."""

from __future__ import annotations

from assay.errors import AssayError

__all__ = ["AssayTestingError", "ServiceStartError", "WaitTimeoutError"]


class AssayTestingError(AssayError):
    """Root of the errors raised by the pytest plugin and its helpers."""


class WaitTimeoutError(AssayTestingError, TimeoutError):
    """A polled condition or service did not become ready in time.

    The message says what was awaited, for how long, and the last value or
    exception observed; the same facts are kept as attributes.
    """

    def __init__(
        self,
        description: str,
        *,
        timeout: float,
        elapsed: float,
        attempts: int,
        last_value: object = None,
        last_exception: BaseException | None = None,
    ) -> None:
        self.description = description
        self.timeout = timeout
        self.elapsed = elapsed
        self.attempts = attempts
        self.last_value = last_value
        self.last_exception = last_exception
        if last_exception is not None:
            last = f"last exception: {type(last_exception).__name__}: {last_exception}"
        else:
            last = f"last value: {_short_repr(last_value)}"
        super().__init__(
            f"timed out after {elapsed:.1f}s (timeout {timeout:g}s, {attempts} attempts) "
            f"waiting for {description}; {last}"
        )


class ServiceStartError(AssayTestingError):
    """A service fixture could not start its service (binary missing, crash, no readiness)."""


def _short_repr(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
