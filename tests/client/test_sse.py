"""Server-sent events as the remote CLI reads them."""

from __future__ import annotations

from assay.client.sse import Event, parse_events


def test_events_fields_comments_and_multiline_data() -> None:
    stream = [
        ": ping",
        "event: log",
        "id: 12",
        'data: {"log": "a"}',
        "",
        ": ping",
        "",
        "data: first",
        "data:second",
        "",
        "event: result",
        "id: 30",
        "data: {}",
    ]
    assert list(parse_events(stream)) == [
        Event("log", '{"log": "a"}', "12"),
        Event("message", "first\nsecond", None),
    ]  # the last event had no closing empty line: a cut stream yields no half event
