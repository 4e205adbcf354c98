"""Bounds against bad clients, through the real daemon."""

from __future__ import annotations

from tests.daemon import Daemon
from tests.e2e.rawhttp import closed_by_peer, connect, read_response, request_bytes


def test_oversized_header_block(daemon: Daemon) -> None:
    host = f"{daemon.host}:{daemon.port}"
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("GET", "/", {"Host": host, "X-Big": "a" * 20000}))
        response = read_response(sock)
        # S3 answers 400 RequestHeaderSectionTooLarge, not HTTP's 431.
        assert (response.status, response.error_code) == (400, "RequestHeaderSectionTooLarge")
        assert response.headers["connection"] == "close"
        assert closed_by_peer(sock)
