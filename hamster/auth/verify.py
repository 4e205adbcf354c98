"""The authenticate stage: verify a request's SigV4 or SigV2 signature (header or presigned query).

`authenticate` is sans-I/O: it gets the request line parts and headers exactly
as sent, a way to look a secret up, the current time and the server's region,
and either returns an `AuthResult` or raises `S3Error` with the code and extra
elements S3 itself answers with. It never reads the body: the payload
(``x-amz-content-sha256``) is checked as the body streams, by
`hamster.auth.payload.verified_body`.

SigV2 (``Authorization: AWS key:signature`` and ``?AWSAccessKeyId=…&Expires=…
&Signature=…``, which boto3's default presigner emits) is verified by
`hamster.auth.sigv2`; its payload is always ``UNSIGNED-PAYLOAD`` (SigV2 does not
sign the body).

Error policy, in the order checks run: no credentials at all → AccessDenied;
two mechanisms at once → InvalidArgument; a scheme other than SigV4 or SigV2 →
InvalidRequest; a malformed header or credential scope (wrong region, service,
date) → AuthorizationHeaderMalformed (AuthorizationQueryParametersError for
presigned); a date too far from now → RequestTimeTooSkewed, or AccessDenied
"Request has expired" for presigned; a session token → InvalidAccessKeyId
(temporary credentials are not supported); an unknown key → InvalidAccessKeyId;
an unsigned ``x-amz-*`` header → AccessDenied; a bad signature →
SignatureDoesNotMatch with the canonical request and string to sign, like S3.

A header-signed request without ``x-amz-content-sha256`` (curl's
``--aws-sigv4``) is verified against the empty payload's hash when its head
says it has no body, and refused with InvalidRequest when it has one.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from hamster.auth import sigv2, sigv4
from hamster.auth.common import (
    amz_date,
    iso_seconds,
    lookup_secret_or_refuse,
    parse_amz_date_s,
    parse_http_date_s,
    refuse_session_token,
)
from hamster.s3.errors import S3Error

SERVICE = "s3"
SKEW_MAX_S = 15 * 60
PRESIGNED_EXPIRES_MAX_S = 7 * 24 * 3600

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = frozenset(
    {STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
_ECDSA_MODES = frozenset(
    {"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"}
)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# X-Amz-Expires as S3 reads it (a Java long: an optional sign, ASCII digits).
_EXPIRES = re.compile(r"[+-]?[0-9]{1,19}")

_QUERY_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_SIGV2_QUERY = ("AWSAccessKeyId", "Signature")  # either one marks a SigV2 presigned request


@dataclass(frozen=True)
class AuthResult:
    """Who signed the request, and how its body must be checked.

    Attributes:
      access_key: the verified access key id.
      payload: the ``x-amz-content-sha256`` mode: ``UNSIGNED-PAYLOAD``, a
        64-hex SHA-256 digest (lower case), or a ``STREAMING-*`` name.
      presigned: True for query-string (presigned URL) authentication.
      amz_date: the request timestamp as signed (``YYYYMMDDTHHMMSSZ``).
      scope: the credential scope (``YYYYMMDD/region/s3/aws4_request``).
      seed_signature: the request's signature, which seeds aws-chunked chains.
      signing_key: the derived key, for chunk and trailer signatures.
      decoded_length: ``x-amz-decoded-content-length`` (STREAMING-* only).
      trailer_names: the lower-case names ``x-amz-trailer`` announces.
    """

    access_key: str
    payload: str
    presigned: bool = False
    amz_date: str = ""
    scope: str = ""
    seed_signature: str = ""
    signing_key: bytes = field(default=b"", repr=False)
    decoded_length: int | None = None
    trailer_names: tuple[str, ...] = ()


def authenticate(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    lookup_secret: Callable[[str], str | None],
    now_ns: int,
    region: str,
    virtual_host_bucket: str | None = None,
    service: str = SERVICE,
) -> AuthResult:
    """Verify the SigV4 or SigV2 signature of one request.

    Args:
      method: the upper-case method.
      raw_path: the path exactly as on the request line (still percent-encoded).
      raw_query: the query exactly as on the request line, without ``?``.
      headers: (lower-case name, value) pairs in arrival order.
        All three are wire strings: one character per byte (latin-1), as
        `hamster.http.messages.HttpRequest` holds them.
      lookup_secret: the secret key of an access key id, None if unknown.
      now_ns: the current time, nanoseconds since the Unix epoch.
      region: the server's region; a scope naming another is refused.
      virtual_host_bucket: the bucket when it came from the Host header
        (virtual-hosted addressing), None for path-style. SigV2 signs it as
        ``/bucket`` before the path; SigV4 does not need it.
      service: the SigV4 service name a scope must name and the key is
        derived for. The server always verifies ``s3``; AWS's published test
        suite signs for ``service`` and is verified through here with it.
        Canonicalisation is S3's whatever the name (paths never normalised).

    Returns:
      The verified `AuthResult`.

    Raises:
      S3Error: with S3's code and extra elements (see the module docstring).
    """
    authorization = [v for n, v in headers if n == "authorization"]
    params = sigv4.query_pairs(raw_query)
    names = {n for n, _ in params}
    presigned = "X-Amz-Algorithm" in names or "X-Amz-Credential" in names
    sigv2_query = any(n in names for n in _SIGV2_QUERY)
    if authorization and (presigned or sigv2_query):
        raise S3Error(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            extra={"ArgumentName": "Authorization", "ArgumentValue": authorization[0]},
        )
    if presigned:
        return _authenticate_query(
            method, raw_path, params, headers, lookup_secret, now_ns, region, service
        )
    if sigv2_query:
        access_key = sigv2.verify_query(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            lookup_secret=lookup_secret,
            now_ns=now_ns,
            virtual_host_bucket=virtual_host_bucket,
        )
        return AuthResult(access_key=access_key, payload=sigv4.UNSIGNED_PAYLOAD, presigned=True)
    if not authorization:
        raise S3Error("AccessDenied")
    if len(authorization) > 1:
        raise _malformed("more than one Authorization header")
    # Only HTTP's whitespace (SP, HTAB) may surround the scheme, in both verifiers:
    # str.strip() would also take a no-break space (byte A0) that sigv2 keeps.
    if authorization[0].strip(" \t").partition(" ")[0] == sigv2.SCHEME:
        access_key = sigv2.verify_header(
            method=method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            authorization=authorization[0],
            lookup_secret=lookup_secret,
            now_ns=now_ns,
            virtual_host_bucket=virtual_host_bucket,
        )
        return AuthResult(access_key=access_key, payload=sigv4.UNSIGNED_PAYLOAD)
    return _authenticate_header(
        method, raw_path, params, headers, authorization[0], lookup_secret, now_ns, region, service
    )


# ---------------------------------------------------------------------------
# Authorization header


def _authenticate_header(
    method: str,
    raw_path: str,
    params: list[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    authorization: str,
    lookup_secret: Callable[[str], str | None],
    now_ns: int,
    region: str,
    service: str,
) -> AuthResult:
    scheme, _, rest = authorization.strip(" \t").partition(" ")
    if scheme != sigv4.ALGORITHM:
        raise _unsupported_mechanism()
    fields = _parse_components(rest)
    credential = fields.get("Credential")
    signed_headers = fields.get("SignedHeaders")
    provided = fields.get("Signature")
    if credential is None or signed_headers is None or provided is None:
        raise _malformed(
            "the authorization header requires three components: "
            "Credential, SignedHeaders, and Signature"
        )

    amz_date, request_time_s, date_as_sent = _header_date(headers)
    access_key, scope = _check_scope(
        credential,
        amz_date,
        region,
        service,
        code="AuthorizationHeaderMalformed",
        prefix="The authorization header is malformed",
    )
    skew_s = abs(now_ns // 1_000_000_000 - request_time_s)
    if skew_s > SKEW_MAX_S:
        raise S3Error(
            "RequestTimeTooSkewed",
            extra={
                "RequestTime": date_as_sent,
                "ServerTime": iso_seconds(now_ns // 1_000_000_000),
                "MaxAllowedSkewMilliseconds": str(SKEW_MAX_S * 1000),
            },
        )
    refuse_session_token(
        access_key,
        any(n == "x-amz-security-token" for n, _ in headers)
        or any(n == "X-Amz-Security-Token" for n, _ in params),
    )
    secret = lookup_secret_or_refuse(lookup_secret, access_key)

    payload_values = [v for n, v in headers if n == "x-amz-content-sha256"]
    if payload_values:
        payload_text = ",".join(payload_values)
    elif not _has_body(headers):
        # curl --aws-sigv4 (7.75 to 8.x) signs the empty body's hash but sends
        # no x-amz-content-sha256; with no body that hash is the only one it can be.
        payload_text = sigv4.EMPTY_SHA256
    else:
        # Never guess a body's hash: that would mean waiting for the body.
        raise S3Error(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    payload = _check_payload(payload_text)

    signed_names = _signed_names(signed_headers, "AuthorizationHeaderMalformed")
    _check_all_amz_signed(headers, signed_names)
    creq = sigv4.canonical_request(
        method=method,
        uri=sigv4.canonical_uri(raw_path),
        query=sigv4.canonical_query(params),
        headers_block=sigv4.canonical_headers(headers, signed_names),
        signed_headers=signed_headers,
        payload=payload_text,
    )
    key = sigv4.signing_key(secret, scope.split("/", 1)[0], region, service)
    signature = _check_signature(access_key, key, amz_date, scope, creq, provided)
    return AuthResult(
        access_key=access_key,
        payload=payload,
        presigned=False,
        amz_date=amz_date,
        scope=scope,
        seed_signature=signature,
        signing_key=key,
        **_streaming_fields(payload, headers),
    )


def _has_body(headers: Sequence[tuple[str, str]]) -> bool:
    """True unless the head says the request has no body (no Transfer-Encoding,
    and no Content-Length or ``Content-Length: 0``)."""
    for name, value in headers:
        if name == "transfer-encoding":
            return True
        if name == "content-length" and value.strip() != "0":
            return True
    return False


def _parse_components(rest: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or name.strip() in fields:
            raise _malformed(f'the authorization component "{part}" is malformed')
        fields[name.strip()] = value.strip()
    return fields


def _header_date(headers: Sequence[tuple[str, str]]) -> tuple[str, int, str]:
    """(amz_date as signed, request time in seconds, the value as sent)."""
    amz = [v for n, v in headers if n == "x-amz-date"]
    if amz:
        parsed = parse_amz_date_s(amz[0].strip())
        if parsed is not None and len(amz) == 1:
            return amz[0].strip(), parsed, amz[0]
    else:
        date = [v for n, v in headers if n == "date"]
        if len(date) == 1:
            seconds = parse_http_date_s(date[0])
            if seconds is not None:
                return amz_date(seconds), seconds, date[0]
    raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")


# ---------------------------------------------------------------------------
# Presigned query


def _authenticate_query(
    method: str,
    raw_path: str,
    params: list[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    lookup_secret: Callable[[str], str | None],
    now_ns: int,
    region: str,
    service: str,
) -> AuthResult:
    code = "AuthorizationQueryParametersError"
    values: dict[str, str] = {}
    for name, value in params:
        if name in _QUERY_PARAMS:
            if name in values:
                raise S3Error(code, f"{name} was given more than once")
            values[name] = value
    if any(name not in values for name in _QUERY_PARAMS):
        raise S3Error(
            code,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    if values["X-Amz-Algorithm"] != sigv4.ALGORITHM:
        raise S3Error(code, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    amz_date = values["X-Amz-Date"]
    request_time_s = parse_amz_date_s(amz_date)
    if request_time_s is None:
        raise S3Error(
            code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    expires_text = values["X-Amz-Expires"]
    if not _EXPIRES.fullmatch(expires_text):
        raise S3Error(code, "X-Amz-Expires should be a number")
    expires_s = int(expires_text)
    if expires_s < 0:
        raise S3Error(code, "X-Amz-Expires must be non-negative")
    if expires_s > PRESIGNED_EXPIRES_MAX_S:
        raise S3Error(
            code,
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            "X-Amz-Expires must be less than 604800 seconds",
        )
    access_key, scope = _check_scope(
        values["X-Amz-Credential"],
        amz_date,
        region,
        service,
        code=code,
        prefix="Error parsing the X-Amz-Credential parameter",
    )
    now_s = now_ns // 1_000_000_000
    if now_s > request_time_s + expires_s:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            extra={
                "X-Amz-Expires": expires_text,
                "Expires": iso_seconds(request_time_s + expires_s),
                "ServerTime": iso_seconds(now_s),
            },
        )
    if request_time_s - now_s > SKEW_MAX_S:
        raise S3Error(
            "AccessDenied",
            "Request is not valid yet",
            extra={"X-Amz-Date": amz_date, "ServerTime": iso_seconds(now_s)},
        )
    refuse_session_token(
        access_key,
        any(n == "x-amz-security-token" for n, _ in headers)
        or any(n == "X-Amz-Security-Token" for n, _ in params),
    )
    secret = lookup_secret_or_refuse(lookup_secret, access_key)

    payload_text = next((v for n, v in params if n == "X-Amz-Content-Sha256"), None)
    if payload_text is None:
        payload_text = next(
            (v for n, v in headers if n == "x-amz-content-sha256"), sigv4.UNSIGNED_PAYLOAD
        )
    payload = _check_payload(payload_text)

    signed_headers = values["X-Amz-SignedHeaders"]
    signed_names = _signed_names(signed_headers, code)
    _check_all_amz_signed(headers, signed_names)
    creq = sigv4.canonical_request(
        method=method,
        uri=sigv4.canonical_uri(raw_path),
        query=sigv4.canonical_query([(n, v) for n, v in params if n != "X-Amz-Signature"]),
        headers_block=sigv4.canonical_headers(headers, signed_names),
        signed_headers=signed_headers,
        payload=payload_text,
    )
    key = sigv4.signing_key(secret, scope.split("/", 1)[0], region, service)
    signature = _check_signature(access_key, key, amz_date, scope, creq, values["X-Amz-Signature"])
    return AuthResult(
        access_key=access_key,
        payload=payload,
        presigned=True,
        amz_date=amz_date,
        scope=scope,
        seed_signature=signature,
        signing_key=key,
        **_streaming_fields(payload, headers),
    )


# ---------------------------------------------------------------------------
# Shared checks


def _check_scope(
    credential: str, amz_date: str, region: str, service: str, *, code: str, prefix: str
) -> tuple[str, str]:
    """Validate ``AKID/YYYYMMDD/region/service/aws4_request``; (access key, scope)."""
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise S3Error(
            code,
            f"{prefix}; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        )
    access_key, date, scope_region, scope_service, terminal = parts
    if date != amz_date[:8]:
        raise S3Error(
            code,
            f'{prefix}; Invalid credential date "{date}". This date is not the same as '
            f'X-Amz-Date: "{amz_date[:8]}".',
        )
    if scope_region != region:
        raise S3Error(
            code,
            f"{prefix}; the region '{scope_region}' is wrong; expecting '{region}'",
            extra={"Region": region},
        )
    if scope_service != service:
        raise S3Error(
            code,
            f'{prefix}; incorrect service "{scope_service}". This endpoint belongs to "{service}".',
        )
    if terminal != sigv4.TERMINATOR:
        raise S3Error(
            code,
            f'{prefix}; incorrect terminal "{terminal}". This endpoint uses "{sigv4.TERMINATOR}".',
        )
    return access_key, sigv4.credential_scope(date, scope_region, service)


def _signed_names(signed_headers: str, code: str) -> list[str]:
    names = signed_headers.split(";")
    if not signed_headers or any(not n or n != n.strip() for n in names):
        raise S3Error(code, f'The SignedHeaders "{signed_headers}" are malformed.')
    return [n.lower() for n in names]


def _check_all_amz_signed(headers: Sequence[tuple[str, str]], signed_names: list[str]) -> None:
    signed = set(signed_names)
    unsigned = sorted({n for n, _ in headers if n.startswith("x-amz-") and n not in signed})
    if unsigned:
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            extra={"HeadersNotSigned": ", ".join(unsigned)},
        )


def _check_payload(value: str) -> str:
    if value == sigv4.UNSIGNED_PAYLOAD or value in STREAMING_MODES:
        return value
    if _HEX64.fullmatch(value):
        return value.lower()
    if value in _ECDSA_MODES:
        raise S3Error(
            "NotImplemented",
            "SigV4a (ECDSA) streaming signatures are not supported by this server",
        )
    raise S3Error(
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        extra={"ArgumentName": "x-amz-content-sha256", "ArgumentValue": value},
    )


class _StreamingFields(TypedDict, total=False):
    decoded_length: int
    trailer_names: tuple[str, ...]


def _streaming_fields(payload: str, headers: Sequence[tuple[str, str]]) -> _StreamingFields:
    """``x-amz-decoded-content-length`` and ``x-amz-trailer`` of a STREAMING-* request."""
    if payload not in STREAMING_MODES:
        return {}
    lengths = [v.strip() for n, v in headers if n == "x-amz-decoded-content-length"]
    if not lengths:
        raise S3Error("MissingContentLength")
    if len(lengths) > 1 or not (lengths[0].isascii() and lengths[0].isdigit()):
        raise S3Error(
            "InvalidArgument",
            "x-amz-decoded-content-length must be a non-negative integer",
            extra={"ArgumentName": "x-amz-decoded-content-length", "ArgumentValue": lengths[0]},
        )
    names = tuple(
        name.strip().lower()
        for n, v in headers
        if n == "x-amz-trailer"
        for name in v.split(",")
        if name.strip()
    )
    return {"decoded_length": int(lengths[0]), "trailer_names": names}


def _check_signature(
    access_key: str, key: bytes, amz_date: str, scope: str, creq: str, provided: str
) -> str:
    creq_bytes = sigv4.wire_bytes(creq)
    sts = sigv4.string_to_sign(amz_date=amz_date, scope=scope, canonical_request_bytes=creq_bytes)
    expected = sigv4.signature(key, sts)
    if not hmac.compare_digest(expected.encode(), sigv4.wire_bytes(provided)):
        raise S3Error(
            "SignatureDoesNotMatch",
            extra=_mismatch_extra(access_key, sts, provided, creq, creq_bytes),
        )
    return expected


def _mismatch_extra(
    access_key: str, sts: str, provided: str, creq: str, creq_bytes: bytes
) -> Mapping[str, str]:
    return {
        "AWSAccessKeyId": access_key,
        "StringToSign": sts,
        "SignatureProvided": provided,
        "StringToSignBytes": sts.encode().hex(" "),
        "CanonicalRequest": creq,
        "CanonicalRequestBytes": creq_bytes.hex(" "),
    }


def _unsupported_mechanism() -> S3Error:
    return S3Error(
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. "
        "Please use AWS4-HMAC-SHA256.",
    )


def _malformed(detail: str) -> S3Error:
    return S3Error(
        "AuthorizationHeaderMalformed", f"The authorization header is malformed; {detail}"
    )
