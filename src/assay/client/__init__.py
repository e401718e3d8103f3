"""The remote CLI's client of ``assay server``: HTTP calls (httpx, imported on first use),
server-sent events, and ``--source`` packing. Nothing here touches the store."""

from assay.client.http import ScopeMissing, ServerClient, TokenRefused
from assay.client.sse import Event, parse_events

__all__ = ["Event", "ScopeMissing", "ServerClient", "TokenRefused", "parse_events"]
