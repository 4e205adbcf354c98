"""Server-side copy rules: x-amz-copy-source, x-amz-copy-source-range, directives."""

from __future__ import annotations

import pytest
from botocore.handlers import _quote_source_header, _quote_source_header_from_dict
from hypothesis import example, given
from hypothesis import strategies as st

from hamster.s3.copy import (
    COPY_SOURCE_MAX_BYTES,
    COPY_TO_ITSELF_MESSAGE,
    RANGE_FORM_MESSAGE,
    CopySource,
    Directive,
    check_copy_range,
    check_copy_source_size,
    check_not_copy_to_itself,
    check_source_version,
    parse_checksum_algorithm,
    parse_copy_source,
    parse_copy_source_range,
    parse_directive,
)
from hamster.s3.errors import S3Error

# -- x-amz-copy-source -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("b/k", CopySource("b", "k")),
        ("/b/k", CopySource("b", "k")),
        ("b/dir/sub/k.txt", CopySource("b", "dir/sub/k.txt")),
        ("b//k", CopySource("b", "/k")),
        ("b/a//b/", CopySource("b", "a//b/")),
        (
            "/bucket/key%2Bwith%20space?versionId=null",
            CopySource("bucket", "key+with space", "null"),
        ),
        (
            "bucket/key%2Bwith%20space?versionId=null",
            CopySource("bucket", "key+with space", "null"),
        ),
        # An unencoded '+' is a space, as S3 reads this header.
        ("b/a+b", CopySource("b", "a b")),
        ("b/%25%3F%23%26", CopySource("b", "%?#&")),
        ("b/caf%C3%A9", CopySource("b", "café")),
        # Raw UTF-8 bytes as a latin-1 header value decode to the text they encode.
        ("b/caf\xc3\xa9", CopySource("b", "café")),
        (
            "b/k?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
            CopySource("b", "k", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
        ),
        ("b/k?other=1", CopySource("b", "k")),
        # An encoded separator still separates bucket and key (the .NET SDK sends it).
        ("b%2Fk", CopySource("b", "k")),
        ("  b/k  ", CopySource("b", "k")),
    ],
)
def test_parse_copy_source(header: str, expected: CopySource) -> None:
    assert parse_copy_source(header) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("b/%ZZ", "Invalid copy source encoding"),
        ("100%/foo", "Invalid copy source encoding"),
        ("b/%C3%", "Invalid copy source encoding"),
        ("b/%ff", "Invalid copy source encoding"),
        ("b/k?versionId=%zz", "Invalid copy source encoding"),
        ("", "Invalid copy source bucket name"),
        ("/", "Invalid copy source bucket name"),
        ("//k", "Invalid copy source bucket name"),
        ("b", "Invalid copy source object key"),
        ("b/", "Invalid copy source object key"),
        ("/b/?versionId=null", "Invalid copy source object key"),
    ],
)
def test_parse_copy_source_refuses(header: str, message: str) -> None:
    with pytest.raises(S3Error) as e:
        parse_copy_source(header)
    assert (e.value.code, e.value.status, e.value.text) == ("InvalidArgument", 400, message)
    assert e.value.extra == {"ArgumentName": "x-amz-copy-source", "ArgumentValue": header}


bucket_names = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)
keys = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)


@given(bucket=bucket_names, key=keys, slash=st.booleans(), version=st.sampled_from([None, "null"]))
def test_botocore_encoded_sources_round_trip(
    bucket: str, key: str, slash: bool, version: str | None
) -> None:
    """Whatever the key, what botocore sends (dict or string form) names it exactly."""
    source: dict[str, str] = {"Bucket": bucket, "Key": key}
    if version is not None:
        source["VersionId"] = version
    header = _quote_source_header_from_dict(source)
    if slash:
        header = "/" + header
    # The header travels as latin-1 text (what the HTTP layer gives us).
    header = header.encode("utf-8").decode("latin-1")
    assert parse_copy_source(header) == CopySource(bucket, key, version)


@given(bucket=bucket_names, key=keys.filter(lambda k: "?versionId=" not in k))
def test_botocore_string_sources_round_trip(bucket: str, key: str) -> None:
    header = _quote_source_header(f"{bucket}/{key}?versionId=null")
    assert parse_copy_source(header) == CopySource(bucket, key, "null")


@given(st.text(max_size=40))
def test_any_header_parses_or_is_invalid_argument(header: str) -> None:
    try:
        parsed = parse_copy_source(header.encode("utf-8").decode("latin-1"))
    except S3Error as e:
        assert e.code == "InvalidArgument"
    else:
        assert parsed.bucket and parsed.key


def test_source_version() -> None:
    check_source_version(CopySource("b", "k"))
    check_source_version(CopySource("b", "k", "null"))
    well_formed = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"
    with pytest.raises(S3Error) as e:
        check_source_version(CopySource("b", "k", well_formed))
    assert (e.value.code, e.value.status) == ("NoSuchVersion", 404)
    assert e.value.extra == {"Key": "k", "VersionId": well_formed}
    for malformed in ("", "Null", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "abc"):
        with pytest.raises(S3Error) as e:
            check_source_version(CopySource("b", "k", malformed))
        assert (e.value.code, e.value.status) == ("InvalidArgument", 400)


