"""Hand-built, botocore-signed HTTP requests over a plain socket, for the cases
an SDK will not produce (oversized declarations, Expect without a body, junk)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SOCKET_TIMEOUT_S = 30.0


class _UnsignedPayloadAuth(S3SigV4Auth):  # type: ignore[misc]
    def _should_sha256_sign_payload(self, request: AWSRequest) -> bool:
        return False


def sign(
    method: str,
    endpoint: str,
    path: str,
    key: tuple[str, str],
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers (with Authorization) for an UNSIGNED-PAYLOAD request to `path`
    (already percent-encoded as it will go on the wire)."""
    request = AWSRequest(method=method, url=endpoint + path, headers=dict(headers or {}))
    _UnsignedPayloadAuth(Credentials(key[0], key[1]), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    interim: list[int]  # statuses of 1xx responses seen first


def read_response(sock: socket.socket, *, head_request: bool = False) -> RawResponse:
    buf = b""
    interim: list[int] = []
    while True:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before a response head: {buf!r}")
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        _, status, *reason = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= int(status) < 200:
            interim.append(int(status))
            continue
        length = 0 if head_request else int(headers.get("content-length", "0"))
        while len(buf) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        return RawResponse(int(status), " ".join(reason), headers, buf[:length], interim)


def connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=SOCKET_TIMEOUT_S)
    return sock


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed the connection (reads EOF)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
