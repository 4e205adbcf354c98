"""BlobStore.write's buffering: whatever the read sizes, the blob holds the
body's bytes and its digests, and the file is written in whole chunks."""

from __future__ import annotations

import errno
import hashlib
import logging
from pathlib import Path

import pytest
import trio

from hamster import integrity
from hamster.storage.blobs import (
    BLOBS_DIR,
    REMOVALS_SYNCED_TOGETHER,
    TMP_DIR,
    BlobStore,
    blob_path,
)
from hamster.storage.blobs import tmp_path as tmp_path_of
from hamster.storage.errors import DiskFault
from hamster.storage.fs import InSteps, RealFile, RealFileSystem
from tests.patterns import assert_pattern, pattern

from .bodies import BytesBody, FailingBody
from .conftest import make_runtime

CHUNK_BYTES = 1000
BLOB_ID = "ab" + "0" * 30


class RecordingFs(RealFileSystem):
    """Records the size of every write to a file opened for writing."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.write_sizes: list[int] = []

    async def open_write(self, path: str) -> RealFile:
        f = await super().open_write(path)
        inner = f.write

        async def write(data: bytes | bytearray | memoryview) -> None:
            self.write_sizes.append(len(data))
            await inner(data)

        f.write = write  # type: ignore[method-assign]
        return f

    async def write_file(
        self,
        path: str,
        data: bytes | bytearray | memoryview,
        *,
        rename_to: str | None = None,
        sync: bool = True,
        sync_dir: bool = True,
        step: list[str] | None = None,
    ) -> None:
        self.write_sizes.append(len(data))
        await super().write_file(
            path, data, rename_to=rename_to, sync=sync, sync_dir=sync_dir, step=step
        )


@pytest.mark.parametrize("piece_bytes", [1, 7, CHUNK_BYTES - 1, CHUNK_BYTES, 100_000])
@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, 3 * CHUNK_BYTES, 3 * CHUNK_BYTES + 17])
async def test_write_keeps_bytes_and_digests_whatever_the_read_sizes(
    tmp_path: Path, piece_bytes: int, size: int
) -> None:
    fs = RecordingFs(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    data = bytes(i * 7 % 251 for i in range(size))
    written = await BlobStore(fs, make_runtime(), chunk_bytes=CHUNK_BYTES).write(
        BLOB_ID,
        BytesBody(data, piece_bytes),
        content_length=size,
        max_size_bytes=size,
        content_md5=hashlib.md5(data).digest(),
        checksum_algorithm="CRC64NVME",
        expected_checksum=lambda: integrity.compute("CRC64NVME", data),
        extra_checksum_algorithm="SHA256",
    )
    assert (written.size, written.md5) == (size, hashlib.md5(data).digest())
    assert written.extra_checksum == hashlib.sha256(data).digest()
    assert (tmp_path / tmp_path_of(BLOB_ID)).read_bytes() == data
    # Whole chunks, then what is left (an empty body: one write_file of nothing).
    full, rest = divmod(size, CHUNK_BYTES)
    assert fs.write_sizes == [CHUNK_BYTES] * full + ([rest] if rest or not size else [])


class FaultyFs(InSteps, RealFileSystem):
    """A real filesystem whose sync_dir of a blob's directory, rename (after
    moving the file) or remove can be made to fail."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.fail_sync_dir_of: str | None = None
        self.fail_after_rename = False
        self.fail_remove = False
        self.calls: list[str] = []

    async def exists(self, path: str) -> bool:
        self.calls.append(f"exists {path}")
        return await super().exists(path)

    async def makedirs(self, path: str) -> None:
        self.calls.append(f"makedirs {path}")
        await super().makedirs(path)

    async def sync_dir(self, path: str) -> None:
        self.calls.append(f"sync_dir {path}")
        if path == self.fail_sync_dir_of:
            raise OSError(errno.EIO, "simulated directory fsync failure")
        await super().sync_dir(path)

    async def rename(self, src: str, dst: str) -> None:
        await super().rename(src, dst)
        if self.fail_after_rename:
            raise OSError(errno.EIO, "simulated rename failure after the move")

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        self.calls.append(f"remove {path}")
        if self.fail_remove:
            raise PermissionError(errno.EACCES, "simulated remove failure", path)
        await super().remove(path, missing_ok=missing_ok)