# -- x-amz-copy-source-range ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-5", (5, 5)),
        ("bytes=0007-10", (7, 10)),
        (" bytes=1-2 ", (1, 2)),
        ("bytes=5368709119-10737418239", (5368709119, 10737418239)),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_copy_source_range(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "0-2",
        "bytes=0",
        "bytes=hello-world",
        "bytes=0-bar",
        "bytes=hello-",
        "bytes=0-2,3-5",
        "bytes=0-",
        "bytes=-5",
        "bytes=5-2",
        "bytes= 0-2",
        "bytes=0 -2",
        "Bytes=0-2",
        "bytes=\u0661-\u0662",  # Arabic-Indic digits are isdigit() but not ASCII
        "bytes=+1-2",
        "",
    ],
)
def test_parse_range_refuses(header: str) -> None:
    with pytest.raises(S3Error) as e:
        parse_copy_source_range(header)
    assert (e.value.code, e.value.status, e.value.text) == (
        "InvalidArgument",
        400,
        RANGE_FORM_MESSAGE,
    )
    assert e.value.extra == {"ArgumentName": "x-amz-copy-source-range", "ArgumentValue": header}


def test_check_range() -> None:
    assert check_copy_range(None, 0) == (0, 0)
    assert check_copy_range(None, 10) == (0, 10)
    assert check_copy_range((0, 9), 10) == (0, 10)
    assert check_copy_range((3, 3), 10) == (3, 1)
    for span, size in (((0, 10), 10), ((10, 10), 10), ((0, 0), 0), ((0, 21), 5)):
        with pytest.raises(S3Error) as e:
            check_copy_range(span, size)
        assert (e.value.code, e.value.status) == ("InvalidArgument", 400)
        assert e.value.text == f"Range specified is not valid for source object of size: {size}"
        assert e.value.extra == {
            "ArgumentName": "x-amz-copy-source-range",
            "ArgumentValue": f"bytes={span[0]}-{span[1]}",
        }


@given(size=st.integers(0, 10**12), first=st.integers(0, 10**12), extra=st.integers(0, 10**12))
@example(size=COPY_SOURCE_MAX_BYTES + 2, first=1, extra=COPY_SOURCE_MAX_BYTES - 1)  # 5 GiB: fine
@example(size=COPY_SOURCE_MAX_BYTES + 2, first=0, extra=COPY_SOURCE_MAX_BYTES)  # one byte more
@example(size=10, first=0, extra=10)  # one byte past the end
def test_range_property(size: int, first: int, extra: int) -> None:
    """A parsed range is copied exactly when it lies inside the source, and the
    bytes copied are [first, last]."""
    last = first + extra
    span = parse_copy_source_range(f"bytes={first}-{last}")
    assert span == (first, last)
    if last < size and extra + 1 <= COPY_SOURCE_MAX_BYTES:
        start, length = check_copy_range(span, size)
        assert (start, start + length - 1) == (first, last)
        return
    with pytest.raises(S3Error) as e:
        check_copy_range(span, size)
    # Past the end of the source is checked first, then the 5 GiB bound.
    expected = ("InvalidArgument", 400) if last >= size else ("InvalidRequest", 400)
    assert (e.value.code, e.value.status) == expected


def test_source_size_limit() -> None:
    check_copy_source_size(COPY_SOURCE_MAX_BYTES)
    assert check_copy_range(None, COPY_SOURCE_MAX_BYTES) == (0, COPY_SOURCE_MAX_BYTES)
    for call in (
        lambda: check_copy_source_size(COPY_SOURCE_MAX_BYTES + 1),
        lambda: check_copy_range(None, COPY_SOURCE_MAX_BYTES + 1),
        lambda: check_copy_range((0, COPY_SOURCE_MAX_BYTES), COPY_SOURCE_MAX_BYTES + 10),
    ):
        with pytest.raises(S3Error) as e:
            call()
        assert (e.value.code, e.value.status) == ("InvalidRequest", 400)
        assert e.value.text == (
            "The specified copy source is larger than the maximum allowable size for a copy "
            "source: 5368709120"
        )
    # A range of at most 5 GiB from a larger source is fine.
    assert check_copy_range((1, COPY_SOURCE_MAX_BYTES), COPY_SOURCE_MAX_BYTES + 1) == (
        1,
        COPY_SOURCE_MAX_BYTES,
    )


# -- directives ----------------------------------------------------------------------


def test_directives() -> None:
    assert parse_directive(None) is Directive.COPY
    assert parse_directive("COPY") is Directive.COPY
    assert parse_directive("REPLACE") is Directive.REPLACE
    assert parse_directive(" REPLACE ") is Directive.REPLACE
    for value, header, message in (
        ("invalid", "x-amz-metadata-directive", "Unknown metadata directive."),
        ("replace", "x-amz-metadata-directive", "Unknown metadata directive."),
        ("", "x-amz-metadata-directive", "Unknown metadata directive."),
        ("MOVE", "x-amz-tagging-directive", "Unknown tagging directive."),
    ):
        with pytest.raises(S3Error) as e:
            parse_directive(value, header)
        assert (e.value.code, e.value.text) == ("InvalidArgument", message)
        assert e.value.extra == {"ArgumentName": header, "ArgumentValue": value}


def test_copy_to_itself() -> None:
    source = CopySource("b", "k")
    check_not_copy_to_itself(source, "b", "k", Directive.REPLACE)
    check_not_copy_to_itself(source, "b", "k2", Directive.COPY)
    check_not_copy_to_itself(source, "b2", "k", Directive.COPY)
    with pytest.raises(S3Error) as e:
        check_not_copy_to_itself(source, "b", "k", Directive.COPY)
    assert (e.value.code, e.value.text) == ("InvalidRequest", COPY_TO_ITSELF_MESSAGE)


def test_checksum_algorithm() -> None:
    assert parse_checksum_algorithm(None) is None
    assert parse_checksum_algorithm("crc32") == "CRC32"
    assert parse_checksum_algorithm(" SHA256 ") == "SHA256"
    for bad in ("MD5", "", "crc"):
        with pytest.raises(S3Error) as e:
            parse_checksum_algorithm(bad)
        assert e.value.code == "InvalidRequest"
        assert e.value.text.startswith("Checksum algorithm provided is unsupported.")
