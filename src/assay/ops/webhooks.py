"""The webhook sender: sends outbox deliveries, retries with exponential backoff, logs each
attempt.

A delivery to a Webhook is a CloudEvent (v1.0) whose ``id`` is the delivery's event id,
the same on every attempt, so receivers can de-duplicate; ``type`` is
``dev.assay.<event>`` (e.g. ``dev.assay.end-testworkflow-failed``), ``source``
``/assay/workflows/<workflow>``, ``subject`` the execution id, ``time`` when the state
changed. ``contentMode: structured`` (the default) POSTs the whole event as
``application/cloudevents+json``; ``binary`` puts the attributes in ``ce-*`` headers and
the data in the body. A ``payloadTemplate`` replaces the data. With ``signature``, the
header (``X-Assay-Signature`` by default) holds ``sha256=`` and the hex HMAC-SHA256 of
the exact body, keyed by the secret.

An attempt succeeds on a 2xx answer. Otherwise the next one is due after
``backoff * 2**(attempt - 1)`` (capped at ``max_backoff``), until ``max_attempts``; then
the delivery is ``failed`` (``assay webhooks replay`` sends it again, same event id).
URLs are never logged: they may carry tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from assay.store.database import Database
from assay.store.executions import now as wall_clock
from assay.store.outbox import DELIVERED, FAILED, PENDING, Outbox
from assay.store.tables import WebhookDeliveryRow, WorkflowRow

__all__ = ["Attempt", "HttpRequest", "Sender", "build_request", "sign"]

log = logging.getLogger("assay.webhooks")

SecretResolver = Callable[[str, str], str]
"""(secret name, key) -> value (the local secret store)."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What one attempt POSTs."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one attempt."""

    delivery_id: str
    number: int
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    outcome: str
    """pending (retry due later), delivered or failed."""


class NotSendable(Exception):
    """The delivery cannot be sent at all (its Webhook is gone or disabled)."""


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def build_request(
    delivery: WebhookDeliveryRow, webhook: dict[str, Any], secret: SecretResolver | None
) -> HttpRequest:
    """The request of a delivery to an applied Webhook (its raw definition)."""
    from cloudevents.core.bindings.http import to_binary, to_structured
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    from assay.spec.webhook import render_payload

    spec = webhook.get("spec") or {}
    if spec.get("disabled"):
        raise NotSendable(f"webhook {delivery.target!r} is disabled")
    headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    data: dict[str, Any] | str = delivery.payload
    if spec.get("payloadTemplate"):
        data = render_payload(spec["payloadTemplate"], delivery.payload)
    attributes: dict[str, Any] = {
        "id": delivery.event_id,
        "source": f"/assay/workflows/{delivery.workflow or '-'}",
        "type": f"dev.assay.{delivery.event_type}",
        "time": delivery.created_at,
        "datacontenttype": content_type or "application/json",
    }
    if delivery.execution_id:
        attributes["subject"] = delivery.execution_id
    event = CloudEvent(attributes=attributes, data=data)
    binary = spec.get("contentMode") == "binary"
    message = (to_binary if binary else to_structured)(event, JSONFormat())
    merged = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    merged.update(message.headers)
    signature = spec.get("signature")
    if signature:
        if secret is None:
            raise NotSendable("no secret store to sign with")
        ref = signature["secretKeyRef"]
        merged[signature.get("header") or "X-Assay-Signature"] = sign(
            secret(ref["name"], ref["key"]), message.body
        )
    return HttpRequest(str(spec["uri"]), merged, message.body)


def slack_request(delivery: WebhookDeliveryRow, url: str) -> HttpRequest:
    """A Slack message (Block Kit JSON) to an incoming-webhook URL."""
    body = json.dumps(delivery.payload).encode("utf-8")
    return HttpRequest(url, {"Content-Type": "application/json"}, body)


class Sender:
    """Sends due deliveries; :meth:`run_once` is one pass, :meth:`run` loops until stopped."""

    def __init__(
        self,
        db: Database,
        *,
        secret: SecretResolver | None = None,
        clock: Callable[[], datetime] = wall_clock,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        max_attempts: int = 10,
        backoff: timedelta = timedelta(seconds=5),
        max_backoff: timedelta = timedelta(hours=1),
        lease: timedelta = timedelta(minutes=2),
        owner: str | None = None,
        on_attempt: Callable[[Attempt, WebhookDeliveryRow], None] | None = None,
    ) -> None:
        self.db = db
        self.outbox = Outbox(db)
        self.secret = secret
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_attempt = on_attempt
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def delay(self, attempts: int) -> timedelta:
        """How long after failed attempt number ``attempts`` the next one is due."""
        seconds = self.backoff.total_seconds() * 2 ** max(0, attempts - 1)
        return min(self.max_backoff, timedelta(seconds=seconds))

    def run_once(self, limit: int = 20) -> list[Attempt]:
        """Send every due delivery (``limit`` at a time); the attempts made."""
        now = self.clock()
        claimed = self.outbox.claim_due(owner=self.owner, now=now, lease_until=now + self.lease)
        return [self.attempt(delivery) for delivery in claimed[:limit]]

    def attempt(self, delivery: WebhookDeliveryRow, *, url: str | None = None) -> Attempt:
        """Make one attempt at ``delivery`` and record it (``url``: a Slack message's)."""
        started = self.clock()
        try:
            request = self._request(delivery, url)
        except NotSendable as exc:
            return self._record(delivery, started, None, 0, str(exc), final=True)
        except Exception as exc:  # a secret missing, a template that cannot render
            return self._record(delivery, started, None, 0, str(exc), final=True)
        begin = time.monotonic()
        try:
            response = self._client.post(request.url, content=request.body, headers=request.headers)
        except httpx.HTTPError as exc:
            latency = int((time.monotonic() - begin) * 1000)
            return self._record(
                delivery, started, None, latency, f"unreachable: {type(exc).__name__}"
            )
        latency = int((time.monotonic() - begin) * 1000)
        if response.is_success:
            return self._record(delivery, started, response.status_code, latency, None)
        reason = response.text.strip()[:200] if response.text else response.reason_phrase
        if request.url in reason:
            reason = "(response withheld)"
        error = f"HTTP {response.status_code} {reason}".strip()
        return self._record(delivery, started, response.status_code, latency, error)

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """Pass after pass until ``stop`` is set (``interval`` seconds between idle passes);
        a failing pass is logged and retried."""
        while not stop.is_set():
            try:
                busy = bool(self.run_once())
            except Exception as exc:  # the loop must outlive a lost database connection
                log.warning("webhook sender pass failed: %s", exc)
                busy = False
            if not busy:
                stop.wait(interval)

    # -- internals ------------------------------------------------------------------------

    def _request(self, delivery: WebhookDeliveryRow, url: str | None) -> HttpRequest:
        if delivery.kind == "slack":
            if not url:
                raise NotSendable("a Slack delivery needs its webhook URL (--url)")
            return slack_request(delivery, url)
        with self.db.session() as session:
            from sqlalchemy import select

            definition = session.scalar(
                select(WorkflowRow.definition).where(
                    WorkflowRow.kind == "Webhook", WorkflowRow.name == delivery.target
                )
            )
        if definition is None:
            raise NotSendable(f"webhook {delivery.target!r} is no longer applied")
        return build_request(delivery, definition, self.secret)

    def _record(
        self,
        delivery: WebhookDeliveryRow,
        started: datetime,
        status_code: int | None,
        latency_ms: int,
        error: str | None,
        *,
        final: bool = False,
    ) -> Attempt:
        attempts = delivery.attempts + 1
        if error is None:
            outcome, due = DELIVERED, None
        elif final or delivery.kind == "slack" or attempts >= self.max_attempts:
            outcome, due = FAILED, None
        else:
            outcome, due = PENDING, started + self.delay(attempts)
        number = self.outbox.record_attempt(
            delivery.id,
            started_at=started,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error,
            outcome=outcome,
            next_attempt_at=due,
        )
        result = Attempt(
            delivery.id, number, error is None, status_code, latency_ms, error, outcome
        )
        if error is not None:
            log.warning(
                "delivery %s (%s %s) attempt %d: %s",
                delivery.id,
                delivery.kind,
                delivery.target,
                number,
                error,
            )
        if self.on_attempt is not None:
            self.on_attempt(result, delivery)
        return result
