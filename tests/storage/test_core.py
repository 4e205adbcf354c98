"""`Core.transaction`: the one commit path of every write (core.py's commit rule)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import trio

from hamster.s3.errors import S3Error
from hamster.storage.blobs import blob_path
from hamster.storage.core import Core
from hamster.storage.errors import StorageFull
from hamster.storage.fs import RealFileSystem
from hamster.storage.meta import LevelDBMetaStore, MetaStore

from .bodies import BytesBody
from .conftest import make_runtime
from .test_write_order import MetaWrapper


class WatchedMeta(MetaWrapper):
    """A MetaStore that logs each write and whether the commit lock was held;
    `fail` makes the next write raise after logging it."""

    def __init__(self, inner: MetaStore) -> None:
        super().__init__(inner)
        self.core: Core | None = None
        self.writes: list[tuple[list[bytes], list[bytes], bool, bool]] = []
        self.fail = False
        self.failure: Exception = OSError("disk full")

    async def write(
        self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        assert self.core is not None
        locked = self.core.commit_lock.locked()
        self.writes.append(([k for k, _ in puts], list(deletes), sync, locked))
        if self.fail:
            raise self.failure
        await self.inner.write(puts, deletes, sync=sync)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    fs = RealFileSystem(str(tmp_path))
    await fs.makedirs("blobs")
    await fs.makedirs("tmp")
    meta = WatchedMeta(await LevelDBMetaStore.open(str(tmp_path / "meta")))
    c = Core(fs, meta, make_runtime())
    meta.core = c
    try:
        yield c
    finally:
        await meta.close()


def watched(core: Core) -> WatchedMeta:
    assert isinstance(core.meta, WatchedMeta)
    return core.meta


async def new_blob(core: Core, name: str) -> str:
    blob_id = core.runtime.new_id()
    data = hashlib.sha256(name.encode()).digest() * 40
    await core.blobs.write(
        blob_id, BytesBody(data), content_length=len(data), max_size_bytes=1 << 20, content_md5=None
    )
    return blob_id


async def exists(core: Core, blob_id: str) -> bool:
    return await core.fs.exists(blob_path(blob_id))


async def test_commit_writes_one_synced_batch_then_discards(core: Core) -> None:
    old, new = await new_blob(core, "old"), await new_blob(core, "new")
    await core.meta.write([(b"gone", b"x")], [], sync=True)
    watched(core).writes.clear()
    removed_while_locked: list[bool] = []
    remove = core.blobs.remove

    async def spy(blob_id: str) -> None:
        removed_while_locked.append(core.commit_lock.locked())
        await remove(blob_id)

    core.blobs.remove = spy  # type: ignore[method-assign]
    async with core.transaction(new_blobs=[new]) as batch:
        batch.put(b"a", b"1")
        batch.put(b"b", b"2")
        batch.delete(b"gone")
        batch.discard_after([old])
        assert await exists(core, old)
    assert watched(core).writes == [([b"a", b"b"], [b"gone"], True, True)]
    assert await core.meta.get(b"a") == b"1" and await core.meta.get(b"gone") is None
    assert not await exists(core, old)
    assert await exists(core, new)
    assert removed_while_locked == [False]  # after the lock is released


async def test_refused_check_writes_nothing_and_removes_the_new_blobs(core: Core) -> None:
    old, new = await new_blob(core, "old"), await new_blob(core, "new")
    refusal = S3Error("PreconditionFailed")
    with pytest.raises(S3Error) as e:
        async with core.transaction(new_blobs=[new]) as batch:
            batch.put(b"a", b"1")
            batch.discard_after([old])
            raise refusal
    assert e.value is refusal  # the refusal is the answer, unchanged
    assert watched(core).writes == []
    assert not await exists(core, new)
    assert await exists(core, old)  # still referenced: the commit did not happen
    assert not core.commit_lock.locked()


async def test_empty_batch_writes_nothing(core: Core) -> None:
    async with core.transaction():
        pass
    assert watched(core).writes == []


async def test_a_failed_write_keeps_the_new_blobs(core: Core) -> None:
    """The record may have reached disk: removing its blob could tear it."""
    old, new = await new_blob(core, "old"), await new_blob(core, "new")
    watched(core).fail = True
    with pytest.raises(OSError):
        async with core.transaction(new_blobs=[new]) as batch:
            batch.put(b"a", b"1")
            batch.discard_after([old])
    assert await exists(core, new)
    assert await exists(core, old)


async def test_a_failed_write_fails_the_store_until_it_restarts(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed batch may still be in LevelDB's log (unreadable now, replayed
    at the next open): from then on what reads see is not what a restart
    will see, so every later transaction is refused with 503 and the server
    is told to stop, once; the operator's log says why, once."""
    failures: list[BaseException] = []
    core.on_failure = failures.append
    watched(core).fail = True
    with caplog.at_level(logging.CRITICAL, logger="hamster.storage"):
        with pytest.raises(OSError):
            async with core.transaction() as batch:
                batch.put(b"a", b"1")
    assert len(failures) == 1 and isinstance(failures[0], OSError)
    assert core.failed is failures[0]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.CRITICAL,
            "metadata write failed (disk full): refusing writes; the server stops so that a "
            "restart replays the metadata log and recovers",
        )
    ]
    watched(core).fail = False
    new = await new_blob(core, "new")
    body_ran = False
    for _ in range(2):
        with pytest.raises(S3Error) as refused:
            async with core.transaction(new_blobs=[new]) as batch:
                body_ran = True
                batch.delete(b"a")
        assert refused.value.code == "ServiceUnavailable" and refused.value.status == 503
        assert refused.value.text == (
            "A metadata write failed; this server refuses writes until it restarts."
        )
    assert not body_ran
    assert len(watched(core).writes) == 1  # only the one that failed
    assert not await exists(core, new)  # refused before the write: its blob goes
    assert len(failures) == 1


