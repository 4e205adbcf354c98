"""Bucket-name and key rules; Range parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.s3.names import bucket_name_problem, validate_bucket_name, validate_key
from hamster.s3.ranges import content_range, parse_range, unsatisfied_content_range

# -- bucket names -----------------------------------------------------------------

VALID_BUCKETS = [
    "abc",
    "a" * 63,
    "docexamplebucket1",
    "log-delivery-march-2020",
    "my-hosted-content",
    "docexamplewebsite.com",
    "www.docexamplewebsite.com",
    "my.example.s3.bucket",
    "1bucket",
    "bucket1",
    "192.168.5.4x",
    "1.2.3",
    "a-b",
    "xn-a",
    "sthree",
    "s3alias",
]

INVALID_BUCKETS = [
    "",
    "ab",
    "a" * 64,
    "doc_example_bucket",  # underscore
    "DocExampleBucket",  # uppercase
    "doc-example-bucket-",  # ends with hyphen
    "-doc-example-bucket",
    ".bucket",
    "bucket.",
    "my..bucket",
    "my-.bucket",
    "my.-bucket",
    "192.168.5.4",
    "10.0.0.1",
    "xn--bucket",
    "sthree-bucket",
    "sthree-configurator",
    "amzn-s3-demo-bucket",
    "bucket-s3alias",
    "bucket--ol-s3",
    "bucket.mrap",
    "bucket--x-s3",
    "bucket--table-s3",
    "buck et",
    "bucké",
    "bucket/",
]


@pytest.mark.parametrize("name", VALID_BUCKETS)
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize("name", INVALID_BUCKETS)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(S3Error) as info:
        validate_bucket_name(name)
    assert info.value.code == "InvalidBucketName"
    assert info.value.status == 400
    assert info.value.extra == {"BucketName": name}


LENGTH = "Bucket name must be between 3 and 63 characters long"
CHARS = "Bucket name can only contain lowercase letters, numbers, periods and hyphens"
ENDS = "Bucket name must begin and end with a letter or number"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", LENGTH),
        ("ab", LENGTH),
        ("a" * 64, LENGTH),
        ("doc_example_bucket", CHARS),
        ("DocExampleBucket", CHARS),
        ("bucké", CHARS),
        ("doc-example-bucket-", ENDS),
        ("-doc-example-bucket", ENDS),
        (".bucket", ENDS),
        ("bucket.", ENDS),
        ("my..bucket", "Bucket name must not contain two adjacent periods"),
        ("my-.bucket", "Bucket name must not contain a period next to a hyphen"),
        ("my.-bucket", "Bucket name must not contain a period next to a hyphen"),
        ("192.168.5.4", "Bucket name must not be formatted as an IP address"),
        ("xn--bucket", "Bucket name must not start with 'xn--'"),
        ("sthree-bucket", "Bucket name must not start with 'sthree-'"),
        ("amzn-s3-demo-bucket", "Bucket name must not start with 'amzn-s3-demo-'"),
        ("bucket-s3alias", "Bucket name must not end with '-s3alias'"),
        ("bucket--ol-s3", "Bucket name must not end with '--ol-s3'"),
        ("bucket.mrap", "Bucket name must not end with '.mrap'"),
        ("bucket--x-s3", "Bucket name must not end with '--x-s3'"),
        ("bucket--table-s3", "Bucket name must not end with '--table-s3'"),
    ],
)
def test_bucket_name_problem_says_which_rule(name: str, problem: str) -> None:
    assert bucket_name_problem(name) == problem


@given(st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True))
def test_simple_dns_labels_are_valid(name: str) -> None:
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")
    ):
        return
    validate_bucket_name(name)


@given(st.text(max_size=70))
def test_accepted_names_obey_the_rules(name: str) -> None:
    if bucket_name_problem(name) is None:
        assert 3 <= len(name) <= 63
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        assert name[0].isalnum() and name[-1].isalnum() and ".." not in name


# -- keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["a", "/a", "//a", "a" * 1024, "é" * 512, "\U0001f439" * 256, " ", "..", "a\x00b"]
)
def test_valid_keys(key: str) -> None:
    validate_key(key)


@pytest.mark.parametrize(
    ("key", "size"), [("a" * 1025, 1025), ("é" * 513, 1026), ("\U0001f439" * 257, 1028)]
)
def test_key_too_long(key: str, size: int) -> None:
    with pytest.raises(S3Error) as info:
        validate_key(key)
    assert info.value.code == "KeyTooLongError"
    assert info.value.status == 400
    assert info.value.extra == {"Size": str(size), "MaxSizeAllowed": "1024"}


def test_empty_key_is_invalid() -> None:
    with pytest.raises(S3Error) as info:
        validate_key("")
    assert (info.value.code, info.value.status, info.value.text) == (
        "InvalidArgument",
        400,
        "Object key must not be empty",
    )
    assert info.value.extra == {"ArgumentName": "key", "ArgumentValue": ""}


def test_key_that_is_not_unicode_text_is_invalid_uri() -> None:
    with pytest.raises(S3Error) as info:
        validate_key("a\ud800b")
    assert (info.value.code, info.value.status) == ("InvalidURI", 400)


# -- ranges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=5-100", 10, (5, 9)),  # last clamped
        ("bytes=9-9", 10, (9, 9)),
        ("bytes=3-", 10, (3, 9)),
        ("bytes=0-", 10, (0, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-10", 10, (0, 9)),
        ("bytes=-100", 10, (0, 9)),  # longer suffix: whole object as a range
        ("Bytes=1-2", 10, (1, 2)),
        (" bytes = 1 - 2 ", 10, (1, 2)),
        ("bytes=007-008", 10, (7, 8)),
        # ignored by S3: the whole object with 200
        ("bytes=5-3", 10, None),
        ("bytes=-", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=1-2,4-5", 10, None),
        ("bytes=20-30,40-50", 10, None),  # multi-range, even unsatisfiable
        ("items=0-1", 10, None),
        ("bytes 0-1", 10, None),
        ("0-1", 10, None),
        ("", 10, None),
        ("bytes=--1", 10, None),
        ("bytes=1", 10, None),
        ("bytes=１-２", 10, None),  # non-ASCII digits
        # empty object
        ("bytes=-1", 0, None),
        ("bytes=-100", 0, None),
        ("bytes=5-3", 0, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),
        ("bytes=10-20", 10),
        ("bytes=100-", 10),
        ("bytes=-0", 10),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=1-2", 0),
        ("bytes=-0", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    err = info.value
    assert err.code == "InvalidRange" and err.status == 416
    assert err.extra == {"RangeRequested": header, "ActualObjectSize": str(size)}
    assert err.headers == {"Content-Range": f"bytes */{size}"}


def test_content_range() -> None:
    assert content_range(0, 99, 1234) == "bytes 0-99/1234"
    assert content_range(0, 0, 1) == "bytes 0-0/1"
    assert unsatisfied_content_range(1234) == "bytes */1234"
    # A span that is not inside the object is a caller's bug, never a header.
    for first, last, size in ((0, 1234, 1234), (5, 4, 10), (-1, 3, 10), (0, 0, 0)):
        with pytest.raises(AssertionError):
            content_range(first, last, size)


sizes = st.integers(min_value=0, max_value=10**12)
offsets = st.integers(min_value=0, max_value=10**13)


@given(sizes, offsets, st.one_of(st.none(), offsets))
def test_first_last_ranges_stay_in_bounds(size: int, first: int, last: int | None) -> None:
    header = f"bytes={first}-" + ("" if last is None else str(last))
    try:
        result = parse_range(header, size)
    except S3Error as err:
        assert err.code == "InvalidRange"
        assert first >= size
        return
    if result is None:
        assert last is not None and last < first
        return
    a, b = result
    assert 0 <= a <= b < size
    assert a == first
    assert b == (size - 1 if last is None else min(last, size - 1))
    content_range(a, b, size)


@given(sizes, offsets)
def test_suffix_ranges_stay_in_bounds(size: int, n: int) -> None:
    try:
        result = parse_range(f"bytes=-{n}", size)
    except S3Error:
        assert n == 0
        return
    if result is None:
        assert size == 0
        return
    a, b = result
    assert 0 <= a <= b == size - 1
    assert b - a + 1 == min(n, size)


@given(st.text(max_size=30), sizes)
def test_any_header_is_none_a_range_or_invalid_range(header: str, size: int) -> None:
    try:
        result = parse_range(header, size)
    except S3Error as err:
        assert err.code == "InvalidRange"
        return
    if result is not None:
        assert 0 <= result[0] <= result[1] < size
