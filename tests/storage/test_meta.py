"""The contract of `MetaStore`, run against LevelDB and the simulator's model."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import plyvel
import pytest

from hamster.storage import meta as meta_module
from hamster.storage.meta import LevelDBMetaStore, MetaStore, prefix_upper_bound
from sim.meta import SimMetaDisk


async def open_sim_meta(tmp: Path) -> MetaStore:
    return SimMetaDisk(random.Random(0)).open()


FACTORIES: dict[str, Callable[[Path], Awaitable[MetaStore]]] = {
    "leveldb": lambda tmp: LevelDBMetaStore.open(str(tmp / "meta")),
    "sim": open_sim_meta,
}


@pytest.fixture(params=sorted(FACTORIES))
async def meta(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetaStore]:
    store = await FACTORIES[request.param](tmp_path)
    try:
        yield store
    finally:
        await store.close()


async def collect(
    meta: MetaStore, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
) -> list[bytes]:
    return [k async for k, _v in meta.scan(prefix, start_after=start_after, limit=limit)]


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound(b"o/") == b"o0"
    assert prefix_upper_bound(b"a\xff") == b"b"
    assert prefix_upper_bound(b"\xff\xff") is None
    assert prefix_upper_bound(b"") is None


async def test_get_put_delete(meta: MetaStore) -> None:
    assert await meta.get(b"k") is None
    await meta.write([(b"k", b"v")], [], sync=True)
    assert await meta.get(b"k") == b"v"
    await meta.write([(b"k", b"w")], [], sync=False)
    assert await meta.get(b"k") == b"w"
    await meta.write([], [b"k"], sync=True)
    assert await meta.get(b"k") is None
    await meta.write([], [b"never-there"], sync=True)  # deleting a missing key is fine


async def test_batch_applies_puts_and_deletes_together(meta: MetaStore) -> None:
    await meta.write([(b"a", b"1"), (b"b", b"2")], [], sync=True)
    await meta.write([(b"c", b"3"), (b"d", b"4")], [b"a", b"b"], sync=True)
    assert await collect(meta, b"") == [b"c", b"d"]


async def test_batch_put_and_delete_same_key_ends_deleted(meta: MetaStore) -> None:
    await meta.write([(b"x", b"1")], [b"x"], sync=True)
    assert await meta.get(b"x") is None


async def test_failed_batch_writes_nothing(meta: MetaStore) -> None:
    with pytest.raises(TypeError):
        await meta.write([(b"a", b"1"), (b"b", None)], [], sync=True)  # type: ignore[list-item]
    assert await meta.get(b"a") is None


async def test_scan_order_prefix_start_after_limit(meta: MetaStore) -> None:
    keys = [b"o/b\x00", b"o/b\x00a", b"o/b\x00a/b", b"o/b\x00b", b"o/b\x00\xc3\xa9", b"o/b\x00~"]
    others = [b"o/a\x00z", b"o/ba\x00a", b"b/b", b"o/c"]
    await meta.write([(k, k[::-1]) for k in reversed(keys + others)], [], sync=True)
    assert await collect(meta, b"o/b\x00") == sorted(keys)
    pairs = [(k, v) async for k, v in meta.scan(b"o/b\x00")]
    assert all(v == k[::-1] for k, v in pairs)
    assert await collect(meta, b"o/b\x00a") == [b"o/b\x00a", b"o/b\x00a/b"]
    assert await collect(meta, b"o/b\x00", start_after=b"o/b\x00a") == [
        b"o/b\x00a/b",
        b"o/b\x00b",
        b"o/b\x00~",
        b"o/b\x00\xc3\xa9",
    ]
    # start_after before the prefix: the whole prefix; after it: nothing.
    assert await collect(meta, b"o/b\x00", start_after=b"a") == sorted(keys)
    assert await collect(meta, b"o/b\x00", start_after=b"p") == []
    assert await collect(meta, b"o/b\x00", limit=2) == sorted(keys)[:2]
    assert await collect(meta, b"o/b\x00", limit=0) == []
    assert await collect(meta, b"zzz") == []
    assert await collect(meta, b"") == sorted(keys + others)


async def test_scan_crosses_batches(meta: MetaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_module, "SCAN_BATCH_ENTRIES", 3)
    keys = [b"p/%03d" % i for i in range(10)]
    await meta.write([(k, b"") for k in keys], [], sync=True)
    assert await collect(meta, b"p/") == keys
    assert await collect(meta, b"p/", limit=7) == keys[:7]
    assert await collect(meta, b"p/", limit=6) == keys[:6]
    assert await collect(meta, b"p/", start_after=keys[4], limit=4) == keys[5:9]


async def test_reopen_keeps_synced_writes(tmp_path: Path) -> None:
    db = await LevelDBMetaStore.open(str(tmp_path / "m"))
    await db.write([(b"k", b"v")], [], sync=True)
    await db.close()
    await db.close()  # idempotent
    db = await LevelDBMetaStore.open(str(tmp_path / "m"))
    assert await db.get(b"k") == b"v"
    await db.close()


def test_prefix_upper_bound_strips_only_ff_bytes() -> None:
    assert prefix_upper_bound(b"aX") == b"aY"
    assert prefix_upper_bound(b"X\xff") == b"Y"
    assert prefix_upper_bound(b"X\xffX\xff\xff") == b"X\xffY"


class SpyDB:
    """Wraps a plyvel DB and records how it is asked to write and close."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.batches: list[dict[str, Any]] = []
        self.closes = 0

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(key)
        return value

    def write_batch(self, **kwargs: Any) -> Any:
        self.batches.append(kwargs)
        return self.db.write_batch(**kwargs)

    def close(self) -> None:
        self.closes += 1
        self.db.close()


