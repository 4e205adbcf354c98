"""Daemon-level behaviour: graceful shutdown and virtual-hosted addressing."""

from __future__ import annotations

from pathlib import Path

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, make_client
from tests.e2e.rawhttp import closed_by_peer, connect, read_response, request_bytes, sign

ENV = {"HAMSTER_ACCESS_KEY": ALICE[0], "HAMSTER_SECRET_KEY": ALICE[1]}


def test_sigterm_lets_an_in_flight_upload_finish(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "data", env=ENV).start()
    try:
        make_client(daemon.endpoint, ALICE).create_bucket(Bucket="graceful")
        host = f"{daemon.host}:{daemon.port}"
        headers = sign(
            "PUT",
            daemon.endpoint,
            "/graceful/obj",
            ALICE,
            {"Host": host, "Content-Length": "10", "Expect": "100-continue"},
        )
        with connect(daemon.host, daemon.port) as sock:
            sock.sendall(request_bytes("PUT", "/graceful/obj", headers))
            # 100 Continue: the handler is reading the body, the request is in flight.
            assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")
            sock.sendall(b"first")
            assert daemon.proc is not None
            daemon.proc.terminate()
            daemon.wait_for_log("shutting down")
            sock.sendall(b"-half")
            response = read_response(sock)
            assert response.status == 200
            assert response.headers.get("connection") == "close"
            assert closed_by_peer(sock)
        assert daemon.proc.wait(30) == 0
        assert any("store closed" in line for line in daemon.stderr_lines)
    finally:
        daemon.stop()
    again = Daemon(tmp_path / "data", env=ENV).start()
    try:
        s3 = make_client(again.endpoint, ALICE)
        assert s3.get_object(Bucket="graceful", Key="obj")["Body"].read() == b"first-half"
    finally:
        assert again.stop() == 0


def test_virtual_hosted_addressing(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "data", args=["--domain", "s3.test"], env=ENV).start()
    try:
        vhost = f"vbucket.s3.test:{daemon.port}"
        endpoint = f"http://{vhost}"

        def send(method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
            headers = sign(
                method, endpoint, path, ALICE, {"Host": vhost, "Content-Length": str(len(body))}
            )
            with connect(daemon.host, daemon.port) as sock:
                sock.sendall(request_bytes(method, path, headers, body))
                response = read_response(sock)
            return response.status, response.body

        assert send("PUT", "/")[0] == 200  # CreateBucket
        assert send("PUT", "/dir/key.txt", b"virtual")[0] == 200
        assert send("PUT", "//slashed", b"two slashes")[0] == 200
        assert send("GET", "/dir/key.txt") == (200, b"virtual")
        # The same objects, path-style.
        s3 = make_client(daemon.endpoint, ALICE)
        assert s3.get_object(Bucket="vbucket", Key="dir/key.txt")["Body"].read() == b"virtual"
        assert s3.get_object(Bucket="vbucket", Key="/slashed")["Body"].read() == b"two slashes"
    finally:
        assert daemon.stop() == 0
