"""Test helpers for the HTTP edge: a raw HTTP client and an in-memory listener.

Drive the real connection loop without sockets::

    client, server_side = trio.testing.memory_stream_pair()
    nursery.start_soon(serve_connection, server_side, app, ServerLimits())
    http = RawClient(client)
    await http.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    response = await http.read_response()

or a whole `Server` with `MemoryListener` in place of TCP listeners.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import h11
import trio
import trio.testing

__all__ = ["MemoryListener", "RawClient", "ReceivedResponse"]


@dataclass(frozen=True)
class ReceivedResponse:
    """One response as the client saw it (names lower-case, values latin-1)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        return ",".join(values) if values else None


class RawClient:
    """Sends raw request bytes; parses the responses with an h11 client.

    Requests are written as the test spells them (pipelined, malformed, one
    byte at a time...). `read_response` only needs to know the method of the
    request being answered (HEAD responses carry no body).
    """

    def __init__(self, stream: trio.abc.Stream, receive_bytes: int = 64 * 1024) -> None:
        self.stream = stream
        self._receive_bytes = receive_bytes
        self._conn = h11.Connection(h11.CLIENT)

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_bytewise(self, data: bytes) -> None:
        """Send one byte at a time, letting every task run between bytes."""
        for i in range(len(data)):
            await self.stream.send_all(data[i : i + 1])
            await trio.testing.wait_all_tasks_blocked()

    async def read_response(self, method: str = "GET") -> ReceivedResponse:
        """The next response; a ``100 Continue`` is returned as a response of its own.

        Raises:
          EOFError: the server closed before a complete response.
        """
        conn = self._conn
        if conn.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            conn.start_next_cycle()
        if conn.our_state is h11.IDLE:
            # Tell our h11 what it is reading the answer to; the bytes are not sent.
            conn.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
            conn.send(h11.EndOfMessage())
        head: h11.Response | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise EOFError(f"incomplete response: {exc}") from exc
            if event is h11.NEED_DATA:
                conn.receive_data(await self._receive())
                continue
            if isinstance(event, h11.InformationalResponse):
                return ReceivedResponse(event.status_code, _headers(event.headers), b"")
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return ReceivedResponse(head.status_code, _headers(head.headers), bytes(body))
            else:
                raise EOFError(f"no response: {event!r}")

    async def read_to_eof(self) -> bytes:
        """Whatever the server still sends (after the parsed responses) until it closes."""
        data, closed = self._conn.trailing_data
        rest = bytearray(data)
        while not closed:
            chunk = await self._receive()
            if not chunk:
                break
            rest += chunk
        return bytes(rest)

    async def _receive(self) -> bytes:
        try:
            data = await self.stream.receive_some(self._receive_bytes)
        except trio.BrokenResourceError:
            return b""
        return bytes(data)


def _headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in headers)


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose clients are in-memory stream pairs (for `Server` tests)."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](math.inf)
        self.accepted = 0
        self.closed = False

    def connect(self, peer: str | None = None) -> trio.abc.Stream:
        """A new client (from address `peer`, if given): returns its end; the
        server end waits to be accepted."""
        client, server = trio.testing.memory_stream_pair()
        if peer is not None:
            server.peer_host = peer  # type: ignore[attr-defined]  # read by Server
        self._send.send_nowait(server)
        return client

    async def accept(self) -> trio.abc.Stream:
        try:
            stream = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio.ClosedResourceError("listener closed") from None
        self.accepted += 1
        return stream

    async def aclose(self) -> None:
        self.closed = True
        self._receive.close()
        await trio.lowlevel.checkpoint()
