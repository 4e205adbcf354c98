"""Peak server memory during a 1 GiB PUT and GET through the real daemon.

Starts `hamster serve` on a random port, resets the daemon's peak-RSS counter
(/proc/PID/clear_refs), PUTs 1 GiB with boto3 (a streamed body, never whole in
memory on either side), reads the peak, GETs it back and checks the MD5, then
reads the peak again. Reports RSS growth over the pre-transfer baseline.

    .venv/bin/python bench/memory_1gib.py [--size-mib 1024]

Linux only (reads /proc). Not a test: numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from botocore.config import Config

from tests.daemon import Daemon

MiB = 1 << 20
KEY = ("BENCHKEY", "bench-secret-key-0000")


class PatternReader:
    """`size` deterministic bytes, read in pieces."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.block = hashlib.sha512(b"bench").digest() * (MiB // 64)
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > MiB:
            n = MiB
        n = min(n, self.size - self.pos)
        self.pos += n
        return self.block[:n]

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory() as tmp:
        env = {"HAMSTER_ACCESS_KEY": KEY[0], "HAMSTER_SECRET_KEY": KEY[1]}
        daemon = Daemon(Path(tmp) / "data", env=env).start()
        assert daemon.proc is not None
        pid = daemon.proc.pid
        try:
            s3: Any = boto3.client(
                "s3",
                endpoint_url=daemon.endpoint,
                aws_access_key_id=KEY[0],
                aws_secret_access_key=KEY[1],
                region_name="us-east-1",
                config=Config(retries={"max_attempts": 1}),
            )
            s3.create_bucket(Bucket="bench")
            s3.put_object(Bucket="bench", Key="warmup", Body=b"x" * MiB)
            s3.get_object(Bucket="bench", Key="warmup")["Body"].read()
            baseline_kib = proc_kib(pid, "VmRSS")
            reset_peak(pid)

            started = time.perf_counter()
            s3.put_object(Bucket="bench", Key="big", Body=PatternReader(size))
            put_s = time.perf_counter() - started
            put_peak_kib = proc_kib(pid, "VmHWM")

            reset_peak(pid)
            started = time.perf_counter()
            h = hashlib.md5()
            got = s3.get_object(Bucket="bench", Key="big")
            for chunk in got["Body"].iter_chunks(MiB):
                h.update(chunk)
            get_s = time.perf_counter() - started
            get_peak_kib = proc_kib(pid, "VmHWM")
            expected = hashlib.md5()
            reader = PatternReader(size)
            while chunk := reader.read(MiB):
                expected.update(chunk)
            assert h.hexdigest() == expected.hexdigest(), "GET returned different bytes"
        finally:
            daemon.stop()
    print(f"object size:          {args.size_mib} MiB")
    print(f"baseline RSS:         {baseline_kib / 1024:.1f} MiB")
    print(f"PUT peak RSS growth:  {(put_peak_kib - baseline_kib) / 1024:.1f} MiB  "
          f"({args.size_mib / put_s:.0f} MiB/s incl. client SHA-256)")
    print(f"GET peak RSS growth:  {(get_peak_kib - baseline_kib) / 1024:.1f} MiB  "
          f"({args.size_mib / get_s:.0f} MiB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
