"""Cost of verifying a streaming-signed upload against an UNSIGNED-PAYLOAD one.

Uploads the same 1 GiB (by default) to the real daemon twice per round over a
raw socket: once as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (aws-chunked, 64 KiB
chunks, each chunk signature chained from the seed signature and verified by
the server before its bytes count) and once as `UNSIGNED-PAYLOAD`. The chunk
signatures are computed before the clock starts, so the time measured is the
server's (receive, verify, hash MD5 + checksum, write, fsync, commit); both
bodies are built in memory first so the client's part is one `sendall`.

    .venv/bin/python bench/streaming_auth.py [--size-mib 1024] [--rounds 3]

Not a test: numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.daemon import Daemon
from tests.e2e.rawhttp import StreamingAuth, read_response, request_bytes, sign

MiB = 1 << 20
CHUNK_BYTES = 64 * 1024
KEY = ("BENCHKEY", "bench-secret-key-0000")
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def streaming_request(endpoint: str, path: str, size: int) -> tuple[bytes, list[bytes]]:
    """The request head and the chunk headers of a signed aws-chunked upload of
    `size` bytes made of a repeated CHUNK_BYTES block."""
    chunks = size // CHUNK_BYTES
    assert chunks * CHUNK_BYTES == size
    encoded_length = chunks * (
        len(f"{CHUNK_BYTES:x};chunk-signature=") + 64 + 2 + CHUNK_BYTES + 2
    ) + len("0;chunk-signature=") + 64 + 4
    host = endpoint.split("://", 1)[1]
    request = AWSRequest(
        method="PUT",
        url=endpoint + path,
        headers={
            "Host": host,
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(size),
            "Content-Length": str(encoded_length),
        },
    )
    StreamingAuth(Credentials(*KEY), STREAMING).add_auth(request)
    headers = dict(request.headers.items())
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    previous = headers["Authorization"].rsplit("Signature=", 1)[1]
    key = b"AWS4" + KEY[1].encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    block_sha = hashlib.sha256(block()).hexdigest()
    heads = []
    for i in range(chunks + 1):
        digest = block_sha if i < chunks else EMPTY_SHA256
        sts = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{digest}"
        )
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        length = CHUNK_BYTES if i < chunks else 0
        heads.append(f"{length:x};chunk-signature={previous}\r\n".encode())
    return request_bytes("PUT", path, headers), heads


_BLOCK = hashlib.sha512(b"bench").digest() * (CHUNK_BYTES // 64)


def block() -> bytes:
    return _BLOCK


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_upload(daemon: Daemon, head: bytes, body: bytes) -> tuple[float, float]:
    """Send a request whose body was built beforehand, so the client's own
    work is the same one sendall for either kind of upload. Returns the wall
    seconds and the server's CPU seconds."""
    assert daemon.proc is not None
    with socket.create_connection((daemon.host, daemon.port)) as sock:
        cpu_before = cpu_s(daemon.proc.pid)
        started = time.perf_counter()
        sock.sendall(head)
        sock.sendall(body)
        response = read_response(sock)
        elapsed = time.perf_counter() - started
        cpu = cpu_s(daemon.proc.pid) - cpu_before
    assert response.status == 200, response.body
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tmp-dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the daemon's data directory goes (default /dev/shm: on tmpfs the "
        "disk's writeback and fsync, which vary by seconds from run to run, do not "
        "drown the cost being measured; pass a disk path to include them)",
    )
    args = parser.parse_args()
    size = args.size_mib * MiB
    chunks = size // CHUNK_BYTES
    results: dict[str, list[tuple[float, float]]] = {"unsigned": [], "streaming": []}
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        env = {"HAMSTER_ACCESS_KEY": KEY[0], "HAMSTER_SECRET_KEY": KEY[1]}
        daemon = Daemon(Path(tmp) / "data", env=env).start()
        try:
            host = f"{daemon.host}:{daemon.port}"
            create = sign("PUT", daemon.endpoint, "/bench", KEY, {"Host": host})
            with socket.create_connection((daemon.host, daemon.port)) as sock:
                sock.sendall(request_bytes("PUT", "/bench", create))
                assert read_response(sock).status == 200
            for _ in range(args.rounds):
                headers = sign(
                    "PUT",
                    daemon.endpoint,
                    "/bench/unsigned",
                    KEY,
                    {"Host": host, "Content-Length": str(size)},
                )
                head = request_bytes("PUT", "/bench/unsigned", headers)
                results["unsigned"].append(timed_upload(daemon, head, block() * chunks))
                head, chunk_heads = streaming_request(daemon.endpoint, "/bench/streaming", size)
                encoded = b"".join(h + block() + b"\r\n" for h in chunk_heads[:-1])
                encoded += chunk_heads[-1] + b"\r\n"
                results["streaming"].append(timed_upload(daemon, head, encoded))
                del encoded
        finally:
            daemon.stop()
    best = {name: min(wall for wall, _ in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(c for _, c in runs) for name, runs in results.items()}
    for name, seconds in best.items():
        print(
            f"{name:10s} best of {args.rounds}: {args.size_mib / seconds:7.1f} MiB/s, "
            f"server CPU {cpu[name] / (args.size_mib / 1024):.2f} s/GiB (median)"
        )
    cost = 1 - best["unsigned"] / best["streaming"]
    print(f"streaming signature verification costs {cost * 100:.1f}% throughput")
    print(f"and {(cpu['streaming'] / cpu['unsigned'] - 1) * 100:.1f}% more server CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
