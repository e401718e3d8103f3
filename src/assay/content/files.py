"""Inline files (``content.files``) written into the workspace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from assay.errors import ContentError
from assay.spec.workflow import ContentFile

__all__ = ["write_files"]


def write_files(
    files: Sequence[ContentFile],
    *,
    resolve: Callable[[str], Path],
    secret: Callable[[str, str], str],
    render: Callable[[str], str],
) -> list[Path]:
    """Write each file at its resolved path; ``contentFrom.secretKeyRef`` reads a secret."""
    written = []
    for item in files:
        target = resolve(render(item.path))
        if item.content_from and item.content_from.secret_key_ref:
            ref = item.content_from.secret_key_ref
            text = secret(ref.name, ref.key)
        elif item.content is not None:
            text = render(item.content)
        else:
            raise ContentError(f"content file {item.path!r} has neither content nor contentFrom")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if item.mode is not None:
            target.chmod(item.mode)
        written.append(target)
    return written
