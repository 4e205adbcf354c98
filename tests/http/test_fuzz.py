"""Whatever a client sends, the connection loop answers well-formed HTTP or
closes; it never raises, hangs, or disturbs the server (hypothesis)."""

from __future__ import annotations

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from hamster.http.connection import ServerLimits, serve_connection

from .fakeapp import FakeApp

LIMITS = ServerLimits(
    max_header_bytes=2048,
    header_timeout_s=10.0,
    idle_timeout_s=20.0,
    body_timeout_s=30.0,
    drain_limit_bytes=100,
    linger_timeout_s=1.0,
)

PIECES = st.one_of(
    st.sampled_from(
        [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n",
            b"PUT /echo?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"3\r\nabc\r\n0\r\n\r\n",
            b"PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
            b"Expect: 100-continue\r\n\r\n",
            b"PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n",
            b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"X-Long: " + b"a" * 3000 + b"\r\n",
            b"\r\n",
            b"GET / HTTP/1.1\r\n",
        ]
    ),
    st.binary(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=8), close_early=st.booleans())
def test_any_byte_stream_gets_http_or_a_close(pieces: list[bytes], close_early: bool) -> None:
    async def main() -> bytes:
        client, server = trio.testing.memory_stream_pair()
        received = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_connection, server, FakeApp(), LIMITS)
            try:
                for piece in pieces:
                    await client.send_all(piece)
                if close_early:
                    await client.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the server closed first: fine
            # Read until the server closes (its timeouts guarantee it will).
            while chunk := await client.receive_some(65536):
                received += chunk
            await client.aclose()
        return bytes(received)

    received = trio.run(main, clock=MockClock(autojump_threshold=0))
    if received:
        assert received.startswith(b"HTTP/1.1 ") or received.startswith(b"HTTP/1.0 "), received
