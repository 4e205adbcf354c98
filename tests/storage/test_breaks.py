"""The fault switches (hamster.runtime.BREAKS): each really plants its bug.

These are the only tests outside the simulator that turn a switch on. Each
runs the same operation with the switch off and on, through recording
wrappers of the filesystem and metadata interfaces, and shows the durability
step the switch removes or reorders.
"""

from __future__ import annotations

import errno
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from hamster.runtime import BREAKS, Runtime
from hamster.storage import PutRequest, Store
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, blob_dir, blob_path, tmp_path
from hamster.storage.core import Core
from hamster.storage.errors import DiskFault
from hamster.storage.fs import FileSystem, RealFileSystem, WritableFile
from hamster.storage.meta import LevelDBMetaStore, MetaStore

from .bodies import BytesBody
from .conftest import CountingEntropy, FixedClock
from .test_write_order import MetaWrapper, RecordingFile, RecordingFS, RecordingMeta

HAMSTER_DIR = Path(__file__).resolve().parents[2] / "hamster"


def runtime(*breaks: str) -> Runtime:
    return Runtime(clock=FixedClock(), entropy=CountingEntropy(), breaks=frozenset(breaks))


def data(label: str, size: int = 200_000) -> bytes:
    return hashlib.shake_256(label.encode()).digest(size)


async def open_store(
    data_dir: Path, log: list[str], rt: Runtime, fs: FileSystem | None = None
) -> Store:
    (data_dir / "meta").mkdir(parents=True)
    recording = RecordingFS(fs if fs is not None else RealFileSystem(str(data_dir)), log)
    meta = RecordingMeta(await LevelDBMetaStore.open(str(data_dir / "meta")), log)
    return await Store.open(str(data_dir), rt, fs=recording, meta=meta, inline_max_bytes=0)


async def overwrite(data_dir: Path, *breaks: str) -> tuple[list[str], str, str]:
    """Put bk/k, then overwrite it; the log of the overwrite, the old blob
    id and the new one."""
    log: list[str] = []
    store = await open_store(data_dir, log, runtime(*breaks))
    try:
        await store.create_bucket("bk", "owner", "us-east-1")
        first = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(data("first")))
        log.clear()
        second = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(data("second")))
        async with await store.open_object("bk", "k") as reader:
            assert b"".join([c async for c in reader.stream(0, reader.info.size)]) == data("second")
    finally:
        await store.close()
    return [e for e in log if not e.startswith("write ")], first.blob_id, second.blob_id


def test_known_switches() -> None:
    assert BREAKS == (
        "skip-blob-fsync",
        "ack-before-sync",
        "skip-dir-fsync",
        "delete-before-swap",
        "ignore-fsync-error",
        "ack-on-earlier-write",
        "recovery-drops-placed",
        "unlink-tmp-before-sync",
        "unrecorded-removal",
        "inline-unsynced",
    )
    assert Runtime().breaks == frozenset()
    everything = Runtime(breaks=frozenset(BREAKS))
    assert all(everything.broken(name) for name in BREAKS)
    assert not any(Runtime().broken(name) for name in BREAKS)


@pytest.mark.parametrize(
    "breaks", [frozenset({"skip-fsync"}), frozenset({"skip-blob-fsync", "Skip-Dir-Fsync"})]
)
def test_unknown_switch_is_refused(breaks: frozenset[str]) -> None:
    with pytest.raises(ValueError, match="unknown fault switch"):
        Runtime(breaks=breaks)


def test_a_string_is_not_a_set_of_switches() -> None:
    with pytest.raises(ValueError, match="unknown fault switch"):
        Runtime(breaks="skip-blob-fsync")  # type: ignore[arg-type]


def test_only_the_runtime_names_the_switches() -> None:
    """Nothing in hamster/ turns a switch on: they are the simulator's."""
    for path in sorted(HAMSTER_DIR.rglob("*.py")):
        if path.name == "runtime.py" and path.parent == HAMSTER_DIR:
            continue
        assert "breaks" not in path.read_text(), path


def batch(new: str, old: str) -> str:
    """The overwrite's batch: record, placing and removal markers, and the
    first PUT's placing marker deleted."""
    return f"b'o/bk\\x00k,n/{new},r/{old},n/{old}'"


