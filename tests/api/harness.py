"""The whole server in the test's own trio run: a `hamster.node.Node` on a
real filesystem and LevelDB in a temporary directory, served over a
`MemoryListener` (the same connection loop and h11 parsing as a socket, no
port), with SigV4-signed requests from botocore's signer.

Determinism: the runtime's wall clock follows trio's clock (a
`trio.testing.MockClock` under the `node` fixture of tests/api/conftest.py:
timeouts pass in no real time), ids come from a counter, and blocking work
runs inline (`InlineOffload`: a worker thread would let the autojumping
clock run on while it works).

    async def test_x(node: Harness, autojump_clock: MockClock) -> None:
        await node.create_bucket("bkt")
        response = await node.request("PUT", "/bkt/k", body=b"...")
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from xml.etree import ElementTree

import trio
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hamster.config import User, UserDirectory
from hamster.http.server import ServerLimits
from hamster.http.testing import MemoryListener, RawClient, ReceivedResponse
from hamster.node import Node, open_local_storage, open_node
from hamster.runtime import InlineOffload, Offload, Runtime
from hamster.storage.fs import FileSystem, RealFileSystem
from hamster.storage.parts import MIN_PART_BYTES
from hamster.storage.space import DEFAULT_MIN_FREE, MinFree
from hamster.storage.store import INLINE_MAX_BYTES
from tests.e2e.rawhttp import aws_chunked_request

ACCESS_KEY = "AKIAHARNESS000000001"
SECRET_KEY = "harness/secret+KEY/0123456789abcdefghij"
# A second user of the same node: what it may not touch of the first's.
OTHER_ACCESS_KEY = "AKIAHARNESS000000002"
OTHER_SECRET_KEY = "harness/other+KEY/0123456789abcdefghij"
REGION = "us-east-1"
HOST = "localhost"
# The wall-clock time at trio time 0 (a MockClock starts there).
EPOCH_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


class TrioWallClock:
    """The runtime's wall clock: EPOCH_NS plus trio's (virtual) time."""

    def now_ns(self) -> int:
        return EPOCH_NS + int(trio.current_time() * 1_000_000_000)


class HashedCounterEntropy:
    """Deterministic ids that still look random (spread over blobs/xx)."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def token_bytes(self, n: int) -> bytes:
        return hashlib.shake_256(b"%d" % next(self._counter)).digest(n)


def harness_runtime(offload: Offload | None = None) -> Runtime:
    return Runtime(
        clock=TrioWallClock(),
        entropy=HashedCounterEntropy(),
        offload=offload if offload is not None else InlineOffload(),
    )


def _signing_time(runtime: Runtime) -> AbstractContextManager[Any]:
    """Make botocore sign at the runtime's time (it reads the real clock)."""
    now = datetime.datetime.fromtimestamp(runtime.now_ns() / 1e9, tz=datetime.UTC)
    return mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None))


def _request_bytes(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def signed_request_bytes(
    runtime: Runtime,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    secret: str = SECRET_KEY,
    access_key: str = ACCESS_KEY,
) -> bytes:
    """The bytes of one request signed by botocore's S3SigV4Auth at the
    runtime's time (x-amz-content-sha256 the body's SHA-256). `path` and
    `query` go on the wire as given (already percent-encoded)."""
    target = path + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=f"http://{HOST}{target}", headers=dict(headers))
    request.data = body
    with _signing_time(runtime):
        S3SigV4Auth(Credentials(access_key, secret), "s3", REGION).add_auth(request)
    head = [("Host", HOST), *request.headers.items()]
    if body or method in ("PUT", "POST"):
        head.append(("Content-Length", str(len(body))))
    return _request_bytes(method, target, head, body)


def aws_chunked_request_bytes(
    runtime: Runtime,
    method: str,
    path: str,
    chunks: list[bytes],
    *,
    headers: dict[str, str] | None = None,
    trailers: list[tuple[str, str]] | None = None,
) -> bytes:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD request carrying `chunks`, signed
    at the runtime's time (tests/e2e/rawhttp.aws_chunked_request)."""
    with _signing_time(runtime):
        head, body = aws_chunked_request(
            method,
            f"http://{HOST}",
            path,
            (ACCESS_KEY, SECRET_KEY),
            chunks,
            headers={"Content-Encoding": "aws-chunked", **(headers or {})},
            trailers=trailers,
        )
    return _request_bytes(method, path, [*head.items(), ("Content-Length", str(len(body)))], body)


