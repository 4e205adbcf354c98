"""Multipart completion rules, sans-I/O: which parts make the object, its ETag
and its checksum.

`select_parts` checks a CompleteMultipartUpload part list against the parts
uploaded (S3's order of refusals: InvalidPartOrder, InvalidPart,
EntityTooSmall, the part checksums), `multipart_etag` is S3's
``hex(MD5(concat(binary part MD5s)))-N`` and `object_checksum` the COMPOSITE
or FULL_OBJECT checksum of the whole object, from the parts' stored
checksums only (no byte of data is read again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hamster import integrity
from hamster.integrity import COMPOSITE, FULL_OBJECT, ChecksumValue
from hamster.s3.errors import S3Error
from hamster.storage.records import PartInfo

__all__ = [
    "MIN_PART_BYTES",
    "CompletedPart",
    "multipart_etag",
    "object_checksum",
    "parse_part_number",
    "select_parts",
]

PART_NUMBER_MIN = 1
PART_NUMBER_MAX = 10_000
PARTS_PER_UPLOAD_MAX = 10_000
MIN_PART_BYTES = 5 * 1024**2

@dataclass(frozen=True)
class CompletedPart:
    """One part a CompleteMultipartUpload names (the api converts the parsed XML).

    Attributes:
      part_number: as sent (range checks are `select_parts`'s).
      etag: unquoted ("" when the client sent none).
      checksums: (algorithm, base64 text) of the part's checksums, in the order sent.
    """

    part_number: int
    etag: str
    checksums: tuple[tuple[str, str], ...] = ()


PART_NUMBER_MESSAGE = "Part number must be an integer between 1 and 10000, inclusive"
INVALID_PART_CHECKSUM_MESSAGE = "Invalid Base64 or multiple checksums present in request"


def parse_part_number(text: str | None) -> int:
    """The part number of an UploadPart query (InvalidArgument unless 1..10000)."""
    if text is None or not text.isascii() or not text.isdigit():
        raise S3Error("InvalidArgument", PART_NUMBER_MESSAGE, extra=_argument(text))
    number = int(text)
    if not PART_NUMBER_MIN <= number <= PART_NUMBER_MAX:
        raise S3Error("InvalidArgument", PART_NUMBER_MESSAGE, extra=_argument(text))
    return number


def _argument(value: str | None) -> dict[str, str]:
    return {"ArgumentName": "partNumber", "ArgumentValue": value or ""}


def _invalid_part(upload_id: str, part: CompletedPart) -> S3Error:
    return S3Error(
        "InvalidPart",
        extra={"UploadId": upload_id, "PartNumber": str(part.part_number), "ETag": part.etag},
    )


def select_parts(
    requested: Sequence[CompletedPart],
    uploaded: Mapping[int, PartInfo],
    *,
    upload_id: str,
    algorithm: str | None,
    min_part_bytes: int = MIN_PART_BYTES,
) -> list[PartInfo]:
    """The uploaded parts a CompleteMultipartUpload names, in order.

    Args:
      requested: the body's parts, in the order sent.
      uploaded: part number -> the part as uploaded.
      upload_id: for error details.
      algorithm: the upload's checksum algorithm (None: it named none).
      min_part_bytes: the smallest size allowed for every part but the last.

    Raises:
      MalformedXML: no part, or more than 10000.
      InvalidPartOrder: part numbers not strictly ascending.
      InvalidPart: a part number not uploaded (or out of range), an ETag that
        is not the part's, a part checksum that is not the part's, or any
        part checksum for an upload that named no algorithm.
      EntityTooSmall: a part but the last smaller than `min_part_bytes`.
      InvalidArgument: a part number below 1, a part checksum that is not
        base64 of the digest length, or several checksums for one part.
      InvalidRequest: a part without the checksum the upload's algorithm needs.
    """
    if not requested or len(requested) > PARTS_PER_UPLOAD_MAX:
        raise S3Error("MalformedXML")
    previous = 0
    for part in requested:
        if part.part_number < PART_NUMBER_MIN:
            raise S3Error("InvalidArgument", "PartNumber must be >= 1")
        if part.part_number <= previous:
            raise S3Error("InvalidPartOrder", extra={"UploadId": upload_id})
        previous = part.part_number
    chosen: list[PartInfo] = []
    last = len(requested) - 1
    for i, part in enumerate(requested):
        info = uploaded.get(part.part_number)
        if info is None or part.etag != info.etag:
            raise _invalid_part(upload_id, part)
        if i < last and info.size < min_part_bytes:
            raise S3Error(
                "EntityTooSmall",
                extra={
                    "ProposedSize": str(info.size),
                    "MinSizeAllowed": str(min_part_bytes),
                    "PartNumber": str(part.part_number),
                    "ETag": info.etag,
                },
            )
        _check_part_checksum(part, info, upload_id=upload_id, algorithm=algorithm)
        chosen.append(info)
    return chosen


def _check_part_checksum(
    part: CompletedPart, info: PartInfo, *, upload_id: str, algorithm: str | None
) -> None:
    if len(part.checksums) > 1:
        raise S3Error("InvalidArgument", INVALID_PART_CHECKSUM_MESSAGE)
    if algorithm is None:
        if part.checksums:
            raise _invalid_part(upload_id, part)
        return
    if not part.checksums:
        raise S3Error(
            "InvalidRequest",
            f"The upload was created using a {algorithm.lower()} checksum. The complete "
            "request must include the checksum for each part. It was missing for part "
            f"{part.part_number} in the request.",
        )
    sent_algorithm, text = part.checksums[0]
    raw = _decode_part_checksum(sent_algorithm, text)
    stored = info.checksum
    if sent_algorithm != algorithm:
        raise S3Error(
            "BadDigest",
            f"The {sent_algorithm.lower()} you specified for part {part.part_number} did not "
            "match what we received.",
        )
    if stored is None or stored.algorithm != algorithm or stored.value != raw:
        raise _invalid_part(upload_id, part)


def _decode_part_checksum(algorithm: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidArgument", INVALID_PART_CHECKSUM_MESSAGE) from None
    if len(raw) != integrity.DIGEST_BYTES[algorithm]:
        raise S3Error("InvalidArgument", INVALID_PART_CHECKSUM_MESSAGE)
    return raw


def multipart_etag(part_etags: Sequence[str]) -> str:
    """S3's ETag of a multipart object (unquoted): hex MD5 of the concatenated
    binary part MD5s, then ``-N``."""
    assert part_etags
    md5 = hashlib.md5(b"".join(bytes.fromhex(e) for e in part_etags))
    return f"{md5.hexdigest()}-{len(part_etags)}"


def object_checksum(
    algorithm: str | None, checksum_type: str | None, parts: Sequence[PartInfo]
) -> ChecksumValue:
    """The checksum of the object the `parts` make.

    COMPOSITE: `algorithm` over the concatenated part digests, ``-N``.
    FULL_OBJECT (a CRC): the CRC of the whole object, combined from the parts'
    CRCs and sizes. An upload that named no algorithm gets CRC64NVME
    FULL_OBJECT, as S3 does; every part of it carries a CRC64NVME.
    """
    if algorithm is None:
        algorithm, checksum_type = integrity.DEFAULT_ALGORITHM, FULL_OBJECT
    digests: list[bytes] = []
    for p in parts:
        assert p.checksum is not None and p.checksum.algorithm == algorithm, (p, algorithm)
        digests.append(p.checksum.value)
    if checksum_type == COMPOSITE:
        return integrity.composite(algorithm, digests)
    assert checksum_type == FULL_OBJECT and algorithm in integrity.CRC_ALGORITHMS
    sized = [(d, p.size) for d, p in zip(digests, parts, strict=True)]
    return integrity.combine_crc(algorithm, sized)
