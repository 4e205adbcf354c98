"""Cost of a delimiter listing over 1,000,000 keys in 1,000 prefixes.

Loads ``p0000/k0000`` … ``p0999/k0999`` straight into the metadata store
(object records written in batches through the storage layer, not over
HTTP: the blobs do not exist, and a listing never opens them), then sends
signed ListObjectsV2 requests to the real application (`S3App.handle`:
parsing, SigV4, routing, the listing handler, the store, LevelDB) in
process and times them:

- the first page of ``delimiter=/`` with max-keys 100 (100 common prefixes);
- the whole 1,000-prefix listing, as one page of 1000 and as 10 pages of 100;
- a first page without delimiter (1000 keys), for scale;
- for contrast, one pass over every record (what a listing that did not
  seek past common prefixes would read).

A counting wrapper around the metadata store reports how many entries each
listing read from LevelDB: a delimiter page reads a few per prefix, not
the keys under it.

    .venv/bin/python bench/listing.py [--prefixes 1000] [--per-prefix 1000] [--rounds 5]

Not a test: numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hamster.app import S3App
from hamster.config import User, UserDirectory
from hamster.http.messages import HttpRequest
from hamster.runtime import Runtime
from hamster.storage import records
from hamster.storage.meta import LevelDBMetaStore
from hamster.storage.records import ObjectInfo
from hamster.storage.store import Store
from tests.auth.botosign import encode_query

USER = User(access_key="BENCHLISTKEY", secret_key="bench-list-secret-0000", name="bench")
BUCKET = "bench"
HOST = "localhost"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
LOAD_BATCH = 10_000


class CountingMeta:
    """A `MetaStore` that counts the entries its scans yield."""

    def __init__(self, inner: LevelDBMetaStore) -> None:
        self.inner = inner
        self.entries = 0
        self.scans = 0

    async def get(self, key: bytes) -> bytes | None:
        return await self.inner.get(key)

    async def write(
        self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        await self.inner.write(puts, deletes, sync=sync)

    async def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        self.scans += 1
        async for kv in self.inner.scan(prefix, start_after, limit):
            self.entries += 1
            yield kv

    async def close(self) -> None:
        await self.inner.close()


class EmptyBody:
    content_length = 0

    async def read(self, max_bytes: int) -> bytes:
        return b""


async def list_v2(app: S3App, params: list[tuple[str, str]]) -> ET.Element:
    path = "/" + BUCKET
    query = encode_query([("list-type", "2"), *params])
    request = AWSRequest(method="GET", url=f"http://{HOST}{path}?{query}")
    S3SigV4Auth(Credentials(USER.access_key, USER.secret_key), "s3", "us-east-1").add_auth(request)
    headers = (("host", HOST), *((k.lower(), str(v)) for k, v in request.headers.items()))
    response = await app.handle(
        HttpRequest("GET", f"{path}?{query}".encode(), headers), EmptyBody()
    )
    assert response.status == 200 and isinstance(response.body, bytes), response
    return ET.fromstring(response.body)


async def whole_listing(app: S3App, page_size: int) -> tuple[int, int]:
    """(common prefixes, pages) of the whole delimiter listing."""
    prefixes = pages = 0
    token: str | None = None
    while True:
        params = [("delimiter", "/"), ("max-keys", str(page_size))]
        if token is not None:
            params.append(("continuation-token", token))
        root = await list_v2(app, params)
        pages += 1
        prefixes += len(root.findall(NS + "CommonPrefixes"))
        token_el = root.find(NS + "NextContinuationToken")
        if token_el is None:
            return prefixes, pages
        token = token_el.text


async def load(store: Store, prefixes: int, per_prefix: int) -> float:
    t0 = time.perf_counter()
    batch: list[tuple[bytes, bytes]] = []
    for p in range(prefixes):
        for k in range(per_prefix):
            key = f"p{p:04d}/k{k:04d}"
            info = ObjectInfo(
                bucket=BUCKET,
                key=key,
                size=k,
                etag=f"{p:016x}{k:016x}",
                last_modified_ns=1_700_000_000_000_000_000 + p * per_prefix + k,
                content_type=None,
                content_encoding=None,
                content_disposition=None,
                content_language=None,
                cache_control=None,
                expires=None,
                user_metadata=(),
                blob_id=f"{p * per_prefix + k:032x}",
            )
            batch.append((records.object_key(BUCKET, key), records.encode_object(info)))
            if len(batch) >= LOAD_BATCH:
                await store.meta.write(batch, [], sync=False)
                batch = []
    await store.meta.write(batch, [], sync=True)
    return time.perf_counter() - t0


async def timed(meta: CountingMeta, rounds: int, fn: object) -> tuple[float, int, object]:
    """(median seconds, entries read per run, last result) of `await fn()`."""
    times = []
    result: object = None
    entries = 0
    for _ in range(rounds):
        meta.entries = 0
        t0 = time.perf_counter()
        result = await fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
        entries = meta.entries
    return statistics.median(times), entries, result


async def main(args: argparse.Namespace) -> None:
    runtime = Runtime()
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        (Path(tmp) / "meta").mkdir()
        meta = CountingMeta(await LevelDBMetaStore.open(str(Path(tmp) / "meta")))
        store = await Store.open(tmp, runtime, meta=meta)
        try:
            await store.create_bucket(BUCKET, USER.access_key, "us-east-1")
            total = args.prefixes * args.per_prefix
            print(f"loading {total:,} keys in {args.prefixes:,} prefixes …", flush=True)
            load_s = await load(store, args.prefixes, args.per_prefix)
            print(f"  loaded in {load_s:.1f} s")
            app = S3App(store=store, users=UserDirectory([USER]), runtime=runtime)

            async def first_page() -> int:
                root = await list_v2(app, [("delimiter", "/"), ("max-keys", "100")])
                return len(root.findall(NS + "CommonPrefixes"))

            async def flat_page() -> int:
                return len((await list_v2(app, [])).findall(NS + "Contents"))

            async def one_page() -> tuple[int, int]:
                return await whole_listing(app, 1000)

            async def pages_of_100() -> tuple[int, int]:
                return await whole_listing(app, 100)

            async def every_record() -> int:
                return sum([1 async for _ in store.iter_objects(BUCKET)])

            rows = [
                ("first delimiter page (max-keys 100)", first_page, args.rounds),
                ("whole listing, 1 page of 1000 prefixes", one_page, args.rounds),
                ("whole listing, 10 pages of 100", pages_of_100, args.rounds),
                ("first page without delimiter (1000 keys)", flat_page, args.rounds),
                ("every record once (no seeking)", every_record, 1),
            ]
            print(f"\n{'listing':<44} {'median':>10} {'entries read':>14}  result")
            for name, fn, rounds in rows:
                seconds, entries, result = await timed(meta, rounds, fn)
                print(f"{name:<44} {seconds * 1000:>8.1f} ms {entries:>14,}  {result}")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefixes", type=int, default=1000)
    parser.add_argument("--per-prefix", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tmp-dir", default=None, help="where the data directory goes")
    trio.run(main, parser.parse_args())
