"""What inline objects cost a listing: `Store.iter_objects` over 10,000 keys
whose records hold their bytes (inline objects of SIZE bytes) against the
same keys as blob objects (records that only name a blob), for a few sizes.

The stores are built offline like bench/startup.py's (records written with
the project's own encoder in LevelDB batches; the blob files of the blob
objects are not made, a listing never opens them), then each is opened and
listed whole, the two kinds taking turns round after round; the figure is
the median of the rounds. A listing scans the records, so every inline byte
is read from LevelDB and copied by the decoder: this says how much that
costs next to the rest of a listing (the XML, measured by bench/list_objects.py).

    .venv/bin/python -m bench.inline_listing [--keys 10000] [--rounds 5] [--sizes 4096,16384]

Prints a table. Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import plyvel
import trio

from hamster import integrity
from hamster.runtime import Runtime
from hamster.storage import Store, records
from hamster.storage.blobs import blob_path
from hamster.storage.records import BucketInfo, ObjectInfo

BUCKET = "bench"


def build(root: Path, keys: int, size: int, inline: bool) -> None:
    meta = root / "meta"
    meta.mkdir(parents=True)
    db = plyvel.DB(str(meta), create_if_missing=True)
    try:
        with db.write_batch() as batch:
            batch.put(records.STORE_INFO_KEY, records.encode_store_info(1))
            batch.put(
                records.bucket_key(BUCKET),
                records.encode_bucket(BucketInfo(BUCKET, "owner", 1, "us-east-1")),
            )
        for start in range(0, keys, 1000):
            with db.write_batch() as batch:
                for n in range(start, min(keys, start + 1000)):
                    data = hashlib.shake_256(b"%d" % n).digest(size)
                    key = f"p{n // 1000:04d}/k{n % 1000:04d}"
                    info = ObjectInfo(
                        bucket=BUCKET,
                        key=key,
                        size=size,
                        etag=hashlib.md5(data).hexdigest(),
                        last_modified_ns=1_700_000_000_000_000_000 + n,
                        content_type="application/octet-stream",
                        content_encoding=None,
                        content_disposition=None,
                        content_language=None,
                        cache_control=None,
                        expires=None,
                        user_metadata=(),
                        blob_id="" if inline else f"{n:032x}",
                        checksum=integrity.ChecksumValue(
                            "CRC64NVME", integrity.compute("CRC64NVME", data)
                        ),
                        inline_data=data if inline else None,
                    )
                    batch.put(records.object_key(BUCKET, key), records.encode_object(info))
        db.compact_range()
    finally:
        db.close()
    if not inline:
        # Every blob a record names exists (recovery checks): hard links of
        # one file, as bench/startup.py makes them.
        first = root / "first"
        first.write_bytes(b"")
        for n in range(keys):
            blob_id = f"{n:032x}"
            path = root / blob_path(blob_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(first, path)
        first.unlink()


async def list_all(root: Path) -> float:
    store = await Store.open(str(root), Runtime())
    try:
        started = time.perf_counter()
        count = 0
        async for _info in store.iter_objects(BUCKET):
            count += 1
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="1,4096,16384,32768,65536")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Store.iter_objects of {args.keys} keys, median of {args.rounds} rounds")
    print("| object size | blob records | inline records | inline/blob |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="hamster-inline-listing-") as tmp:
        for size in sizes:
            roots = {kind: Path(tmp) / f"{size}-{kind}" for kind in ("blob", "inline")}
            for kind, root in roots.items():
                build(root, args.keys, size, inline=kind == "inline")
            times: dict[str, list[float]] = {"blob": [], "inline": []}
            for _ in range(args.rounds):
                for kind, root in roots.items():
                    times[kind].append(trio.run(list_all, root))
            blob, inline = (statistics.median(times[k]) for k in ("blob", "inline"))
            print(
                f"| {size} B | {blob * 1000:.1f} ms | {inline * 1000:.1f} ms"
                f" | {inline / blob:.2f} |"
            )


if __name__ == "__main__":
    main()
