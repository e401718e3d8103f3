"""Names for throwaway resources: DNS-1123 labels that are unique per run and per test."""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["MAX_LABEL_LENGTH", "dns1123_label", "new_run_id", "resource_name"]

MAX_LABEL_LENGTH = 63
_INVALID = re.compile(r"[^a-z0-9]+")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dns1123_label(*parts: str, max_length: int = MAX_LABEL_LENGTH) -> str:
    """Join `parts` into a DNS-1123 label: lowercase alphanumerics and '-', alphanumeric at
    both ends, at most `max_length` characters (names of Kubernetes namespaces, services,
    databases). A name that must be shortened ends with a hash of the whole, so it stays
    distinct."""
    raw = "-".join(parts)
    name = _INVALID.sub("-", raw.lower()).strip("-")
    if not name:
        raise ValueError(f"no letters or digits to build a name from: {parts!r}")
    if len(name) <= max_length:
        return name
    suffix = _digest(raw, 8)
    if max_length <= len(suffix):
        raise ValueError(f"max_length must exceed {len(suffix)}, got {max_length}")
    head = name[: max_length - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}" if head else suffix


def new_run_id() -> str:
    """A short random id shared by every name made in one pytest run."""
    return secrets.token_hex(3)


def resource_name(prefix: str, run_id: str, test_name: str, nodeid: str) -> str:
    """`prefix-runid-testname-hash`: the hash of the node id keeps tests of the same name in
    different files apart."""
    return dns1123_label(prefix, run_id, test_name, _digest(nodeid, 6))
