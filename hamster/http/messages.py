"""The values the connection loop and the application exchange (no I/O here).

The connection loop (`hamster.http.connection`) turns h11 events into an
`HttpRequest` plus a `RequestBody`, hands both to an `App`, and writes the
`Response` it gets back. The application never sees a socket or h11.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hamster.s3.errors import S3Error


@dataclass(frozen=True)
class HttpRequest:
    """One parsed request head.

    Attributes:
      method: upper-case method, e.g. ``"PUT"``.
      target: the raw request-target exactly as sent (``b"/bucket/a%20b?acl"``).
      headers: (name, value) pairs in arrival order; names lower-cased, values
        decoded as latin-1 (lossless: ``value.encode("latin-1")`` gives the bytes back).
      http_version: ``"1.1"`` or ``"1.0"``.
      scheme: ``"http"`` or ``"https"``.
    """

    method: str
    target: bytes
    headers: tuple[tuple[str, str], ...]
    http_version: str = "1.1"
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """The value of header `name` (lower-case), repeated ones joined by ``","``."""
        values = [v for k, v in self.headers if k == name]
        if not values:
            return None
        return ",".join(values)


class RequestBody(Protocol):
    """The request body, read incrementally.

    The first `read` answers a pending ``Expect: 100-continue`` (so a request
    refused before its body is read never has its body sent).
    """

    @property
    def content_length(self) -> int | None:
        """Content-Length when the client sent one, None for chunked bodies."""
        ...

    async def read(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` bytes of body; ``b""`` once the body has ended.

        Raises S3Error("IncompleteBody") if the client closes early and
        S3Error("RequestTimeout") if it stalls longer than the body timeout.
        """
        ...


class FileBody(ABC):
    """A response body of file bytes, that the loop may hand to the kernel
    (``os.sendfile`` from the file to the socket: no copy through Python).

    `first` is its first bytes, already read (so that a disk error on them is
    answered with its own status); `rest_bytes` follow it. On a plain socket
    the loop sends `first`, then calls `send_to` until `rest_bytes` are sent;
    on any other stream (TLS, memory) it sends the chunks of `chunks` instead.
    Either way it is used once, and closing it is the response's `on_close`.
    """

    def __init__(self, first: bytes, rest_bytes: int) -> None:
        assert rest_bytes >= 0
        self.first = first
        self.rest_bytes = rest_bytes

    @abstractmethod
    async def send_to(self, fd: int, max_bytes: int) -> int:
        """Send up to `max_bytes` of the next bytes after `first` to the
        non-blocking descriptor `fd`; how many were sent (> 0).

        Raises:
          BlockingIOError: `fd` takes nothing now (wait until it is writable).
          OSError: the descriptor's errors (EPIPE, ECONNRESET: the peer is gone).
          Exception: the file's failure (the response must be aborted).
        """

    @abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """All of the body as chunks, `first` first (for a stream that is not
        a plain socket)."""


@dataclass
class Response:
    """A response to write.

    `body` is either bytes (Content-Length is set by the loop), an async
    iterator of chunks or a `FileBody` (the handler sets Content-Length itself). `on_close`
    runs once the response has been written or abandoned (release file handles).
    For HEAD the loop never writes a body.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] | FileBody = b""
    on_close: Callable[[], Awaitable[None]] | None = None


class App(Protocol):
    async def handle(self, request: HttpRequest, body: RequestBody) -> Response:
        """Answer one request. Must not raise: errors become error Responses."""
        ...

    def error_response(self, error: S3Error, request: HttpRequest | None) -> Response:
        """An S3 XML error response for a protocol-level refusal by the loop
        (malformed request, header block too large, timeout)."""
        ...


HeaderList = Sequence[tuple[str, str]]
