"""The crash model of sim.meta: LevelDB's guarantees, and no more.

Synced batches (and everything before them) survive; unsynced ones are lost
as a suffix; a batch is all or nothing. Each test runs many seeds, checks
nothing outside the model happens, and that each allowed outcome does.
"""

from __future__ import annotations

import errno
import random

import pytest
import trio
import trio.testing

from sim.errors import SimCrash
from sim.meta import MetaFaults, SimMetaDisk, SimMetaStore

SEEDS = range(100)


def batch(i: int) -> list[tuple[bytes, bytes]]:
    """Batch i: its own three keys, and b"last" = i (to tell how many survived)."""
    own = [(b"b%02d/%d" % (i, j), b"%d.%d" % (i, j)) for j in range(3)]
    return [*own, (b"last", b"%d" % i)]


def survivors(disk: SimMetaDisk, count: int) -> list[int]:
    """Which of batches 0..count-1 survived (each must be whole or absent)."""
    items = dict(disk.items())
    out = []
    for i in range(count):
        present = [key in items for key, _value in batch(i)[:3]]
        assert all(present) or not any(present), f"batch {i} torn: {present}"
        if all(present):
            out.append(i)
    return out


async def test_unsynced_batches_are_lost_as_a_suffix() -> None:
    kept_counts: set[int] = set()
    for seed in SEEDS:
        disk = SimMetaDisk(random.Random(seed))
        meta = disk.open()
        await meta.write(batch(0), [], sync=True)
        for i in range(1, 6):
            await meta.write(batch(i), [], sync=False)
        disk.crash()
        alive = survivors(disk, 6)
        assert alive == list(range(len(alive))), (seed, alive)  # a prefix
        assert dict(disk.items())[b"last"] == b"%d" % alive[-1]
        kept_counts.add(len(alive))
    assert kept_counts == {1, 2, 3, 4, 5, 6}


async def test_a_synced_write_makes_every_earlier_batch_durable() -> None:
    tail_kept: set[bool] = set()
    for seed in SEEDS:
        disk = SimMetaDisk(random.Random(seed))
        meta = disk.open()
        for i in range(3):
            await meta.write(batch(i), [], sync=False)
        await meta.write(batch(3), [], sync=True)
        await meta.write(batch(4), [], sync=False)
        disk.crash()
        alive = survivors(disk, 5)
        assert alive[:4] == [0, 1, 2, 3], seed
        tail_kept.add(alive == [0, 1, 2, 3, 4])
    assert tail_kept == {True, False}


async def test_batches_with_deletes_are_atomic() -> None:
    outcomes: set[tuple[bool, bool]] = set()
    for seed in SEEDS:
        disk = SimMetaDisk(random.Random(seed))
        meta = disk.open()
        await meta.write([(b"a", b"1"), (b"b", b"2")], [], sync=True)
        # A swap: the new record appears exactly when the old ones go.
        await meta.write([(b"c", b"3")], [b"a", b"b"], sync=False)
        await meta.write([(b"a", b"4")], [b"c"], sync=False)
        disk.crash()
        state = dict(disk.items())
        assert state in ({b"a": b"1", b"b": b"2"}, {b"c": b"3"}, {b"a": b"4"}), (seed, state)
        outcomes.add((b"c" in state, state.get(b"a") == b"4"))
    assert outcomes == {(False, False), (True, False), (False, True)}


async def test_reopen_without_a_crash_replays_the_log_durably() -> None:
    """A process restart (no power loss) keeps the log in the page cache;
    LevelDB's open replays it into a synced table: then a crash keeps it."""
    for seed in range(20):
        disk = SimMetaDisk(random.Random(seed))
        meta = disk.open()
        await meta.write(batch(0), [], sync=False)
        disk.open()  # a process restart: the page cache survives
        with pytest.raises(SimCrash):
            await meta.get(b"last")
        assert survivors(disk, 1) == [0]
        disk.crash()
        assert survivors(disk, 1) == [0], seed


async def test_failed_write_is_invisible_but_may_be_in_the_log() -> None:
    """LevelDB's DBImpl::Write: a failed batch is not in the memtable (reads
    do not see it), but its log record may show up when the DB is reopened;
    always wholly or not at all."""
    outcomes: set[str] = set()
    for seed in SEEDS:
        faults = MetaFaults(write_eio=1.0)
        disk = SimMetaDisk(random.Random(seed), faults=faults)
        meta = disk.open()
        with pytest.raises(OSError) as e:
            await meta.write(batch(0), [], sync=True)
        assert e.value.errno == errno.EIO
        assert await meta.get(b"last") is None
        assert survivors(disk, 1) == []
        faults.enabled = False
        reopened = disk.open()  # a restart replays the log
        logged = await reopened.get(b"last") is not None
        assert survivors(disk, 1) == ([0] if logged else [])  # raises if torn
        disk.crash()
        # The reopen replayed the log into a synced table: a crash keeps it.
        after = survivors(disk, 1) == [0]
        assert logged == after
        outcomes.add(f"{logged}/{after}")
    assert outcomes == {"False/False", "True/True"}


async def test_failed_write_in_the_log_may_be_lost_by_a_crash() -> None:
    """Without a reopen in between, the failed batch's log record was never
    synced: a crash keeps it or loses it."""
    outcomes: set[bool] = set()
    for seed in SEEDS:
        disk = SimMetaDisk(random.Random(seed), faults=MetaFaults(write_eio=1.0))
        meta = disk.open()
        with pytest.raises(OSError):
            await meta.write(batch(0), [], sync=True)
        disk.crash()
        outcomes.add(survivors(disk, 1) == [0])
    assert outcomes == {True, False}


