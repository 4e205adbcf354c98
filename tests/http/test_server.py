"""`Server`: accept loop, connection cap, graceful shutdown, TLS.

Over `MemoryListener` with a MockClock where time matters; a few over real
127.0.0.1 sockets (real clock, no timeouts relied on).
"""

from __future__ import annotations

import ssl

import pytest
import trio
import trio.testing
import trustme
from trio.testing import MockClock

from hamster.http.server import Server, ServerLimits, listener_address, open_listeners
from hamster.http.testing import MemoryListener, RawClient

from .fakeapp import FakeApp


def get(target: str = "/", *headers: str) -> bytes:
    return "\r\n".join([f"GET {target} HTTP/1.1", "Host: example", *headers, "", ""]).encode()


async def test_serves_over_real_sockets_on_a_random_port() -> None:
    app = FakeApp()
    server = Server(app, ServerLimits())
    listeners = await open_listeners("127.0.0.1", 0)
    host, port = listener_address(listeners[0])
    assert host == "127.0.0.1"
    assert port > 0
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, listeners)
        client = RawClient(await trio.open_tcp_stream(host, port))
        for target in ("/one", "/two"):
            await client.send(get(target))
            response = await client.read_response()
            assert response.body == b"ok GET " + target.encode()
        await client.stream.aclose()
        server.shutdown()
    assert server.active_connections == 0


async def test_graceful_shutdown_over_real_sockets() -> None:
    app = FakeApp()
    server = Server(app, ServerLimits())
    listeners = await open_listeners("127.0.0.1", 0)
    host, port = listener_address(listeners[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, listeners)
        idle = RawClient(await trio.open_tcp_stream(host, port))
        await idle.send(get("/"))
        await idle.read_response()
        busy = RawClient(await trio.open_tcp_stream(host, port))
        await busy.send(get("/wait"))
        await app.entered.wait()

        server.shutdown()
        assert await idle.read_to_eof() == b""  # idle: closed at once
        with pytest.raises(OSError):
            await trio.open_tcp_stream(host, port)  # no longer listening
        app.release.set()
        response = await busy.read_response()  # in flight: completes
        assert response.status == 200
        assert response.header("connection") == "close"
        assert await busy.read_to_eof() == b""
        await idle.stream.aclose()
        await busy.stream.aclose()
    assert server.active_connections == 0
    assert listeners[0].socket.fileno() == -1


async def test_at_the_cap_an_idle_connection_makes_room_for_the_next_one(
    autojump_clock: MockClock,
) -> None:
    server = Server(FakeApp(), ServerLimits(max_connections=1))
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, [listener])
        first = RawClient(listener.connect())
        await first.send(get("/first"))
        assert (await first.read_response()).body == b"ok GET /first"
        await trio.sleep(1)  # idle for a second: now it may be shed
        start = trio.current_time()

        second = RawClient(listener.connect())  # the first is idle: it is shed
        await second.send(get("/second"))
        assert (await second.read_response()).body == b"ok GET /second"
        assert await first.read_to_eof() == b""
        assert trio.current_time() == start
        assert (listener.accepted, server.active_connections, server.shed_connections) == (2, 1, 1)
        await second.stream.aclose()
        server.shutdown()
    assert listener.closed


async def test_at_the_cap_with_every_connection_busy_the_next_one_is_refused(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    server = Server(app, ServerLimits(max_connections=1))
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, [listener])
        busy = RawClient(listener.connect())
        await busy.send(get("/wait"))
        await app.entered.wait()
        refused = RawClient(listener.connect())
        await refused.send(get("/refused"))
        response = await refused.read_response()
        assert (response.status, response.header("x-error")) == (503, "SlowDown")
        assert await refused.read_to_eof() == b""
        app.release.set()
        assert (await busy.read_response()).status == 200
        assert server.refused_connections == 1
        server.shutdown()
    assert [r.target for r in app.requests] == [b"/wait"]


async def test_shutdown_cancels_what_outlives_the_grace_period(autojump_clock: MockClock) -> None:
    app = FakeApp()
    limits = ServerLimits(shutdown_grace_s=7.0)
    server = Server(app, limits)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, [listener])
        stuck = RawClient(listener.connect())
        await stuck.send(get("/wait"))  # never released
        await app.entered.wait()
        start = trio.current_time()
        server.shutdown()
    assert trio.current_time() - start == pytest.approx(limits.shutdown_grace_s)
    with pytest.raises(EOFError):
        await stuck.read_response()
    assert server.active_connections == 0


async def test_shutdown_before_any_connection_returns_promptly(autojump_clock: MockClock) -> None:
    server = Server(FakeApp())
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, [listener])
        server.shutdown()
        server.shutdown()  # idempotent
    assert trio.current_time() == 0
    assert listener.closed
    assert server.accepted_connections == 0


async def test_tls_wraps_accepted_streams(autojump_clock: MockClock) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    app = FakeApp()
    server = Server(app, ServerLimits(), ssl_context=server_context)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, [listener])
        tls = trio.SSLStream(listener.connect(), client_context, server_hostname="localhost")
        client = RawClient(tls)
        await client.send(get("/secure"))
        assert (await client.read_response()).body == b"ok GET /secure"
        await tls.aclose()
        server.shutdown()
    assert app.requests[0].scheme == "https"
