"""Metadata key layout and the record <-> value-object conversions.

Key layout of the metadata store (all prefixes one byte + "/"):
  b"s/info"                              StoreInfo
  b"b/" + bucket                         BucketRecord
  b"o/" + bucket + b"\\x00" + key(UTF-8)  ObjectRecord
  b"u/" + bucket + b"\\x00" + key(UTF-8) + b"\\x00" + upload_id
                                         UploadRecord (an upload in progress)
  b"p/" + upload_id + b"/" + NNNNN        PartRecord (part NNNNN, 5 digits)
  b"n/" + blob_id                        BlobMarker: committed, maybe still in tmp/
  b"r/" + blob_id                        BlobMarker: unreferenced, to be removed
Bucket names never contain NUL, so the objects of one bucket form one
contiguous range, ordered by the UTF-8 bytes of the key (S3's list order);
so do its uploads, by key and then upload id (the fixed-length upload id is
read from the end of the metadata key, so a key may even contain NUL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, TypedDict

from hamster.integrity import CHECKSUM_TYPES, COMPOSITE, DIGEST_BYTES, ChecksumValue
from hamster.storage.pb import records_pb2 as pb

log = logging.getLogger("hamster.storage")

# The newest record layout this version reads (`check_version`).
FORMAT_VERSION = 2
# The version records are written with: 1, except an inline object's
# ObjectRecord (`ObjectInfo.inline_data`), written as 2 so that a version
# that knows no inline objects refuses it rather than look for blob "".
WRITE_VERSION = 1
INLINE_VERSION = 2
# StoreInfo's format_version: the data directory's layout (records.proto).
STORE_FORMAT_VERSION = 2
# The layout before markers (recovery scanned every record).
STORE_FORMAT_SCANNED = 1

STORE_INFO_KEY = b"s/info"
BUCKET_PREFIX = b"b/"
OBJECT_PREFIX = b"o/"
UPLOAD_PREFIX = b"u/"
PART_PREFIX = b"p/"
PLACING_PREFIX = b"n/"
REMOVING_PREFIX = b"r/"
UPLOAD_ID_CHARS = 32


@dataclass(frozen=True)
class BucketInfo:
    name: str
    owner: str
    created_ns: int
    location: str


@dataclass(frozen=True)
class PartInfo:
    """An uploaded part (PartRecord), or a part of a multipart object (PartRef)."""

    part_number: int
    blob_id: str
    size: int
    etag: str  # unquoted hex MD5 of the part
    last_modified_ns: int = 0  # 0 in a PartRef
    # The upload's algorithm (CRC64NVME when it names none), FULL_OBJECT of the part.
    checksum: ChecksumValue | None = None


@dataclass(frozen=True)
class UploadInfo:
    bucket: str
    key: str
    upload_id: str
    initiated_ns: int
    initiator: str  # access key id
    content_type: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    user_metadata: tuple[tuple[str, str], ...] = ()
    # From CreateMultipartUpload; both None when it named no algorithm.
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # unquoted
    last_modified_ns: int
    content_type: str | None
    content_encoding: str | None
    content_disposition: str | None
    content_language: str | None
    cache_control: str | None
    expires: str | None
    # (name without x-amz-meta-, lower-case; value): wire strings, one character
    # per byte as the client sent them (hamster.s3.headers), stored as such.
    user_metadata: tuple[tuple[str, str], ...]
    blob_id: str
    # The additional checksum (x-amz-checksum-*); None only for records
    # written before checksums were stored.
    checksum: ChecksumValue | None = None
    # A multipart object: its parts in order (blob_id is then "").
    parts: tuple[PartInfo, ...] = ()
    # The upload whose CompleteMultipartUpload made this object ("" otherwise).
    upload_id: str = ""
    # An inline object: its bytes, kept in its record (blob_id is then "" and
    # there are no parts); None for an object whose bytes are in blobs.
    inline_data: bytes | None = field(default=None, repr=False)

    @property
    def blob_ids(self) -> list[str]:
        """Every blob this object's bytes live in (none for an inline object)."""
        if self.parts:
            return [p.blob_id for p in self.parts]
        if self.inline_data is not None:
            return []
        return [self.blob_id]


