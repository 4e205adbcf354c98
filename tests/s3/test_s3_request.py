"""parse_request: path-style and virtual-hosted addressing, byte-exact keys, query decoding."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.http.messages import HttpRequest
from hamster.s3.errors import S3Error
from hamster.s3.request import (
    S3Request,
    normalize_host,
    parse_query,
    parse_request,
    percent_decode,
)

DOMAINS = ("s3.example.com",)


def make(
    target: str | bytes,
    host: str | None = "localhost:9000",
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
) -> HttpRequest:
    raw = target if isinstance(target, bytes) else target.encode("latin-1")
    hs = ((("host", host),) if host is not None else ()) + headers
    return HttpRequest(method=method, target=raw, headers=hs)


def parse(target: str | bytes, host: str | None = "localhost:9000") -> S3Request:
    return parse_request(make(target, host), DOMAINS)


@pytest.mark.parametrize(
    ("target", "bucket", "key"),
    [
        ("/", None, None),
        ("/bucket", "bucket", None),
        ("/bucket/", "bucket", None),
        ("/bucket/a", "bucket", "a"),
        ("/bucket//a", "bucket", "/a"),
        ("/bucket///a", "bucket", "//a"),
        ("/bucket/a/", "bucket", "a/"),
        ("/bucket/a//b", "bucket", "a//b"),
        ("/bucket/a+b", "bucket", "a+b"),
        ("/bucket/a%2Bb", "bucket", "a+b"),
        ("/bucket/a%20b", "bucket", "a b"),
        ("/bucket/a%2Fb", "bucket", "a/b"),
        ("/bucket/%2Fa", "bucket", "/a"),
        ("/bucket/%25", "bucket", "%"),
        ("/bucket/%2525", "bucket", "%25"),  # decoded exactly once
        ("/bucket/..", "bucket", ".."),
        ("/bucket/a/../b", "bucket", "a/../b"),
        ("/bucket/./a", "bucket", "./a"),
        ("/bucket/%C3%A9", "bucket", "é"),
        ("/bucket/e%CC%81", "bucket", "e\u0301"),  # not NFC-normalised
        ("/bucket/%26%2B%3F%25%C3%A9/something", "bucket", "&+?%é/something"),
        ("/bucket/%22", "bucket", '"'),
        ("/bucket/a;b,c=d", "bucket", "a;b,c=d"),
        ("/bucket/%F0%9F%90%B9", "bucket", "\U0001f439"),
        ("/bucket/a?acl", "bucket", "a"),
        ("/bucket?uploads", "bucket", None),
        ("/my%2Ebucket/k", "my.bucket", "k"),
    ],
)
def test_path_style(target: str, bucket: str | None, key: str | None) -> None:
    r = parse(target)
    assert (r.bucket, r.key) == (bucket, key)
    assert r.virtual_host is False


def test_raw_utf8_bytes_in_target_decode_as_utf8() -> None:
    r = parse("/bucket/é".encode())
    assert r.key == "é"


@pytest.mark.parametrize(
    ("host", "target", "bucket", "key"),
    [
        ("photos.s3.example.com", "/a", "photos", "a"),
        ("photos.s3.example.com:9000", "/a", "photos", "a"),
        ("Photos.S3.Example.COM:9000", "/a", "photos", "a"),
        ("my.dotted.bucket.s3.example.com", "/k", "my.dotted.bucket", "k"),
        ("photos.s3.example.com", "/", "photos", None),
        ("photos.s3.example.com", "//a", "photos", "/a"),
        ("photos.s3.example.com", "/bucket/a", "photos", "bucket/a"),
        ("photos.s3.example.com.", "/a", "photos", "a"),
        ("s3.example.com", "/bucket/a", "bucket", "a"),  # the domain itself: path-style
        ("s3.example.com:9000", "/", None, None),
        ("other.example.org", "/bucket/a", "bucket", "a"),  # no domain matches
        ("[::1]:9000", "/bucket/a", "bucket", "a"),
        ("127.0.0.1:9000", "/bucket/a", "bucket", "a"),
        ("xs3.example.com", "/bucket/a", "bucket", "a"),  # suffix, not a subdomain
    ],
)
def test_virtual_hosted(host: str, target: str, bucket: str | None, key: str | None) -> None:
    r = parse(target, host)
    assert (r.bucket, r.key) == (bucket, key)
    assert r.virtual_host is (host.lower().rstrip(".").split(":")[0].endswith(".s3.example.com"))


def test_longest_domain_wins() -> None:
    req = make("/k", "b.s3.example.com")
    r = parse_request(req, ["example.com", "s3.example.com"])
    assert (r.bucket, r.key, r.virtual_host) == ("b", "k", True)


def test_longest_domain_wins_in_any_order() -> None:
    for domains in (["s3.example.com", "example.com"], ["example.com", "s3.example.com"]):
        r = parse_request(make("/k", "b.s3.example.com"), domains)
        assert (r.bucket, r.key) == ("b", "k")
    r = parse_request(make("/k", "b.example.com"), ["s3.example.com", "example.com"])
    assert (r.bucket, r.key) == ("b", "k")


def test_domains_that_name_nothing() -> None:
    # An empty (or port-only) configured domain matches no host; the others still do.
    r = parse_request(make("/k", "b.s3.example.com"), ["", ":9000", "s3.example.com"])
    assert (r.bucket, r.key, r.virtual_host) == ("b", "k", True)
    # A host that is the domain with an empty label in front names no bucket.
    r = parse_request(make("/b/k", ".s3.example.com"), ["s3.example.com"])
    assert (r.bucket, r.key, r.virtual_host) == ("b", "k", False)
    # A one-letter domain is a domain.
    r = parse_request(make("/k", "b.x"), ["x"])
    assert (r.bucket, r.key, r.virtual_host) == ("b", "k", True)


def test_no_domains_means_path_style() -> None:
    r = parse_request(make("/b/k", "b.s3.example.com"), [])
    assert (r.bucket, r.key, r.virtual_host) == ("b", "k", False)


def test_missing_host_is_path_style() -> None:
    r = parse("/b/k", host=None)
    assert (r.bucket, r.key, r.host) == ("b", "k", "")


@pytest.mark.parametrize(
    ("target", "host", "bucket", "key", "raw_path", "raw_query"),
    [
        ("http://localhost:9000/b/k?acl", "ignored", "b", "k", "/b/k", "acl"),
        ("http://b.s3.example.com/k", "localhost", "b", "k", "/k", ""),
        ("HTTPS://B.S3.EXAMPLE.COM:443/k%20x", None, "b", "k x", "/k%20x", ""),
        ("http://localhost:9000", "x", None, None, "/", ""),
        ("http://localhost:9000?x=1", "x", None, None, "/", "x=1"),
    ],
)
def test_absolute_form(
    target: str,
    host: str | None,
    bucket: str | None,
    key: str | None,
    raw_path: str,
    raw_query: str,
) -> None:
    r = parse(target, host)
    assert (r.bucket, r.key, r.raw_path, r.raw_query) == (bucket, key, raw_path, raw_query)


@pytest.mark.parametrize(
    "target",
    [
        "/bucket/%",
        "/bucket/%4",
        "/bucket/%zz",
        "/bucket/a%g0",
        "/bucket/%C3",  # truncated UTF-8
        "/bucket/%FF",
        "/bucket/%C0%AF",  # overlong encoding
        "/bucket/%ED%A0%80",  # UTF-8-encoded surrogate
        "/b%ZZ/k",
        "/bucket/k?prefix=%",
        "/bucket/k?prefix=%FF",
        "*",
        "bucket/key",
        "//a",  # empty bucket segment
    ],
)
def test_invalid_uri(target: str) -> None:
    with pytest.raises(S3Error) as info:
        parse(target)
    assert info.value.code == "InvalidURI"
    assert info.value.status == 400
    assert info.value.text == "Couldn't parse the specified URI."


def test_raw_path_and_query_are_kept_exactly() -> None:
    r = parse("/bucket/a%2Fb%20c+d?prefix=x%2By+z&uploads&list-type=2&empty=&&x-id=GetObject")
    assert r.raw_path == "/bucket/a%2Fb%20c+d"
    assert r.raw_query == "prefix=x%2By+z&uploads&list-type=2&empty=&&x-id=GetObject"
    assert r.key == "a/b c+d"
    assert r.query == (
        ("prefix", "x+y z"),
        ("uploads", ""),
        ("list-type", "2"),
        ("empty", ""),
        ("x-id", "GetObject"),
    )


def test_query_helpers() -> None:
    r = parse("/b?uploads&prefix=a&prefix=b&max-keys=")
    assert r.has_q("uploads") and r.q("uploads") == ""
    assert r.q("prefix") == "a"
    assert r.q("max-keys") == ""
    assert r.q("missing") is None and not r.has_q("missing")


def test_query_value_with_equals_sign() -> None:
    assert parse_query("continuation-token=abc==&x=a=b") == (
        ("continuation-token", "abc=="),
        ("x", "a=b"),
    )


def test_query_names_are_form_decoded_too() -> None:
    assert parse_query("a+b=c+d&x%2By=%2B") == (("a b", "c d"), ("x+y", "+"))


def test_percent_decode_of_text_that_is_not_a_wire_string() -> None:
    """A wire string is latin-1 characters for bytes; other text is taken as
    decoded characters (UTF-8), and a lone surrogate is not UTF-8."""
    assert percent_decode("€%20x") == "€ x"
    assert percent_decode("\xc3\xa9") == "é"  # a wire string: the UTF-8 bytes of é
    for bad in ("é", "\ud800", "€\ud800"):
        with pytest.raises(S3Error) as info:
            percent_decode(bad)
        assert info.value.code == "InvalidURI"


def test_headers_and_method_carried() -> None:
    req = make("/b/k", method="PUT", headers=(("x-amz-meta-a", "1"), ("x-amz-meta-a", "2")))
    r = parse_request(req, DOMAINS)
    assert r.method == "PUT"
    assert r.header("x-amz-meta-a") == "1,2"
    assert r.header("host") == "localhost:9000"
    assert r.header("nope") is None
    assert r.host == "localhost"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("LocalHost:9000", "localhost"),
        ("example.com", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:9000", "[::1]"),
        ("[::1]", "[::1]"),
        ("user@host:1", "host"),
        ("host:", "host"),
        ("", ""),
        ("  Example.COM.:443 ", "example.com"),
        ("[2001:DB8::1]:443", "[2001:db8::1]"),
        ("[::1", "[::1"),  # unterminated: kept as it is
        ("[::1]]:80", "[::1]"),  # the literal ends at its first "]"
        ("a:b:80", "a:b"),  # the port is after the last colon
        ("host:x", "host:x"),  # not a port
        ("127", "127"),
        ("u:p@[::1]:80", "[::1]"),
    ],
)
def test_normalize_host(value: str, expected: str) -> None:
    assert normalize_host(value) == expected


# -- properties -------------------------------------------------------------------

# Any Unicode text without lone surrogates can be a key.
unicode_chars = st.characters(exclude_categories=["Cs"])
keys = st.text(unicode_chars, min_size=1, max_size=80)


@given(keys)
def test_any_key_round_trips_path_style(key: str) -> None:
    r = parse("/bucket/" + quote(key, safe=""))
    assert (r.bucket, r.key) == ("bucket", key)


@given(keys)
def test_any_key_round_trips_with_sdk_style_encoding(key: str) -> None:
    # botocore leaves '/' (and '~') unescaped in paths.
    r = parse("/bucket/" + quote(key, safe="/~"))
    assert r.key == key


@given(keys)
def test_any_key_round_trips_virtual_hosted(key: str) -> None:
    r = parse("/" + quote(key, safe="/"), "bucket.s3.example.com:9000")
    assert (r.bucket, r.key, r.virtual_host) == ("bucket", key, True)


@given(st.lists(st.tuples(keys, st.text(unicode_chars)), max_size=6))
def test_any_query_round_trips(pairs: list[tuple[str, str]]) -> None:
    raw = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in pairs)
    r = parse("/bucket?" + raw)
    assert list(r.query) == pairs
    assert r.raw_query == raw


@given(st.binary(max_size=40))
def test_arbitrary_escaped_bytes_decode_or_refuse(data: bytes) -> None:
    target = "/bucket/k" + "".join(f"%{b:02X}" for b in data)
    try:
        expected = "k" + data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(S3Error) as info:
            parse(target)
        assert (info.value.code, info.value.status) == ("InvalidURI", 400)
    else:
        assert parse(target).key == expected
