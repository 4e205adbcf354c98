"""S3's additional checksums (``x-amz-checksum-*``) on the wire, sans-I/O.

The algorithms and the value type are the leaf `hamster.integrity`; this
file holds what requests say about them:
- `parse_request`: what a PUT's headers ask for (a value now, in a header,
  or at the end of the body, in an aws-chunked trailer), with every refusal
  S3 gives for a malformed request;
- `expected_from_trailers`: the value a trailer brought, once the body ended;
- `response_headers`: what PUT/GET/HEAD say; `mode_enabled`: whether a
  GET/HEAD asks for it;
- multipart: `parse_upload_checksum` (CreateMultipartUpload's algorithm and
  type).

Values travel as base64 of the big-endian digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hamster.integrity import (
    ALGORITHMS,
    CHECKSUM_TYPES,
    COMPOSITE,
    DIGEST_BYTES,
    FULL_OBJECT,
    ChecksumValue,
    bad_digest,
    decode_value,
)
from hamster.integrity import (
    HEADER_PREFIX as HEADER_PREFIX,
)
from hamster.s3.errors import ERRORS, S3Error

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
MALFORMED_TRAILER_MESSAGE = ERRORS["MalformedTrailerError"][1]


def _algorithm_of(name: str) -> str | None:
    """``CRC32`` for ``x-amz-checksum-crc32``; None for an unknown suffix."""
    assert name.startswith(HEADER_PREFIX)
    algorithm = name[len(HEADER_PREFIX) :].upper()
    return algorithm if algorithm in DIGEST_BYTES else None


def malformed_trailer() -> S3Error:
    return S3Error("MalformedTrailerError")


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
TYPE_WITHOUT_ALGORITHM_MESSAGE = (
    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
)


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
