"""Infrastructure faults (a full disk, a read-only home, a store that cannot be written) as
one line naming the path and the cause, for the user instead of a traceback.

Light on purpose: the CLI imports it on its error path without loading SQLAlchemy.
"""

from __future__ import annotations

import errno
import sys

__all__ = ["describe_fault", "os_fault"]


def os_fault(exc: OSError, action: str = "cannot write", path: object = None) -> str:
    """``cannot write /path: No space left on device`` from an OSError (``path`` names the
    file when the error does not, as with a failed ``write()``)."""
    cause = exc.strerror or errno.errorcode.get(exc.errno or 0) or str(exc)
    target = exc.filename if exc.filename is not None else (path or "(unknown path)")
    second = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{action} {target}{second}: {cause}"


def describe_fault(exc: BaseException) -> str | None:
    """One line for an OSError or a SQLAlchemy error; None for anything else (a bug)."""
    if isinstance(exc, OSError):
        return os_fault(exc, "cannot use")
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError):
        return f"store error: {store_cause(exc)}"
    return None


def store_cause(exc: BaseException) -> str:
    """The driver's own message of a SQLAlchemy error, on one line."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip() or type(cause).__name__
    return " ".join(text.split("\n", 1)[0].split())
