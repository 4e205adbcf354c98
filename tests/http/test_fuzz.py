"""Whatever a client sends, the connection loop answers each request with one
complete, well-formed response and closes only where HTTP lets it (hypothesis).

The expected answers come from a reference reading of the same bytes
(`expected_answers`): a second h11 server connection fed all of them at
once, with FakeApp's routes and the loop's rules (refusal codes, keep-alive,
draining) applied by hand. The server's real answer, read until it closes,
is parsed strictly (`parse_answers`) and must match it response by response.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from http import HTTPStatus

import h11
import trio
import trio.testing
from hypothesis import example, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from hamster.http.connection import ServerLimits, serve_connection
from hamster.s3.errors import S3Error

from .fakeapp import FakeApp

LIMITS = ServerLimits(
    max_header_bytes=2048,
    header_timeout_s=10.0,
    idle_timeout_s=20.0,
    transfer_window_s=30.0,
    drain_limit_bytes=100,
    linger_timeout_s=1.0,
)

# Content-Length and chunked together: refused, the rest unread.
PUT_BOTH = (
    b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
)

# Every request head built from these is under 1 KiB, or over 3 KiB when it
# holds the X-Long line, so the server's measure of a head and the raw
# length used below agree on which side of max_header_bytes it falls.
REQUEST_PIECES = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PUT /echo?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        b"3\r\nabc\r\n0\r\n\r\n",
        b"PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nExpect: 100-continue\r\n\r\n",
        b"PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n",
        b"PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n",
        b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        PUT_BOTH,
        b"X-Long: " + b"a" * 3000 + b"\r\n",
        b"\r\n",
        b"GET / HTTP/1.1\r\n",
    ]
)
# Mostly request pieces, so that streams get past their first request.
PIECES = st.one_of(REQUEST_PIECES, REQUEST_PIECES, REQUEST_PIECES, st.binary(max_size=40))

PUT_HELLO = b"PUT /echo?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"

# The end of a request head as h11 finds it (it accepts bare LF line ends).
_HEAD_END = re.compile(rb"\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) ([^\r\n]*)")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+): ([^\r\n]*)")


@dataclass(frozen=True)
class Expected:
    """One response the server must send.

    `codes`: for an S3 error, the codes it may carry (x-error, the XML Code and
    the status all agree on one of them); more than one only where the answer
    depends on how the bytes were split in transit. Otherwise `status` and
    `body` exactly. `close`: it says ``Connection: close``. `head`: it
    answers a HEAD (no body follows, whatever Content-Length says).
    """

    status: int = 0
    body: bytes = b""
    codes: frozenset[str] = frozenset()
    close: bool = False
    head: bool = False


def _error(*codes: str, close: bool = True) -> Expected:
    return Expected(codes=frozenset(codes), close=close)


def _refusal_code(exc: h11.RemoteProtocolError) -> str:
    return {431: "RequestHeaderSectionTooLarge"}.get(exc.error_status_hint, "InvalidRequest")


class _Reference:
    """The bytes the client sent, read once through a fresh h11 connection."""

    def __init__(self, sent: bytes, client_closed: bool) -> None:
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 30)
        self.conn.receive_data(sent)
        self.client_closed = client_closed
        self.eof_seen = False

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        """The next event; when h11 needs more and the client closed, the close."""
        event = self.conn.next_event()
        if event is h11.NEED_DATA and self.client_closed and not self.eof_seen:
            self.eof_seen = True
            self.conn.receive_data(b"")
            event = self.conn.next_event()
        return event

    def read_body(self) -> tuple[bytes, str | None]:
        """The request body, and the code `RequestBody.read` raises, if any."""
        data = bytearray()
        while True:
            try:
                event = self.next_event()
            except h11.RemoteProtocolError:
                return bytes(data), "IncompleteBody" if self.eof_seen else "InvalidRequest"
            if isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                return bytes(data), None
            elif event is h11.NEED_DATA:
                return bytes(data), "RequestTimeout"  # the client stalls mid-body
            else:
                return bytes(data), "IncompleteBody"

    def answer(self) -> bool:
        """Answer the request in the reference too; True if h11 keeps the connection."""
        self.conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
        self.conn.send(h11.EndOfMessage())
        return self.conn.our_state is h11.DONE


def _app_answer(request: h11.Request) -> Expected:
    """FakeApp's answer to a request whose body it does not read."""
    method, target = bytes(request.method), bytes(request.target)
    path, _, query = target.partition(b"?")
    if path == b"/ignore":
        return Expected(200, b"ignored")
    if path == b"/refuse":
        return Expected(403, b"refused")
    if path == b"/head":
        return Expected(200, b"hello")
    if path == b"/stream":
        return Expected(200, b"chunk" * int(query.partition(b"=")[2] or b"0"))
    if path == b"/boom":
        return _error("InternalError", close=False)
    return Expected(200, b"ok " + method + b" " + target)


