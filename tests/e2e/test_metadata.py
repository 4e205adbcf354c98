"""User metadata and header values round-trip byte for byte, whatever bytes the
client sent: UTF-8 (what every SDK and CLI sends), or not UTF-8 at all.

Python clients (boto3, through http.client) read response header bytes as
latin-1, so boto3 shows the UTF-8 bytes of ``é`` as ``"Ã©"``: the tests compare
bytes (``value.encode("latin-1")``), which is what travelled.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import botocore.handlers
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ParamValidationError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, make_client
from tests.e2e.rawhttp import RawResponse, connect, read_response, request_bytes, sign

VALUES = {
    "utf8-accent": "é".encode(),
    "utf8-cjk-emoji": "中文 😀 café".encode(),
    "latin1-not-utf8": b"\xe9t\xe9",
    "high-bytes": bytes(range(0x80, 0x100, 7)),
}


def _wire(value: bytes) -> str:
    return value.decode("latin-1")


def _send(
    daemon: Daemon, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> RawResponse:
    host = f"{daemon.host}:{daemon.port}"
    all_headers = {"Host": host, **headers}
    if method in ("PUT", "POST"):
        all_headers["Content-Length"] = str(len(body))
    signed = sign(method, daemon.endpoint, path, ALICE, all_headers)
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes(method, path, signed, body))
        return read_response(sock, head_request=method == "HEAD")


def _meta_bytes(response: RawResponse, name: str) -> bytes:
    return response.headers[f"x-amz-meta-{name}"].encode("latin-1")


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_metadata_bytes_round_trip_exactly(daemon: Daemon, bucket: str, value: bytes) -> None:
    body = hashlib.sha256(value).digest()
    put = _send(daemon, "PUT", f"/{bucket}/k", {"x-amz-meta-v": _wire(value)}, body)
    assert put.status == 200, put.body
    for method in ("GET", "HEAD"):
        got = _send(daemon, method, f"/{bucket}/k", {})
        assert got.status == 200, got.body
        assert _meta_bytes(got, "v") == value
    assert _send(daemon, "GET", f"/{bucket}/k", {}).body == body


def test_multipart_metadata_bytes_round_trip_exactly(daemon: Daemon, s3: Any, bucket: str) -> None:
    value = VALUES["utf8-cjk-emoji"] + VALUES["latin1-not-utf8"]
    created = _send(daemon, "POST", f"/{bucket}/mp?uploads", {"x-amz-meta-v": _wire(value)})
    assert created.status == 200, created.body
    upload_id = created.body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p1")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert _meta_bytes(_send(daemon, "HEAD", f"/{bucket}/mp", {}), "v") == value


def test_boto3_non_ascii_metadata(daemon: Daemon, s3: Any, bucket: str) -> None:
    # boto3 itself refuses non-ASCII metadata before sending anything...
    with pytest.raises(ParamValidationError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": "é"})
    # ...and without that check it sends the UTF-8 bytes (signed as such).
    client = make_client(daemon.endpoint, ALICE)
    client.meta.events.unregister(
        "before-parameter-build.s3.PutObject", botocore.handlers.validate_ascii_metadata
    )
    text = "é中文😀"
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": text})
    got = client.head_object(Bucket=bucket, Key="k")["Metadata"]["v"]
    assert got.encode("latin-1") == text.encode()
    assert _meta_bytes(_send(daemon, "GET", f"/{bucket}/k", {}), "v") == text.encode()


def _curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=60)


def test_presigned_url_metadata_is_stored_as_its_utf8_bytes(
    daemon: Daemon, bucket: str, tmp_path: Path
) -> None:
    """Presigners put x-amz-meta-* in the query, percent-encoded UTF-8; stored
    and returned as the same bytes a header would carry."""
    text = "é中文😀"
    query = f"x-amz-meta-v={quote(text, safe='')}"
    request = AWSRequest(method="PUT", url=f"{daemon.endpoint}/{bucket}/presigned?{query}")
    S3SigV4QueryAuth(Credentials(*ALICE), "s3", "us-east-1", expires=300).add_auth(request)
    payload = tmp_path / "payload"
    payload.write_bytes(hashlib.sha256(b"presigned").digest())
    out = _curl("-f", "-T", str(payload), request.url)
    assert out.returncode == 0, out.stderr + out.stdout
    for method in ("GET", "HEAD"):
        got = _send(daemon, method, f"/{bucket}/presigned", {})
        assert got.status == 200, got.body
        assert _meta_bytes(got, "v") == text.encode()


def test_response_content_disposition_override_is_sent_as_utf8(
    daemon: Daemon, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="report", Body=b"report bytes")
    disposition = 'attachment; filename="报告 é.pdf"'
    url = make_client(daemon.endpoint, ALICE, signature_version="s3v4").generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": "report", "ResponseContentDisposition": disposition},
        ExpiresIn=300,
    )
    out = _curl("-f", "-D", "-", "-o", "/dev/null", url)
    assert out.returncode == 0, out.stderr + out.stdout
    assert b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n" in out.stdout
    got = s3.get_object(Bucket=bucket, Key="report", ResponseContentDisposition=disposition)
    assert got["ContentDisposition"].encode("latin-1") == disposition.encode()
