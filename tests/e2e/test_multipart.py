"""Multipart uploads through boto3 against the real daemon, over plain HTTP and
over TLS (where boto3 sends every UploadPart as aws-chunked with a CRC32 trailer)."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from hamster import integrity
from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, make_client, tls_client
from tests.patterns import pattern, split

MiB = 1 << 20
PART = 5 * MiB
CONFIG = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)


# 3 parts of 5 MiB and a remainder, of position-dependent bytes (tests/patterns.py):
# parts swapped, repeated or read from a wrong offset change the body and the ETag.
BODY = pattern(3 * PART + 12345, "multipart")
PIECES = [BODY[i : i + PART] for i in range(0, len(BODY), PART)]


def expected_etag(pieces: list[bytes]) -> str:
    md5s = b"".join(hashlib.md5(p).digest() for p in pieces)
    return f'"{hashlib.md5(md5s).hexdigest()}-{len(pieces)}"'


def composite(algorithm: str, pieces: list[bytes]) -> str:
    raw = b"".join(integrity.compute(algorithm, p) for p in pieces)
    digest = integrity.compute(algorithm, raw)
    return f"{base64.b64encode(digest).decode()}-{len(pieces)}"


def record_headers(s3: Any, operation: str) -> list[dict[str, str]]:
    sent: list[dict[str, str]] = []

    def before_send(request: Any, **_: Any) -> None:
        sent.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
        )

    s3.meta.events.register(f"before-send.s3.{operation}", before_send)
    return sent


def download(s3: Any, bucket: str, key: str) -> bytes:
    out = io.BytesIO()
    s3.download_fileobj(bucket, key, out, Config=CONFIG)
    return out.getvalue()


def check_default_upload(s3: Any, bucket: str, key: str) -> None:
    """boto3's default upload_fileobj: CRC32 COMPOSITE, 4 parts; read back."""
    s3.upload_fileobj(io.BytesIO(BODY), bucket, key, Config=CONFIG)
    assert download(s3, bucket, key) == BODY
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ETag"] == expected_etag(PIECES)
    assert head["ContentLength"] == len(BODY)
    assert head["ChecksumCRC32"] == composite("CRC32", PIECES)
    assert head["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == composite("CRC32", PIECES)
    assert got["Body"].read() == BODY
    # A range across the boundary of parts 1 and 2.
    ranged = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={PART - 10}-{PART + 9}")
    assert ranged["Body"].read() == BODY[PART - 10 : PART + 10]
    assert ranged["ContentRange"] == f"bytes {PART - 10}-{PART + 9}/{len(BODY)}"


def test_upload_fileobj_over_http(s3: Any, bucket: str) -> None:
    sent = record_headers(s3, "UploadPart")
    check_default_upload(s3, bucket, "big/object.bin")
    assert len(sent) == 4
    # Over plain HTTP botocore signs each part's payload and sends its CRC32.
    assert all(len(h["x-amz-content-sha256"]) == 64 for h in sent)
    assert all("x-amz-checksum-crc32" in h for h in sent)


def test_upload_fileobj_over_tls(
    tls_daemon: Daemon, tls_files: tuple[Path, Path, Path]
) -> None:
    s3 = tls_client(tls_daemon, tls_files[0])
    s3.create_bucket(Bucket="tls-multipart")
    sent = record_headers(s3, "UploadPart")
    check_default_upload(s3, "tls-multipart", "over-tls")
    assert len(sent) == 4
    for headers in sent:
        assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        assert headers["x-amz-trailer"] == "x-amz-checksum-crc32"
        assert "aws-chunked" in headers["content-encoding"]


def test_when_required_checksums_get_the_crc64nvme_default(daemon: Daemon, bucket: str) -> None:
    s3 = make_client(daemon.endpoint, ALICE, request_checksum_calculation="when_required")
    sent = record_headers(s3, "CreateMultipartUpload")
    body = pattern(PART + 77, b"when-required")
    s3.upload_fileobj(io.BytesIO(body), bucket, "plain", Config=CONFIG)
    assert "x-amz-checksum-algorithm" not in sent[0]
    got = s3.get_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    digest = integrity.compute("CRC64NVME", body)
    assert got["ChecksumCRC64NVME"] == base64.b64encode(digest).decode()
    assert got["ChecksumType"] == "FULL_OBJECT"


def test_upload_file_from_disk(s3: Any, bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "in.bin"
    body = pattern(PART + 1, b"file")
    path.write_bytes(body)
    s3.upload_file(str(path), bucket, "from-disk", Config=CONFIG)
    out = tmp_path / "out.bin"
    s3.download_file(bucket, "from-disk", str(out), Config=CONFIG)
    assert out.read_bytes() == body


@pytest.mark.parametrize(
    ("algorithm", "checksum_type"),
    [("CRC32C", "COMPOSITE"), ("SHA256", "COMPOSITE"), ("CRC64NVME", "FULL_OBJECT")],
)
def test_explicit_checksum_algorithms(
    s3: Any, bucket: str, algorithm: str, checksum_type: str
) -> None:
    pieces = [pattern(PART, algorithm.encode()), b"tail"]
    body = b"".join(pieces)
    s3.upload_fileobj(
        io.BytesIO(body), bucket, "k", Config=CONFIG, ExtraArgs={"ChecksumAlgorithm": algorithm}
    )
    # botocore validates a FULL_OBJECT value against the bytes it reads.
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ChecksumType"] == checksum_type
    member = f"Checksum{algorithm}"
    if checksum_type == "COMPOSITE":
        assert got[member] == composite(algorithm, pieces)
    else:
        digest = integrity.compute(algorithm, body)
        assert got[member] == base64.b64encode(digest).decode()


def test_full_object_crc32_low_level(s3: Any, bucket: str) -> None:
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="f", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    assert created["ChecksumAlgorithm"] == "CRC32"
    assert created["ChecksumType"] == "FULL_OBJECT"
    uid = created["UploadId"]
    pieces = split(pattern(PART + 10, b"a"), [PART, 10])
    parts = []
    for n, piece in enumerate(pieces, 1):
        r = s3.upload_part(
            Bucket=bucket,
            Key="f",
            UploadId=uid,
            PartNumber=n,
            Body=piece,
            ChecksumAlgorithm="CRC32",
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    whole = base64.b64encode(zlib.crc32(b"".join(pieces)).to_bytes(4, "big")).decode()
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="f",
        UploadId=uid,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=whole,
        ChecksumType="FULL_OBJECT",
    )
    assert done["ChecksumCRC32"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    assert done["ETag"] == expected_etag(pieces)
    head = s3.head_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == whole


def test_no_algorithm_gives_crc64nvme_full_object(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="d", ContentType="text/x-test")["UploadId"]
    pieces = [pattern(PART, b"x"), b"end"]
    parts = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(
                Bucket=bucket, Key="d", UploadId=uid, PartNumber=n, Body=piece
            )["ETag"],
        }
        for n, piece in enumerate(pieces, 1)
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="d", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    digest = integrity.compute("CRC64NVME", b"".join(pieces))
    assert done["ChecksumCRC64NVME"] == base64.b64encode(digest).decode()
    got = s3.get_object(Bucket=bucket, Key="d", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(pieces)
    assert got["ContentType"] == "text/x-test"
    assert got["ChecksumType"] == "FULL_OBJECT"


def test_completion_errors_and_abort(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    big = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=1, Body=pattern(PART))
    small = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=2, Body=b"tiny")
    last = s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=3, Body=b"last")
    p1 = {"PartNumber": 1, "ETag": big["ETag"]}
    p2 = {"PartNumber": 2, "ETag": small["ETag"]}
    p3 = {"PartNumber": 3, "ETag": last["ETag"]}

    def refused(parts: list[dict[str, Any]]) -> tuple[int, str]:
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="e", UploadId=uid, MultipartUpload={"Parts": parts}
            )
        return error_code(e)

    assert refused([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}, p3]) == (400, "InvalidPart")
    assert refused([p1, {"PartNumber": 4, "ETag": last["ETag"]}]) == (400, "InvalidPart")
    assert refused([p3, p1]) == (400, "InvalidPartOrder")
    assert refused([p1, p2, p3]) == (400, "EntityTooSmall")
    listed = s3.list_parts(Bucket=bucket, Key="e", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert listed["Parts"][1]["Size"] == 4 and listed["Parts"][1]["ETag"] == small["ETag"]
    s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="e", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId=uid)
    assert error_code(e) == (404, "NoSuchUpload")
    assert refused([p1, p3]) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="e")
    assert error_code(e)[0] == 404


