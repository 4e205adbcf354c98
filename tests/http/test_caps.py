"""Fair connection limits (issue 10): at a cap the connection waiting longest
for a request makes room, a busy one never does, and when none can a new
client is refused at once with 503 SlowDown; accept() failures back off.

A whole `Server` over `MemoryListener` (each client may name its address)
with a MockClock: "served within a second" is measured on it, and the
trickling clients sleep on it, so nothing really waits.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from hamster.http.server import Server, ServerLimits
from hamster.http.testing import MemoryListener, RawClient
from tests.patterns import pattern

from .fakeapp import FakeApp

WINDOW_S = 5.0
LIMITS = ServerLimits(
    max_connections=4,
    max_connections_per_client=4,
    header_timeout_s=10.0,
    idle_timeout_s=60.0,
    min_transfer_bytes_per_s=1024.0,
    transfer_window_s=WINDOW_S,
    linger_timeout_s=1.0,
)


@asynccontextmanager
async def running(server: Server, listener: MemoryListener) -> AsyncIterator[trio.Nursery]:
    """The server serving `listener`; shut down at the end, also when a check fails."""
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, [listener])
        try:
            yield nursery
        finally:
            server.shutdown()


def get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: example\r\n\r\n".encode()


def put(target: str, length: int) -> bytes:
    return f"PUT {target} HTTP/1.1\r\nHost: example\r\nContent-Length: {length}\r\n\r\n".encode()


async def served(client: RawClient, target: str) -> bool:
    """Whether a GET on `client` is answered 200 (False: refused or closed)."""
    await client.send(get(target))
    try:
        response = await client.read_response()
    except EOFError:
        return False
    return response.status == 200 and response.body == b"ok GET " + target.encode()


async def closed(client: RawClient) -> bool:
    """Whether the server has closed `client` without a word (it sent nothing)."""
    await trio.testing.wait_all_tasks_blocked()
    return await client.read_to_eof() == b""


async def trickle(client: RawClient, data: bytes) -> None:
    """One byte every 2 s, far below the floor; stop once the server has closed."""
    try:
        for i in range(len(data)):
            await client.send(data[i : i + 1])
            await trio.sleep(2.0)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def test_with_every_slot_held_by_silent_sockets_a_new_client_is_served_at_once(
    autojump_clock: MockClock,
) -> None:
    # Finding 2: connections that never send held their slots (75 s then);
    # the oldest silent one now makes room.
    server = Server(FakeApp(), LIMITS)
    listener = MemoryListener()
    async with running(server, listener):
        silent = [RawClient(listener.connect(f"10.0.0.{i}")) for i in range(4)]
        await trio.sleep(1.0)  # a socket is shed once it has waited a second
        assert server.active_connections == 4
        start = trio.current_time()
        for i in range(4):  # each newcomer sheds the silent socket that waited longest
            assert await served(RawClient(listener.connect("10.0.1.1")), f"/new{i}")
            assert await closed(silent[i])
        assert trio.current_time() - start < 1.0
        assert server.shed_connections == 4


async def test_with_every_slot_trickling_a_body_a_newcomer_is_refused_then_served_after_the_window(
    autojump_clock: MockClock,
) -> None:
    # Finding 1 at the cap: four bodies a byte every 2 s. Nothing may be shed
    # (each has a request in flight): a newcomer is told 503 SlowDown at once,
    # and is served as soon as the floor has let the tricklers go.
    app = FakeApp()
    server = Server(app, LIMITS)
    listener = MemoryListener()
    body = pattern(1000, "trickle")
    async with running(server, listener) as nursery:
        tricklers = [RawClient(listener.connect(f"10.0.0.{i}")) for i in range(4)]
        for client in tricklers:
            await client.send(put("/echo", len(body)))
            nursery.start_soon(trickle, client, body)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()

        refused = RawClient(listener.connect("10.0.1.1"))
        response = await refused.read_response()
        assert (response.status, response.header("x-error")) == (503, "SlowDown")
        assert response.header("retry-after") == "1"
        assert response.header("connection") == "close"
        assert b"<Code>SlowDown</Code>" in response.body
        assert await refused.read_to_eof() == b""
        assert trio.current_time() - start < 1.0  # at once, not from the accept queue
        assert server.refused_connections == 1

        for client in tricklers:
            answer = await client.read_response("PUT")
            assert (answer.status, answer.header("x-error")) == (400, "RequestTimeout")
        assert trio.current_time() - start <= WINDOW_S + 2.0  # seconds, not minutes
        assert await served(RawClient(listener.connect("10.0.1.1")), "/after")
    # Nothing was taken for a whole body: every trickled PUT ended in RequestTimeout.
    assert app.body_errors == ["RequestTimeout"] * 4
    assert [r.target for r in app.requests].count(b"/after") == 1


async def test_an_idle_keep_alive_connection_or_a_silent_one_goes_before_a_partial_head(
    autojump_clock: MockClock,
) -> None:
    server = Server(FakeApp(), LIMITS)
    listener = MemoryListener()
    async with running(server, listener):
        silent = RawClient(listener.connect("10.0.0.1"))  # waits from t=0
        await trio.sleep(1)
        partial = RawClient(listener.connect("10.0.0.2"))
        await partial.send(get("/partial")[:10])  # a head begun at t=1
        await trio.sleep(1)
        keep_alive = RawClient(listener.connect("10.0.0.3"))
        assert await served(keep_alive, "/first")  # then idle from t=2
        busy = RawClient(listener.connect("10.0.0.4"))
        await busy.send(put("/echo", 10))  # mid-request
        await trio.sleep(1)  # every wait is a second old or more

        # Each newcomer stays mid-request, so the next one must shed again.
        newcomers = []
        for i, oldest in enumerate([silent, keep_alive, partial]):
            # silent waited longest (since t=0); keep_alive waits since t=2, but
            # nothing of its request has come: it goes before the partial head.
            newcomer = RawClient(listener.connect(f"10.0.1.{i}"))
            await newcomer.send(put("/echo", 10))
            assert await closed(oldest)
            newcomers.append(newcomer)
        for client in [busy, *newcomers]:  # never shed
            await client.send(pattern(10, "busy"))
            response = await client.read_response("PUT")
            assert (response.status, response.body) == (200, pattern(10, "busy"))


async def test_one_client_address_cannot_take_the_whole_pool(autojump_clock: MockClock) -> None:
    limits = ServerLimits(max_connections=8, max_connections_per_client=2, linger_timeout_s=1.0)
    app = FakeApp()
    server = Server(app, limits)
    listener = MemoryListener()
    async with running(server, listener):
        greedy = [RawClient(listener.connect("10.0.0.66")) for _ in range(2)]
        for client in greedy:
            await client.send(put("/echo", 10))  # both mid-request
        await trio.testing.wait_all_tasks_blocked()

        third = RawClient(listener.connect("10.0.0.66"))
        assert (await third.read_response()).header("x-error") == "SlowDown"
        assert await served(RawClient(listener.connect("10.0.0.7")), "/other")  # room for others

        for client in greedy:
            await client.send(pattern(10, "greedy"))
            assert (await client.read_response("PUT")).status == 200
        await trio.sleep(1)
        # Idle now: the next connection from that address sheds its own oldest,
        # not the other client's (older) one.
        assert await served(RawClient(listener.connect("10.0.0.66")), "/again")
        assert await closed(greedy[0])
        assert server.active_connections == 3


async def test_a_burst_of_new_connections_does_not_shed_one_that_has_just_arrived(
    autojump_clock: MockClock,
) -> None:
    # Its request may already be in its socket, unread only because its task
    # has not run yet: a newcomer a moment later is refused, not served at its cost.
    server = Server(FakeApp(), LIMITS)
    listener = MemoryListener()
    async with running(server, listener):
        first = [RawClient(listener.connect(f"10.0.0.{i}")) for i in range(4)]
        late = RawClient(listener.connect("10.0.1.1"))
        assert (await late.read_response()).header("x-error") == "SlowDown"
        for i, client in enumerate(first):
            assert await served(client, f"/first{i}")


def test_the_per_client_cap_defaults_to_a_quarter_of_the_global_one() -> None:
    assert ServerLimits().client_cap == 256
    assert ServerLimits(max_connections=10).client_cap == 2
    assert ServerLimits(max_connections=3).client_cap == 1
    assert ServerLimits(max_connections=10, max_connections_per_client=50).client_cap == 10


class FailingListener(MemoryListener):
    """accept() fails with `errno_` `failures` times first."""

    def __init__(self, errno_: int, failures: int) -> None:
        super().__init__()
        self.errno = errno_
        self.failures = failures
        self.attempts = 0

    async def accept(self) -> trio.abc.Stream:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            await trio.lowlevel.checkpoint()
            raise OSError(self.errno, "Too many open files")
        return await super().accept()


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
async def test_accept_errors_back_off_on_the_clock_and_are_logged_once_per_burst(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    # Finding 3: every failed accept() logged a line, 0.1 s apart (766 lines).
    server = Server(FakeApp(), LIMITS)
    listener = FailingListener(code, failures=40)
    with caplog.at_level(logging.DEBUG, logger="hamster.http"):
        async with running(server, listener):
            client = RawClient(listener.connect("10.0.0.1"))
            await trio.sleep(1.0)
            assert listener.attempts <= 6  # backing off, not spinning
            assert await served(client, "/y")
        assert listener.attempts == 42  # 40 failures, the client's accept, the next one waiting
    # 0.05 s doubling to 1 s: 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 35 * 1.0
    assert trio.current_time() == pytest.approx(36.55)
    lines = [r.getMessage() for r in caplog.records if "accept" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("accept failed (")
    assert lines[1] == "accepting again after 40 failed accept(s) over 36.5s"


async def test_out_of_descriptors_at_accept_sheds_the_longest_idle_connection(
    autojump_clock: MockClock,
) -> None:
    server = Server(FakeApp(), LIMITS)
    listener = FailingListener(errno.EMFILE, failures=0)
    async with running(server, listener):
        idle = RawClient(listener.connect("10.0.0.1"))
        assert await served(idle, "/first")
        busy = RawClient(listener.connect("10.0.0.2"))
        await busy.send(put("/echo", 10))
        await trio.sleep(1)
        listener.failures = 1  # the next accept finds no descriptor
        newcomer = RawClient(listener.connect("10.0.0.3"))
        assert await closed(idle)  # its descriptor is freed for the newcomer
        assert await served(newcomer, "/new")
        await busy.send(pattern(10, "busy"))
        assert (await busy.read_response("PUT")).status == 200
