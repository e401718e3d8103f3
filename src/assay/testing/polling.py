"""Polling: wait until a condition holds or a service answers, in sync and async code.

Use these instead of `time.sleep` in integration tests: they return as soon as
the condition holds and, on timeout, raise `WaitTimeoutError` naming what was
awaited, for how long, and the last value or exception observed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from assay.testing.errors import WaitTimeoutError

__all__ = [
    "ServiceTarget",
    "wait_for_condition",
    "wait_for_condition_async",
    "wait_for_service",
    "wait_for_service_async",
]

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_INTERVAL = 0.2
DEFAULT_BACKOFF = 1.5
MAX_INTERVAL = 5.0
READY_STATUSES = range(200, 400)
"""HTTP statuses that count as ready, as for a Kubernetes httpGet probe."""

Clock = Callable[[], float]


class _Poller:
    """Bookkeeping shared by the sync and async loops: attempts, delays, the timeout error."""

    def __init__(
        self,
        description: str,
        timeout: float,
        interval: float,
        backoff: float,
        max_interval: float,
        clock: Clock,
    ) -> None:
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout}")
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        if backoff < 1:
            raise ValueError(f"backoff must be >= 1, got {backoff}")
        self._description = description
        self._timeout = timeout
        self._delay = interval
        self._backoff = backoff
        self._max_interval = max(max_interval, interval)
        self._clock = clock
        self._start = clock()
        self._attempts = 0
        self._last_value: object = None
        self._last_exception: BaseException | None = None

    def observed(self, value: object) -> None:
        self._attempts += 1
        self._last_value, self._last_exception = value, None

    def failed(self, exc: BaseException) -> None:
        self._attempts += 1
        self._last_exception = exc

    def next_delay(self) -> float:
        """Seconds to sleep before the next attempt; raises `WaitTimeoutError` when out of time."""
        elapsed = self._clock() - self._start
        remaining = self._timeout - elapsed
        if remaining <= 0:
            raise WaitTimeoutError(
                self._description,
                timeout=self._timeout,
                elapsed=elapsed,
                attempts=self._attempts,
                last_value=self._last_value,
                last_exception=self._last_exception,
            ) from self._last_exception
        delay = min(self._delay, remaining)
        self._delay = min(self._delay * self._backoff, self._max_interval)
        return delay


def _describe(condition: Callable[[], object], description: str | None) -> str:
    if description:
        return description
    name = getattr(condition, "__qualname__", None) or repr(condition)
    return f"{name}() to return a truthy value"


def wait_for_condition(
    condition: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    backoff: float = DEFAULT_BACKOFF,
    description: str | None = None,
    *,
    max_interval: float = MAX_INTERVAL,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    clock: Clock = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `condition` until it returns a truthy value, and return that value.

    Exceptions listed in `retry_on` count as "not yet" and are retried; others
    propagate. The pause starts at `interval` seconds and is multiplied by
    `backoff` after each attempt, up to `max_interval`. The condition is always
    tried at least once. Raises `WaitTimeoutError` after `timeout` seconds.
    """
    poller = _Poller(
        _describe(condition, description), timeout, interval, backoff, max_interval, clock
    )
    while True:
        try:
            value = condition()
        except retry_on as exc:
            poller.failed(exc)
        else:
            if value:
                return value
            poller.observed(value)
        sleep(poller.next_delay())


async def wait_for_condition_async(
    condition: Callable[[], Awaitable[T]],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    backoff: float = DEFAULT_BACKOFF,
    description: str | None = None,
    *,
    max_interval: float = MAX_INTERVAL,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    clock: Clock = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Async variant of `wait_for_condition`: awaits `condition()` and sleeps with asyncio."""
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    poller = _Poller(
        _describe(condition, description), timeout, interval, backoff, max_interval, clock
    )
    while True:
        try:
            value = await condition()
        except retry_on as exc:
            poller.failed(exc)
        else:
            if value:
                return value
            poller.observed(value)
        await sleep(poller.next_delay())


@dataclass(frozen=True)
class ServiceTarget:
    """Where a service listens: a TCP `host:port`, or an HTTP(S) URL to GET."""

    host: str
    port: int
    url: str | None = None

    @classmethod
    def parse(cls, target: str) -> ServiceTarget:
        """Parse `host:port`, `tcp://host:port`, `[::1]:port` or an `http(s)://` URL."""
        parts = urlsplit(target if "://" in target else f"tcp://{target}")
        scheme = parts.scheme.lower()
        if scheme not in ("tcp", "http", "https") or not parts.hostname:
            raise ValueError(f"not a service address (host:port or http(s) URL): {target!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in service address {target!r}: {exc}") from None
        if scheme == "tcp":
            if port is None:
                raise ValueError(f"service address {target!r} needs a port")
            return cls(parts.hostname, port)
        return cls(parts.hostname, port or (443 if scheme == "https" else 80), target)

    def __str__(self) -> str:
        return self.url or f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one readiness probe; truthy when the service is ready."""

    ready: bool
    detail: str

    def __bool__(self) -> bool:
        return self.ready

    def __repr__(self) -> str:
        return self.detail


def probe(
    target: ServiceTarget, statuses: Container[int] = READY_STATUSES, timeout: float = 2.0
) -> ProbeResult:
    """Probe once: a TCP connect, or an HTTP GET (without proxies) judged by its status."""
    if target.url is None:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            return ProbeResult(True, f"TCP connect to {target} succeeded")
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(target.url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, OSError):  # report "ConnectionRefusedError", not URLError
            raise exc.reason from None
        raise
    return ProbeResult(status in statuses, f"HTTP {status} from {target.url}")


def probe_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a probe raises while a service is not up yet (refused, reset, garbage)."""
    import http.client

    return (OSError, http.client.HTTPException)


def wait_for_service(
    target: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    backoff: float = DEFAULT_BACKOFF,
    description: str | None = None,
    *,
    statuses: Container[int] = READY_STATUSES,
    probe_timeout: float = 2.0,
) -> None:
    """Wait until `target` accepts TCP connections (`host:port`) or answers an HTTP GET
    with a status in `statuses` (an `http(s)://` URL)."""
    parsed = ServiceTarget.parse(target)
    wait_for_condition(
        lambda: probe(parsed, statuses, probe_timeout),
        timeout,
        interval,
        backoff,
        description or f"service at {parsed}",
        retry_on=probe_errors(),
    )


async def wait_for_service_async(
    target: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    backoff: float = DEFAULT_BACKOFF,
    description: str | None = None,
    *,
    statuses: Container[int] = READY_STATUSES,
    probe_timeout: float = 2.0,
) -> None:
    """Async variant of `wait_for_service`; each probe runs in a worker thread."""
    import asyncio

    parsed = ServiceTarget.parse(target)
    await wait_for_condition_async(
        lambda: asyncio.to_thread(probe, parsed, statuses, probe_timeout),
        timeout,
        interval,
        backoff,
        description or f"service at {parsed}",
        retry_on=probe_errors(),
    )
