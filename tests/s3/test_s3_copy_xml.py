"""CopyObjectResult and CopyPartResult as botocore's parser reads them."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.session
from botocore.parsers import create_parser
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.xml import (
    S3_NS,
    copy_object_result_xml,
    copy_part_result_xml,
    empty_tagging_xml,
    parse_xml,
)

MODEL = botocore.session.get_session().get_service_model("s3")
T_NS = 1_700_000_000_123_000_000  # 2023-11-14T22:13:20.123Z
ETAG = '"9b2cf535f27731c974343645a3985328"'


def parse(operation: str, body: bytes) -> Any:
    op = MODEL.operation_model(operation)
    return create_parser("rest-xml").parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape
    )


def test_copy_object_result() -> None:
    body = copy_object_result_xml(
        etag=ETAG,
        last_modified_ns=T_NS,
        checksum=("CRC64NVME", "AAAAAAAAAAA="),
        checksum_type="FULL_OBJECT",
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult xmlns="')
    result = parse("CopyObject", body)["CopyObjectResult"]
    assert result == {
        "ETag": ETAG,
        "LastModified": datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=datetime.UTC),
        "ChecksumType": "FULL_OBJECT",
        "ChecksumCRC64NVME": "AAAAAAAAAAA=",
    }
    root = parse_xml(body)
    assert [c.tag for c in root] == ["ETag", "LastModified", "ChecksumType", "ChecksumCRC64NVME"]


def test_copy_object_result_without_checksum() -> None:
    body = copy_object_result_xml(
        etag=ETAG, last_modified_ns=T_NS, checksum=None, checksum_type=None
    )
    result = parse("CopyObject", body)["CopyObjectResult"]
    assert set(result) == {"ETag", "LastModified"}


def test_copy_part_result() -> None:
    body = copy_part_result_xml(
        etag=ETAG, last_modified_ns=T_NS, checksum=("SHA256", "x" * 43 + "=")
    )
    assert S3_NS.encode() in body
    result = parse("UploadPartCopy", body)["CopyPartResult"]
    assert result["ETag"] == ETAG
    assert result["ChecksumSHA256"] == "x" * 43 + "="
    assert "ChecksumType" not in result
    assert parse_xml(body).tag == "CopyPartResult"


@given(
    algorithm=st.sampled_from(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]),
    value=st.text("ABCxyz019+/=", min_size=1, max_size=44),
    ns=st.integers(0, 4_102_444_800 * 10**9),
)
def test_every_checksum_element_reads_back(algorithm: str, value: str, ns: int) -> None:
    for operation, body in (
        (
            "CopyObject",
            copy_object_result_xml(
                etag=ETAG,
                last_modified_ns=ns,
                checksum=(algorithm, value),
                checksum_type="FULL_OBJECT",
            ),
        ),
        (
            "UploadPartCopy",
            copy_part_result_xml(etag=ETAG, last_modified_ns=ns, checksum=(algorithm, value)),
        ),
    ):
        shape = "CopyObjectResult" if operation == "CopyObject" else "CopyPartResult"
        result = parse(operation, body)[shape]
        assert result["Checksum" + algorithm] == value
        assert int(result["LastModified"].timestamp()) == ns // 10**9


def test_empty_tagging() -> None:
    body = empty_tagging_xml()
    assert parse("GetObjectTagging", body)["TagSet"] == []
    root = parse_xml(body)
    assert (root.tag, [c.tag for c in root]) == ("Tagging", ["TagSet"])
