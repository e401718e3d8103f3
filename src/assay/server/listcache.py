"""Answers of list requests kept for as long as the store's committed state is unchanged.

Every request is still authenticated; what is skipped on a hit is the store's queries and
the JSON of the rows. Each answer is kept under the store's revision read *before* it was
computed (:class:`~assay.store.revision.StoreRevision`), so any commit anywhere (another
server process, an ``assay worker`` on another machine, ``assay run`` on the same SQLite
file) makes the next request compute afresh.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Answer", "ListCache"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON body and its entity tag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Answer:
        """``body`` with an ETag made from its bytes."""
        return cls(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')

    def matches(self, if_none_match: str | None) -> bool:
        """Whether an ``If-None-Match`` header names this answer (then 304)."""
        if not if_none_match:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or self.etag in tags


class ListCache:
    """Answers of the current revision, at most ``size`` of them and ``max_bytes`` of bodies
    (the least recently used go first; all go as soon as the revision is seen to change)."""

    def __init__(
        self,
        revision: Callable[[], str | None],
        size: int = 256,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self._revision = revision
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self._at: str | None = None
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()

    def answer(self, key: Hashable, compute: Callable[[], bytes]) -> Answer:
        """The kept answer to ``key`` at the current revision, else ``compute()``'s (kept)."""
        revision = self._revision()
        if revision is None:
            return Answer.of(compute())
        with self._lock:
            if revision != self._at:
                self._answers.clear()
                self._bytes = 0
                self._at = revision
            kept = self._answers.get(key)
            if kept is not None:
                self._answers.move_to_end(key)
                return kept
        fresh = Answer.of(compute())
        with self._lock:
            if revision == self._at and key not in self._answers:
                self._answers[key] = fresh
                self._bytes += len(fresh.body)
                while len(self._answers) > self._size or self._bytes > self._max_bytes:
                    self._bytes -= len(self._answers.popitem(last=False)[1].body)
        return fresh
