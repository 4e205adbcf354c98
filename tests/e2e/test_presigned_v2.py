"""SigV2 through the real daemon: boto3's default presigner fetched by curl, and SigV2 headers."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import pytest
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, make_client, nothing_stored
from tests.patterns import pattern

KEY = "shared dir/é+%.txt"


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=60)


def refusal(url: str) -> tuple[int, str, str]:
    """(HTTP status, S3 error code, message) of a request curl makes to `url`."""
    out = curl("-w", "\n%{http_code}", url)
    body, _, status = out.stdout.rpartition(b"\n")
    code = re.search(rb"<Code>(.*?)</Code>", body)
    message = re.search(rb"<Message>(.*?)</Message>", body)
    assert code is not None and message is not None, out
    return int(status), code[1].decode(), message[1].decode()


def assert_sigv2(url: str) -> None:
    names = {name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    assert {"AWSAccessKeyId", "Signature", "Expires"} <= names, url
    assert "X-Amz-Signature" not in names, url


def with_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    pieces = [
        f"{name}={quote(value, safe='')}" if p.partition("=")[0] == name else p
        for p in parts.query.split("&")
    ]
    return urlunsplit(parts._replace(query="&".join(pieces)))


def test_default_presigned_get_fetched_by_curl(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"presigned v2 bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": KEY})
    assert_sigv2(url)
    out = curl("-f", url)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"presigned v2 bytes"


def test_default_presigned_get_with_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "k",
            "ResponseContentDisposition": 'attachment; filename="é.txt"',
            "ResponseContentType": "text/plain",
        },
    )
    assert_sigv2(url)
    out = curl("-f", "-D", "-", "-o", "/dev/null", url)
    assert out.returncode == 0, out.stderr
    assert b"content-type: text/plain" in out.stdout.lower()


def test_expired_presigned_get_is_access_denied(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": KEY}, ExpiresIn=-60
    )
    assert_sigv2(url)
    assert refusal(url) == (403, "AccessDenied", "Request has expired")


def test_tampered_presigned_get_is_signature_mismatch(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": KEY})
    signature = dict(parse_qsl(urlsplit(url).query))["Signature"]
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    status, code, _ = refusal(with_query_param(url, "Signature", flipped))
    assert (status, code) == (403, "SignatureDoesNotMatch")
    # The same URL with another object's path is refused too.
    other = url.replace(quote(KEY.split("/")[0]), "other", 1)
    assert refusal(other)[:2] == (403, "SignatureDoesNotMatch")


def test_unknown_key_presigned_get_is_invalid_access_key(daemon: Daemon, bucket: str) -> None:
    stranger = make_client(daemon.endpoint, ("AKIDNOBODY0000000000", "x" * 40))
    url = stranger.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert refusal(url)[:2] == (403, "InvalidAccessKeyId")


def test_default_presigned_put_executed_by_curl(s3: Any, bucket: str, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(pattern(256_000, "presigned-v2-put"))
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": KEY})
    assert_sigv2(url)
    out = curl("-f", "-T", str(payload), url)
    assert out.returncode == 0, out.stderr
    got = s3.get_object(Bucket=bucket, Key=KEY)["Body"].read()
    assert got == payload.read_bytes()


def test_default_presigned_bucket_request_fetched_by_curl(s3: Any, bucket: str) -> None:
    """botocore signs "/bucket/?location" for a URL whose path is "/bucket"."""
    url = s3.generate_presigned_url("get_bucket_location", Params={"Bucket": bucket})
    assert_sigv2(url)
    assert urlsplit(url).path == f"/{bucket}"
    out = curl("-f", url)
    assert out.returncode == 0, out.stderr
    assert b"LocationConstraint" in out.stdout


@pytest.fixture(scope="module")
def s3_v2(daemon: Daemon) -> Any:
    """A boto3 client that signs every request with SigV2 headers."""
    return make_client(daemon.endpoint, ALICE, signature_version="s3")


def test_sigv2_header_client_round_trip(s3_v2: Any, s3: Any, bucket: str) -> None:
    s3_v2.put_object(
        Bucket=bucket,
        Key=KEY,
        Body=b"signed with v2 headers",
        ContentType="text/plain",
        Metadata={"owner": "ann"},
    )
    got = s3_v2.get_object(Bucket=bucket, Key=KEY)
    assert got["Body"].read() == b"signed with v2 headers"
    assert got["Metadata"] == {"owner": "ann"}
    assert got["ContentType"] == "text/plain"
    assert s3_v2.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == 22
    assert bucket in [b["Name"] for b in s3_v2.list_buckets()["Buckets"]]
    s3_v2.get_bucket_location(Bucket=bucket)
    s3_v2.get_bucket_acl(Bucket=bucket)
    s3_v2.delete_object(Bucket=bucket, Key=KEY)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key=KEY)


def test_sigv2_header_content_md5_is_signed_and_checked(
    daemon: Daemon, s3_v2: Any, bucket: str
) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    with nothing_stored(daemon, s3_v2, bucket, "k"), pytest.raises(ClientError) as info:
        s3_v2.put_object(Bucket=bucket, Key="k", Body=b"these bytes", ContentMD5=wrong)
    assert error_code(info) == (400, "BadDigest")
    right = base64.b64encode(hashlib.md5(b"these bytes").digest()).decode()
    s3_v2.put_object(Bucket=bucket, Key="k", Body=b"these bytes", ContentMD5=right)
