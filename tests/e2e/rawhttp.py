"""Hand-built, botocore-signed HTTP requests over a plain socket, for the cases
an SDK will not produce (oversized declarations, Expect without a body, junk)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import weakref
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SOCKET_TIMEOUT_S = 30.0


class _UnsignedPayloadAuth(S3SigV4Auth):  # type: ignore[misc]
    """UNSIGNED-PAYLOAD, and header values signed as the bytes `request_bytes`
    sends (one byte per character, latin-1), not botocore's UTF-8 of them."""

    def _should_sha256_sign_payload(self, request: AWSRequest) -> bool:
        return False

    def string_to_sign(self, request: AWSRequest, canonical_request: str) -> str:
        digest = hashlib.sha256(canonical_request.encode("latin-1")).hexdigest()
        scope = self.credential_scope(request)
        return "\n".join(["AWS4-HMAC-SHA256", request.context["timestamp"], scope, digest])


def sign(
    method: str,
    endpoint: str,
    path: str,
    key: tuple[str, str],
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers (with Authorization) for an UNSIGNED-PAYLOAD request to `path`
    (already percent-encoded as it will go on the wire). Header values are wire
    strings: each character is the byte of the same number."""
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

    @property
    def error_code(self) -> str:
        """The Code of the S3 error document in the body (AssertionError if none)."""
        return s3_error_code(self.body)


def s3_error_code(body: bytes) -> str:
    """The Code of an S3 ``<Error>`` document; AssertionError if `body` is not one."""
    root = ET.fromstring(body)
    code = root.findtext("Code")
    assert root.tag == "Error" and code, body
    return code


# Bytes read past the end of a response (the next pipelined one), per socket.
_LEFTOVER: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, *, head_request: bool = False) -> RawResponse:
    """The next response on `sock`; bytes of later (pipelined) responses read
    along with it are kept for the next call on the same socket."""
    buf = _LEFTOVER.pop(sock, b"")
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
        if buf[length:]:
            _LEFTOVER[sock] = buf[length:]
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


class StreamingAuth(S3SigV4Auth):  # type: ignore[misc]
    """Signs the request head with a STREAMING-* x-amz-content-sha256."""

    def __init__(self, credentials: Credentials, mode: str) -> None:
        super().__init__(credentials, "s3", "us-east-1")
        self._mode = mode

    def payload(self, request: AWSRequest) -> str:
        return self._mode


def _hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def aws_chunked_request(
    method: str,
    endpoint: str,
    path: str,
    key: tuple[str, str],
    chunks: list[bytes],
    *,
    mode: str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    headers: dict[str, str] | None = None,
    trailers: list[tuple[str, str]] | None = None,
    tamper_chunk: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """Signed headers and an aws-chunked body carrying `chunks` (then the final
    empty chunk, then `trailers`), built independently of Hamster's own code.

    `headers` are sent and signed as given (set Content-Encoding there, or not);
    ``x-amz-decoded-content-length`` is added unless present. `tamper_chunk`
    flips a byte of that chunk after signing.
    """
    signed = mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    head = {"Host": endpoint.split("://", 1)[1], **(headers or {})}
    head.setdefault("x-amz-decoded-content-length", str(sum(len(c) for c in chunks)))
    if trailers:
        head["x-amz-trailer"] = ",".join(name for name, _ in trailers)
    request = AWSRequest(method=method, url=endpoint + path, headers=head)
    StreamingAuth(Credentials(*key), mode).add_auth(request)
    signed_headers = dict(request.headers.items())
    amz_date = signed_headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    previous = signed_headers["Authorization"].rsplit("Signature=", 1)[1]
    signing_key = b"AWS4" + key[1].encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()
    body = b""
    for index, chunk in enumerate([*chunks, b""]):
        if signed:
            sts = (
                f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n"
                f"{hashlib.sha256(chunk).hexdigest()}"
            )
            previous = _hmac_hex(signing_key, sts)
            line = f"{len(chunk):x};chunk-signature={previous}\r\n".encode()
        else:
            line = f"{len(chunk):x}\r\n".encode()
        if index == tamper_chunk and chunk:
            chunk = bytes([chunk[0] ^ 1]) + chunk[1:]
        body += line + chunk + (b"\r\n" if chunk else b"")
    if trailers is not None:
        block = "".join(f"{name}:{value}\n" for name, value in trailers)
        body += "".join(f"{name}:{value}\r\n" for name, value in trailers).encode()
        if signed:
            sts = (
                f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n"
                f"{hashlib.sha256(block.encode()).hexdigest()}"
            )
            body += f"x-amz-trailer-signature:{_hmac_hex(signing_key, sts)}\r\n".encode()
    body += b"\r\n"
    return signed_headers, body


def chunked_transfer(body: bytes, piece_bytes: int = 1000) -> bytes:
    """`body` framed with Transfer-Encoding: chunked."""
    out = b""
    for start in range(0, len(body), piece_bytes):
        piece = body[start : start + piece_bytes]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"
