"""`Core.transaction`: the one commit path of every write (core.py's commit rule)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from hamster.s3.errors import S3Error
from hamster.storage.blobs import blob_path, tmp_path
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


async def placed_blob(core: Core, name: str) -> str:
    """A blob a committed record (of a test-only kind) points to, placed."""
    blob_id = await new_blob(core, name)
    async with core.transaction(new_blobs=[blob_id]) as batch:
        batch.put(b"x/" + blob_id.encode(), b"")
    watched(core).writes.clear()
    return blob_id


async def exists(core: Core, blob_id: str) -> bool:
    """Under either of its names (a new blob is in tmp/, a placed one in blobs/)."""
    return await core.fs.exists(blob_path(blob_id)) or await core.fs.exists(tmp_path(blob_id))


async def test_commit_writes_one_synced_batch_then_discards(core: Core) -> None:
    old, new = await placed_blob(core, "old"), await new_blob(core, "new")
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
    # Written after the lock is released (group commit: the next batches
    # are checked meanwhile), the removal after the write.
    # With the new blob's placing marker and the old one's removal marker,
    # and the deletion of the placing marker of the old one's own commit.
    assert watched(core).writes == [
        (
            [b"a", b"b", b"n/" + new.encode(), b"r/" + old.encode()],
            [b"gone", b"n/" + old.encode()],
            True,
            False,
        )
    ]
    assert await core.meta.get(b"a") == b"1" and await core.meta.get(b"gone") is None
    assert not await exists(core, old)
    assert await exists(core, new)
    assert removed_while_locked == [False]


async def test_refused_check_writes_nothing_and_removes_the_new_blobs(core: Core) -> None:
    old, new = await placed_blob(core, "old"), await new_blob(core, "new")
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
    old, new = await placed_blob(core, "old"), await new_blob(core, "new")
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
    old = await placed_blob(core, "old")
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


# --- group commit ----------------------------------------------------------------


class Gate:
    """Holds every metadata write of `core` until `release`; `started` is
    set when the first write waits."""

    def __init__(self, core: Core) -> None:
        self.started = trio.Event()
        self.open = trio.Event()
        self.returned: list[list[bytes]] = []
        inner_write = watched(core).inner.write

        async def gated_write(
            puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
        ) -> None:
            self.started.set()
            await self.open.wait()
            await inner_write(puts, deletes, sync=sync)
            self.returned.append([k for k, _ in puts] + list(deletes))

        watched(core).inner.write = gated_write  # type: ignore[method-assign]

    def release(self) -> None:
        self.open.set()


async def test_transactions_that_commit_while_a_write_is_in_flight_share_the_next_one(
    core: Core,
) -> None:
    """The first batch is written alone; the three that finish their checks
    meanwhile go in one synced write, and none of them returns before it."""
    gate = Gate(core)
    acked: list[tuple[str, int]] = []

    async def commit(name: str) -> None:
        async with core.transaction() as batch:
            batch.put(name.encode(), b"v")
        acked.append((name, len(gate.returned)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit, "a")
        await gate.started.wait()
        for name in ("b", "c", "d"):
            nursery.start_soon(commit, name)
        await trio.testing.wait_all_tasks_blocked()
        assert acked == [] and not core.commit_lock.locked()
        gate.release()
    assert [(sorted(w[0]), w[1]) for w in watched(core).writes] == [
        ([b"a"], []),
        ([b"b", b"c", b"d"], []),
    ]
    assert all(sync for _puts, _deletes, sync, _locked in watched(core).writes)
    # Each acknowledged only once the write holding its batch had returned.
    assert sorted(acked) == [("a", 1), ("b", 2), ("c", 2), ("d", 2)]


async def test_checks_under_the_lock_see_the_batches_not_yet_written(core: Core) -> None:
    """A second If-None-Match PUT of a key must see the first one, although
    its batch is still waiting for its write; readers outside the lock see
    only what is durable."""
    await core.meta.write([(b"k/old", b"0"), (b"k/gone", b"0")], [], sync=True)
    gate = Gate(core)
    seen: dict[str, object] = {}

    async def first() -> None:
        async with core.transaction() as batch:
            batch.put(b"k/new", b"1")
            batch.put(b"k/old", b"1")
            batch.delete(b"k/gone")

    async def second() -> None:
        async with core.transaction() as batch:
            seen["get"] = [await core.read(k) for k in (b"k/new", b"k/old", b"k/gone", b"k/x")]
            seen["scan"] = [kv async for kv in core.scan(b"k/")]
            seen["scan after"] = [kv async for kv in core.scan(b"k/", start_after=b"k/new")]
            seen["scan 1"] = [kv async for kv in core.scan(b"k/", limit=1)]
            batch.put(b"k/new", b"2")

    async def third() -> None:
        async with core.transaction():
            seen["third"] = await core.read(b"k/new")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        await gate.started.wait()
        nursery.start_soon(second)
        await trio.testing.wait_all_tasks_blocked()
        # Outside the lock: the durable state only.
        assert await core.read(b"k/new") is None
        assert [kv async for kv in core.scan(b"k/")] == [(b"k/gone", b"0"), (b"k/old", b"0")]
        nursery.start_soon(third)
        await trio.testing.wait_all_tasks_blocked()
        gate.release()
    assert seen["get"] == [b"1", b"1", None, None]
    assert seen["scan"] == [(b"k/new", b"1"), (b"k/old", b"1")]
    assert seen["scan after"] == [(b"k/old", b"1")]
    assert seen["scan 1"] == [(b"k/new", b"1")]
    assert seen["third"] == b"2"  # the newest pending batch wins
    assert await core.meta.get(b"k/new") == b"2"
    assert await core.meta.get(b"k/gone") is None


async def test_a_later_batch_in_one_group_overrides_an_earlier_one(core: Core) -> None:
    """One group's write holds each key's last change: a delete after a put
    deletes, a put after a delete puts (not "all puts, then all deletes")."""
    await core.meta.write([(b"p", b"0")], [], sync=True)
    watched(core).writes.clear()
    gate = Gate(core)

    async def commit(put: bytes | None, delete: bytes | None, value: bytes = b"v") -> None:
        async with core.transaction() as batch:
            if put is not None:
                batch.put(put, value)
            if delete is not None:
                batch.delete(delete)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit, b"first", None)
        await gate.started.wait()
        for put, delete in ((b"q", None), (None, b"q"), (None, b"p"), (b"p", None)):
            nursery.start_soon(commit, put, delete)
            await trio.testing.wait_all_tasks_blocked()
        gate.release()
    assert len(watched(core).writes) == 2
    assert await core.meta.get(b"p") == b"v"
    assert await core.meta.get(b"q") is None


async def test_a_failed_group_write_fails_every_member_and_refuses_the_next_group(
    core: Core,
) -> None:
    """Every member of the failed write gets its error and keeps its new
    blobs (its record may be in the log); a group formed meanwhile is never
    written: 503, blobs kept too (recovery decides after the restart)."""
    gate = Gate(core)
    blobs = [await new_blob(core, name) for name in ("a", "b")]
    outcomes: dict[str, str] = {}

    async def commit(name: str, blob_id: str | None) -> None:
        try:
            async with core.transaction(new_blobs=[blob_id] if blob_id else []) as batch:
                batch.put(name.encode(), b"v")
        except S3Error as error:
            outcomes[name] = error.code
        except OSError as error:
            outcomes[name] = str(error)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit, "a", blobs[0])
        await gate.started.wait()
        watched(core).fail = True
        nursery.start_soon(commit, "b", blobs[1])
        await trio.testing.wait_all_tasks_blocked()
        gate.release()
    # "a"'s write (already past the watcher) went through; "b"'s failed.
    assert outcomes == {"b": "disk full"}
    watched(core).fail = False
    watched(core).writes.clear()
    gate2 = Gate(core)
    gate2.release()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit, "c", None)
    assert outcomes["c"] == "ServiceUnavailable"
    assert watched(core).writes == []
    assert all([await exists(core, b) for b in blobs])


async def test_a_failed_write_answers_each_member_of_its_group(core: Core) -> None:
    """The second write (the group of b and c) fails: both get its error."""
    outcomes: list[str] = []
    inner_write = watched(core).inner.write
    hold = trio.Event()
    writes = 0

    async def held_then_second_fails(
        puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        nonlocal writes
        writes += 1
        if writes == 1:
            await hold.wait()
        if writes == 2:
            raise OSError("disk broke")
        await inner_write(puts, deletes, sync=sync)

    watched(core).inner.write = held_then_second_fails  # type: ignore[method-assign]

    async def commit(name: str) -> None:
        try:
            async with core.transaction() as batch:
                batch.put(name.encode(), b"v")
            outcomes.append(f"{name} ok")
        except OSError as error:
            outcomes.append(f"{name} {error}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(commit, "a")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(commit, "b")
        nursery.start_soon(commit, "c")
        await trio.testing.wait_all_tasks_blocked()
        hold.set()
    assert sorted(outcomes) == ["a ok", "b disk broke", "c disk broke"]
    assert writes == 2
    assert isinstance(core.failed, OSError)
