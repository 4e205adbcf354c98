"""hamster.s3.buckets: CreateBucket of a bucket the caller already owns."""

from __future__ import annotations

import itertools

import pytest

from hamster.s3.buckets import recreate_owned_bucket
from hamster.s3.errors import S3Error

REGIONS = ("us-east-1", "eu-west-1", "us-east-2")


@pytest.mark.parametrize(
    ("server", "location", "requested"), list(itertools.product(REGIONS, repeat=3))
)
def test_only_us_east_1_throughout_succeeds(server: str, location: str, requested: str) -> None:
    """200 when the server, the bucket and the request are all us-east-1 (as
    AWS answers); BucketAlreadyOwnedByYou otherwise."""
    if server == location == requested == "us-east-1":
        recreate_owned_bucket(
            "b", server_region=server, bucket_location=location, requested_location=requested
        )
        return
    with pytest.raises(S3Error) as info:
        recreate_owned_bucket(
            "b", server_region=server, bucket_location=location, requested_location=requested
        )
    assert (info.value.code, info.value.status) == ("BucketAlreadyOwnedByYou", 409)
    assert info.value.extra == {"BucketName": "b"}
