"""S3's additional checksums (``x-amz-checksum-*``), sans-I/O.

What this file holds:
- the algorithms (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) as incremental
  hashers over large chunks (zlib, awscrt and hashlib all work in C and
  release the GIL on large buffers, so a worker thread can run them);
- `parse_request`: what a PUT's headers ask for (a value now, in a header,
  or at the end of the body, in an aws-chunked trailer), with every refusal
  S3 gives for a malformed request;
- `expected_from_trailers`: the value a trailer brought, once the body ended;
- `check`: BadDigest on a mismatch; `response_headers`: what PUT/GET/HEAD say;
- multipart: `parse_upload_checksum` (CreateMultipartUpload's algorithm and
  type), `composite` (S3's checksum of the part checksums) and `combine_crc`
  (the CRC of a whole object from its parts' CRCs and sizes, no data re-read).

Values travel as base64 of the big-endian digest; `ChecksumValue` keeps the
raw digest bytes. No I/O here: the blob writer feeds the hashers.
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

# name -> digest length in bytes, in the order S3 lists them.
DIGEST_BYTES: dict[str, int] = {
    "CRC32": 4,
    "CRC32C": 4,
    "CRC64NVME": 8,
    "SHA1": 20,
    "SHA256": 32,
}
ALGORITHMS = tuple(DIGEST_BYTES)
# What S3 computes and stores when a PUT carries no checksum (since 2025).
DEFAULT_ALGORITHM = "CRC64NVME"

FULL_OBJECT = "FULL_OBJECT"
COMPOSITE = "COMPOSITE"
CHECKSUM_TYPES = (FULL_OBJECT, COMPOSITE)

HEADER_PREFIX = "x-amz-checksum-"
TYPE_HEADER = "x-amz-checksum-type"
MODE_HEADER = "x-amz-checksum-mode"
SDK_ALGORITHM_HEADER = "x-amz-sdk-checksum-algorithm"
TRAILER_HEADER = "x-amz-trailer"
# x-amz-checksum-* headers that carry no value (modes, types, the multipart algorithm).
NON_VALUE_HEADERS = frozenset({TYPE_HEADER, MODE_HEADER, "x-amz-checksum-algorithm"})

# S3's own messages.
MULTIPLE_MESSAGE = (
    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
)
NO_VALUE_MESSAGE = (
    "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
    "or x-amz-trailer headers were found."
)
UNSUPPORTED_MESSAGE = (
    "Checksum algorithm provided is unsupported. Please try again with any of the valid "
    "types: [" + ", ".join(ALGORITHMS) + "]"
)
TRAILER_UNSUPPORTED_MESSAGE = "The value specified in the x-amz-trailer header is not supported"
MALFORMED_TRAILER_MESSAGE = (
    "The request contained trailing data that was not well-formed or did not conform to "
    "our published schema."
)

_crc32c: Callable[[bytes | bytearray, int], int] = _crt.crc32c
_crc64nvme: Callable[[bytes | bytearray, int], int] = _crt.crc64nvme


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


def header_name(algorithm: str) -> str:
    """``x-amz-checksum-crc32`` for ``CRC32``."""
    assert algorithm in DIGEST_BYTES, algorithm
    return HEADER_PREFIX + algorithm.lower()


def _algorithm_of(name: str) -> str | None:
    """``CRC32`` for ``x-amz-checksum-crc32``; None for an unknown suffix."""
    assert name.startswith(HEADER_PREFIX)
    algorithm = name[len(HEADER_PREFIX) :].upper()
    return algorithm if algorithm in DIGEST_BYTES else None


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


def malformed_trailer() -> S3Error:
    return S3Error("MalformedTrailerError", MALFORMED_TRAILER_MESSAGE)


@dataclass(frozen=True)
class ChecksumRequest:
    """What a PUT asks for: compute `algorithm` while streaming and compare it
    with `expected` (raw, from a header) or with the value of the trailer
    `trailer` (once the body has ended); exactly one of the two is set."""

    algorithm: str
    expected: bytes | None = None
    trailer: str | None = None

    def __post_init__(self) -> None:
        assert self.algorithm in DIGEST_BYTES, self.algorithm
        assert (self.expected is None) != (self.trailer is None)
        assert self.expected is None or len(self.expected) == DIGEST_BYTES[self.algorithm]


def parse_request(
    headers: Sequence[tuple[str, str]], *, trailers_allowed: bool
) -> ChecksumRequest | None:
    """The checksum a PUT's headers ask for; None when they ask for none.

    Args:
      headers: (lower-case name, value) pairs of the request.
      trailers_allowed: whether the body can carry trailers (an aws-chunked
        body whose x-amz-content-sha256 is one of the STREAMING-*-TRAILER modes).

    Raises (all InvalidRequest unless said otherwise, with S3's messages):
      more than one checksum value (headers and x-amz-trailer together); an
      x-amz-checksum-<alg> or x-amz-sdk-checksum-algorithm naming an algorithm
      S3 does not have; an x-amz-trailer naming anything but a checksum; a
      value that is not base64 of the digest length; x-amz-sdk-checksum-algorithm
      with no value to go with it; BadDigest when it names another algorithm
      than the value's; a trailer declared on a body that cannot carry one.
    """
    values: list[tuple[str, str]] = []
    trailers: list[tuple[str, str]] = []
    sdk_algorithm: str | None = None
    for name, value in headers:
        if name.startswith(HEADER_PREFIX) and name not in NON_VALUE_HEADERS:
            algorithm = _algorithm_of(name)
            if algorithm is None:
                raise S3Error("InvalidRequest", UNSUPPORTED_MESSAGE)
            values.append((algorithm, value))
        elif name == TRAILER_HEADER:
            for item in value.split(","):
                trailer = item.strip().lower()
                if not trailer:
                    continue
                algorithm = (
                    _algorithm_of(trailer) if trailer.startswith(HEADER_PREFIX) else None
                )
                if algorithm is None:
                    raise S3Error("InvalidRequest", TRAILER_UNSUPPORTED_MESSAGE)
                trailers.append((algorithm, trailer))
        elif name == SDK_ALGORITHM_HEADER:
            sdk_algorithm = value.strip().upper()
    if len(values) + len(trailers) > 1:
        raise S3Error("InvalidRequest", MULTIPLE_MESSAGE)
    if sdk_algorithm is not None and sdk_algorithm not in DIGEST_BYTES:
        raise S3Error("InvalidRequest", UNSUPPORTED_MESSAGE)
    if values:
        algorithm, text = values[0]
        request = ChecksumRequest(algorithm, expected=decode_value(algorithm, text))
    elif trailers:
        algorithm, trailer = trailers[0]
        if not trailers_allowed:
            raise malformed_trailer()
        request = ChecksumRequest(algorithm, trailer=trailer)
    elif sdk_algorithm is not None:
        raise S3Error("InvalidRequest", NO_VALUE_MESSAGE)
    else:
        return None
    if sdk_algorithm is not None and sdk_algorithm != request.algorithm:
        # S3 checks the body against the algorithm named, which cannot match.
        raise bad_digest(sdk_algorithm)
    return request


def expected_from_trailers(
    request: ChecksumRequest | None, trailers: Sequence[tuple[str, str]]
) -> bytes | None:
    """The raw value the declared checksum trailer brought (None if none was declared).

    Args:
      request: what `parse_request` returned for the request.
      trailers: the (lower-case name, value) trailers of the ended body.

    Raises: the malformed-trailer error when the declared trailer is missing
    or repeated, or a checksum trailer came that was not declared;
    InvalidRequest ("... trailing header is invalid.") for a bad value.
    """
    declared = request.trailer if request is not None else None
    found: list[str] = []
    for name, value in trailers:
        if name == declared:
            found.append(value)
        elif name.startswith(HEADER_PREFIX):
            raise malformed_trailer()
    if declared is None:
        return None
    assert request is not None
    if len(found) != 1:
        raise malformed_trailer()
    return decode_value(request.algorithm, found[0], trailing=True)


def bad_digest(algorithm: str) -> S3Error:
    return S3Error(
        "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
    )


def check(algorithm: str, expected: bytes, computed: bytes) -> None:
    """BadDigest unless the client's `expected` digest is the `computed` one."""
    if expected != computed:
        raise bad_digest(algorithm)


def mode_enabled(headers: Sequence[tuple[str, str]]) -> bool:
    """Whether a GET/HEAD asks for the checksum (``x-amz-checksum-mode: ENABLED``)."""
    return any(n == MODE_HEADER and v.strip().upper() == "ENABLED" for n, v in headers)


def response_headers(checksum: ChecksumValue) -> list[tuple[str, str]]:
    """``x-amz-checksum-<alg>`` and ``x-amz-checksum-type`` for a stored checksum
    (a COMPOSITE value reads ``<base64>-<N>``, which botocore does not validate)."""
    return [(checksum.header_name, checksum.text), (TYPE_HEADER, checksum.type)]


# -- multipart ------------------------------------------------------------------

ALGORITHM_HEADER = "x-amz-checksum-algorithm"
# Which checksum types each algorithm supports for a multipart upload.
MULTIPART_TYPES: dict[str, tuple[str, ...]] = {
    "CRC32": (COMPOSITE, FULL_OBJECT),
    "CRC32C": (COMPOSITE, FULL_OBJECT),
    "CRC64NVME": (FULL_OBJECT,),
    "SHA1": (COMPOSITE,),
    "SHA256": (COMPOSITE,),
}
CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")
TYPE_WITHOUT_ALGORITHM_MESSAGE = (
    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
)

_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": _crt.combine_crc32,
    "CRC32C": _crt.combine_crc32c,
    "CRC64NVME": _crt.combine_crc64nvme,
}


