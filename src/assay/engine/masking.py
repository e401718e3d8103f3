"""Masking of secret values in every line assay logs or stores.

A secret is masked as written, in its base64 forms (standard and URL-safe, with and
without padding), URL-encoded (``%xx`` and ``+`` for spaces), escaped for XML/HTML and
JSON, and where a tool shortened any of these: the start of a secret just before
``...`` (pytest cutting a long line, ``S3cr3tVa...``) or its end just after (``...lue42``).
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from assay.model import TestCaseResult

__all__ = ["MASK", "Masker", "encoded_forms"]

MASK = "***"
_MIN_LENGTH = 3
_MIN_FRAGMENT = 4  # a shortened secret shows at most 3 characters unmasked
_ELLIPSIS = re.compile(r"\.\.\.|\u2026")


def encoded_forms(value: str) -> set[str]:
    """``value`` encoded as it may appear in headers, URLs, XML and JSON."""
    raw = value.encode("utf-8")
    forms = {
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii"),
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        html.escape(value, quote=False),
        html.escape(value, quote=False).replace('"', "&quot;"),
        json.dumps(value)[1:-1],
    }
    forms |= {form.rstrip("=") for form in forms}
    return {form for form in forms if len(form) >= _MIN_LENGTH} - {value}


class Masker:
    """Replaces every registered secret value (and its encoded forms) by ``***``."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()  # every form, longest first
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        """Register a secret value (and each of its lines, for multi-line secrets)."""
        if not value or len(value) < _MIN_LENGTH:
            return
        plain = {value, *(line for line in value.splitlines() if len(line) >= _MIN_LENGTH)}
        with self._lock:
            self._values |= plain
            for form in plain:
                self._values |= encoded_forms(form)
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))
            self._pattern = re.compile("|".join(re.escape(v) for v in self._ordered))

    def __call__(self, text: str) -> str:
        """``text`` with secrets replaced."""
        pattern = self._pattern
        if pattern is None:
            return text
        text = pattern.sub(MASK, text)
        return self._mask_shortened(text) if _ELLIPSIS.search(text) else text

    def mask_case(self, case: TestCaseResult) -> None:
        """Mask what a test case report carries: message, trace and properties."""
        if case.message:
            case.message = self(case.message)
        if case.trace:
            case.trace = self(case.trace)
        if case.properties:
            case.properties = {
                self(name): [self(value) for value in values]
                for name, values in case.properties.items()
            }

    def _mask_shortened(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        for mark in _ELLIPSIS.finditer(text):
            before, after = mark.start(), mark.end()
            head = max((_head(text, before, v) for v in self._ordered), default=0)
            tail = max((_tail(text, after, v) for v in self._ordered), default=0)
            spans += [(before - head, before)] if head else []
            spans += [(after, after + tail)] if tail else []
        merged: list[tuple[int, int]] = []
        for start, stop in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
            else:
                merged.append((start, stop))
        for start, stop in reversed(merged):
            text = text[:start] + MASK + text[stop:]
        return text


def _head(text: str, end: int, value: str) -> int:
    """Length of the longest start of ``value`` (a fragment, not all of it) ending at ``end``."""
    for k in range(min(len(value) - 1, end), _MIN_FRAGMENT - 1, -1):
        if text[end - k : end] == value[:k]:
            return k
    return 0


def _tail(text: str, start: int, value: str) -> int:
    """Length of the longest end of ``value`` (a fragment) starting at ``start``."""
    for k in range(min(len(value) - 1, len(text) - start), _MIN_FRAGMENT - 1, -1):
        if text[start : start + k] == value[len(value) - k :]:
            return k
    return 0
