"""The durability protocol of a PUT, observed through recording wrappers of
the filesystem and metadata interfaces (also exercises injecting both)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from hamster.storage import PutRequest, Store
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, blob_dir, blob_path, tmp_path
from hamster.storage.fs import (
    DiskSpace,
    FileSystem,
    InSteps,
    ReadableFile,
    RealFileSystem,
    WritableFile,
)
from hamster.storage.meta import LevelDBMetaStore, MetaStore
from sim.fs import SimDisk
from sim.meta import SimMetaDisk
from tests.patterns import pattern

from .bodies import BytesBody
from .conftest import make_runtime


class RecordingFile:
    def __init__(self, inner: WritableFile, path: str, log: list[str]) -> None:
        self.inner, self.path, self.log = inner, path, log

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self.log.append(f"write {self.path}")
        await self.inner.write(data)

    async def sync(self) -> None:
        self.log.append(f"sync {self.path}")
        await self.inner.sync()

    async def close(self) -> None:
        await self.inner.close()


class RecordingFS(InSteps):
    def __init__(self, inner: FileSystem, log: list[str]) -> None:
        self.inner, self.log = inner, log

    async def open_write(self, path: str) -> WritableFile:
        self.log.append(f"create {path}")
        return RecordingFile(await self.inner.open_write(path), path, self.log)

    async def open_read(self, path: str) -> ReadableFile:
        return await self.inner.open_read(path)

    async def rename(self, src: str, dst: str) -> None:
        self.log.append(f"rename {src} {dst}")
        await self.inner.rename(src, dst)

    async def link(self, src: str, dst: str) -> None:
        self.log.append(f"link {src} {dst}")
        await self.inner.link(src, dst)

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        self.log.append(f"remove {path}")
        await self.inner.remove(path, missing_ok=missing_ok)

    async def sync_dir(self, path: str) -> None:
        self.log.append(f"sync_dir {path}")
        await self.inner.sync_dir(path)

    async def makedirs(self, path: str) -> None:
        self.log.append(f"makedirs {path}")
        await self.inner.makedirs(path)

    async def listdir(self, path: str) -> list[str]:
        return await self.inner.listdir(path)

    async def exists(self, path: str) -> bool:
        return await self.inner.exists(path)

    async def disk_space(self) -> DiskSpace | None:
        return await self.inner.disk_space()


class MetaWrapper:
    """A `MetaStore` that hands every call to `inner`: the base of the test
    wrappers that watch or disturb some of them (override those)."""

    def __init__(self, inner: MetaStore) -> None:
        self.inner = inner

    async def get(self, key: bytes) -> bytes | None:
        return await self.inner.get(key)

    async def write(
        self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        await self.inner.write(puts, deletes, sync=sync)

    def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        return self.inner.scan(prefix, start_after, limit)

    async def close(self) -> None:
        await self.inner.close()


class RecordingMeta(MetaWrapper):
    def __init__(self, inner: MetaStore, log: list[str]) -> None:
        super().__init__(inner)
        self.log = log

    async def write(
        self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes], *, sync: bool
    ) -> None:
        keys = [k for k, _ in puts] + list(deletes)
        self.log.append(f"meta {'sync' if sync else 'nosync'} {b','.join(keys)!r}")
        await self.inner.write(puts, deletes, sync=sync)


async def open_recorded(data_dir: Path, log: list[str], **kw: Any) -> Store:
    """A store in `data_dir` whose filesystem and metadata calls go to `log`."""
    (data_dir / "meta").mkdir(parents=True)
    fs = RecordingFS(RealFileSystem(str(data_dir)), log)
    meta = RecordingMeta(await LevelDBMetaStore.open(str(data_dir / "meta")), log)
    return await Store.open(
        str(data_dir), make_runtime(), fs=fs, meta=meta, **kw, inline_max_bytes=0
    )


async def test_put_is_durable_before_commit_and_old_blob_goes_after(tmp_path: Path) -> None:
    log: list[str] = []
    store = await open_recorded(tmp_path / "d", log)
    try:
        await store.create_bucket("bk", "o", "us-east-1")
        first = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(b"1" * 10))
        log.clear()
        second = await store.put_object(
            PutRequest(bucket="bk", key="k"), BytesBody(pattern(3_000_000, "second"))
        )
        assert blob_dir(second.blob_id) == blob_dir(first.blob_id)  # no new directory
        b, old = second.blob_id, first.blob_id
        assert [e for e in log if not e.startswith("write ")] == [
            f"create {tmp_path_of(b)}",
            f"sync {tmp_path_of(b)}",
            f"sync_dir {TMP_DIR}",
            # The record, the new blob's placing marker, the old one's removal
            # marker, and the markers the first PUT's placement was done with.
            f"meta sync b'o/bk\\x00k,n/{b},r/{old},n/{old}'",
            f"remove {blob_path(old)}",
            f"link {tmp_path_of(b)} {blob_path(b)}",
            f"sync_dir {blob_dir(b)}",  # one sync for the link and the removal
            f"remove {tmp_path_of(b)}",
        ]
        writes = [e for e in log if e.startswith("write ")]
        assert len(writes) == 3  # 1 MiB chunks, not one write per body read
    finally:
        await store.close()


async def test_the_first_blob_of_a_new_directory_makes_the_directory_durable(
    tmp_path: Path,
) -> None:
    """A new blobs/xx is synced into blobs/ before the blob is linked into it,
    and that before its tmp/ name goes: without that sync the directory, and
    the acknowledged blob in it, can vanish in a crash."""
    log: list[str] = []
    store = await open_recorded(tmp_path / "d", log)
    try:
        await store.create_bucket("bk", "o", "us-east-1")
        log.clear()
        first = await store.put_object(PutRequest(bucket="bk", key="a"), BytesBody(b"first"))
        b = first.blob_id
        assert [e for e in log if not e.startswith("write ")] == [
            f"create {tmp_path_of(b)}",
            f"sync {tmp_path_of(b)}",
            f"sync_dir {TMP_DIR}",
            f"meta sync b'o/bk\\x00a,n/{b}'",
            f"makedirs {blob_dir(b)}",
            f"sync_dir {BLOBS_DIR}",
            f"link {tmp_path_of(b)} {blob_path(b)}",
            f"sync_dir {blob_dir(b)}",
            f"remove {tmp_path_of(b)}",
        ]
        # The next blob in that directory: the directory is known, no second sync of blobs/.
        log.clear()
        second = await store.put_object(PutRequest(bucket="bk", key="b"), BytesBody(b"second"))
        assert blob_dir(second.blob_id) == blob_dir(b)
        dirs = [e for e in log if e.startswith(("makedirs", "sync_dir"))]
        assert dirs == [f"sync_dir {TMP_DIR}", f"sync_dir {blob_dir(b)}"]
    finally:
        await store.close()


async def test_open_makes_its_directories_durable_before_anything_else(tmp_path: Path) -> None:
    """tmp/ and blobs/ are synced into the data directory, and blobs/ itself
    (see the next test), before the first metadata write."""
    log: list[str] = []
    store = await open_recorded(tmp_path / "d", log)
    try:
        first_meta = next(i for i, e in enumerate(log) if e.startswith("meta "))
        assert log[:first_meta] == [
            "makedirs ",
            f"makedirs {TMP_DIR}",
            f"makedirs {BLOBS_DIR}",
            "sync_dir ",
            f"sync_dir {BLOBS_DIR}",
        ]
    finally:
        await store.close()


async def test_a_blob_directory_a_killed_process_left_unsynced_is_synced_at_open() -> None:
    """A process killed between creating blobs/xx and syncing blobs/ leaves
    that directory in the page cache only; the next process finds it there.
    Before a record points into it, blobs/ must be synced, or a power loss
    takes the directory and the acknowledged object with it. (On the
    simulated disk a mount without a crash is a process restart.)"""
    body = pattern(5000, "after-restart")
    for seed in range(20):
        disk, meta = SimDisk(random.Random(seed)), SimMetaDisk(random.Random(seed))
        runtime = make_runtime()  # counter ids: every blob goes to blobs/00
        killed = disk.mount()
        await Store.open("", runtime, fs=killed, meta=meta.open(), inline_max_bytes=0)
        await killed.makedirs(f"{BLOBS_DIR}/00")  # ...and the process is killed
        store = await Store.open("", runtime, fs=disk.mount(), meta=meta.open(), inline_max_bytes=0)
        await store.create_bucket("bk", "o", "us-east-1")
        info = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(body))
        assert blob_dir(info.blob_id) == f"{BLOBS_DIR}/00"
        disk.crash()  # power loss after the PUT was acknowledged
        meta.crash()
        store = await Store.open("", runtime, fs=disk.mount(), meta=meta.open(), inline_max_bytes=0)
        try:
            assert store.recovery.missing == [], f"seed {seed}: the acknowledged blob is gone"
            async with await store.open_object("bk", "k") as reader:
                assert b"".join([c async for c in reader.stream(0, reader.info.size)]) == body
        finally:
            await store.close()


def tmp_path_of(blob_id: str) -> str:
    return tmp_path(blob_id)
