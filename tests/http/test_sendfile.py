"""A `FileBody` response: on a plain socket its bytes after `first` go with
`send_to` (os.sendfile in the real store), held to the transfer-rate floor;
on any other stream (memory here, TLS in the daemon) they come from `chunks`.

The file body below sends from a real file with os.sendfile on the event
loop (the store's does it through its offload); bodies are position-dependent
bytes (`tests.patterns`), so a misplaced or lost byte shows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from hamster.http.connection import ServerLimits, serve_connection
from hamster.http.messages import FileBody, HttpRequest, RequestBody, Response
from hamster.http.testing import RawClient
from hamster.s3.errors import S3Error
from tests.patterns import assert_pattern, pattern

FIRST_BYTES = 1000
FLOOR_BYTES_PER_S = 1024.0
WINDOW_S = 5.0
LIMITS = ServerLimits(
    min_transfer_bytes_per_s=FLOOR_BYTES_PER_S, transfer_window_s=WINDOW_S, linger_timeout_s=1.0
)


class PatternFile(FileBody):
    """Bytes [0, size) of pattern "file", from a file on disk."""

    def __init__(self, path: Path, size: int, log: list[str]) -> None:
        super().__init__(pattern(min(FIRST_BYTES, size), "file"), max(0, size - FIRST_BYTES))
        self._fd = os.open(path, os.O_RDONLY)
        self._offset = len(self.first)
        self._size = size
        self.log = log
        self.sent_bytes = 0

    async def send_to(self, fd: int, max_bytes: int) -> int:
        await trio.lowlevel.checkpoint()
        sent = os.sendfile(fd, self._fd, self._offset, min(max_bytes, self._size - self._offset))
        self.log.append("send_to")
        self._offset += sent
        self.sent_bytes += sent
        return sent

    async def chunks(self) -> AsyncIterator[bytes]:
        self.log.append("chunks")
        yield self.first
        while self._offset < self._size:
            data = os.pread(self._fd, min(65536, self._size - self._offset), self._offset)
            self._offset += len(data)
            yield data
            await trio.lowlevel.checkpoint()

    def close(self) -> None:
        os.close(self._fd)


class FileApp:
    """GET /file?n=K answers K bytes of pattern "file" as a `FileBody`."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.log: list[str] = []
        self.bodies: list[PatternFile] = []

    async def handle(self, request: HttpRequest, body: RequestBody) -> Response:
        path, _, query = request.target.partition(b"?")
        if path != b"/file":
            return Response(200, [], b"ok")
        size = int(query.partition(b"=")[2])
        file = self.tmp_path / f"body-{size}"
        if not file.exists():
            file.write_bytes(pattern(size, "file"))
        file_body = PatternFile(file, size, self.log)
        self.bodies.append(file_body)

        async def on_close() -> None:
            file_body.close()
            self.log.append("on_close")

        return Response(200, [("Content-Length", str(size))], file_body, on_close=on_close)

    def error_response(self, error: S3Error, request: HttpRequest | None) -> Response:
        return Response(error.status, [], error.code.encode())


def get(target: str, method: str = "GET") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: example\r\n\r\n".encode()


