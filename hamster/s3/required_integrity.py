"""Bodies S3 will not take without an integrity value (sans-I/O).

S3 refuses some requests (DeleteObjects among them) unless the body comes
with ``Content-MD5`` or an additional checksum (``x-amz-checksum-<alg>`` in a
header, or declared with ``x-amz-trailer`` and sent at the end of an
aws-chunked body). Older SDKs send Content-MD5; current ones send CRC32 (boto3
since 1.36 sends ``x-amz-checksum-crc32`` and ``x-amz-sdk-checksum-algorithm``
and no Content-MD5, even with ``request_checksum_calculation="when_required"``).

`required_integrity` reads the headers before the body (refusing a request
with neither, with S3's InvalidRequest message); `verify_body` checks the
whole body, once read, against every value given: BadDigest on a mismatch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from hamster import integrity
from hamster.s3 import checksums
from hamster.s3.checksums import ChecksumRequest
from hamster.s3.errors import S3Error

__all__ = ["MISSING_MESSAGE", "BodyIntegrity", "parse_content_md5", "required_integrity"]

MISSING_MESSAGE = "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"


def parse_content_md5(value: str | None) -> bytes | None:
    """The 16 raw bytes of a Content-MD5 header (None if absent); InvalidDigest
    unless it is base64 of 16 bytes."""
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidDigest", extra={"Content-MD5": value}) from None
    if len(digest) != 16:
        raise S3Error("InvalidDigest", extra={"Content-MD5": value})
    return digest


@dataclass(frozen=True)
class BodyIntegrity:
    """The values a body must match: its MD5, its additional checksum, or both."""

    content_md5: bytes | None
    checksum: ChecksumRequest | None

    def __post_init__(self) -> None:
        assert self.content_md5 is not None or self.checksum is not None

    def verify_body(self, body: bytes, trailers: Sequence[tuple[str, str]] = ()) -> None:
        """BadDigest unless `body` matches every value; `trailers` are those
        of an ended aws-chunked body (checked as `checksums.expected_from_trailers`).

        Raises:
          S3Error("BadDigest"): S3's Content-MD5 message, or "The CRC32 you
            specified did not match the calculated checksum." (and so on).
          The trailer errors of `checksums.expected_from_trailers`.
        """
        from_trailer = checksums.expected_from_trailers(self.checksum, trailers)
        if self.content_md5 is not None and hashlib.md5(body).digest() != self.content_md5:
            raise S3Error("BadDigest")
        if self.checksum is not None:
            expected = self.checksum.expected
            if expected is None:
                expected = from_trailer
            assert expected is not None
            algorithm = self.checksum.algorithm
            integrity.check(algorithm, expected, integrity.compute(algorithm, body))


def required_integrity(
    headers: Sequence[tuple[str, str]], *, trailers_allowed: bool
) -> BodyIntegrity:
    """What the body of a request that needs an integrity value must match.

    Args:
      headers: (lower-case name, value) pairs of the request.
      trailers_allowed: whether the body can carry trailers (see
        `checksums.parse_request`).

    Raises:
      S3Error("InvalidRequest", MISSING_MESSAGE): neither Content-MD5 nor a
        checksum value or trailer.
      S3Error("InvalidDigest"): a Content-MD5 that is not base64 of 16 bytes.
      Whatever `checksums.parse_request` refuses.
    """
    content_md5 = parse_content_md5(next((v for n, v in headers if n == "content-md5"), None))
    checksum = checksums.parse_request(headers, trailers_allowed=trailers_allowed)
    if content_md5 is None and checksum is None:
        raise S3Error("InvalidRequest", MISSING_MESSAGE)
    return BodyIntegrity(content_md5, checksum)
