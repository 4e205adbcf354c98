"""HTTPS (`--tls-cert/--tls-key`): over TLS the AWS SDKs send aws-chunked bodies
with unsigned checksum trailers, a path plain HTTP never exercises."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon
from tests.e2e import conftest

MiB = 1 << 20

# The TLS fixtures live in conftest.py; these names stay for the modules that
# import them from here (test_checksums.py).
tls_files = conftest.tls_files
tls_daemon = conftest.tls_daemon
tls_client = conftest.tls_client


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
    # botocore appends ",aws-chunked" to what the caller wrote; only that goes.
    sent = record_put_headers(s3)
    s3.put_object(
        Bucket="tls-gzip", Key="dg", Body=b"deflated, gzipped", ContentEncoding="deflate, gzip"
    )
    assert sent[-1]["content-encoding"] == "deflate, gzip,aws-chunked"
    assert s3.head_object(Bucket="tls-gzip", Key="dg")["ContentEncoding"] == "deflate, gzip"


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
