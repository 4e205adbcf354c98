"""The HTTP edge of the real daemon, with hand-built requests."""

from __future__ import annotations

from typing import Any

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, nothing_stored
from tests.e2e.rawhttp import closed_by_peer, connect, read_response, request_bytes, sign


def test_every_response_has_request_id_and_date(daemon: Daemon) -> None:
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("GET", "/", {"Host": f"{daemon.host}:{daemon.port}"}))
        response = read_response(sock)
    assert (response.status, response.error_code) == (403, "AccessDenied")
    assert response.headers["x-amz-request-id"]
    assert response.headers["date"].endswith("GMT")
    assert response.headers["content-type"] == "application/xml"


def test_keep_alive_and_pipelining(daemon: Daemon, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"pipelined")
    host = f"{daemon.host}:{daemon.port}"
    requests = b""
    for _ in range(3):
        headers = sign("GET", daemon.endpoint, f"/{bucket}/k", ALICE, {"Host": host})
        requests += request_bytes("GET", f"/{bucket}/k", headers)
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(requests)
        bodies = [read_response(sock).body for _ in range(3)]
    assert bodies == [b"pipelined"] * 3


def test_refused_upload_never_asks_for_its_body(daemon: Daemon) -> None:
    host = f"{daemon.host}:{daemon.port}"
    headers = sign(
        "PUT",
        daemon.endpoint,
        "/no-such-bucket-100/k",
        ALICE,
        {"Host": host, "Content-Length": "1048576", "Expect": "100-continue"},
    )
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", "/no-such-bucket-100/k", headers))
        response = read_response(sock)
        assert response.interim == []
        assert (response.status, response.error_code) == (404, "NoSuchBucket")
        assert closed_by_peer(sock)


def test_entity_too_large_refused_before_body(daemon: Daemon, s3: Any, bucket: str) -> None:
    host = f"{daemon.host}:{daemon.port}"
    headers = sign(
        "PUT",
        daemon.endpoint,
        f"/{bucket}/huge",
        ALICE,
        {"Host": host, "Content-Length": str(5 * 1024**3 + 1), "Expect": "100-continue"},
    )
    with nothing_stored(daemon, s3, bucket, "huge"), connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", f"/{bucket}/huge", headers))
        response = read_response(sock)
    assert response.interim == []
    assert (response.status, response.error_code) == (400, "EntityTooLarge")


def test_accepted_upload_gets_100_continue(daemon: Daemon, s3: Any, bucket: str) -> None:
    host = f"{daemon.host}:{daemon.port}"
    headers = sign(
        "PUT",
        daemon.endpoint,
        f"/{bucket}/expect",
        ALICE,
        {"Host": host, "Content-Length": "5", "Expect": "100-continue"},
    )
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", f"/{bucket}/expect", headers))
        # The server answers 100 Continue before we send a single body byte, with
        # its reason phrase: the aws CLI v2 (botocore #3455) waits for exactly this.
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(4096)
            assert chunk, interim
            interim += chunk
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        response = read_response(sock)
    assert (response.status, response.reason) == (200, "OK"), response.body
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == b"hello"


def test_invalid_utf8_key_refused(daemon: Daemon, bucket: str) -> None:
    host = f"{daemon.host}:{daemon.port}"
    headers = sign("GET", daemon.endpoint, f"/{bucket}/bad%FFkey", ALICE, {"Host": host})
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("GET", f"/{bucket}/bad%FFkey", headers))
        response = read_response(sock)
    assert (response.status, response.error_code) == (400, "InvalidURI")


def test_malformed_request_only_hurts_its_own_connection(daemon: Daemon) -> None:
    host = f"{daemon.host}:{daemon.port}"
    with connect(daemon.host, daemon.port) as good, connect(daemon.host, daemon.port) as bad:
        bad.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        response = read_response(bad)
        assert (response.status, response.error_code) == (400, "InvalidRequest")
        assert closed_by_peer(bad)
        good.sendall(request_bytes("GET", "/", {"Host": host}))
        response = read_response(good)
        assert (response.status, response.error_code) == (403, "AccessDenied")


def test_signed_payload_mismatch_stores_nothing(daemon: Daemon, s3: Any, bucket: str) -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    host = f"{daemon.host}:{daemon.port}"
    request = AWSRequest(
        method="PUT",
        url=f"{daemon.endpoint}/{bucket}/signed",
        data=b"hello",
        headers={"Host": host},
    )
    S3SigV4Auth(Credentials(*ALICE), "s3", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert len(headers["X-Amz-Content-SHA256"]) == 64  # the payload is signed
    headers["Content-Length"] = "5"
    with nothing_stored(daemon, s3, bucket, "signed"), connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("PUT", f"/{bucket}/signed", headers, b"HELLO"))
        response = read_response(sock)
    assert (response.status, response.error_code) == (400, "XAmzContentSHA256Mismatch")
