"""Masking of secret values in every line assay logs or stores."""

from __future__ import annotations

import re
import threading

__all__ = ["MASK", "Masker"]

MASK = "***"


class Masker:
    """Replaces every registered secret value by ``***``."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Register a secret value (and each of its lines, for multi-line secrets)."""
        if not value or len(value) < 3:
            return
        with self._lock:
            self._values.add(value)
            self._values.update(line for line in value.splitlines() if len(line) >= 3)
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        """``text`` with secrets replaced."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)