def bucket_key(bucket: str) -> bytes:
    assert bucket and "\x00" not in bucket
    return BUCKET_PREFIX + bucket.encode()


def object_prefix(bucket: str) -> bytes:
    assert bucket and "\x00" not in bucket
    return OBJECT_PREFIX + bucket.encode() + b"\x00"


def object_key(bucket: str, key: str) -> bytes:
    return object_prefix(bucket) + key.encode()


def upload_prefix(bucket: str) -> bytes:
    assert bucket and "\x00" not in bucket
    return UPLOAD_PREFIX + bucket.encode() + b"\x00"


def upload_key(bucket: str, key: str, upload_id: str) -> bytes:
    assert len(upload_id) == UPLOAD_ID_CHARS and upload_id.isascii()
    return upload_prefix(bucket) + key.encode() + b"\x00" + upload_id.encode()


def split_upload_key(bucket: str, meta_key: bytes) -> tuple[str, str]:
    """(key, upload_id) of an upload's metadata key."""
    rest = meta_key[len(upload_prefix(bucket)) :]
    assert rest[-UPLOAD_ID_CHARS - 1] == 0
    return rest[: -UPLOAD_ID_CHARS - 1].decode(), rest[-UPLOAD_ID_CHARS:].decode()


def part_prefix(upload_id: str) -> bytes:
    assert len(upload_id) == UPLOAD_ID_CHARS and upload_id.isascii()
    return PART_PREFIX + upload_id.encode() + b"/"


def part_key(upload_id: str, part_number: int) -> bytes:
    assert 1 <= part_number <= 99999
    return part_prefix(upload_id) + b"%05d" % part_number


def check_version(version: int, what: str) -> None:
    if version > FORMAT_VERSION:
        raise ValueError(f"{what} has format_version {version}, newer than {FORMAT_VERSION}")


def encode_bucket(info: BucketInfo) -> bytes:
    return pb.BucketRecord(
        format_version=WRITE_VERSION,
        name=info.name,
        owner=info.owner,
        created_ns=info.created_ns,
        location=info.location,
    ).SerializeToString(deterministic=True)


def decode_bucket(value: bytes) -> BucketInfo:
    rec = pb.BucketRecord.FromString(value)
    check_version(rec.format_version, "BucketRecord")
    return BucketInfo(
        name=rec.name, owner=rec.owner, created_ns=rec.created_ns, location=rec.location
    )


# The standard headers S3 stores with an object (and an upload keeps for the
# object it will make): the same optional fields in ObjectRecord and
# UploadRecord, and the same attributes of ObjectInfo and UploadInfo.
class StandardHeaders(TypedDict):
    """The standard headers by field name (None: not given), as keyword arguments."""

    content_type: str | None
    content_encoding: str | None
    content_disposition: str | None
    content_language: str | None
    cache_control: str | None
    expires: str | None


STANDARD_HEADER_FIELDS = tuple(StandardHeaders.__annotations__)


def _set_standard_headers(
    rec: pb.ObjectRecord | pb.UploadRecord, info: ObjectInfo | UploadInfo
) -> None:
    for name in STANDARD_HEADER_FIELDS:
        value = getattr(info, name)
        if value is not None:  # absent stays absent: distinct from ""
            setattr(rec, name, value)


def _standard_headers(rec: pb.ObjectRecord | pb.UploadRecord) -> StandardHeaders:
    def field(name: str) -> str | None:
        return getattr(rec, name) if rec.HasField(name) else None  # type: ignore[arg-type]

    return StandardHeaders(
        content_type=field("content_type"),
        content_encoding=field("content_encoding"),
        content_disposition=field("content_disposition"),
        content_language=field("content_language"),
        cache_control=field("cache_control"),
        expires=field("expires"),
    )