async def faulty_store(
    tmp_path: Path, chunk_bytes: int = CHUNK_BYTES
) -> tuple[FaultyFs, BlobStore]:
    fs = FaultyFs(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    fs.calls.clear()
    return fs, BlobStore(fs, make_runtime(), chunk_bytes=chunk_bytes)


async def write_pattern(blobs: BlobStore, blob_id: str, size: int, obj: int = 1) -> bytes:
    data = pattern(size, obj)
    written = await blobs.write(
        blob_id, BytesBody(data, 333), content_length=size, max_size_bytes=size, content_md5=None
    )
    assert (written.size, written.md5) == (size, hashlib.md5(data).digest())
    return data


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_one_byte_chunks_keep_every_byte_in_place(tmp_path: Path) -> None:
    _fs, blobs = await faulty_store(tmp_path, chunk_bytes=1)
    data = await write_pattern(blobs, BLOB_ID, 100)
    assert_pattern((tmp_path / tmp_path_of(BLOB_ID)).read_bytes(), 1, size=100)
    assert (tmp_path / tmp_path_of(BLOB_ID)).read_bytes() == data


def test_chunks_are_never_empty(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        BlobStore(RealFileSystem(str(tmp_path)), make_runtime(), chunk_bytes=0)


class WholeChunkBody:
    """Serves `pieces` one per read (each exactly what was asked for)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    async def read(self, max_bytes: int) -> bytes:
        if not self.pieces:
            return b""
        assert len(self.pieces[0]) <= max_bytes
        return self.pieces.pop(0)


async def test_a_read_that_fills_a_chunk_is_written_as_is_not_copied(tmp_path: Path) -> None:
    fs = RecordingFs(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    pieces = [pattern(CHUNK_BYTES, 2, i * CHUNK_BYTES) for i in range(3)]
    seen: list[object] = []
    opened = fs.open_write

    async def open_write(path: str) -> RealFile:
        f = await opened(path)
        inner = f.write

        async def write(data: bytes | bytearray | memoryview) -> None:
            seen.append(data)
            await inner(data)

        f.write = write  # type: ignore[method-assign]
        return f

    fs.open_write = open_write  # type: ignore[method-assign]
    await BlobStore(fs, make_runtime(), chunk_bytes=CHUNK_BYTES).write(
        BLOB_ID,
        WholeChunkBody(pieces),
        content_length=3 * CHUNK_BYTES,
        max_size_bytes=3 * CHUNK_BYTES,
        content_md5=None,
    )
    assert len(seen) == 3 and all(w is p for w, p in zip(seen, pieces, strict=True))
    assert_pattern((tmp_path / tmp_path_of(BLOB_ID)).read_bytes(), 2, size=3 * CHUNK_BYTES)


async def test_a_known_blob_directory_is_not_checked_again(tmp_path: Path) -> None:
    fs, blobs = await faulty_store(tmp_path)
    first, second = "cd" + "1" * 30, "cd" + "2" * 30
    await write_pattern(blobs, first, 10)
    assert fs.calls == ["sync_dir tmp"]  # written: only tmp/ is synced
    fs.calls.clear()
    blobs.committed([first])
    await blobs.settle()
    assert fs.calls == [
        "exists blobs/cd",
        "makedirs blobs/cd",
        "sync_dir blobs",
        "sync_dir blobs/cd",
        f"remove {tmp_path_of(first)}",
    ]
    await write_pattern(blobs, second, 10, obj=2)
    fs.calls.clear()
    blobs.committed([second])
    await blobs.settle()
    assert fs.calls == ["sync_dir blobs/cd", f"remove {tmp_path_of(second)}"]
    assert files_under(tmp_path) == [blob_path(first), blob_path(second)]


@pytest.mark.parametrize("size", [10, 3 * CHUNK_BYTES])
async def test_a_failed_sync_of_tmp_removes_the_new_blob(tmp_path: Path, size: int) -> None:
    """Small (one write_file call) and streamed bodies alike."""
    fs, blobs = await faulty_store(tmp_path)
    fs.fail_sync_dir_of = TMP_DIR
    with pytest.raises(DiskFault, match=r"^blob directory sync tmp: \[Errno 5\] simulated"):
        await write_pattern(blobs, BLOB_ID, size)
    assert fs.calls[-1] == f"remove {tmp_path_of(BLOB_ID)}"
    assert files_under(tmp_path) == []


async def test_a_placement_whose_directory_sync_fails_stays_readable_in_tmp(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The blob keeps its tmp/ name and its marker (recovery finishes it), and
    reads still find it; a removal later takes both names."""
    fs, blobs = await faulty_store(tmp_path)
    data = await write_pattern(blobs, BLOB_ID, 10)
    fs.fail_sync_dir_of = f"{BLOBS_DIR}/{BLOB_ID[:2]}"
    blobs.committed([BLOB_ID])
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        done = await blobs.settle()
    assert done == []  # the placing marker stays
    assert [r.getMessage() for r in caplog.records] == [
        f"could not place blob {BLOB_ID}; recovery finishes it"
    ]
    assert files_under(tmp_path) == [blob_path(BLOB_ID), tmp_path_of(BLOB_ID)]
    assert await blobs.read_file(BLOB_ID, 100) == data
    await blobs.remove(BLOB_ID)
    assert files_under(tmp_path) == []


async def test_a_failed_cleanup_is_logged_and_the_first_error_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fs, blobs = await faulty_store(tmp_path)
    fs.fail_remove = True
    body = FailingBody(pattern(CHUNK_BYTES + 5, 3), ValueError("the client went away"))
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        with pytest.raises(ValueError, match="the client went away"):
            await blobs.write(
                BLOB_ID, body, content_length=None, max_size_bytes=1 << 20, content_md5=None
            )
    assert [r.getMessage() for r in caplog.records] == [
        f"could not clean up blob {BLOB_ID} after a failed write"
    ]
    exc_info = caplog.records[0].exc_info
    assert exc_info is not None and isinstance(exc_info[1], PermissionError)
    assert files_under(tmp_path) == [tmp_path_of(BLOB_ID)]


class DawdlingFs(RealFileSystem):
    """Each write to a file waits a few scheduling rounds before writing (a
    slow disk), and records the buffer each chunk lives in."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.buffers: list[int] = []

    async def open_write(self, path: str) -> RealFile:
        f = await super().open_write(path)
        inner = f.write

        async def write(data: bytes | bytearray | memoryview) -> None:
            self.buffers.append(id(data.obj if isinstance(data, memoryview) else data))
            for _ in range(5):
                await trio.lowlevel.checkpoint()  # the reader may run meanwhile
            await inner(data)

        f.write = write  # type: ignore[method-assign]
        return f


@pytest.mark.parametrize("piece_bytes", [7, CHUNK_BYTES // 3])
async def test_a_slow_disk_gets_every_chunk_whole_from_two_buffers_used_in_turn(
    tmp_path: Path, piece_bytes: int
) -> None:
    """The reader never refills a buffer the writer has not finished with: a
    write holds two chunk buffers (the first chunk's own among them), used
    in turn, whatever the disk's pace."""
    fs = DawdlingFs(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    size = 9 * CHUNK_BYTES + 5
    data = pattern(size, "dawdling")
    written = await BlobStore(fs, make_runtime(), chunk_bytes=CHUNK_BYTES).write(
        BLOB_ID,
        BytesBody(data, piece_bytes),
        content_length=size,
        max_size_bytes=size,
        content_md5=hashlib.md5(data).digest(),
        checksum_algorithm="CRC64NVME",
        expected_checksum=lambda: integrity.compute("CRC64NVME", data),
    )
    assert written.md5 == hashlib.md5(data).digest()
    assert_pattern((tmp_path / tmp_path_of(BLOB_ID)).read_bytes(), "dawdling", size=size)
    assert len(fs.buffers) == 10
    assert len(set(fs.buffers)) == 2
    assert fs.buffers[0::2] == [fs.buffers[0]] * 5


async def test_removals_are_synced_together_or_with_a_placement(tmp_path: Path) -> None:
    """A removal's directory fsync (and so its markers' deletion) waits until
    REMOVALS_SYNCED_TOGETHER are pending, unless a placement syncs the same
    directory first."""
    fs, blobs = await faulty_store(tmp_path)
    ids = [f"{n % 3:02x}" + f"{n:030x}" for n in range(REMOVALS_SYNCED_TOGETHER + 20)]
    for n, blob_id in enumerate(ids):
        await write_pattern(blobs, blob_id, 10, obj=n)
        blobs.committed([blob_id])
        await blobs.settle()

    def markers(removed: list[str]) -> list[bytes]:
        return [m for b in removed for m in (b"r/" + b.encode(), b"n/" + b.encode())]

    fs.calls.clear()
    for blob_id in ids[:10]:
        await blobs.remove(blob_id)
    assert not blobs.settle_due
    assert await blobs.settle() == [] and fs.calls == [f"remove {blob_path(b)}" for b in ids[:10]]
    # A placement into blobs/00 makes the removals in it durable, with one fsync.
    new = "00" + "f" * 30
    await write_pattern(blobs, new, 10, obj=99)
    blobs.committed([new])
    fs.calls.clear()
    done = await blobs.settle()
    assert [c for c in fs.calls if c.startswith("sync_dir")] == ["sync_dir blobs/00"]
    assert done == [b"n/" + new.encode(), *markers([b for b in ids[:10] if b.startswith("00")])]
    for blob_id in ids[10:]:
        await blobs.remove(blob_id)
    assert blobs.settle_due  # enough pending now: their directories are synced
    fs.calls.clear()
    done = await blobs.settle()
    assert fs.calls == ["sync_dir blobs/00", "sync_dir blobs/01", "sync_dir blobs/02"]
    rest = [b for b in ids[:10] if not b.startswith("00")] + ids[10:]
    assert done == markers(rest)
