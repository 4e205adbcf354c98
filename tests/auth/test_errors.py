"""Refusals of `authenticate`, each with S3's code and extra elements."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

import pytest

from hamster.auth import AuthResult, authenticate, sigv4
from hamster.s3.errors import S3Error
from tests.auth import botosign as b

NS = 1_000_000_000


def _refused(signed: b.Signed, *, now_ns: int = b.SIGNED_AT_NS, region: str = b.REGION) -> S3Error:
    with pytest.raises(S3Error) as info:
        authenticate(
            method=signed.method,
            raw_path=signed.raw_path,
            raw_query=signed.raw_query,
            headers=signed.headers,
            lookup_secret=b.lookup,
            now_ns=now_ns,
            region=region,
        )
    return info.value


def _get() -> b.Signed:
    return b.sign_header("GET", "/bucket/key", "")


def _presigned(expires_s: int = 3600) -> b.Signed:
    return b.sign_query("GET", "/bucket/key", "", expires_s=expires_s)


def _with_authorization(signed: b.Signed, value: str) -> b.Signed:
    return b.with_header(signed, "authorization", value)


def test_no_credentials_is_access_denied() -> None:
    error = _refused(b.Signed("GET", "/bucket/key", "", (("host", b.HOST),)))
    assert (error.code, error.status, error.text) == ("AccessDenied", 403, "Access Denied")


def test_unknown_key_is_invalid_access_key_id() -> None:
    signed = _get()
    authorization = b.header(signed, "authorization").replace(b.ACCESS_KEY, "AKIANOBODY")
    error = _refused(_with_authorization(signed, authorization))
    assert error.code == "InvalidAccessKeyId"
    assert error.extra == {"AWSAccessKeyId": "AKIANOBODY"}


def test_unknown_key_presigned() -> None:
    signed = _presigned()
    signed = replace(signed, raw_query=signed.raw_query.replace(b.ACCESS_KEY, "AKIANOBODY"))
    assert _refused(signed).code == "InvalidAccessKeyId"


def test_bad_signature_carries_s3_debug_elements() -> None:
    signed = _get()
    authorization = b.header(signed, "authorization")
    wrong = "0" * 64
    error = _refused(_with_authorization(signed, authorization[:-64] + wrong))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    extra = dict(error.extra or {})
    assert list(extra) == [
        "AWSAccessKeyId",
        "StringToSign",
        "SignatureProvided",
        "StringToSignBytes",
        "CanonicalRequest",
        "CanonicalRequestBytes",
    ]
    assert extra["AWSAccessKeyId"] == b.ACCESS_KEY
    assert extra["SignatureProvided"] == wrong
    assert extra["StringToSign"].startswith("AWS4-HMAC-SHA256\n20240501T120000Z\n")
    assert extra["StringToSignBytes"].startswith("41 57 53 34 2d")  # "AWS4-"
    assert extra["CanonicalRequest"].startswith("GET\n/bucket/key\n\nhost:localhost:9000\n")
    assert bytes.fromhex(extra["CanonicalRequestBytes"]) == extra["CanonicalRequest"].encode()


CRED = "Credential=AKIAHAMSTERTEST00001/20240501/us-east-1/s3/aws4_request"
SIG = "Signature=" + "0" * 64
MALFORMED = "The authorization header is malformed"
THREE = (
    f"{MALFORMED}; the authorization header requires three components: "
    "Credential, SignedHeaders, and Signature"
)


@pytest.mark.parametrize(
    ("authorization", "text"),
    [
        (f"AWS4-HMAC-SHA256 {CRED}", THREE),
        (f"AWS4-HMAC-SHA256 {CRED}, {SIG}", THREE),
        (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host", THREE),
        (f"AWS4-HMAC-SHA256 SignedHeaders=host, {SIG}", THREE),
        ("AWS4-HMAC-SHA256 ", THREE),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAHAMSTERTEST00001/20240501/us-east-1/s3, "
            f"SignedHeaders=host, {SIG}",
            f"{MALFORMED}; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        ),
        (
            "AWS4-HMAC-SHA256 Credential=/20240501/us-east-1/s3/aws4_request, "
            f"SignedHeaders=host, {SIG}",
            f"{MALFORMED}; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAHAMSTERTEST00001/20240502/us-east-1/s3/aws4_request, "
            f"SignedHeaders=host, {SIG}",
            f'{MALFORMED}; Invalid credential date "20240502". This date is not the same as '
            'X-Amz-Date: "20240501".',
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAHAMSTERTEST00001/20240501/us-east-1/ec2/aws4_request, "
            f"SignedHeaders=host, {SIG}",
            f'{MALFORMED}; incorrect service "ec2". This endpoint belongs to "s3".',
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAHAMSTERTEST00001/20240501/us-east-1/s3/aws5_request, "
            f"SignedHeaders=host, {SIG}",
            f'{MALFORMED}; incorrect terminal "aws5_request". This endpoint uses "aws4_request".',
        ),
        (f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=, {SIG}", 'The SignedHeaders "" are malformed.'),
        (
            f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host;, {SIG}",
            'The SignedHeaders "host;" are malformed.',
        ),
        (
            f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host; x-amz-date, {SIG}",
            'The SignedHeaders "host; x-amz-date" are malformed.',
        ),
        (
            "AWS4-HMAC-SHA256 Credential",
            f'{MALFORMED}; the authorization component "Credential" is malformed',
        ),
        (
            f"AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host, Signature=a, Signature=b",
            f'{MALFORMED}; the authorization component "Signature=b" is malformed',
        ),
    ],
)
def test_malformed_authorization_header(authorization: str, text: str) -> None:
    error = _refused(_with_authorization(_get(), authorization))
    assert (error.code, error.status, error.text) == ("AuthorizationHeaderMalformed", 400, text)
    assert error.extra is None


def test_component_splits_at_its_first_equals_sign() -> None:
    """``Credential=AK=X/…`` names the key ``AK=X`` (unknown here), not a
    component ``Credential=AK``."""
    authorization = b.header(_get(), "authorization").replace(
        f"Credential={b.ACCESS_KEY}/", "Credential=AK=X/"
    )
    error = _refused(_with_authorization(_get(), authorization))
    assert (error.code, error.extra) == ("InvalidAccessKeyId", {"AWSAccessKeyId": "AK=X"})


def test_empty_components_between_commas_are_skipped() -> None:
    signed = _get()
    authorization = b.header(signed, "authorization").replace(
        ", SignedHeaders", ", , SignedHeaders"
    )
    assert b.verify(_with_authorization(signed, authorization)).access_key == b.ACCESS_KEY


def test_two_authorization_headers() -> None:
    signed = _get()
    twice = replace(
        signed, headers=(*signed.headers, ("authorization", b.header(signed, "authorization")))
    )
    error = _refused(twice)
    assert (error.code, error.text) == (
        "AuthorizationHeaderMalformed",
        f"{MALFORMED}; more than one Authorization header",
    )


def test_wrong_region_names_the_expected_one() -> None:
    error = _refused(_get(), region="eu-west-3")
    assert (error.code, error.status) == ("AuthorizationHeaderMalformed", 400)
    assert error.text == f"{MALFORMED}; the region 'us-east-1' is wrong; expecting 'eu-west-3'"
    assert error.extra == {"Region": "eu-west-3"}


def test_wrong_region_presigned() -> None:
    error = _refused(_presigned(), region="eu-west-3")
    assert error.code == "AuthorizationQueryParametersError"
    assert error.extra == {"Region": "eu-west-3"}


@pytest.mark.parametrize(
    "authorization", ["Bearer abc", "AWS4-HMAC-SHA512 Credential=x", "aws4-hmac-sha256 x"]
)
def test_other_schemes_are_refused_as_unsupported(authorization: str) -> None:
    error = _refused(_with_authorization(_get(), authorization))
    assert (error.code, error.status, error.text) == (
        "InvalidRequest",
        400,
        "The authorization mechanism you have provided is not supported. "
        "Please use AWS4-HMAC-SHA256.",
    )


@pytest.mark.parametrize("sigv2", [True, False], ids=["AWS", "AWS4-HMAC-SHA256"])
def test_a_no_break_space_before_the_scheme_is_part_of_it(sigv2: bool) -> None:
    """Byte A0 is not HTTP whitespace: ``\\xa0AWS`` is no scheme we know. (The SigV2
    form crashed: the dispatch stripped the A0, the SigV2 verifier did not, and its
    assertion became a 500.)"""
    signed = _get()
    value = f"AWS {b.ACCESS_KEY}:c2lnbmF0dXJl" if sigv2 else b.header(signed, "authorization")
    error = _refused(_with_authorization(signed, "\xa0" + value))
    assert (error.code, error.status, error.text) == (
        "InvalidRequest",
        400,
        "The authorization mechanism you have provided is not supported. "
        "Please use AWS4-HMAC-SHA256.",
    )


def test_a_letter_before_a_scheme_makes_another_scheme() -> None:
    for value in (f"XAWS {b.ACCESS_KEY}:c2lnbmF0dXJl", "X" + b.header(_get(), "authorization")):
        error = _refused(_with_authorization(_get(), value))
        assert (error.code, error.status) == ("InvalidRequest", 400)


def test_a_letter_after_the_signature_is_part_of_it() -> None:
    signed = _get()
    authorization = b.header(signed, "authorization")
    error = _refused(_with_authorization(signed, authorization + "X"))
    assert error.code == "SignatureDoesNotMatch"
    assert dict(error.extra or {})["SignatureProvided"] == authorization[-64:] + "X"
    assert b.verify(_with_authorization(signed, f" \t{authorization}\t ")).access_key


ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)


@pytest.mark.parametrize(
    "parameter", ["X-Amz-Algorithm", "X-Amz-Credential", "AWSAccessKeyId", "Signature"]
)
def test_header_and_query_together_is_invalid_argument(parameter: str) -> None:
    signed = _get()
    both = replace(signed, raw_query=f"{parameter}=x")
    error = _refused(both)
    assert (error.code, error.status, error.text) == ("InvalidArgument", 400, ONE_MECHANISM)
    assert error.extra == {
        "ArgumentName": "Authorization",
        "ArgumentValue": b.header(signed, "authorization"),
    }


@pytest.mark.parametrize("skew_s", [-901, 901, -86400])
def test_skew_beyond_fifteen_minutes(skew_s: int) -> None:
    error = _refused(_get(), now_ns=b.SIGNED_AT_NS + skew_s * NS)
    assert (error.code, error.status) == ("RequestTimeTooSkewed", 403)
    assert error.extra is not None
    assert error.extra["RequestTime"] == "20240501T120000Z"
    assert error.extra["MaxAllowedSkewMilliseconds"] == "900000"
    server_time = b.shift_amz_date("20240501T120000Z", skew_s)
    assert error.extra["ServerTime"].replace("-", "").replace(":", "") == server_time


def _flip_bit(text: str) -> str:
    """`text` with the lowest bit of its last character flipped."""
    return text[:-1] + chr(ord(text[-1]) ^ 1)


def _assert_verified_exactly(signed: b.Signed, *, now_ns: int, presigned: bool) -> None:
    """`signed` verifies as alice's, with its own signature; the same request
    with one bit changed in its signature or its path is SignatureDoesNotMatch."""
    result = b.verify(signed, now_ns=now_ns)
    if presigned:
        signature = b.query_param(signed, "X-Amz-Signature")
        forged = b.with_query_param(signed, "X-Amz-Signature", _flip_bit(signature))
    else:
        authorization = b.header(signed, "authorization")
        signature = authorization.rpartition("Signature=")[2]
        forged = _with_authorization(signed, _flip_bit(authorization))
    assert result == AuthResult(
        access_key=b.ACCESS_KEY,
        payload=sigv4.UNSIGNED_PAYLOAD if presigned else sigv4.EMPTY_SHA256,
        presigned=presigned,
        amz_date="20240501T120000Z",
        scope=f"20240501/{b.REGION}/s3/aws4_request",
        seed_signature=signature,
        signing_key=sigv4.signing_key(b.SECRET_KEY, "20240501", b.REGION, "s3"),
    )
    for wrong in (forged, replace(signed, raw_path=_flip_bit(signed.raw_path))):
        error = _refused(wrong, now_ns=now_ns)
        assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("skew_s", [-900, 900])
def test_skew_of_fifteen_minutes_is_accepted(skew_s: int) -> None:
    _assert_verified_exactly(_get(), now_ns=b.SIGNED_AT_NS + skew_s * NS, presigned=False)


def test_skew_is_counted_in_whole_seconds() -> None:
    """The request time has no fraction: the server's second 900 s later is within the
    limit to its end; ServerTime names the second the server is in."""
    _assert_verified_exactly(_get(), now_ns=b.SIGNED_AT_NS + 901 * NS - 1, presigned=False)
    error = _refused(_get(), now_ns=b.SIGNED_AT_NS + 902 * NS - 1)
    assert error.code == "RequestTimeTooSkewed"
    assert (
        error.text == "The difference between the request time and the current time is too large."
    )
    assert error.extra == {
        "RequestTime": "20240501T120000Z",
        "ServerTime": "2024-05-01T12:15:01Z",
        "MaxAllowedSkewMilliseconds": "900000",
    }


def test_skew_reports_date_header_as_sent() -> None:
    signed = b.sign_header("GET", "/bucket/key", "", [("Date", "x")])
    error = _refused(signed, now_ns=b.SIGNED_AT_NS + 3600 * NS)
    assert error.code == "RequestTimeTooSkewed"
    assert error.extra is not None
    assert error.extra["RequestTime"] == "Wed, 01 May 2024 12:00:00 -0000"


@pytest.mark.parametrize("date", [None, "yesterday", "20240501T120000", "20241301T120000Z"])
def test_missing_or_invalid_date(date: str | None) -> None:
    signed = _get()
    headers = tuple((n, v) for n, v in signed.headers if n != "x-amz-date")
    if date is not None:
        headers += (("x-amz-date", date),)
    error = _refused(replace(signed, headers=headers))
    assert (error.code, error.status, error.text) == (
        "AccessDenied",
        403,
        "AWS authentication requires a valid Date or x-amz-date header",
    )


@pytest.mark.parametrize(
    "framing",
    [("content-length", "5"), ("transfer-encoding", "chunked")],
    ids=["content-length", "chunked"],
)
def test_missing_content_sha256_with_a_body_is_invalid_request(framing: tuple[str, str]) -> None:
    # Signed the way curl --aws-sigv4 signs an upload: the empty hash, no header.
    # Accepting it would mean hashing the body before authenticating.
    signed = b.sign_header_keeping_payload("PUT", "/bucket/key", "", [framing])
    assert "x-amz-content-sha256" not in dict(signed.headers)
    error = _refused(signed)
    assert (error.code, error.status) == ("InvalidRequest", 400)
    assert error.text == "Missing required header for this request: x-amz-content-sha256"


def test_missing_content_sha256_without_a_body_still_checks_the_signature() -> None:
    # Signed over a payload hash other than the empty one: with no header to
    # say so, the empty hash is what the signature must cover.
    signed = b.sign_header_keeping_payload(
        "GET", "/bucket/key", "", [("X-Amz-Content-SHA256", sigv4.UNSIGNED_PAYLOAD)]
    )
    headers = tuple((n, v) for n, v in signed.headers if n != "x-amz-content-sha256")
    error = _refused(replace(signed, headers=headers))
    assert error.code == "SignatureDoesNotMatch"
    assert f"\n{sigv4.EMPTY_SHA256}" in dict(error.extra or {})["CanonicalRequest"]


@pytest.mark.parametrize(
    "value", ["abc", "STREAMING-PAYLOAD", "g" * 64, "unsigned-payload", "a" * 63, "a" * 65]
)
def test_invalid_content_sha256_is_invalid_argument(value: str) -> None:
    error = _refused(b.with_header(_get(), "x-amz-content-sha256", value))
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.text == (
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value."
    )
    assert error.extra == {"ArgumentName": "x-amz-content-sha256", "ArgumentValue": value}


def test_repeated_content_sha256_is_one_comma_joined_value() -> None:
    signed = _get()
    digest = b.header(signed, "x-amz-content-sha256")
    twice = replace(signed, headers=(*signed.headers, ("x-amz-content-sha256", digest)))
    error = _refused(twice)
    assert error.code == "InvalidArgument"
    assert error.extra == {
        "ArgumentName": "x-amz-content-sha256",
        "ArgumentValue": f"{digest},{digest}",
    }


def test_upper_case_digest_is_signed_as_sent_and_returned_lower_case() -> None:
    digest = hashlib.sha256(b"payload").hexdigest()
    signed = b.sign_header_keeping_payload(
        "PUT", "/bucket/key", "", [("X-Amz-Content-SHA256", digest.upper())]
    )
    assert b.verify(signed).payload == digest


@pytest.mark.parametrize(
    "mode",
    [
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    ],
)
def test_sigv4a_streaming_is_not_implemented(mode: str) -> None:
    error = _refused(b.with_header(_get(), "x-amz-content-sha256", mode))
    assert (error.code, error.status, error.text) == (
        "NotImplemented",
        501,
        "SigV4a (ECDSA) streaming signatures are not supported by this server",
    )
    assert error.extra is None


@pytest.mark.parametrize(
    "mode",
    [
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    ],
)
def test_streaming_modes_are_returned(mode: str) -> None:
    signed = b.sign_header_keeping_payload(
        "PUT",
        "/bucket/key",
        "",
        [
            ("X-Amz-Content-SHA256", mode),
            ("Content-Encoding", "aws-chunked"),
            ("X-Amz-Decoded-Content-Length", "66560"),
            ("X-Amz-Trailer", "x-amz-checksum-crc32, X-Amz-Checksum-SHA1"),
        ],
    )
    result = b.verify(signed)
    assert result.payload == mode
    assert result.signing_key == sigv4.signing_key(b.SECRET_KEY, "20240501", b.REGION, "s3")
    assert len(result.seed_signature) == 64
    assert result.decoded_length == 66560
    assert result.trailer_names == ("x-amz-checksum-crc32", "x-amz-checksum-sha1")


def _streaming(*lengths: str) -> b.Signed:
    headers = [("X-Amz-Content-SHA256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")]
    headers += [("X-Amz-Decoded-Content-Length", length) for length in lengths]
    return b.sign_header_keeping_payload("PUT", "/bucket/key", "", headers)


def test_streaming_needs_decoded_length() -> None:
    error = _refused(_streaming())
    assert (error.code, error.status) == ("MissingContentLength", 411)
    assert error.text == "You must provide the Content-Length HTTP header."


@pytest.mark.parametrize("lengths", [("-1",), ("1.5",), ("",), ("5", "5"), ("x", "5")])
def test_streaming_decoded_length_must_be_one_integer(lengths: tuple[str, ...]) -> None:
    error = _refused(_streaming(*lengths))
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.text == "x-amz-decoded-content-length must be a non-negative integer"
    assert error.extra == {
        "ArgumentName": "x-amz-decoded-content-length",
        "ArgumentValue": lengths[0],
    }


def test_streaming_decoded_length_of_non_ascii_digits() -> None:
    """``¹`` (byte B9) is a digit to str.isdigit but no length: refused, not a crash."""
    mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    headers = (
        ("host", b.HOST),
        ("x-amz-content-sha256", mode),
        ("x-amz-date", "20240501T120000Z"),
        ("x-amz-decoded-content-length", "\xb9"),
    )
    signed_headers = ";".join(n for n, _ in headers)
    creq = (
        "PUT\n/bucket/key\n\n"
        + "".join(f"{n}:{v}\n" for n, v in headers)
        + f"\n{signed_headers}\n{mode}"
    )
    scope = f"20240501/{b.REGION}/s3/aws4_request"
    digest = hashlib.sha256(creq.encode("latin-1")).hexdigest()
    sts = f"AWS4-HMAC-SHA256\n20240501T120000Z\n{scope}\n{digest}"
    key = sigv4.signing_key(b.SECRET_KEY, "20240501", b.REGION, "s3")
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={b.ACCESS_KEY}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    signed = b.Signed("PUT", "/bucket/key", "", (*headers, ("authorization", authorization)))
    error = _refused(signed)
    assert (error.code, error.text) == (
        "InvalidArgument",
        "x-amz-decoded-content-length must be a non-negative integer",
    )


def test_streaming_fields_only_for_streaming_modes() -> None:
    """A signed digest ignores x-amz-decoded-content-length and x-amz-trailer."""
    digest = hashlib.sha256(b"x").hexdigest()
    signed = b.sign_header_keeping_payload(
        "PUT",
        "/bucket/key",
        "",
        [
            ("X-Amz-Content-SHA256", digest),
            ("X-Amz-Decoded-Content-Length", "junk"),
            ("X-Amz-Trailer", "x-amz-checksum-crc32"),
        ],
    )
    result = b.verify(signed)
    assert (result.payload, result.decoded_length, result.trailer_names) == (digest, None, ())


def test_unsigned_amz_header_is_access_denied() -> None:
    signed = b.with_header(_get(), "x-amz-meta-sneaky", "1")
    error = _refused(signed)
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert error.text == "There were headers present in the request which were not signed"
    assert error.extra == {"HeadersNotSigned": "x-amz-meta-sneaky"}
    both = b.with_header(b.with_header(signed, "x-amz-meta-a", "2"), "x-amz-meta-a", "3")
    assert _refused(both).extra == {"HeadersNotSigned": "x-amz-meta-a, x-amz-meta-sneaky"}


TOKEN_TEXT = (
    "Temporary security credentials (x-amz-security-token) are not supported by "
    "this server; sign with a long-term access key."
)


def test_session_token_is_refused_honestly() -> None:
    signed = b.with_header(_get(), "x-amz-security-token", "FwoGZXIvYXdzE")
    error = _refused(signed)
    assert (error.code, error.status, error.text) == ("InvalidAccessKeyId", 403, TOKEN_TEXT)
    assert error.extra == {"AWSAccessKeyId": b.ACCESS_KEY}
    in_query = replace(_get(), raw_query="X-Amz-Security-Token=abc")
    error = _refused(in_query)
    assert (error.code, error.text) == ("InvalidAccessKeyId", TOKEN_TEXT)
    assert error.extra == {"AWSAccessKeyId": b.ACCESS_KEY}
    # Query parameter names are case-sensitive: this one is just a (unsigned) parameter.
    assert _refused(replace(_get(), raw_query="x-amz-security-token=abc")).code == (
        "SignatureDoesNotMatch"
    )
    presigned = _presigned()
    presigned = replace(presigned, raw_query=presigned.raw_query + "&X-Amz-Security-Token=abc")
    assert _refused(presigned).code == "InvalidAccessKeyId"


# --- presigned ------------------------------------------------------------------------------


def test_presigned_expired() -> None:
    error = _refused(_presigned(expires_s=60), now_ns=b.SIGNED_AT_NS + 61 * NS)
    assert (error.code, error.text) == ("AccessDenied", "Request has expired")
    assert error.extra == {
        "X-Amz-Expires": "60",
        "Expires": "2024-05-01T12:01:00Z",
        "ServerTime": "2024-05-01T12:01:01Z",
    }


def test_presigned_valid_until_expiry() -> None:
    _assert_verified_exactly(
        _presigned(expires_s=60), now_ns=b.SIGNED_AT_NS + 60 * NS, presigned=True
    )


def test_presigned_from_the_future() -> None:
    error = _refused(_presigned(), now_ns=b.SIGNED_AT_NS - 901 * NS)
    assert error.code == "AccessDenied"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA512", "only supports"),
        ("X-Amz-Date", "20240501", "ISO8601"),
        ("X-Amz-Credential", "AKIAHAMSTERTEST00001%2F20240501", "mal-formed"),
        (
            "X-Amz-Credential",
            "AKIAHAMSTERTEST00001%2F20240502%2Fus-east-1%2Fs3%2Faws4_request",
            "Invalid credential date",
        ),
    ],
)
def test_presigned_malformed(name: str, value: str, fragment: str) -> None:
    error = _refused(b.with_query_param(_presigned(), name, value))
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)
    assert fragment in error.text


@pytest.mark.parametrize("missing", ["X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"])
def test_presigned_missing_parameter(missing: str) -> None:
    signed = _presigned()
    query = "&".join(p for p in signed.raw_query.split("&") if not p.startswith(f"{missing}="))
    error = _refused(replace(signed, raw_query=query))
    assert error.code == "AuthorizationQueryParametersError"
    assert "requires" in error.text


def test_presigned_payload_hash_from_header() -> None:
    signed = b.sign_query("PUT", "/bucket/key", "", [("X-Amz-Content-SHA256", "AB" * 32)])
    assert b.verify(signed).payload == "ab" * 32


def test_presigned_payload_hash_from_query() -> None:
    """``X-Amz-Content-Sha256`` in the query (as MinIO accepts it) signs the payload line."""
    digest = "ab" * 32
    scope = sigv4.credential_scope("20240501", b.REGION, "s3")
    params = [
        ("X-Amz-Algorithm", sigv4.ALGORITHM),
        ("X-Amz-Content-Sha256", digest),
        ("X-Amz-Credential", f"{b.ACCESS_KEY}/{scope}"),
        ("X-Amz-Date", "20240501T120000Z"),
        ("X-Amz-Expires", "60"),
        ("X-Amz-SignedHeaders", "host"),
    ]
    creq = sigv4.canonical_request(
        method="PUT",
        uri="/bucket/key",
        query=sigv4.canonical_query(params),
        headers_block=f"host:{b.HOST}\n",
        signed_headers="host",
        payload=digest,
    )
    sts = sigv4.string_to_sign(
        amz_date="20240501T120000Z", scope=scope, canonical_request_bytes=creq.encode()
    )
    key = sigv4.signing_key(b.SECRET_KEY, "20240501", b.REGION, "s3")
    params.append(("X-Amz-Signature", sigv4.signature(key, sts)))
    query = b.encode_query([(n, v) for n, v in params])
    signed = b.Signed("PUT", "/bucket/key", query, (("host", b.HOST),))
    result = b.verify(signed)
    assert (result.payload, result.presigned) == (digest, True)


WEEK_MESSAGE = (
    "X-Amz-Expires must be less than a week (in seconds); that is, the given "
    "X-Amz-Expires must be less than 604800 seconds"
)


@pytest.mark.parametrize(
    ("raw_value", "message"),
    [
        ("soon", "X-Amz-Expires should be a number"),
        ("", "X-Amz-Expires should be a number"),
        ("1.5", "X-Amz-Expires should be a number"),
        ("%EF%BC%91%EF%BC%92", "X-Amz-Expires should be a number"),  # fullwidth digits
        ("--1", "X-Amz-Expires should be a number"),
        ("1" * 20, "X-Amz-Expires should be a number"),  # beyond a Java long
        ("-1", "X-Amz-Expires must be non-negative"),
        ("-604801", "X-Amz-Expires must be non-negative"),
        ("604801", WEEK_MESSAGE),
        ("%2B604801", WEEK_MESSAGE),
        ("1" * 19, WEEK_MESSAGE),
    ],
)
def test_presigned_expires_refusals_are_s3s(raw_value: str, message: str) -> None:
    """S3's own refusals of X-Amz-Expires: not a number, negative, over a week
    (the same texts MinIO and Ceph copy from S3)."""
    error = _refused(b.with_query_param(_presigned(), "X-Amz-Expires", raw_value))
    assert (error.code, error.status, error.text) == (
        "AuthorizationQueryParametersError",
        400,
        message,
    )
    assert error.extra is None


@pytest.mark.parametrize("expires", [604800, "+60", "0060"])
def test_presigned_expires_up_to_a_week_as_a_long(expires: int | str) -> None:
    """A week is allowed; a sign or leading zeros are read as a Java long reads them."""
    seconds = int(expires)
    signed = b.sign_query("GET", "/bucket/key", "", expires_s=expires)
    assert b.verify(signed, now_ns=b.SIGNED_AT_NS + seconds * NS).presigned
    error = _refused(signed, now_ns=b.SIGNED_AT_NS + (seconds + 1) * NS)
    assert (error.code, error.text) == ("AccessDenied", "Request has expired")
    assert error.extra is not None and error.extra["X-Amz-Expires"] == str(expires)
