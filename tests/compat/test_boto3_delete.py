"""boto3: DeleteObjects of 1000 keys, and Quiet mode."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tests.compat.harness import body_of, parallel, put_all


def test_boto3_delete_objects_1000_keys(s3: Any, bucket_name: str) -> None:
    s3.create_bucket(Bucket=bucket_name)
    keys = [f"d/{i % 10}/ké+y {i:04d}" for i in range(1000)]
    put_all(s3, bucket_name, keys)

    answer = s3.delete_objects(Bucket=bucket_name, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in answer["Deleted"]) == sorted(keys)
    assert "Errors" not in answer

    def status(key: str) -> int:
        try:
            s3.head_object(Bucket=bucket_name, Key=key)
        except ClientError as exc:
            return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        return 200

    assert set(parallel(status, keys)) == {404}

    # Quiet mode: only errors are listed; missing keys are "deleted" like S3 says.
    s3.put_object(Bucket=bucket_name, Key="last one", Body=body_of("last one"))
    quiet = s3.delete_objects(
        Bucket=bucket_name,
        Delete={"Objects": [{"Key": "last one"}, {"Key": "never there"}], "Quiet": True},
    )
    assert quiet.get("Deleted", []) == [] and "Errors" not in quiet
    assert status("last one") == 404
    s3.delete_bucket(Bucket=bucket_name)