def _content_length(request: h11.Request) -> int | None:
    length: int | None = 0
    for name, value in request.headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


def expected_answers(sent: bytes, client_closed: bool) -> list[Expected]:
    """What `serve_connection` with FakeApp and LIMITS answers to `sent`."""
    ref = _Reference(sent, client_closed)
    conn = ref.conn
    answers: list[Expected] = []
    while True:
        # ---- the head: refused, answered, or a silent close when idle
        pending = conn.trailing_data[0]
        end = _HEAD_END.search(pending)
        head_bytes = len(pending) if end is None else end.end()
        oversized = head_bytes > LIMITS.max_header_bytes
        try:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if oversized:
                    return [*answers, _error("RequestHeaderSectionTooLarge")]
                if not pending:
                    return answers  # idle: the client closed, or the idle timeout
                if not client_closed:
                    return [*answers, _error("RequestTimeout")]
                event = ref.next_event()  # raises: the client closed mid-head
        except h11.RemoteProtocolError as exc:
            # h11 reads a head only once it is complete; a long one may be
            # refused as too large while it still arrives, or as malformed.
            codes = {_refusal_code(exc)}
            if oversized:
                codes.add("RequestHeaderSectionTooLarge")
            return [*answers, _error(*codes)]
        if not isinstance(event, h11.Request):
            return answers  # ConnectionClosed: the client closed between requests
        if oversized:
            return [*answers, _error("RequestHeaderSectionTooLarge")]
        names = {name for name, _ in event.headers}
        if {b"content-length", b"transfer-encoding"} <= names:
            return [*answers, _error("InvalidRequest")]  # ambiguous framing: refused

        # ---- the app's answer
        request = event
        waiting = conn.they_are_waiting_for_100_continue
        length = _content_length(request)
        if bytes(request.target).partition(b"?")[0] == b"/echo":
            if waiting:
                answers.append(Expected(100))
            data, code = ref.read_body()
            if code is not None:
                return [*answers, _error(code)]
            answer = Expected(200, data)
            close = False
        else:
            answer = _app_answer(request)
            # The body was not read: a client holding it back for a 100
            # Continue, or one too big to drain, gets Connection: close.
            close = conn.their_state is h11.SEND_BODY and length != 0
            close = close and (
                waiting or (length is not None and length > LIMITS.drain_limit_bytes)
            )
        if request.method == b"HEAD":
            answer = replace(answer, body=b"", head=True)
        keep_alive = ref.answer()
        answers.append(replace(answer, close=close or not keep_alive))
        if close or not keep_alive:
            return answers

        # ---- drain what the app did not read, then the next request
        budget_bytes = LIMITS.drain_limit_bytes
        while conn.their_state is h11.SEND_BODY:
            data, code = ref.read_body()
            budget_bytes -= len(data)
            if code is not None or budget_bytes < 0:
                return answers  # closed after the response, which said keep-alive
        conn.start_next_cycle()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]  # names lower-case
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, (name, self.headers)
        return values[0] if values else None

    @property
    def close(self) -> bool:
        tokens = (self.header(b"connection") or b"").lower().split(b",")
        return b"close" in (token.strip() for token in tokens)