async def test_no_switch_is_the_durable_order(tmp_path: Path) -> None:
    log, old, new = await overwrite(tmp_path / "d")
    assert log == [
        f"create {tmp_path_of(new)}",
        f"sync {tmp_path_of(new)}",
        "sync_dir tmp",
        f"meta sync {batch(new, old)}",
        f"remove {blob_path(old)}",
        f"link {tmp_path_of(new)} {blob_path(new)}",
        f"sync_dir {blob_dir(new)}",
        f"remove {tmp_path_of(new)}",
        # close: the markers the placement and the removal are done with.
        f"meta sync b'n/{new},r/{old},n/{old}'",
    ]


async def test_skip_blob_fsync(tmp_path: Path) -> None:
    log, _old, new = await overwrite(tmp_path / "d", "skip-blob-fsync")
    assert f"sync {tmp_path_of(new)}" not in log
    assert log[:2] == [f"create {tmp_path_of(new)}", "sync_dir tmp"]


async def test_ack_before_sync(tmp_path: Path) -> None:
    log, old, new = await overwrite(tmp_path / "d", "ack-before-sync")
    assert f"meta nosync {batch(new, old)}" in log
    assert [e for e in log if e.startswith("meta sync")] == [  # only close's
        f"meta sync b'n/{new},r/{old},n/{old}'"
    ]


async def test_skip_dir_fsync(tmp_path: Path) -> None:
    log, _old, new = await overwrite(tmp_path / "d", "skip-dir-fsync")
    assert not [e for e in log if e.startswith("sync_dir")]
    assert f"link {tmp_path_of(new)} {blob_path(new)}" in log


async def test_unlink_tmp_before_sync(tmp_path: Path) -> None:
    log, _old, new = await overwrite(tmp_path / "d", "unlink-tmp-before-sync")
    assert log.index(f"remove {tmp_path_of(new)}") < log.index(f"sync_dir {blob_dir(new)}")


async def test_unrecorded_removal(tmp_path: Path) -> None:
    log, old, new = await overwrite(tmp_path / "d", "unrecorded-removal")
    assert f"meta sync b'o/bk\\x00k,n/{new},n/{old}'" in log


async def test_recovery_drops_placed(tmp_path: Path) -> None:
    """A committed blob still in tmp/ (its placing marker durable): recovery
    links it into blobs/, unless switched on (then it is removed)."""
    for breaks, kept in (((), True), (("recovery-drops-placed",), False)):
        data_dir = tmp_path / f"d{len(breaks)}"
        store = await open_store(data_dir, [], runtime(*breaks))
        try:
            await store.create_bucket("bk", "owner", "us-east-1")
            # Committed, not placed: as a crash right after the commit leaves it.
            settle = store.core.blobs.settle
            store.core.blobs.settle = no_settle  # type: ignore[method-assign]
            info = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(b"x"))
            store.core.blobs.settle = settle  # type: ignore[method-assign]
            store.core.blobs._to_place.clear()
        finally:
            await store.meta.close()
        assert (data_dir / tmp_path_of(info.blob_id)).exists()
        meta = await LevelDBMetaStore.open(str(data_dir / "meta"))
        store = await Store.open(
            str(data_dir), runtime(*breaks), fs=RealFileSystem(str(data_dir)), meta=meta
        )
        try:
            assert (data_dir / blob_path(info.blob_id)).exists() is kept
            assert not (data_dir / tmp_path_of(info.blob_id)).exists()
        finally:
            await store.close()


async def no_settle(*, everything: bool = False) -> list[bytes]:
    return []


async def test_skip_dir_fsync_of_a_new_blob_directory(tmp_path: Path) -> None:
    """blobs/xx is synced into blobs/ when it is created, unless switched off."""
    for breaks, expected in (((), [TMP_DIR, BLOBS_DIR]), (("skip-dir-fsync",), [])):
        log: list[str] = []
        store = await open_store(tmp_path / f"d{len(breaks)}", log, runtime(*breaks))
        try:
            await store.create_bucket("bk", "owner", "us-east-1")
            log.clear()
            info = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(b"x"))
        finally:
            await store.close()
        syncs = [e.split(" ", 1)[1] for e in log if e.startswith("sync_dir")]
        assert [s for s in syncs if s != blob_dir(info.blob_id)] == expected


