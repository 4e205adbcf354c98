"""records.py beyond the goldens: the metadata key layout (on disk forever,
as the module docstring has it), the arguments a key refuses, the refusal of
every record kind of a newer format (naming the kind), round trips of every
value object, and what is logged for a checksum this version skips."""

from __future__ import annotations

import logging

import pytest

from hamster.integrity import ChecksumValue
from hamster.storage import records
from hamster.storage.pb import records_pb2 as pb
from hamster.storage.records import BucketInfo, PartInfo, UploadInfo

UPLOAD = "0123456789abcdef0123456789abcdef"


def test_key_layout() -> None:
    assert records.bucket_key("bk") == b"b/bk"
    assert records.object_prefix("bk") == b"o/bk\x00"
    assert records.object_key("bk", "a/é") == b"o/bk\x00a/\xc3\xa9"
    assert records.upload_prefix("bk") == b"u/bk\x00"
    assert records.upload_key("bk", "a/é", UPLOAD) == (b"u/bk\x00a/\xc3\xa9\x00" + UPLOAD.encode())
    assert records.split_upload_key("bk", records.upload_key("bk", "a\x00b", UPLOAD)) == (
        "a\x00b",
        UPLOAD,
    )
    assert records.part_prefix(UPLOAD) == b"p/" + UPLOAD.encode() + b"/"
    assert records.part_key(UPLOAD, 1) == b"p/" + UPLOAD.encode() + b"/00001"
    assert records.part_key(UPLOAD, 99999) == b"p/" + UPLOAD.encode() + b"/99999"


@pytest.mark.parametrize("bucket", ["", "a\x00b", "\x00"])
def test_keys_refuse_a_bucket_name_that_breaks_the_layout(bucket: str) -> None:
    for make in (records.bucket_key, records.object_prefix, records.upload_prefix):
        with pytest.raises(AssertionError):
            make(bucket)


@pytest.mark.parametrize("upload_id", ["abc", "0" * 31, "0" * 33, "é" * 32])
def test_keys_refuse_an_upload_id_of_another_form(upload_id: str) -> None:
    with pytest.raises(AssertionError):
        records.upload_key("bk", "k", upload_id)
    with pytest.raises(AssertionError):
        records.part_prefix(upload_id)


@pytest.mark.parametrize("number", [0, 100_000])
def test_part_key_refuses_a_number_of_more_than_five_digits(number: int) -> None:
    with pytest.raises(AssertionError):
        records.part_key(UPLOAD, number)


def newer(message: pb.BucketRecord | pb.UploadRecord | pb.BlobMarker | pb.PartRecord) -> bytes:
    message.format_version = records.FORMAT_VERSION + 1
    return message.SerializeToString()


def test_every_record_of_a_newer_format_is_refused_by_name() -> None:
    cases = [
        (records.decode_bucket, pb.BucketRecord(name="bk"), "BucketRecord"),
        (lambda v: records.decode_upload("bk", v), pb.UploadRecord(key="k"), "UploadRecord"),
        (records.check_marker, pb.BlobMarker(), "BlobMarker"),
        (records.decode_part, pb.PartRecord(part_number=1), "PartRecord"),
        (lambda v: records.decode_object("bk", v), pb.ObjectRecord(key="k"), "ObjectRecord"),
    ]
    for decode, message, name in cases:
        with pytest.raises(ValueError) as e:
            decode(newer(message))  # type: ignore[arg-type]
        newest = records.FORMAT_VERSION
        assert str(e.value) == f"{name} has format_version {newest + 1}, newer than {newest}"
    # StoreInfo's version is the data directory's layout (now 2).
    with pytest.raises(ValueError) as e:
        records.decode_store_info(pb.StoreInfo(format_version=3).SerializeToString())
    assert str(e.value) == (
        "StoreInfo has format_version 3, newer than 2: this data directory was written "
        "by a later version"
    )


def test_an_object_record_with_a_blob_and_parts_is_refused() -> None:
    rec = pb.ObjectRecord(format_version=1, key="k", blob_id="a" * 32)
    rec.parts.add(part_number=1, blob_id="b" * 32)
    key = records.object_key("bk", "k")
    with pytest.raises(ValueError) as e:
        records.record_blob_ids(key, rec.SerializeToString())
    assert str(e.value) == f"ObjectRecord {key!r} has both a blob and parts"


@pytest.mark.parametrize("blob", ["a" * 32, ""])
def test_an_inline_object_record_with_a_blob_or_parts_is_refused(blob: str) -> None:
    rec = pb.ObjectRecord(format_version=2, key="k", blob_id=blob, inline=True)
    if not blob:
        rec.parts.add(part_number=1, blob_id="b" * 32)
    key = records.object_key("bk", "k")
    with pytest.raises(ValueError) as e:
        records.record_blob_ids(key, rec.SerializeToString())
    assert str(e.value) == f"ObjectRecord {key!r} is inline and has a blob or parts"


def test_value_objects_round_trip() -> None:
    bucket = BucketInfo("bk", "owner", 1_700_000_000_000_000_001, "eu-west-1")
    assert records.decode_bucket(records.encode_bucket(bucket)) == bucket
    upload = UploadInfo(
        "bk",
        "k",
        UPLOAD,
        5,
        "AKID",
        "text/plain",
        "gzip",
        "inline",
        "de",
        "no-cache",
        "Thu, 01 Jan 2037 00:00:00 GMT",
        (("a", "1"), ("b", "2")),
        "CRC32",
        "COMPOSITE",
    )
    assert records.decode_upload("bk", records.encode_upload(upload)) == upload
    for checksum in (
        None,
        ChecksumValue("CRC32", b"\x01\x02\x03\x04"),
        ChecksumValue("SHA1", b"\x05" * 20, "COMPOSITE", 0),
    ):
        part = PartInfo(3, "c" * 32, 10, "d" * 32, 7, checksum)
        assert records.decode_part(records.encode_part(part)) == part
    info = records.decode_store_info(records.encode_store_info(42))
    assert (info.format_version, info.created_ns) == (2, 42)
    key = records.placing_key("a" * 32)
    assert key == b"n/" + b"a" * 32 and records.marker_blob_id(key) == "a" * 32
    assert records.marker_blob_id(records.removing_key("b" * 32)) == "b" * 32


def test_a_skipped_checksum_is_logged_with_its_record(caplog: pytest.LogCaptureFixture) -> None:
    unknown = pb.Checksum(algorithm="XXHASH128", value=b"\x01" * 16, type="FULL_OBJECT")
    obj = pb.ObjectRecord(format_version=1, key="the/key")
    obj.checksums.append(unknown)
    ref = obj.parts.add(part_number=1, blob_id="b" * 32, size=1, etag="e" * 32)
    ref.checksums.append(unknown)
    part = pb.PartRecord(format_version=1, part_number=7, blob_id="c" * 32)
    part.checksums.append(unknown)
    with caplog.at_level(logging.DEBUG, logger="hamster.storage"):
        decoded = records.decode_object("bk", obj.SerializeToString())
        assert decoded.checksum is None and decoded.parts[0].checksum is None
        assert records.decode_part(part.SerializeToString()).checksum is None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, f"object {name!r}: skipping a checksum this version does not know")
        for name in ("the/key", "the/key", "part 7")
    ]
