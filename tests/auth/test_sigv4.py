"""The SigV4 primitives and the shared time arithmetic, against AWS's documented values."""

from __future__ import annotations

import calendar
import datetime
import email.utils
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hamster.auth import common, sigv4
from hamster.s3.errors import S3Error
from tests.auth import botosign as b

# "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference).
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DOC_SIGNING_KEY = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.fixture
def empty_key_cache(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str, str, str], bytes]:
    """A fresh signing-key cache, so the derivation itself runs (not an earlier test's key)."""
    cache: dict[tuple[str, str, str, str], bytes] = {}
    monkeypatch.setattr(sigv4, "_signing_keys", cache)
    return cache


def test_signing_key_is_awss_documented_example(
    empty_key_cache: dict[tuple[str, str, str, str], bytes],
) -> None:
    key = sigv4.signing_key(DOC_SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == DOC_SIGNING_KEY
    assert empty_key_cache == {(DOC_SECRET, "20120215", "us-east-1", "iam"): key}


def test_signing_key_of_a_non_ascii_secret_hmacs_its_utf8(
    empty_key_cache: dict[tuple[str, str, str, str], bytes],
) -> None:
    def step(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()

    expected = step(
        step(step(step("AWS4clé".encode(), "20240501"), "eu-west-3"), "s3"), "aws4_request"
    )
    assert sigv4.signing_key("clé", "20240501", "eu-west-3", "s3") == expected


def test_signing_key_cache_is_bounded_oldest_first(
    empty_key_cache: dict[tuple[str, str, str, str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = sigv4.SIGNING_KEY_CACHE_ENTRIES_MAX
    assert limit == 128
    keys = [sigv4.signing_key(f"secret{i}", "20240501", "us-east-1", "s3") for i in range(limit)]
    assert len(set(keys)) == limit and len(empty_key_cache) == limit
    # A cached key is returned without deriving it again.
    monkeypatch.setattr(sigv4, "_hmac", lambda key, message: pytest.fail("derived again"))
    assert sigv4.signing_key("secret0", "20240501", "us-east-1", "s3") == keys[0]
    monkeypatch.undo()
    monkeypatch.setattr(sigv4, "_signing_keys", empty_key_cache)
    sigv4.signing_key("secret-new", "20240501", "us-east-1", "s3")
    assert len(empty_key_cache) == limit
    assert ("secret0", "20240501", "us-east-1", "s3") not in empty_key_cache
    assert ("secret1", "20240501", "us-east-1", "s3") in empty_key_cache
    assert ("secret-new", "20240501", "us-east-1", "s3") in empty_key_cache


@pytest.mark.parametrize("sign", [b.sign_header, b.sign_query], ids=["header", "presigned"])
def test_a_changed_secret_never_verifies_with_the_cached_key_of_the_old_one(
    empty_key_cache: dict[tuple[str, str, str, str], bytes], sign: Callable[..., b.Signed]
) -> None:
    # Credentials reloaded with a new secret for the same access key: the key
    # derived from the old secret (cached by the last request) must not verify.
    old, new = b.SECRET_KEY, b.SECRET_KEY + "-rotated"
    by_old = sign("GET", "/bucket/key", "", secret=old)
    by_new = sign("GET", "/bucket/key", "", secret=new)
    assert b.verify(by_old, secret=old).access_key == b.ACCESS_KEY
    with pytest.raises(S3Error) as info:
        b.verify(by_old, secret=new)
    assert info.value.code == "SignatureDoesNotMatch"
    assert b.verify(by_new, secret=new).signing_key == sigv4.signing_key(
        new, "20240501", b.REGION, "s3"
    )
    with pytest.raises(S3Error) as info:
        b.verify(by_new, secret=old)
    assert info.value.code == "SignatureDoesNotMatch"
    assert len(empty_key_cache) == 2


def test_each_scope_part_derives_another_key(
    empty_key_cache: dict[tuple[str, str, str, str], bytes],
) -> None:
    parts = ("secret", "20240501", "us-east-1", "s3")
    variants = [parts, ("secreT", *parts[1:]), (parts[0], "20240502", *parts[2:])]
    variants += [(*parts[:2], "us-east-2", parts[3]), (*parts[:3], "s4")]
    assert len({sigv4.signing_key(*v) for v in variants}) == 5


def test_signature_is_lower_hex_hmac_sha256() -> None:
    key = bytes.fromhex(DOC_SIGNING_KEY)
    text = "AWS4-HMAC-SHA256\n20120215T000000Z\nx\ny é"
    assert sigv4.signature(key, text) == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


# --- canonical forms -------------------------------------------------------------------------


def test_empty_path_is_slash() -> None:
    assert sigv4.canonical_uri("") == "/"
    assert sigv4.canonical_uri("", sigv4.Mode.GENERIC) == "/"
    assert sigv4.normalize_path("") == "/"


@pytest.mark.parametrize(
    ("raw_path", "canonical"),
    [
        ("/bucket/obj/00001", "/bucket/obj/00001"),  # nothing to decode or encode
        ("/b//a/./..", "/b//a/./.."),  # never normalised
        ("/b/a%2fb%7e%41%2a", "/b/a/b~A%2A"),  # decoded once, encoded again (upper hex)
        ("/b/a b+c*\xe9", "/b/a%20b%2Bc%2A%E9"),  # the wire bytes, encoded
        ("/b/\u20ac", "/b/%E2%82%AC"),  # not from the wire: its UTF-8
    ],
)
def test_s3_canonical_uri_decodes_once_and_encodes_again(raw_path: str, canonical: str) -> None:
    assert sigv4.canonical_uri(raw_path) == canonical


@pytest.mark.parametrize(
    ("path", "normalized"),
    [
        ("a/b", "a/b"),
        ("a/./b/../c/", "a/c/"),
        ("/a//b/", "/a/b/"),
        ("/..", "/"),
        ("/a/..", "/"),
        ("..", ""),
    ],
)
def test_generic_normalisation(path: str, normalized: str) -> None:
    assert sigv4.normalize_path(path) == normalized


@pytest.mark.parametrize(
    ("raw", "pairs"),
    [
        ("a=1&b=&c", [("a", "1"), ("b", ""), ("c", "")]),
        ("&&a=1&", [("a", "1")]),
        ("a=b=c", [("a", "b=c")]),
        ("%41%3d=%2B+%20", [("A=", "++ ")]),
        ("k=%C3%A9", [("k", "\xc3\xa9")]),
        # Not from the wire: a character above U+00FF is taken as its UTF-8.
        ("\u20ac=\xe9\u20ac", [("\xe2\x82\xac", "\xc3\xa9\xe2\x82\xac")]),
    ],
)
def test_query_pairs(raw: str, pairs: list[tuple[str, str]]) -> None:
    assert sigv4.query_pairs(raw) == pairs


def test_canonical_query_encodes_slashes_and_sorts_by_name_then_value() -> None:
    pairs = [("b", "2/3"), ("a/", "z"), ("b", "1 ~"), ("a", "")]
    assert sigv4.canonical_query(pairs) == "a=&a%2F=z&b=1%20~&b=2%2F3"


@pytest.mark.parametrize(
    ("value", "trimmed"),
    [
        ("  a  b\t\tc ", "a b c"),
        ("\ta", "a"),
        ("a \t b", "a b"),
        ("", ""),
        ("a\nb", "a\nb"),
        ("\xa0a \xa0", "\xa0a \xa0"),
        ("X a X", "X a X"),
    ],
)
def test_trim_value(value: str, trimmed: str) -> None:
    assert sigv4.trim_value(value) == trimmed


def test_wire_bytes() -> None:
    assert sigv4.wire_bytes("\xe9") == b"\xe9"  # one byte from the wire
    assert sigv4.wire_bytes("中é") == "中é".encode()  # a caller's text: UTF-8


# --- time ------------------------------------------------------------------------------------


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone 5:30 h off UTC: request times must not depend on it."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    assert time.timezone != 0
    yield
    monkeypatch.undo()
    time.tzset()


MAY_FIRST_NOON = calendar.timegm((2024, 5, 1, 12, 0, 0, 0, 0, 0))


@pytest.mark.usefixtures("far_from_utc")
@pytest.mark.parametrize(
    "text",
    [
        "Wed, 01 May 2024 12:00:00 GMT",
        "Wed, 01 May 2024 12:00:00 -0000",
        "Wed, 01 May 2024 12:00:00 +0000",
        "Wed, 01 May 2024 14:00:00 +0200",
        "Wednesday, 01-May-24 12:00:00 GMT",
        "Wed May  1 12:00:00 2024",
    ],
)
def test_http_dates_are_utc_whatever_the_local_zone(text: str) -> None:
    assert common.parse_http_date_s(text) == MAY_FIRST_NOON


@pytest.mark.usefixtures("far_from_utc")
def test_formatted_times_are_utc_whatever_the_local_zone() -> None:
    assert common.amz_date(MAY_FIRST_NOON) == "20240501T120000Z"
    assert common.iso_seconds(MAY_FIRST_NOON) == "2024-05-01T12:00:00Z"


def test_iso_seconds_beyond_year_9999_is_the_number() -> None:
    beyond = calendar.timegm((9999, 12, 31, 23, 59, 59, 0, 0, 0)) + 1
    assert common.iso_seconds(beyond - 1) == "9999-12-31T23:59:59Z"
    assert common.iso_seconds(beyond) == str(beyond)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Wed, 01 May 2024 12:00:00 -0130", MAY_FIRST_NOON + 5400),
        ("Wed, 01 May 2024 12:00:00 +0545", MAY_FIRST_NOON - 20700),
        ("Thursday, 01-Jan-70 00:00:00 GMT", 0),
        ("Sunday, 31-Dec-69 23:59:59 GMT", calendar.timegm((2069, 12, 31, 23, 59, 59, 0, 0, 0))),
        ("Wed May 01 12:00:00 2024", MAY_FIRST_NOON),
        ("Thu Feb 29 00:00:00 2024", calendar.timegm((2024, 2, 29, 0, 0, 0, 0, 0, 0))),
    ],
)
def test_http_date_zones_and_years(text: str, seconds: int) -> None:
    assert common.parse_http_date_s(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "Wed, 01 May 2024",
        "Wed, 32 May 2024 12:00:00 GMT",
        "Wed, 31 Apr 2024 12:00:00 GMT",
        "Wed, 01 May 2024 24:00:00 GMT",
        "Wed, 01 May 2024 12:60:00 GMT",
        "x,Wed, 01 May 2024 12:00:00 GMT",
        "Wed, 01 May 2024 12:00:00 GMT,Wed, 01 May 2024 12:00:00 GMT",  # two Date headers
        "Wed, 01 May 2024 12:00:00 GMT,",
        "Wed, 01 May 2024 12:00:00 GMTX",
        "Wed, 01 May 2024 12:00:00 GMT\xa0",
        " Wed, 01 May 2024 12:00:00 GMT",
        "Wed, 1 May 2024 12:00:00 GMT",
        "Wed,  01 May 2024 12:00:00 GMT",
        "wed, 01 may 2024 12:00:00 gmt",
        "01 May 2024 12:00:00 GMT",
        "Wed, 01 May 2024 12:00:00",
        "Wed, 01 May 2024 12:00:00 UTC",
        "Wed, 01 May 2024 12:00:00 +02",
        "Wed, 01 May 24 12:00:00 GMT",
        "Wed, 01 Mai 2024 12:00:00 GMT",
        "Wednesday, 01-May-2024 12:00:00 GMT",
        "Wed, 01-May-24 12:00:00 GMT",
        "Wednesday, 01-May-24 12:00:00 +0000",
        "Wed May 1 12:00:00 2024",
        "Wed May  1 12:00:00 2024 GMT",
        "Wed, 01 May 2024 12:00:00 GMT\r\n",
    ],
)
def test_unreadable_http_dates(text: str) -> None:
    assert common.parse_http_date_s(text) is None


ANY_SECOND = st.integers(
    min_value=0, max_value=calendar.timegm((9999, 12, 31, 23, 59, 59, 0, 0, 0))
)


@settings(max_examples=200, deadline=None)
@given(seconds=ANY_SECOND, offset_min=st.integers(min_value=-24 * 60 + 1, max_value=24 * 60 - 1))
def test_http_dates_as_clients_write_them(seconds: int, offset_min: int) -> None:
    """botocore (formatdate usegmt), email.utils' default (-0000), a numeric zone
    (s3cmd's +0000 among them), asctime and RFC 850 all name the same second."""
    assert common.parse_http_date_s(email.utils.formatdate(seconds, usegmt=True)) == seconds
    assert common.parse_http_date_s(email.utils.formatdate(seconds)) == seconds
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    if moment.year < 9999:  # the zone's local time stays within datetime's range
        local = moment.astimezone(datetime.timezone(datetime.timedelta(minutes=offset_min)))
        assert common.parse_http_date_s(email.utils.format_datetime(local)) == seconds
    assert common.parse_http_date_s(time.asctime(moment.timetuple())) == seconds
    if 1970 <= moment.year <= 2069:
        rfc850 = moment.strftime("%A, %d-%b-%y %H:%M:%S GMT")
        assert common.parse_http_date_s(rfc850) == seconds


@settings(max_examples=200, deadline=None)
@given(ANY_SECOND)
def test_amz_date_round_trips(seconds: int) -> None:
    text = common.amz_date(seconds)
    assert common.parse_amz_date_s(text) == seconds
    assert common.iso_seconds(seconds) == (
        f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[9:11]}:{text[11:13]}:{text[13:15]}Z"
    )


@pytest.mark.parametrize(
    "text",
    [
        "20240501T120000",
        "20240501T120000z",
        "2024050T120000Z",
        "20240501T1200000Z",
        "20240230T120000Z",
        "20240501T240000Z",
        "20240501T126000Z",
        "20240501T120060Z",
        "20241301T120000Z",
        "00000101T000000Z",
        " 20240501T120000Z",
        "２0240501T120000Z",  # a fullwidth digit
        "2024050١T120000Z",  # an Arabic-Indic digit
    ],
)
def test_malformed_amz_dates(text: str) -> None:
    assert common.parse_amz_date_s(text) is None


def test_amz_date_fields_in_order() -> None:
    assert common.parse_amz_date_s("20240229T235958Z") == calendar.timegm(
        (2024, 2, 29, 23, 59, 58, 0, 0, 0)
    )
    assert common.parse_amz_date_s("19700101T000001Z") == 1
