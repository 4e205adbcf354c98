"""Golden files pin the byte encoding of every record type (see tests/golden/README.md)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from google.protobuf.message import Message

from hamster.integrity import ChecksumValue
from hamster.storage import records
from hamster.storage.pb import records_pb2 as pb
from hamster.storage.records import BucketInfo, ObjectInfo, PartInfo, UploadInfo

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
WRITE_MODE = os.environ.get("HAMSTER_WRITE_GOLDEN", "")

# Position-dependent: a misplaced byte shows.
INLINE_BYTES = bytes.fromhex("c66d0e49422ca2c78fdc31eecdada71ed21cb7956088e5bf99fd2dc0ed6b7a71")

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
    # Format 2 of the data directory: blobs placed after commit, with markers.
    "store_info_v2": pb.StoreInfo(format_version=2, created_ns=1_600_000_000_000_000_000),
    # The value of a placing (b"n/" + id) or removal (b"r/" + id) marker.
    "blob_marker": pb.BlobMarker(format_version=1),
    # A completed multipart upload: no blob of its own, the parts' blobs in order.
    "object_record_multipart": pb.ObjectRecord(
        format_version=1,
        key="backups/2025-06-01.tar",
        size=10_485_763,
        etag="8e9b8f4ec3a6d2a47a6b3b7a1b8e4f3c-2",
        blob_id="",
        last_modified_ns=1_750_000_100_000_000_000,
        content_type="application/x-tar",
        user_metadata=[pb.MetadataEntry(name="origin", value="cron")],
        checksums=[
            pb.Checksum(algorithm="CRC32", value=bytes.fromhex("0badf00d"), type="COMPOSITE"),
        ],
        part_count=2,
        parts=[
            pb.PartRef(
                part_number=1,
                blob_id="11111111111111111111111111111111",
                size=10_485_760,
                etag="0123456789abcdef0123456789abcdef",
                checksums=[
                    pb.Checksum(
                        algorithm="CRC32", value=bytes.fromhex("01020304"), type="FULL_OBJECT"
                    )
                ],
            ),
            pb.PartRef(
                part_number=3,
                blob_id="33333333333333333333333333333333",
                size=3,
                etag="fedcba9876543210fedcba9876543210",
                checksums=[
                    pb.Checksum(
                        algorithm="CRC32", value=bytes.fromhex("05060708"), type="FULL_OBJECT"
                    )
                ],
            ),
        ],
    ),
    # A multipart object as this version writes it: the upload that made it
    # (a repeated CompleteMultipartUpload of that upload answers success).
    "object_record_multipart_upload_id": pb.ObjectRecord(
        format_version=1,
        key="videos/été.mp4",
        size=5_242_881,
        etag="c3b1d2e4f5a6978812345678abcdef01-2",
        blob_id="",
        last_modified_ns=1_760_000_000_000_000_000,
        checksums=[
            pb.Checksum(
                algorithm="CRC64NVME", value=bytes.fromhex("0102030405060708"), type="FULL_OBJECT"
            ),
        ],
        part_count=2,
        parts=[
            pb.PartRef(
                part_number=1,
                blob_id="44444444444444444444444444444444",
                size=5_242_880,
                etag="00112233445566778899aabbccddeeff",
            ),
            pb.PartRef(
                part_number=2,
                blob_id="55555555555555555555555555555555",
                size=1,
                etag="ffeeddccbbaa99887766554433221100",
            ),
        ],
        upload_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ),
    # An inline object (a small PUT): its bytes in the record, no blob.
    "object_record_inline": pb.ObjectRecord(
        format_version=2,
        key="notes/été.txt",
        size=32,
        etag="b66056cd6d86827ccc238674cca3ffd4",
        last_modified_ns=1_770_000_000_000_000_000,
        content_type="text/plain",
        user_metadata=[pb.MetadataEntry(name="origin", value="phone")],
        checksums=[
            pb.Checksum(
                algorithm="CRC64NVME", value=bytes.fromhex("0c3e59f2cfb54a60"), type="FULL_OBJECT"
            ),
        ],
        inline_data=INLINE_BYTES,
        inline=True,
    ),
    # An empty inline object: only `inline` tells it from a blob object.
    "object_record_inline_empty": pb.ObjectRecord(
        format_version=2,
        key="empty",
        size=0,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        last_modified_ns=1_770_000_000_000_000_001,
        checksums=[
            pb.Checksum(
                algorithm="CRC64NVME", value=bytes.fromhex("0000000000000000"), type="FULL_OBJECT"
            ),
        ],
        inline=True,
    ),
    "upload_record": pb.UploadRecord(
        format_version=1,
        key="videos/été.mp4",
        upload_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        initiated_ns=1_750_000_000_000_000_001,
        initiator="AKIAIOSFODNN7EXAMPLE",
        content_type="video/mp4",
        cache_control="no-cache",
        user_metadata=[pb.MetadataEntry(name="camera", value="x100")],
        checksum_algorithm="CRC32C",
        checksum_type="FULL_OBJECT",
    ),
    # No algorithm named at creation: parts carry CRC64NVME.
    "upload_record_minimal": pb.UploadRecord(
        format_version=1,
        key="k",
        upload_id="ffffffffffffffffffffffffffffffff",
        initiated_ns=2,
        initiator="AKID",
    ),
    "part_record": pb.PartRecord(
        format_version=1,
        part_number=10_000,
        blob_id="abcdefabcdefabcdefabcdefabcdef00",
        size=5_368_709_120,
        etag="9b2cf535f27731c974343645a3985328",
        last_modified_ns=1_750_000_000_500_000_000,
        checksums=[
            pb.Checksum(
                algorithm="CRC64NVME", value=bytes.fromhex("ae8b14860a799888"), type="FULL_OBJECT"
            )
        ],
    ),
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
    # Records from before ObjectRecord.upload_id read as made by no upload.
    older = records.decode_object("bk", golden_path("object_record_multipart").read_bytes())
    assert older.upload_id == ""
    made = records.decode_object(
        "bk", golden_path("object_record_multipart_upload_id").read_bytes()
    )
    assert made.upload_id == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert [(p.part_number, p.size) for p in made.parts] == [(1, 5_242_880), (2, 1)]
    assert records.encode_object(made) == (
        golden_path("object_record_multipart_upload_id").read_bytes()
    )
    assert records.encode_store_info(1_600_000_000_000_000_000) == (
        golden_path("store_info_v2").read_bytes()
    )
    old = records.decode_store_info(golden_path("store_info").read_bytes())
    assert (old.format_version, old.created_ns) == (1, 1_600_000_000_000_000_000)
    assert records.MARKER_VALUE == golden_path("blob_marker").read_bytes()
    records.check_marker(golden_path("blob_marker").read_bytes())


def test_inline_goldens_decode_to_value_objects() -> None:
    info = records.decode_object("bk", golden_path("object_record_inline").read_bytes())
    assert info == ObjectInfo(
        bucket="bk",
        key="notes/été.txt",
        size=32,
        etag="b66056cd6d86827ccc238674cca3ffd4",
        last_modified_ns=1_770_000_000_000_000_000,
        content_type="text/plain",
        content_encoding=None,
        content_disposition=None,
        content_language=None,
        cache_control=None,
        expires=None,
        user_metadata=(("origin", "phone"),),
        blob_id="",
        checksum=ChecksumValue("CRC64NVME", bytes.fromhex("0c3e59f2cfb54a60"), "FULL_OBJECT"),
        inline_data=INLINE_BYTES,
    )
    assert hashlib.sha256(b"inline golden").digest() == INLINE_BYTES
    assert hashlib.md5(INLINE_BYTES).hexdigest() == info.etag
    assert info.blob_ids == []
    assert records.encode_object(info) == golden_path("object_record_inline").read_bytes()
    empty = records.decode_object("bk", golden_path("object_record_inline_empty").read_bytes())
    assert (empty.inline_data, empty.size, empty.blob_ids) == (b"", 0, [])
    assert records.encode_object(empty) == golden_path("object_record_inline_empty").read_bytes()
    for name in ("object_record_inline", "object_record_inline_empty"):
        key = records.object_key("bk", "k")
        assert records.record_blob_ids(key, golden_path(name).read_bytes()) == []
    # The records from before inline objects are no inline objects.
    for name in ("object_record", "object_record_minimal", "object_record_checksum"):
        old = records.decode_object("bk", golden_path(name).read_bytes())
        assert old.inline_data is None and old.blob_ids == [old.blob_id]


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


def test_multipart_goldens_decode_to_value_objects() -> None:
    info = records.decode_object("bk", golden_path("object_record_multipart").read_bytes())
    assert info.blob_id == ""
    assert info.size == 10_485_763
    assert info.checksum == ChecksumValue("CRC32", bytes.fromhex("0badf00d"), "COMPOSITE", 2)
    assert info.checksum.text == "C63wDQ==-2"
    assert info.parts == (
        PartInfo(
            1,
            "11111111111111111111111111111111",
            10_485_760,
            "0123456789abcdef0123456789abcdef",
            0,
            ChecksumValue("CRC32", bytes.fromhex("01020304")),
        ),
        PartInfo(
            3,
            "33333333333333333333333333333333",
            3,
            "fedcba9876543210fedcba9876543210",
            0,
            ChecksumValue("CRC32", bytes.fromhex("05060708")),
        ),
    )
    assert info.blob_ids == [p.blob_id for p in info.parts]
    assert records.encode_object(info) == golden_path("object_record_multipart").read_bytes()

    upload = records.decode_upload("bk", golden_path("upload_record").read_bytes())
    assert upload == UploadInfo(
        bucket="bk",
        key="videos/été.mp4",
        upload_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        initiated_ns=1_750_000_000_000_000_001,
        initiator="AKIAIOSFODNN7EXAMPLE",
        content_type="video/mp4",
        cache_control="no-cache",
        user_metadata=(("camera", "x100"),),
        checksum_algorithm="CRC32C",
        checksum_type="FULL_OBJECT",
    )
    assert records.encode_upload(upload) == golden_path("upload_record").read_bytes()
    minimal = records.decode_upload("bk", golden_path("upload_record_minimal").read_bytes())
    assert minimal == UploadInfo("bk", "k", "f" * 32, 2, "AKID")
    assert minimal.checksum_algorithm is None and minimal.content_type is None
    assert records.encode_upload(minimal) == golden_path("upload_record_minimal").read_bytes()

    part = records.decode_part(golden_path("part_record").read_bytes())
    assert part == PartInfo(
        10_000,
        "abcdefabcdefabcdefabcdefabcdef00",
        5_368_709_120,
        "9b2cf535f27731c974343645a3985328",
        1_750_000_000_500_000_000,
        ChecksumValue("CRC64NVME", bytes.fromhex("ae8b14860a799888")),
    )
    assert records.encode_part(part) == golden_path("part_record").read_bytes()


def test_single_put_goldens_have_their_one_blob() -> None:
    checked = records.decode_object("bk", golden_path("object_record_checksum").read_bytes())
    assert checked.parts == ()
    assert checked.blob_ids == ["00112233445566778899aabbccddeeff"]


def test_record_blob_ids_of_goldens() -> None:
    """What recovery keeps: the blobs of every record kind that points to any."""
    obj = records.object_key("bk", "k")
    assert records.record_blob_ids(obj, golden_path("object_record_checksum").read_bytes()) == [
        "00112233445566778899aabbccddeeff"
    ]
    assert records.record_blob_ids(obj, golden_path("object_record_multipart").read_bytes()) == [
        "11111111111111111111111111111111",
        "33333333333333333333333333333333",
    ]
    part = records.part_key("0" * records.UPLOAD_ID_CHARS, 1)
    assert records.record_blob_ids(part, golden_path("part_record").read_bytes()) == [
        records.decode_part(golden_path("part_record").read_bytes()).blob_id
    ]
    for name in ("bucket_record", "upload_record", "store_info"):
        assert records.record_blob_ids(b"x/", golden_path(name).read_bytes()) == []


@pytest.mark.parametrize(
    "name",
    [
        "object_record",
        "object_record_minimal",
        "object_record_checksum",
        "object_record_multipart",
        "object_record_multipart_upload_id",
    ],
)
def test_a_listing_decodes_the_same_fields_as_a_read(name: str) -> None:
    value = golden_path(name).read_bytes()
    info = records.decode_object("bk", value)
    summary = records.decode_object_summary(value)
    assert summary == (info.key, info.size, info.etag, info.last_modified_ns, info.checksum)
