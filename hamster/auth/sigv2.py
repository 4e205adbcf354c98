"""SigV2 for S3 (``Authorization: AWS key:signature`` and ``?AWSAccessKeyId=…``): pure functions.

boto3's ``generate_presigned_url`` with default settings still signs with
Signature Version 2 against a custom endpoint, so this module verifies it beside
SigV4 (`hamster.auth.verify` dispatches here). SigV2 never signs the body: the
caller treats the payload as ``UNSIGNED-PAYLOAD`` (a ``Content-MD5``, when sent,
is signed here and checked by the store).

The string to sign, as S3 defines it::

    Method \\n Content-MD5 \\n Content-Type \\n Date \\n
    CanonicalizedAmzHeaders CanonicalizedResource

* Date is the ``Date`` header; empty when ``x-amz-date`` is sent (which is then
  signed among the ``x-amz-*`` headers); ``Expires`` for presigned requests.
* CanonicalizedAmzHeaders: every ``x-amz-*`` header, lower-cased, sorted,
  repeated ones joined with ``,``, values trimmed and unfolded, each
  ``name:value\\n``. In a presigned request, ``x-amz-*``, ``content-type`` and
  ``content-md5`` query parameters stand in for headers of the same name that
  are not sent (botocore's presigner moves the headers it signs there; a
  client may send them as headers too).
* CanonicalizedResource: ``/bucket`` when the bucket came from the Host
  (virtual-hosted), then the path exactly as sent (not decoded), then the S3
  sub-resources of the query (`SUB_RESOURCES`), percent-decoded once, sorted
  by name: ``/b/k?partNumber=3&uploadId=x``.

Compatibility (each tried only after the S3 form fails, so a mismatch still
names S3's string to sign): botocore signs ``/bucket/`` for a path-style
bucket request sent to ``/bucket``, and ``name=`` for a sub-resource sent with
an empty value (S3 and other clients sign the bare ``name``).

Strings are wire strings (one character per byte, see `hamster.auth.sigv4`);
the HMAC is over those bytes.

Refusals, in order: header — a malformed header → InvalidArgument; no valid
date → AccessDenied; skew over 15 minutes → RequestTimeTooSkewed. Presigned —
a missing ``Signature``/``Expires``/``AWSAccessKeyId`` → AccessDenied; an
``Expires`` that is not an integer → AccessDenied "Invalid date"; past expiry →
AccessDenied "Request has expired" (no skew check: a far future is accepted).
Then for both: a session token → InvalidAccessKeyId (not supported); an
unknown key → InvalidAccessKeyId; a bad signature → SignatureDoesNotMatch with
StringToSign and StringToSignBytes, like S3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import unquote_to_bytes

from hamster.auth.common import (
    iso_seconds,
    lookup_secret_or_refuse,
    parse_amz_date_s,
    parse_http_date_s,
    refuse_session_token,
)
from hamster.auth.sigv4 import query_pairs, wire_bytes
from hamster.s3.errors import S3Error

SCHEME = "AWS"
SKEW_MAX_S = 15 * 60

# The query parameters that are part of the resource. S3 documents acl, cors,
# delete, lifecycle, location, logging, notification, partNumber, policy,
# requestPayment, response-*, restore, tagging, torrent, uploadId, uploads,
# versionId, versioning, versions and website; this is botocore's
# HmacV1Auth.QSAOfInterest, which holds all of those and a few newer ones.
SUB_RESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)

QUERY_PARAMS = ("AWSAccessKeyId", "Signature", "Expires")

_FOLD = re.compile(r"\r?\n[ \t]+")
_EXPIRES = re.compile(r"[+-]?[0-9]{1,19}")

_MALFORMED = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_MISSING_QUERY = (
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)


# ---------------------------------------------------------------------------
# Canonicalisation and signing


def sign(secret: str, string_to_sign_bytes: bytes) -> str:
    """Base64 HMAC-SHA1 of the string to sign under `secret` (UTF-8)."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign_bytes, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def string_to_sign(
    *,
    method: str,
    content_md5: str,
    content_type: str,
    date: str,
    amz_headers: str,
    resource: str,
) -> str:
    """Join the parts; `amz_headers` is a `canonical_amz_headers` block."""
    return f"{method}\n{content_md5}\n{content_type}\n{date}\n{amz_headers}{resource}"


