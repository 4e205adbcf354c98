"""Presigned SigV4 (``X-Amz-*`` query parameters): each parameter's refusal with
S3's code, status, text and extra elements, the time limits to the second, and
what a verified presigned request returns."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

import pytest

from hamster.auth import AuthResult, sigv4
from hamster.s3.errors import S3Error
from tests.auth import botosign as b

NS = 1_000_000_000
T = b.SIGNED_AT_NS
PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
REQUIRES = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
PREFIX = "Error parsing the X-Amz-Credential parameter"
TOKEN_TEXT = (
    "Temporary security credentials (x-amz-security-token) are not supported by "
    "this server; sign with a long-term access key."
)


def _presigned(expires_s: int = 3600) -> b.Signed:
    return b.sign_query("GET", "/bucket/key", "", expires_s=expires_s)


def _refused(signed: b.Signed, *, now_ns: int = T, region: str = b.REGION) -> S3Error:
    with pytest.raises(S3Error) as info:
        b.verify(signed, now_ns=now_ns, region=region)
    return info.value


def _query_error(signed: b.Signed) -> str:
    """The text of the AuthorizationQueryParametersError (400, no extra) `signed` gets."""
    error = _refused(signed)
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400), error
    assert error.extra is None
    return error.text


def _without(signed: b.Signed, name: str) -> b.Signed:
    query = "&".join(p for p in signed.raw_query.split("&") if p.partition("=")[0] != name)
    return replace(signed, raw_query=query)


@pytest.mark.parametrize("missing", PARAMS)
def test_each_missing_parameter(missing: str) -> None:
    assert _query_error(_without(_presigned(), missing)) == REQUIRES


def test_only_signature_and_date_present_is_not_presigned_sigv4() -> None:
    """Without X-Amz-Algorithm and X-Amz-Credential nothing says SigV4: no credentials."""
    signed = _without(_without(_presigned(), "X-Amz-Algorithm"), "X-Amz-Credential")
    error = _refused(signed)
    assert (error.code, error.status, error.text) == ("AccessDenied", 403, "Access Denied")


@pytest.mark.parametrize("name", PARAMS)
def test_each_parameter_given_twice(name: str) -> None:
    signed = _presigned()
    again = f"{name}={b.query_param(signed, name)}"
    text = _query_error(replace(signed, raw_query=f"{signed.raw_query}&{again}"))
    assert text == f"{name} was given more than once"


@pytest.mark.parametrize(
    "value", ["AWS4-HMAC-SHA512", "aws4-hmac-sha256", "", "AWS4-ECDSA-P256-SHA256"]
)
def test_algorithm_other_than_hmac_sha256(value: str) -> None:
    text = _query_error(b.with_query_param(_presigned(), "X-Amz-Algorithm", value))
    assert text == 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'


@pytest.mark.parametrize(
    "value",
    [
        "20240501",
        "20240501T120000",
        "20241301T120000Z",
        "2024-05-01T12:00:00Z",
        "",
        "20240501t120000z",
    ],
)
def test_malformed_date(value: str) -> None:
    text = _query_error(b.with_query_param(_presigned(), "X-Amz-Date", value))
    assert text == "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""


def _credential(*parts: str) -> str:
    return "%2F".join(parts)


MALFORMED_CREDENTIAL = (
    f"{PREFIX}; the Credential is mal-formed; expecting "
    '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)


@pytest.mark.parametrize(
    ("credential", "text"),
    [
        (_credential(b.ACCESS_KEY, "20240501", "us-east-1", "s3"), MALFORMED_CREDENTIAL),
        (
            _credential(b.ACCESS_KEY, "20240501", "us-east-1", "s3", "aws4_request", "x"),
            MALFORMED_CREDENTIAL,
        ),
        (_credential("", "20240501", "us-east-1", "s3", "aws4_request"), MALFORMED_CREDENTIAL),
        (
            _credential(b.ACCESS_KEY, "20240502", "us-east-1", "s3", "aws4_request"),
            f'{PREFIX}; Invalid credential date "20240502". This date is not the same as '
            'X-Amz-Date: "20240501".',
        ),
        (
            _credential(b.ACCESS_KEY, "20240501", "us-east-1", "ec2", "aws4_request"),
            f'{PREFIX}; incorrect service "ec2". This endpoint belongs to "s3".',
        ),
        (
            _credential(b.ACCESS_KEY, "20240501", "us-east-1", "s3", "aws4_requests"),
            f'{PREFIX}; incorrect terminal "aws4_requests". This endpoint uses "aws4_request".',
        ),
    ],
    ids=["four-parts", "six-parts", "no-key", "date", "service", "terminal"],
)
def test_malformed_credential(credential: str, text: str) -> None:
    assert _query_error(b.with_query_param(_presigned(), "X-Amz-Credential", credential)) == text


def test_credential_of_another_region_names_ours() -> None:
    error = _refused(_presigned(), region="eu-west-3")
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)
    assert error.text == f"{PREFIX}; the region 'us-east-1' is wrong; expecting 'eu-west-3'"
    assert error.extra == {"Region": "eu-west-3"}


# --- time ------------------------------------------------------------------------------------


def test_expiry_is_counted_in_whole_seconds() -> None:
    """Valid through the whole last second (X-Amz-Date has no fraction), expired after it;
    ServerTime is the second the server is in."""
    signed = _presigned(expires_s=60)
    assert b.verify(signed, now_ns=T + 60 * NS + NS - 1).presigned
    error = _refused(signed, now_ns=T + 62 * NS - 1)
    assert (error.code, error.status, error.text) == ("AccessDenied", 403, "Request has expired")
    assert error.extra == {
        "X-Amz-Expires": "60",
        "Expires": "2024-05-01T12:01:00Z",
        "ServerTime": "2024-05-01T12:01:01Z",
    }


def test_zero_expiry_is_valid_only_in_its_own_second() -> None:
    signed = _presigned(expires_s=0)
    assert b.verify(signed, now_ns=T + NS - 1).presigned
    assert _refused(signed, now_ns=T + NS).text == "Request has expired"


def test_not_valid_more_than_fifteen_minutes_before_its_date() -> None:
    signed = _presigned()
    assert b.verify(signed, now_ns=T - 900 * NS).presigned
    error = _refused(signed, now_ns=T - 900 * NS - 1)
    assert (error.code, error.status, error.text) == (
        "AccessDenied",
        403,
        "Request is not valid yet",
    )
    assert error.extra == {"X-Amz-Date": "20240501T120000Z", "ServerTime": "2024-05-01T11:44:59Z"}


# --- who -------------------------------------------------------------------------------------


def test_unknown_key() -> None:
    signed = b.with_query_param(
        _presigned(),
        "X-Amz-Credential",
        _credential("AKIANOBODY", "20240501", "us-east-1", "s3", "aws4_request"),
    )
    error = _refused(signed)
    assert (error.code, error.status) == ("InvalidAccessKeyId", 403)
    assert error.text == "The AWS Access Key Id you provided does not exist in our records."
    assert error.extra == {"AWSAccessKeyId": "AKIANOBODY"}


@pytest.mark.parametrize("where", ["header", "query"])
def test_session_token_is_refused(where: str) -> None:
    signed = _presigned()
    if where == "header":
        signed = b.with_header(signed, "x-amz-security-token", "FwoGZXIvYXdzE")
    else:
        signed = replace(signed, raw_query=f"{signed.raw_query}&X-Amz-Security-Token=FwoGZXIvYXdzE")
    error = _refused(signed)
    assert (error.code, error.status, error.text) == ("InvalidAccessKeyId", 403, TOKEN_TEXT)
    assert error.extra == {"AWSAccessKeyId": b.ACCESS_KEY}


def test_session_token_names_are_exact() -> None:
    """Only the header ``x-amz-security-token`` and the parameter
    ``X-Amz-Security-Token`` carry a token; another spelling of the parameter is
    just a query parameter (signed, so still refused as a mismatch)."""
    signed = _presigned()
    signed = replace(signed, raw_query=f"{signed.raw_query}&x-amz-security-token=abc")
    assert _refused(signed).code == "SignatureDoesNotMatch"


# --- what is signed --------------------------------------------------------------------------


def test_signed_headers_malformed() -> None:
    signed = b.with_query_param(_presigned(), "X-Amz-SignedHeaders", "host%3B")
    assert _query_error(signed) == 'The SignedHeaders "host;" are malformed.'


def test_unsigned_amz_header() -> None:
    signed = b.with_header(b.with_header(_presigned(), "x-amz-meta-b", "2"), "x-amz-meta-a", "1")
    error = _refused(signed)
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert error.text == "There were headers present in the request which were not signed"
    assert error.extra == {"HeadersNotSigned": "x-amz-meta-a, x-amz-meta-b"}


def test_mismatch_shows_the_query_without_its_signature() -> None:
    signed = _presigned()
    wrong = "0" * 64
    error = _refused(b.with_query_param(signed, "X-Amz-Signature", wrong))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    extra = dict(error.extra or {})
    assert extra["AWSAccessKeyId"] == b.ACCESS_KEY
    assert extra["SignatureProvided"] == wrong
    query = "&".join(p for p in signed.raw_query.split("&") if not p.startswith("X-Amz-Signature="))
    assert extra["CanonicalRequest"] == (
        f"GET\n/bucket/key\n{query}\nhost:{b.HOST}\n\nhost\n{sigv4.UNSIGNED_PAYLOAD}"
    )


def test_payload_hash_in_the_query_wins_over_the_header() -> None:
    """MinIO's ``X-Amz-Content-Sha256`` parameter, when given, is the payload line;
    the header is then just a signed header."""
    query_digest, header_digest = "ab" * 32, "cd" * 32
    scope = sigv4.credential_scope("20240501", b.REGION, "s3")
    params = [
        ("X-Amz-Algorithm", sigv4.ALGORITHM),
        ("X-Amz-Content-Sha256", query_digest),
        ("X-Amz-Credential", f"{b.ACCESS_KEY}/{scope}"),
        ("X-Amz-Date", "20240501T120000Z"),
        ("X-Amz-Expires", "60"),
        ("X-Amz-SignedHeaders", "host;x-amz-content-sha256"),
    ]
    creq = (
        f"PUT\n/bucket/key\n{b.encode_query(params)}\n"
        f"host:{b.HOST}\nx-amz-content-sha256:{header_digest}\n\n"
        f"host;x-amz-content-sha256\n{query_digest}"
    )
    sts = (
        f"AWS4-HMAC-SHA256\n20240501T120000Z\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    )
    key = sigv4.signing_key(b.SECRET_KEY, "20240501", b.REGION, "s3")
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    query = b.encode_query([*params, ("X-Amz-Signature", signature)])
    headers = (("host", b.HOST), ("x-amz-content-sha256", header_digest))
    result = b.verify(b.Signed("PUT", "/bucket/key", query, headers))
    assert (result.payload, result.seed_signature) == (query_digest, signature)


def test_invalid_payload_hash() -> None:
    signed = b.sign_query("PUT", "/bucket/key", "", [("X-Amz-Content-SHA256", "ab" * 31)])
    error = _refused(signed)
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.extra == {"ArgumentName": "x-amz-content-sha256", "ArgumentValue": "ab" * 31}


def test_streaming_presigned_upload() -> None:
    signed = b.sign_query(
        "PUT",
        "/bucket/key",
        "",
        [
            ("X-Amz-Content-SHA256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("X-Amz-Decoded-Content-Length", "5"),
            ("X-Amz-Trailer", "x-amz-checksum-crc32"),
        ],
    )
    assert b.verify(signed) == AuthResult(
        access_key=b.ACCESS_KEY,
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        presigned=True,
        amz_date="20240501T120000Z",
        scope=f"20240501/{b.REGION}/s3/aws4_request",
        seed_signature=b.query_param(signed, "X-Amz-Signature"),
        signing_key=sigv4.signing_key(b.SECRET_KEY, "20240501", b.REGION, "s3"),
        decoded_length=5,
        trailer_names=("x-amz-checksum-crc32",),
    )
