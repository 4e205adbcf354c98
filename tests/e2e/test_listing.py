"""Listing through boto3 against the real daemon: ListObjects (v1), ListObjectsV2,
ListObjectVersions, paginated ListBuckets, versionId on object requests, and a
listing that pages while keys are written and deleted."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, make_client

# Keys a listing must give back byte for byte: URL-special characters, space,
# unicode of every UTF-8 length, and XML markup.
SPECIAL_KEYS = [
    "plus+sign",
    "percent%20literal",
    "100%.csv",
    "space in name",
    "dir with space/file",
    "é/ü.txt",
    "日本語/キー",
    "emoji/\U0001f600",
    "amp&lt<gt>\"quote'",
    "tilde~star*(paren)",
    "a+b/c d/e%f",
]
WELL_FORMED_VERSION = "Ud4N8aQsNiIl9Izeas5gxgEq9ZBzj.Ic"


def body_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def put_keys(s3: Any, bucket: str, keys: list[str], workers: int = 8) -> None:
    def put(key: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body_of(key))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, keys))


def utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


# -- ListObjectsV2 ----------------------------------------------------------------


def test_v2_contents_fields(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello world")
    head = s3.head_object(Bucket=bucket, Key="k")
    page = s3.list_objects_v2(Bucket=bucket)
    assert page["KeyCount"] == 1 and page["IsTruncated"] is False and page["MaxKeys"] == 1000
    [obj] = page["Contents"]
    assert obj["Key"] == "k" and obj["Size"] == 11
    assert obj["ETag"] == head["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'
    assert obj["StorageClass"] == "STANDARD"
    assert obj["LastModified"].replace(microsecond=0) == head["LastModified"]
    assert obj["ChecksumAlgorithm"] == ["CRC32"] and obj["ChecksumType"] == "FULL_OBJECT"
    assert "Owner" not in obj
    owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]
    assert owned["Owner"]["DisplayName"] == "alice" and len(owned["Owner"]["ID"]) == 64


def test_v2_special_keys_round_trip(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, SPECIAL_KEYS)
    page = s3.list_objects_v2(Bucket=bucket)  # boto3 asks for encoding-type=url
    assert [o["Key"] for o in page["Contents"]] == utf8_sorted(SPECIAL_KEYS)
    for key in SPECIAL_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body_of(key)
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == utf8_sorted(
        ["dir with space/", "é/", "日本語/", "emoji/", "a+b/"]
    )
    inside = s3.list_objects_v2(Bucket=bucket, Prefix="a+b/", Delimiter=" ")
    assert inside["Prefix"] == "a+b/" and inside["Delimiter"] == " "
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["a+b/c "]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="percent%20literal")
    assert after["StartAfter"] == "percent%20literal"
    assert [o["Key"] for o in after["Contents"]] == [
        k for k in utf8_sorted(SPECIAL_KEYS) if k.encode() > b"percent%20literal"
    ]


def test_v2_paginator_over_2500_keys(s3: Any, bucket: str) -> None:
    keys = [f"k/{i:05d}-{hashlib.md5(str(i).encode()).hexdigest()[:6]}" for i in range(2500)]
    put_keys(s3, bucket, keys, workers=16)
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    assert all("NextContinuationToken" in p for p in pages[:2])
    assert "NextContinuationToken" not in pages[2]
    assert [o["Key"] for p in pages for o in p["Contents"]] == sorted(keys)
    # more than 1000 is capped at 1000
    big = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert big["MaxKeys"] == 1000 and big["KeyCount"] == 1000 and big["IsTruncated"] is True
    # small pages with a delimiter of a different kind: each key is its own entry
    small = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="k/0001", PaginationConfig={"PageSize": 7}
    )
    assert [o["Key"] for p in small for o in p["Contents"]] == sorted(
        k for k in keys if k.startswith("k/0001")
    )


def test_v2_delimiter_pages_and_max_keys_zero(s3: Any, bucket: str) -> None:
    keys = [f"{d}/{n}" for d in ("a", "b", "c", "d") for n in range(3)] + ["e", "f"]
    put_keys(s3, bucket, keys)
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    entries = [
        [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        + [o["Key"] for o in page.get("Contents", [])]
        for page in pages
    ]
    assert entries == [["a/", "b/"], ["c/", "d/"], ["e", "f"]]
    assert [p["KeyCount"] for p in pages] == [2, 2, 2]
    zero = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert zero["KeyCount"] == 0 and zero["IsTruncated"] is False and "Contents" not in zero
    # a multi-character delimiter
    odd = s3.list_objects_v2(Bucket=bucket, Delimiter="/1")
    assert [p["Prefix"] for p in odd["CommonPrefixes"]] == ["a/1", "b/1", "c/1", "d/1"]


def test_v2_errors(s3: Any, s3_bob: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token")
    assert error_code(e) == (400, "InvalidArgument")
    assert e.value.response["Error"]["Message"] == "The continuation token provided is incorrect"
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, EncodingType="base64")
    assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="no-such-bucket-listing")
    assert error_code(e) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3_bob.list_objects_v2(Bucket=bucket)
    assert error_code(e) == (403, "AccessDenied")


# -- ListObjects (v1) -------------------------------------------------------------


def test_v1_marker_next_marker_and_paginator(s3: Any, bucket: str) -> None:
    keys = ["asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla", "z+ é"]
    put_keys(s3, bucket, keys)
    first = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["asdf"]
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["boo/"]
    assert first["IsTruncated"] is True and first["NextMarker"] == "boo/"
    second = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2, Marker="boo/")
    assert second["Marker"] == "boo/"
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["cquux/"]
    assert [o["Key"] for o in second["Contents"]] == ["z+ é"]
    assert second["IsTruncated"] is False and "NextMarker" not in second
    # without a delimiter S3 gives no NextMarker; the last key is the way on
    plain = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert plain["IsTruncated"] is True and "NextMarker" not in plain
    assert plain["Contents"][0]["Owner"]["DisplayName"] == "alice"
    pages = list(
        s3.get_paginator("list_objects").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
        )
    )
    assert [
        [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        + [o["Key"] for o in page.get("Contents", [])]
        for page in pages
    ] == [["asdf"], ["boo/"], ["cquux/"], ["z+ é"]]
    flat = s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 4}
    )
    assert [o["Key"] for p in flat for o in p["Contents"]] == utf8_sorted(keys)


def test_v1_special_keys_and_markers_round_trip(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, SPECIAL_KEYS)
    ordered = utf8_sorted(SPECIAL_KEYS)
    page = s3.list_objects(Bucket=bucket, Marker=ordered[2], MaxKeys=3)
    assert page["Marker"] == ordered[2]
    assert [o["Key"] for o in page["Contents"]] == ordered[3:6]
    rolled = s3.list_objects(Bucket=bucket, Prefix="a", Delimiter="+", MaxKeys=1)
    assert rolled["Delimiter"] == "+" and rolled["Prefix"] == "a"
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a+"]
    assert rolled["NextMarker"] == "a+" and rolled["IsTruncated"] is True
    rest = s3.list_objects(Bucket=bucket, Prefix="a", Delimiter="+", Marker="a+")
    assert [o["Key"] for o in rest["Contents"]] == ["amp&lt<gt>\"quote'"]
    assert "CommonPrefixes" not in rest


def test_v1_errors(s3: Any, s3_bob: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket=bucket, MaxKeys=2**31)
    assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3_bob.list_objects(Bucket=bucket)
    assert error_code(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket=bucket, EncodingType="gzip")
    assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.list_objects(Bucket="no-such-bucket-listing")
    assert error_code(e) == (404, "NoSuchBucket")


# -- ListObjectVersions and versionId -----------------------------------------------


def test_versions_of_a_never_versioned_bucket(s3: Any, bucket: str) -> None:
    keys = ["a", "b/1", "b/2", "c d+e", "é"]
    put_keys(s3, bucket, keys)
    listed = s3.list_object_versions(Bucket=bucket)
    versions = listed["Versions"]
    assert [v["Key"] for v in versions] == utf8_sorted(keys)
    assert all(v["VersionId"] == "null" and v["IsLatest"] is True for v in versions)
    assert "DeleteMarkers" not in listed and listed["IsTruncated"] is False
    objects = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    for v in versions:
        assert (v["ETag"], v["Size"]) == (objects[v["Key"]]["ETag"], objects[v["Key"]]["Size"])
        assert v["Owner"]["DisplayName"] == "alice"
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    first = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert first["IsTruncated"] is True
    assert (first["NextKeyMarker"], first["NextVersionIdMarker"]) == ("b/1", "null")
    rest = s3.list_object_versions(
        Bucket=bucket, KeyMarker="b/1", VersionIdMarker="null", MaxKeys=10
    )
    assert [v["Key"] for v in rest["Versions"]] == ["b/2", "c d+e", "é"]
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == utf8_sorted(keys)
    paged_rolled = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    entries = [
        [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        + [v["Key"] for v in page.get("Versions", [])]
        for page in paged_rolled
    ]
    assert entries == [["a"], ["b/"], ["c d+e"], ["é"]]


def test_versions_errors(s3: Any, s3_bob: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert error_code(e) == (400, "InvalidArgument")
    assert "without a key marker" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker="bad")
    assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket="no-such-bucket-listing")
    assert error_code(e) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3_bob.list_object_versions(Bucket=bucket)
    assert error_code(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=bucket, MaxKeys=-5)
    assert error_code(e) == (400, "InvalidArgument")


def test_version_id_on_object_requests(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"current")
    got = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert got["Body"].read() == b"current"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId="null")["ContentLength"] == 7
    for call in (s3.get_object, s3.head_object, s3.delete_object):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", VersionId=WELL_FORMED_VERSION)
        assert error_code(e)[0] == 404
        if call.__name__ != "head_object":  # HEAD has no body to name the code
            assert error_code(e) == (404, "NoSuchVersion")
            assert e.value.response["Error"]["VersionId"] == WELL_FORMED_VERSION
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", VersionId="3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
        assert error_code(e)[0] == 400
        if call.__name__ != "head_object":
            assert error_code(e) == (400, "InvalidArgument")
    # the object is still there; versionId=null deletes it
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"current"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_code(e)[0] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-listing", Key="k", VersionId=WELL_FORMED_VERSION)
    assert error_code(e) == (404, "NoSuchBucket")


# -- ListBuckets pagination ----------------------------------------------------------


def test_list_buckets_pagination(s3: Any, s3_bob: Any, daemon: Daemon) -> None:
    names = [f"lbpage-{i}" for i in range(5)]
    for name in names:
        s3.create_bucket(Bucket=name)
    s3_bob.create_bucket(Bucket="lbpage-bob")
    first = s3.list_buckets(Prefix="lbpage-", MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    assert first["Prefix"] == "lbpage-" and "ContinuationToken" in first
    second = s3.list_buckets(
        Prefix="lbpage-", MaxBuckets=2, ContinuationToken=first["ContinuationToken"]
    )
    assert [b["Name"] for b in second["Buckets"]] == names[2:4]
    pages = list(
        s3.get_paginator("list_buckets").paginate(
            Prefix="lbpage-", PaginationConfig={"PageSize": 2}
        )
    )
    assert [[b["Name"] for b in p["Buckets"]] for p in pages] == [names[:2], names[2:4], names[4:]]
    assert "ContinuationToken" not in pages[-1]
    everything = s3.list_buckets()
    assert "ContinuationToken" not in everything
    assert set(names) <= {b["Name"] for b in everything["Buckets"]}
    assert "lbpage-bob" not in {b["Name"] for b in everything["Buckets"]}
    assert s3.list_buckets(Prefix="lbpage-", BucketRegion="eu-west-3")["Buckets"] == []
    unchecked = make_client(daemon.endpoint, ALICE, parameter_validation=False)
    for bad in (0, 10001, "x"):
        with pytest.raises(ClientError) as e:
            unchecked.list_buckets(MaxBuckets=bad)
        assert error_code(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.list_buckets(ContinuationToken="lbpage-1")
    assert error_code(e) == (400, "InvalidArgument")


# -- ListMultipartUploads through the same rules ------------------------------------


def test_multipart_uploads_roll_up_with_any_delimiter(s3: Any, bucket: str) -> None:
    for key in ["x::1", "x::2", "y::1", "z"]:
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    listed = s3.list_multipart_uploads(Bucket=bucket, Delimiter="::")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["x::", "y::"]
    assert [u["Key"] for u in listed["Uploads"]] == ["z"]
    first = s3.list_multipart_uploads(Bucket=bucket, Delimiter="::", MaxUploads=1)
    assert first["IsTruncated"] is True and first["NextKeyMarker"] == "x::"
    rest = s3.list_multipart_uploads(Bucket=bucket, Delimiter="::", KeyMarker="x::")
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["y::"]
    # a key marker inside a common prefix skips the rest of it
    inside = s3.list_multipart_uploads(Bucket=bucket, Delimiter="::", KeyMarker="x::1")
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["y::"]


# -- consistency under concurrent writes ---------------------------------------------


def test_paging_while_writing_and_deleting(s3: Any, bucket: str) -> None:
    """Between pages, keys are written before and after the cursor and keys not
    yet listed are deleted: no key comes twice, and every key that existed for
    the whole listing comes."""
    stable = [f"s/{i:03d}" for i in range(0, 60, 2)]
    doomed = [f"s/{i:03d}" for i in range(1, 60, 4)]
    put_keys(s3, bucket, stable + doomed)
    seen: list[str] = []
    token: str | None = None
    round_ = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 4}
        if token is not None:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        seen += [o["Key"] for o in page.get("Contents", [])]
        # writes around the cursor, a delete ahead of it
        last = seen[-1] if seen else "s/"
        s3.put_object(Bucket=bucket, Key=f"{last}-new{round_}", Body=b"after the cursor")
        s3.put_object(Bucket=bucket, Key=f"s/!{round_}", Body=b"before the cursor")
        ahead = [k for k in doomed if k > last]
        if ahead:
            s3.delete_object(Bucket=bucket, Key=ahead[0])
            doomed.remove(ahead[0])
        round_ += 1
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert len(seen) == len(set(seen))
    assert set(stable) <= set(seen)
    assert seen == sorted(seen)