def encode_object(info: ObjectInfo, *, part_count: int = 0) -> bytes:
    if info.parts:
        part_count = len(info.parts)
    inline = info.inline_data is not None
    assert not inline or (not info.blob_id and not info.parts), info.key
    rec = pb.ObjectRecord(
        format_version=INLINE_VERSION if inline else WRITE_VERSION,
        key=info.key,
        size=info.size,
        etag=info.etag,
        blob_id=info.blob_id,
        last_modified_ns=info.last_modified_ns,
        user_metadata=[pb.MetadataEntry(name=n, value=v) for n, v in info.user_metadata],
        part_count=part_count,
        parts=[
            pb.PartRef(
                part_number=p.part_number,
                blob_id=p.blob_id,
                size=p.size,
                etag=p.etag,
                checksums=_encode_checksums(p.checksum),
            )
            for p in info.parts
        ],
        upload_id=info.upload_id,
    )
    if info.inline_data is not None:
        rec.inline = True
        rec.inline_data = info.inline_data
    rec.checksums.extend(_encode_checksums(info.checksum))
    # Optional fields: set only when present, so None round-trips.
    _set_standard_headers(rec, info)
    return rec.SerializeToString(deterministic=True)


def decode_object(bucket: str, value: bytes) -> ObjectInfo:
    rec = pb.ObjectRecord.FromString(value)
    check_version(rec.format_version, "ObjectRecord")
    return ObjectInfo(
        bucket=bucket,
        key=rec.key,
        size=rec.size,
        etag=rec.etag,
        last_modified_ns=rec.last_modified_ns,
        **_standard_headers(rec),
        user_metadata=tuple((e.name, e.value) for e in rec.user_metadata),
        blob_id=rec.blob_id,
        checksum=_decode_checksum(rec.checksums, rec.key, rec.part_count),
        parts=tuple(
            PartInfo(
                part_number=p.part_number,
                blob_id=p.blob_id,
                size=p.size,
                etag=p.etag,
                checksum=_decode_checksum(p.checksums, rec.key),
            )
            for p in rec.parts
        ),
        upload_id=rec.upload_id,
        inline_data=rec.inline_data if rec.inline else None,
    )


class ObjectSummary(NamedTuple):
    """What a listing shows of an object (`decode_object_summary`)."""

    key: str
    size: int
    etag: str  # unquoted
    last_modified_ns: int
    checksum: ChecksumValue | None


def decode_object_summary(value: bytes) -> ObjectSummary:
    """The listing's fields of an object record: `decode_object` without
    building the whole `ObjectInfo` (a listing page decodes 1,000 records;
    this takes a fraction of its time). The same version check, the same
    checksum rule."""
    rec = pb.ObjectRecord.FromString(value)
    check_version(rec.format_version, "ObjectRecord")
    checksum = _decode_checksum(rec.checksums, rec.key, rec.part_count) if rec.checksums else None
    return ObjectSummary(rec.key, rec.size, rec.etag, rec.last_modified_ns, checksum)


def _encode_checksums(checksum: ChecksumValue | None) -> list[pb.Checksum]:
    if checksum is None:
        return []
    return [pb.Checksum(algorithm=checksum.algorithm, value=checksum.value, type=checksum.type)]


def _decode_checksum(
    stored: Iterable[pb.Checksum], key: str, part_count: int = 0
) -> ChecksumValue | None:
    """The first checksum of `stored` this version knows how to serve, if any
    (a COMPOSITE one of a multipart object counts `part_count` parts).

    A checksum of an algorithm or type unknown here (written by a later
    version) is skipped, not fatal: the object stays readable.
    """
    for c in stored:
        if (
            c.algorithm in DIGEST_BYTES
            and len(c.value) == DIGEST_BYTES[c.algorithm]
            and c.type in CHECKSUM_TYPES
        ):
            count = part_count if c.type == COMPOSITE else 0
            return ChecksumValue(c.algorithm, c.value, c.type, count)
        log.debug("object %r: skipping a checksum this version does not know", key)
    return None


def encode_upload(info: UploadInfo) -> bytes:
    rec = pb.UploadRecord(
        format_version=WRITE_VERSION,
        key=info.key,
        upload_id=info.upload_id,
        initiated_ns=info.initiated_ns,
        initiator=info.initiator,
        user_metadata=[pb.MetadataEntry(name=n, value=v) for n, v in info.user_metadata],
        checksum_algorithm=info.checksum_algorithm or "",
        checksum_type=info.checksum_type or "",
    )
    _set_standard_headers(rec, info)
    return rec.SerializeToString(deterministic=True)