class S3Connection:
    """One client connection to the node (keep-alive: requests in turn)."""

    def __init__(self, stream: trio.abc.Stream, runtime: Runtime) -> None:
        self.raw = RawClient(stream)
        self.runtime = runtime

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        secret: str = SECRET_KEY,
    ) -> ReceivedResponse:
        """Send a signed request and read its answer (see `signed_request_bytes`)."""
        data = signed_request_bytes(
            self.runtime, method, path, query=query, headers=headers, body=body, secret=secret
        )
        return await self.exchange(method, data)

    async def exchange(self, method: str, data: bytes) -> ReceivedResponse:
        """Send `data` (one whole request of `method`) and read its answer."""
        await self.raw.send(data)
        return await self.raw.read_response(method)

    async def aclose(self) -> None:
        await self.raw.stream.aclose()


@dataclass
class Harness:
    node: Node
    listener: MemoryListener
    runtime: Runtime
    data_dir: Path
    _connection: S3Connection | None = field(default=None, init=False)

    def connect(self) -> S3Connection:
        """A new client connection (the server accepts it from the listener)."""
        return S3Connection(self.listener.connect(), self.runtime)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        secret: str = SECRET_KEY,
    ) -> ReceivedResponse:
        """A signed request on the harness's own keep-alive connection."""
        return await self._own_connection().request(
            method, path, query=query, headers=headers, body=body, secret=secret
        )

    async def exchange(self, method: str, data: bytes) -> ReceivedResponse:
        """Raw request bytes on the harness's own connection; the answer."""
        return await self._own_connection().exchange(method, data)

    async def put_aws_chunked(self, path: str, chunks: list[bytes]) -> ReceivedResponse:
        """PUT `chunks` as a signed aws-chunked body."""
        return await self.exchange(
            "PUT", aws_chunked_request_bytes(self.runtime, "PUT", path, chunks)
        )

    def _own_connection(self) -> S3Connection:
        if self._connection is None:
            self._connection = self.connect()
        return self._connection

    async def create_bucket(self, bucket: str) -> None:
        response = await self.request("PUT", f"/{bucket}")
        assert response.status == 200, response


@asynccontextmanager
async def running_node(
    data_dir: Path,
    *,
    runtime: Runtime | None = None,
    limits: ServerLimits | None = None,
    min_part_bytes: int = MIN_PART_BYTES,
    wrap_fs: Callable[[RealFileSystem], FileSystem] | None = None,
    min_free: MinFree = DEFAULT_MIN_FREE,
    inline_max_bytes: int = INLINE_MAX_BYTES,
) -> AsyncIterator[Harness]:
    """A node on `data_dir` (created if missing), serving until the block
    ends; then it shuts down gracefully and its store is closed.
    `min_part_bytes`: the store's smallest multipart part but the last.
    `wrap_fs`: the filesystem the store gets, made from the real one (e.g.
    one that injects faults); `min_free`: the store's minimum free space;
    `inline_max_bytes`: its inline threshold (0: every object in a blob)."""
    runtime = runtime if runtime is not None else harness_runtime()
    real_fs, meta = await open_local_storage(str(data_dir), runtime)
    fs: FileSystem = real_fs if wrap_fs is None else wrap_fs(real_fs)
    node = await open_node(
        fs=fs,
        meta=meta,
        runtime=runtime,
        users=UserDirectory(
            [
                User(ACCESS_KEY, SECRET_KEY, "harness"),
                User(OTHER_ACCESS_KEY, OTHER_SECRET_KEY, "other"),
            ]
        ),
        data_dir=str(data_dir),
        limits=limits,
        region=REGION,
        min_part_bytes=min_part_bytes,
        min_free=min_free,
        inline_max_bytes=inline_max_bytes,
    )
    listener = MemoryListener()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.server.serve, [listener])
            yield Harness(node, listener, runtime, data_dir)
            node.server.shutdown()
    finally:
        await node.store.close()


def error_fields(response: ReceivedResponse) -> dict[str, str]:
    """The child elements of an S3 XML error body, by tag."""
    assert response.header("content-type") == "application/xml", response
    root = ElementTree.fromstring(response.body)
    assert root.tag == "Error", response.body
    return {child.tag: child.text or "" for child in root}
