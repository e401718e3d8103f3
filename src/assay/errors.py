"""The exception tree of assay.

AssayError                      every error assay raises on purpose
├── DefinitionError             bad input: YAML, schema, expressions, arguments (exit 2)
│   └── ExpressionError         a `{{ }}` expression that cannot be evaluated
├── ResultsError                a JUnit file that cannot be read as results (exit 2 on import)
│   └── HostileXMLError         XML with entity declarations or beyond size limits
├── NotFoundError               a workflow, execution or secret that does not exist (exit 2)
├── InfrastructureError         the runner, git, store or filesystem failed (exit 3)
│   └── ContentError            content (git, files) could not be materialised
└── Interrupted                 `assay run` stopped by SIGINT or SIGTERM (exit 128 + signal)
"""

from __future__ import annotations

__all__ = [
    "AssayError",
    "ConflictError",
    "ContentError",
    "DefinitionError",
    "ExpressionError",
    "HostileXMLError",
    "InfrastructureError",
    "Interrupted",
    "NotFoundError",
    "ResultsError",
]


class AssayError(Exception):
    """Root of every error assay raises deliberately."""

    exit_code: int = 3


class DefinitionError(AssayError):
    """A definition or argument is invalid; the message names file, line or field path."""

    exit_code = 2


class ConflictError(DefinitionError):
    """The input is valid but clashes with what is stored (a name taken): HTTP 409."""


class ExpressionError(DefinitionError):
    """A `{{ }}` expression failed to parse or evaluate."""


class ResultsError(AssayError):
    """A results file (JUnit XML) could not be parsed."""

    exit_code = 2


class HostileXMLError(ResultsError):
    """XML that declares entities or DTDs, or exceeds the configured size limits."""


class NotFoundError(AssayError):
    """A named object (workflow, execution, secret) does not exist."""

    exit_code = 2


class InfrastructureError(AssayError):
    """The machinery failed (runner, git, store), not the tests."""

    exit_code = 3


class ContentError(InfrastructureError):
    """Git or file content could not be materialised into the workspace."""


class Interrupted(AssayError):
    """A run stopped by a signal; its execution is recorded ``aborted``. Exits 130 for
    SIGINT, 143 for SIGTERM (128 + the signal number, as shells report)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