@pytest.mark.parametrize(("max_open_files", "extra"), [(None, {}), (64, {"max_open_files": 64})])
async def test_open_asks_leveldb_for_paranoid_checks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    max_open_files: int | None,
    extra: dict[str, int],
) -> None:
    """paranoid_checks: a damaged table or log is refused at open, not served;
    max_open_files (the descriptor budget's share) only when given."""
    opened: list[dict[str, Any]] = []
    real_db = plyvel.DB

    def db(path: str, **kwargs: Any) -> Any:
        opened.append(kwargs)
        return real_db(path, **kwargs)

    monkeypatch.setattr(plyvel, "DB", db)
    store = await LevelDBMetaStore.open(str(tmp_path / "m"), max_open_files=max_open_files)
    await store.close()
    assert opened == [{"create_if_missing": True, "paranoid_checks": True, **extra}]


@pytest.mark.parametrize("sync", [True, False])
async def test_a_write_is_synced_when_asked(tmp_path: Path, sync: bool) -> None:
    spy = SpyDB(plyvel.DB(str(tmp_path / "m"), create_if_missing=True))
    store = LevelDBMetaStore(spy)  # its own worker-thread offload
    await store.write([(b"k", b"v")], [b"gone"], sync=sync)
    assert spy.batches == [{"sync": sync, "transaction": True}]
    assert await store.get(b"k") == b"v"
    await store.close()


async def test_close_closes_the_db_once_and_ends_use(tmp_path: Path) -> None:
    spy = SpyDB(plyvel.DB(str(tmp_path / "m"), create_if_missing=True))
    store = LevelDBMetaStore(spy)
    await store.close()
    await store.close()
    assert spy.closes == 1
    with pytest.raises(AssertionError):
        await store.get(b"k")
    with pytest.raises(AssertionError):
        await store.write([], [], sync=True)


class CountingOffload:
    """Runs each call inline, counting the hops asked for."""

    def __init__(self) -> None:
        self.hops = 0

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.hops += 1
        return fn(*args)


async def test_a_point_read_runs_inline_until_one_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads served from memory take no thread hop; after one that took long
    (it went to the disk) the next GET_HOPS_AFTER_SLOW hop, then inline again.
    Scans always hop."""
    offload = CountingOffload()
    store = await LevelDBMetaStore.open(str(tmp_path / "m"), offload=offload)
    await store.write([(b"k", b"v")], [], sync=True)
    offload.hops = 0
    for _ in range(5):
        assert await store.get(b"k") == b"v"
    assert await store.get(b"missing") is None
    assert offload.hops == 0
    monkeypatch.setattr(meta_module, "GET_HOPS_AFTER_SLOW", 3)
    monkeypatch.setattr(meta_module, "GET_INLINE_SLOW_NS", -1)  # every read is "slow"
    disk_reads = iter(range(1, 10**6))  # and every one read from the disk
    monkeypatch.setattr(meta_module, "thread_disk_reads", lambda: next(disk_reads))
    assert await store.get(b"k") == b"v"  # inline, found slow
    monkeypatch.setattr(meta_module, "GET_INLINE_SLOW_NS", 10**12)
    for _ in range(3):
        assert await store.get(b"k") == b"v"
    assert offload.hops == 3
    assert await store.get(b"k") == b"v"
    assert offload.hops == 3  # inline again
    assert [kv async for kv in store.scan(b"k")] == [(b"k", b"v")]
    assert offload.hops == 4
    await store.close()


async def test_a_slow_point_read_that_read_no_disk_stays_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read from memory that took long because the loop thread was
    descheduled (the thread's disk-read counters did not move) sends no read
    through a hop; the first slow one whose counters moved does."""
    counters = [7]
    monkeypatch.setattr(meta_module, "thread_disk_reads", lambda: counters[0])
    offload = CountingOffload()
    store = await LevelDBMetaStore.open(str(tmp_path / "m"), offload=offload)
    await store.write([(b"k", b"v")], [], sync=True)
    offload.hops = 0
    monkeypatch.setattr(meta_module, "GET_HOPS_AFTER_SLOW", 2)
    monkeypatch.setattr(meta_module, "GET_INLINE_SLOW_NS", -1)  # every read is "slow"
    for _ in range(5):
        assert await store.get(b"k") == b"v"
    assert offload.hops == 0
    counters[0] = 9  # the next slow read waited for the disk
    assert await store.get(b"k") == b"v"
    assert offload.hops == 0  # that one ran inline; the next two hop
    assert await store.get(b"k") == b"v"
    assert await store.get(b"missing") is None
    assert offload.hops == 2
    assert await store.get(b"k") == b"v"  # the counters did not move again
    assert offload.hops == 2
    await store.close()
