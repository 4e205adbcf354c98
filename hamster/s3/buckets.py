"""Bucket rules, sans-I/O: what CreateBucket answers for a bucket that exists."""

from __future__ import annotations

from hamster.s3.errors import S3Error

__all__ = ["US_EAST_1", "recreate_owned_bucket"]

US_EAST_1 = "us-east-1"


def recreate_owned_bucket(
    name: str, *, server_region: str, bucket_location: str, requested_location: str
) -> None:
    """Decide CreateBucket of a bucket the caller already owns.

    AWS keeps a legacy rule in us-east-1: re-creating there a bucket you own
    that lives in us-east-1 succeeds (200, nothing changes), and scripts that
    "ensure" a bucket rely on it. Everywhere else, or when the bucket lives in
    another region, or when the request asks for another region, the answer is
    BucketAlreadyOwnedByYou (409).

    Returns:
      None when the request succeeds as if it had created the bucket.

    Raises:
      S3Error: BucketAlreadyOwnedByYou.
    """
    if server_region == bucket_location == requested_location == US_EAST_1:
        return
    raise S3Error("BucketAlreadyOwnedByYou", extra={"BucketName": name})
