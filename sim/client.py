"""A simulated S3 client: real HTTP/1.1 (h11) and real SigV4 signing over any
trio stream, so the simulator drives the server's whole pipeline.

Requests are signed the way SDKs sign them: `x-amz-content-sha256` of the
body, or ``UNSIGNED-PAYLOAD``, or an aws-chunked body with a signature per
chunk (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``). The signing math is
`hamster.auth.sigv4`'s: the simulator tests crash safety, not SigV4 (the
SigV4 vector suite and the real clients test that).

An answer that never comes (the connection breaks or closes before the whole
response arrived) raises `Lost`: the client cannot know whether the request
took effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote

import h11
import trio

from hamster.auth import sigv4
from hamster.auth.common import amz_date

__all__ = ["Credentials", "Lost", "Payload", "Reply", "S3Client", "encode_key"]

RECEIVE_BYTES = 64 * 1024
# How long a client waits for an answer before it gives up on it (simulated
# seconds: the clock jumps when every task is blocked).
REPLY_TIMEOUT_S = 600.0


class Lost(Exception):
    """No complete answer: the request may or may not have taken effect."""


class Payload(Enum):
    SIGNED = "signed"  # x-amz-content-sha256 of the whole body
    UNSIGNED = "unsigned"  # UNSIGNED-PAYLOAD
    CHUNKED = "chunked"  # aws-chunked, every chunk signed


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ",".join(values) if values else None

    @property
    def etag(self) -> str | None:
        return self.header("etag")


def encode_key(key: str) -> str:
    """The raw path of a key (path-style, percent-encoded as SDKs do)."""
    return quote(key.encode("utf-8"), safe="/~")


Connect = Callable[[], Awaitable[trio.abc.Stream]]


class S3Client:
    """One client with at most one open connection, reused while it lasts.

    Args:
      connect: opens a new stream to the server (may wait until one is up).
      now_ns: the simulated wall clock (the server checks request skew).
    """

    def __init__(
        self,
        connect: Connect,
        creds: Credentials,
        *,
        now_ns: Callable[[], int],
        host: str = "sim.local",
        chunk_bytes: int = 8 * 1024,
        usable: Callable[[trio.abc.Stream], bool] | None = None,
    ) -> None:
        self._connect = connect
        # Whether a kept connection still leads to a live server: one to a
        # crashed instance is not reused (the request would be lost unsent).
        self._usable = usable
        self.creds = creds
        self._now_ns = now_ns
        self.host = host
        self.chunk_bytes = chunk_bytes
        self._stream: trio.abc.Stream | None = None
        self._h11: h11.Connection | None = None

    def clone(self) -> S3Client:
        """Another client like this one, with its own connection."""
        return S3Client(
            self._connect,
            self.creds,
            now_ns=self._now_ns,
            host=self.host,
            chunk_bytes=self.chunk_bytes,
            usable=self._usable,
        )

    async def close(self) -> None:
        stream, self._stream, self._h11 = self._stream, None, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                try:
                    await stream.aclose()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

    async def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        payload: Payload = Payload.SIGNED,
        reuse: bool = True,
    ) -> Reply:
        """Send one signed request and read its whole answer (or raise Lost).

        `path` is the raw (encoded) path; `query` the decoded pairs.
        """
        if not reuse or (
            self._stream is not None and self._usable is not None and not self._usable(self._stream)
        ):
            await self.close()
        head, wire_body = self._sign(method, path, query, headers, body, payload)
        try:
            with trio.fail_after(REPLY_TIMEOUT_S):
                return await self._exchange(method, head, wire_body)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
            await self.close()
            raise Lost(f"{method} {path}: {type(exc).__name__}") from exc
        except h11.ProtocolError as exc:
            await self.close()
            raise Lost(f"{method} {path}: {exc}") from exc

    # --- the wire ------------------------------------------------------------

    async def _exchange(self, method: str, head: h11.Request, wire_body: Sequence[bytes]) -> Reply:
        if self._stream is None or self._h11 is None:
            self._stream = await self._connect()
            self._h11 = h11.Connection(our_role=h11.CLIENT)
        conn, stream = self._h11, self._stream
        out = [conn.send(head)]
        out += [conn.send(h11.Data(data=piece)) for piece in wire_body if piece]
        out.append(conn.send(h11.EndOfMessage()))
        await stream.send_all(b"".join(x for x in out if x))
        status = 0
        headers: tuple[tuple[str, str], ...] = ()
        parts: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(RECEIVE_BYTES)
                if not data:
                    raise trio.BrokenResourceError("connection closed before the answer")
                conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = tuple(
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in event.headers
                )
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise trio.BrokenResourceError("connection closed mid-answer")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self.close()
        return Reply(status, headers, b"".join(parts))

    # --- signing -------------------------------------------------------------

    def _sign(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Sequence[tuple[str, str]],
        body: bytes,
        payload: Payload,
    ) -> tuple[h11.Request, list[bytes]]:
        creds = self.creds
        seconds = self._now_ns() // 1_000_000_000
        date_time = amz_date(seconds)
        scope = sigv4.credential_scope(date_time[:8], creds.region, "s3")
        key = sigv4.signing_key(creds.secret_key, date_time[:8], creds.region, "s3")
        raw_query = "&".join(
            f"{quote(n, safe='-_.~')}={quote(v, safe='-_.~')}" if v else quote(n, safe="-_.~")
            for n, v in query
        )
        hdrs = [(n.lower(), v) for n, v in headers]
        hdrs.append(("host", self.host))
        hdrs.append(("x-amz-date", date_time))
        if payload is Payload.CHUNKED:
            content_sha = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            hdrs.append(("content-encoding", "aws-chunked"))
            hdrs.append(("x-amz-decoded-content-length", str(len(body))))
            framed_len = _chunked_length(len(body), self.chunk_bytes)
            hdrs.append(("content-length", str(framed_len)))
        else:
            content_sha = (
                sigv4.UNSIGNED_PAYLOAD
                if payload is Payload.UNSIGNED
                else hashlib.sha256(body).hexdigest()
            )
            if body or method in ("PUT", "POST"):
                hdrs.append(("content-length", str(len(body))))
        hdrs.append(("x-amz-content-sha256", content_sha))
        signed = sorted({n for n, _ in hdrs})
        creq = sigv4.canonical_request(
            method=method,
            uri=sigv4.canonical_uri(path),
            query=sigv4.canonical_query(sigv4.query_pairs(raw_query)),
            headers_block=sigv4.canonical_headers(hdrs, signed),
            signed_headers=";".join(signed),
            payload=content_sha,
        )
        sts = sigv4.string_to_sign(
            amz_date=date_time, scope=scope, canonical_request_bytes=creq.encode("latin-1")
        )
        seed = sigv4.signature(key, sts)
        hdrs.append(
            (
                "authorization",
                f"{sigv4.ALGORITHM} Credential={creds.access_key}/{scope}, "
                f"SignedHeaders={';'.join(signed)}, Signature={seed}",
            )
        )
        target = path + (f"?{raw_query}" if raw_query else "")
        request = h11.Request(
            method=method,
            target=target.encode("latin-1"),
            headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in hdrs],
        )
        if payload is Payload.CHUNKED:
            return request, _chunked_frames(body, self.chunk_bytes, key, date_time, scope, seed)
        return request, [body]


def _chunk_sizes(size: int, chunk_bytes: int) -> list[int]:
    sizes = [chunk_bytes] * (size // chunk_bytes)
    if size % chunk_bytes:
        sizes.append(size % chunk_bytes)
    return [*sizes, 0]


def _frame_head_length(n: int) -> int:
    return len(f"{n:x};chunk-signature=") + 64 + 2


def _chunked_length(size: int, chunk_bytes: int) -> int:
    return sum(_frame_head_length(n) + n + 2 for n in _chunk_sizes(size, chunk_bytes))


def _chunked_frames(
    body: bytes, chunk_bytes: int, key: bytes, date_time: str, scope: str, seed: str
) -> list[bytes]:
    frames: list[bytes] = []
    previous = seed
    offset = 0
    for n in _chunk_sizes(len(body), chunk_bytes):
        chunk = body[offset : offset + n]
        offset += n
        sts = sigv4.chunk_string_to_sign(
            amz_date=date_time,
            scope=scope,
            previous_signature=previous,
            chunk_sha256=hashlib.sha256(chunk).hexdigest(),
        )
        previous = sigv4.signature(key, sts)
        frames.append(f"{n:x};chunk-signature={previous}\r\n".encode() + chunk + b"\r\n")
    return frames
