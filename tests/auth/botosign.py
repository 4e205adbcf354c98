"""Requests signed by botocore's own signers, at a frozen time, as `authenticate` sees them."""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from hamster.auth import AuthResult, authenticate

ACCESS_KEY = "AKIAHAMSTERTEST00001"
SECRET_KEY = "hamster/secret+KEY/0123456789abcdefghijklmn"
REGION = "us-east-1"
HOST = "localhost:9000"
SIGNED_AT = datetime.datetime(2024, 5, 1, 12, 0, 0)
SIGNED_AT_NS = calendar.timegm(SIGNED_AT.timetuple()) * 1_000_000_000


@dataclass(frozen=True)
class Signed:
    method: str
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...]


def object_path(bucket: str, key: str) -> str:
    """The request path botocore's S3 serializer builds for a key."""
    return f"/{bucket}/{percent_encode(key, safe='/~')}"


def encode_query(params: Sequence[tuple[str, str | None]]) -> str:
    parts = []
    for name, value in params:
        encoded = percent_encode(name, safe="-_.~")
        parts.append(
            encoded if value is None else f"{encoded}={percent_encode(value, safe='-_.~')}"
        )
    return "&".join(parts)


def _request(
    method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes, https: bool
) -> AWSRequest:
    scheme = "https" if https else "http"
    url = f"{scheme}://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers={}, data=body)
    for name, value in headers:
        request.headers[name] = value  # a repeated name is sent (and signed) twice
    return request


def _as_received(request: AWSRequest, method: str) -> Signed:
    parts = urlsplit(request.url)
    headers = [(k.lower(), str(v)) for k, v in request.headers.items()]
    headers.insert(0, ("host", HOST))
    return Signed(method, parts.path, parts.query, tuple(headers))


def sign_header(
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    unsigned_payload: bool = False,
    secret: str = SECRET_KEY,
) -> Signed:
    """Sign with `Authorization: AWS4-HMAC-SHA256 …` (S3SigV4Auth)."""
    request = _request(method, path, query, headers, body, https=unsigned_payload)
    if unsigned_payload:
        request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
        S3SigV4Auth(Credentials(ACCESS_KEY, secret), "s3", REGION).add_auth(request)
    return _as_received(request, method)


def sign_header_keeping_payload(
    method: str, path: str, query: str, headers: Sequence[tuple[str, str]]
) -> Signed:
    """Sign with botocore's generic SigV4Auth, which signs an ``X-Amz-Content-SHA256``
    header as given (S3SigV4Auth would replace it with the body's hash). Paths
    must need no normalisation."""
    request = _request(method, path, query, headers, b"", https=True)
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    return _as_received(request, method)


def sign_query(
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]] = (),
    *,
    expires_s: int | str = 3600,
    secret: str = SECRET_KEY,
) -> Signed:
    """Presign (S3SigV4QueryAuth): the signature travels in the query.

    `expires_s` goes into ``X-Amz-Expires`` as written (a string is signed as given).
    """
    request = _request(method, path, query, headers, b"", https=True)
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
        S3SigV4QueryAuth(Credentials(ACCESS_KEY, secret), "s3", REGION, expires=expires_s).add_auth(
            request
        )
    return _as_received(request, method)


def lookup(access_key: str) -> str | None:
    return SECRET_KEY if access_key == ACCESS_KEY else None


def verify(
    signed: Signed,
    *,
    now_ns: int = SIGNED_AT_NS,
    secret: str | None = None,
    region: str = REGION,
) -> AuthResult:
    return authenticate(
        method=signed.method,
        raw_path=signed.raw_path,
        raw_query=signed.raw_query,
        headers=signed.headers,
        lookup_secret=lookup if secret is None else (lambda _key: secret),
        now_ns=now_ns,
        region=region,
    )


def with_header(signed: Signed, name: str, value: str) -> Signed:
    """`signed` with header `name` replaced (or added) by `value`."""
    headers = [(n, v) for n, v in signed.headers if n != name]
    headers.append((name, value))
    return replace(signed, headers=tuple(headers))


def header(signed: Signed, name: str) -> str:
    return next(v for n, v in signed.headers if n == name)


def shift_amz_date(amz_date: str, delta_s: int) -> str:
    parsed = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    return (parsed + datetime.timedelta(seconds=delta_s)).strftime("%Y%m%dT%H%M%SZ")


def query_param(signed: Signed, name: str) -> str:
    prefix = f"{name}="
    return next(p[len(prefix) :] for p in signed.raw_query.split("&") if p.startswith(prefix))


def with_query_param(signed: Signed, name: str, value: str) -> Signed:
    """`signed` with the (single, already encoded) query parameter `name` set to `value`."""
    prefix = f"{name}="
    pairs = [f"{prefix}{value}" if p.startswith(prefix) else p for p in signed.raw_query.split("&")]
    return replace(signed, raw_query="&".join(pairs))
