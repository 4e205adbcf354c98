"""HTTPS (`--tls-cert/--tls-key`): over TLS the AWS SDKs send aws-chunked bodies
with unsigned checksum trailers, a path plain HTTP never exercises."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
from botocore.config import Config

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE

MiB = 1 << 20


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = root / "ca.pem", root / "cert.pem", root / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def tls_daemon(
    tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[Path, Path, Path]
) -> Iterator[Daemon]:
    _, cert, key = tls_files
    env = {"HAMSTER_ACCESS_KEY": ALICE[0], "HAMSTER_SECRET_KEY": ALICE[1]}
    d = Daemon(
        tmp_path_factory.mktemp("tls-data"),
        args=["--tls-cert", str(cert), "--tls-key", str(key)],
        env=env,
    ).start()
    yield d
    assert d.stop() == 0, "\n".join(d.stderr_lines)


def tls_client(daemon: Daemon, ca: Path, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=daemon.endpoint,
        aws_access_key_id=ALICE[0],
        aws_secret_access_key=ALICE[1],
        region_name="us-east-1",
        verify=str(ca),
        config=Config(retries={"max_attempts": 1}, **config),
    )


def record_put_headers(s3: Any) -> list[dict[str, str]]:
    """Collects the headers of every PutObject request the client sends."""
    sent: list[dict[str, str]] = []

    def before_send(request: Any, **_: Any) -> None:
        sent.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
        )

    s3.meta.events.register("before-send.s3.PutObject", before_send)
    return sent


def test_banner_says_https(tls_daemon: Daemon) -> None:
    assert tls_daemon.endpoint.startswith("https://")


@pytest.mark.parametrize("size", [0, 1, 65536, 5 * MiB + 17])
def test_default_boto3_over_tls_round_trips(
    tls_daemon: Daemon, tls_files: tuple[Path, Path, Path], size: int
) -> None:
    s3 = tls_client(tls_daemon, tls_files[0])
    sent = record_put_headers(s3)
    bucket = f"tls-default-{size}"
    s3.create_bucket(Bucket=bucket)
    body = hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1)
    body = body[:size]
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
    # The SDK's TLS default: an aws-chunked body with an unsigned CRC32 trailer.
    assert sent[-1]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert sent[-1]["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert "aws-chunked" in sent[-1]["content-encoding"]
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    # aws-chunked framed the upload; it is not how the object is encoded.
    assert "ContentEncoding" not in got


def test_gzip_content_encoding_survives_aws_chunked(
    tls_daemon: Daemon, tls_files: tuple[Path, Path, Path]
) -> None:
    s3 = tls_client(tls_daemon, tls_files[0])
    s3.create_bucket(Bucket="tls-gzip")
    s3.put_object(Bucket="tls-gzip", Key="g", Body=b"\x1f\x8b fake gzip", ContentEncoding="gzip")
    assert s3.head_object(Bucket="tls-gzip", Key="g")["ContentEncoding"] == "gzip"


def test_when_required_checksums_over_tls(
    tls_daemon: Daemon, tls_files: tuple[Path, Path, Path]
) -> None:
    s3 = tls_client(tls_daemon, tls_files[0], request_checksum_calculation="when_required")
    sent = record_put_headers(s3)
    s3.create_bucket(Bucket="tls-when-required")
    s3.put_object(Bucket="tls-when-required", Key="k", Body=b"plain unsigned payload")
    # No checksum asked for: botocore signs the payload instead of streaming it.
    assert len(sent[-1]["x-amz-content-sha256"]) == 64
    assert "x-amz-trailer" not in sent[-1]
    got = s3.get_object(Bucket="tls-when-required", Key="k")["Body"].read()
    assert got == b"plain unsigned payload"
