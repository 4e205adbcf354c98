"""Deadlines per request, not per read (issue 10, findings 1 and 2).

Time is a MockClock (pytest-trio's `autojump_clock`): the trickling clients
below "sleep" on it, so a test that spans minutes of the server's time runs
in milliseconds, and `trio.current_time()` tells how long the server waited.
Bodies are position-dependent bytes (`tests.patterns`), so a misplaced or
lost byte shows.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from hamster.http.connection import ServerLimits, serve_connection
from hamster.http.testing import RawClient
from tests.patterns import assert_pattern, pattern

from .fakeapp import FakeApp, serving

FLOOR_BYTES_PER_S = 1024.0
WINDOW_S = 5.0
LIMITS = ServerLimits(
    header_timeout_s=10.0,
    idle_timeout_s=20.0,
    min_transfer_bytes_per_s=FLOOR_BYTES_PER_S,
    transfer_window_s=WINDOW_S,
    drain_limit_bytes=1000,
    linger_timeout_s=1.0,
)


def put(target: str, length: int) -> bytes:
    lines = [f"PUT {target} HTTP/1.1", "Host: example", f"Content-Length: {length}", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: example\r\n\r\n".encode("latin-1")


async def trickle(client: RawClient, data: bytes, piece_bytes: int, every_s: float) -> None:
    """Send `data` in pieces of `piece_bytes`, one every `every_s` (mock) seconds;
    stop quietly once the server has closed."""
    try:
        for i in range(0, len(data), piece_bytes):
            await client.send(data[i : i + piece_bytes])
            await trio.sleep(every_s)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


# ---- request bodies: a rate floor over the whole body ---------------------------------


async def test_a_body_trickled_far_below_the_floor_times_out_after_the_window(
    autojump_clock: MockClock,
) -> None:
    # Finding 1: one byte every 2 s of a 1000-byte body. A per-read timeout
    # never fires (no read stalls for long); the floor does, a window in.
    app = FakeApp()
    body = pattern(1000, "trickled")
    async with serving(app, LIMITS) as s, trio.open_nursery() as nursery:
        await s.client.send(put("/echo", len(body)))
        start = trio.current_time()
        nursery.start_soon(trickle, s.client, body, 1, 2.0)
        response = await s.client.read_response("PUT")
        elapsed = trio.current_time() - start
        assert (response.status, response.header("x-error")) == (400, "RequestTimeout")
        assert response.header("connection") == "close"
        # Each byte earns 1/1024 s of the 5 s credit back: out after 3 waits of 2 s.
        assert WINDOW_S <= elapsed <= WINDOW_S + 2.0
        await s.done.wait()
    assert app.body_errors == ["RequestTimeout"]


async def test_a_stalled_body_times_out_one_window_after_its_last_byte(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(put("/echo", 10) + b"abc")
        response = await s.client.read_response("PUT")
        assert response.header("x-error") == "RequestTimeout"
        assert trio.current_time() == pytest.approx(WINDOW_S)  # a plain stall: one window
        await s.done.wait()
    assert app.body_errors == ["RequestTimeout"]


async def test_a_body_just_above_the_floor_is_read_whole_however_long_it_takes(
    autojump_clock: MockClock,
) -> None:
    # 300 KiB at 1.25 KiB/s: four minutes, thirty times the window.
    app = FakeApp()
    body = pattern(300 * 1024, "slow link")
    async with serving(app, LIMITS) as s, trio.open_nursery() as nursery:
        await s.client.send(put("/echo", len(body)))
        nursery.start_soon(trickle, s.client, body, 1280, 1.0)
        response = await s.client.read_response("PUT")
        assert response.status == 200
        assert_pattern(response.body, "slow link", size=len(body))
        assert trio.current_time() >= 239
        assert not s.done.is_set()  # and the connection lives on


async def test_a_fast_body_that_then_stalls_is_let_go_one_window_after_its_last_byte(
    autojump_clock: MockClock,
) -> None:
    # A fast start earns no more than a window of credit: it cannot buy a long stall.
    app = FakeApp()
    body = pattern(64 * 1024, "stalls")
    async with serving(app, LIMITS) as s:
        await s.client.send(put("/echo", len(body) + 1))
        await trio.testing.wait_all_tasks_blocked()  # the server waits for the body
        await s.client.send(body)
        start = trio.current_time()
        response = await s.client.read_response("PUT")
        assert response.header("x-error") == "RequestTimeout"
        assert trio.current_time() - start == pytest.approx(WINDOW_S)
        await s.done.wait()


async def test_a_stall_shorter_than_the_window_is_forgiven(autojump_clock: MockClock) -> None:
    app = FakeApp()
    body = pattern(20 * 1024, "pause")
    async with serving(app, LIMITS) as s:
        await s.client.send(put("/echo", len(body)) + body[:10_000])
        await trio.sleep(WINDOW_S - 0.5)
        await s.client.send(body[10_000:])
        response = await s.client.read_response("PUT")
        assert response.status == 200
        assert_pattern(response.body, "pause", size=len(body))


async def test_time_the_app_spends_away_from_the_body_does_not_count(
    autojump_clock: MockClock,
) -> None:
    # /dawdle waits 100 s (twenty windows) before every read: a slow disk,
    # not a slow client. The client sent everything at once; it must not time out.
    app = FakeApp()
    body = pattern(4000, "dawdled")
    async with serving(app, LIMITS) as s:
        await s.client.send(put("/dawdle?n=1000", len(body)) + body)
        response = await s.client.read_response("PUT")
        assert response.status == 200
        assert_pattern(response.body, "dawdled", size=len(body))
        assert trio.current_time() >= 400
    assert app.body_errors == []


async def test_with_no_floor_only_a_stall_of_a_window_times_out(
    autojump_clock: MockClock,
) -> None:
    # min_transfer_bytes_per_s=0: the old per-read timeout, for who wants it.
    limits = ServerLimits(min_transfer_bytes_per_s=0, transfer_window_s=WINDOW_S)
    app = FakeApp()
    body = pattern(10, "no floor")
    async with serving(app, limits) as s, trio.open_nursery() as nursery:
        await s.client.send(put("/echo", len(body)))
        nursery.start_soon(trickle, s.client, body, 1, WINDOW_S - 1)
        response = await s.client.read_response("PUT")
        assert response.status == 200
        assert_pattern(response.body, "no floor", size=len(body))


# ---- request heads: a deadline per request ---------------------------------------------


async def test_a_new_connection_that_never_sends_is_closed_after_the_header_timeout(
    autojump_clock: MockClock,
) -> None:
    # Finding 2: a silent socket held its slot for the keep-alive idle timeout.
    async with serving(FakeApp(), LIMITS) as s:
        assert await s.client.read_to_eof() == b""  # closed silently
        assert trio.current_time() == pytest.approx(LIMITS.header_timeout_s)


async def test_a_first_head_must_be_complete_a_header_timeout_after_the_connection_began(
    autojump_clock: MockClock,
) -> None:
    # Waiting before the first byte does not buy more time for the rest.
    head = get("/late")
    async with serving(FakeApp(), LIMITS) as s, trio.open_nursery() as nursery:
        await trio.sleep(LIMITS.header_timeout_s - 2)
        nursery.start_soon(trickle, s.client, head, 1, 0.5)
        response = await s.client.read_response()
        assert (response.status, response.header("x-error")) == (400, "RequestTimeout")
        assert trio.current_time() == pytest.approx(LIMITS.header_timeout_s)
        await s.done.wait()


async def test_a_keep_alive_request_has_the_idle_timeout_then_a_header_timeout(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s, trio.open_nursery() as nursery:
        await s.client.send(get("/first"))
        assert (await s.client.read_response()).status == 200
        await trio.sleep(LIMITS.idle_timeout_s - 1)  # idle, within the idle timeout
        begun = trio.current_time()
        nursery.start_soon(trickle, s.client, get("/second"), 1, 1.0)  # 36 s of head
        response = await s.client.read_response()
        assert response.header("x-error") == "RequestTimeout"
        assert trio.current_time() - begun == pytest.approx(LIMITS.header_timeout_s)
    assert [r.target for r in app.requests] == [b"/first"]


async def test_a_keep_alive_head_sent_within_its_deadline_is_served(
    autojump_clock: MockClock,
) -> None:
    async with serving(FakeApp(), LIMITS) as s, trio.open_nursery() as nursery:
        await s.client.send(get("/first"))
        assert (await s.client.read_response()).status == 200
        await trio.sleep(LIMITS.idle_timeout_s - 1)
        nursery.start_soon(trickle, s.client, get("/second"), 4, 1.0)  # 9 s of head
        assert (await s.client.read_response()).body == b"ok GET /second"


# ---- responses: the same floor for a client that does not read ----------------------------


async def serve_lockstep(
    app: FakeApp, limits: ServerLimits, nursery: trio.Nursery
) -> tuple[RawClient, trio.Event]:
    """serve_connection over a lockstep pair: a send waits until the client reads."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    done = trio.Event()

    async def run() -> None:
        try:
            await serve_connection(server_stream, app, limits)
        finally:
            done.set()

    nursery.start_soon(run)
    return RawClient(client_stream), done