def canonical_amz_headers(headers: Iterable[tuple[str, str]]) -> str:
    """The CanonicalizedAmzHeaders block of (name, value) pairs (each line ends in a newline)."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("x-amz-"):
            values.setdefault(lower, []).append(_FOLD.sub(" ", value).strip(" \t"))
    return "".join(f"{name}:{','.join(values[name])}\n" for name in sorted(values))


def canonical_resource(
    raw_path: str, raw_query: str, *, virtual_host_bucket: str | None = None
) -> str:
    """S3's CanonicalizedResource of a request (the path and query as on the request line)."""
    return _resources(raw_path, raw_query, virtual_host_bucket)[0]


def _resources(raw_path: str, raw_query: str, virtual_host_bucket: str | None) -> list[str]:
    """S3's CanonicalizedResource first, then the variants botocore signs, if different."""
    path = raw_path or "/"
    if virtual_host_bucket is not None:
        path = f"/{virtual_host_bucket}{path}"
    paths = [path]
    if virtual_host_bucket is None and path.count("/") == 1 and len(path) > 1:
        paths.append(path + "/")  # botocore's auth_path for a bucket: "/bucket/"

    items: list[tuple[str, str, bool]] = []
    for piece in raw_query.split("&"):
        raw_name, eq, raw_value = piece.partition("=")
        name = _decode(raw_name)
        if name in SUB_RESOURCES:
            items.append((name, _decode(raw_value), bool(eq)))
    items.sort(key=lambda item: item[0])  # stable: repeated names keep their order
    queries = [_sub_resources(items, keep_empty_eq=False)]
    botocore_query = _sub_resources(items, keep_empty_eq=True)
    if botocore_query != queries[0]:
        queries.append(botocore_query)
    return [p + q for p in paths for q in queries]


def _sub_resources(items: Sequence[tuple[str, str, bool]], *, keep_empty_eq: bool) -> str:
    if not items:
        return ""
    parts = [
        f"{name}={value}" if value or (eq and keep_empty_eq) else name for name, value, eq in items
    ]
    return "?" + "&".join(parts)


def _decode(raw: str) -> str:
    """Percent-decode once (``+`` stays a plus), as a wire string."""
    return unquote_to_bytes(wire_bytes(raw)).decode("latin-1")


# ---------------------------------------------------------------------------
# Verification


def verify_header(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    authorization: str,
    lookup_secret: Callable[[str], str | None],
    now_ns: int,
    virtual_host_bucket: str | None = None,
) -> str:
    """Verify ``Authorization: AWS key:signature``; return the access key.

    Args:
      method, raw_path, raw_query, headers, lookup_secret, now_ns: as for
        `hamster.auth.verify.authenticate`.
      authorization: the Authorization header value (scheme ``AWS``).
      virtual_host_bucket: the bucket when it came from the Host header.

    Raises:
      S3Error: see the module docstring.
    """
    scheme, _, rest = authorization.strip(" \t").partition(" ")
    assert scheme == SCHEME, "verify_header is for the AWS (SigV2) scheme"
    if rest.startswith(" "):
        raise S3Error(
            "InvalidArgument",
            "Authorization header is invalid -- one and only one ' ' (space) required",
            extra={"ArgumentName": "Authorization", "ArgumentValue": authorization},
        )
    access_key, colon, provided = rest.partition(":")
    if not colon or not provided or ":" in provided:
        raise S3Error(
            "InvalidArgument",
            _MALFORMED,
            extra={"ArgumentName": "Authorization", "ArgumentValue": authorization},
        )

    amz_dates = _values(headers, "x-amz-date")
    if amz_dates:
        sent, date_line = amz_dates[0], ""
    else:
        dates = _values(headers, "date")
        sent = date_line = ",".join(v.strip(" \t") for v in dates)
    request_time_s = _parse_date(sent.strip(" \t"))
    if request_time_s is None:
        raise S3Error("AccessDenied", _NO_DATE)
    now_s = now_ns // 1_000_000_000
    if abs(now_s - request_time_s) > SKEW_MAX_S:
        raise S3Error(
            "RequestTimeTooSkewed",
            extra={
                "RequestTime": sent,
                "ServerTime": iso_seconds(now_s),
                "MaxAllowedSkewMilliseconds": str(SKEW_MAX_S * 1000),
            },
        )
    refuse_session_token(access_key, any(n == "x-amz-security-token" for n, _ in headers))
    secret = lookup_secret_or_refuse(lookup_secret, access_key)
    _check(
        secret,
        access_key,
        provided,
        method=method,
        content_md5=_joined(headers, "content-md5"),
        content_type=_joined(headers, "content-type"),
        date=date_line,
        amz_headers=canonical_amz_headers(headers),
        resources=_resources(raw_path, raw_query, virtual_host_bucket),
    )
    return access_key


