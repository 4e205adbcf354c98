"""A tiny App for driving the connection loop: behaviour chosen by the path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import trio
import trio.testing

from hamster.http.connection import ServerLimits, ShutdownSignal, serve_connection
from hamster.http.messages import HttpRequest, RequestBody, Response
from hamster.http.testing import RawClient
from hamster.s3.errors import S3Error
from tests.patterns import pattern


@dataclass
class FakeApp:
    """Paths:

    /echo?n=K      read the body K bytes at a time, answer it (x-content-length: what
                   `content_length` said)
    /dawdle?n=K    like /echo, but wait 100 s (the app's own time: hashing, a slow
                   disk) before each read
    /pattern?n=K   stream K bytes of `tests.patterns.pattern(K, "fake")` in 64 KiB chunks
    /ignore        answer 200 without reading the body
    /refuse        answer 403 without reading the body
    /head          Content-Length 5 set by the app, body b"hello"
    /head-error    404 with an XML body whatever the method: for HEAD the loop
                   must send the head alone (what `error_response` gives HEAD,
                   as S3App does, is no body at all)
    /stream?n=K    stream K chunks of b"chunk"; /stream-forever never ends
    /boom          raise (a bug); /boom-stream: the iterator raises at once;
                   /boom-late: the iterator raises after one chunk
    /wait          signal `entered`, wait for `release`, then answer
    /header?NAME=VALUE  answer 200 with the response header NAME: VALUE (both
                   percent-decoded to latin-1 wire strings, unchecked; a VALUE
                   of NAME x-text-* decoded as UTF-8 instead)
    anything else  200 "ok <method> <target>"
    """

    requests: list[HttpRequest] = field(default_factory=list)
    body_errors: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    entered: trio.Event = field(default_factory=trio.Event)
    release: trio.Event = field(default_factory=trio.Event)

    async def handle(self, request: HttpRequest, body: RequestBody) -> Response:
        self.requests.append(request)
        path, _, query = request.target.partition(b"?")
        if path == b"/header":
            raw_name, _, value = query.partition(b"=")
            text = raw_name.startswith(b"x-text-")
            header = (
                unquote_to_bytes(raw_name).decode("latin-1"),
                unquote_to_bytes(value).decode("utf-8" if text else "latin-1"),
            )
            return Response(200, [header], b"header")
        n = int(query.partition(b"=")[2] or b"0")
        if path in (b"/echo", b"/dawdle"):
            try:
                data = await _read_all(body, n or 1 << 20, dawdle_s=100.0 * (path == b"/dawdle"))
            except S3Error as error:
                self.body_errors.append(error.code)
                return self.error_response(error, request)
            return Response(200, [("x-content-length", str(body.content_length))], data)
        if path == b"/ignore":
            return Response(200, [], b"ignored")
        if path == b"/refuse":
            return Response(403, [], b"refused")
        if path == b"/head":
            return Response(200, [("Content-Length", "5")], b"hello")
        if path == b"/head-error":
            return Response(
                404, [("x-error", "NoSuchKey")], b"<Error><Code>NoSuchKey</Code></Error>"
            )
        if path in (b"/stream", b"/stream-forever", b"/boom-stream", b"/boom-late"):
            name = path.decode()
            return Response(
                200,
                [("Content-Length", str(5 * n))] if path == b"/stream" else [],
                self._chunks(name, n),
                on_close=self._on_close(name),
            )
        if path == b"/pattern":
            return Response(
                200,
                [("Content-Length", str(n))],
                _pattern_chunks(n),
                on_close=self._on_close("/pattern"),
            )
        if path == b"/boom":
            raise RuntimeError("a bug in the handler")
        if path == b"/wait":
            self.entered.set()
            await self.release.wait()
        return Response(200, [], b"ok " + request.method.encode() + b" " + request.target)

    def error_response(self, error: S3Error, request: HttpRequest | None) -> Response:
        """Like S3App's: an XML body, none for HEAD (the status tells)."""
        headers = [("x-error", error.code), *(error.headers or {}).items()]
        if request is not None and request.method == "HEAD":
            return Response(error.status, headers)
        body = f"<Error><Code>{error.code}</Code></Error>".encode()
        return Response(error.status, headers, body)

    async def _chunks(self, name: str, n: int) -> AsyncIterator[bytes]:
        try:
            if name == "/boom-stream":
                raise RuntimeError("iterator bug")
            i = 0
            while name in ("/stream-forever", "/boom-late") or i < n:
                yield b"chunk"
                i += 1
                if name == "/boom-late":
                    raise RuntimeError("iterator bug after the head")
                await trio.lowlevel.checkpoint()
        finally:
            self.closed.append(f"iterator {name}")

    def _on_close(self, name: str) -> Callable[[], Awaitable[None]]:
        async def on_close() -> None:
            self.closed.append(f"on_close {name}")

        return on_close


async def _read_all(body: RequestBody, max_bytes: int, dawdle_s: float = 0.0) -> bytes:
    out = bytearray()
    while True:
        if dawdle_s:
            await trio.sleep(dawdle_s)  # the MockClock's time: nothing really waits
        chunk = await body.read(max_bytes)
        if not chunk:
            return bytes(out)
        assert len(chunk) <= max_bytes
        out += chunk


async def _pattern_chunks(size: int) -> AsyncIterator[bytes]:
    for start in range(0, size, 64 * 1024):
        yield pattern(min(64 * 1024, size - start), "fake", start)
        await trio.lowlevel.checkpoint()


@dataclass
class Served:
    client: RawClient
    done: trio.Event


@asynccontextmanager
async def serving(
    app: FakeApp,
    limits: ServerLimits | None = None,
    shutdown: ShutdownSignal | None = None,
) -> AsyncIterator[Served]:
    """Run serve_connection over a memory stream pair; yield the client side."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    done = trio.Event()

    async def run() -> None:
        try:
            await serve_connection(server_stream, app, limits or ServerLimits(), shutdown=shutdown)
        finally:
            done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        yield Served(RawClient(client_stream), done)
        await client_stream.aclose()
        await done.wait()
