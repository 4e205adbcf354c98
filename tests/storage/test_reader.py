"""ObjectReader and RealFile.read_at: which blobs a read opens and closes,
ranges at part boundaries, the bounds a read asserts, and what a blob that is
missing or shorter than its record does to a stream (InternalError, logged)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage import ObjectInfo, PutRequest, Store
from hamster.storage.blobs import blob_path
from hamster.storage.errors import DiskFault
from hamster.storage.fs import ReadableFile, RealFileSystem
from hamster.storage.multipart import CompleteRequest, NewUpload, PartRequest
from hamster.storage.parts import CompletedPart
from hamster.storage.store import SMALL_READ_BYTES, ObjectReader
from tests.patterns import pattern, split

from .bodies import BytesBody
from .test_write_order import RecordingFS

OWNER = "AKIDOWNER"
MIN_PART = 16
SIZES = [MIN_PART, MIN_PART + 3, MIN_PART + 1, 5]
DATA = pattern(sum(SIZES), "reader")
PIECES = split(DATA, SIZES)


class CountedFile:
    def __init__(self, inner: ReadableFile, path: str, fs: CountingFS) -> None:
        self.inner, self.path, self.fs = inner, path, fs

    async def read_at(self, offset: int, size: int) -> bytes:
        return await self.inner.read_at(offset, size)

    async def size(self) -> int:
        return await self.inner.size()

    async def close(self) -> None:
        self.fs.open_files.discard(self)
        await self.inner.close()


class CountingFS(RecordingFS):
    """A RealFileSystem under `root` that logs every file opened for reading
    and keeps those still open."""

    def __init__(self, root: str) -> None:
        super().__init__(RealFileSystem(root), [])
        self.root = root
        self.opened: list[str] = []
        self.open_files: set[CountedFile] = set()

    async def open_read(self, path: str) -> ReadableFile:
        file = CountedFile(await self.inner.open_read(path), path, self)
        self.opened.append(path)
        self.open_files.add(file)
        return file


@pytest.fixture
async def store(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    s = await Store.open(
        str(data_dir),
        runtime,
        fs=CountingFS(str(data_dir)),
        min_part_bytes=MIN_PART,
        inline_max_bytes=0,
    )
    await s.create_bucket("bk", OWNER, "us-east-1")
    try:
        yield s
    finally:
        await s.close()


def counting(store: Store) -> CountingFS:
    assert isinstance(store.fs, CountingFS)
    return store.fs


async def multipart(store: Store, key: str = "k") -> ObjectInfo:
    upload = await store.uploads.create(NewUpload("bk", key, OWNER))
    parts = []
    for n, piece in enumerate(PIECES, 1):
        req = PartRequest("bk", key, upload.upload_id, n)
        parts.append((await store.uploads.upload_part(req, BytesBody(piece)))[0])
    listed = tuple(CompletedPart(p.part_number, p.etag) for p in parts)
    return await store.uploads.complete(CompleteRequest("bk", key, upload.upload_id, listed))


async def stream(reader: ObjectReader, start: int, length: int, chunk_bytes: int = 7) -> bytes:
    return b"".join([c async for c in reader.stream(start, length, chunk_bytes)])


def blob_file(store: Store, blob_id: str) -> Path:
    return Path(store.fs.root) / blob_path(blob_id)  # type: ignore[attr-defined]


# --- which blobs a read opens ---------------------------------------------------


async def test_a_range_opens_only_the_parts_it_reads(store: Store) -> None:
    info = await multipart(store)
    paths = [blob_path(p.blob_id) for p in info.parts]
    fs = counting(store)
    bounds = [0, SIZES[0], SIZES[0] + SIZES[1], SIZES[0] + SIZES[1] + SIZES[2]]
    cases = [
        # (start, length): the parts (beyond the first, opened up front) read.
        ((bounds[1], SIZES[1]), [1]),  # exactly part 2: not the parts around it
        ((bounds[2], 1), [2]),  # the first byte of part 3
        ((bounds[2] - 1, 2), [1, 2]),  # across the boundary of parts 2 and 3
        ((bounds[3], SIZES[3]), [3]),  # exactly the last part
        ((0, len(DATA)), [1, 2, 3]),
        ((3, 0), []),
    ]
    for (start, length), read in cases:
        fs.opened.clear()
        async with await store.open_object("bk", "k") as reader:
            assert await stream(reader, start, length) == DATA[start : start + length]
        assert fs.opened == [paths[0]] + [paths[i] for i in read], (start, length)
        assert fs.open_files == set()


async def test_empty_parts_are_never_opened(store: Store) -> None:
    upload = await store.uploads.create(NewUpload("bk", "k", OWNER))
    pieces = [PIECES[0], b""]
    parts = []
    for n, piece in enumerate(pieces, 1):
        req = PartRequest("bk", "k", upload.upload_id, n)
        parts.append((await store.uploads.upload_part(req, BytesBody(piece)))[0])
    listed = tuple(CompletedPart(p.part_number, p.etag) for p in parts)
    await store.uploads.complete(CompleteRequest("bk", "k", upload.upload_id, listed))
    fs = counting(store)
    fs.opened.clear()
    async with await store.open_object("bk", "k") as reader:
        assert await stream(reader, 0, len(PIECES[0])) == PIECES[0]
    assert fs.opened == [blob_path(parts[0].blob_id)]


async def test_streams_of_one_reader_keep_the_part_open_and_close_all(store: Store) -> None:
    info = await multipart(store)
    fs = counting(store)
    fs.opened.clear()
    start = SIZES[0] + 2
    async with await store.open_object("bk", "k") as reader:
        assert await stream(reader, start, 3) == DATA[start : start + 3]
        assert await stream(reader, start + 3, 4) == DATA[start + 3 : start + 7]
        assert len(fs.open_files) == 2  # the first part and part 2
    assert fs.opened == [blob_path(info.parts[0].blob_id), blob_path(info.parts[1].blob_id)]
    assert fs.open_files == set()


# --- bounds ---------------------------------------------------------------------


async def test_a_stream_outside_the_object_is_a_programming_error(store: Store) -> None:
    await multipart(store)
    size = len(DATA)
    async with await store.open_object("bk", "k") as reader:
        for start, length, chunk in [
            (0, size + 1, 7),
            (1, size, 7),
            (-1, 1, 7),
            (size, 1, 7),
            (0, -1, 7),
            (0, 1, 0),
        ]:
            with pytest.raises(AssertionError):
                await stream(reader, start, length, chunk)
        assert await stream(reader, size, 0) == b""


async def test_a_reader_of_a_single_blob_needs_no_filesystem(store: Store, tmp_path: Path) -> None:
    body = pattern(40, "single")
    info = await store.put_object(PutRequest("bk", "one"), BytesBody(body))
    file = await store.fs.open_read(blob_path(info.blob_id))
    async with ObjectReader(info, file) as reader:
        assert await stream(reader, 5, 30) == body[5:35]
    multi = await multipart(store)
    file = await store.fs.open_read(blob_path(multi.parts[0].blob_id))
    with pytest.raises(AssertionError):
        ObjectReader(multi, file)
    await file.close()


# --- a blob missing or short ----------------------------------------------------


async def test_a_missing_part_blob_ends_the_stream_with_internal_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    info = await multipart(store)
    lost = info.parts[2].blob_id
    blob_file(store, lost).unlink()
    got: list[bytes] = []
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        async with await store.open_object("bk", "k") as reader:
            with pytest.raises(S3Error) as e:
                async for chunk in reader.stream(0, len(DATA), 7):
                    got.append(chunk)
    assert (e.value.code, e.value.status) == ("InternalError", 500)
    # Every byte before the lost part, and none after.
    assert b"".join(got) == DATA[: SIZES[0] + SIZES[1]]
    assert counting(store).open_files == set()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.ERROR,
            f"object bk/k: part blob {lost} is missing (overwritten meanwhile, or lost); "
            "ending the stream",
        )
    ]


async def test_a_blob_shorter_than_its_record_ends_the_stream_with_internal_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    body = pattern(50, "short")
    info = await store.put_object(PutRequest("bk", "short"), BytesBody(body))
    path = blob_file(store, info.blob_id)
    path.write_bytes(body[:30])
    got: list[bytes] = []
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        async with await store.open_object("bk", "short") as reader:
            with pytest.raises(S3Error) as e:
                async for chunk in reader.stream(10, 40, 8):
                    got.append(chunk)
    assert (e.value.code, e.value.status, e.value.text) == (
        "InternalError",
        500,
        "We encountered an internal error. Please try again.",
    )
    assert b"".join(got) == body[10:30]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, f"blob {info.blob_id} of bk/short ends at 30, record says 50 bytes")
    ]


# --- RealFile.read_at -----------------------------------------------------------


async def test_read_at_gathers_short_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pread may return fewer bytes than asked (a signal, a huge read): the
    rest is read from where it stopped, and nothing beyond `size`."""
    body = pattern(100, "pread")
    (tmp_path / "f").write_bytes(body)
    fs = RealFileSystem(str(tmp_path))
    file = await fs.open_read("f")
    pread = os.pread
    calls: list[tuple[int, int]] = []

    def short_pread(fd: int, n: int, offset: int) -> bytes:
        calls.append((n, offset))
        return pread(fd, min(n, 3), offset)

    monkeypatch.setattr(os, "pread", short_pread)
    try:
        assert await file.read_at(10, 10) == body[10:20]
        assert calls == [(10, 10), (7, 13), (4, 16), (1, 19)]
        assert await file.read_at(98, 10) == body[98:]  # the end of the file
        assert await file.read_at(4, 3) == body[4:7]
        assert await file.read_at(0, 6) == body[:6]  # two reads of 3
        assert await file.read_at(100, 5) == b""
        for offset, size in ((-1, 5), (0, -1)):
            with pytest.raises(AssertionError):
                await file.read_at(offset, size)
    finally:
        await file.close()


