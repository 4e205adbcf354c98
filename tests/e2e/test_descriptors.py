"""Running out of file descriptors (issue 10, finding 3) against the real
daemon under a lowered RLIMIT_NOFILE (`prlimit`): the connection cap is
lowered to what the limit can hold (and the log says so once), so of 400
clients at once none is answered 500 or refused for want of a descriptor to
open its blob: each gets its object, or 503 SlowDown where the connection
cap itself turns it away. (EMFILE opening a blob in-process, answered
503 SlowDown: tests/api/test_disk_errors.py; the plan's arithmetic:
tests/http/test_descriptors.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, make_client
from tests.e2e.rawhttp import connect, read_response, request_bytes, sign
from tests.patterns import pattern

CLIENTS = 400
OBJECT_BYTES = 1 << 20
NOFILE = 256


def test_400_clients_under_256_descriptors_are_all_served(tmp_path: Path) -> None:
    creds = tmp_path / "users.toml"
    creds.write_text(
        f'[[users]]\nname = "alice"\naccess_key = "{ALICE[0]}"\nsecret_key = "{ALICE[1]}"\n'
    )
    daemon = Daemon(
        tmp_path / "data",
        # All 400 clients share 127.0.0.1: let one address have the whole cap.
        args=["--credentials", str(creds), "--max-connections-per-client", "1024"],
        command_prefix=["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--"],
    ).start()
    try:
        lowered = daemon.wait_for_log("connection cap lowered")
        # (256 - 64 kept for the server - 74 for LevelDB) // 3 per connection
        assert "connection cap lowered from 1024 to 39: RLIMIT_NOFILE is 256" in lowered
        s3 = make_client(daemon.endpoint, ALICE)
        s3.create_bucket(Bucket="bkt")
        for index in range(4):
            s3.put_object(Bucket="bkt", Key=f"k{index}", Body=pattern(OBJECT_BYTES, index))
        # Every client sends its GET at once and reads nothing yet: the
        # server's writes stall, so each connection it took keeps its blob open.
        sockets: list[socket.socket] = []
        host = f"{daemon.host}:{daemon.port}"
        try:
            for index in range(CLIENTS):
                sock = connect(daemon.host, daemon.port)
                sockets.append(sock)
                path = f"/bkt/k{index % 4}"
                headers = sign("GET", daemon.endpoint, path, ALICE, {"Host": host})
                sock.sendall(request_bytes("GET", path, {**headers, "Connection": "close"}))
            served = 0
            for index, sock in enumerate(sockets):
                response = read_response(sock)
                sock.close()  # the server lingers until we do, holding the slot
                if response.status == 200:
                    assert response.body == pattern(OBJECT_BYTES, index % 4)
                    served += 1
                else:
                    assert (response.status, response.error_code) == (503, "SlowDown"), response
        finally:
            for sock in sockets:
                sock.close()
        assert served >= 39
    finally:
        assert daemon.stop() == 0, "\n".join(daemon.stderr_lines)
    assert len([x for x in daemon.stderr_lines if "connection cap lowered" in x]) == 1
    # No blob went unopened: a 503 above came from the cap, not from EMFILE.
    assert not [x for x in daemon.stderr_lines if "out of file descriptors" in x]
    assert not [x for x in daemon.stderr_lines if "Traceback" in x]
