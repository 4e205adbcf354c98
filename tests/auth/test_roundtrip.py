"""Round trip: whatever botocore signs verifies; any change to a signed part does not."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hamster.auth import sigv4
from hamster.s3.errors import S3Error
from tests.auth import botosign as b

SETTINGS = settings(max_examples=60, deadline=None)
SKEW_NS = 15 * 60 * 1_000_000_000

METHODS = st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"])
KEY_CHARS = "aZ09-_.~+ %é/&=?#中😀\"'*()!$,;:@[]"
KEYS = st.text(alphabet=KEY_CHARS, min_size=1, max_size=24)
QUERY_NAME_CHARS = "abcxyz019-_.~+ %é/&=中"
QUERY = st.lists(
    st.tuples(
        st.text(alphabet=QUERY_NAME_CHARS, min_size=1, max_size=8),
        st.none() | st.text(alphabet=KEY_CHARS, max_size=10),
    ),
    max_size=4,
)
HEADER_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=20
)
HEADERS = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10).map(
        lambda s: f"x-amz-meta-{s}"
    ),
    HEADER_VALUE,
    max_size=3,
)
NOW_NS = st.integers(min_value=b.SIGNED_AT_NS - SKEW_NS, max_value=b.SIGNED_AT_NS + SKEW_NS)


def _signature_mismatch(
    signed: b.Signed, *, secret: str | None = None, now_ns: int = b.SIGNED_AT_NS
) -> S3Error:
    with pytest.raises(S3Error) as info:
        b.verify(signed, secret=secret, now_ns=now_ns)
    assert info.value.code == "SignatureDoesNotMatch", info.value
    return info.value


@st.composite
def header_signed(draw: st.DrawFn) -> b.Signed:
    method = draw(METHODS)
    body = draw(st.binary(max_size=64)) if method in ("PUT", "POST") else b""
    return b.sign_header(
        method,
        b.object_path("bucket", draw(KEYS)),
        b.encode_query(draw(QUERY)),
        sorted(draw(HEADERS).items()),
        body,
        unsigned_payload=draw(st.booleans()),
    )


@st.composite
def query_signed(draw: st.DrawFn) -> b.Signed:
    return b.sign_query(
        draw(METHODS),
        b.object_path("bucket", draw(KEYS)),
        b.encode_query(draw(QUERY)),
        sorted(draw(HEADERS).items()),
        expires_s=draw(st.integers(min_value=1, max_value=604800)),
    )


@SETTINGS
@given(signed=header_signed(), now_ns=NOW_NS)
def test_header_signed_requests_verify(signed: b.Signed, now_ns: int) -> None:
    result = b.verify(signed, now_ns=now_ns)
    assert result.access_key == b.ACCESS_KEY
    assert result.payload == b.header(signed, "x-amz-content-sha256")
    assert not result.presigned


@SETTINGS
@given(signed=query_signed())
def test_presigned_requests_verify(signed: b.Signed) -> None:
    result = b.verify(signed)
    assert result.access_key == b.ACCESS_KEY
    assert result.payload == sigv4.UNSIGNED_PAYLOAD
    assert result.presigned


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET", []), ("HEAD", []), ("DELETE", []), ("PUT", [("Content-Length", "0")])],
)
def test_curl_style_bodyless_request_without_content_sha256_verifies(
    method: str, headers: list[tuple[str, str]]
) -> None:
    # curl --aws-sigv4 signs the empty payload's hash and sends no
    # x-amz-content-sha256 (botocore's generic SigV4Auth does the same).
    signed = b.sign_header_keeping_payload(method, "/bucket/some-key", "a=1", headers)
    assert "x-amz-content-sha256" not in dict(signed.headers)
    result = b.verify(signed)
    assert (result.access_key, result.payload) == (b.ACCESS_KEY, sigv4.EMPTY_SHA256)
    _signature_mismatch(b.with_header(signed, "host", "elsewhere:9000"))


def test_date_header_instead_of_x_amz_date() -> None:
    signed = b.sign_header("GET", "/bucket/k", "", [("Date", "placeholder")])
    assert b.header(signed, "date") == "Wed, 01 May 2024 12:00:00 -0000"
    assert all(n != "x-amz-date" for n, _ in signed.headers)
    assert b.verify(signed).amz_date == "20240501T120000Z"


def test_distinct_paths_are_distinct() -> None:
    """`a`, `/a` and `//a` sign differently: S3 never normalises the path."""
    for key in ("a", "/a", "//a"):
        signed = b.sign_header("GET", b.object_path("bucket", key), "")
        b.verify(signed)
        for other in ("a", "/a", "//a"):
            if other != key:
                _signature_mismatch(replace(signed, raw_path=b.object_path("bucket", other)))


# --- any single change to a signed part fails -----------------------------------------------


@SETTINGS
@given(signed=header_signed() | query_signed(), data=st.data())
def test_changed_path_fails(signed: b.Signed, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=1, max_value=len(signed.raw_path) - 1))
    char = data.draw(st.sampled_from("aZ9%-/~."))
    path = signed.raw_path[:index] + char + signed.raw_path[index + 1 :]
    assume(sigv4.canonical_uri(path) != sigv4.canonical_uri(signed.raw_path))
    _signature_mismatch(replace(signed, raw_path=path))


@SETTINGS
@given(signed=header_signed() | query_signed(), data=st.data())
def test_changed_signed_header_fails(signed: b.Signed, data: st.DataObject) -> None:
    exempt = {"x-amz-content-sha256", "x-amz-date", "date", "authorization"}
    names = sorted({n for n, _ in signed.headers if n not in exempt})
    name = data.draw(st.sampled_from(names))
    value = b.header(signed, name) + data.draw(st.sampled_from(["x", "é", " y", "0"]))
    _signature_mismatch(b.with_header(signed, name, value))


@SETTINGS
@given(signed=header_signed() | query_signed(), data=st.data())
def test_changed_query_fails(signed: b.Signed, data: st.DataObject) -> None:
    pairs = signed.raw_query.split("&") if signed.raw_query else []
    operation = [i for i, p in enumerate(pairs) if not p.startswith("X-Amz-")]
    change_existing: bool = data.draw(st.booleans())
    if operation and change_existing:
        index = data.draw(st.sampled_from(operation))
        pairs[index] = pairs[index] + data.draw(st.sampled_from(["z", "%20", "&a", "=b"]))
    else:
        pairs.insert(data.draw(st.integers(min_value=0, max_value=len(pairs))), "extra=1")
    _signature_mismatch(replace(signed, raw_query="&".join(pairs)))


DELTAS_S = st.sampled_from([-3600, -60, -1, 1, 60, 600])


@SETTINGS
@given(signed=header_signed(), delta_s=DELTAS_S)
def test_changed_date_fails(signed: b.Signed, delta_s: int) -> None:
    changed = b.shift_amz_date(b.header(signed, "x-amz-date"), delta_s)
    now_ns = b.SIGNED_AT_NS + delta_s * 1_000_000_000  # the changed date is not skewed
    error = _signature_mismatch(b.with_header(signed, "x-amz-date", changed), now_ns=now_ns)
    assert changed in error.extra["StringToSign"]  # type: ignore[index]


@SETTINGS
@given(signed=query_signed(), delta_s=DELTAS_S)
def test_changed_presigned_date_fails(signed: b.Signed, delta_s: int) -> None:
    date = b.query_param(signed, "X-Amz-Date")
    changed = b.with_query_param(signed, "X-Amz-Date", b.shift_amz_date(date, delta_s))
    _signature_mismatch(changed, now_ns=b.SIGNED_AT_NS + delta_s * 1_000_000_000)


@SETTINGS
@given(signed=query_signed(), delta_s=DELTAS_S)
def test_changed_presigned_expiry_fails(signed: b.Signed, delta_s: int) -> None:
    expires_s = int(b.query_param(signed, "X-Amz-Expires")) + delta_s
    assume(1 <= expires_s <= 604800)
    _signature_mismatch(b.with_query_param(signed, "X-Amz-Expires", str(expires_s)))


@SETTINGS
@given(signed=header_signed() | query_signed(), method=METHODS)
def test_changed_method_fails(signed: b.Signed, method: str) -> None:
    assume(method != signed.method)
    _signature_mismatch(replace(signed, method=method))


@SETTINGS
@given(signed=header_signed() | query_signed(), suffix=st.sampled_from(["x", "A", "+", "/"]))
def test_wrong_secret_fails(signed: b.Signed, suffix: str) -> None:
    _signature_mismatch(signed, secret=b.SECRET_KEY + suffix)


@SETTINGS
@given(signed=header_signed(), digest=st.binary(min_size=32, max_size=32))
def test_changed_payload_hash_fails(signed: b.Signed, digest: bytes) -> None:
    assume(digest.hex() != b.header(signed, "x-amz-content-sha256"))
    _signature_mismatch(b.with_header(signed, "x-amz-content-sha256", digest.hex()))