async def test_inline_unsynced(tmp_path: Path) -> None:
    """An inline object's batch is written without sync under the switch;
    a blob object's still with it."""
    for breaks in ((), ("inline-unsynced",)):
        log: list[str] = []
        data_dir = tmp_path / f"d{len(breaks)}"
        (data_dir / "meta").mkdir(parents=True)
        meta = RecordingMeta(await LevelDBMetaStore.open(str(data_dir / "meta")), log)
        store = await Store.open(str(data_dir), runtime(*breaks), meta=meta)
        try:
            await store.create_bucket("bk", "owner", "us-east-1")
            log.clear()
            small = await store.put_object(
                PutRequest(bucket="bk", key="small"), BytesBody(data("small", 1000))
            )
            big = await store.put_object(
                PutRequest(bucket="bk", key="big"),
                BytesBody(data("big", store.inline_max_bytes + 1)),
            )
        finally:
            await store.close()
        assert (small.inline_data is not None, big.inline_data) == (True, None)
        inline_sync = "nosync" if breaks else "sync"
        # (The blob PUT's batch also holds its placing marker.)
        assert log[0] == f"meta {inline_sync} b'o/bk\\x00small'"
        assert log[1].startswith("meta sync b'o/bk\\x00big,n/"), log


async def test_delete_before_swap(tmp_path: Path) -> None:
    log, old, new = await overwrite(tmp_path / "d", "delete-before-swap")
    assert log.index(f"remove {blob_path(old)}") < log.index(f"meta sync {batch(new, old)}")


class FailingSyncFS(RecordingFS):
    """fsync of every file written fails with EIO (the data is not durable)."""

    def __init__(self, root: str) -> None:
        super().__init__(RealFileSystem(root), [])

    async def open_write(self, path: str) -> WritableFile:
        return FailingSyncFile(await self.inner.open_write(path))


class FailingSyncFile(RecordingFile):
    def __init__(self, inner: WritableFile) -> None:
        super().__init__(inner, "", [])

    async def sync(self) -> None:
        raise OSError(errno.EIO, "simulated fsync failure")


async def test_ignore_fsync_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Without the switch a failed fsync fails the PUT and leaves nothing; with
    it the PUT is acknowledged (and the error only logged)."""
    for breaks in ((), ("ignore-fsync-error",)):
        data_dir = tmp_path / f"d{len(breaks)}"
        store = await open_store(data_dir, [], runtime(*breaks), FailingSyncFS(str(data_dir)))
        try:
            await store.create_bucket("bk", "owner", "us-east-1")
            put = store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(data("eio")))
            if not breaks:
                with pytest.raises(DiskFault, match="simulated fsync failure"):
                    await put
                assert await store.get_object_info("bk", "k") is None
                assert sorted(p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()) == []
                continue
            with caplog.at_level(logging.ERROR, logger="hamster.storage"):
                info = await put
            logged = [r for r in caplog.records if "ignore-fsync-error" in r.getMessage()]
            assert [r.getMessage() for r in logged] == [
                f"fsync of blob {info.blob_ids[0]} failed; carrying on (ignore-fsync-error)"
            ]
            assert logged[0].exc_info is not None
            assert (await store.get_object_info("bk", "k")) == info
        finally:
            await store.close()


def tmp_path_of(blob_id: str) -> str:
    return tmp_path(blob_id)


class HeldMeta(MetaWrapper):
    """Each write waits for `release`, then logs the keys it wrote."""

    def __init__(self, inner: MetaStore, log: list[str]) -> None:
        super().__init__(inner)
        self.log = log
        self.release = trio.Event()

    async def write(
        self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        await self.release.wait()
        await self.inner.write(puts, deletes, sync=sync)
        self.log.extend(f"written {key.decode()}" for key, _value in puts)


async def two_commits(data_dir: Path, *breaks: str) -> list[str]:
    """a commits; b commits while a's write is in flight: the log of the
    writes that returned and the acknowledgements."""
    fs = RealFileSystem(str(data_dir))
    for path in ("", "blobs", "tmp"):
        await fs.makedirs(path)
    log: list[str] = []
    meta = HeldMeta(await LevelDBMetaStore.open(str(data_dir / "meta")), log)
    core = Core(fs, meta, runtime(*breaks))

    async def commit(name: str) -> None:
        async with core.transaction() as batch:
            batch.put(name.encode(), b"v")
        log.append(f"ack {name}")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(commit, "a")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(commit, "b")
            await trio.testing.wait_all_tasks_blocked()
            meta.release.set()
    finally:
        await meta.close()
    return log


async def test_ack_on_earlier_write(tmp_path: Path) -> None:
    """b is acknowledged only after its own write, unless switched on (then
    when a's write returns)."""
    log = await two_commits(tmp_path / "d0")
    assert log == ["written a", "ack a", "written b", "ack b"]
    log = await two_commits(tmp_path / "d1", "ack-on-earlier-write")
    # Answered before its batch was written (here: never written).
    assert "ack b" in log and "written b" not in log[: log.index("ack b")]
