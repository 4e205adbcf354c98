"""Server-side copy through boto3 against the real daemon: CopyObject (within and
across buckets, metadata directives, copy onto itself, source and destination
conditions, special keys, versions, checksums, access) and UploadPartCopy
(ranges, conditions, checksums, completion), and boto3's managed `copy`.

Bodies are SHAKE-256 streams: every byte depends on its position, so a copied
range that is off by any amount reads differently."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import zlib
from pathlib import Path
from typing import Any

import pytest
import trio
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from hamster.integrity import compute
from hamster.runtime import Runtime
from hamster.s3.copy import COPY_SOURCE_MAX_BYTES
from hamster.storage import PutRequest, Store, records
from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, assert_no_such_key, error_code, make_client
from tests.storage.bodies import BytesBody

MiB = 1 << 20
PART = 5 * MiB


def body_of(size: int, seed: str = "copy") -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def read(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def other_bucket(s3: Any, bucket: str) -> str:
    name = (bucket[:55] + "-dst").strip("-")
    s3.create_bucket(Bucket=name)
    return name


STANDARD = {
    "ContentType": "application/x-copy-test",
    "ContentEncoding": "identity",
    "ContentDisposition": 'attachment; filename="c.bin"',
    "ContentLanguage": "en",
    "CacheControl": "max-age=60",
    "Metadata": {"color": "blue", "shape": "round"},
}


def standard_of(head: dict[str, Any]) -> dict[str, Any]:
    return {name: head.get(name) for name in STANDARD}


# -- CopyObject ----------------------------------------------------------------------


def test_copy_within_and_across_buckets(s3: Any, bucket: str) -> None:
    data = body_of(3 * MiB + 7)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **STANDARD)
    src_head = s3.head_object(Bucket=bucket, Key="src")

    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    result = out["CopyObjectResult"]
    assert result["ETag"] == md5_etag(data) == src_head["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["LastModified"] == result["LastModified"].replace(microsecond=0)
    assert head["ContentLength"] == len(data)
    assert read(s3, bucket, "dst") == data
    # COPY (the default): the source's standard headers and metadata.
    assert standard_of(head) == standard_of(src_head) == STANDARD
    # S3 sends no source version for a bucket that was never versioned.
    assert "x-amz-copy-source-version-id" not in out["ResponseMetadata"]["HTTPHeaders"]

    dst_bucket = other_bucket(s3, bucket)
    s3.copy_object(Bucket=dst_bucket, Key="k", CopySource=f"{bucket}/src")
    assert read(s3, dst_bucket, "k") == data
    assert standard_of(s3.head_object(Bucket=dst_bucket, Key="k")) == STANDARD
    # The copies are independent: removing the source leaves them whole.
    s3.delete_object(Bucket=bucket, Key="src")
    assert read(s3, bucket, "dst") == data
    assert read(s3, dst_bucket, "k") == data


def test_copy_ignores_request_metadata_unless_replace(s3: Any, bucket: str) -> None:
    data = body_of(1000, "directive")
    s3.put_object(Bucket=bucket, Key="src", Body=data, **STANDARD)
    s3.copy_object(
        Bucket=bucket,
        Key="copied",
        CopySource=f"{bucket}/src",
        MetadataDirective="COPY",
        ContentType="text/plain",
        Metadata={"ignored": "yes"},
    )
    assert standard_of(s3.head_object(Bucket=bucket, Key="copied")) == STANDARD

    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        ContentType="text/plain",
        CacheControl="no-store",
        Metadata={"new": "value"},
    )
    head = s3.head_object(Bucket=bucket, Key="replaced")
    assert head["ContentType"] == "text/plain"
    assert head["CacheControl"] == "no-store"
    assert head["Metadata"] == {"new": "value"}
    for gone in ("ContentEncoding", "ContentDisposition", "ContentLanguage"):
        assert gone not in head
    assert read(s3, bucket, "replaced") == data

    # REPLACE without a Content-Type: the default, not the source's.
    s3.copy_object(
        Bucket=bucket, Key="bare", CopySource=f"{bucket}/src", MetadataDirective="REPLACE"
    )
    head = s3.head_object(Bucket=bucket, Key="bare")
    assert head["ContentType"] == "binary/octet-stream"
    assert head["Metadata"] == {}

    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/src", MetadataDirective="MOVE")
    assert error_code(exc) == (400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == "Unknown metadata directive."
    assert_no_such_key(s3, bucket, "x")


def test_copy_onto_itself(s3: Any, bucket: str) -> None:
    data = body_of(2 * MiB + 3, "itself")
    etag = s3.put_object(Bucket=bucket, Key="self", Body=data, **STANDARD)["ETag"]
    before = s3.head_object(Bucket=bucket, Key="self")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self")
    assert error_code(exc) == (400, "InvalidRequest")
    assert exc.value.response["Error"]["Message"] == (
        "This copy request is illegal because it is trying to copy an object to itself "
        "without changing the object's metadata, storage class, website redirect location or "
        "encryption attributes."
    )
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="self", CopySource=f"{bucket}/self", MetadataDirective="COPY"
        )
    assert error_code(exc) == (400, "InvalidRequest")

    out = s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource=f"{bucket}/self",
        MetadataDirective="REPLACE",
        ContentType="text/replaced",
        Metadata={"version": "2"},
    )
    assert out["CopyObjectResult"]["ETag"] == etag
    head = s3.head_object(Bucket=bucket, Key="self", ChecksumMode="ENABLED")
    assert head["ContentType"] == "text/replaced"
    assert head["Metadata"] == {"version": "2"}
    assert head["ETag"] == etag
    assert head["ChecksumCRC32"] == crc32(data)  # boto3 sent CRC32 with the PUT
    assert head["LastModified"] >= before["LastModified"]
    # The record points at the same bytes, which are still there (the old
    # record's blob was not removed with it), again after a second round.
    assert read(s3, bucket, "self") == data
    s3.copy_object(
        Bucket=bucket, Key="self", CopySource=f"/{bucket}/self", MetadataDirective="REPLACE"
    )
    assert read(s3, bucket, "self") == data
    # Overwriting it afterwards removes those bytes once, cleanly.
    s3.put_object(Bucket=bucket, Key="self", Body=b"new")
    assert read(s3, bucket, "self") == b"new"


def test_copy_multipart_source_becomes_single_part(s3: Any, bucket: str) -> None:
    data = body_of(2 * PART + 1234, "multipart-source")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")
    uid = upload["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(data), PART), 1):
        piece = data[start : start + PART]
        r = s3.upload_part(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            PartNumber=n,
            Body=piece,
            ChecksumAlgorithm="CRC32",
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert s3.head_object(Bucket=bucket, Key="mp")["ETag"].endswith('-3"')

    out = s3.copy_object(Bucket=bucket, Key="single", CopySource=f"{bucket}/mp")
    result = out["CopyObjectResult"]
    # A copy is one part: the MD5 of its bytes, and the source's algorithm
    # over the whole object (FULL_OBJECT), not the parts' COMPOSITE value.
    assert result["ETag"] == md5_etag(data)
    assert result["ChecksumCRC32"] == crc32(data)
    assert result["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="single", ChecksumMode="ENABLED")
    assert (head["ETag"], head["ChecksumCRC32"], head["ChecksumType"]) == (
        md5_etag(data),
        crc32(data),
        "FULL_OBJECT",
    )
    assert read(s3, bucket, "single") == data
    # Onto itself with REPLACE: only the record changes, the parts stay.
    s3.copy_object(Bucket=bucket, Key="mp", CopySource=f"{bucket}/mp", MetadataDirective="REPLACE")
    assert s3.head_object(Bucket=bucket, Key="mp")["ETag"].endswith('-3"')
    assert read(s3, bucket, "mp") == data
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={PART - 5}-{PART + 4}")
    assert ranged["Body"].read() == data[PART - 5 : PART + 5]


def test_checksums_carried_or_recomputed(daemon: Daemon, s3: Any, bucket: str) -> None:
    data = body_of(100_000, "checksums")
    put = s3.put_object(Bucket=bucket, Key="sha", Body=data, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())

    carried = s3.copy_object(Bucket=bucket, Key="carried", CopySource=f"{bucket}/sha")
    assert carried["CopyObjectResult"]["ChecksumSHA256"] == put["ChecksumSHA256"]
    head = s3.head_object(Bucket=bucket, Key="carried", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == put["ChecksumSHA256"]
    assert "ChecksumCRC64NVME" not in head

    other = s3.copy_object(
        Bucket=bucket, Key="crc32c", CopySource=f"{bucket}/sha", ChecksumAlgorithm="CRC32C"
    )
    result = other["CopyObjectResult"]
    assert result["ChecksumCRC32C"] == b64(compute("CRC32C", data))
    assert "ChecksumSHA256" not in result
    head = s3.head_object(Bucket=bucket, Key="crc32c", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == result["ChecksumCRC32C"]
    assert "ChecksumSHA256" not in head

    # Onto itself with another algorithm: the checksum is recomputed.
    s3.copy_object(
        Bucket=bucket,
        Key="sha",
        CopySource=f"{bucket}/sha",
        MetadataDirective="REPLACE",
        ChecksumAlgorithm="CRC32",
    )
    head = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32(data)
    assert "ChecksumSHA256" not in head
    assert read(s3, bucket, "sha") == data

    # A source stored without a client checksum has CRC64NVME, and so has its copy.
    make_client(daemon.endpoint, ALICE, request_checksum_calculation="when_required").put_object(
        Bucket=bucket, Key="plain", Body=data
    )
    plain = s3.copy_object(Bucket=bucket, Key="plain2", CopySource=f"{bucket}/plain")
    assert plain["CopyObjectResult"]["ChecksumCRC64NVME"] == b64(compute("CRC64NVME", data))

    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="bad", CopySource=f"{bucket}/plain", ChecksumAlgorithm="MD4"
        )
    assert error_code(exc) == (400, "InvalidRequest")
    assert_no_such_key(s3, bucket, "bad")


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    data = body_of(5000, "conditions")
    etag = s3.put_object(Bucket=bucket, Key="src", Body=data)["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="src")["LastModified"]
    past = modified - datetime.timedelta(days=1)
    future = modified + datetime.timedelta(days=1)
    src = f"{bucket}/src"

    ok: list[dict[str, Any]] = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfMatch": etag.strip('"')},
        {"CopySourceIfMatch": f'"0000", {etag}'},
        {"CopySourceIfNoneMatch": '"0000"'},
        {"CopySourceIfModifiedSince": past},
        {"CopySourceIfUnmodifiedSince": future},
        # S3's documented pairs: If-Match true wins over If-Unmodified-Since false.
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past},
    ]
    for i, conditions in enumerate(ok):
        s3.copy_object(Bucket=bucket, Key=f"ok{i}", CopySource=src, **conditions)
        assert read(s3, bucket, f"ok{i}") == data

    failing: list[dict[str, Any]] = [
        {"CopySourceIfMatch": '"0000"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfNoneMatch": "*"},
        {"CopySourceIfModifiedSince": future},
        {"CopySourceIfUnmodifiedSince": past},
        # ... and If-None-Match false with If-Modified-Since true is 412 (never 304).
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past},
    ]
    for i, conditions in enumerate(failing):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key=f"no{i}", CopySource=src, **conditions)
        assert error_code(exc) == (412, "PreconditionFailed"), conditions
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=bucket, Key=f"no{i}")
        assert error_code(exc)[0] == 404


def test_destination_conditions(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=body_of(300, "dest-src"))
    src = f"{bucket}/src"
    s3.copy_object(Bucket=bucket, Key="new", CopySource=src, IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="new", CopySource=src, IfNoneMatch="*")
    assert error_code(exc) == (412, "PreconditionFailed")

    dest_etag = s3.put_object(Bucket=bucket, Key="dest", Body=b"old destination")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dest", CopySource=src, IfMatch='"0000"')
    assert error_code(exc) == (412, "PreconditionFailed")
    assert read(s3, bucket, "dest") == b"old destination"
    s3.copy_object(Bucket=bucket, Key="dest", CopySource=src, IfMatch=f'"0000", {dest_etag}')
    assert read(s3, bucket, "dest") == body_of(300, "dest-src")
    copied = md5_etag(body_of(300, "dest-src"))
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dest", CopySource=src, IfNoneMatch=copied)
    assert error_code(exc) == (412, "PreconditionFailed")
    s3.copy_object(Bucket=bucket, Key="dest", CopySource=src, IfNoneMatch='"0000"')
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="absent", CopySource=src, IfMatch=dest_etag)
    assert error_code(exc) == (404, "NoSuchKey")


SPECIAL_KEYS = [
    "key+with space",
    "100% sure?&#=",
    "a//b/",
    "caf\u00e9/\u65e5\u672c/\U0001f439",
    "plus+plus++",
    "tilde~and'quote\"",
]


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_special_keys(s3: Any, bucket: str, key: str) -> None:
    data = body_of(777, key)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})
    assert read(s3, bucket, key + ".copy") == data
    # The string form, with a leading slash and versionId=null.
    s3.copy_object(Bucket=bucket, Key=key + ".v", CopySource=f"/{bucket}/{key}?versionId=null")
    assert read(s3, bucket, key + ".v") == data


def test_raw_copy_source_headers(s3: Any, bucket: str) -> None:
    """The header exactly as written, not as botocore would encode it."""
    data = body_of(999, "raw")
    s3.put_object(Bucket=bucket, Key="key+with space", Body=data)
    raw: list[str] = []

    def set_header(request: Any, **_: Any) -> None:
        del request.headers["x-amz-copy-source"]
        request.headers["x-amz-copy-source"] = raw[0]

    s3.meta.events.register("before-sign.s3.CopyObject", set_header)
    try:
        for n, header in enumerate(
            [
                f"/{bucket}/key%2Bwith%20space?versionId=null",
                f"{bucket}/key%2Bwith%20space",
                f"{bucket}/key%2Bwith+space",  # '+' is a space in this header, as S3 reads it
            ]
        ):
            raw[:] = [header]
            s3.copy_object(Bucket=bucket, Key=f"out{n}", CopySource="placeholder/x")
            assert read(s3, bucket, f"out{n}") == data
        for header, code in (
            (f"{bucket}/key+with+space", (404, "NoSuchKey")),
            (f"{bucket}/key%ZZ", (400, "InvalidArgument")),
            (f"{bucket}", (400, "InvalidArgument")),
            (f"{bucket}/", (400, "InvalidArgument")),
            ("/", (400, "InvalidArgument")),
        ):
            raw[:] = [header]
            with pytest.raises(ClientError) as exc:
                s3.copy_object(Bucket=bucket, Key="never", CopySource="placeholder/x")
            assert error_code(exc) == code, header
    finally:
        s3.meta.events.unregister("before-sign.s3.CopyObject", set_header)
    assert_no_such_key(s3, bucket, "never")


def test_source_versions(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="v", Body=b"versioned?")
    s3.copy_object(
        Bucket=bucket, Key="v-null", CopySource={"Bucket": bucket, "Key": "v", "VersionId": "null"}
    )
    assert read(s3, bucket, "v-null") == b"versioned?"
    well_formed = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket,
            Key="v-other",
            CopySource={"Bucket": bucket, "Key": "v", "VersionId": well_formed},
        )
    assert error_code(exc) == (404, "NoSuchVersion")
    error = exc.value.response["Error"]
    assert (error["Key"], error["VersionId"]) == ("v", well_formed)
    # A malformed id is refused before anything is looked up.
    for source, code in (
        (f"{bucket}/v?versionId=3HL4kqtJlcpXroDTDmJ", (400, "InvalidArgument")),
        ("no-such-bucket-anywhere/v?versionId=abc", (400, "InvalidArgument")),
        (f"no-such-bucket-anywhere/v?versionId={well_formed}", (404, "NoSuchBucket")),
    ):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key="v-other", CopySource=source)
        assert error_code(exc) == code, source
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="v-other")
    assert error_code(exc)[0] == 404


def test_missing_sources_and_access(s3: Any, s3_bob: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="alice", Body=b"alice's bytes")
    for source, code in (
        (f"{bucket}/missing", (404, "NoSuchKey")),
        ("no-such-bucket-anywhere/k", (404, "NoSuchBucket")),
    ):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key="x", CopySource=source)
        assert error_code(exc) == code
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="no-such-bucket-anywhere", Key="x", CopySource=f"{bucket}/alice")
    assert error_code(exc) == (404, "NoSuchBucket")

    bob_bucket = (bucket[:55] + "-bob").strip("-")
    s3_bob.create_bucket(Bucket=bob_bucket)
    s3_bob.put_object(Bucket=bob_bucket, Key="bob", Body=b"bob's bytes")
    # Reading another user's bucket, or writing into it, is refused.
    for client, dst, source in (
        (s3_bob, bob_bucket, f"{bucket}/alice"),
        (s3_bob, bucket, f"{bob_bucket}/bob"),
        (s3, bucket, f"{bob_bucket}/bob"),
        (s3, bucket, f"{bob_bucket}/missing"),
    ):
        with pytest.raises(ClientError) as exc:
            client.copy_object(Bucket=dst, Key="stolen", CopySource=source)
        assert error_code(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3_bob.head_object(Bucket=bob_bucket, Key="stolen")
    assert error_code(exc)[0] == 404
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="stolen")
    assert error_code(exc)[0] == 404


def test_empty_source_and_unsupported(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    out = s3.copy_object(Bucket=bucket, Key="empty2", CopySource=f"{bucket}/empty")
    assert out["CopyObjectResult"]["ETag"] == md5_etag(b"")
    assert read(s3, bucket, "empty2") == b""
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="t", CopySource=f"{bucket}/empty", TaggingDirective="MOVE"
        )
    assert error_code(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket,
            Key="t",
            CopySource=f"{bucket}/empty",
            TaggingDirective="REPLACE",
            Tagging="a=b",
        )
    assert error_code(exc) == (501, "NotImplemented")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="t", CopySource=f"{bucket}/empty", StorageClass="GLACIER")
    assert error_code(exc) == (501, "NotImplemented")
    assert_no_such_key(s3, bucket, "t")  # none of the three refusals stored it


def test_sources_over_5_gib_are_refused(tmp_path: Path) -> None:
    """A record of 5 GiB + 1 (fabricated offline: its blob holds 1000 bytes)
    cannot be copied whole, by CopyObject or UploadPartCopy; a range of it can."""
    data_dir = tmp_path / "data"
    small = body_of(1000, "huge")

    async def fabricate() -> None:
        # A blob object (not inline), whose record can say any size.
        store = await Store.open(str(data_dir), Runtime(), inline_max_bytes=0)
        try:
            await store.create_bucket("huge", ALICE[0], "us-east-1")
            info = await store.put_object(PutRequest(bucket="huge", key="big"), BytesBody(small))
            huge = dataclasses.replace(info, size=COPY_SOURCE_MAX_BYTES + 1)
            await store.meta.write(
                [(records.object_key("huge", "big"), records.encode_object(huge))], [], sync=True
            )
        finally:
            await store.close()

    trio.run(fabricate)
    env = {"HAMSTER_ACCESS_KEY": ALICE[0], "HAMSTER_SECRET_KEY": ALICE[1]}
    daemon = Daemon(data_dir, env=env).start()
    try:
        s3 = make_client(daemon.endpoint, ALICE)
        assert s3.head_object(Bucket="huge", Key="big")["ContentLength"] == 5 * 1024**3 + 1
        message = (
            "The specified copy source is larger than the maximum allowable size for a copy "
            "source: 5368709120"
        )
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket="huge", Key="copy", CopySource="huge/big")
        assert error_code(exc) == (400, "InvalidRequest")
        assert exc.value.response["Error"]["Message"] == message
        assert_no_such_key(s3, "huge", "copy")
        uid = s3.create_multipart_upload(Bucket="huge", Key="mp")["UploadId"]
        for span in (None, f"bytes=0-{COPY_SOURCE_MAX_BYTES}"):
            extra = {"CopySourceRange": span} if span else {}
            with pytest.raises(ClientError) as exc:
                s3.upload_part_copy(
                    Bucket="huge",
                    Key="mp",
                    UploadId=uid,
                    PartNumber=1,
                    CopySource="huge/big",
                    **extra,
                )
            assert error_code(exc) == (400, "InvalidRequest")
            assert exc.value.response["Error"]["Message"] == message
        assert "Parts" not in s3.list_parts(Bucket="huge", Key="mp", UploadId=uid)
        out = s3.upload_part_copy(
            Bucket="huge",
            Key="mp",
            UploadId=uid,
            PartNumber=1,
            CopySource="huge/big",
            CopySourceRange="bytes=10-19",
        )
        assert out["CopyPartResult"]["ETag"] == md5_etag(small[10:20])
    finally:
        assert daemon.stop() == 0, "\n".join(daemon.stderr_lines)


# -- UploadPartCopy --------------------------------------------------------------------


def test_upload_part_copy_ranges(s3: Any, bucket: str) -> None:
    source = body_of(3 * PART + 4321, "part-copy-source")
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    other = body_of(100, "other")
    s3.put_object(Bucket=bucket, Key="small", Body=other)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    # Ranges of the source out of order, an upload from the body, a whole small source.
    spans = [(PART + 17, 2 * PART + 16), (3, PART + 2)]
    parts = []
    expected = b""
    for n, (first, last) in enumerate(spans, 1):
        out = s3.upload_part_copy(
            Bucket=bucket,
            Key="assembled",
            UploadId=uid,
            PartNumber=n,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes={first}-{last}",
        )
        piece = source[first : last + 1]
        assert out["CopyPartResult"]["ETag"] == md5_etag(piece)
        assert "LastModified" in out["CopyPartResult"]
        parts.append({"PartNumber": n, "ETag": out["CopyPartResult"]["ETag"]})
        expected += piece
    middle = body_of(PART, "uploaded part")
    r = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=3, Body=middle)
    parts.append({"PartNumber": 3, "ETag": r["ETag"]})
    expected += middle
    out = s3.upload_part_copy(
        Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=4, CopySource=f"{bucket}/small"
    )
    parts.append({"PartNumber": 4, "ETag": out["CopyPartResult"]["ETag"]})
    expected += other

    listed = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
        (1, PART, md5_etag(source[PART + 17 : 2 * PART + 17])),
        (2, PART, md5_etag(source[3 : PART + 3])),
        (3, PART, md5_etag(middle)),
        (4, 100, md5_etag(other)),
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    assert read(s3, bucket, "assembled") == expected
    head = s3.head_object(Bucket=bucket, Key="assembled", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == b64(compute("CRC64NVME", expected))


def test_upload_part_copy_checksums(s3: Any, bucket: str) -> None:
    source = body_of(PART + 99, "part-copy-checksums")
    s3.put_object(Bucket=bucket, Key="src", Body=source, ChecksumAlgorithm="SHA256")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32")["UploadId"]
    pieces = [source[:PART], source[PART:]]
    parts = []
    for n, (first, piece) in enumerate(((0, pieces[0]), (PART, pieces[1])), 1):
        out = s3.upload_part_copy(
            Bucket=bucket,
            Key="c",
            UploadId=uid,
            PartNumber=n,
            CopySource=f"{bucket}/src",
            CopySourceRange=f"bytes={first}-{first + len(piece) - 1}",
        )
        result = out["CopyPartResult"]
        # The upload's algorithm over the copied bytes, as UploadPart stores it.
        assert result["ChecksumCRC32"] == crc32(piece)
        assert "ChecksumSHA256" not in result
        parts.append({"PartNumber": n, "ETag": result["ETag"], "ChecksumCRC32": crc32(piece)})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    composite = b64(
        zlib.crc32(b"".join(base64.b64decode(crc32(p)) for p in pieces)).to_bytes(4, "big")
    )
    assert head["ChecksumCRC32"] == composite + "-2"
    assert read(s3, bucket, "c") == source


def test_upload_part_copy_errors(s3: Any, s3_bob: Any, bucket: str) -> None:
    source = body_of(1000, "part-copy-errors")
    etag = s3.put_object(Bucket=bucket, Key="src", Body=source)["ETag"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]

    def copy(**kwargs: Any) -> Any:
        args = {
            "Bucket": bucket,
            "Key": "e",
            "UploadId": uid,
            "PartNumber": 1,
            "CopySource": f"{bucket}/src",
        }
        args.update(kwargs)
        return s3.upload_part_copy(**args)

    for bad in ("0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=0-2,3-5", "bytes=5-2"):
        with pytest.raises(ClientError) as exc:
            copy(CopySourceRange=bad)
        assert error_code(exc) == (400, "InvalidArgument"), bad
        assert exc.value.response["Error"]["Message"].startswith(
            "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    for outside in ("bytes=0-1000", "bytes=1000-1000", "bytes=0-21000"):
        with pytest.raises(ClientError) as exc:
            copy(CopySourceRange=outside)
        assert error_code(exc) == (400, "InvalidArgument"), outside
        assert exc.value.response["Error"]["Message"] == (
            "Range specified is not valid for source object of size: 1000"
        )
    assert copy(CopySourceRange="bytes=999-999")["CopyPartResult"]["ETag"] == md5_etag(source[999:])

    with pytest.raises(ClientError) as exc:
        copy(CopySourceIfMatch='"0000"')
    assert error_code(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        copy(CopySourceIfNoneMatch=etag)
    assert error_code(exc) == (412, "PreconditionFailed")
    copy(CopySourceIfMatch=etag, PartNumber=2)

    for kwargs, code in (
        ({"UploadId": "0" * 32}, (404, "NoSuchUpload")),
        ({"CopySource": f"{bucket}/missing"}, (404, "NoSuchKey")),
        ({"CopySource": "no-such-bucket-anywhere/k"}, (404, "NoSuchBucket")),
        ({"CopySource": f"{bucket}/src?versionId=abc"}, (400, "InvalidArgument")),
        ({"CopySource": f"{bucket}/src?versionId={'x' * 32}"}, (404, "NoSuchVersion")),
        ({"CopySource": f"{bucket}"}, (400, "InvalidArgument")),
        ({"PartNumber": 10001}, (400, "InvalidArgument")),
    ):
        with pytest.raises(ClientError) as exc:
            copy(**kwargs)
        assert error_code(exc) == code, kwargs

    bob_bucket = (bucket[:55] + "-bob").strip("-")
    s3_bob.create_bucket(Bucket=bob_bucket)
    bob_uid = s3_bob.create_multipart_upload(Bucket=bob_bucket, Key="b")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3_bob.upload_part_copy(
            Bucket=bob_bucket, Key="b", UploadId=bob_uid, PartNumber=1, CopySource=f"{bucket}/src"
        )
    assert error_code(exc) == (403, "AccessDenied")
    assert s3_bob.list_parts(Bucket=bob_bucket, Key="b", UploadId=bob_uid).get("Parts", []) == []


def test_managed_copy_uses_upload_part_copy(s3: Any, bucket: str) -> None:
    data = body_of(2 * PART + 333, "managed")
    s3.put_object(Bucket=bucket, Key="big", Body=data, ContentType="application/x-big")
    sent: list[str] = []

    def record(model: Any, **_: Any) -> None:
        sent.append(model.name)

    s3.meta.events.register("before-call.s3", record)
    try:
        s3.copy(
            {"Bucket": bucket, "Key": "big"},
            bucket,
            "big-copy",
            Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART),
        )
    finally:
        s3.meta.events.unregister("before-call.s3", record)
    assert sent.count("UploadPartCopy") == 3
    assert "CompleteMultipartUpload" in sent
    assert read(s3, bucket, "big-copy") == data
    ranged = s3.get_object(Bucket=bucket, Key="big-copy", Range=f"bytes={2 * PART - 1}-{2 * PART}")
    assert ranged["Body"].read() == data[2 * PART - 1 : 2 * PART + 1]

    # Below the threshold it is one CopyObject.
    s3.copy({"Bucket": bucket, "Key": "big"}, bucket, "big-copy2")
    assert read(s3, bucket, "big-copy2") == data


def test_object_tagging_is_empty(s3: Any, s3_bob: Any, bucket: str) -> None:
    """The aws CLI reads the source's tags before a multipart copy."""
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagless")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert s3.get_object_tagging(Bucket=bucket, Key="t", VersionId="null")["TagSet"] == []
    for version, code in (("x" * 32, (404, "NoSuchVersion")), ("abc", (400, "InvalidArgument"))):
        with pytest.raises(ClientError) as exc:
            s3.get_object_tagging(Bucket=bucket, Key="t", VersionId=version)
        assert error_code(exc) == code
    with pytest.raises(ClientError) as exc:
        s3_bob.get_object_tagging(Bucket=bucket, Key="t", VersionId="x" * 32)
    assert error_code(exc) == (403, "AccessDenied")  # access first, then the version
    for client, key, code in (
        (s3, "missing", (404, "NoSuchKey")),
        (s3_bob, "t", (403, "AccessDenied")),
    ):
        with pytest.raises(ClientError) as exc:
            client.get_object_tagging(Bucket=bucket, Key=key)
        assert error_code(exc) == code
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": []})
    assert error_code(exc) == (501, "NotImplemented")
