"""GetObject / HeadObject with ?partNumber=N through the real daemon (boto3,
raw HTTP, the aws CLI): the part's bytes with 206, Content-Range, the whole
object's ETag and x-amz-mp-parts-count, as S3 answers them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code
from tests.e2e.rawhttp import connect, read_response, request_bytes, sign
from tests.e2e.test_awscli import aws

MiB = 1 << 20
PART_SIZES = [5 * MiB, 5 * MiB + 3, 17]  # unequal, so a wrong offset shows


def _data(size: int, seed: bytes) -> bytes:
    """Position-dependent bytes: every 32-byte block differs."""
    blocks = (hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


@pytest.fixture
def multipart(s3: Any, bucket: str) -> tuple[str, bytes, str]:
    """(key, data, ETag) of a completed 3-part object in `bucket`."""
    data = _data(sum(PART_SIZES), b"multipart")
    key = "parts/obj"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts, offset = [], 0
    for number, size in enumerate(PART_SIZES, start=1):
        body = data[offset : offset + size]
        offset += size
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"].endswith('-3"')
    return key, data, done["ETag"]


def test_each_part_is_its_own_bytes(
    s3: Any, bucket: str, multipart: tuple[str, bytes, str]
) -> None:
    key, data, etag = multipart
    offset = 0
    for number, size in enumerate(PART_SIZES, start=1):
        last = offset + size - 1
        got = s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {offset}-{last}/{len(data)}"
        assert got["ContentLength"] == size
        assert got["ETag"] == etag  # the whole object's, not the part's
        assert got["PartsCount"] == 3
        assert got["Body"].read() == data[offset : offset + size]
        head = s3.head_object(Bucket=bucket, Key=key, PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert (head["ContentRange"], head["ContentLength"]) == (got["ContentRange"], size)
        assert (head["ETag"], head["PartsCount"]) == (etag, 3)
        offset += size
    # Without partNumber: the whole object, and no parts count (as S3).
    whole = s3.get_object(Bucket=bucket, Key=key)
    assert "PartsCount" not in whole
    assert whole["Body"].read() == data


def test_past_the_last_part_is_invalid_part_number(
    s3: Any, bucket: str, multipart: tuple[str, bytes, str]
) -> None:
    key, _, _ = multipart
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=4)
    assert error_code(exc) == (416, "InvalidPartNumber")
    assert exc.value.response["Error"]["PartNumberRequested"] == "4"
    assert exc.value.response["Error"]["ActualPartCount"] == "3"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key, PartNumber=10_000)
    assert error_code(exc)[0] == 416


def test_part_number_of_a_single_put_object(s3: Any, bucket: str) -> None:
    data = _data(1000, b"single")
    etag = s3.put_object(Bucket=bucket, Key="single", Body=data)["ETag"]
    got = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-999/1000"
    assert got["ETag"] == etag
    assert "PartsCount" not in got
    assert got["Body"].read() == data
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    assert error_code(exc) == (416, "InvalidPartNumber")
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    empty = s3.get_object(Bucket=bucket, Key="empty", PartNumber=1)
    assert empty["ResponseMetadata"]["HTTPStatusCode"] == 200  # no byte range to name
    assert empty["Body"].read() == b""


def test_range_with_part_number_is_refused(
    s3: Any, bucket: str, multipart: tuple[str, bytes, str]
) -> None:
    key, _, _ = multipart
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=1, Range="bytes=0-9")
    assert error_code(exc) == (400, "InvalidRequest")
    assert "both Range header and partNumber" in exc.value.response["Error"]["Message"]


# "%C2%B2" is "²", which str.isdigit() accepts and int() refuses.
@pytest.mark.parametrize("value", ["0", "10001", "abc", "", "-1", "%C2%B2"])
def test_malformed_part_number_is_invalid_argument(
    daemon: Daemon, s3: Any, bucket: str, value: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    path = f"/{bucket}/k?partNumber={value}"
    headers = sign("GET", daemon.endpoint, path, ALICE, {"Host": f"{daemon.host}:{daemon.port}"})
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("GET", path, headers))
        response = read_response(sock)
    assert (response.status, response.error_code) == (400, "InvalidArgument"), response.body
    assert b"<ArgumentName>partNumber</ArgumentName>" in response.body


def test_conditions_apply_to_part_reads(
    s3: Any, bucket: str, multipart: tuple[str, bytes, str]
) -> None:
    key, _, etag = multipart
    got = s3.get_object(Bucket=bucket, Key=key, PartNumber=2, IfMatch=etag)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=2, IfNoneMatch=etag)
    assert error_code(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key, PartNumber=2, IfMatch='"0123"')
    assert error_code(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key, PartNumber=9, IfNoneMatch=etag)
    assert error_code(exc)[0] == 304  # the condition is decided before the part


def test_aws_cli_get_object_part_number(
    daemon: Daemon, bucket: str, multipart: tuple[str, bytes, str], tmp_path: Path
) -> None:
    key, data, _ = multipart
    out = tmp_path / "part2"
    got = aws(
        daemon,
        tmp_path,
        "s3api",
        "get-object",
        "--bucket",
        bucket,
        "--key",
        key,
        "--part-number",
        "2",
        str(out),
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert '"PartsCount": 3' in got.stdout
    assert out.read_bytes() == data[PART_SIZES[0] : PART_SIZES[0] + PART_SIZES[1]]
