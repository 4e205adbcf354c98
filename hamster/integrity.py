"""Checksum algorithms and values, a leaf: storage, auth, s3 and api all use it.

What this file holds:
- the algorithms S3 has (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), their digest
  sizes, and incremental hashers over large chunks (zlib, awscrt and hashlib
  all work in C and release the GIL on large buffers, so a worker thread can
  run them);
- `ChecksumValue`, a stored checksum (raw digest, type, part count), and its
  text form (base64, ``-N`` for a COMPOSITE of N parts) both ways;
- multipart: `composite` (the checksum of the part checksums) and
  `combine_crc` (the CRC of a whole object from its parts' CRCs and sizes,
  no data re-read);
- `check`: BadDigest when a client's digest is not the computed one.

How a request asks for a checksum (headers, trailers, multipart headers) is
protocol: `hamster/s3/checksums.py`. Nothing from hamster is imported here
but the error type. No I/O: the blob writer feeds the hashers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as _crt  # type: ignore[import-untyped]

from hamster.s3.errors import S3Error

__all__ = [
    "ALGORITHMS",
    "CHECKSUM_TYPES",
    "COMPOSITE",
    "CRC_ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DIGEST_BYTES",
    "FULL_OBJECT",
    "ChecksumValue",
    "Hasher",
    "bad_digest",
    "check",
    "combine_crc",
    "composite",
    "compute",
    "decode_value",
    "header_name",
    "new_hasher",
    "parse_object_value",
]

# name -> digest length in bytes, in the order S3 lists them.
DIGEST_BYTES: dict[str, int] = {
    "CRC32": 4,
    "CRC32C": 4,
    "CRC64NVME": 8,
    "SHA1": 20,
    "SHA256": 32,
}
ALGORITHMS = tuple(DIGEST_BYTES)
CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")
# What S3 computes and stores when a PUT carries no checksum (since 2025).
DEFAULT_ALGORITHM = "CRC64NVME"

FULL_OBJECT = "FULL_OBJECT"
COMPOSITE = "COMPOSITE"
CHECKSUM_TYPES = (FULL_OBJECT, COMPOSITE)

# A value travels in x-amz-checksum-<algorithm, lower case>.
HEADER_PREFIX = "x-amz-checksum-"

_crc32c: Callable[[bytes | bytearray, int], int] = _crt.crc32c
_crc64nvme: Callable[[bytes | bytearray, int], int] = _crt.crc64nvme
_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": _crt.combine_crc32,
    "CRC32C": _crt.combine_crc32c,
    "CRC64NVME": _crt.combine_crc64nvme,
}


def header_name(algorithm: str) -> str:
    """``x-amz-checksum-crc32`` for ``CRC32``."""
    assert algorithm in DIGEST_BYTES, algorithm
    return HEADER_PREFIX + algorithm.lower()


@dataclass(frozen=True)
class ChecksumValue:
    """A stored checksum: `algorithm` (a key of DIGEST_BYTES), the raw digest, its type.

    A COMPOSITE checksum (of a multipart object) also knows its `part_count`:
    S3 writes it as ``<base64>-<part_count>``.
    """

    algorithm: str
    value: bytes
    type: str = FULL_OBJECT
    part_count: int = 0

    def __post_init__(self) -> None:
        assert self.algorithm in DIGEST_BYTES, self.algorithm
        assert len(self.value) == DIGEST_BYTES[self.algorithm], (self.algorithm, self.value)
        assert self.type in CHECKSUM_TYPES, self.type
        assert self.part_count >= 0
        assert self.part_count == 0 or self.type == COMPOSITE

    @property
    def text(self) -> str:
        """The value as S3 writes it: base64, and ``-N`` for a COMPOSITE of N parts."""
        if self.type == COMPOSITE and self.part_count:
            return f"{self.b64}-{self.part_count}"
        return self.b64

    @property
    def header_name(self) -> str:
        return header_name(self.algorithm)

    @property
    def b64(self) -> str:
        return base64.b64encode(self.value).decode("ascii")


class Hasher(Protocol):
    """An incremental checksum: `update` with chunks, `digest` for the raw bytes."""

    def update(self, data: bytes | bytearray, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A running CRC computed by `fn(data, previous) -> int`, `size` bytes big-endian."""

    __slots__ = ("_fn", "_size", "_value")

    def __init__(self, fn: Callable[[bytes | bytearray, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes | bytearray, /) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


def new_hasher(algorithm: str) -> Hasher:
    """A fresh incremental hasher for `algorithm` (a key of DIGEST_BYTES)."""
    if algorithm == "CRC32":
        return _Crc(zlib.crc32, 4)
    if algorithm == "CRC32C":
        return _Crc(_crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(_crc64nvme, 8)
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def compute(algorithm: str, data: bytes) -> bytes:
    """The raw digest of `data` in one go."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.digest()


def bad_digest(algorithm: str) -> S3Error:
    return S3Error(
        "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
    )


def check(algorithm: str, expected: bytes, computed: bytes) -> None:
    """BadDigest unless the client's `expected` digest is the `computed` one."""
    if expected != computed:
        raise bad_digest(algorithm)


def decode_value(algorithm: str, text: str, *, trailing: bool = False) -> bytes:
    """The raw digest of a base64 header (or trailer) value.

    Raises InvalidRequest ("Value for x-amz-checksum-<alg> header is invalid.")
    unless `text` is canonical, padded base64 of exactly the digest length.
    """
    where = "trailing header" if trailing else "header"
    invalid = S3Error(
        "InvalidRequest", f"Value for {header_name(algorithm)} {where} is invalid."
    )
    text = text.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid from None
    if len(raw) != DIGEST_BYTES[algorithm] or base64.b64encode(raw).decode("ascii") != text:
        raise invalid
    return raw


def parse_object_value(algorithm: str, text: str, part_count: int) -> bytes:
    """The raw digest of a whole-object value sent with CompleteMultipartUpload
    (``<base64>`` or ``<base64>-<N>``, the inverse of `ChecksumValue.text`);
    InvalidRequest if malformed or N is not `part_count`."""
    value = text.strip()
    base, sep, count = value.rpartition("-")
    if sep:
        if not (count.isascii() and count.isdigit()) or int(count) != part_count:
            raise S3Error(
                "InvalidRequest", f"Value for {header_name(algorithm)} header is invalid."
            )
        value = base
    return decode_value(algorithm, value)


# -- multipart ------------------------------------------------------------------


def composite(algorithm: str, part_digests: Sequence[bytes]) -> ChecksumValue:
    """S3's COMPOSITE checksum: `algorithm` over the concatenated raw part digests."""
    assert part_digests
    assert all(len(d) == DIGEST_BYTES[algorithm] for d in part_digests)
    return ChecksumValue(
        algorithm, compute(algorithm, b"".join(part_digests)), COMPOSITE, len(part_digests)
    )


def combine_crc(algorithm: str, parts: Sequence[tuple[bytes, int]]) -> ChecksumValue:
    """The FULL_OBJECT CRC of the concatenation of parts given as (raw CRC, size),
    combined with awscrt's combine functions (no byte is read again)."""
    assert algorithm in _COMBINE, algorithm
    width = DIGEST_BYTES[algorithm]
    acc = compute(algorithm, b"")
    value = int.from_bytes(acc, "big")
    for digest, size in parts:
        assert len(digest) == width and size >= 0
        value = _COMBINE[algorithm](value, int.from_bytes(digest, "big"), size)
    return ChecksumValue(algorithm, value.to_bytes(width, "big"), FULL_OBJECT)
