"""The connection loop: the only code that reads or writes a client's bytes.

One trio task runs `serve_connection` per connection. It owns the stream and
one `h11.Connection`, turns h11 events into an `HttpRequest` plus a
`RequestBody`, asks the `App` for a `Response` and writes it, then either
starts the next request/response cycle (keep-alive) or closes.

Error policy (after h11's ``examples/trio-server.py``):

- The peer broke the protocol (malformed head, header block over
  ``max_header_bytes``, head not complete in time, a body
  framing in doubt: Content-Length beside Transfer-Encoding, or a
  Transfer-Encoding other than ``chunked``): answer
  ``app.error_response(...)`` with ``Connection: close`` if a response can still
  be sent, then close. Only this connection is affected.
- Idle between requests past ``idle_timeout_s``, a new connection that sends
  nothing within ``header_timeout_s``, or the server shuts down while we are
  idle: close silently.
- The body arrives slower than the transfer-rate floor (`hamster.http.rate`:
  ``min_transfer_bytes_per_s`` on average, ``transfer_window_s`` of grace) or
  the client disconnects mid-body: `RequestBody.read` raises S3Error
  (``RequestTimeout`` / ``IncompleteBody``); the app answers, and the
  connection closes after that response.
- The client goes away while we write, or reads our response slower than the
  same floor: abandon the response quietly (debug log) and close.
- An exception escapes the app (a bug): log it with its traceback and answer
  ``InternalError`` if no byte of the response went out yet, else abort.
- After a response, an unread request body is drained (at most
  ``drain_limit_bytes``) to keep the connection; a client still waiting for a
  ``100 Continue`` we never sent is told ``Connection: close`` instead, so it
  never sends the body.

Deadlines are per request, not per read: a new connection has
``header_timeout_s`` from its start until its first request head is complete;
a keep-alive connection has ``idle_timeout_s`` for the first byte of its next
request, then ``header_timeout_s`` for the rest of its head; a body and a
response are held to the rate floor over their whole length.

Nothing here reads the wall clock: every timeout is a trio deadline, so tests
drive them with ``trio.testing.MockClock``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

import h11
import trio

from hamster.http.admission import Slot
from hamster.http.messages import App, FileBody, HttpRequest, Response
from hamster.http.rate import RateFloor, TransferMeter
from hamster.s3.errors import S3Error

logger = logging.getLogger("hamster.http")

__all__ = ["ServerLimits", "ShutdownSignal", "refuse_connection", "serve_connection"]

# Outgoing pieces smaller than this are joined into one send_all; larger ones
# (response body chunks) are sent as they are, without a copy.
_COALESCE_BYTES: Final = 64 * 1024
# The response headers h11 is shown (it frames the body and decides keep-alive
# by them, and may add or rewrite them); the others are written next to its
# output, checked as h11 checks header fields (h11._abnf: a token name, a value
# of visible characters and obs-text with inner spaces or tabs, no NUL).
_FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection"})
_FIELD_VCHAR: Final = r"[^\x00\t\n\x0b\x0c\r ]"
_HEADER_LINES: Final = re.compile(
    rf"(?:[-!#$%&'*+.^_`|~0-9a-zA-Z]+: (?:{_FIELD_VCHAR}+(?:[ \t]+{_FIELD_VCHAR}+)*)?\r\n)*"
)
# The most bytes one `FileBody.send_to` (one hop, os.sendfile until the socket
# is full) is asked to send.
_SENDFILE_BYTES: Final = 8 << 20
# How long cleanup (the response's on_close, closing its iterator) may take
# even when the connection is being cancelled.
_CLEANUP_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True)
class ServerLimits:
    """Every bound the HTTP edge enforces.

    Attributes:
      max_header_bytes: the largest request head (request line + headers).
      header_timeout_s: the time a request head (request line + headers) may
        take: for a new connection from its start (a TLS handshake included),
        for a keep-alive one from the first byte of the request.
      idle_timeout_s: keep-alive idle time between requests (then close silently).
      min_transfer_bytes_per_s: the floor on the average rate a request body
        arrives at and a response is read at (0: no floor, only stalls of
        ``transfer_window_s`` are bounded); also bounds a drain.
      transfer_window_s: the grace at the start of a body or response, and the
        longest a client may stall in one (`hamster.http.rate`).
      max_connections: concurrent connections; at the cap a new one is admitted
        by shedding the connection waiting longest for a request, or refused
        with 503 SlowDown (`hamster.http.admission`).
      max_connections_per_client: the same cap per client address; None for a
        quarter of ``max_connections`` (`client_cap`).
      drain_limit_bytes: unread request body we drain after a response to keep
        the connection alive; beyond that, close.
      shutdown_grace_s: how long in-flight requests may run after `shutdown`.
      receive_bytes: the size of one ``receive_some``.
      linger_timeout_s: after we close our side, how long we read and discard
        until the client closes too (so our last response is not lost to a reset).
    """

    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 75.0
    min_transfer_bytes_per_s: float = 4 * 1024
    transfer_window_s: float = 20.0
    max_connections: int = 1024
    max_connections_per_client: int | None = None
    drain_limit_bytes: int = 1 << 20
    shutdown_grace_s: float = 30.0
    receive_bytes: int = 256 * 1024
    linger_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        assert self.max_header_bytes > 0
        assert self.max_connections > 0
        assert self.max_connections_per_client is None or self.max_connections_per_client > 0
        assert self.receive_bytes > 0
        assert self.drain_limit_bytes >= 0
        assert self.transfer_window_s > 0
        for name in (
            "header_timeout_s",
            "idle_timeout_s",
            "min_transfer_bytes_per_s",
            "shutdown_grace_s",
            "linger_timeout_s",
        ):
            assert getattr(self, name) >= 0, name

    @property
    def client_cap(self) -> int:
        """The connections one client address may hold at once."""
        if self.max_connections_per_client is None:
            return max(1, self.max_connections // 4)
        return min(self.max_connections, self.max_connections_per_client)

    @property
    def transfer_floor(self) -> RateFloor:
        return RateFloor(self.min_transfer_bytes_per_s, self.transfer_window_s)


class ShutdownSignal:
    """Set once when the server begins a graceful shutdown.

    Connections idle between requests close at once (their wait for the next
    request is cancelled); connections with a request in flight finish it with
    ``Connection: close``.
    """

    def __init__(self) -> None:
        self._is_set = False
        self._idle_scopes: set[trio.CancelScope] = set()

    @property
    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        """Begin shutdown (idempotent; synchronous, so callable from any trio task)."""
        self._is_set = True
        for scope in list(self._idle_scopes):
            scope.cancel()

    @contextmanager
    def cancel_on_shutdown(self) -> Iterator[trio.CancelScope]:
        """A cancel scope that is cancelled when (or if already) shutdown is set."""
        with trio.CancelScope() as scope:
            self.watch(scope)
            try:
                yield scope
            finally:
                self.unwatch(scope)

    def watch(self, scope: trio.CancelScope) -> None:
        """Cancel `scope` when (or at once if already) shutdown is set, until `unwatch`."""
        if self._is_set:
            scope.cancel()
        self._idle_scopes.add(scope)

    def unwatch(self, scope: trio.CancelScope) -> None:
        self._idle_scopes.discard(scope)


async def serve_connection(
    stream: trio.abc.Stream,
    app: App,
    limits: ServerLimits,
    *,
    scheme: str = "http",
    shutdown: ShutdownSignal | None = None,
    slot: Slot | None = None,
) -> None:
    """Serve HTTP/1.x requests on `stream` until either side closes.

    Args:
      stream: a connected byte stream (a socket, a TLS stream, a memory stream).
      app: answers each request; see `hamster.http.messages.App`.
      limits: timeouts and size bounds.
      scheme: ``"http"`` or ``"https"``, copied into each `HttpRequest`.
      shutdown: when set, idle connections close and in-flight responses get
        ``Connection: close``.
      slot: the connection's place under the server's caps: told whenever the
        connection waits for a request; shedding it closes the connection at
        once (only while it waits, never mid-request).

    Resource handling:
      Takes ownership of `stream` and always closes it before returning.

    Error handling:
      Never raises for anything a client or the app does; a bug in this loop
      is logged and the connection closed. Cancellation propagates.
    """
    connection = _Connection(stream, app, limits, scheme, shutdown or ShutdownSignal(), slot)
    await connection.run()


async def refuse_connection(
    stream: trio.abc.Stream, app: App, limits: ServerLimits, error: S3Error
) -> None:
    """Answer `error` on a connection we will not serve (before reading a
    request), then close: the client sees a response, not a reset.

    Resource handling:
      Takes ownership of `stream` and always closes it, within
      ``limits.linger_timeout_s`` plus one send of the response.
    """
    connection = _Connection(stream, app, limits, "http", ShutdownSignal(), None)
    await connection.refuse_and_close(error)


class _PeerGone(Exception):
    """The client stopped reading (closed, reset, or a write stalled)."""


class _UnsentResponse(Exception):
    """Building or starting a response failed before any byte of it was sent."""


class _Body:
    """The `RequestBody` of one request: reads h11 Data events on demand."""

    def __init__(self, connection: _Connection, content_length: int | None) -> None:
        self._connection = connection
        self._content_length = content_length
        self._received_bytes = 0
        self._pending = memoryview(b"")
        self._pending_bytes = b""  # the object `_pending` views, returned whole when possible
        self._ended = False
        self._started = False
        self._detached = False

    @property
    def content_length(self) -> int | None:
        return self._content_length

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def remaining_bytes(self) -> int | None:
        """Bytes the client has yet to send, when Content-Length tells."""
        if self._content_length is None:
            return None
        return self._content_length - self._received_bytes

    def detach(self) -> None:
        """The app has answered: later reads are a bug."""
        self._detached = True

    async def read(self, max_bytes: int) -> bytes:
        assert max_bytes > 0, max_bytes
        if self._detached:
            raise RuntimeError("request body read after the response was returned")
        if self._pending:
            return self._take(max_bytes)
        if self._ended:
            return b""
        if not self._started:
            self._started = True
            await self._connection.send_continue_if_awaited()
        while True:
            event = await self._connection.next_body_event()
            if isinstance(event, h11.EndOfMessage):
                self._ended = True
                return b""
            if not event.data:
                continue
            data = bytes(event.data)
            self._received_bytes += len(data)
            if len(data) <= max_bytes:
                return data
            self._pending_bytes = data
            self._pending = memoryview(data)
            return self._take(max_bytes)

    def _take(self, max_bytes: int) -> bytes:
        if len(self._pending) <= max_bytes and len(self._pending) == len(self._pending_bytes):
            out = self._pending_bytes
        else:
            out = bytes(self._pending[:max_bytes])
        self._pending = self._pending[len(out) :]
        if not self._pending:
            self._pending_bytes = b""
        return out


class _Connection:
    """One client connection: a trio stream plus an h11 state machine."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        app: App,
        limits: ServerLimits,
        scheme: str,
        shutdown: ShutdownSignal,
        slot: Slot | None,
    ) -> None:
        self._stream = stream
        self._slot = slot if slot is not None else Slot()
        self._shed = False  # shed to make room: close at once, no linger
        self._app = app
        self._limits = limits
        self._scheme = scheme
        self._shutdown = shutdown
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        self._peer_eof = False
        self._started_at = trio.current_time()
        self._first_request = True
        self._floor = limits.transfer_floor
        self._body_meter = TransferMeter(self._floor)
        self._send_meter = TransferMeter(self._floor)
        # Set when the request body can no longer be trusted or drained
        # (it timed out or broke): close after the current response.
        self._must_close = False

    # ---- the loop -------------------------------------------------------

    async def run(self) -> None:
        try:
            while await self._cycle():
                pass
        except Exception:
            logger.exception("connection loop failed; closing the connection")
        finally:
            await self._close()

    async def refuse_and_close(self, error: S3Error) -> None:
        try:
            await self._refuse(error)
        finally:
            await self._close(linger=True)

    async def _cycle(self) -> bool:
        """Serve one request; True if the connection may carry another."""
        try:
            event = await self._receive_head()
        except h11.RemoteProtocolError as exc:
            logger.debug("malformed request head: %s", exc)
            await self._refuse(_head_error(exc))
            return False
        except _HeadTimeout:
            logger.debug("request head not complete within %ss", self._limits.header_timeout_s)
            await self._refuse(S3Error("RequestTimeout"))
            return False
        if not isinstance(event, h11.Request):
            return False  # idle timeout, shutdown while idle, or the client closed
        if _head_bytes(event) > self._limits.max_header_bytes:
            # h11 bounds only a head still incomplete; one that arrived whole
            # in a single read is measured here, so the bound does not depend
            # on how the bytes were split.
            logger.debug("request head over %d bytes", self._limits.max_header_bytes)
            await self._refuse(S3Error("RequestHeaderSectionTooLarge"))
            return False
        framing_error = _framing_error(event)
        if framing_error is not None:
            # The body's end is in doubt, so is where the next request starts:
            # refuse and close without reading on (RFC 9112 section 6.3).
            logger.debug("ambiguous request framing: %s", framing_error.text)
            await self._refuse(framing_error)
            return False
        self._first_request = False
        request = _to_http_request(event, self._scheme)
        self._body_meter = TransferMeter(self._floor)
        body = _Body(self, _content_length(event))
        try:
            response = await self._app.handle(request, body)
        except Exception:
            logger.exception("unhandled error answering %s %r", request.method, request.target)
            response = self._app.error_response(S3Error("InternalError"), request)
        finally:
            body.detach()
        if not await self._respond(request, body, response):
            return False
        return await self._finish_cycle(body)

    async def _respond(self, request: HttpRequest, body: _Body, response: Response) -> bool:
        """Write the app's response; True if it went out whole."""
        close = self._must_close or self._shutdown.is_set
        remaining = body.remaining_bytes
        if self._conn.their_state is h11.SEND_BODY and remaining != 0:
            if self._conn.they_are_waiting_for_100_continue:
                close = True  # they hold the body back for us: never ask for it
            elif remaining is not None and remaining > self._limits.drain_limit_bytes:
                close = True
        try:
            return await self._send_response(request.method, response, close=close)
        except _UnsentResponse:
            logger.exception("response to %s %r failed", request.method, request.target)
        if self._conn.our_state is not h11.SEND_RESPONSE:
            return False
        fallback = self._app.error_response(S3Error("InternalError"), request)
        try:
            await self._send_response(request.method, fallback, close=True)
        except _UnsentResponse:
            logger.exception("error response failed too")
        return False

    async def _finish_cycle(self, body: _Body) -> bool:
        """After a response: drain what is left of the request, then reset h11."""
        conn = self._conn
        if self._must_close or self._shutdown.is_set or conn.our_state is not h11.DONE:
            return False
        if conn.their_state is h11.SEND_BODY and not await self._drain():
            return False
        if conn.states != {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            return False
        conn.start_next_cycle()
        return True

    # ---- receiving ------------------------------------------------------

    async def _receive(self) -> int:
        """One receive_some into h11 (its size); a reset counts as end of stream."""
        try:
            data = await self._stream.receive_some(self._limits.receive_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            logger.debug("receive failed: %r", exc)
            data = b""
        if self._peer_eof:
            return 0  # bytes after a reset: h11 has already seen the end
        if not data:
            self._peer_eof = True
        # SocketStream gives bytes; only memory streams give a bytearray.
        self._conn.receive_data(data if isinstance(data, bytes) else bytes(data))
        return len(data)

    async def _receive_head(self) -> h11.Event | None:
        """The next request head (or ConnectionClosed); None if we gave up idle.

        The first request's head must be complete `header_timeout_s` after the
        connection began; a later one's, `header_timeout_s` after its first
        byte, which may take `idle_timeout_s` to come.

        Raises:
          h11.RemoteProtocolError: malformed, or larger than max_header_bytes.
          _HeadTimeout: a partial head did not complete in time.
        """
        conn = self._conn
        limits = self._limits
        event = conn.next_event()
        head_deadline = math.inf
        if self._first_request:
            head_deadline = self._started_at + limits.header_timeout_s
        if event is h11.NEED_DATA and not conn.trailing_data[0]:
            # Idle: nothing of the next request has arrived yet. One cancel
            # scope ends the wait: its deadline, shedding, or shutdown.
            idle_deadline = head_deadline
            if not self._first_request:
                idle_deadline = trio.current_time() + limits.idle_timeout_s
            scope = trio.CancelScope(deadline=idle_deadline)
            self._slot.watch(scope, head=False)
            self._shutdown.watch(scope)
            try:
                with scope:
                    await self._receive()
            finally:
                self._shutdown.unwatch(scope)
                self._slot.unwatch()
            if self._slot.shed_called:
                self._shed_now()
                return None
            if scope.cancelled_caught:
                return None  # idle too long, or shutdown while idle
            event = conn.next_event()
        if event is h11.NEED_DATA:
            if not self._first_request:
                head_deadline = trio.current_time() + limits.header_timeout_s
            scope = trio.CancelScope(deadline=head_deadline)
            self._slot.watch(scope, head=True)
            try:
                with scope:
                    while event is h11.NEED_DATA:
                        await self._receive()
                        event = conn.next_event()
            finally:
                self._slot.unwatch()
            if self._slot.shed_called:
                self._shed_now()
                return None
            if scope.cancelled_caught:
                raise _HeadTimeout
        assert isinstance(event, h11.Event), event
        return event

    def _shed_now(self) -> None:
        """Shed while waiting for a request (even if its bytes just came): the
        server has given our place away, so close without a word."""
        logger.debug("connection shed to make room for a new one")
        self._shed = True

    async def next_body_event(self) -> h11.Data | h11.EndOfMessage:
        """The next piece of the current request body.

        Raises:
          S3Error: IncompleteBody (client went away), RequestTimeout (slower
            than the transfer-rate floor), InvalidRequest (broken chunked framing).
        """
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._must_close = True
                if self._peer_eof:
                    raise S3Error("IncompleteBody") from exc
                raise S3Error("InvalidRequest", f"Malformed request body: {exc}") from exc
            if isinstance(event, (h11.Data, h11.EndOfMessage)):
                return event
            if event is not h11.NEED_DATA:
                self._must_close = True
                raise S3Error("IncompleteBody")
            meter = self._body_meter
            start = trio.current_time()
            received_bytes = 0
            with trio.move_on_after(meter.allowance_s()) as scope:
                received_bytes = await self._receive()
            meter.spent(trio.current_time() - start, received_bytes)
            if scope.cancelled_caught:
                logger.debug("request body slower than the transfer-rate floor")
                self._must_close = True
                raise S3Error("RequestTimeout")

    async def _drain(self) -> bool:
        """Read and discard the rest of the request body, within the drain limit
        and the transfer-rate floor (the body's own meter goes on)."""
        budget_bytes = self._limits.drain_limit_bytes
        try:
            while True:
                event = await self.next_body_event()
                if isinstance(event, h11.EndOfMessage):
                    return True
                budget_bytes -= len(event.data)
                if budget_bytes < 0:
                    logger.debug("unread request body over the drain limit; closing")
                    return False
        except S3Error as exc:
            logger.debug("drain failed: %r", exc)
            return False

    # ---- sending --------------------------------------------------------

    async def send_continue_if_awaited(self) -> None:
        """Send ``100 Continue`` if the client holds its body back waiting for it."""
        if not self._conn.they_are_waiting_for_100_continue:
            return
        try:
            # The reason phrase matters: botocore before 1.40.21 and the aws CLI v2's
            # copy of it only recognise "HTTP/1.1 100 Continue" (botocore #3455).
            continue_ = h11.InformationalResponse(status_code=100, headers=[], reason=_reason(100))
            self._send_meter = TransferMeter(self._floor)
            await self._send_events([continue_])
        except _PeerGone as exc:
            self._must_close = True
            raise S3Error("IncompleteBody") from exc

    async def _send_bytes(self, data: bytes) -> None:
        """Send `data`, held to the transfer-rate floor: in pieces of at most
        the floor's `piece_bytes`, each allowed the current response's credit
        plus the time its bytes earn (`TransferMeter.allowance_s`)."""
        meter = self._send_meter
        piece_bytes = self._floor.piece_bytes
        if piece_bytes is None or len(data) <= piece_bytes:
            pieces: list[bytes | memoryview] = [data]
        else:
            view = memoryview(data)
            pieces = [view[i : i + piece_bytes] for i in range(0, len(view), piece_bytes)]
        try:
            for piece in pieces:
                start = trio.current_time()
                with trio.move_on_after(meter.allowance_s(len(piece))) as scope:
                    await self._stream.send_all(piece)
                if scope.cancelled_caught:
                    raise _PeerGone("the client reads slower than the transfer-rate floor")
                meter.spent(trio.current_time() - start, len(piece))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _PeerGone(repr(exc)) from exc

    async def _send_events(self, events: list[h11.Event], head_fields: bytes = b"") -> None:
        """Serialize `events` and send them: small pieces joined, big ones as they are.

        `head_fields` (header lines h11 does not need to see, already checked by
        `_response_head`) go into the head of the `h11.Response` among `events`,
        after the framing headers h11 wrote.
        """
        small: list[bytes] = []
        small_bytes = 0
        for event in events:
            parts = self._conn.send_with_data_passthrough(event) or []
            if head_fields and type(event) is h11.Response:
                # h11 ends a head with one separate b"\r\n" (h11._writers.write_headers).
                assert parts[-1] == b"\r\n", parts
                parts = [*parts[:-1], head_fields, parts[-1]]
            for part in parts:
                if len(part) < _COALESCE_BYTES:
                    small.append(part)
                    small_bytes += len(part)
                    if small_bytes < _COALESCE_BYTES:
                        continue
                if small:
                    joined = b"".join(small)
                    small.clear()
                    small_bytes = 0
                    await self._send_bytes(joined)
                if len(part) >= _COALESCE_BYTES:
                    await self._send_bytes(part)
        if small:
            await self._send_bytes(b"".join(small))

    async def _send_response(self, method: str, response: Response, *, close: bool) -> bool:
        """Write `response`, then run its cleanup.

        Returns True if it was written whole, False if the client went away or
        the body failed midway (the connection must then close).

        Raises:
          _UnsentResponse: the response could not be started (an app bug);
            nothing of it was sent.
        """
        body = response.body
        file_body: FileBody | None = None
        chunks: AsyncIterator[bytes] | None = None
        self._send_meter = TransferMeter(self._floor)
        no_body = method == "HEAD" or response.status in (204, 304) or response.status < 200
        if isinstance(body, FileBody):
            if self._sendfile_socket() is not None and not no_body:
                file_body = body
            else:
                chunks = body.chunks()
        elif not isinstance(body, bytes):
            chunks = body
        try:
            if file_body is not None:
                return await self._send_file_response(method, response, file_body, close=close)
            try:
                head, head_fields = self._response_head(
                    response, method, close=close, no_body=no_body
                )
                first = b""
                if chunks is not None and not no_body:
                    first = await _next_chunk(chunks)
            except Exception as exc:
                raise _UnsentResponse from exc
            events: list[h11.Event] = [head]
            if chunks is None or no_body:
                if not no_body and isinstance(response.body, bytes) and response.body:
                    events.append(h11.Data(data=response.body))
                events.append(h11.EndOfMessage())
                await self._send_events(events, head_fields)
                return True
            while first:
                events.append(h11.Data(data=first))
                await self._send_events(events, head_fields)
                events, head_fields = [], b""
                first = await _next_chunk(chunks)
            await self._send_events([*events, h11.EndOfMessage()], head_fields)
            return True
        except _PeerGone as exc:
            logger.debug("client went away while we wrote a response: %s", exc)
            return False
        except _UnsentResponse:
            raise
        except Exception:
            if self._conn.our_state is h11.SEND_RESPONSE:
                raise _UnsentResponse from None  # h11 refused the head: nothing sent
            logger.exception("response body failed after its head was sent; aborting")
            return False
        finally:
            await _cleanup(response, chunks)

    def _sendfile_socket(self) -> trio.socket.SocketType | None:
        """The socket a `FileBody` can be sent to with sendfile: the stream's
        own, when it is a plain socket (not TLS, not a memory stream)."""
        stream = self._stream
        if type(stream) is trio.SocketStream:
            return stream.socket
        return None

    async def _send_file_response(
        self, method: str, response: Response, body: FileBody, *, close: bool
    ) -> bool:
        """Write a `FileBody` response on a plain socket: the head and the
        body's first bytes in one write, the rest with `FileBody.send_to`
        (h11 is shown a placeholder of their length, as its docs describe
        for sendfile), then the end of the message."""
        try:
            head, head_fields = self._response_head(response, method, close=close, no_body=False)
        except Exception as exc:
            raise _UnsentResponse from exc
        events: list[h11.Event] = [head]
        if body.first:
            events.append(h11.Data(data=body.first))
        await self._send_events(events, head_fields)
        if body.rest_bytes:
            placeholder = _Placeholder(body.rest_bytes)
            data = h11.Data(data=placeholder)  # type: ignore[arg-type]
            parts: list[object] = list(self._conn.send_with_data_passthrough(data) or [])
            for part in parts:
                if part is placeholder:
                    await self._send_file(body)
                else:  # chunked framing's size line and end (Content-Length has none)
                    assert isinstance(part, bytes), part
                    await self._send_bytes(part)
        await self._send_events([h11.EndOfMessage()])
        return True

    async def _send_file(self, body: FileBody) -> None:
        """Send `body.rest_bytes` with `body.send_to`, held to the transfer-rate
        floor like `_send_bytes`: each wait for the socket to take more may
        last the response's credit plus the time a piece earns; only those
        waits count, not the hops that send."""
        sock = self._sendfile_socket()
        assert sock is not None
        fd = sock.fileno()
        meter = self._send_meter
        piece_bytes = self._floor.piece_bytes or _SENDFILE_BYTES
        remaining = body.rest_bytes
        while remaining:
            start = trio.current_time()
            with trio.move_on_after(meter.allowance_s(min(remaining, piece_bytes))) as scope:
                await trio.lowlevel.wait_writable(sock)
            waited_s = trio.current_time() - start
            if scope.cancelled_caught:
                raise _PeerGone("the client reads slower than the transfer-rate floor")
            try:
                sent = await body.send_to(fd, min(remaining, _SENDFILE_BYTES))
            except BlockingIOError:
                sent = 0
            except (BrokenPipeError, ConnectionError) as exc:
                raise _PeerGone(repr(exc)) from exc
            assert 0 <= sent <= remaining, (sent, remaining)
            meter.spent(waited_s, sent)
            remaining -= sent

    def _response_head(
        self, response: Response, method: str, *, close: bool, no_body: bool
    ) -> tuple[h11.Response, bytes]:
        """The head of `response`: an `h11.Response` holding only the framing
        headers (Content-Length, Transfer-Encoding, Connection: what h11 decides
        the framing and keep-alive by, and may rewrite), and the other header
        lines, encoded once and checked as h11 would check them.

        Raises:
          h11.LocalProtocolError: a header name or value h11 would refuse
            (a control character, surrounding whitespace, a line break).
          UnicodeEncodeError: a name or value that is not a wire string.
        """
        framing: list[tuple[bytes, bytes]] = []
        others: list[tuple[str, str]] = []
        has_close = False
        body_is_bytes = isinstance(response.body, bytes) and not no_body
        for name, value in response.headers:
            lower = name.lower()
            if lower not in _FRAMING_HEADERS:
                others.append((name, value))
                continue
            if lower == "content-length" and body_is_bytes:
                continue  # ours below is the truth
            if lower == "connection" and "close" in value.lower():
                has_close = True
            framing.append((name.encode("latin-1"), value.encode("latin-1")))
        if body_is_bytes:
            assert isinstance(response.body, bytes)
            framing.append((b"Content-Length", str(len(response.body)).encode("ascii")))
        if close and not has_close:
            framing.append((b"Connection", b"close"))
        fields = header_lines(others)
        head = h11.Response(
            status_code=response.status, headers=framing, reason=_reason(response.status)
        )
        return head, fields

    async def _refuse(self, error: S3Error) -> None:
        """Answer a protocol-level refusal, if a response can still be sent."""
        if self._conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        try:
            response = self._app.error_response(error, None)
            await self._send_response("GET", response, close=True)
        except Exception:
            logger.exception("could not send a %s refusal", error.code)

    # ---- closing --------------------------------------------------------

    def _client_may_still_send(self) -> bool:
        """True when the client may be mid-request: closing outright could then
        make the kernel reset the connection before it reads our last response."""
        conn = self._conn
        if conn.their_state in (h11.SEND_BODY, h11.ERROR):
            return True
        unprocessed, _ = conn.trailing_data
        return bool(unprocessed)

    async def _close(self, *, linger: bool = False) -> None:
        """Close; if the client may still be sending (or `linger`), first shut our
        side and give it a moment to read our response and close (lingering
        close). A shed connection closes at once."""
        stream = self._stream
        try:
            if (
                not self._peer_eof
                and not self._shed
                and (linger or self._client_may_still_send())
                and isinstance(stream, trio.abc.HalfCloseableStream)
            ):
                # Answered already: a lingering connection may be shed first.
                with (
                    self._slot.waiting(head=False, lingering=True),
                    trio.move_on_after(self._limits.linger_timeout_s),
                ):
                    await stream.send_eof()
                    while await stream.receive_some(self._limits.receive_bytes):
                        pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


class _Placeholder:
    """What h11 is shown for body bytes sent around it (sendfile): their length."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length


class _HeadTimeout(Exception):
    """A request head started but did not complete in time."""


def _head_error(exc: h11.RemoteProtocolError) -> S3Error:
    if exc.error_status_hint == 431:
        return S3Error("RequestHeaderSectionTooLarge")
    if exc.error_status_hint == 501:
        # h11's only 501: a Transfer-Encoding other than one "chunked" (RFC 9112
        # 6.1 suggests 501; the body's framing is unknown, so we say 400 and close).
        return S3Error("InvalidRequest", _UNSUPPORTED_TRANSFER_ENCODING)
    return S3Error("InvalidRequest")


_UNSUPPORTED_TRANSFER_ENCODING: Final = "Transfer-Encoding other than chunked is not supported."


def _framing_error(event: h11.Request) -> S3Error | None:
    """The refusal of a request whose body framing is ambiguous, if it is.

    h11 already refuses a Transfer-Encoding other than a single ``chunked``;
    it lets Transfer-Encoding override Content-Length, which RFC 9112
    section 6.3 calls a likely smuggling attempt. We refuse that too.
    """
    names = {name for name, _ in event.headers}
    if b"transfer-encoding" in names and b"content-length" in names:
        return S3Error(
            "InvalidRequest", "Content-Length and Transfer-Encoding must not be sent together."
        )
    return None


def _to_http_request(event: h11.Request, scheme: str) -> HttpRequest:
    return HttpRequest(
        method=event.method.decode("ascii"),
        target=bytes(event.target),
        headers=tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers
        ),
        http_version=event.http_version.decode("ascii"),
        scheme=scheme,
    )


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """``Name: value\\r\\n`` for each of `headers` (wire strings), in order.

    Checks each field as h11 checks the headers of an event it sends
    (``h11._abnf``): the name a token, the value visible characters, obs-text
    (bytes 80-FF) and the control bytes h11 lets through, with spaces or tabs
    only between them; never a NUL or a line break.

    Raises:
      h11.LocalProtocolError: a name or value h11 would refuse.
      UnicodeEncodeError: a character above U+00FF (not a wire string).
    """
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
    # One line per header: a line break inside a value would make two.
    if fields.count("\n") != len(headers) or _HEADER_LINES.fullmatch(fields) is None:
        raise h11.LocalProtocolError(f"illegal response header in {fields!r}")
    return fields.encode("latin-1")


def _head_bytes(event: h11.Request) -> int:
    """The size of a request head as sent, less any optional whitespace."""
    request_line_bytes = len(event.method) + len(event.target) + len(b"  HTTP/1.1\r\n")
    header_bytes = sum(len(name) + len(value) + 3 for name, value in event.headers.raw_items())
    return request_line_bytes + header_bytes + 2


def _content_length(event: h11.Request) -> int | None:
    """The body length h11 will frame: None for chunked, 0 when none is given."""
    length: int | None = 0
    for name, value in event.headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


_REASONS: Final = {int(status): status.phrase.encode("ascii") for status in HTTPStatus}


def _reason(status: int) -> bytes:
    """The standard reason phrase of `status` (``b"Continue"``, ``b"Not Found"``)."""
    return _REASONS.get(status, b"")


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    """The next non-empty chunk, or b"" at the end."""
    while True:
        chunk = await anext(chunks, None)
        if chunk is None:
            return b""
        if chunk:
            return chunk


async def _cleanup(response: Response, chunks: AsyncIterator[bytes] | None) -> None:
    """Close the body iterator and run on_close, even while being cancelled."""
    if chunks is None and response.on_close is None:
        return  # nothing to clean up: no shielded scope needed
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + _CLEANUP_TIMEOUT_S
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                logger.exception("closing a response body iterator failed")
        if response.on_close is not None:
            try:
                await response.on_close()
            except Exception:
                logger.exception("response on_close failed")
    if scope.cancelled_caught:
        logger.warning("response cleanup took over %ss; abandoned", _CLEANUP_TIMEOUT_S)
