"""Presigned SigV4 URLs and `curl --aws-sigv4`, through the real daemon."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, make_client, nothing_stored
from tests.e2e.rawhttp import s3_error_code
from tests.patterns import pattern


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=60)


def curl_answer(*args: str) -> tuple[int, bytes]:
    """(HTTP status, body) of the response curl received."""
    out = curl("-w", "\n%{http_code}", *args)
    assert out.returncode == 0, out.stderr
    body, _, status = out.stdout.rpartition(b"\n")
    return int(status), body


def test_presigned_v4_get_fetched_by_curl(daemon: Daemon, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"presigned bytes")
    signer = make_client(daemon.endpoint, ALICE, signature_version="s3v4")
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file.txt"}, ExpiresIn=300
    )
    assert "X-Amz-Signature=" in url
    out = curl("-f", url)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"presigned bytes"
    tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=301")
    assert tampered != url
    status, body = curl_answer(tampered)
    assert (status, s3_error_code(body)) == (403, "SignatureDoesNotMatch")


def test_presigned_v4_put_executed_by_curl(
    daemon: Daemon, s3: Any, bucket: str, tmp_path: Path
) -> None:
    signer = make_client(daemon.endpoint, ALICE, signature_version="s3v4")
    url = signer.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=300
    )
    payload = tmp_path / "payload.bin"
    payload.write_bytes(pattern(256_000, "presigned-put"))
    out = curl("-f", "-T", str(payload), url)
    assert out.returncode == 0, out.stderr
    got = s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read()
    assert got == payload.read_bytes()


CURL_SIGV4 = ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ALICE[0]}:{ALICE[1]}"]


def test_curl_aws_sigv4(daemon: Daemon, s3: Any, bucket: str, tmp_path: Path) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"signed by curl")
    url = f"{daemon.endpoint}/{bucket}/by-curl.txt"
    # An upload needs the header (curl 7.x signs the empty hash over any body):
    # the server must never hash the body before it has authenticated.
    unsigned = ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    put = curl("-f", *CURL_SIGV4, *unsigned, "-T", str(payload), url)
    assert put.returncode == 0, put.stderr + put.stdout
    assert s3.get_object(Bucket=bucket, Key="by-curl.txt")["Body"].read() == b"signed by curl"


def test_curl_aws_sigv4_without_content_sha256(
    daemon: Daemon, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """curl 7.75 to 8.x signs GET/HEAD/DELETE with the empty hash and sends no
    x-amz-content-sha256: verified against the empty hash. An upload without
    the header stays InvalidRequest, and nothing is stored."""
    body = hashlib.sha256(b"curl").digest() * 8
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    url = f"{daemon.endpoint}/{bucket}/k"
    get = curl("-f", *CURL_SIGV4, url)
    assert get.returncode == 0, get.stderr + get.stdout
    assert get.stdout == body
    head = curl("-f", "-I", *CURL_SIGV4, url)
    assert head.returncode == 0, head.stderr + head.stdout
    assert f"content-length: {len(body)}".encode() in head.stdout.lower()
    wrong = curl_answer("--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ALICE[0]}:x", url)
    assert (wrong[0], s3_error_code(wrong[1])) == (403, "SignatureDoesNotMatch")
    payload = tmp_path / "payload.bin"
    payload.write_bytes(body)
    with nothing_stored(daemon, s3, bucket, "k-put"):
        status, answer = curl_answer(*CURL_SIGV4, "-T", str(payload), f"{url}-put")
    assert (status, s3_error_code(answer)) == (400, "InvalidRequest")
    assert b"x-amz-content-sha256" in answer
    delete = curl("-f", "-X", "DELETE", *CURL_SIGV4, url)
    assert delete.returncode == 0, delete.stderr + delete.stdout
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_code(info) == (404, "404")


def test_presigned_put_stores_metadata_from_the_url(
    daemon: Daemon, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """Presigners may carry x-amz-meta-* in the URL (botocore's SigV2 presigner, the
    JavaScript SDK v3's SigV4 one); S3 stores them as the object's metadata."""
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"with metadata")
    v2_url = make_client(daemon.endpoint, ALICE).generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "meta-v2", "Metadata": {"origin": "v2-url"}},
        ExpiresIn=300,
    )
    assert "Signature=" in v2_url and "x-amz-meta-origin=v2-url" in v2_url
    request = AWSRequest(
        method="PUT", url=f"{daemon.endpoint}/{bucket}/meta-v4?x-amz-meta-origin=v4-url"
    )
    S3SigV4QueryAuth(Credentials(*ALICE), "s3", "us-east-1", expires=300).add_auth(request)
    v4_url = request.url
    assert "X-Amz-Signature=" in v4_url and "x-amz-meta-origin=v4-url" in v4_url
    for key, url in (("meta-v2", v2_url), ("meta-v4", v4_url)):
        out = curl("-f", "-T", str(payload), url)
        assert out.returncode == 0, out.stderr
        origin = key.split("-")[1] + "-url"
        assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"origin": origin}
