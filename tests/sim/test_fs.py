"""The crash model of sim.fs: what a crash keeps, what it may lose, and how.

Each test runs many seeds and checks both that nothing outside the model
happens (synced data never lost) and that each adversarial outcome the model
promises does happen for some seed (a model that never tears proves nothing).
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from hamster.runtime import Runtime
from hamster.storage import PutRequest, Store
from hamster.storage.fs import FileSystem
from sim.errors import SimCrash
from sim.fs import BLOCK_BYTES, Faults, SimDisk, SimFileSystem
from sim.meta import SimMetaDisk
from tests.storage.bodies import BytesBody
from tests.storage.conftest import make_runtime

SEEDS = range(100)


def pattern(n: int, tag: bytes = b"") -> bytes:
    """n position-dependent bytes, none of them zero (zeros mean "torn")."""
    raw = hashlib.shake_256(b"sim.fs" + tag).digest(n)
    return raw.replace(b"\x00", b"\x01")


async def write(fs: FileSystem, path: str, data: bytes, *, sync: bool = True) -> None:
    f = await fs.open_write(path)
    await f.write(data)
    if sync:
        await f.sync()
    await f.close()


async def read(fs: FileSystem, path: str) -> bytes:
    f = await fs.open_read(path)
    try:
        return await f.read_at(0, await f.size())
    finally:
        await f.close()


async def fresh(seed: int, faults: Faults | None = None) -> tuple[SimDisk, SimFileSystem]:
    disk = SimDisk(random.Random(seed), faults=faults)
    fs = disk.mount()
    await fs.makedirs("d")
    await fs.sync_dir("")
    return disk, fs


async def test_synced_and_dir_synced_files_survive_every_crash() -> None:
    kept = pattern(3 * BLOCK_BYTES + 100, b"kept")
    moved = pattern(2 * BLOCK_BYTES + 7, b"moved")
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        await fs.makedirs("tmp")
        await fs.sync_dir("")
        await write(fs, "d/kept", kept)
        await fs.sync_dir("d")
        # The store's way: a synced temp file renamed into place, then the
        # destination directory synced.
        await write(fs, "tmp/moved", moved)
        await fs.rename("tmp/moved", "d/moved")
        await fs.sync_dir("d")
        # Unsynced noise around them, so the crash has decisions to make.
        await write(fs, "d/noise", pattern(5000, b"noise"), sync=False)
        await fs.remove("d/kept", missing_ok=True) if seed % 7 == 0 else None
        disk.crash()
        fs = disk.mount()
        if seed % 7 != 0:
            assert await read(fs, "d/kept") == kept, seed
        assert await read(fs, "d/moved") == moved, seed


async def test_unsynced_tail_is_lost_kept_truncated_or_torn_at_4k_blocks() -> None:
    synced_bytes = 5000
    data = pattern(synced_bytes + 5 * BLOCK_BYTES + 123, b"tail")
    seen: set[str] = set()
    torn_with_a_hole_inside = False
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        f = await fs.open_write("d/f")
        await f.write(data[:synced_bytes])
        await f.sync()
        await f.write(data[synced_bytes:])
        await f.close()
        await fs.sync_dir("d")
        disk.crash()
        got = disk.files()["d/f"]
        assert len(got) >= synced_bytes and got[:synced_bytes] == data[:synced_bytes], seed
        if got == data[:synced_bytes]:
            seen.add("lost")
        elif got == data:
            seen.add("kept")
        elif got == data[: len(got)]:
            seen.add("prefix")
        else:
            seen.add("torn")
            # Every 4 KiB block (aligned to offset 0) of the tail is either
            # wholly the new bytes or wholly zeros.
            kinds = []
            for start in range(0, len(got), BLOCK_BYTES):
                lo, hi = max(start, synced_bytes), min(start + BLOCK_BYTES, len(got))
                if lo >= hi:
                    continue
                block = got[lo:hi]
                assert block in (data[lo:hi], bytes(hi - lo)), (seed, start)
                kinds.append(block == data[lo:hi])
            assert len(got) == len(data) or len(got) % BLOCK_BYTES == 0, seed
            if False in kinds and True in kinds[kinds.index(False) :]:
                torn_with_a_hole_inside = True
    assert seen == {"lost", "kept", "prefix", "torn"}
    assert torn_with_a_hole_inside


async def test_unsynced_create_can_vanish_and_synced_data_under_it_stays_whole() -> None:
    data = pattern(1000, b"create")
    outcomes: set[bool] = set()
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        await fs.sync_dir("d")
        await write(fs, "d/f", data)  # data synced, name not
        disk.crash()
        fs = disk.mount()
        present = await fs.exists("d/f")
        outcomes.add(present)
        if present:
            assert await read(fs, "d/f") == data, seed
    assert outcomes == {True, False}


async def test_unsynced_directory_vanishes_with_its_contents() -> None:
    data = pattern(100, b"dir")
    outcomes: set[tuple[bool, bool]] = set()
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        await fs.makedirs("a/b")
        await write(fs, "a/b/f", data)
        await fs.sync_dir("a/b")  # b's entries durable, a's and the root's not
        disk.crash()
        fs = disk.mount()
        a, f = await fs.exists("a"), await fs.exists("a/b/f")
        outcomes.add((a, f))
        if f:
            assert await read(fs, "a/b/f") == data
    assert (False, False) in outcomes and (True, True) in outcomes


async def test_rename_can_be_kept_without_the_data_it_points_to() -> None:
    data = pattern(3 * BLOCK_BYTES, b"rename")
    short = 0
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        await fs.makedirs("tmp")
        await fs.sync_dir("")
        await write(fs, "tmp/x", data, sync=False)  # the bug: no fsync before rename
        await fs.rename("tmp/x", "d/x")
        await fs.sync_dir("d")
        disk.crash()
        files = disk.files()
        assert "d/x" in files, seed  # the name is durable
        if files["d/x"] != data:
            short += 1
    assert short > 0


async def test_cross_directory_rename_is_resolved_in_each_directory() -> None:
    data = pattern(10, b"cross")
    outcomes: set[tuple[bool, bool]] = set()
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        await fs.makedirs("e")
        await fs.sync_dir("")
        await write(fs, "d/x", data)
        await fs.sync_dir("d")
        await fs.rename("d/x", "e/x")
        disk.crash()
        files = disk.files()
        outcomes.add(("d/x" in files, "e/x" in files))
        assert all(v == data for v in files.values())
    assert outcomes == {(True, True), (True, False), (False, True), (False, False)}


async def test_rename_within_a_directory_keeps_one_name() -> None:
    data = pattern(10, b"within")
    outcomes: set[tuple[bool, bool]] = set()
    for seed in SEEDS:
        disk, fs = await fresh(seed)
        await write(fs, "d/x", data)
        await fs.sync_dir("d")
        await fs.rename("d/x", "d/y")
        disk.crash()
        files = disk.files()
        outcomes.add(("d/x" in files, "d/y" in files))
    assert outcomes == {(True, False), (False, True)}


async def test_remove_is_undone_by_a_crash_unless_the_directory_was_synced() -> None:
    data = pattern(10, b"remove")
    back: set[bool] = set()
    for seed in SEEDS:
        for sync_after in (False, True):
            disk, fs = await fresh(seed)
            await write(fs, "d/x", data)
            await fs.sync_dir("d")
            await fs.remove("d/x")
            if sync_after:
                await fs.sync_dir("d")
            disk.crash()
            files = disk.files()
            if sync_after:
                assert "d/x" not in files, seed
            else:
                back.add("d/x" in files)
                assert files.get("d/x", data) == data
    assert back == {True, False}


async def test_open_file_keeps_its_inode_after_remove() -> None:
    _disk, fs = await fresh(0)
    data = pattern(10, b"held")
    await write(fs, "d/x", data)
    held = await fs.open_read("d/x")
    await fs.remove("d/x")
    await write(fs, "d/x", pattern(10, b"other"))
    assert await held.read_at(0, 10) == data
    await held.close()


async def test_failed_fsync_loses_the_unsynced_data_for_good() -> None:
    data = pattern(2 * BLOCK_BYTES, b"fsync")
    for seed in SEEDS:
        faults = Faults()
        disk, fs = await fresh(seed, faults)
        f = await fs.open_write("d/f")
        await f.write(data)
        faults.eio_fsync = 1.0
        with pytest.raises(OSError) as e:
            await f.sync()
        assert e.value.errno == errno.EIO
        faults.enabled = False
        r = await fs.open_read("d/f")
        assert await r.read_at(0, len(data)) == data  # still in the page cache
        await r.close()
        await f.sync()  # succeeds, as on Linux, but the pages were dropped
        await f.close()
        await fs.sync_dir("d")
        disk.crash()
        assert disk.files()["d/f"] == bytes(len(data)), seed


async def test_dead_mount_and_its_files_raise_simcrash() -> None:
    disk, fs = await fresh(0)
    await write(fs, "d/r", b"r")
    w = await fs.open_write("d/w")
    r = await fs.open_read("d/r")
    disk.crash()
    calls = [
        lambda: fs.open_write("d/new"),
        lambda: fs.open_read("d/r"),
        lambda: fs.rename("d/r", "d/s"),
        lambda: fs.remove("d/r"),
        lambda: fs.sync_dir("d"),
        lambda: fs.makedirs("x"),
        lambda: fs.listdir("d"),
        lambda: fs.exists("d"),
        lambda: w.write(b"x"),
        lambda: w.sync(),
        lambda: w.close(),
        lambda: r.read_at(0, 1),
        lambda: r.size(),
        lambda: r.close(),
    ]
    for call in calls:
        with pytest.raises(SimCrash):
            await call()
    # SimCrash is no Exception: the store's `except Exception` cannot eat it.
    assert not issubclass(SimCrash, Exception)
    # A new mount sees the surviving state; mounting again kills it too.
    fs2 = disk.mount()
    assert await fs2.exists("d/r")
    disk.mount()
    with pytest.raises(SimCrash):
        await fs2.exists("d/r")


async def test_before_op_sees_every_operation_and_can_crash_it() -> None:
    disk, fs = await fresh(0)
    seen: list[tuple[str, str]] = []
    disk.before_op = lambda op, path: seen.append((op, path))
    await write(fs, "d/a", b"a")
    await fs.rename("d/a", "d/b")
    assert seen == [
        ("open_write", "d/a"),
        ("write", "d/a"),
        ("sync", "d/a"),
        ("close", "d/a"),
        ("rename", "d/a -> d/b"),
    ]

    def crash_at_rename(op: str, path: str) -> None:
        if op == "rename":
            disk.crash()

    disk.before_op = crash_at_rename
    with pytest.raises(SimCrash):
        await fs.rename("d/b", "d/c")
    assert "d/c" not in disk.files()


async def test_crash_while_an_operation_waits_applies_nothing(
    mock_clock: trio.testing.MockClock,
) -> None:
    faults = Faults()
    disk, fs = await fresh(0, faults)
    await write(fs, "d/a", b"a")
    await fs.sync_dir("d")
    faults.slow = 1.0
    async with trio.open_nursery() as nursery:

        async def rename() -> None:
            with pytest.raises(SimCrash):
                await fs.rename("d/a", "d/b")

        nursery.start_soon(rename)
        await trio.testing.wait_all_tasks_blocked()  # in its slow wait
        disk.crash()
        mock_clock.jump(faults.slow_max_s)
    assert disk.files() == {"d/a": b"a"}


async def test_every_operation_checkpoints() -> None:
    _disk, fs = await fresh(0)
    with trio.testing.assert_checkpoints():
        f = await fs.open_write("d/a")
    for op in (lambda: f.write(b"x"), f.sync, f.close):
        with trio.testing.assert_checkpoints():
            await op()
    r = await fs.open_read("d/a")
    for op2 in (lambda: r.read_at(0, 1), r.size, r.close):
        with trio.testing.assert_checkpoints():
            await op2()
    for op3 in (
        lambda: fs.rename("d/a", "d/b"),
        lambda: fs.remove("d/b"),
        lambda: fs.sync_dir("d"),
        lambda: fs.makedirs("e"),
        lambda: fs.listdir(""),
        lambda: fs.exists("e"),
    ):
        with trio.testing.assert_checkpoints():
            await op3()


async def test_faults_surface_as_oserror_with_their_errno() -> None:
    faults = Faults()
    _disk, fs = await fresh(0, faults)
    await write(fs, "d/r", b"readable")
    w = await fs.open_write("d/w")

    async def fails(code: int, call: object) -> None:
        assert callable(call)
        with pytest.raises(OSError) as e:
            await call()
        assert e.value.errno == code

    faults.enospc = 1.0
    await fails(errno.ENOSPC, lambda: fs.open_write("d/new"))
    await fails(errno.ENOSPC, lambda: w.write(b"data"))
    faults.enospc = 0.0
    faults.eio_write = 1.0
    await fails(errno.EIO, lambda: w.write(b"data"))
    faults.eio_write = 0.0
    faults.eio_fsync = 1.0
    await fails(errno.EIO, w.sync)
    await fails(errno.EIO, lambda: fs.sync_dir("d"))
    faults.eio_fsync = 0.0
    r = await fs.open_read("d/r")
    faults.eio_read = 1.0
    await fails(errno.EIO, lambda: r.read_at(0, 8))
    faults.enabled = False  # every switch off at once
    assert await r.read_at(0, 8) == b"readable"
    await w.write(b"ok")
    assert not await fs.exists("d/new")


async def test_slow_operations_take_mock_time(autojump_clock: trio.testing.MockClock) -> None:
    _disk, fs = await fresh(0, Faults(slow=1.0, slow_max_s=5.0))
    before = trio.current_time()
    await fs.exists("d")
    assert 0.0 < trio.current_time() - before <= 5.0


async def test_inodes_no_crash_can_reach_are_dropped_and_the_rest_kept() -> None:
    came_back = came_back_ghost = False
    for seed in range(8):
        disk, fs = await fresh(seed)
        await fs.makedirs("c")
        await fs.makedirs("g")
        await fs.sync_dir("")
        for i in range(40):
            await write(fs, f"d/f{i}", pattern(100, b"%d" % i))
        await fs.sync_dir("d")
        for i in range(0, 40, 2):
            await fs.remove(f"d/f{i}")  # d is not synced again: a crash may undo it
        await write(fs, "g/ghost", pattern(100, b"ghost"))  # named only by g's pending ops
        await fs.remove("g/ghost")
        await write(fs, "c/held", pattern(100, b"held"))
        held = await fs.open_read("c/held")
        await fs.remove("c/held")
        await fs.sync_dir("c")  # gone for good, but still open
        for _ in range(1000):
            await write(fs, "c/churn", pattern(10, b"churn"))
            await fs.remove("c/churn")
            await fs.sync_dir("c")
        assert len(disk._inodes) < 200  # the churned inodes do not pile up
        assert await held.read_at(0, 100) == pattern(100, b"held")
        disk.crash()
        files = disk.files()
        for i in range(40):
            if i % 2 == 0 and f"d/f{i}" in files:
                came_back = True
            assert files.get(f"d/f{i}", pattern(100, b"%d" % i)) == pattern(100, b"%d" % i)
        ghost = files.pop("g/ghost", None)
        assert ghost in (None, pattern(100, b"ghost"))
        came_back_ghost = came_back_ghost or ghost is not None
        assert [p for p in files if not p.startswith("d/f")] == []
    assert came_back and came_back_ghost


async def workload(seed: int) -> tuple[list[str], dict[str, bytes]]:
    """A run with faults and two crashes; returns its trace and final files."""
    lines: list[str] = []
    faults = Faults(eio_read=0.1, eio_write=0.1, eio_fsync=0.1, enospc=0.05)
    disk = SimDisk(random.Random(seed), faults=faults, trace=lines.append)
    for round_ in range(3):
        fs = disk.mount()
        for i in range(12):
            path = f"d{i % 3}/f{(i * 7 + round_) % 5}"
            try:
                await fs.makedirs(path.split("/")[0])
                await write(fs, path, pattern(i * 1500 + round_, path.encode()), sync=i % 2 == 0)
                if i % 3 == 0:
                    await fs.sync_dir(path.split("/")[0])
                if i % 4 == 1:
                    await fs.rename(path, f"d{(i + 1) % 3}/moved{i}")
                if i % 5 == 2:
                    await fs.remove(path, missing_ok=True)
            except OSError as e:
                lines.append(f"test saw {e.errno}")
        disk.crash()
    return lines, disk.files()


async def test_same_seed_same_run() -> None:
    first = await workload(7)
    assert await workload(7) == first
    assert any(line.startswith("crash file") for line in first[0])
    assert any(" EIO" in line for line in first[0])
    others = [(await workload(seed))[0] for seed in (8, 9)]
    assert any(other != first[0] for other in others)


def test_same_seed_same_run_in_fresh_processes_with_other_hash_seeds() -> None:
    script = (
        "import hashlib, trio\n"
        "from tests.sim.test_fs import workload\n"
        "lines, files = trio.run(workload, 3)\n"
        "print(hashlib.sha256(repr((lines, sorted(files.items()))).encode()).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    digests = set()
    # Several hash seeds: two may order a small set alike by chance.
    for hash_seed in ("0", "1", "3", "4"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=root, env=env, check=True, capture_output=True
        )
        digests.add(out.stdout)
    assert len(digests) == 1


async def test_store_puts_and_recovers_on_the_sim_disk() -> None:
    """The real store on the simulated disk and metadata: an acknowledged PUT
    survives a crash, and recovery clears what an unfinished write left."""
    body = pattern(300_000, b"store")
    for seed in range(10):
        disk = SimDisk(random.Random(seed))
        meta = SimMetaDisk(random.Random(seed))
        runtime: Runtime = make_runtime()
        store = await Store.open("", runtime, fs=disk.mount(), meta=meta.open())
        await store.create_bucket("bk", "owner", "us-east-1")
        info = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(body))
        stray = await store.fs.open_write("tmp/" + "f" * 32)
        await stray.write(b"half")
        disk.crash()
        meta.crash()
        store = await Store.open("", runtime, fs=disk.mount(), meta=meta.open())
        try:
            assert store.recovery.missing == []
            assert await store.fs.listdir("tmp") == []
            async with await store.open_object("bk", "k") as reader:
                assert reader.info.etag == info.etag
                got = b"".join([c async for c in reader.stream(0, reader.info.size)])
            assert got == body, seed
        finally:
            await store.close()


async def crash_write_file_at(
    seed: int, at: int, data: bytes, *, sync: bool
) -> tuple[int, bytes | None]:
    """`write_file` of tmp/w to d/w, crashed at its `at`-th operation (or not
    at all if it has fewer): how many operations it made, and what d/w
    holds after the crash (None: no such name)."""
    disk, fs = await fresh(seed)
    await fs.makedirs("tmp")
    await fs.sync_dir("")
    ops: list[str] = []

    def crash_at(op: str, path: str) -> None:
        ops.append(op)
        if len(ops) == at:
            disk.crash()

    disk.before_op = crash_at
    try:
        await fs.write_file("tmp/w", data, rename_to="d/w", sync=sync, sync_dir=sync)
    except SimCrash:
        pass
    disk.before_op = None
    disk.crash()
    fs = disk.mount()
    return len(ops), await read(fs, "d/w") if await fs.exists("d/w") else None


async def test_write_file_cut_at_any_step_leaves_the_whole_file_or_no_name() -> None:
    """The combined write is its steps, each its own crash point: cut after
    any of them, the new name holds all the synced bytes or is absent; once
    it has returned the file is there. Without its syncs, a crash may keep
    the name with bytes lost (what the planted skip-*-fsync bugs rely on)."""
    data = pattern(2 * BLOCK_BYTES + 11, b"write_file")
    steps, _ = await crash_write_file_at(0, 0, data, sync=True)
    assert steps == 6  # open_write, write, sync, close, rename, sync_dir
    outcomes = set()
    for seed in SEEDS:
        for at in range(1, steps + 2):
            _, found = await crash_write_file_at(seed, at, data, sync=True)
            assert found in (None, data), (seed, at)
            if at > steps:
                assert found == data, seed
            outcomes.add(found is None)
    assert outcomes == {True, False}
    torn = False
    for seed in SEEDS:
        _, found = await crash_write_file_at(seed, 99, data, sync=False)
        torn = torn or found not in (None, data)
    assert torn
