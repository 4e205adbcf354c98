"""boto3: ListObjectsV2 and ListObjects paginating 2500 keys, with and without a delimiter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.compat.harness import body_of, put_all


def list_keys() -> list[str]:
    """2500 keys in 25 prefixes, some with '+', '%', spaces and non-ASCII letters."""
    special = ["", "+", " %", "é", "ü+ "]
    return [f"p{i % 25:02d}/{special[i % 5]}k{i:04d}" for i in range(2500)]


def utf8_order(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def test_boto3_list_v2_paginates_2500_keys(s3: Any, bucket_name: str) -> None:
    s3.create_bucket(Bucket=bucket_name)
    keys = list_keys()
    put_all(s3, bucket_name, keys)

    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket_name, PaginationConfig={"PageSize": 1000}
        )
    )
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    listed = [c["Key"] for p in pages for c in p["Contents"]]
    assert listed == utf8_order(keys)
    sizes = {c["Key"]: c["Size"] for p in pages for c in p["Contents"]}
    assert all(sizes[k] == len(body_of(k)) for k in keys)

    # Common prefixes count against max-keys and are never repeated on the next page.
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket_name, Delimiter="/", PaginationConfig={"PageSize": 10}
        )
    )
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert prefixes == [f"p{i:02d}/" for i in range(25)]
    assert len(pages) == 3

    # v1 with a delimiter: NextMarker carries the pagination.
    pages = list(
        s3.get_paginator("list_objects").paginate(
            Bucket=bucket_name, Prefix="p07/", Delimiter="/", PaginationConfig={"PageSize": 40}
        )
    )
    listed = [c["Key"] for p in pages for c in p["Contents"]]
    assert listed == utf8_order(k for k in keys if k.startswith("p07/"))
    assert len(pages) == 3
