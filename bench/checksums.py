"""Throughput of the integrity hashes the write path computes, per core.

Feeds 1 GiB (by default) through each hasher in 1 MiB buffers, the size the
store hashes at, on one thread. The requirement is >= 1 GB/s per core for the
CRCs, so checksum verification keeps up with the network.

    .venv/bin/python bench/checksums.py [--size-mib 1024]

Not a test: numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hamster import integrity

MiB = 1 << 20


def rate(update: Callable[[bytes], object], buffer: bytes, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        update(buffer)
    return rounds * len(buffer) / (time.perf_counter() - started) / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    buffer = hashlib.sha512(b"bench").digest() * (MiB // 64)
    for algorithm in sorted(integrity.ALGORITHMS):
        hasher = integrity.new_hasher(algorithm)
        print(f"{algorithm:10s} {rate(hasher.update, buffer, args.size_mib):6.2f} GB/s")
    print(f"{'MD5 (ETag)':10s} {rate(hashlib.md5().update, buffer, args.size_mib):6.2f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
