"""Payload verification: wrap the request body so nothing is committed unless it checks.

`verified_body` returns a `RequestBody` that yields the same bytes as the one
it wraps and checks them against what the signature promised. The check lands
on the read that would return the end of the body (``b""``): instead of the
end, the reader gets `S3Error`, so a store that only commits after it has seen
the end never commits a body that failed.
"""

from __future__ import annotations

import hashlib

import trio

from hamster.auth import sigv4
from hamster.auth.verify import STREAMING_MODES, AuthResult
from hamster.http.messages import RequestBody
from hamster.s3.errors import S3Error

# Chunks at least this large are hashed on a worker thread (hashlib releases
# the GIL), so a 1 GiB upload does not hold the event loop.
THREAD_HASH_BYTES_MIN = 256 * 1024


def verified_body(body: RequestBody, auth: AuthResult) -> RequestBody:
    """The body as the handler should read it, verified against `auth.payload`.

    Args:
      body: the raw request body.
      auth: the result of `authenticate` for this request.

    Returns:
      `body` itself for ``UNSIGNED-PAYLOAD``; for a hex digest, a wrapper that
      hashes as bytes pass and raises ``S3Error("XAmzContentSHA256Mismatch")``
      in place of the end of the body if the digest differs.

    Raises:
      S3Error: NotImplemented for ``STREAMING-*`` payloads until the aws-chunked
        decoder is plugged in.
    """
    if auth.payload == sigv4.UNSIGNED_PAYLOAD:
        return body
    if auth.payload in STREAMING_MODES:
        raise S3Error(
            "NotImplemented",
            "aws-chunked (STREAMING-*) request bodies are not supported yet",
        )
    return Sha256CheckedBody(body, auth.payload)


class Sha256CheckedBody:
    """A `RequestBody` whose end is only reached if its SHA-256 is `expected_hex`."""

    def __init__(self, body: RequestBody, expected_hex: str) -> None:
        self._body = body
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
            if len(chunk) >= THREAD_HASH_BYTES_MIN:
                await trio.to_thread.run_sync(self._hash.update, chunk)
            else:
                self._hash.update(chunk)
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
