"""Server-sent events: the text/event-stream format read line by line.

Only what ``assay server`` sends is kept: ``id:``, ``event:`` and ``data:`` fields (several
``data:`` lines join with newlines), comments (``: heartbeat``) ignored, an empty line ends
an event. https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Event", "parse_events"]


@dataclass(frozen=True)
class Event:
    """One event of a stream: ``event`` is ``message`` unless the server named it."""

    event: str
    data: str
    id: str | None = None


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """The events of a stream given as lines (without their line ends); an event is
    yielded once its closing empty line arrives, so a cut stream yields no half event."""
    event, data, event_id = "", list[str](), None
    for line in lines:
        if not line:
            if data:
                yield Event(event or "message", "\n".join(data), event_id)
            event, data, event_id = "", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id" and "\0" not in value:
            event_id = value
