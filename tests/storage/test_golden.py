"""Golden files pin the byte encoding of every record type (see tests/golden/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf.message import Message

from hamster.auth.checksums import ChecksumValue
from hamster.storage import records
from hamster.storage.pb import records_pb2 as pb
from hamster.storage.records import BucketInfo, ObjectInfo

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
WRITE_MODE = os.environ.get("HAMSTER_WRITE_GOLDEN", "")

CASES: dict[str, Message] = {
    "bucket_record": pb.BucketRecord(
        format_version=1,
        name="photos-2024",
        owner="AKIAIOSFODNN7EXAMPLE",
        created_ns=1_700_000_000_123_456_789,
        location="eu-west-1",
    ),
    "object_record": pb.ObjectRecord(
        format_version=1,
        key="albums/été/IMG_0001.jpg",
        size=5_368_709_120,
        etag="9b2cf535f27731c974343645a3985328",
        blob_id="0123456789abcdef0123456789abcdef",
        last_modified_ns=1_700_000_001_000_000_000,
        content_type="image/jpeg",
        content_encoding="gzip",
        content_disposition='attachment; filename="a.jpg"',
        content_language="fr",
        cache_control="max-age=3600",
        expires="Thu, 01 Dec 2044 16:00:00 GMT",
        user_metadata=[
            pb.MetadataEntry(name="zeta", value="last first"),
            pb.MetadataEntry(name="alpha", value=""),
        ],
        checksums=[
            pb.Checksum(algorithm="CRC32C", value=bytes.fromhex("deadbeef"), type="FULL_OBJECT"),
        ],
        part_count=0,
    ),
    # Multipart etag, no optional headers: absent and empty must stay distinct.
    "object_record_minimal": pb.ObjectRecord(
        format_version=1,
        key="k",
        size=0,
        etag="d41d8cd98f00b204e9800998ecf8427e-3",
        blob_id="fedcba9876543210fedcba9876543210",
        last_modified_ns=1,
        content_type="",
        part_count=3,
    ),
    # A single PUT as this version writes it: the default CRC64NVME checksum.
    "object_record_checksum": pb.ObjectRecord(
        format_version=1,
        key="photos/2025/cat.png",
        size=9,
        etag="25f9e794323b453885f5181f1b624d0b",
        blob_id="00112233445566778899aabbccddeeff",
        last_modified_ns=1_750_000_000_000_000_000,
        content_type="image/png",
        checksums=[
            pb.Checksum(
                algorithm="CRC64NVME",
                value=bytes.fromhex("ae8b14860a799888"),
                type="FULL_OBJECT",
            ),
        ],
    ),
    "store_info": pb.StoreInfo(format_version=1, created_ns=1_600_000_000_000_000_000),
}


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.bin"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    message = CASES[name]
    encoded = message.SerializeToString(deterministic=True)
    path = golden_path(name)
    if WRITE_MODE and (not path.exists() or WRITE_MODE == "overwrite"):
        path.write_bytes(encoded)
    assert path.exists(), (
        f"missing golden file {path}; see tests/golden/README.md to write it deliberately"
    )
    golden = path.read_bytes()
    assert encoded == golden, f"encoding of {name} changed: records must stay readable"
    decoded = type(message).FromString(golden)
    assert decoded == message


def test_every_record_type_has_a_golden_case() -> None:
    covered = {type(m).DESCRIPTOR.name for m in CASES.values()}
    records_in_schema = {
        name for name, d in pb.DESCRIPTOR.message_types_by_name.items()
        if "format_version" in d.fields_by_name
    }
    assert records_in_schema <= covered


def test_golden_decodes_to_value_objects() -> None:
    bucket = records.decode_bucket(golden_path("bucket_record").read_bytes())
    assert bucket == BucketInfo(
        name="photos-2024",
        owner="AKIAIOSFODNN7EXAMPLE",
        created_ns=1_700_000_000_123_456_789,
        location="eu-west-1",
    )
    minimal = records.decode_object("bk", golden_path("object_record_minimal").read_bytes())
    assert minimal == ObjectInfo(
        bucket="bk",
        key="k",
        size=0,
        etag="d41d8cd98f00b204e9800998ecf8427e-3",
        last_modified_ns=1,
        content_type="",
        content_encoding=None,
        content_disposition=None,
        content_language=None,
        cache_control=None,
        expires=None,
        user_metadata=(),
        blob_id="fedcba9876543210fedcba9876543210",
    )
    assert minimal.checksum is None
    full = records.decode_object("bk", golden_path("object_record").read_bytes())
    assert full.user_metadata == (("zeta", "last first"), ("alpha", ""))
    assert full.expires == "Thu, 01 Dec 2044 16:00:00 GMT"
    assert full.size == 5_368_709_120
    assert full.checksum == ChecksumValue("CRC32C", bytes.fromhex("deadbeef"), "FULL_OBJECT")
    # Our encoder writes the same bytes the goldens pin.
    assert records.encode_object(full) == golden_path("object_record").read_bytes()
    assert records.encode_object(minimal, part_count=3) == (
        golden_path("object_record_minimal").read_bytes()
    )
    checked = records.decode_object("bk", golden_path("object_record_checksum").read_bytes())
    assert checked == ObjectInfo(
        bucket="bk",
        key="photos/2025/cat.png",
        size=9,
        etag="25f9e794323b453885f5181f1b624d0b",
        last_modified_ns=1_750_000_000_000_000_000,
        content_type="image/png",
        content_encoding=None,
        content_disposition=None,
        content_language=None,
        cache_control=None,
        expires=None,
        user_metadata=(),
        blob_id="00112233445566778899aabbccddeeff",
        checksum=ChecksumValue("CRC64NVME", bytes.fromhex("ae8b14860a799888"), "FULL_OBJECT"),
    )
    assert records.encode_object(checked) == golden_path("object_record_checksum").read_bytes()
    assert records.encode_bucket(bucket) == golden_path("bucket_record").read_bytes()
    assert records.encode_store_info(1_600_000_000_000_000_000) == (
        golden_path("store_info").read_bytes()
    )


def test_unknown_checksums_are_skipped_not_fatal() -> None:
    """A later version may store checksums this one does not know: the object
    stays readable, with the first checksum this version can serve."""
    rec = pb.ObjectRecord.FromString(golden_path("object_record_checksum").read_bytes())
    known = rec.checksums[0]
    del rec.checksums[:]
    rec.checksums.add(algorithm="XXHASH128", value=b"\x01" * 16, type="FULL_OBJECT")
    rec.checksums.add(algorithm="SHA256", value=b"short", type="FULL_OBJECT")
    rec.checksums.add(algorithm="CRC32", value=b"\x00" * 4, type="SOMETHING_NEW")
    rec.checksums.append(known)
    info = records.decode_object("bk", rec.SerializeToString(deterministic=True))
    assert info.checksum == ChecksumValue("CRC64NVME", known.value, "FULL_OBJECT")
    del rec.checksums[-1]
    assert records.decode_object("bk", rec.SerializeToString()).checksum is None
