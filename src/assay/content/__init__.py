"""Content: git checkouts and inline files materialised into a workspace."""

from __future__ import annotations

from assay.content.files import write_files
from assay.content.git import checkout

__all__ = ["checkout", "write_files"]
