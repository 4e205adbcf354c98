"""Bucket operations through boto3 against the real daemon."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import error_code


def test_create_head_list_location_delete(s3: Any) -> None:
    s3.create_bucket(Bucket="lifecycle-bucket")
    head = s3.head_bucket(Bucket="lifecycle-bucket")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "lifecycle-bucket" in names
    assert s3.get_bucket_location(Bucket="lifecycle-bucket")["LocationConstraint"] is None
    s3.delete_bucket(Bucket="lifecycle-bucket")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="lifecycle-bucket")
    assert error_code(exc)[0] == 404


def test_location_constraint_is_kept(s3: Any) -> None:
    s3.create_bucket(
        Bucket="located-bucket",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    assert s3.get_bucket_location(Bucket="located-bucket")["LocationConstraint"] == "eu-west-1"


def test_already_owned_by_you(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=bucket)
    assert error_code(exc) == (409, "BucketAlreadyOwnedByYou")


def test_other_users_bucket(s3: Any, s3_bob: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3_bob.create_bucket(Bucket=bucket)
    assert error_code(exc) == (409, "BucketAlreadyExists")
    with pytest.raises(ClientError) as exc:
        s3_bob.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3_bob.get_object(Bucket=bucket, Key="k")
    assert error_code(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3_bob.delete_bucket(Bucket=bucket)
    assert error_code(exc) == (403, "AccessDenied")
    assert bucket not in [b["Name"] for b in s3_bob.list_buckets()["Buckets"]]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_not_empty(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(exc) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=bucket, Key="obj")
    s3.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    "name", ["ab", "UpperCase", "has_underscore", "-leading", "trailing-", "a..b", "192.168.1.1"]
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_code(exc) == (400, "InvalidBucketName")


def test_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="no-such-bucket-here")
    assert error_code(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_code(exc) == (404, "NoSuchBucket")


def test_versioning_and_acl_truthful_answers(s3: Any, bucket: str) -> None:
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in versioning
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]


def test_unsupported_operation_is_not_implemented(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert error_code(exc) == (501, "NotImplemented")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_code(exc) == (501, "NotImplemented")


def test_bad_credentials(daemon: Any, bucket: str) -> None:
    from tests.e2e.conftest import ALICE, make_client

    wrong_secret = make_client(daemon.endpoint, (ALICE[0], "not-the-right-secret"))
    with pytest.raises(ClientError) as exc:
        wrong_secret.list_buckets()
    assert error_code(exc) == (403, "SignatureDoesNotMatch")
    unknown = make_client(daemon.endpoint, ("AKIDNOBODY", "whatever-secret-1"))
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert error_code(exc) == (403, "InvalidAccessKeyId")