async def test_faults_switch_off() -> None:
    faults = MetaFaults(write_eio=1.0)
    disk = SimMetaDisk(random.Random(0), faults=faults)
    meta = disk.open()
    faults.enabled = False
    await meta.write(batch(0), [], sync=True)
    disk.crash()
    assert survivors(disk, 1) == [0]


async def test_dead_view_raises_simcrash_on_every_call() -> None:
    disk = SimMetaDisk(random.Random(0))
    meta = disk.open()
    await meta.write(batch(0), [], sync=True)
    disk.crash()
    with pytest.raises(SimCrash):
        await meta.get(b"last")
    with pytest.raises(SimCrash):
        await meta.write(batch(1), [], sync=True)
    with pytest.raises(SimCrash):
        [kv async for kv in meta.scan(b"")]
    with pytest.raises(SimCrash):
        await meta.close()
    fresh = disk.open()
    assert await fresh.get(b"last") == b"0"
    await fresh.close()


async def test_crash_during_a_scan_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from hamster.storage import meta as meta_module

    monkeypatch.setattr(meta_module, "SCAN_BATCH_ENTRIES", 2)
    disk = SimMetaDisk(random.Random(0))
    meta = disk.open()
    await meta.write([(b"k%d" % i, b"") for i in range(5)], [], sync=True)
    seen = []
    with pytest.raises(SimCrash):
        async for key, _value in meta.scan(b"k"):
            seen.append(key)
            if len(seen) == 1:
                disk.crash()
    assert seen == [b"k0"]


async def test_before_op_sees_each_call_and_can_crash_it() -> None:
    disk = SimMetaDisk(random.Random(0))
    meta = disk.open()
    calls: list[tuple[str, bytes]] = []
    disk.before_op = lambda op, key: calls.append((op, key))
    await meta.write([(b"x", b"1")], [b"y"], sync=True)
    await meta.get(b"x")
    [kv async for kv in meta.scan(b"x")]
    assert calls == [("write", b"x"), ("sync", b"x"), ("get", b"x"), ("scan", b"x")]

    def crash_at_write(op: str, key: bytes) -> None:
        if op == "write":
            disk.crash()

    disk.before_op = crash_at_write
    with pytest.raises(SimCrash):
        await meta.write([(b"z", b"2")], [], sync=True)
    assert disk.items() == [(b"x", b"1")]


async def crash_between_append_and_sync(seed: int) -> tuple[list[bytes | None], list[int]]:
    """Batch 0 synced, batch 1 not, batch 2 synced with a crash at its sync:
    what reads saw of b"last" at the crash, and which batches survived."""
    disk = SimMetaDisk(random.Random(seed))
    meta = disk.open()
    await meta.write(batch(0), [], sync=True)
    await meta.write(batch(1), [], sync=False)
    seen_before_sync: list[bytes | None] = []

    def crash_at_sync(op: str, key: bytes) -> None:
        if op == "sync":
            seen_before_sync.append(dict(disk.items()).get(b"last"))
            disk.crash()

    disk.before_op = crash_at_sync
    with pytest.raises(SimCrash):
        await meta.write(batch(2), [], sync=True)
    return seen_before_sync, survivors(disk, 3)


async def test_a_crash_between_a_synced_batch_and_its_sync_may_keep_it_or_not() -> None:
    """A synced write is an append to the log, then the log's fsync: a crash
    in between (its writer unanswered) keeps the batch or loses it, whole,
    with the unsynced batches before it kept as a prefix; until the sync
    the batch is not readable."""
    outcomes = set()
    for seed in SEEDS:
        seen_before_sync, kept = await crash_between_append_and_sync(seed)
        assert seen_before_sync == [b"1"]  # batch 2 is logged, not readable
        assert kept in ([0], [0, 1], [0, 1, 2])
        outcomes.add(len(kept))
    assert outcomes == {1, 2, 3}


async def test_a_synced_write_takes_mock_time_and_serialises_writers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    disk = SimMetaDisk(random.Random(3), sync_max_s=0.01)
    meta = disk.open()
    order: list[str] = []

    async def write(name: str) -> None:
        await meta.write([(name.encode(), b"v")], [], sync=True)
        order.append(name)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(write, "a")
        nursery.start_soon(write, "b")
    assert sorted(order) == ["a", "b"]
    assert 0.0 < trio.current_time() - start <= 0.02
    assert dict(disk.items()) == {b"a": b"v", b"b": b"v"}


async def test_every_call_checkpoints() -> None:
    disk = SimMetaDisk(random.Random(0))
    meta: SimMetaStore = disk.open()
    with trio.testing.assert_checkpoints():
        await meta.write([(b"a", b"1")], [], sync=False)
    with trio.testing.assert_checkpoints():
        await meta.get(b"a")
    with trio.testing.assert_checkpoints():
        [kv async for kv in meta.scan(b"")]
    with trio.testing.assert_checkpoints():
        await meta.close()


async def workload(seed: int) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    lines: list[str] = []
    disk = SimMetaDisk(random.Random(seed), faults=MetaFaults(write_eio=0.1), trace=lines.append)
    for round_ in range(4):
        meta = disk.open()
        for i in range(10):
            try:
                await meta.write(
                    [(b"k%d" % ((i * 3 + round_) % 7), b"%d.%d" % (round_, i))],
                    [b"k%d" % ((i + round_) % 5)],
                    sync=i % 4 == 0,
                )
            except OSError:
                lines.append("test saw EIO")
        lines.append(repr([k async for k, _v in meta.scan(b"k")]))
        disk.crash()
    return lines, disk.items()


async def test_same_seed_same_run() -> None:
    first = await workload(5)
    assert await workload(5) == first
    assert any(line.startswith("crash meta keeps") for line in first[0])
    others = [await workload(seed) for seed in (6, 7)]
    assert any(other != first for other in others)