# --- ObjectReader.send_to (GET over a plain socket: os.sendfile) ----------------


@pytest.fixture
async def real_store(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    """A store on `RealFileSystem` itself, whose files can `send_to`."""
    data_dir = tmp_path / "real"
    data_dir.mkdir()
    s = await Store.open(str(data_dir), runtime, min_part_bytes=MIN_PART)
    await s.create_bucket("bk", OWNER, "us-east-1")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """(read end, non-blocking write end) of a pipe: a descriptor to send to."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        yield r, w
    finally:
        os.close(r)
        os.close(w)


async def send_span(reader: ObjectReader, fd: tuple[int, int], start: int, length: int) -> bytes:
    """Bytes [start, start+length) sent with send_to, at most a pipe's
    capacity (64 KiB) at a time, and read back from the pipe."""
    r, w = fd
    got = bytearray()
    offset, end = start, start + length
    while offset < end:
        sent = await reader.send_to(w, offset, min(end - offset, 65536))
        assert 0 < sent <= end - offset
        piece = os.read(r, sent)
        assert len(piece) == sent
        got += piece
        offset += sent
    return bytes(got)


async def test_send_to_copies_spans_across_parts(real_store: Store, pipe: tuple[int, int]) -> None:
    await multipart(real_store)
    bounds = [0, SIZES[0], SIZES[0] + SIZES[1], SIZES[0] + SIZES[1] + SIZES[2]]
    async with await real_store.open_object("bk", "k") as reader:
        assert reader.can_send
        for start, length in [
            (0, len(DATA)),
            (bounds[1], SIZES[1]),
            (bounds[2] - 1, 2),
            (bounds[3] + 1, SIZES[3] - 1),
            (len(DATA) - 1, 1),
        ]:
            assert await send_span(reader, pipe, start, length) == DATA[start : start + length]
        # One call stops at the end of its part.
        assert await reader.send_to(pipe[1], bounds[1] + 2, SIZES[1]) == SIZES[1] - 2
        for offset, size in ((-1, 1), (0, 0), (0, len(DATA) + 1), (len(DATA), 1)):
            with pytest.raises(AssertionError):
                await reader.send_to(pipe[1], offset, size)


async def test_send_to_a_single_blob(real_store: Store, pipe: tuple[int, int]) -> None:
    # Over the size read whole at open (a loaded blob cannot send).
    body = pattern(SMALL_READ_BYTES + 3, "sendfile")
    await real_store.put_object(PutRequest("bk", "big"), BytesBody(body))
    small = pattern(10, "small")
    await real_store.put_object(PutRequest("bk", "small"), BytesBody(small))
    async with await real_store.open_object("bk", "big") as reader:
        assert reader.can_send
        assert await send_span(reader, pipe, 5, len(body) - 5) == body[5:]
    async with await real_store.open_object("bk", "small") as reader:
        assert not reader.can_send


async def test_send_to_a_full_descriptor_raises_blocking_io_error(
    real_store: Store, pipe: tuple[int, int]
) -> None:
    await multipart(real_store)
    r, w = pipe
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(w, b"x" * 4096)
    async with await real_store.open_object("bk", "k") as reader:
        with pytest.raises(BlockingIOError):
            await reader.send_to(w, 0, len(DATA))
        os.set_blocking(r, False)
        with contextlib.suppress(BlockingIOError):
            while True:
                os.read(r, 65536)
        os.set_blocking(r, True)
        # Nothing of the object went in before it was full.
        assert await send_span(reader, pipe, 0, len(DATA)) == DATA


async def test_send_to_keeps_sending_an_object_deleted_meanwhile(
    real_store: Store, pipe: tuple[int, int]
) -> None:
    info = await multipart(real_store)
    async with await real_store.open_object("bk", "k") as reader:
        await real_store.delete_object("bk", "k")
        # Pinned: the parts stay until the reader closes, the last ones
        # (not opened yet) included.
        assert await send_span(reader, pipe, 0, len(DATA)) == DATA
    for part in info.parts:
        assert not blob_file(real_store, part.blob_id).exists()


async def test_send_to_from_a_blob_shorter_than_its_record_is_internal_error(
    real_store: Store, pipe: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    info = await multipart(real_store)
    short = info.parts[1]
    blob_file(real_store, short.blob_id).write_bytes(PIECES[1][:4])
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        async with await real_store.open_object("bk", "k") as reader:
            assert await send_span(reader, pipe, 0, SIZES[0] + 4) == DATA[: SIZES[0] + 4]
            with pytest.raises(S3Error) as e:
                await reader.send_to(pipe[1], SIZES[0] + 4, 10)
    assert (e.value.code, e.value.status) == ("InternalError", 500)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, f"blob {short.blob_id} of bk/k ends at 4, record says {SIZES[1]} bytes")
    ]


async def test_a_reader_whose_files_cannot_send_says_so(store: Store) -> None:
    # CountingFS wraps each file: no send_to, so GET reads and passes bytes on.
    await multipart(store)
    async with await store.open_object("bk", "k") as reader:
        assert not reader.can_send


async def test_send_to_turns_a_disk_error_into_a_storage_error(
    real_store: Store, pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    info = await multipart(real_store)

    def failing_sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    async with await real_store.open_object("bk", "k") as reader:
        monkeypatch.setattr(os, "sendfile", failing_sendfile)
        with pytest.raises(DiskFault) as e:
            await reader.send_to(pipe[1], 0, 5)
    assert (e.value.op, e.value.path) == ("blob read", blob_path(info.parts[0].blob_id))