def test_bad_requests(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(
            Bucket=bucket, Key="x", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE"
        )
    assert error_code(e) == (400, "InvalidRequest")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="x", ChecksumAlgorithm="CRC32")["UploadId"]
    for number in (0, 10001):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="x", UploadId=uid, PartNumber=number, Body=b"x")
        assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.upload_part(
            Bucket=bucket, Key="x", UploadId=uid, PartNumber=1, Body=b"x", ChecksumAlgorithm="SHA1"
        )
    assert error_code(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="x", UploadId="nope", PartNumber=1, Body=b"x")
    assert error_code(e) == (404, "NoSuchUpload")


def test_conditional_complete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="c", Body=b"already here")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=b"new")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="c", UploadId=uid, MultipartUpload=parts, IfNoneMatch="*"
        )
    assert error_code(e) == (412, "PreconditionFailed")
    current = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=uid, MultipartUpload=parts, IfMatch=current
    )
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"new"


def test_conditional_complete_takes_etag_lists_and_star(s3: Any, bucket: str) -> None:
    other = '"0123456789abcdef0123456789abcdef"'
    body = hashlib.sha256(b"old").digest() * 5
    s3.put_object(Bucket=bucket, Key="c", Body=body)
    current = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c")["UploadId"]
    data = hashlib.sha256(b"new").digest() * 7
    etag = s3.upload_part(Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=data)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}

    def complete(key: str, upload_id: str, **conditions: str) -> Any:
        return s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=parts, **conditions
        )

    for conditions in (
        {"IfMatch": other},
        {"IfNoneMatch": current},
        {"IfNoneMatch": f"{other}, {current.strip(chr(34))}"},
    ):
        with pytest.raises(ClientError) as e:
            complete("c", uid, **conditions)
        assert error_code(e) == (412, "PreconditionFailed"), conditions
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == body
    complete("c", uid, IfMatch=f"{other}, {current}", IfNoneMatch=other)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == data
    # A missing key: If-Match "*" is 404; If-None-Match naming an ETag writes.
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key="fresh")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="fresh", UploadId=uid2, PartNumber=1, Body=data)[
        "ETag"
    ]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as e:
        complete("fresh", uid2, IfMatch="*")
    assert error_code(e) == (404, "NoSuchKey")
    complete("fresh", uid2, IfNoneMatch=current)
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == data