def parse_upload_checksum(headers: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """(algorithm, type) a CreateMultipartUpload asks for; None when it names none.

    The type defaults to COMPOSITE, except for CRC64NVME, which is only FULL_OBJECT.

    Raises (InvalidRequest, S3's messages): an unknown algorithm; an unknown
    type ("Value for x-amz-checksum-type header is invalid."); a type without
    an algorithm; a type the algorithm does not support ("The COMPOSITE
    checksum type cannot be used with the crc64nvme checksum algorithm.").
    """
    algorithm: str | None = None
    type_: str | None = None
    for name, value in headers:
        if name == ALGORITHM_HEADER:
            algorithm = value.strip().upper()
        elif name == TYPE_HEADER:
            type_ = value.strip().upper()
    if algorithm is not None and algorithm not in DIGEST_BYTES:
        raise S3Error("InvalidRequest", UNSUPPORTED_MESSAGE)
    if type_ is not None and type_ not in CHECKSUM_TYPES:
        raise S3Error("InvalidRequest", f"Value for {TYPE_HEADER} header is invalid.")
    if algorithm is None:
        if type_ is not None:
            raise S3Error("InvalidRequest", TYPE_WITHOUT_ALGORITHM_MESSAGE)
        return None
    allowed = MULTIPART_TYPES[algorithm]
    if type_ is None:
        type_ = allowed[0]
    if type_ not in allowed:
        raise S3Error(
            "InvalidRequest",
            f"The {type_} checksum type cannot be used with the "
            f"{algorithm.lower()} checksum algorithm.",
        )
    return algorithm, type_


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


def parse_object_value(algorithm: str, text: str, part_count: int) -> bytes:
    """The raw digest of a whole-object value sent with CompleteMultipartUpload
    (``<base64>`` or ``<base64>-<N>``); InvalidRequest if malformed or N is wrong."""
    value = text.strip()
    base, sep, count = value.rpartition("-")
    if sep:
        if not (count.isascii() and count.isdigit()) or int(count) != part_count:
            raise S3Error(
                "InvalidRequest", f"Value for {header_name(algorithm)} header is invalid."
            )
        value = base
    return decode_value(algorithm, value)