def decode_upload(bucket: str, value: bytes) -> UploadInfo:
    rec = pb.UploadRecord.FromString(value)
    check_version(rec.format_version, "UploadRecord")
    return UploadInfo(
        bucket=bucket,
        key=rec.key,
        upload_id=rec.upload_id,
        initiated_ns=rec.initiated_ns,
        initiator=rec.initiator,
        **_standard_headers(rec),
        user_metadata=tuple((e.name, e.value) for e in rec.user_metadata),
        checksum_algorithm=rec.checksum_algorithm or None,
        checksum_type=rec.checksum_type or None,
    )


def encode_part(info: PartInfo) -> bytes:
    return pb.PartRecord(
        format_version=WRITE_VERSION,
        part_number=info.part_number,
        blob_id=info.blob_id,
        size=info.size,
        etag=info.etag,
        last_modified_ns=info.last_modified_ns,
        checksums=_encode_checksums(info.checksum),
    ).SerializeToString(deterministic=True)


def decode_part(value: bytes) -> PartInfo:
    rec = pb.PartRecord.FromString(value)
    check_version(rec.format_version, "PartRecord")
    return PartInfo(
        part_number=rec.part_number,
        blob_id=rec.blob_id,
        size=rec.size,
        etag=rec.etag,
        last_modified_ns=rec.last_modified_ns,
        checksum=_decode_checksum(rec.checksums, f"part {rec.part_number}"),
    )


# The prefixes of the records that point to blobs (`record_blob_ids`). A new
# record kind that points to blobs goes here, or recovery deletes its blobs.
BLOB_RECORD_PREFIXES = (OBJECT_PREFIX, PART_PREFIX)


def record_blob_ids(meta_key: bytes, value: bytes) -> list[str]:
    """The ids of the blobs the record stored under `meta_key` points to: an
    ObjectRecord's blob or its parts' blobs (none for an inline object), a
    PartRecord's blob, none for the other kinds. Refuses a newer
    format_version (ValueError) exactly as the decode_* functions do, so
    recovery never guesses at a record it cannot read (and removes the blobs
    it needs)."""
    if meta_key.startswith(OBJECT_PREFIX):
        rec = pb.ObjectRecord.FromString(value)
        check_version(rec.format_version, "ObjectRecord")
        if rec.inline:
            if rec.blob_id or rec.parts:
                raise ValueError(f"ObjectRecord {meta_key!r} is inline and has a blob or parts")
            return []
        if rec.parts:
            if rec.blob_id:
                raise ValueError(f"ObjectRecord {meta_key!r} has both a blob and parts")
            return [p.blob_id for p in rec.parts]
        return [rec.blob_id]
    if meta_key.startswith(PART_PREFIX):
        part = pb.PartRecord.FromString(value)
        check_version(part.format_version, "PartRecord")
        return [part.blob_id]
    return []


def encode_store_info(created_ns: int, *, version: int = STORE_FORMAT_VERSION) -> bytes:
    return pb.StoreInfo(format_version=version, created_ns=created_ns).SerializeToString(
        deterministic=True
    )


def decode_store_info(value: bytes) -> pb.StoreInfo:
    """The StoreInfo; ValueError for a layout newer than STORE_FORMAT_VERSION."""
    rec = pb.StoreInfo.FromString(value)
    if rec.format_version > STORE_FORMAT_VERSION:
        raise ValueError(
            f"StoreInfo has format_version {rec.format_version}, newer than "
            f"{STORE_FORMAT_VERSION}: this data directory was written by a later version"
        )
    return rec


def placing_key(blob_id: str) -> bytes:
    """The marker of a committed blob that may still be in tmp/."""
    return PLACING_PREFIX + blob_id.encode()


def removing_key(blob_id: str) -> bytes:
    """The marker of a blob no record points to any more, to be removed."""
    return REMOVING_PREFIX + blob_id.encode()


def marker_blob_id(meta_key: bytes) -> str:
    """The blob id a marker's key names."""
    assert meta_key[:2] in (PLACING_PREFIX, REMOVING_PREFIX), meta_key
    return meta_key[2:].decode()


# A marker's value: the key says what; the value is versioned for later fields.
MARKER_VALUE = pb.BlobMarker(format_version=WRITE_VERSION).SerializeToString(deterministic=True)


def check_marker(value: bytes) -> None:
    """Refuse a marker of a newer format (ValueError), as for every record."""
    check_version(pb.BlobMarker.FromString(value).format_version, "BlobMarker")
