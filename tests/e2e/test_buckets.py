"""Bucket operations through boto3 against the real daemon."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, assert_no_such_key, error_code, object_keys


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


def test_recreating_your_bucket_in_us_east_1_succeeds_and_changes_nothing(
    s3: Any, bucket: str
) -> None:
    # AWS's legacy rule in us-east-1, which scripts that "ensure" a bucket rely on.
    body = hashlib.sha256(bucket.encode()).digest()
    s3.put_object(Bucket=bucket, Key="kept", Body=body)
    created = s3.create_bucket(Bucket=bucket)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["Location"] == f"/{bucket}"
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == body
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_recreating_your_bucket_elsewhere_is_already_owned_by_you(s3: Any) -> None:
    # The 200 needs the bucket in us-east-1 and the request asking for it there.
    eu = {"LocationConstraint": "eu-west-1"}
    s3.create_bucket(Bucket="owned-in-eu", CreateBucketConfiguration=eu)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="owned-in-eu")
    assert error_code(exc) == (409, "BucketAlreadyOwnedByYou")
    assert exc.value.response["Error"]["BucketName"] == "owned-in-eu"
    assert s3.get_bucket_location(Bucket="owned-in-eu")["LocationConstraint"] == "eu-west-1"
    s3.create_bucket(Bucket="owned-in-us")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="owned-in-us", CreateBucketConfiguration=eu)
    assert error_code(exc) == (409, "BucketAlreadyOwnedByYou")
    assert s3.get_bucket_location(Bucket="owned-in-us")["LocationConstraint"] is None


@pytest.fixture(scope="module")
def eu_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    env = {"HAMSTER_ACCESS_KEY": ALICE[0], "HAMSTER_SECRET_KEY": ALICE[1]}
    d = Daemon(tmp_path_factory.mktemp("eu-data"), args=["--region", "eu-west-1"], env=env).start()
    yield d
    assert d.stop() == 0, "\n".join(d.stderr_lines)


def test_recreating_your_bucket_outside_us_east_1_is_already_owned_by_you(
    eu_daemon: Daemon,
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=eu_daemon.endpoint,
        aws_access_key_id=ALICE[0],
        aws_secret_access_key=ALICE[1],
        region_name="eu-west-1",
        config=Config(retries={"max_attempts": 1}),
    )
    eu = {"LocationConstraint": "eu-west-1"}
    s3.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration=eu)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration=eu)
    assert error_code(exc) == (409, "BucketAlreadyOwnedByYou")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="eu-bucket")  # no configuration: the server's region
    assert error_code(exc) == (409, "BucketAlreadyOwnedByYou")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["eu-bucket"]
    assert s3.get_bucket_location(Bucket="eu-bucket")["LocationConstraint"] == "eu-west-1"


def test_other_users_bucket(s3: Any, s3_bob: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3_bob.create_bucket(Bucket=bucket)
    assert error_code(exc) == (409, "BucketAlreadyExists")
    with pytest.raises(ClientError) as exc:
        s3_bob.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(exc) == (403, "AccessDenied")
    assert_no_such_key(s3, bucket, "k")
    assert object_keys(s3, bucket) == []
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
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"data"
    s3.delete_object(Bucket=bucket, Key="obj")
    s3.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    "name", ["ab", "UpperCase", "has_underscore", "-leading", "trailing-", "a..b", "192.168.1.1"]
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    before = s3.list_buckets()["Buckets"]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_code(exc) == (400, "InvalidBucketName")
    assert s3.list_buckets()["Buckets"] == before


def test_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="no-such-bucket-here")
    assert error_code(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_code(exc) == (404, "NoSuchBucket")
    assert "no-such-bucket-here" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


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
