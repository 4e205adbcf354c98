"""Store.delete_objects: many keys in one synced metadata batch, per-key
conditions, blobs removed only after the commit (and after open readers)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store
from hamster.storage.blobs import blob_dir, blob_path
from hamster.storage.records import object_key
from hamster.storage.store import DeleteTarget

from .bodies import BytesBody
from .test_multipart import MIN_PART, complete, create, part
from .test_write_order import open_recorded

OWNER = "AKIDOWNER"


def data_of(key: str, size: int = 3000) -> bytes:
    """Bytes that differ by position and by key (sha256 chain)."""
    blocks = []
    block = key.encode()
    for _ in range(-(-size // 32)):
        block = hashlib.sha256(block).digest()
        blocks.append(block)
    return b"".join(blocks)[:size]


async def put(store: Store, key: str) -> str:
    info = await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(data_of(key)))
    return info.blob_id


def blob_exists(store: Store, blob_id: str) -> bool:
    return (Path(store.fs.root) / blob_path(blob_id)).exists()  # type: ignore[attr-defined]


async def exists(store: Store, key: str) -> bool:
    return await store.get_object_info("bk", key) is not None


@pytest.fixture
async def bk(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    s = await Store.open(
        str(tmp_path / "data"), runtime, min_part_bytes=MIN_PART, inline_max_bytes=0
    )
    await s.create_bucket("bk", OWNER, "us-east-1")
    try:
        yield s
    finally:
        await s.close()


async def test_deletes_every_key_missing_ones_included(bk: Store) -> None:
    keys = [f"k/{n:03d}" for n in range(50)]
    blobs = [await put(bk, k) for k in keys]
    await put(bk, "kept")
    targets = [DeleteTarget(k) for k in keys[::-1]] + [DeleteTarget("never-there")]
    assert await bk.delete_objects("bk", targets) == [None] * 51
    for key, blob_id in zip(keys, blobs, strict=True):
        assert not await exists(bk, key)
        assert not blob_exists(bk, blob_id)
    assert await exists(bk, "kept")


async def test_a_key_named_twice_is_reported_twice(bk: Store) -> None:
    await put(bk, "k")
    assert await bk.delete_objects("bk", [DeleteTarget("k"), DeleteTarget("k")]) == [None, None]
    assert not await exists(bk, "k")


async def test_etag_conditions_are_per_key(bk: Store) -> None:
    for key in ("match", "mismatch", "star", "after"):
        await put(bk, key)
    match = await bk.head_object("bk", "match")
    outcomes = await bk.delete_objects(
        "bk",
        [
            DeleteTarget("match", if_match=f'"{match.etag}"'),
            DeleteTarget("mismatch", if_match=match.etag),
            DeleteTarget("star", if_match="*"),
            DeleteTarget("missing", if_match="*"),
            DeleteTarget("missing-etag", if_match=match.etag),
            DeleteTarget("after"),
            DeleteTarget("after", if_match="*"),  # gone by now, in this same request
        ],
    )
    codes = [None if o is None else o.code for o in outcomes]
    assert codes == [None, "PreconditionFailed", None, "NoSuchKey", "NoSuchKey", None, "NoSuchKey"]
    assert await exists(bk, "mismatch")
    assert not await exists(bk, "match") and not await exists(bk, "star")


async def test_missing_bucket(bk: Store) -> None:
    with pytest.raises(S3Error) as e:
        await bk.delete_objects("nobucket", [DeleteTarget("k")])
    assert e.value.code == "NoSuchBucket"


async def test_a_multipart_object_loses_every_part_blob(bk: Store) -> None:
    upload = await create(bk, "mp")
    parts = [await part(bk, upload, n, data_of(f"part{n}", MIN_PART + n)) for n in (1, 2, 3)]
    info = await complete(bk, upload, parts)
    assert len(info.blob_ids) == 3 and all(blob_exists(bk, b) for b in info.blob_ids)
    assert await bk.delete_objects("bk", [DeleteTarget("mp")]) == [None]
    assert not any(blob_exists(bk, b) for b in info.blob_ids)


async def test_an_open_reader_keeps_its_object_until_it_closes(bk: Store) -> None:
    blob_id = await put(bk, "k")
    reader = await bk.open_object("bk", "k")
    assert await bk.delete_objects("bk", [DeleteTarget("k")]) == [None]
    assert not await exists(bk, "k")
    assert blob_exists(bk, blob_id)  # pinned by the reader
    got = b"".join([c async for c in reader.stream(0, reader.info.size, chunk_bytes=1000)])
    assert got == data_of("k")
    await reader.aclose()
    assert not blob_exists(bk, blob_id)


async def test_one_synced_batch_then_the_blobs(tmp_path: Path) -> None:
    log: list[str] = []
    store = await open_recorded(tmp_path / "d", log)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        keys = [f"key-{n}" for n in range(20)]
        blobs = [await put(store, k) for k in keys]
        log.clear()
        targets = [DeleteTarget(k) for k in keys] + [DeleteTarget("absent")]
        assert await store.delete_objects("bk", targets) == [None] * 21
        metas = [e for e in log if e.startswith("meta ")]
        # The removal markers are put, and the last PUT's placing marker goes.
        puts = [b"r/" + b.encode() for b in blobs]
        deletes = [object_key("bk", k) for k in keys] + [b"n/" + blobs[-1].encode()]
        assert metas == [f"meta sync {b','.join(puts + deletes)!r}"]
        assert log[0] == metas[0]  # nothing touched the disk before the commit
        assert sorted(log[1:]) == sorted(f"remove {blob_path(b)}" for b in blobs)
        # Their directories are synced later, with more removals or at close
        # (their removal markers wait until then): each once.
        log.clear()
        done = await store.core.blobs.settle(everything=True)  # as close does
        assert log == sorted({f"sync_dir {blob_dir(b)}" for b in blobs})
        assert done == [m for b in blobs for m in (b"r/" + b.encode(), b"n/" + b.encode())]
    finally:
        await store.close()


async def test_nothing_to_delete_writes_nothing(tmp_path: Path) -> None:
    log: list[str] = []
    store = await open_recorded(tmp_path / "d", log)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        log.clear()
        assert await store.delete_objects("bk", [DeleteTarget("a"), DeleteTarget("b")]) == [
            None,
            None,
        ]
        assert log == []
    finally:
        await store.close()