def parse_answers(data: bytes, expected: list[Expected]) -> list[Answer]:
    """Every response in `data`, strictly: status line with its standard reason,
    header lines, a body framed by Content-Length or chunked (none for 1xx,
    204, 304 and answers to HEAD), and nothing after the last one."""
    answers: list[Answer] = []
    offset = 0
    while offset < len(data):
        end = data.find(b"\r\n\r\n", offset)
        assert end >= 0, f"an incomplete response head: {data[offset:]!r}"
        status_line, *lines = data[offset:end].split(b"\r\n")
        offset = end + 4
        match = _STATUS_LINE.fullmatch(status_line)
        assert match is not None, status_line
        status = int(match[1])
        assert match[2] == HTTPStatus(status).phrase.encode(), status_line
        headers: list[tuple[bytes, bytes]] = []
        for line in lines:
            header = _HEADER_LINE.fullmatch(line)
            assert header is not None, line
            headers.append((header[1].lower(), header[2]))
        answer = Answer(status, tuple(headers), b"")
        index = len(answers)
        head = index < len(expected) and expected[index].head
        length = answer.header(b"content-length")
        if status < 200 or status in (204, 304) or head:
            body = b""
        elif length is not None:
            assert answer.header(b"transfer-encoding") is None, headers
            assert re.fullmatch(rb"[0-9]+", length), length
            body = data[offset : offset + int(length)]
            assert len(body) == int(length), f"a truncated body: {body!r}"
            offset += len(body)
        else:
            assert answer.header(b"transfer-encoding") == b"chunked", headers
            body, offset = _dechunk(data, offset)
        answers.append(Answer(status, answer.headers, body))
    return answers


def _dechunk(data: bytes, offset: int) -> tuple[bytes, int]:
    body = bytearray()
    while True:
        end = data.index(b"\r\n", offset)
        size = int(data[offset:end], 16)
        chunk = data[end + 2 : end + 2 + size]
        assert len(chunk) == size and data[end + 2 + size : end + 4 + size] == b"\r\n"
        offset = end + 4 + size
        if size == 0:
            return bytes(body), offset
        body += chunk


def check(answer: Answer, expected: Expected) -> None:
    if expected.codes:
        code = answer.header(b"x-error")
        assert code is not None and code.decode() in expected.codes, (answer, expected)
        if expected.head:
            assert answer.body == b"", answer
        else:
            root = ET.fromstring(answer.body)
            assert (root.tag, root.findtext("Code")) == ("Error", code.decode()), answer.body
        assert answer.status == S3Error(code.decode()).status, answer
    else:
        assert (answer.status, answer.body) == (expected.status, expected.body), answer
        assert answer.header(b"x-error") is None, answer
    assert answer.close == expected.close, (answer, expected)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=8), close_early=st.booleans())
@example(pieces=[], close_early=False)  # silence, after the idle timeout
@example(pieces=[b"GET / HTTP/1.1\r\n"], close_early=False)  # the header timeout
@example(pieces=[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00"], close_early=True)
@example(pieces=[PUT_HELLO, PUT_HELLO], close_early=False)  # keep-alive
@example(pieces=[PUT_HELLO[:-1]], close_early=True)  # the client leaves mid-body
@example(pieces=[PUT_HELLO[:-1]], close_early=False)  # the body stalls
@example(pieces=[PUT_BOTH, b"3\r\nabc\r\n0\r\n\r\n", PUT_HELLO], close_early=False)  # smuggling
def test_any_byte_stream_gets_complete_answers_then_a_close(
    pieces: list[bytes], close_early: bool
) -> None:
    async def main() -> tuple[bytes, bytes, bool]:
        client, server = trio.testing.memory_stream_pair()
        sent = bytearray()
        closed = False
        received = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_connection, server, FakeApp(), LIMITS)
            try:
                for piece in pieces:
                    await client.send_all(piece)
                    sent += piece
                if close_early:
                    await client.send_eof()
                    closed = True
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the server closed first: it must have said so (checked below)
            # Read until the server closes (its timeouts guarantee it will).
            while chunk := await client.receive_some(65536):
                received += chunk
            await client.aclose()
        return bytes(sent), bytes(received), closed

    sent, received, closed = trio.run(main, clock=MockClock(autojump_threshold=0))
    expected = expected_answers(sent, closed)
    answers = parse_answers(received, expected)
    assert len(answers) == len(expected), (answers, expected)
    for answer, wanted in zip(answers, expected, strict=True):
        check(answer, wanted)