async def test_a_client_that_does_not_read_its_response_is_let_go(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with trio.open_nursery() as nursery:
        client, done = await serve_lockstep(app, LIMITS, nursery)
        await client.send(get("/pattern?n=1000000"))
        start = trio.current_time()
        await done.wait()  # we read nothing
        # One piece (a window's worth of bytes at the floor, at least 16 KiB)
        # may take its credit plus what its bytes earn.
        assert trio.current_time() - start <= WINDOW_S + 16 * 1024 / FLOOR_BYTES_PER_S
        await client.stream.aclose()
    assert app.closed == ["on_close /pattern"]


async def test_a_response_read_slowly_above_the_floor_arrives_whole(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    size = 200 * 1024
    async with trio.open_nursery() as nursery:
        client, done = await serve_lockstep(app, LIMITS, nursery)
        await client.send(get(f"/pattern?n={size}"))
        received = bytearray()
        wanted = None
        while wanted is None or len(received) < wanted:  # 2 KiB/s, twice the floor
            chunk = await client.stream.receive_some(1024)
            assert chunk, "the server closed"
            received += chunk
            if wanted is None and b"\r\n\r\n" in received:
                wanted = received.index(b"\r\n\r\n") + 4 + size
            await trio.sleep(0.5)
        assert trio.current_time() >= 100  # a hundred seconds: twenty windows
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert_pattern(body, "fake", size=size)
        assert not done.is_set()
        await client.stream.aclose()
