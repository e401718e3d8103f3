"""wait_for_condition / wait_for_service, sync and async, on a fake clock and real sockets."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assay.errors import AssayError
from assay.testing import (
    WaitTimeoutError,
    wait_for_condition,
    wait_for_condition_async,
    wait_for_service,
    wait_for_service_async,
)
from assay.testing.polling import ServiceTarget


class FakeTime:
    """A clock that only moves when slept on, recording every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def test_returns_the_first_truthy_value(fake: FakeTime) -> None:
    values = iter([0, None, "", "ready", "later"])
    result = wait_for_condition(lambda: next(values), clock=fake.clock, sleep=fake.sleep)
    assert result == "ready"
    assert len(fake.sleeps) == 3


def test_backoff_grows_to_max_interval_and_stops_at_timeout(fake: FakeTime) -> None:
    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_condition(
            lambda: False,
            timeout=20,
            interval=1,
            backoff=2,
            max_interval=5,
            clock=fake.clock,
            sleep=fake.sleep,
        )
    assert fake.sleeps == [1, 2, 4, 5, 5, 3]
    assert caught.value.attempts == 7
    assert caught.value.elapsed == 20


def test_timeout_message_names_what_how_long_and_last_value(fake: FakeTime) -> None:
    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_condition(
            lambda: [],
            timeout=3,
            description="the queue to drain",
            clock=fake.clock,
            sleep=fake.sleep,
        )
    error = caught.value
    assert isinstance(error, AssayError)
    assert isinstance(error, TimeoutError)
    assert "waiting for the queue to drain" in str(error)
    assert "timeout 3s" in str(error)
    assert "last value: []" in str(error)
    assert error.last_value == []
    assert error.last_exception is None


def test_timeout_message_shows_last_exception_and_chains_it(fake: FakeTime) -> None:
    def condition() -> bool:
        raise ConnectionRefusedError("nobody home")

    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_condition(condition, timeout=1, clock=fake.clock, sleep=fake.sleep)
    error = caught.value
    assert "condition() to return a truthy value" in str(error)
    assert "last exception: ConnectionRefusedError: nobody home" in str(error)
    assert isinstance(error.__cause__, ConnectionRefusedError)


def test_a_value_after_an_exception_replaces_it(fake: FakeTime) -> None:
    outcomes: Iterator[object] = iter([OSError("down"), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])

    def condition() -> object:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(WaitTimeoutError, match=r"last value: 0$"):
        wait_for_condition(condition, timeout=1, interval=0.5, clock=fake.clock, sleep=fake.sleep)


def test_exceptions_outside_retry_on_propagate_at_once(fake: FakeTime) -> None:
    def condition() -> bool:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        wait_for_condition(condition, retry_on=(OSError,), clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == []


def test_zero_timeout_still_tries_once(fake: FakeTime) -> None:
    assert wait_for_condition(lambda: 42, timeout=0, clock=fake.clock, sleep=fake.sleep) == 42
    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_condition(lambda: 0, timeout=0, clock=fake.clock, sleep=fake.sleep)
    assert caught.value.attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": -1}, "timeout"),
        ({"interval": 0}, "interval"),
        ({"backoff": 0.5}, "backoff"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wait_for_condition(lambda: True, **kwargs)


def test_async_variant_awaits_and_times_out(fake: FakeTime) -> None:
    values = iter([False, False, "done"])

    async def condition() -> object:
        return next(values)

    async def scenario() -> object:
        return await wait_for_condition_async(
            condition, interval=1, backoff=2, clock=fake.clock, sleep=fake.async_sleep
        )

    assert asyncio.run(scenario()) == "done"
    assert fake.sleeps == [1, 2]

    async def never() -> bool:
        return False

    with pytest.raises(WaitTimeoutError, match="waiting for never"):
        asyncio.run(
            wait_for_condition_async(
                never, timeout=2, description="never", clock=fake.clock, sleep=fake.async_sleep
            )
        )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("localhost:5432", ServiceTarget("localhost", 5432)),
        ("tcp://db:1", ServiceTarget("db", 1)),
        ("[::1]:8080", ServiceTarget("::1", 8080)),
        ("http://svc/health", ServiceTarget("svc", 80, "http://svc/health")),
        ("https://svc", ServiceTarget("svc", 443, "https://svc")),
        ("http://svc:81/x", ServiceTarget("svc", 81, "http://svc:81/x")),
    ],
)
def test_service_targets(target: str, expected: ServiceTarget) -> None:
    assert ServiceTarget.parse(target) == expected


@pytest.mark.parametrize("target", ["localhost", "ftp://h:1", "h:port", ":80", "h:99999"])
def test_bad_service_targets(target: str) -> None:
    with pytest.raises(ValueError):
        ServiceTarget.parse(target)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_wait_for_service_tcp(listening_port: int, closed_port: int) -> None:
    wait_for_service(f"127.0.0.1:{listening_port}", timeout=5)
    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_service(f"127.0.0.1:{closed_port}", timeout=0.3, interval=0.1)
    assert f"waiting for service at 127.0.0.1:{closed_port}" in str(caught.value)
    assert "last exception: ConnectionRefusedError" in str(caught.value)


def test_wait_for_service_http(http_base: str) -> None:
    wait_for_service(f"{http_base}/ok", timeout=5)
    with pytest.raises(WaitTimeoutError, match=r"last value: HTTP 503 from .*/down"):
        wait_for_service(f"{http_base}/down", timeout=0.3, interval=0.1)
    wait_for_service(f"{http_base}/down", timeout=5, statuses={503})


def test_wait_for_service_async(http_base: str, closed_port: int) -> None:
    asyncio.run(wait_for_service_async(f"{http_base}/ok", timeout=5))
    with pytest.raises(WaitTimeoutError, match="waiting for the api"):
        asyncio.run(
            wait_for_service_async(
                f"127.0.0.1:{closed_port}", timeout=0.3, interval=0.1, description="the api"
            )
        )
