"""Large transfers over a raw socket, so the client is not what is measured.

A body is `size` bytes made of 1 MiB blocks cycling through `BLOCKS` distinct
ones (position-dependent: a misplaced MiB changes the MD5). Its MD5 and
SHA-256 are computed once per size, before any clock starts. A PUT sends the
blocks straight from memory with `sendall` (UNSIGNED-PAYLOAD, a signed
payload, or aws-chunked streaming signatures whose chunk signatures are
chained before the clock starts); a GET reads into one reused 1 MiB buffer
with `recv_into`. Requests are signed with SigV4 in headers (botocore).

Not a test: used by bench/throughput.py and bench/memory.py.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench import servers

MiB = 1 << 20
BLOCKS = 8
STREAM_CHUNK = 64 * 1024  # what the AWS SDKs send per aws-chunked chunk
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MODES = ("unsigned", "signed", "streaming")
TIMEOUT_S = 120.0  # a stalled transfer fails the cell instead of hanging the run


@functools.cache
def block(i: int) -> bytes:
    """The i-th distinct 1 MiB block (i < BLOCKS)."""
    return b"".join(
        hashlib.sha512(f"hamster-bench-block-{i}:{j}".encode()).digest() for j in range(MiB // 64)
    )


def blocks_of(size: int, start: int = 0) -> Iterator[memoryview]:
    """The body's bytes [start, size) as views of the cycling blocks."""
    pos = start
    while pos < size:
        index, offset = divmod(pos, MiB)
        piece = memoryview(block(index % BLOCKS))[offset : offset + min(MiB - offset, size - pos)]
        yield piece
        pos += len(piece)


