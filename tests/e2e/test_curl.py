"""Presigned SigV4 URLs and `curl --aws-sigv4`, through the real daemon."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, make_client


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=60)


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
    out = curl("-w", "%{http_code}", "-o", "/dev/null", tampered)
    assert out.stdout == b"403"


def test_presigned_v4_put_executed_by_curl(
    daemon: Daemon, s3: Any, bucket: str, tmp_path: Path
) -> None:
    signer = make_client(daemon.endpoint, ALICE, signature_version="s3v4")
    url = signer.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=300
    )
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 1000)
    out = curl("-f", "-T", str(payload), url)
    assert out.returncode == 0, out.stderr
    got = s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read()
    assert got == payload.read_bytes()


def test_curl_aws_sigv4(daemon: Daemon, s3: Any, bucket: str, tmp_path: Path) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"signed by curl")
    # S3 requires x-amz-content-sha256 on every SigV4 header-signed request; curl
    # before 8.x does not add it for S3, so (as against AWS) the user passes it.
    auth = ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ALICE[0]}:{ALICE[1]}"]
    auth += ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    url = f"{daemon.endpoint}/{bucket}/by-curl.txt"
    put = curl("-f", *auth, "-T", str(payload), url)
    assert put.returncode == 0, put.stderr + put.stdout
    get = curl("-f", *auth, url)
    assert get.returncode == 0, get.stderr + get.stdout
    assert get.stdout == b"signed by curl"
    assert s3.get_object(Bucket=bucket, Key="by-curl.txt")["Body"].read() == b"signed by curl"



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