@pytest.fixture
async def socket_pair() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """(server side, client side): a TCP connection over loopback."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = trio.socket.socket()
    await client.connect(listener.getsockname())
    server, _ = await listener.accept()
    listener.close()
    yield trio.SocketStream(server), trio.SocketStream(client)


async def serve(
    nursery: trio.Nursery, stream: trio.abc.Stream, app: FileApp, limits: ServerLimits = LIMITS
) -> trio.Event:
    done = trio.Event()

    async def run() -> None:
        try:
            await serve_connection(stream, app, limits)
        finally:
            done.set()

    nursery.start_soon(run)
    return done


async def test_a_file_body_on_a_socket_goes_with_send_to(
    tmp_path: Path, socket_pair: tuple[trio.SocketStream, trio.SocketStream]
) -> None:
    app = FileApp(tmp_path)
    server, client_stream = socket_pair
    size = 3 * 1024 * 1024 + 7
    async with trio.open_nursery() as nursery:
        done = await serve(nursery, server, app)
        client = RawClient(client_stream, receive_bytes=1 << 20)
        await client.send(get(f"/file?n={size}"))
        response = await client.read_response()
        assert response.status == 200
        assert response.header("content-length") == str(size)
        assert_pattern(response.body, "file", size=size)
        # Keep-alive: h11 counted the bytes it did not see; the next request is served.
        await client.send(get("/next"))
        assert (await client.read_response()).body == b"ok"
        assert app.log[0] == "send_to" and app.log[-1] == "on_close"
        assert "chunks" not in app.log
        assert app.bodies[0].sent_bytes == size - FIRST_BYTES
        # A body of only its first bytes needs no send_to.
        app.log.clear()
        await client.send(get(f"/file?n={FIRST_BYTES}"))
        assert_pattern((await client.read_response()).body, "file", size=FIRST_BYTES)
        await client_stream.aclose()
        await done.wait()
        assert app.log == ["on_close"]


async def test_a_file_body_on_another_stream_comes_from_its_chunks(tmp_path: Path) -> None:
    app = FileApp(tmp_path)
    client_stream, server = trio.testing.memory_stream_pair()
    size = 200 * 1024 + 5
    async with trio.open_nursery() as nursery:
        done = await serve(nursery, server, app)
        client = RawClient(client_stream)
        await client.send(get(f"/file?n={size}"))
        response = await client.read_response()
        assert_pattern(response.body, "file", size=size)
        await client_stream.aclose()
        await done.wait()
        assert app.log == ["chunks", "on_close"]


async def test_head_of_a_file_body_sends_no_body(
    tmp_path: Path, socket_pair: tuple[trio.SocketStream, trio.SocketStream]
) -> None:
    app = FileApp(tmp_path)
    server, client_stream = socket_pair
    async with trio.open_nursery() as nursery:
        done = await serve(nursery, server, app)
        client = RawClient(client_stream)
        await client.send(get("/file?n=50000", "HEAD"))
        response = await client.read_response("HEAD")
        assert (response.status, response.body) == (200, b"")
        assert response.header("content-length") == "50000"
        await client.send(get("/next"))
        assert (await client.read_response()).body == b"ok"
        assert app.log == ["on_close"]
        await client_stream.aclose()
        await done.wait()


async def test_a_client_that_stops_reading_a_file_body_is_let_go(
    tmp_path: Path,
    socket_pair: tuple[trio.SocketStream, trio.SocketStream],
    autojump_clock: MockClock,
) -> None:
    app = FileApp(tmp_path)
    server, client_stream = socket_pair
    async with trio.open_nursery() as nursery:
        done = await serve(nursery, server, app)
        await client_stream.send_all(get(f"/file?n={8 * 1024 * 1024}"))
        start = trio.current_time()
        await done.wait()  # we read nothing
        # A wait for room may take its credit plus what a piece earns; then
        # the connection lingers (the request's end was never read).
        limit_s = WINDOW_S + 16 * 1024 / FLOOR_BYTES_PER_S + LIMITS.linger_timeout_s
        assert trio.current_time() - start <= limit_s
        assert 0 < app.bodies[0].sent_bytes < 8 * 1024 * 1024 - FIRST_BYTES
        assert app.log[-1] == "on_close"
        await client_stream.aclose()


async def test_a_file_body_read_slowly_above_the_floor_arrives_whole(
    tmp_path: Path,
    socket_pair: tuple[trio.SocketStream, trio.SocketStream],
    autojump_clock: MockClock,
) -> None:
    app = FileApp(tmp_path)
    server, client_stream = socket_pair
    # More than the socket buffers hold, so that the server waits on the client.
    size = 8 * 1024 * 1024
    async with trio.open_nursery() as nursery:
        done = await serve(nursery, server, app)
        await client_stream.send_all(get(f"/file?n={size}"))
        received = bytearray()
        wanted = None
        while wanted is None or len(received) < wanted:  # 16 KiB/s
            chunk = await client_stream.receive_some(8192)
            assert chunk, "the server closed"
            received += chunk
            if wanted is None and b"\r\n\r\n" in received:
                wanted = received.index(b"\r\n\r\n") + 4 + size
            await trio.sleep(0.5)
        assert trio.current_time() >= 500  # a hundred windows
        _, _, body = bytes(received).partition(b"\r\n\r\n")
        assert_pattern(body, "file", size=size)
        assert not done.is_set()
        await client_stream.aclose()
        await done.wait()


async def test_a_client_gone_mid_file_body_ends_the_connection_quietly(
    tmp_path: Path,
    socket_pair: tuple[trio.SocketStream, trio.SocketStream],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FileApp(tmp_path)
    server, client_stream = socket_pair
    async with trio.open_nursery() as nursery:
        done = await serve(nursery, server, app)
        await client_stream.send_all(get(f"/file?n={16 * 1024 * 1024}"))
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) <= FIRST_BYTES:
            received += await client_stream.receive_some(65536)
        # Bytes beyond the first came with send_to; now go away mid-body.
        await client_stream.aclose()
        await done.wait()
    assert app.log[-1] == "on_close"
    assert 0 < app.bodies[0].sent_bytes < 16 * 1024 * 1024 - FIRST_BYTES
    assert [r for r in caplog.records if r.levelno >= 30] == []