@functools.cache
def digests(size: int) -> tuple[str, str]:
    """(MD5 hex, SHA-256 hex) of the body of `size` bytes."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    for piece in blocks_of(size):
        md5.update(piece)
        sha.update(piece)
    return md5.hexdigest(), sha.hexdigest()


class _FixedPayloadAuth(S3SigV4Auth):  # type: ignore[misc]
    def __init__(self, payload: str) -> None:
        super().__init__(Credentials(servers.ACCESS_KEY, servers.SECRET_KEY), "s3", servers.REGION)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def signed_head(
    method: str, endpoint: str, path: str, payload: str, headers: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    """The request head (bytes) of a SigV4 header-signed request, and its headers."""
    host = endpoint.split("://", 1)[1]
    request = AWSRequest(method=method, url=endpoint + path, headers={"Host": host, **headers})
    _FixedPayloadAuth(payload).add_auth(request)
    signed = dict(request.headers.items())
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in signed.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), signed


def _chunk_signing_key(date: str) -> bytes:
    key = b"AWS4" + servers.SECRET_KEY.encode()
    for part in (date, servers.REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@functools.cache
def _chunk_sha(index: int, offset: int, length: int) -> str:
    return hashlib.sha256(memoryview(block(index))[offset : offset + length]).hexdigest()


def streaming_body(size: int, amz_date: str, seed_signature: str) -> list[bytes | memoryview]:
    """The aws-chunked body of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload:
    chunk headers with chained signatures, the chunk bytes (views), CRLFs."""
    date = amz_date[:8]
    scope = f"{date}/{servers.REGION}/s3/aws4_request"
    key = _chunk_signing_key(date)
    previous = seed_signature
    out: list[bytes | memoryview] = []
    pos = 0
    while True:
        length = min(STREAM_CHUNK, size - pos)
        if length:
            index, offset = divmod(pos, MiB)
            data: memoryview | None = memoryview(block(index % BLOCKS))[offset : offset + length]
            digest = _chunk_sha(index % BLOCKS, offset, length)
        else:
            data, digest = None, EMPTY_SHA256
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{digest}"
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(f"{length:x};chunk-signature={previous}\r\n".encode())
        if data is None:
            out.append(b"\r\n")
            return out
        out += [data, b"\r\n"]
        pos += length


def streaming_length(size: int) -> int:
    """Content-Length of the aws-chunked encoding of `size` bytes."""
    full, rest = divmod(size, STREAM_CHUNK)
    sig = len(";chunk-signature=") + 64 + 2

    def one(n: int) -> int:
        return len(f"{n:x}") + sig + n + 2

    return full * one(STREAM_CHUNK) + (one(rest) if rest else 0) + one(0)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body_bytes: int
    body_head: bytes  # the first bytes of the body (an error document), at most 4 KiB
    md5: str | None  # of the body, when asked for
    body: bytes = b""  # the whole body, when asked for (small responses only)


class Connection:
    """One keep-alive connection to a store."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.buffer = bytearray(MiB)
        self.view = memoryview(self.buffer)
        self._connect()

    def _connect(self) -> None:
        host, port = self.endpoint.split("://", 1)[1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_head(self) -> tuple[int, dict[str, str]]:
        data = self.pending
        while b"\r\n\r\n" not in data:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("connection closed before a response head")
            data += got
        head, self.pending = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def response(
        self, *, head_request: bool = False, hash_body: bool = False, keep_body: bool = False
    ) -> Response:
        """Read one response; its body goes through the reused buffer. If the
        server closes the connection after it (moto's does after every
        response), the next request goes on a new one."""
        response = self._response(head_request, hash_body, keep_body)
        if response.headers.get("connection", "").lower() == "close":
            self.sock.close()
            self._connect()
        return response

    def _response(self, head_request: bool, hash_body: bool, keep_body: bool) -> Response:
        while True:
            status, headers = self._read_head()
            if status != 100:
                break
        md5 = hashlib.md5() if hash_body else None
        if head_request:
            return Response(status, headers, 0, b"", None)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
            return Response(
                status, headers, len(body), body[:4096], hashlib.md5(body).hexdigest(), body
            )
        remaining = int(headers.get("content-length", "0"))
        total = remaining
        first = b""
        kept: list[bytes] = []
        if self.pending:
            piece, self.pending = self.pending[:remaining], self.pending[remaining:]
            remaining -= len(piece)
            first = piece[:4096]
            if md5 is not None:
                md5.update(piece)
            if keep_body:
                kept.append(piece)
        while remaining:
            n = self.sock.recv_into(self.view, min(remaining, MiB))
            if n == 0:
                raise ConnectionError(f"connection closed with {remaining} body bytes to come")
            if len(first) < 4096:
                first += bytes(self.view[: min(n, 4096 - len(first))])
            if md5 is not None:
                md5.update(self.view[:n])
            if keep_body:
                kept.append(bytes(self.view[:n]))
            remaining -= n
        digest = md5.hexdigest() if md5 else None
        return Response(status, headers, total, first, digest, b"".join(kept))

    def _read_chunked(self) -> bytes:
        # Only small responses (error documents) come chunked from the peers.
        data = self.pending
        body = b""
        while True:
            while b"\r\n" not in data:
                data += self.sock.recv(65536)
            line, data = data.split(b"\r\n", 1)
            length = int(line.split(b";")[0], 16)
            while len(data) < length + 2:
                data += self.sock.recv(65536)
            body += data[:length]
            data = data[length + 2 :]
            if length == 0:
                self.pending = data
                return body

    def put(self, path: str, size: int, mode: str) -> Response:
        """PUT `size` bytes of the body at `path` in one of `MODES`."""
        sha = digests(size)[1] if mode == "signed" else ""
        if mode == "unsigned":
            head, _ = signed_head(
                "PUT", self.endpoint, path, UNSIGNED, {"Content-Length": str(size)}
            )
            self.sock.sendall(head)
            for piece in blocks_of(size):
                self.sock.sendall(piece)
        elif mode == "signed":
            head, _ = signed_head("PUT", self.endpoint, path, sha, {"Content-Length": str(size)})
            self.sock.sendall(head)
            for piece in blocks_of(size):
                self.sock.sendall(piece)
        elif mode == "streaming":
            head, signed = signed_head(
                "PUT",
                self.endpoint,
                path,
                STREAMING,
                {
                    "Content-Encoding": "aws-chunked",
                    "x-amz-decoded-content-length": str(size),
                    "Content-Length": str(streaming_length(size)),
                },
            )
            seed = signed["Authorization"].rsplit("Signature=", 1)[1]
            pieces = streaming_body(size, signed["X-Amz-Date"], seed)
            self.sock.sendall(head)
            # A few pieces per syscall: sendmsg gathers them without copying.
            for i in range(0, len(pieces), 48):
                batch = pieces[i : i + 48]
                sent = self.sock.sendmsg(batch)
                total = sum(len(p) for p in batch)
                if sent < total:
                    rest = b"".join(bytes(p) for p in batch)[sent:]
                    self.sock.sendall(rest)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return self.response()

    def get(
        self, path: str, byte_range: tuple[int, int] | None = None, *, hash_body: bool = False
    ) -> Response:
        """GET `path` (bytes [first, last] of it with `byte_range`)."""
        headers = {} if byte_range is None else {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"}
        head, _ = signed_head("GET", self.endpoint, path, EMPTY_SHA256, headers)
        self.sock.sendall(head)
        return self.response(hash_body=hash_body)

    def request(self, method: str, path: str) -> Response:
        """A bodiless request (create or delete a bucket or an object)."""
        head, _ = signed_head(method, self.endpoint, path, EMPTY_SHA256, {"Content-Length": "0"})
        self.sock.sendall(head)
        return self.response(head_request=method == "HEAD")


def expected_md5(size: int, start: int = 0, stop: int | None = None) -> str:
    """MD5 of the body's bytes [start, stop)."""
    stop = size if stop is None else stop
    md5 = hashlib.md5()
    for piece in blocks_of(stop, start):
        md5.update(piece)
    return md5.hexdigest()
