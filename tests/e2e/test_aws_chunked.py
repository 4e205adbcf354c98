"""aws-chunked uploads as real clients vary them, hand-built and signed
independently of Hamster's own signing code, through the real daemon."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import pytest

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, nothing_stored
from tests.e2e.rawhttp import (
    RawResponse,
    aws_chunked_request,
    chunked_transfer,
    connect,
    read_response,
    request_bytes,
)
from tests.patterns import pattern, split

# Position-dependent bytes (tests/patterns.py): a chunk dropped, repeated or
# swapped by the decoder changes the object.
DATA = pattern(2 * 65536 + 400, "aws-chunked")
CHUNKS = split(DATA, [65536, 65536, 400])


def put(
    daemon: Daemon, path: str, headers: dict[str, str], body: bytes, *, te_chunked: bool = False
) -> RawResponse:
    headers = dict(headers)
    if te_chunked:
        headers["Transfer-Encoding"] = "chunked"
        body = chunked_transfer(body)
    else:
        headers["Content-Length"] = str(len(body))
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", path, headers, body))
        return read_response(sock)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize(
    ("content_encoding", "expected_encoding"),
    [
        ("aws-chunked", None),
        (None, None),
        ("gzip,aws-chunked", "gzip"),
        # aws-chunked goes; the rest stays as the client wrote it, spaces included
        ("deflate, gzip, aws-chunked", "deflate, gzip"),
        ("aws-chunked, br", "br"),
    ],
    ids=["aws-chunked", "absent", "gzip-and-aws-chunked", "two-codings-spaced", "first"],
)
def test_signed_streaming_upload(
    daemon: Daemon,
    s3: Any,
    bucket: str,
    content_encoding: str | None,
    expected_encoding: str | None,
) -> None:
    extra = {"Content-Encoding": content_encoding} if content_encoding else {}
    headers, body = aws_chunked_request(
        "PUT", daemon.endpoint, f"/{bucket}/obj", ALICE, CHUNKS, headers=extra
    )
    response = put(daemon, f"/{bucket}/obj", headers, body)
    assert response.status == 200, response.body
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == DATA
    assert got.get("ContentEncoding") == expected_encoding


def test_transfer_encoding_chunked_around_aws_chunked(
    daemon: Daemon, s3: Any, bucket: str
) -> None:
    """The JavaScript SDK v3 sends no Content-Length: HTTP chunking wraps aws-chunked."""
    headers, body = aws_chunked_request(
        "PUT",
        daemon.endpoint,
        f"/{bucket}/js",
        ALICE,
        CHUNKS,
        mode="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={"Content-Encoding": "aws-chunked"},
        trailers=[("x-amz-checksum-crc32", crc32_b64(DATA))],
    )
    response = put(daemon, f"/{bucket}/js", headers, body, te_chunked=True)
    assert response.status == 200, response.body
    assert response.headers["x-amz-checksum-crc32"] == crc32_b64(DATA)
    assert s3.get_object(Bucket=bucket, Key="js")["Body"].read() == DATA


def test_signed_trailer(daemon: Daemon, s3: Any, bucket: str) -> None:
    headers, body = aws_chunked_request(
        "PUT",
        daemon.endpoint,
        f"/{bucket}/trailer",
        ALICE,
        CHUNKS,
        mode="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        headers={"Content-Encoding": "aws-chunked"},
        trailers=[("x-amz-checksum-crc32", crc32_b64(DATA))],
    )
    response = put(daemon, f"/{bucket}/trailer", headers, body)
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="trailer")["Body"].read() == DATA


def test_zero_byte_streaming_upload(daemon: Daemon, s3: Any, bucket: str) -> None:
    headers, body = aws_chunked_request("PUT", daemon.endpoint, f"/{bucket}/empty", ALICE, [])
    response = put(daemon, f"/{bucket}/empty", headers, body)
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_tampered_chunk_is_refused_and_nothing_stored(
    daemon: Daemon, s3: Any, bucket: str
) -> None:
    headers, body = aws_chunked_request(
        "PUT", daemon.endpoint, f"/{bucket}/bad", ALICE, CHUNKS, tamper_chunk=1
    )
    with nothing_stored(daemon, s3, bucket, "bad"):
        response = put(daemon, f"/{bucket}/bad", headers, body)
    assert (response.status, response.error_code) == (403, "SignatureDoesNotMatch")


def test_decoded_length_mismatch_is_incomplete_body(
    daemon: Daemon, s3: Any, bucket: str
) -> None:
    headers, body = aws_chunked_request(
        "PUT",
        daemon.endpoint,
        f"/{bucket}/short",
        ALICE,
        CHUNKS,
        headers={"x-amz-decoded-content-length": str(len(DATA) + 10)},
    )
    with nothing_stored(daemon, s3, bucket, "short"):
        response = put(daemon, f"/{bucket}/short", headers, body)
    assert (response.status, response.error_code) == (400, "IncompleteBody")
