"""Payload verification: wrap the request body so nothing is committed unless it checks.

`verified_body` returns a `RequestBody` that yields the same bytes as the one
it wraps and checks them against what the signature promised. The check lands
on the read that would return the end of the body (``b""``): instead of the
end, the reader gets `S3Error`, so a store that only commits after it has seen
the end never commits a body that failed.
"""

from __future__ import annotations

import hashlib

from hamster.auth import sigv4
from hamster.auth.chunked import AwsChunkedDecoder
from hamster.auth.verify import STREAMING_MODES, AuthResult
from hamster.http.messages import RequestBody
from hamster.runtime import Runtime
from hamster.s3.errors import S3Error

# Hashing goes through `Runtime.hash`: pieces above the runtime's
# hash_inline_max_bytes are hashed off the event loop (hashlib and hmac
# release the GIL), so a 1 GiB upload does not hold it.
# aws-chunked: read the raw body in pieces at least this large.
RAW_READ_BYTES_MIN = 64 * 1024


def verified_body(body: RequestBody, auth: AuthResult, runtime: Runtime) -> RequestBody:
    """The body as the handler should read it, verified against `auth.payload`.

    Args:
      body: the raw request body.
      auth: the result of `authenticate` for this request.
      runtime: hashes big pieces through its offload (`Runtime.hash`).

    Returns:
      `body` itself for ``UNSIGNED-PAYLOAD``; for a hex digest, a wrapper that
      hashes as bytes pass and raises ``S3Error("XAmzContentSHA256Mismatch")``
      in place of the end of the body if the digest differs; for ``STREAMING-*``
      an `AwsChunkedBody` yielding the decoded, verified bytes.
    """
    if auth.payload == sigv4.UNSIGNED_PAYLOAD:
        return body
    if auth.payload in STREAMING_MODES:
        return AwsChunkedBody(body, auth, runtime)
    return Sha256CheckedBody(body, auth.payload, runtime)


class Sha256CheckedBody:
    """A `RequestBody` whose end is only reached if its SHA-256 is `expected_hex`."""

    def __init__(self, body: RequestBody, expected_hex: str, runtime: Runtime) -> None:
        self._body = body
        self._runtime = runtime
        self._expected_hex = expected_hex.lower()
        self._hash = hashlib.sha256()
        self._ended = False
        self._error: S3Error | None = None

    @property
    def content_length(self) -> int | None:
        return self._body.content_length

    async def read(self, max_bytes: int) -> bytes:
        if self._error is not None:
            raise self._error
        if self._ended:
            return b""
        chunk = await self._body.read(max_bytes)
        if chunk:
            await self._runtime.hash(self._hash.update, chunk)
            return chunk
        computed = self._hash.hexdigest()
        if computed != self._expected_hex:
            self._error = S3Error(
                "XAmzContentSHA256Mismatch",
                extra={
                    "ClientComputedContentSHA256": self._expected_hex,
                    "S3ComputedContentSHA256": computed,
                },
            )
            raise self._error
        self._ended = True
        return b""


class AwsChunkedBody:
    """A `RequestBody` of the decoded bytes of an aws-chunked body.

    `content_length` is ``x-amz-decoded-content-length``. Reads return only
    verified bytes; the end (``b""``) comes only once the whole encoding, its
    signatures and the decoded length have checked. `trailers` (lower-case
    name, value) are complete once the end has been returned.
    """

    def __init__(self, body: RequestBody, auth: AuthResult, runtime: Runtime) -> None:
        self._body = body
        self._runtime = runtime
        self._decoder = AwsChunkedDecoder(auth)
        self._decoded_length = auth.decoded_length
        self._pending = b""
        self._pending_offset = 0
        self._ended = False

    @property
    def content_length(self) -> int | None:
        return self._decoded_length

    @property
    def trailers(self) -> list[tuple[str, str]]:
        return self._decoder.trailers

    async def read(self, max_bytes: int) -> bytes:
        while self._pending_offset >= len(self._pending):
            if self._ended:
                return b""
            raw = await self._body.read(max(max_bytes, RAW_READ_BYTES_MIN))
            if raw:
                # Big reads are hashed and verified off the event loop,
                # overlapping with the store's MD5 and write.
                self._pending = await self._runtime.hash(self._decoder.feed, raw)
            else:
                self._decoder.finish()
                self._pending = b""
                self._ended = True
            self._pending_offset = 0
        start = self._pending_offset
        self._pending_offset = min(len(self._pending), start + max_bytes)
        if start == 0 and self._pending_offset == len(self._pending):
            return self._pending
        return self._pending[start : self._pending_offset]
