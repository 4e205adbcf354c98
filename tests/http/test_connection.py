"""The connection loop over in-memory streams, with a fake App.

Time is a MockClock (pytest-trio's `autojump_clock`): a test that would wait
for a timeout jumps straight to it, and `trio.current_time()` tells how long
the server waited.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from hamster.http.connection import ServerLimits, ShutdownSignal, serve_connection
from hamster.http.testing import RawClient

from .fakeapp import FakeApp, serving

LIMITS = ServerLimits(
    header_timeout_s=10.0,
    idle_timeout_s=20.0,
    transfer_window_s=30.0,
    drain_limit_bytes=1000,
    linger_timeout_s=1.0,
)


def get(target: str = "/", *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: example", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def send(client: RawClient, data: bytes, bytewise: bool) -> None:
    if bytewise:
        await client.send_bytewise(data)
    else:
        await client.send(data)


FEEDS = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])


async def test_simple_get(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/hello?x=1", "X-Thing: \xe9t\xe9"))
        response = await s.client.read_response()
        assert response.status == 200
        assert response.body == b"ok GET /hello?x=1"
        assert response.header("content-length") == str(len(response.body))
    request = app.requests[0]
    assert request.method == "GET"
    assert request.target == b"/hello?x=1"
    assert request.http_version == "1.1"
    assert request.scheme == "http"
    assert request.header("host") == "example"
    assert request.header("x-thing") == "\xe9t\xe9"


async def test_keep_alive_serves_several_requests_on_one_connection(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        for i in range(3):
            await s.client.send(get(f"/r{i}"))
            response = await s.client.read_response()
            assert response.body == f"ok GET /r{i}".encode()
        assert not s.done.is_set()
    assert len(app.requests) == 3


@FEEDS
async def test_pipelined_requests_are_answered_in_order(
    autojump_clock: MockClock, bytewise: bool
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        data = get("/a") + get("/b", "Content-Length: 3", method="PUT") + b"xyz" + get("/c")
        await send(s.client, data, bytewise)
        assert (await s.client.read_response()).body == b"ok GET /a"
        assert (await s.client.read_response()).body == b"ok PUT /b"
        assert (await s.client.read_response()).body == b"ok GET /c"
    assert [r.target for r in app.requests] == [b"/a", b"/b", b"/c"]


BODY = bytes(range(256)) * 40  # 10 KiB


@FEEDS
@pytest.mark.parametrize("max_bytes", [1 << 20, 7])
async def test_content_length_body_is_read_whole(
    autojump_clock: MockClock, bytewise: bool, max_bytes: int
) -> None:
    body = BODY if not bytewise else BODY[:300]
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        head = get(f"/echo?n={max_bytes}", f"Content-Length: {len(body)}", method="PUT")
        await send(s.client, head + body, bytewise)
        response = await s.client.read_response()
        assert response.status == 200
        assert response.body == body
        assert response.header("x-content-length") == str(len(body))
        # the connection is still good
        await s.client.send(get("/after"))
        assert (await s.client.read_response()).body == b"ok GET /after"


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\nTrailer-Thing: 1\r\n\r\n"


@FEEDS
@pytest.mark.parametrize("max_bytes", [1 << 20, 7])
async def test_chunked_body_is_read_whole(
    autojump_clock: MockClock, bytewise: bool, max_bytes: int
) -> None:
    body = BODY if not bytewise else BODY[:300]
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        head = get(f"/echo?n={max_bytes}", "Transfer-Encoding: chunked", method="PUT")
        await send(s.client, head + chunked(body, 1000 if not bytewise else 100), bytewise)
        response = await s.client.read_response()
        assert response.status == 200
        assert response.body == body
        assert response.header("x-content-length") == "None"
        await s.client.send(get("/after"))
        assert (await s.client.read_response()).body == b"ok GET /after"


async def test_no_length_and_no_chunking_is_an_empty_body(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/echo", method="POST"))
        response = await s.client.read_response()
        assert response.body == b""
        assert response.header("x-content-length") == "0"


async def test_head_sends_no_body_and_keeps_the_apps_content_length(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/head", method="HEAD") + get("/stream?n=2", method="HEAD"))
        response = await s.client.read_response("HEAD")
        assert response.header("content-length") == "5"
        assert response.body == b""
        response = await s.client.read_response("HEAD")
        assert response.header("content-length") == "10"
        # Had any body byte been sent, this response would not parse.
        await s.client.send(get("/next"))
        assert (await s.client.read_response()).body == b"ok GET /next"
    assert app.closed == ["on_close /stream"]  # the iterator was never started


async def test_head_errors_send_no_body(autojump_clock: MockClock) -> None:
    """An app error (its error_response) and an app answering a HEAD with a
    body: the head alone goes out, the connection stays in step."""
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/boom", method="HEAD") + get("/head-error", method="HEAD"))
        boom = await s.client.read_response("HEAD")
        assert (boom.status, boom.header("x-error"), boom.body) == (500, "InternalError", b"")
        missing = await s.client.read_response("HEAD")
        assert (missing.status, missing.header("x-error"), missing.body) == (404, "NoSuchKey", b"")
        # Had any body byte been sent, this response would not parse.
        await s.client.send(get("/head-error", "Connection: close", method="HEAD"))
        assert (await s.client.read_response("HEAD")).status == 404
        assert await s.client.read_to_eof() == b""


async def test_connection_close_is_honoured(autojump_clock: MockClock) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/", "Connection: close"))
        response = await s.client.read_response()
        assert response.status == 200
        assert response.header("connection") == "close"
        assert await s.client.read_to_eof() == b""
        await s.done.wait()


async def test_http_1_0_is_answered_then_closed(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(b"GET /old HTTP/1.0\r\n\r\n")
        response = await s.client.read_response()
        assert response.body == b"ok GET /old"
        assert await s.client.read_to_eof() == b""
    assert app.requests[0].http_version == "1.0"


async def test_expect_100_continue_is_sent_when_the_app_reads_the_body(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        head = get("/echo", "Content-Length: 5", "Expect: 100-continue", method="PUT")
        await s.client.send(head)
        interim = await s.client.read_response("PUT")
        assert interim.status == 100
        await s.client.send(b"hello")
        response = await s.client.read_response("PUT")
        assert (response.status, response.body) == (200, b"hello")
        assert response.header("connection") is None
        await s.client.send(get("/again"))
        assert (await s.client.read_response()).body == b"ok GET /again"


async def _raw_until(stream: trio.abc.Stream, end: bytes) -> bytes:
    data = b""
    while end not in data:
        chunk = await stream.receive_some(65536)
        assert chunk, f"closed before {end!r}: {data!r}"
        data += chunk
    return data


async def test_status_lines_carry_the_standard_reason_phrase(autojump_clock: MockClock) -> None:
    # botocore before 1.40.21 and the aws CLI v2 wait for exactly
    # "HTTP/1.1 100 Continue" (botocore #3455); read the bytes, not h11's parse.
    async with serving(FakeApp(), LIMITS) as s:
        stream = s.client.stream
        await stream.send_all(
            get("/echo", "Content-Length: 5", "Expect: 100-continue", method="PUT")
        )
        assert await _raw_until(stream, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        await stream.send_all(b"hello")
        assert (await _raw_until(stream, b"hello")).startswith(b"HTTP/1.1 200 OK\r\n")
        await stream.send_all(get("/refuse"))
        assert (await _raw_until(stream, b"refused")).startswith(b"HTTP/1.1 403 Forbidden\r\n")


async def test_response_head_is_written_exactly_as_the_app_gave_it(
    autojump_clock: MockClock,
) -> None:
    # The framing headers h11 writes come first; the app's others follow, in
    # its order and casing, byte for byte (control bytes and obs-text as h11 allows).
    async with serving(FakeApp(), LIMITS) as s:
        stream = s.client.stream
        await stream.send_all(get("/header?X-Odd-Case=%01a%A0%E9%09b"))
        data = await _raw_until(stream, b"header")
        assert data == (
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Odd-Case: \x01a\xa0\xe9\tb\r\n\r\nheader"
        )
        await stream.send_all(get("/head"))
        data = await _raw_until(stream, b"hello")
        assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize(
    "query",
    [
        "x-value=a%0D%0AX-Injected:%201",  # a line break: header injection
        "x-value=a%0AX-Injected:%201",
        "x-value=%20lead",  # whitespace around a value
        "x-value=trail%09",
        "x-value=a%00b",  # NUL
        "x%20name=v",  # not a token
        "x%0D%0AX-Injected:%201%0D%0Ay=v",
        "=v",  # empty name
        "x-text-value=%E2%82%AC",  # not a wire string: a character above U+00FF
    ],
)
async def test_a_header_h11_would_refuse_becomes_internal_error_and_nothing_of_it_is_sent(
    autojump_clock: MockClock, query: str
) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/header?" + query))
        response = await s.client.read_response()
        assert response.status == 500
        assert response.header("x-error") == "InternalError"
        assert response.header("x-injected") is None
        assert response.header("x-value") is None
        assert response.header("x-text-value") is None
        await s.done.wait()


@pytest.mark.parametrize("length", [5, 5_000_000], ids=["within-drain-limit", "over-it"])
async def test_expect_100_continue_refused_unread_closes_without_asking_for_the_body(
    autojump_clock: MockClock, length: int
) -> None:
    # A body within the drain limit would otherwise be drained: the close
    # must come from the client waiting for 100, not from the size.
    async with serving(FakeApp(), LIMITS) as s:
        head = get("/refuse", f"Content-Length: {length}", "Expect: 100-continue", method="PUT")
        await s.client.send(head)
        response = await s.client.read_response("PUT")
        assert response.status == 403  # no 100 before it
        assert response.header("connection") == "close"
        assert await s.client.read_to_eof() == b""
        await s.done.wait()


async def test_expect_100_continue_with_an_empty_body_keeps_the_connection(
    autojump_clock: MockClock,
) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/refuse", "Content-Length: 0", "Expect: 100-continue"))
        response = await s.client.read_response()
        assert response.status == 403
        assert response.header("connection") is None
        await s.client.send(get("/again"))
        assert (await s.client.read_response()).body == b"ok GET /again"


async def test_unread_small_body_is_drained_and_the_connection_reused(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/ignore", "Content-Length: 500", method="PUT") + b"x" * 500)
        response = await s.client.read_response("PUT")
        assert response.status == 200
        assert response.header("connection") is None
        await s.client.send(get("/ignore", "Transfer-Encoding: chunked", method="PUT"))
        await s.client.send(chunked(b"y" * 900, 100))
        assert (await s.client.read_response("PUT")).status == 200
        await s.client.send(get("/next"))
        assert (await s.client.read_response()).body == b"ok GET /next"
    assert len(app.requests) == 3


async def test_unread_large_body_closes_the_connection(autojump_clock: MockClock) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/ignore", "Content-Length: 5000", method="PUT") + b"x" * 100)
        response = await s.client.read_response("PUT")
        assert response.header("connection") == "close"
        await s.done.wait()


async def test_unread_large_chunked_body_closes_after_the_drain_limit(
    autojump_clock: MockClock,
) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/ignore", "Transfer-Encoding: chunked", method="PUT"))
        await s.client.send(chunked(b"y" * 5000, 500))
        assert (await s.client.read_response("PUT")).status == 200
        await s.done.wait()


@FEEDS
async def test_oversize_header_block_is_refused_and_closed(
    autojump_clock: MockClock, bytewise: bool
) -> None:
    limits = ServerLimits(max_header_bytes=1024)
    async with serving(FakeApp(), limits) as s:
        await send(s.client, get("/", "X-Big: " + "a" * 1100), bytewise)
        response = await s.client.read_response()
        assert response.status == 400
        assert response.header("x-error") == "RequestHeaderSectionTooLarge"
        assert response.header("connection") == "close"
        await s.done.wait()


@FEEDS
async def test_unfinished_oversize_header_block_is_refused_before_the_head_timeout(
    autojump_clock: MockClock, bytewise: bool
) -> None:
    # The head never ends: only h11's bound on an incomplete head can refuse
    # it (memory stays bounded); otherwise it would wait for header_timeout_s.
    limits = ServerLimits(max_header_bytes=1024, header_timeout_s=10.0)
    async with serving(FakeApp(), limits) as s:
        unfinished = get("/", "X-Big: " + "a" * 1100)[:-4]
        await send(s.client, unfinished, bytewise)
        response = await s.client.read_response()
        assert response.status == 400
        assert response.header("x-error") == "RequestHeaderSectionTooLarge"
        assert trio.current_time() < limits.header_timeout_s
        await s.done.wait()


async def test_header_block_within_the_limit_is_served(autojump_clock: MockClock) -> None:
    limits = ServerLimits(max_header_bytes=1024)
    async with serving(FakeApp(), limits) as s:
        await s.client.send(get("/", "X-Big: " + "a" * 900))
        assert (await s.client.read_response()).status == 200


async def test_malformed_request_gets_400_and_only_its_connection_closes(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as good, serving(app, LIMITS) as bad:
        await good.client.send(get("/before"))
        assert (await good.client.read_response()).status == 200
        await bad.client.send(b"NOT AN HTTP REQUEST\r\n\r\n")
        response = await bad.client.read_response()
        assert response.status == 400
        assert response.header("x-error") == "InvalidRequest"
        await bad.done.wait()
        await good.client.send(get("/after"))
        assert (await good.client.read_response()).body == b"ok GET /after"
        assert not good.done.is_set()


SMUGGLED = get("/smuggled")


@pytest.mark.parametrize(
    "framing",
    [
        ("Transfer-Encoding: gzip",),
        ("Transfer-Encoding: gzip, chunked",),
        ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
        ("Content-Length: 16", "Transfer-Encoding: chunked"),
        ("Transfer-Encoding: chunked", "Content-Length: 0"),
    ],
    ids=["gzip", "gzip-chunked", "chunked-twice", "length-then-chunked", "chunked-then-length"],
)
async def test_ambiguous_or_unsupported_framing_is_refused_and_what_follows_never_answered(
    autojump_clock: MockClock, framing: tuple[str, ...]
) -> None:
    # RFC 9112 section 6.1 and 6.3: a Transfer-Encoding we do not read, or one
    # beside a Content-Length, leaves the body's end in doubt; whatever the
    # client sends next may be a request smuggled past a proxy that framed it
    # the other way. Refuse it (400) and close, never reading on.
    app = FakeApp()
    body = b"5\r\nhello\r\n0\r\n\r\n"
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/echo", *framing, method="PUT") + body + SMUGGLED)
        response = await s.client.read_response("PUT")
        assert (response.status, response.header("x-error")) == (400, "InvalidRequest")
        assert response.body == b"<Error><Code>InvalidRequest</Code></Error>"
        assert response.header("connection") == "close"
        assert await s.client.read_to_eof() == b""  # the smuggled GET: no answer
        await s.done.wait()
    assert app.requests == []  # refused before the app saw it


async def test_header_timeout_answers_request_timeout_and_closes(autojump_clock: MockClock) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        start = trio.current_time()
        await s.client.send(b"GET / HTTP/1.1\r\nHost: exa")
        response = await s.client.read_response()
        assert response.header("x-error") == "RequestTimeout"
        assert trio.current_time() - start == pytest.approx(LIMITS.header_timeout_s)
        await s.done.wait()


async def test_idle_timeout_closes_silently(autojump_clock: MockClock) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/"))
        await s.client.read_response()
        start = trio.current_time()
        assert await s.client.read_to_eof() == b""
        assert trio.current_time() - start == pytest.approx(LIMITS.idle_timeout_s)


async def test_stalled_body_is_a_request_timeout(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/echo", "Content-Length: 10", method="PUT") + b"abc")
        response = await s.client.read_response("PUT")
        assert response.header("x-error") == "RequestTimeout"
        assert response.header("connection") == "close"
        await s.done.wait()
    assert app.body_errors == ["RequestTimeout"]


async def test_client_gone_mid_body_is_an_incomplete_body(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/echo", "Content-Length: 10", method="PUT") + b"abc")
        await s.client.stream.send_eof()  # type: ignore[attr-defined]
        response = await s.client.read_response("PUT")
        assert response.header("x-error") == "IncompleteBody"
        await s.done.wait()
    assert app.body_errors == ["IncompleteBody"]


async def test_bad_chunk_framing_is_an_invalid_request(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/echo", "Transfer-Encoding: chunked", method="PUT") + b"zz\r\n")
        response = await s.client.read_response("PUT")
        assert response.header("x-error") == "InvalidRequest"
        await s.done.wait()


async def test_streaming_response_body_and_on_close(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/stream?n=4"))
        response = await s.client.read_response()
        assert response.body == b"chunk" * 4
        assert response.header("content-length") == "20"
        assert response.header("transfer-encoding") is None
    # The client may have the whole body before the server has run on_close:
    # check once the connection has ended.
    assert app.closed == ["iterator /stream", "on_close /stream"]


async def test_streaming_without_content_length_is_chunked(autojump_clock: MockClock) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/stream-forever", "Connection: close"))
        data = b""
        while len(data) < 1000:
            data += await s.client.stream.receive_some(1 << 16)
        assert b"transfer-encoding: chunked" in data.lower()
        await s.client.stream.aclose()
        await s.done.wait()
    assert app.closed == ["iterator /stream-forever", "on_close /stream-forever"]


async def test_client_disconnect_during_a_streamed_response_runs_on_close(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = FakeApp()
    client_stream, server_stream = trio.testing.lockstep_stream_pair()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, server_stream, app, LIMITS)
        await client_stream.send_all(get("/stream-forever"))
        await client_stream.receive_some(100)
        await client_stream.aclose()
    assert app.closed == ["iterator /stream-forever", "on_close /stream-forever"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_app_exception_becomes_internal_error(autojump_clock: MockClock) -> None:
    async with serving(FakeApp(), LIMITS) as s:
        await s.client.send(get("/boom"))
        response = await s.client.read_response()
        assert response.status == 500
        assert response.header("x-error") == "InternalError"
        await s.client.send(get("/fine"))
        assert (await s.client.read_response()).status == 200


async def test_iterator_failing_before_its_first_chunk_becomes_internal_error(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/boom-stream"))
        response = await s.client.read_response()
        assert response.header("x-error") == "InternalError"
        assert response.header("connection") == "close"
        await s.done.wait()
    assert app.closed == ["iterator /boom-stream", "on_close /boom-stream"]


async def test_iterator_failing_after_the_head_aborts_the_connection(
    autojump_clock: MockClock,
) -> None:
    app = FakeApp()
    async with serving(app, LIMITS) as s:
        await s.client.send(get("/boom-late"))
        with pytest.raises(EOFError):
            await s.client.read_response()
        await s.done.wait()
    assert app.closed == ["iterator /boom-late", "on_close /boom-late"]


async def test_shutdown_closes_an_idle_connection_at_once(autojump_clock: MockClock) -> None:
    shutdown = ShutdownSignal()
    async with serving(FakeApp(), LIMITS, shutdown) as s:
        await s.client.send(get("/"))
        await s.client.read_response()
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        shutdown.set()
        assert await s.client.read_to_eof() == b""
        # Nothing was left unread, so the server does not linger for the client.
        await s.done.wait()
        assert trio.current_time() == start


async def test_shutdown_lets_the_request_in_flight_finish_with_connection_close(
    autojump_clock: MockClock,
) -> None:
    shutdown = ShutdownSignal()
    app = FakeApp()
    async with serving(app, LIMITS, shutdown) as s:
        await s.client.send(get("/wait"))
        await app.entered.wait()
        shutdown.set()
        app.release.set()
        response = await s.client.read_response()
        assert response.status == 200
        assert response.header("connection") == "close"
        assert await s.client.read_to_eof() == b""
