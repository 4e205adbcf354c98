"""A CompleteMultipartUpload repeated after it succeeded (an SDK retrying a
Complete whose response was lost) answers the same success, as AWS does; a
different part list, or a key written since, is NoSuchUpload."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import error_code

MiB = 1 << 20


def _upload(s3: Any, bucket: str, key: str) -> tuple[str, list[dict[str, Any]], bytes]:
    """(upload id, parts as Complete names them, data) of an upload of 2 parts."""
    data = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range((5 * MiB + 100) // 32))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, data[: 5 * MiB]), (2, data[5 * MiB :])):
        got = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": got["ETag"]})
    return upload_id, parts, data


def _complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]]) -> Any:
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


FIELDS = ("Location", "Bucket", "Key", "ETag", "ChecksumCRC32", "ChecksumCRC64NVME", "ChecksumType")


def test_repeated_complete_answers_the_same_success(s3: Any, bucket: str) -> None:
    upload_id, parts, data = _upload(s3, bucket, "retried")
    first = _complete(s3, bucket, "retried", upload_id, parts)
    again = _complete(s3, bucket, "retried", upload_id, parts)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {f: again.get(f) for f in FIELDS} == {f: first.get(f) for f in FIELDS}
    assert first["ETag"].endswith('-2"')
    got = s3.get_object(Bucket=bucket, Key="retried")
    assert got["ETag"] == first["ETag"]
    assert got["Body"].read() == data


def test_repeated_complete_with_other_parts_is_no_such_upload(s3: Any, bucket: str) -> None:
    upload_id, parts, _ = _upload(s3, bucket, "retried")
    _complete(s3, bucket, "retried", upload_id, parts)
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "retried", upload_id, parts[:1])
    assert error_code(exc) == (404, "NoSuchUpload")
    assert exc.value.response["Error"]["UploadId"] == upload_id


def test_repeated_complete_after_an_overwrite_is_no_such_upload(s3: Any, bucket: str) -> None:
    upload_id, parts, _ = _upload(s3, bucket, "retried")
    _complete(s3, bucket, "retried", upload_id, parts)
    s3.put_object(Bucket=bucket, Key="retried", Body=b"written since")
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "retried", upload_id, parts)
    assert error_code(exc) == (404, "NoSuchUpload")
    assert s3.get_object(Bucket=bucket, Key="retried")["Body"].read() == b"written since"
