"""Multipart XML: parsing CompleteMultipartUpload (as botocore writes it, and
malformed), and the result documents as botocore's parser reads them."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.s3.xml import (
    CompletedPart,
    ListedPart,
    ListedUpload,
    complete_multipart_upload_xml,
    initiate_multipart_upload_xml,
    list_multipart_uploads_xml,
    list_parts_xml,
    parse_complete_multipart_upload,
)

MODEL = botocore.session.get_session().get_service_model("s3")


def botocore_body(parts: list[dict[str, Any]]) -> bytes:
    op = MODEL.operation_model("CompleteMultipartUpload")
    request = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "Key": "k", "UploadId": "u", "MultipartUpload": {"Parts": parts}}, op
    )
    body: bytes = request["body"]
    return body


def botocore_parse(operation: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    op = MODEL.operation_model(operation)
    return create_parser("rest-xml").parse(
        {"status_code": 200, "headers": headers or {}, "body": body}, op.output_shape
    )


def test_parses_what_botocore_sends() -> None:
    body = botocore_body(
        [
            {"PartNumber": 1, "ETag": '"' + "0123456789abcdef" * 2 + '"', "ChecksumCRC32": "AA=="},
            {"PartNumber": 3, "ETag": "fedcba9876543210fedcba9876543210"},
            {"PartNumber": 2, "ETag": '"x"', "ChecksumSHA256": "q" * 43 + "="},
        ]
    )
    assert parse_complete_multipart_upload(body) == [
        CompletedPart(1, "0123456789abcdef0123456789abcdef", (("CRC32", "AA=="),)),
        CompletedPart(3, "fedcba9876543210fedcba9876543210"),
        CompletedPart(2, "x", (("SHA256", "q" * 43 + "="),)),
    ]


def test_ten_thousand_parts_with_sha256_fit() -> None:
    parts = [
        {"PartNumber": n, "ETag": '"' + "a" * 32 + '"', "ChecksumSHA256": "A" * 43 + "="}
        for n in range(1, 10001)
    ]
    body = botocore_body(parts)
    assert len(body) > 1 << 20
    assert len(parse_complete_multipart_upload(body)) == 10000


def test_without_namespace_and_with_whitespace() -> None:
    body = b"""<?xml version="1.0"?>
    <CompleteMultipartUpload>
      <Part> <ETag> "abc" </ETag> <PartNumber> 7 </PartNumber> </Part>
    </CompleteMultipartUpload>"""
    assert parse_complete_multipart_upload(body) == [CompletedPart(7, "abc")]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<CompleteMultipartUpload>",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"<Delete><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Delete>",
        b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>"
        b"</CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1.5</PartNumber></Part>"
        b"</CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>99999999999999</PartNumber></Part>"
        b"</CompleteMultipartUpload>",
        b'<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload><Part><PartNumber>1'
        b"</PartNumber><ETag>&a;</ETag></Part></CompleteMultipartUpload>",
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(S3Error) as e:
        parse_complete_multipart_upload(body)
    assert e.value.code == "MalformedXML"


def one_part(number: str, etag: str = "e", extra: str = "") -> bytes:
    return (
        f"<CompleteMultipartUpload><Part><PartNumber>{number}</PartNumber>"
        f"<ETag>{etag}</ETag>{extra}</Part></CompleteMultipartUpload>"
    ).encode()


@pytest.mark.parametrize(
    "number", ["--5", "-", "5-", "X5", "+-5", "1 2", "\u0663", "1234567890", "-1234567890", ""]
)
def test_part_number_that_is_not_a_decimal_integer(number: str) -> None:
    """MalformedXML (not a crash: ``--5`` used to pass the check and fail int())."""
    with pytest.raises(S3Error) as e:
        parse_complete_multipart_upload(one_part(number))
    assert e.value.code == "MalformedXML"


@pytest.mark.parametrize(
    ("number", "parsed"),
    [("1", 1), ("007", 7), ("123456789", 123456789), ("-5", -5), ("-123456789", -123456789)],
)
def test_part_numbers_out_of_range_are_the_callers_to_refuse(number: str, parsed: int) -> None:
    assert parse_complete_multipart_upload(one_part(number)) == [CompletedPart(parsed, "e")]


@pytest.mark.parametrize(
    ("etag", "parsed"),
    [('""', ""), ('"', '"'), ('"a', '"a'), ('a"', 'a"'), ('"a"', "a"), ('""a""', '"a"')],
)
def test_etag_loses_one_pair_of_quotes(etag: str, parsed: str) -> None:
    assert parse_complete_multipart_upload(one_part("2", etag)) == [CompletedPart(2, parsed)]


def test_part_checksums_in_order_and_empty_ones_kept() -> None:
    body = one_part(
        "3",
        extra="<ChecksumSHA1> c2hhMQ== </ChecksumSHA1><ChecksumCRC32/>"
        "<ChecksumCRC64NVME>Y3JjNjQ=</ChecksumCRC64NVME><Other>x</Other>",
    )
    assert parse_complete_multipart_upload(body) == [
        CompletedPart(3, "e", (("SHA1", "c2hhMQ=="), ("CRC32", ""), ("CRC64NVME", "Y3JjNjQ=")))
    ]


@pytest.mark.parametrize(
    "element",
    ["ChecksumSHA512", "ChecksumMD5", "ChecksumXXHASH64", "ChecksumXXHASH3", "ChecksumXXHASH128"],
)
def test_a_checksum_this_server_does_not_have(element: str) -> None:
    body = one_part("1", extra=f"<{element}>AAAA</{element}>")
    with pytest.raises(S3Error) as e:
        parse_complete_multipart_upload(body)
    assert e.value.code == "InvalidRequest"
    assert e.value.text == f"The {element} part checksum is not supported."


def test_a_checksum_this_server_does_not_have_as_botocore_sends_it() -> None:
    body = botocore_body([{"PartNumber": 1, "ETag": "a", "ChecksumSHA512": "AAAA"}])
    with pytest.raises(S3Error) as e:
        parse_complete_multipart_upload(body)
    assert e.value.code == "InvalidRequest"


def test_too_large() -> None:
    with pytest.raises(S3Error) as e:
        parse_complete_multipart_upload(b"<CompleteMultipartUpload/>", max_bytes=10)
    assert e.value.code == "MalformedXML"


def _xml_char(c: str) -> bool:
    """A character XML 1.0 can carry (its production [2] Char)."""
    n = ord(c)
    return n in (0x9, 0xA, 0xD) or 0x20 <= n <= 0xD7FF or 0xE000 <= n <= 0xFFFD or n >= 0x10000


@given(st.lists(st.tuples(st.integers(-5, 20000), st.text(max_size=40)), min_size=1, max_size=20))
def test_round_trip_through_botocore(parts: list[tuple[int, str]]) -> None:
    body = botocore_body([{"PartNumber": n, "ETag": etag} for n, etag in parts])
    if not all(_xml_char(c) for _, etag in parts for c in etag):
        # botocore writes the character anyway; no XML parser may read it.
        with pytest.raises(S3Error) as e:
            parse_complete_multipart_upload(body)
        assert e.value.code == "MalformedXML"
        return
    parsed = parse_complete_multipart_upload(body)
    assert [p.part_number for p in parsed] == [n for n, _ in parts]
    assert all(p.checksums == () for p in parsed)
    for got, (_, etag) in zip(parsed, parts, strict=True):
        stripped = etag.strip().replace("\r\n", "\n").replace("\r", "\n")
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            stripped = stripped[1:-1]
        assert got.etag == stripped


def test_results_read_by_botocore() -> None:
    got = botocore_parse("CreateMultipartUpload", initiate_multipart_upload_xml("b", "k/é", "u1"))
    assert (got["Bucket"], got["Key"], got["UploadId"]) == ("b", "k/é", "u1")

    done = botocore_parse(
        "CompleteMultipartUpload",
        complete_multipart_upload_xml(
            location="/b/k",
            bucket="b",
            key="k",
            etag='"abc-2"',
            checksum=("CRC32", "AAAAAA==-2"),
            checksum_type="COMPOSITE",
        ),
    )
    assert done["ETag"] == '"abc-2"'
    assert done["ChecksumCRC32"] == "AAAAAA==-2" and done["ChecksumType"] == "COMPOSITE"

    listed = botocore_parse(
        "ListParts",
        list_parts_xml(
            bucket="b",
            key="k",
            upload_id="u",
            part_number_marker=0,
            next_part_number_marker=2,
            max_parts=2,
            is_truncated=True,
            parts=[
                ListedPart(1, 1_700_000_000_000_000_000, '"e1"', 5, ("CRC32C", "AAAAAA==")),
                ListedPart(2, 1_700_000_000_000_000_000, '"e2"', 6),
            ],
            owner_id="id",
            owner_display_name="alice",
            checksum_algorithm="CRC32C",
            checksum_type="COMPOSITE",
        ),
    )
    assert listed["IsTruncated"] is True and listed["NextPartNumberMarker"] == 2
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    assert listed["Parts"][0]["ChecksumCRC32C"] == "AAAAAA==" and listed["Parts"][1]["Size"] == 6
    assert listed["ChecksumAlgorithm"] == "CRC32C" and listed["Owner"]["DisplayName"] == "alice"

    uploads = botocore_parse(
        "ListMultipartUploads",
        list_multipart_uploads_xml(
            bucket="b",
            key_marker="",
            upload_id_marker="",
            next_key_marker="k",
            next_upload_id_marker="u",
            prefix="",
            delimiter="/",
            max_uploads=2,
            is_truncated=True,
            uploads=[ListedUpload("k", "u", 1_700_000_000_000_000_000, "SHA1", "COMPOSITE")],
            common_prefixes=["dir/"],
            owner_id="id",
            owner_display_name="alice",
            encoding_type=None,
        ),
    )
    first = uploads["Uploads"][0]
    assert first["Key"] == "k" and first["ChecksumAlgorithm"] == "SHA1"
    assert uploads["CommonPrefixes"] == [{"Prefix": "dir/"}]
    assert (uploads["NextKeyMarker"], uploads["NextUploadIdMarker"]) == ("k", "u")