def verify_query(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    lookup_secret: Callable[[str], str | None],
    now_ns: int,
    virtual_host_bucket: str | None = None,
) -> str:
    """Verify a presigned ``?AWSAccessKeyId=…&Expires=…&Signature=…``; return the access key.

    Args: as `verify_header`, without `authorization`.

    Raises:
      S3Error: see the module docstring.
    """
    params = query_pairs(raw_query)
    values: dict[str, str] = {}
    for name, value in params:
        if name in QUERY_PARAMS and name not in values:
            values[name] = value
    if any(name not in values for name in QUERY_PARAMS):
        raise S3Error("AccessDenied", _MISSING_QUERY)
    access_key = values["AWSAccessKeyId"]
    # Base64 has no space: a '+' that a form decoder turned into one is a '+'.
    provided = values["Signature"].replace(" ", "+")
    expires_text = values["Expires"]
    if not (expires_text.isascii() and _EXPIRES.fullmatch(expires_text)):
        raise S3Error(
            "AccessDenied", f"Invalid date (should be seconds since epoch): {_text(expires_text)}"
        )
    expires_s = int(expires_text)
    now_s = now_ns // 1_000_000_000
    if now_s > expires_s:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            extra={"Expires": iso_seconds(expires_s), "ServerTime": iso_seconds(now_s)},
        )
    sent = {n for n, _ in headers}
    query_headers = [
        (n.lower(), v)
        for n, v in params
        if n.lower().startswith("x-amz-") and n.lower() not in sent
    ]
    refuse_session_token(
        access_key,
        any(n == "x-amz-security-token" for n, _ in [*headers, *query_headers]),
    )
    secret = lookup_secret_or_refuse(lookup_secret, access_key)
    _check(
        secret,
        access_key,
        provided,
        method=method,
        content_md5=_header_or_query(headers, params, "content-md5"),
        content_type=_header_or_query(headers, params, "content-type"),
        date=expires_text,
        amz_headers=canonical_amz_headers([*headers, *query_headers]),
        resources=_resources(raw_path, raw_query, virtual_host_bucket),
    )
    return access_key


def _check(
    secret: str,
    access_key: str,
    provided: str,
    *,
    method: str,
    content_md5: str,
    content_type: str,
    date: str,
    amz_headers: str,
    resources: Sequence[str],
) -> None:
    """Accept if `provided` signs the string to sign with any of `resources` (S3's first)."""
    provided_bytes = wire_bytes(provided)
    first: bytes | None = None
    for resource in resources:
        sts = wire_bytes(
            string_to_sign(
                method=method,
                content_md5=content_md5,
                content_type=content_type,
                date=date,
                amz_headers=amz_headers,
                resource=resource,
            )
        )
        first = sts if first is None else first
        if hmac.compare_digest(sign(secret, sts).encode("ascii"), provided_bytes):
            return
    assert first is not None, "at least one resource"
    raise S3Error(
        "SignatureDoesNotMatch",
        extra={
            "AWSAccessKeyId": access_key,
            "StringToSign": first.decode("utf-8", "replace"),
            "SignatureProvided": provided,
            "StringToSignBytes": first.hex(" "),
        },
    )


# ---------------------------------------------------------------------------
# Helpers


def _text(wire: str) -> str:
    """A wire string as the text its bytes spell (UTF-8), for messages."""
    return wire_bytes(wire).decode("utf-8", "replace")


def _values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n == name]


def _joined(headers: Sequence[tuple[str, str]], name: str) -> str:
    return ",".join(v.strip(" \t") for v in _values(headers, name))


def _header_or_query(
    headers: Sequence[tuple[str, str]], params: Sequence[tuple[str, str]], name: str
) -> str:
    if any(n == name for n, _ in headers):
        return _joined(headers, name)
    return ",".join(v.strip(" \t") for n, v in params if n.lower() == name)


def _parse_date(text: str) -> int | None:
    """Seconds since the epoch of an HTTP date (RFC 1123, 850, asctime) or ``YYYYMMDDTHHMMSSZ``."""
    seconds = parse_amz_date_s(text)
    return seconds if seconds is not None else parse_http_date_s(text)
