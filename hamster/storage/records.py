"""Metadata key layout and the record <-> value-object conversions.

Key layout of the metadata store (all prefixes one byte + "/"):
  b"s/info"                              StoreInfo
  b"b/" + bucket                         BucketRecord
  b"o/" + bucket + b"\\x00" + key(UTF-8)  ObjectRecord
Bucket names never contain NUL, so the objects of one bucket form one
contiguous range, ordered by the UTF-8 bytes of the key (S3's list order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hamster.auth.checksums import CHECKSUM_TYPES, DIGEST_BYTES, ChecksumValue
from hamster.storage.pb import records_pb2 as pb

log = logging.getLogger("hamster.storage")

FORMAT_VERSION = 1

STORE_INFO_KEY = b"s/info"
BUCKET_PREFIX = b"b/"
OBJECT_PREFIX = b"o/"


@dataclass(frozen=True)
class BucketInfo:
    name: str
    owner: str
    created_ns: int
    location: str


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
    user_metadata: tuple[tuple[str, str], ...]  # (name without x-amz-meta-, lower-case; value)
    blob_id: str
    # The additional checksum (x-amz-checksum-*); None only for records
    # written before checksums were stored.
    checksum: ChecksumValue | None = None


def bucket_key(bucket: str) -> bytes:
    assert bucket and "\x00" not in bucket
    return BUCKET_PREFIX + bucket.encode()


def object_prefix(bucket: str) -> bytes:
    assert bucket and "\x00" not in bucket
    return OBJECT_PREFIX + bucket.encode() + b"\x00"


def object_key(bucket: str, key: str) -> bytes:
    return object_prefix(bucket) + key.encode()


def check_version(version: int, what: str) -> None:
    if version > FORMAT_VERSION:
        raise ValueError(f"{what} has format_version {version}, newer than {FORMAT_VERSION}")


def encode_bucket(info: BucketInfo) -> bytes:
    return pb.BucketRecord(
        format_version=FORMAT_VERSION,
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


def encode_object(info: ObjectInfo, *, part_count: int = 0) -> bytes:
    rec = pb.ObjectRecord(
        format_version=FORMAT_VERSION,
        key=info.key,
        size=info.size,
        etag=info.etag,
        blob_id=info.blob_id,
        last_modified_ns=info.last_modified_ns,
        user_metadata=[pb.MetadataEntry(name=n, value=v) for n, v in info.user_metadata],
        part_count=part_count,
    )
    if info.checksum is not None:
        c = info.checksum
        rec.checksums.append(pb.Checksum(algorithm=c.algorithm, value=c.value, type=c.type))
    # Optional fields: set only when present, so None round-trips.
    if info.content_type is not None:
        rec.content_type = info.content_type
    if info.content_encoding is not None:
        rec.content_encoding = info.content_encoding
    if info.content_disposition is not None:
        rec.content_disposition = info.content_disposition
    if info.content_language is not None:
        rec.content_language = info.content_language
    if info.cache_control is not None:
        rec.cache_control = info.cache_control
    if info.expires is not None:
        rec.expires = info.expires
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
        content_type=rec.content_type if rec.HasField("content_type") else None,
        content_encoding=rec.content_encoding if rec.HasField("content_encoding") else None,
        content_disposition=(
            rec.content_disposition if rec.HasField("content_disposition") else None
        ),
        content_language=rec.content_language if rec.HasField("content_language") else None,
        cache_control=rec.cache_control if rec.HasField("cache_control") else None,
        expires=rec.expires if rec.HasField("expires") else None,
        user_metadata=tuple((e.name, e.value) for e in rec.user_metadata),
        blob_id=rec.blob_id,
        checksum=_decode_checksum(rec),
    )


def _decode_checksum(rec: pb.ObjectRecord) -> ChecksumValue | None:
    """The first checksum of `rec` this version knows how to serve, if any.

    A checksum of an algorithm or type unknown here (written by a later
    version) is skipped, not fatal: the object stays readable.
    """
    for c in rec.checksums:
        if (
            c.algorithm in DIGEST_BYTES
            and len(c.value) == DIGEST_BYTES[c.algorithm]
            and c.type in CHECKSUM_TYPES
        ):
            return ChecksumValue(algorithm=c.algorithm, value=c.value, type=c.type)
        log.debug("object %r: skipping a checksum this version does not know", rec.key)
    return None


def encode_store_info(created_ns: int) -> bytes:
    return pb.StoreInfo(format_version=FORMAT_VERSION, created_ns=created_ns).SerializeToString(
        deterministic=True
    )


def decode_store_info(value: bytes) -> pb.StoreInfo:
    rec = pb.StoreInfo.FromString(value)
    check_version(rec.format_version, "StoreInfo")
    return rec