def test_list_parts_and_uploads_paginate(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="p")["UploadId"]
    for n in range(1, 8):
        s3.upload_part(Bucket=bucket, Key="p", UploadId=uid, PartNumber=n, Body=b"%d" % n)
    pages = list(
        s3.get_paginator("list_parts").paginate(
            Bucket=bucket, Key="p", UploadId=uid, PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(p.get("Parts", [])) for p in pages] == [3, 3, 1]
    numbers = [part["PartNumber"] for page in pages for part in page.get("Parts", [])]
    assert numbers == list(range(1, 8))
    assert pages[0]["IsTruncated"] and pages[0]["NextPartNumberMarker"] == 3
    assert all("ChecksumCRC64NVME" in part for page in pages for part in page["Parts"])

    ids = {uid}
    for key in ("a", "b", "b", "dir/x", "dir/y", "z"):
        ids.add(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    listed = [
        (u["Key"], u["UploadId"])
        for page in s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}
        )
        for u in page.get("Uploads", [])
    ]
    assert len(listed) == 7 and {i for _, i in listed} == ids
    assert listed == sorted(listed)
    rolled = list(
        s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    keys = [u["Key"] for page in rolled for u in page.get("Uploads", [])]
    prefixes = [c["Prefix"] for page in rolled for c in page.get("CommonPrefixes", [])]
    assert keys == ["a", "b", "b", "p", "z"] and prefixes == ["dir/"]
    only = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")
    assert [u["Key"] for u in only["Uploads"]] == ["dir/x", "dir/y"]


def test_others_cannot_touch_uploads(s3: Any, s3_bob: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mine")["UploadId"]
    for call in (
        lambda: s3_bob.create_multipart_upload(Bucket=bucket, Key="mine"),
        lambda: s3_bob.upload_part(
            Bucket=bucket, Key="mine", UploadId=uid, PartNumber=1, Body=b"x"
        ),
        lambda: s3_bob.list_parts(Bucket=bucket, Key="mine", UploadId=uid),
        lambda: s3_bob.abort_multipart_upload(Bucket=bucket, Key="mine", UploadId=uid),
        lambda: s3_bob.list_multipart_uploads(Bucket=bucket),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == (403, "AccessDenied")


def test_delete_bucket_with_an_upload_in_progress(s3: Any, bucket: str) -> None:
    # S3 deletes a bucket whose only content is uploads in progress.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="left")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="left", UploadId=uid, PartNumber=1, Body=b"behind")
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
