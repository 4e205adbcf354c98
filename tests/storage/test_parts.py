"""The pure multipart rules: part selection, ETag and checksum math, and the
checksum helpers of CreateMultipartUpload / CompleteMultipartUpload."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.s3 import checksums
from hamster.s3.errors import S3Error
from hamster.storage.parts import (
    CompletedPart,
    multipart_etag,
    object_checksum,
    parse_part_number,
    select_parts,
)
from hamster.storage.records import PartInfo

UPLOAD = "0" * 32


def info(n: int, data: bytes, algorithm: str = "CRC64NVME") -> PartInfo:
    digest = integrity.compute(algorithm, data)
    md5 = hashlib.md5(data).hexdigest()
    return PartInfo(n, f"{n:032x}", len(data), md5, 1, ChecksumValue(algorithm, digest))


def req(p: PartInfo, *sums: tuple[str, str]) -> CompletedPart:
    return CompletedPart(p.part_number, p.etag, tuple(sums))


def code(excinfo: pytest.ExceptionInfo[S3Error]) -> str:
    return excinfo.value.code


# --- ETag ---------------------------------------------------------------------


def test_multipart_etag_known_values() -> None:
    empty = hashlib.md5(b"").hexdigest()
    assert multipart_etag([empty, empty]) == "5873dd45edd01f09c1ef2e7819369e8e-2"
    single = hashlib.md5(b"x").hexdigest()
    assert multipart_etag([single]) == hashlib.md5(hashlib.md5(b"x").digest()).hexdigest() + "-1"


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=20))
def test_multipart_etag_is_md5_of_md5s(pieces: list[bytes]) -> None:
    etags = [hashlib.md5(p).hexdigest() for p in pieces]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in pieces)).hexdigest()
    assert multipart_etag(etags) == f"{expected}-{len(pieces)}"


# --- checksums ----------------------------------------------------------------


def test_composite_known_value() -> None:
    parts = [info(1, b"a", "CRC32"), info(2, b"b", "CRC32")]
    value = object_checksum("CRC32", "COMPOSITE", parts)
    assert value.text == "7pJxdw==-2"
    assert value.type == "COMPOSITE" and value.part_count == 2
    # A FULL_OBJECT CRC32 of the same parts is the CRC32 of "ab".
    assert object_checksum("CRC32", "FULL_OBJECT", parts).text == "noNIbQ=="


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite_is_the_checksum_of_the_part_checksums(algorithm: str) -> None:
    pieces = [b"x" * 100, b"y" * 7, b""]
    parts = [info(i + 1, p, algorithm) for i, p in enumerate(pieces)]
    raw = b"".join(integrity.compute(algorithm, p) for p in pieces)
    value = object_checksum(algorithm, "COMPOSITE", parts)
    assert value.value == integrity.compute(algorithm, raw)
    assert value.text == base64.b64encode(value.value).decode() + "-3"
    assert checksums.response_headers(value) == [
        (f"x-amz-checksum-{algorithm.lower()}", value.text),
        ("x-amz-checksum-type", "COMPOSITE"),
    ]


@given(
    algorithm=st.sampled_from(["CRC32", "CRC32C", "CRC64NVME"]),
    pieces=st.lists(st.binary(max_size=300), min_size=1, max_size=8),
)
def test_full_object_crc_combines_without_reading(algorithm: str, pieces: list[bytes]) -> None:
    parts = [info(i + 1, p, algorithm) for i, p in enumerate(pieces)]
    value = object_checksum(algorithm, "FULL_OBJECT", parts)
    assert value == ChecksumValue(algorithm, integrity.compute(algorithm, b"".join(pieces)))
    assert value.text == value.b64  # no -N on a FULL_OBJECT checksum


def test_no_algorithm_defaults_to_crc64nvme_full_object() -> None:
    parts = [info(1, b"hello "), info(2, b"world")]
    value = object_checksum(None, None, parts)
    assert value == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", b"hello world"))


def test_combine_crc32_matches_zlib() -> None:
    a, b = b"123456789", b"abc"
    value = integrity.combine_crc(
        "CRC32", [(zlib.crc32(a).to_bytes(4, "big"), 9), (zlib.crc32(b).to_bytes(4, "big"), 3)]
    )
    assert value.value == zlib.crc32(a + b).to_bytes(4, "big")


def test_parse_object_value() -> None:
    raw = b"\x01\x02\x03\x04"
    text = base64.b64encode(raw).decode()
    assert integrity.parse_object_value("CRC32", text, 3) == raw
    assert integrity.parse_object_value("CRC32", text + "-3", 3) == raw
    # "\xb2" (superscript two, a latin-1 header byte) is isdigit() but not int().
    for bad in (text + "-2", text + "-x", "nope", text + "--3", text + "-\xb2", text + "-", "-3"):
        with pytest.raises(S3Error) as e:
            integrity.parse_object_value("CRC32", bad, 3)
        assert (e.value.code, e.value.status) == ("InvalidRequest", 400), bad
        assert e.value.text == "Value for x-amz-checksum-crc32 header is invalid.", bad


# --- part numbers and selection -----------------------------------------------


@pytest.mark.parametrize("text", ["1", "10000", "00042"])
def test_part_numbers(text: str) -> None:
    assert parse_part_number(text) == int(text)


@pytest.mark.parametrize("text", [None, "", "0", "10001", "-1", "1.5", "x", "١"])
def test_bad_part_numbers(text: str | None) -> None:
    with pytest.raises(S3Error) as e:
        parse_part_number(text)
    assert e.value.code == "InvalidArgument"
    assert e.value.text == "Part number must be an integer between 1 and 10000, inclusive"


def test_select_parts_in_order_with_small_last() -> None:
    a, b, c = info(1, b"x" * 10), info(3, b"y" * 10), info(7, b"z")
    uploaded = {1: a, 3: b, 7: c, 9: info(9, b"unused")}
    chosen = select_parts(
        [req(a), req(b), req(c)], uploaded, upload_id=UPLOAD, algorithm=None, min_part_bytes=10
    )
    assert chosen == [a, b, c]


def test_select_parts_refusals() -> None:
    a, small, b = info(1, b"x" * 10), info(2, b"z"), info(3, b"y" * 10)
    uploaded = {1: a, 2: small, 3: b}

    def refuse(parts: list[CompletedPart], algorithm: str | None = None) -> S3Error:
        with pytest.raises(S3Error) as e:
            select_parts(parts, uploaded, upload_id=UPLOAD, algorithm=algorithm, min_part_bytes=10)
        return e.value

    assert refuse([]).code == "MalformedXML"
    assert refuse([req(b), req(a)]).code == "InvalidPartOrder"
    assert refuse([req(a), req(a)]).code == "InvalidPartOrder"
    assert refuse([CompletedPart(0, a.etag)]).code == "InvalidArgument"
    unknown = refuse([req(a), CompletedPart(4, b.etag)])
    assert unknown.code == "InvalidPart"
    assert unknown.extra == {"UploadId": UPLOAD, "PartNumber": "4", "ETag": b.etag}
    assert refuse([req(a), CompletedPart(10001, b.etag)]).code == "InvalidPart"
    assert refuse([CompletedPart(1, "0" * 32)]).code == "InvalidPart"
    too_small = refuse([req(a), req(small), req(b)])
    assert too_small.code == "EntityTooSmall"
    assert too_small.extra is not None and too_small.extra["ProposedSize"] == "1"
    # Order is checked before anything else, as S3 does.
    assert refuse([req(small), CompletedPart(1, "bad")]).code == "InvalidPartOrder"
    assert [p.part_number for p in select_parts(
        [req(a), req(small)], uploaded, upload_id=UPLOAD, algorithm=None, min_part_bytes=10
    )] == [1, 2]


def test_select_parts_checksums() -> None:
    a = info(1, b"x" * 10, "CRC32")
    uploaded = {1: a}
    assert a.checksum is not None
    good = ("CRC32", a.checksum.b64)

    def outcome(part: CompletedPart, algorithm: str | None) -> str:
        try:
            select_parts([part], uploaded, upload_id=UPLOAD, algorithm=algorithm)
        except S3Error as e:
            return e.code
        return "ok"

    assert outcome(req(a, good), "CRC32") == "ok"
    assert outcome(req(a), "CRC32") == "InvalidRequest"  # missing
    assert outcome(req(a, ("CRC32", "AAAAAA==")), "CRC32") == "InvalidPart"
    assert outcome(req(a, ("CRC32", "not base64!")), "CRC32") == "InvalidArgument"
    assert outcome(req(a, ("CRC32", "AAAA")), "CRC32") == "InvalidArgument"  # 3 bytes
    assert outcome(req(a, good, good), "CRC32") == "InvalidArgument"  # two checksums
    assert outcome(req(a, ("SHA1", base64.b64encode(b"\0" * 20).decode())), "CRC32") == (
        "BadDigest"
    )
    # An upload that named no algorithm takes no part checksum.
    assert outcome(req(a, good), None) == "InvalidPart"
    assert outcome(req(a), None) == "ok"


# --- the exact refusals (code, message, error details) -------------------------


def shake(label: str, size: int) -> bytes:
    """Position-dependent bytes of `size`, distinct per label."""
    return hashlib.shake_256(label.encode()).digest(size)


Answer = tuple[str, int, str, list[tuple[str, str]]]


def refusal(excinfo: pytest.ExceptionInfo[S3Error]) -> Answer:
    e = excinfo.value
    return e.code, e.status, e.text, list((e.extra or {}).items())


PART_NUMBER_TEXT = "Part number must be an integer between 1 and 10000, inclusive"
CHECKSUM_TEXT = "Invalid Base64 or multiple checksums present in request"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", "0"), ("10001", "10001"), ("x1", "x1"), (None, ""), ("", "")],
)
def test_bad_part_number_names_the_argument(text: str | None, value: str) -> None:
    # S3: <ArgumentName>partNumber</ArgumentName><ArgumentValue>0</ArgumentValue>.
    with pytest.raises(S3Error) as e:
        parse_part_number(text)
    assert refusal(e) == (
        "InvalidArgument",
        400,
        PART_NUMBER_TEXT,
        [("ArgumentName", "partNumber"), ("ArgumentValue", value)],
    )


def test_part_list_of_10000_parts_is_allowed_and_10001_is_not() -> None:
    uploaded = {n: PartInfo(n, f"{n:032x}", 0, f"{n:032x}", 1) for n in range(1, 10_002)}
    listed = [CompletedPart(n, f"{n:032x}") for n in range(1, 10_002)]

    def select(parts: list[CompletedPart]) -> list[PartInfo]:
        return select_parts(parts, uploaded, upload_id=UPLOAD, algorithm=None, min_part_bytes=0)

    assert [p.part_number for p in select(listed[:10_000])] == list(range(1, 10_001))
    with pytest.raises(S3Error) as e:
        select(listed)
    assert e.value.code == "MalformedXML"


def select_refusal(
    parts: list[CompletedPart],
    uploaded: dict[int, PartInfo],
    algorithm: str | None = None,
    min_part_bytes: int = 10,
) -> Answer:
    with pytest.raises(S3Error) as e:
        select_parts(
            parts, uploaded, upload_id=UPLOAD, algorithm=algorithm, min_part_bytes=min_part_bytes
        )
    return refusal(e)


def test_select_parts_refusal_details() -> None:
    a, small, b = info(1, shake("a", 10)), info(2, shake("s", 9)), info(3, shake("b", 10))
    uploaded = {1: a, 2: small, 3: b}
    assert select_refusal([CompletedPart(0, a.etag)], uploaded) == (
        "InvalidArgument",
        400,
        "PartNumber must be >= 1",
        [],
    )
    assert select_refusal([req(b), req(a)], uploaded) == (
        "InvalidPartOrder",
        400,
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
        [("UploadId", UPLOAD)],
    )
    # Every part but the last at least min_part_bytes: 9 of 10 is too small.
    assert select_refusal([req(a), req(small), req(b)], uploaded) == (
        "EntityTooSmall",
        400,
        "Your proposed upload is smaller than the minimum allowed object size.",
        [
            ("ProposedSize", "9"),
            ("MinSizeAllowed", "10"),
            ("PartNumber", "2"),
            ("ETag", small.etag),
        ],
    )
    # Exactly min_part_bytes is enough.
    assert select_parts(
        [req(a), req(b)], uploaded, upload_id=UPLOAD, algorithm=None, min_part_bytes=10
    ) == [a, b]


INVALID_PART_TEXT = (
    "One or more of the specified parts could not be found. The part may not have been "
    "uploaded, or the specified entity tag may not match the part's entity tag."
)


def test_part_checksum_refusal_details() -> None:
    a = info(1, shake("a", 10), "CRC32")
    assert a.checksum is not None
    uploaded = {1: a}
    good = ("CRC32", a.checksum.b64)
    invalid_part = (
        "InvalidPart",
        400,
        INVALID_PART_TEXT,
        [("UploadId", UPLOAD), ("PartNumber", "1"), ("ETag", a.etag)],
    )
    bad_base64: Answer = ("InvalidArgument", 400, CHECKSUM_TEXT, [])
    assert select_refusal([req(a, good, good)], uploaded, "CRC32") == bad_base64
    assert select_refusal([req(a, good, good)], uploaded, None) == bad_base64
    assert select_refusal([req(a, ("CRC32", "not base64!"))], uploaded, "CRC32") == bad_base64
    # Base64 with a stray character is refused, not decoded around it.
    stray = good[1][:2] + "!" + good[1][2:]
    assert select_refusal([req(a, ("CRC32", stray))], uploaded, "CRC32") == bad_base64
    # Valid base64 of the wrong length (3 bytes for a 4-byte CRC32).
    assert select_refusal([req(a, ("CRC32", "AAAA"))], uploaded, "CRC32") == bad_base64
    assert select_refusal([req(a, good)], uploaded, None) == invalid_part
    assert select_refusal([req(a, ("CRC32", "AAAAAA=="))], uploaded, "CRC32") == invalid_part
    assert select_refusal([req(a)], uploaded, "CRC32") == (
        "InvalidRequest",
        400,
        "The upload was created using a crc32 checksum. The complete request must include "
        "the checksum for each part. It was missing for part 1 in the request.",
        [],
    )
    sha1 = base64.b64encode(shake("sha1", 20)).decode()
    assert select_refusal([req(a, ("SHA1", sha1))], uploaded, "CRC32") == (
        "BadDigest",
        400,
        "The sha1 you specified for part 1 did not match what we received.",
        [],
    )


def test_part_checksum_is_compared_with_the_stored_algorithm_and_value() -> None:
    data = shake("p", 10)
    crc32 = integrity.compute("CRC32", data)
    sent = ("CRC32", base64.b64encode(crc32).decode())
    named = CompletedPart(1, "e" * 32, (sent,))
    # The same 4 bytes stored as a CRC32C, or no checksum stored: not that part.
    for stored in (ChecksumValue("CRC32C", crc32), None):
        uploaded = {1: PartInfo(1, "b" * 32, 10, "e" * 32, 1, stored)}
        assert select_refusal([named], uploaded, "CRC32") == (
            "InvalidPart",
            400,
            INVALID_PART_TEXT,
            [("UploadId", UPLOAD), ("PartNumber", "1"), ("ETag", "e" * 32)],
        )
    uploaded = {1: PartInfo(1, "b" * 32, 10, "e" * 32, 1, ChecksumValue("CRC32", crc32))}
    assert select_parts([named], uploaded, upload_id=UPLOAD, algorithm="CRC32") == [uploaded[1]]


def test_object_checksum_refuses_parts_of_another_algorithm_or_type() -> None:
    """The object's checksum is only ever made of the upload's own algorithm
    (a part of another would give a wrong checksum, silently)."""
    crc32 = [info(1, shake("a", 10), "CRC32"), info(2, shake("b", 3), "CRC32")]
    mixed = [crc32[0], info(2, shake("b", 3), "CRC32C")]
    unchecked = [crc32[0], PartInfo(2, "b" * 32, 3, "e" * 32, 1, None)]
    sha1 = [info(1, shake("a", 10), "SHA1")]
    for algorithm, checksum_type, parts in [
        ("CRC32", "COMPOSITE", mixed),
        ("CRC32", "FULL_OBJECT", mixed),
        ("CRC32", "FULL_OBJECT", unchecked),
        ("CRC32", None, crc32),  # a type is named with an algorithm
        ("SHA1", "FULL_OBJECT", sha1),  # FULL_OBJECT is a CRC's only
    ]:
        with pytest.raises(AssertionError):
            object_checksum(algorithm, checksum_type, parts)
