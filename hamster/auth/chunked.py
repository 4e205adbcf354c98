"""The aws-chunked body decoder: an incremental, sans-I/O state machine.

A ``STREAMING-*`` upload frames the object's bytes as::

    <hex size>[;chunk-signature=<sig>]\\r\\n<size bytes>\\r\\n      (repeated)
    0[;chunk-signature=<sig>]\\r\\n                                  (final chunk)
    [<name>:<value>\\r\\n ...][x-amz-trailer-signature:<sig>\\r\\n]   (trailers)
    \\r\\n                                                         (optional at EOF)

Rules of this file:
- `feed` takes raw bytes split anywhere and returns the decoded bytes it can
  release; `finish` is called at the end of the raw body. Both raise `S3Error`,
  and after an error every call raises it again.
- With signed chunks (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]``) a
  chunk's bytes are held until its signature — chained from the seed
  signature — is verified; nothing unverified is ever released. A chunk is at
  most `CHUNK_BYTES_MAX`, which bounds the memory held per request.
- With ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` bytes are released as they come.
- Signed trailers are verified before the end is reported.
- The decoded length must equal ``x-amz-decoded-content-length`` (IncompleteBody).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re

from hamster.auth import sigv4
from hamster.auth.verify import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    AuthResult,
)
from hamster.s3.errors import S3Error

CHUNK_BYTES_MAX = 8 * 1024 * 1024
LINE_BYTES_MAX = 4096
TRAILERS_MAX = 16

_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE = re.compile(rb"[0-9a-f]{64}")
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


class _State(enum.Enum):
    SIZE_LINE = enum.auto()
    DATA = enum.auto()
    DATA_CRLF = enum.auto()
    TRAILERS = enum.auto()
    DONE = enum.auto()


class AwsChunkedDecoder:
    """Decode (and verify) one aws-chunked body.

    Args:
      auth: the request's `AuthResult`; its ``payload`` must be a STREAMING-*
        mode, and its signing key, seed signature, date and scope seed the chain.

    Attributes:
      trailers: the trailer (lower-case name, value) pairs, without the
        trailer signature; complete once `done`.
      done: True once the whole body has been decoded and verified.
    """

    def __init__(self, auth: AuthResult) -> None:
        assert auth.payload in (
            STREAMING_SIGNED,
            STREAMING_SIGNED_TRAILER,
            STREAMING_UNSIGNED_TRAILER,
        )
        self._auth = auth
        self._signed = auth.payload != STREAMING_UNSIGNED_TRAILER
        self._with_trailers = auth.payload != STREAMING_SIGNED
        self._previous_signature = auth.seed_signature
        self._buffer = bytearray()
        self._state = _State.SIZE_LINE
        self._remaining_bytes = 0
        self._chunk_signature = b""
        self._chunk_hash = hashlib.sha256()
        self._chunk_parts: list[memoryview] = []
        self._decoded_bytes = 0
        self._trailer_signature: str | None = None
        self._error: S3Error | None = None
        self.trailers: list[tuple[str, str]] = []
        self.done = False

    @property
    def decoded_bytes(self) -> int:
        """How many decoded bytes have been released so far."""
        return self._decoded_bytes

    def feed(self, data: bytes) -> bytes:
        """Take the next raw bytes; return the decoded bytes now released (maybe ``b""``)."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except S3Error as error:
            self._error = error
            raise

    def finish(self) -> None:
        """The raw body has ended: raise unless it ended exactly at the end of the encoding."""
        if self._error is not None:
            raise self._error
        try:
            self._finish()
        except S3Error as error:
            self._error = error
            raise

    # -- internals -----------------------------------------------------------------------

    def _feed(self, data: bytes) -> bytes:
        # Chunk data is sliced out of `data` through a memoryview (no copy until
        # the one join below); only an unfinished line or CRLF is kept in
        # `_buffer` for the next feed.
        if self._buffer:
            data = b"".join((self._buffer, data))  # one copy
            self._buffer.clear()
        view = memoryview(data)
        size = len(data)
        out: list[memoryview] = []
        pos = 0
        while True:
            state = self._state
            if state is _State.SIZE_LINE:
                line, pos = self._line(data, pos)
                if line is None:
                    break
                self._start_chunk(line)
            elif state is _State.DATA:
                take = min(self._remaining_bytes, size - pos)
                if take == 0:
                    break
                piece = view[pos : pos + take]
                pos += take
                self._remaining_bytes -= take
                if self._signed:
                    self._chunk_hash.update(piece)
                    self._chunk_parts.append(piece)
                else:
                    self._decoded_bytes += take
                    out.append(piece)
                if self._remaining_bytes == 0:
                    self._state = _State.DATA_CRLF
            elif state is _State.DATA_CRLF:
                if size - pos < 2:
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise _malformed("chunk data is not followed by CRLF")
                pos += 2
                if self._signed:
                    self._verify_chunk()
                    for part in self._chunk_parts:
                        self._decoded_bytes += len(part)
                        out.append(part)
                    self._chunk_parts = []
                self._state = _State.SIZE_LINE
            elif state is _State.TRAILERS:
                line, pos = self._line(data, pos)
                if line is None:
                    break
                if line:
                    self._trailer_line(line)
                else:
                    self._end_trailers()
            elif state is _State.DONE:
                if data[pos:].strip(b"\r\n"):
                    raise _malformed("data after the end of the aws-chunked body")
                pos = size
                break
        self._buffer += view[pos:]
        return b"".join(out)

    @staticmethod
    def _line(data: bytes, pos: int) -> tuple[bytes | None, int]:
        end = data.find(b"\r\n", pos)
        if end < 0:
            if len(data) - pos > LINE_BYTES_MAX:
                raise _malformed("a chunk header or trailer line is too long")
            return None, pos
        if end - pos > LINE_BYTES_MAX:
            raise _malformed("a chunk header or trailer line is too long")
        return data[pos:end], end + 2

    def _start_chunk(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        if not _HEX_SIZE.fullmatch(size_text):
            raise _malformed("a chunk size is not hexadecimal")
        size = int(size_text, 16)
        if size > CHUNK_BYTES_MAX:
            raise _malformed(f"a chunk is larger than {CHUNK_BYTES_MAX} bytes")
        # A chunk starts only after the previous one was verified and released,
        # so every byte before it is counted in _decoded_bytes.
        assert not self._chunk_parts
        declared = self._auth.decoded_length
        if declared is not None and self._decoded_bytes + size > declared:
            raise _incomplete(declared)
        if self._signed:
            name, eq, signature = extension.partition(b"=")
            if name != b"chunk-signature" or not eq or not _SIGNATURE.fullmatch(signature):
                raise _malformed("a chunk header lacks a valid chunk-signature")
            self._chunk_signature = signature
            self._chunk_hash = hashlib.sha256()
        self._remaining_bytes = size
        if size > 0:
            self._state = _State.DATA
            return
        if self._signed:
            self._verify_chunk()
        self._state = _State.TRAILERS

    def _verify_chunk(self) -> None:
        sts = sigv4.chunk_string_to_sign(
            amz_date=self._auth.amz_date,
            scope=self._auth.scope,
            previous_signature=self._previous_signature,
            chunk_sha256=self._chunk_hash.hexdigest(),
        )
        expected = sigv4.signature(self._auth.signing_key, sts)
        if not hmac.compare_digest(expected.encode(), self._chunk_signature):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The chunk signature we calculated does not match the signature you provided.",
                extra={
                    "AWSAccessKeyId": self._auth.access_key,
                    "StringToSign": sts,
                    "SignatureProvided": self._chunk_signature.decode(),
                },
            )
        self._previous_signature = expected

    def _trailer_line(self, line: bytes) -> None:
        if not self._with_trailers:
            raise _malformed("trailers were sent, but x-amz-content-sha256 declares none")
        name, colon, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if not colon or not name or len(self.trailers) >= TRAILERS_MAX:
            raise _malformed("a trailer line is malformed")
        if name == _TRAILER_SIGNATURE:
            if not self._signed or self._trailer_signature is not None:
                raise _malformed("unexpected x-amz-trailer-signature")
            self._trailer_signature = value.strip()
        else:
            self.trailers.append((name, sigv4.trim_value(value)))

    def _end_trailers(self) -> None:
        if self._signed and self._with_trailers:
            self._verify_trailers()
        self._state = _State.DONE
        self.done = True

    def _verify_trailers(self) -> None:
        if self._trailer_signature is None:
            raise S3Error("InvalidRequest", "The x-amz-trailer-signature trailer is missing.")
        canonical = "".join(f"{name}:{value}\n" for name, value in self.trailers)
        sts = sigv4.trailer_string_to_sign(
            amz_date=self._auth.amz_date,
            scope=self._auth.scope,
            previous_signature=self._previous_signature,
            trailer_sha256=hashlib.sha256(sigv4.wire_bytes(canonical)).hexdigest(),
        )
        expected = sigv4.signature(self._auth.signing_key, sts)
        if not hmac.compare_digest(expected.encode(), sigv4.wire_bytes(self._trailer_signature)):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The trailer signature we calculated does not match the signature you provided.",
                extra={
                    "AWSAccessKeyId": self._auth.access_key,
                    "StringToSign": sts,
                    "SignatureProvided": self._trailer_signature,
                },
            )

    def _finish(self) -> None:
        if self._state is _State.TRAILERS and not self._buffer:
            self._end_trailers()  # the final CRLF is optional
        if self._state is not _State.DONE:
            raise _incomplete(self._auth.decoded_length)
        declared = self._auth.decoded_length
        if declared is not None and self._decoded_bytes != declared:
            raise _incomplete(declared)


def _malformed(detail: str) -> S3Error:
    return S3Error("InvalidRequest", f"Malformed aws-chunked body: {detail}.")


def _incomplete(declared: int | None) -> S3Error:
    if declared is None:
        return S3Error("IncompleteBody", "The aws-chunked body ended before its final chunk.")
    return S3Error(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the "
        f"x-amz-decoded-content-length HTTP header ({declared}).",
    )
