"""Listing XML (ListObjects v1/v2, ListObjectVersions, paginated ListBuckets) as
botocore's parser and its encoding-type=url decoding read it."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore import handlers
from botocore.parsers import create_parser
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.listing import encoder, url_encode
from hamster.s3.xml import (
    ListedObject,
    list_buckets_xml,
    list_object_versions_xml,
    list_objects_v2_xml,
    list_objects_xml,
)

MODEL = botocore.session.get_session().get_service_model("s3")
OWNER = ("ab" * 32, "alice")
T0 = 1_700_000_000_123_456_789


def parse(operation: str, body: bytes) -> Any:
    op = MODEL.operation_model(operation)
    return create_parser("rest-xml").parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape
    )


def obj(key: str, size: int = 3) -> ListedObject:
    return ListedObject(
        key=key,
        last_modified_ns=T0,
        etag='"' + "0123456789abcdef" * 2 + '"',
        size=size,
        checksum_algorithm="CRC64NVME",
        checksum_type="FULL_OBJECT",
    )


def test_v1_page() -> None:
    body = list_objects_xml(
        bucket="photos",
        prefix="p/",
        marker="p/a",
        next_marker="p/c/",
        max_keys=2,
        delimiter="/",
        is_truncated=True,
        encoding_type=None,
        contents=[obj("p/b", 7)],
        common_prefixes=["p/c/"],
        owner=OWNER,
    )
    parsed = parse("ListObjects", body)
    assert parsed["Name"] == "photos" and parsed["Prefix"] == "p/" and parsed["Marker"] == "p/a"
    assert parsed["NextMarker"] == "p/c/" and parsed["IsTruncated"] is True
    assert parsed["MaxKeys"] == 2 and parsed["Delimiter"] == "/"
    [c] = parsed["Contents"]
    assert c["Key"] == "p/b" and c["Size"] == 7 and c["StorageClass"] == "STANDARD"
    assert c["ETag"] == '"' + "0123456789abcdef" * 2 + '"'
    assert c["LastModified"].isoformat() == "2023-11-14T22:13:20.123000+00:00"
    assert c["ChecksumAlgorithm"] == ["CRC64NVME"] and c["ChecksumType"] == "FULL_OBJECT"
    assert c["Owner"] == {"ID": OWNER[0], "DisplayName": "alice"}
    assert parsed["CommonPrefixes"] == [{"Prefix": "p/c/"}]
    assert b"<LastModified>2023-11-14T22:13:20.123Z</LastModified>" in body


def test_v1_without_delimiter_or_next_marker() -> None:
    body = list_objects_xml(
        bucket="b",
        prefix="",
        marker="",
        next_marker=None,
        max_keys=1000,
        delimiter=None,
        is_truncated=False,
        encoding_type=None,
        contents=[],
        common_prefixes=[],
        owner=OWNER,
    )
    parsed = parse("ListObjects", body)
    assert "Delimiter" not in parsed and "NextMarker" not in parsed and "Contents" not in parsed
    assert parsed["IsTruncated"] is False and parsed["Prefix"] == "" and parsed["Marker"] == ""


def test_v2_page() -> None:
    body = list_objects_v2_xml(
        bucket="photos",
        prefix="",
        continuation_token="tok1",
        next_continuation_token="tok2",
        key_count=2,
        max_keys=2,
        delimiter="/",
        start_after="a",
        is_truncated=True,
        encoding_type=None,
        contents=[obj("b")],
        common_prefixes=["c/"],
        owner=None,
    )
    parsed = parse("ListObjectsV2", body)
    assert parsed["ContinuationToken"] == "tok1" and parsed["NextContinuationToken"] == "tok2"
    assert parsed["KeyCount"] == 2 and parsed["StartAfter"] == "a"
    assert "Owner" not in parsed["Contents"][0]
    assert parsed["CommonPrefixes"] == [{"Prefix": "c/"}]
    with_owner = list_objects_v2_xml(
        bucket="photos",
        prefix="",
        continuation_token=None,
        next_continuation_token=None,
        key_count=1,
        max_keys=1000,
        delimiter=None,
        start_after=None,
        is_truncated=False,
        encoding_type=None,
        contents=[obj("b")],
        common_prefixes=[],
        owner=OWNER,
    )
    parsed = parse("ListObjectsV2", with_owner)
    assert parsed["Contents"][0]["Owner"]["ID"] == OWNER[0]
    assert "ContinuationToken" not in parsed and "StartAfter" not in parsed


def test_versions_page() -> None:
    body = list_object_versions_xml(
        bucket="b",
        prefix="",
        key_marker="a",
        version_id_marker="null",
        next_key_marker="c",
        next_version_id_marker="null",
        max_keys=1,
        delimiter=None,
        is_truncated=True,
        encoding_type=None,
        versions=[obj("c", 9)],
        common_prefixes=[],
        owner=OWNER,
    )
    parsed = parse("ListObjectVersions", body)
    [v] = parsed["Versions"]
    assert v["Key"] == "c" and v["VersionId"] == "null" and v["IsLatest"] is True
    assert v["Size"] == 9 and v["Owner"]["ID"] == OWNER[0]
    assert v["ChecksumAlgorithm"] == ["CRC64NVME"]
    assert parsed["KeyMarker"] == "a" and parsed["VersionIdMarker"] == "null"
    assert parsed["NextKeyMarker"] == "c" and parsed["NextVersionIdMarker"] == "null"
    assert "DeleteMarkers" not in parsed


def test_list_buckets_pagination_elements() -> None:
    body = list_buckets_xml(OWNER[0], "alice", [("b1", T0)], continuation_token="next", prefix="b")
    parsed = parse("ListBuckets", body)
    assert parsed["ContinuationToken"] == "next" and parsed["Prefix"] == "b"
    assert [b["Name"] for b in parsed["Buckets"]] == ["b1"]
    plain = parse("ListBuckets", list_buckets_xml(OWNER[0], "alice", []))
    assert "ContinuationToken" not in plain and "Prefix" not in plain


KEY_CHARS = st.characters(exclude_categories=["Cs"])


@given(st.lists(st.text(KEY_CHARS, min_size=1, max_size=12), max_size=5), st.text(KEY_CHARS))
def test_url_encoded_v1_round_trips_through_botocore(keys: list[str], prefix: str) -> None:
    """Every string botocore decodes comes back exact, control characters included."""
    enc = encoder("url")
    body = list_objects_xml(
        bucket="b",
        prefix=enc(prefix),
        marker=enc(prefix + "+"),
        next_marker=enc(prefix + " %"),
        max_keys=1000,
        delimiter=enc("+ "),
        is_truncated=True,
        encoding_type="url",
        contents=[obj(enc(k)) for k in keys],
        common_prefixes=[enc(k + "/") for k in keys],
        owner=OWNER,
    )
    parsed = parse("ListObjects", body)
    handlers.decode_list_object(parsed, context={"encoding_type_auto_set": True})
    assert parsed["Prefix"] == enc(prefix)  # v1's Prefix is not decoded by botocore
    assert parsed["Marker"] == prefix + "+"
    assert parsed["NextMarker"] == prefix + " %"
    assert parsed["Delimiter"] == "+ "
    assert [c["Key"] for c in parsed.get("Contents", [])] == keys
    assert [p["Prefix"] for p in parsed.get("CommonPrefixes", [])] == [k + "/" for k in keys]


@given(st.lists(st.text(KEY_CHARS, min_size=1, max_size=12), max_size=5), st.text(KEY_CHARS))
def test_url_encoded_v2_and_versions_round_trip(keys: list[str], prefix: str) -> None:
    body = list_objects_v2_xml(
        bucket="b",
        prefix=url_encode(prefix),
        continuation_token=None,
        next_continuation_token=None,
        key_count=len(keys),
        max_keys=1000,
        delimiter=url_encode("é"),
        start_after=url_encode(prefix + "%20"),
        is_truncated=False,
        encoding_type="url",
        contents=[obj(url_encode(k)) for k in keys],
        common_prefixes=[],
        owner=None,
    )
    parsed = parse("ListObjectsV2", body)
    handlers.decode_list_object_v2(parsed, context={"encoding_type_auto_set": True})
    assert parsed["Prefix"] == prefix and parsed["Delimiter"] == "é"
    assert parsed["StartAfter"] == prefix + "%20"
    assert [c["Key"] for c in parsed.get("Contents", [])] == keys
    body = list_object_versions_xml(
        bucket="b",
        prefix=url_encode(prefix),
        key_marker=url_encode(prefix),
        version_id_marker="",
        next_key_marker=url_encode(prefix + "+"),
        next_version_id_marker=None,
        max_keys=1000,
        delimiter=None,
        is_truncated=True,
        encoding_type="url",
        versions=[obj(url_encode(k)) for k in keys],
        common_prefixes=[url_encode(k) for k in keys],
        owner=OWNER,
    )
    parsed = parse("ListObjectVersions", body)
    handlers.decode_list_object_versions(parsed, context={"encoding_type_auto_set": True})
    assert parsed["KeyMarker"] == prefix and parsed["NextKeyMarker"] == prefix + "+"
    assert [v["Key"] for v in parsed.get("Versions", [])] == keys
    assert [p["Prefix"] for p in parsed.get("CommonPrefixes", [])] == keys