async def test_cancelled_while_waiting_for_the_lock_removes_the_new_blobs(core: Core) -> None:
    new = await new_blob(core, "new")
    entered = False
    async with core.commit_lock:
        with trio.CancelScope() as scope:
            scope.cancel()
            async with core.transaction(new_blobs=[new]):
                entered = True
    assert not entered
    assert not await exists(core, new)
    assert watched(core).writes == []


async def test_cancellation_during_the_write_does_not_stop_it(core: Core) -> None:
    old = await new_blob(core, "old")
    gate, proceed = trio.Event(), trio.Event()
    inner_write = watched(core).inner.write

    async def slow_write(
        puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        gate.set()
        await proceed.wait()  # cancelled here unless shielded
        await inner_write(puts, deletes, sync=sync)

    watched(core).inner.write = slow_write  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:

        async def commit() -> None:
            async with core.transaction() as batch:
                batch.put(b"a", b"1")
                batch.discard_after([old])

        nursery.start_soon(commit)
        await gate.wait()
        nursery.cancel_scope.cancel()
        proceed.set()
    assert await core.meta.get(b"a") == b"1"
    assert not await exists(core, old)


async def test_a_metadata_store_out_of_space_is_storage_full_and_fails_the_store(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    """LevelDB refusing a batch for a full disk: the request gets StorageFull
    (507, not a 500 that SDKs retry), counted in the disk-full burst; the
    store still fails, as for any failed metadata write."""
    watched(core).fail = True
    watched(core).failure = StorageFull("metadata write", "meta", "[Errno 28] No space left")
    with caplog.at_level(logging.WARNING, logger="hamster.storage"):
        with pytest.raises(StorageFull):
            async with core.transaction() as batch:
                batch.put(b"a", b"1")
    assert core.failed is watched(core).failure
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.CRITICAL]
    assert caplog.records[0].getMessage().startswith(
        "disk full (metadata write meta: [Errno 28] No space left): refusing writes"
    )
