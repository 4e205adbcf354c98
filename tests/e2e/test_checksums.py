"""x-amz-checksum-* through the real daemon: boto3's defaults over HTTP (a CRC32
header) and TLS (a CRC32 trailer), every algorithm, GET/HEAD with
ChecksumMode, and hand-built requests with wrong or missing values."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import FlexibleChecksumError

from hamster import integrity
from hamster.s3 import checksums
from hamster.storage.store import INLINE_MAX_BYTES
from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, make_client, nothing_stored
from tests.e2e.rawhttp import connect, read_response, request_bytes, s3_error_code, sign
from tests.e2e.test_tls import (  # noqa: F401 (fixtures)
    record_put_headers,
    tls_client,
    tls_daemon,
    tls_files,
)

MiB = 1 << 20
BODY = b"The quick brown hamster jumps over the lazy dog. " * 1000
ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


def b64(algorithm: str, data: bytes) -> str:
    return base64.b64encode(integrity.compute(algorithm, data)).decode()


def response_key(algorithm: str) -> str:
    """The boto3 response field of an algorithm: ChecksumCRC32, ChecksumSHA256 …"""
    return "Checksum" + algorithm


# --- boto3 ---------------------------------------------------------------------------


def test_boto3_default_over_http_sends_a_crc32_header(s3: Any, bucket: str) -> None:
    sent = record_put_headers(s3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    assert sent[-1]["x-amz-checksum-crc32"] == b64("CRC32", BODY)
    assert "x-amz-trailer" not in sent[-1]
    assert put["ChecksumCRC32"] == b64("CRC32", BODY)
    assert put["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == b64("CRC32", BODY)
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == BODY
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == b64("CRC32", BODY)


def test_boto3_default_over_tls_sends_a_crc32_trailer(
    tls_daemon: Daemon, tls_files: tuple[Path, Path, Path]  # noqa: F811
) -> None:
    s3 = tls_client(tls_daemon, tls_files[0])
    sent = record_put_headers(s3)
    s3.create_bucket(Bucket="ck-tls-default")
    body = BODY * 150  # ~7 MiB: several aws-chunked chunks
    put = s3.put_object(Bucket="ck-tls-default", Key="k", Body=body)
    assert sent[-1]["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert "x-amz-checksum-crc32" not in sent[-1]
    assert put["ChecksumCRC32"] == b64("CRC32", body)
    got = s3.get_object(Bucket="ck-tls-default", Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == b64("CRC32", body)
    assert got["Body"].read() == body


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_boto3_each_algorithm_over_http(s3: Any, bucket: str, algorithm: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumAlgorithm=algorithm)
    assert put[response_key(algorithm)] == b64(algorithm, BODY)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[response_key(algorithm)] == b64(algorithm, BODY)
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[response_key(algorithm)] == b64(algorithm, BODY)
    assert got["Body"].read() == BODY  # botocore validated it on the way


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_boto3_each_algorithm_over_tls(
    tls_daemon: Daemon,  # noqa: F811
    tls_files: tuple[Path, Path, Path],  # noqa: F811
    algorithm: str,
) -> None:
    s3 = tls_client(tls_daemon, tls_files[0])
    sent = record_put_headers(s3)
    bucket = "ck-tls-" + algorithm.lower()
    s3.create_bucket(Bucket=bucket)
    put = s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumAlgorithm=algorithm)
    assert sent[-1]["x-amz-trailer"] == "x-amz-checksum-" + algorithm.lower()
    assert put[response_key(algorithm)] == b64(algorithm, BODY)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[response_key(algorithm)] == b64(algorithm, BODY)
    assert got["Body"].read() == BODY


def test_without_a_checksum_the_store_computes_crc64nvme(daemon: Daemon, bucket: str) -> None:
    s3 = make_client(daemon.endpoint, ALICE, request_checksum_calculation="when_required")
    sent = record_put_headers(s3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    assert not any(name.startswith("x-amz-checksum-") for name in sent[-1])
    assert put["ChecksumCRC64NVME"] == b64("CRC64NVME", BODY)
    assert put["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == b64("CRC64NVME", BODY)
    assert got["Body"].read() == BODY


def test_empty_object(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ChecksumCRC32"] == "AAAAAA=="
    got = s3.get_object(Bucket=bucket, Key="empty", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == "AAAAAA=="
    assert got["Body"].read() == b""


def test_checksum_only_when_asked_and_not_for_a_range(daemon: Daemon, bucket: str) -> None:
    s3 = make_client(daemon.endpoint, ALICE, response_checksum_validation="when_required")
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert "ChecksumSHA256" not in head and "ChecksumType" not in head
    got = s3.get_object(Bucket=bucket, Key="k")
    assert "ChecksumSHA256" not in got
    assert got["Body"].read() == BODY
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in ranged and "ChecksumType" not in ranged
    assert ranged["Body"].read() == BODY[:10]


def test_botocore_validates_what_get_returns(daemon: Daemon, s3: Any, bucket: str) -> None:
    """Corrupt the blob on disk behind the daemon's back: botocore, checking the
    returned checksum, refuses the bytes."""
    # Above the inline threshold: its bytes are in a blob file, not its record.
    body = b"checksummed bytes, soon corrupted " * 600
    assert len(body) > INLINE_MAX_BYTES
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="CRC32C")
    blobs = [p for p in (daemon.data_dir / "blobs").rglob("*") if p.is_file()]
    (blob,) = [p for p in blobs if p.read_bytes() == body]
    with blob.open("r+b") as f:
        f.seek(7)
        f.write(b"X")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    with pytest.raises(FlexibleChecksumError):
        got["Body"].read()


# --- hand-built requests ---------------------------------------------------------------


def raw_put(
    daemon: Daemon, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, dict[str, str]]:
    host = f"{daemon.host}:{daemon.port}"
    headers = {"Host": host, "Content-Length": str(len(body)), **headers}
    signed = sign("PUT", daemon.endpoint, path, ALICE, headers)
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", path, signed, body))
        response = read_response(sock)
    return response.status, response.body.decode(), response.headers


def test_wrong_crc32_header_is_bad_digest(daemon: Daemon, s3: Any, bucket: str) -> None:
    wrong = base64.b64encode((zlib.crc32(BODY) ^ 1).to_bytes(4, "big")).decode()
    with nothing_stored(daemon, s3, bucket, "k"):
        status, body, _ = raw_put(daemon, f"/{bucket}/k", BODY, {"x-amz-checksum-crc32": wrong})
    assert (status, s3_error_code(body.encode())) == (400, "BadDigest")
    assert "The CRC32 you specified did not match the calculated checksum." in body


def test_right_crc32_header_by_hand(daemon: Daemon, s3: Any, bucket: str) -> None:
    status, _, headers = raw_put(
        daemon, f"/{bucket}/k", BODY, {"x-amz-checksum-crc32": b64("CRC32", BODY)}
    )
    assert status == 200
    assert headers["x-amz-checksum-crc32"] == b64("CRC32", BODY)
    assert headers["x-amz-checksum-type"] == "FULL_OBJECT"


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        (
            {"x-amz-checksum-crc32": "not base64"},
            "InvalidRequest",
            "Value for x-amz-checksum-crc32 header is invalid.",
        ),
        (
            {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "A" * 27 + "="},
            "InvalidRequest",
            checksums.MULTIPLE_MESSAGE,
        ),
        ({"x-amz-sdk-checksum-algorithm": "CRC32"}, "InvalidRequest", checksums.NO_VALUE_MESSAGE),
        (
            {"x-amz-sdk-checksum-algorithm": "MD4", "x-amz-checksum-crc32": "AAAAAA=="},
            "InvalidRequest",
            checksums.UNSUPPORTED_MESSAGE,
        ),
    ],
)
def test_refused_headers_store_nothing(
    daemon: Daemon, s3: Any, bucket: str, headers: dict[str, str], code: str, message: str
) -> None:
    with nothing_stored(daemon, s3, bucket, "k"):
        status, body, _ = raw_put(daemon, f"/{bucket}/k", BODY, headers)
    assert (status, s3_error_code(body.encode())) == (400, code)
    assert message in body


class _UnsignedTrailerAuth(S3SigV4Auth):  # type: ignore[misc]
    def payload(self, request: AWSRequest) -> str:
        return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def put_with_trailers(
    daemon: Daemon, path: str, data: bytes, trailers: list[tuple[str, str]], declared: str
) -> tuple[int, str, dict[str, str]]:
    """An aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT, as SDKs send over TLS."""
    encoded = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
    encoded += "".join(f"{n}:{v}\r\n" for n, v in trailers).encode() + b"\r\n"
    headers = {
        "Host": f"{daemon.host}:{daemon.port}",
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(len(encoded)),
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": declared,
    }
    request = AWSRequest(method="PUT", url=daemon.endpoint + path, headers=headers)
    _UnsignedTrailerAuth(Credentials(*ALICE), "s3", "us-east-1").add_auth(request)
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", path, dict(request.headers.items()), encoded))
        response = read_response(sock)
    return response.status, response.body.decode(), response.headers


def test_trailer_by_hand(daemon: Daemon, s3: Any, bucket: str) -> None:
    name = "x-amz-checksum-sha256"
    good = [(name, b64("SHA256", BODY))]
    status, _, headers = put_with_trailers(daemon, f"/{bucket}/ok", BODY, good, name)
    assert status == 200
    assert headers[name] == b64("SHA256", BODY)
    assert s3.get_object(Bucket=bucket, Key="ok")["Body"].read() == BODY


@pytest.mark.parametrize(
    ("trailers", "code", "message"),
    [
        (
            [("x-amz-checksum-crc32c", b64("CRC32C", b"other"))],
            "BadDigest",
            "The CRC32C you specified did not match the calculated checksum.",
        ),
        ([], "MalformedTrailerError", checksums.MALFORMED_TRAILER_MESSAGE),
        (
            [("x-amz-checksum-crc32c", "4waSgw")],
            "InvalidRequest",
            "Value for x-amz-checksum-crc32c trailing header is invalid.",
        ),
    ],
)
def test_refused_trailers_store_nothing(
    daemon: Daemon,
    s3: Any,
    bucket: str,
    trailers: list[tuple[str, str]],
    code: str,
    message: str,
) -> None:
    with nothing_stored(daemon, s3, bucket, "k"):
        status, body, _ = put_with_trailers(
            daemon, f"/{bucket}/k", BODY, trailers, "x-amz-checksum-crc32c"
        )
    assert (status, s3_error_code(body.encode())) == (400, code)
    assert message in body
