"""A full disk, a failing disk and no descriptors left, through the whole
in-process server (issue 10, findings 3 and 4): the right status and code,
nothing partial stored, old objects readable, deletes working, one log line
per burst and no traceback. The faults come from `FaultyFS`, a filesystem
around the real one (tests/e2e/test_disk_full.py has the OS's own ENOSPC on a
small tmpfs, and test_descriptors.py a lowered RLIMIT_NOFILE)."""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
import trio
from trio.testing import MockClock

from hamster.http.testing import ReceivedResponse
from hamster.storage.fs import (
    DiskSpace,
    InSteps,
    ReadableFile,
    RealFileSystem,
    WritableFile,
)
from hamster.storage.space import MinFree
from hamster.storage.store import INLINE_MAX_BYTES
from tests.api.harness import Harness, error_fields, running_node
from tests.patterns import pattern

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MiB = 1 << 20
PART = 64 * 1024
FULL_MESSAGE_WORDS = "Storage is full"


class FaultyWrite:
    def __init__(self, fs: FaultyFS, inner: WritableFile) -> None:
        self.fs, self.inner = fs, inner

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        fs = self.fs
        if fs.room_bytes is not None:
            if len(data) > fs.room_bytes:
                # As the OS does: what fits is written, then ENOSPC.
                await self.inner.write(memoryview(data)[: fs.room_bytes])
                fs.room_bytes = 0
                raise OSError(errno.ENOSPC, "No space left on device")
            fs.room_bytes -= len(data)
        if fs.eio_write:
            raise OSError(errno.EIO, "Input/output error")
        await self.inner.write(data)

    async def sync(self) -> None:
        await self.inner.sync()

    async def close(self) -> None:
        await self.inner.close()


class FaultyRead:
    def __init__(self, fs: FaultyFS, inner: ReadableFile, path: str) -> None:
        self.fs, self.inner, self.path = fs, inner, path

    async def read_at(self, offset: int, size: int) -> bytes:
        if self.path in self.fs.eio_read:
            raise OSError(errno.EIO, "Input/output error")
        return await self.inner.read_at(offset, size)

    async def size(self) -> int:
        return await self.inner.size()

    async def close(self) -> None:
        await self.inner.close()


class FaultyFS(InSteps):
    """The real filesystem, with a disk that can be made to fill up
    (`room_bytes`: what blob writes may still add; `free_bytes`: what
    `disk_space` reports), fail (`eio_write`, `eio_read` paths) or run out
    of descriptors (`emfile_reads`)."""

    def __init__(self, inner: RealFileSystem) -> None:
        self.inner = inner
        self.room_bytes: int | None = None
        self.free_bytes: int | None = None
        self.total_bytes = 100 * 1024 * MiB
        self.eio_write = False
        self.eio_read: set[str] = set()
        self.emfile_reads = False
        self.emfile_statvfs = False
        self.created: list[str] = []

    async def open_write(self, path: str) -> WritableFile:
        self.created.append(path)
        return FaultyWrite(self, await self.inner.open_write(path))

    async def open_read(self, path: str) -> ReadableFile:
        if self.emfile_reads:
            raise OSError(errno.EMFILE, "Too many open files")
        return FaultyRead(self, await self.inner.open_read(path), path)

    async def rename(self, src: str, dst: str) -> None:
        await self.inner.rename(src, dst)

    async def link(self, src: str, dst: str) -> None:
        await self.inner.link(src, dst)

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        await self.inner.remove(path, missing_ok=missing_ok)

    async def sync_dir(self, path: str) -> None:
        await self.inner.sync_dir(path)

    async def makedirs(self, path: str) -> None:
        await self.inner.makedirs(path)

    async def listdir(self, path: str) -> list[str]:
        return await self.inner.listdir(path)

    async def exists(self, path: str) -> bool:
        return await self.inner.exists(path)

    async def disk_space(self) -> DiskSpace | None:
        if self.emfile_statvfs:
            # An OSError the store does not classify: seen by the app as it is.
            raise OSError(errno.EMFILE, "Too many open files")
        if self.free_bytes is None:
            return None
        return DiskSpace(free_bytes=self.free_bytes, total_bytes=self.total_bytes)


@pytest.fixture
async def faulty(tmp_path: Path) -> AsyncIterator[tuple[Harness, FaultyFS]]:
    """A node on a `FaultyFS` (no fault yet) with bucket bkt holding "old"."""
    assert isinstance(trio.lowlevel.current_clock(), MockClock)
    made: list[FaultyFS] = []

    def wrap(real: RealFileSystem) -> FaultyFS:
        made.append(FaultyFS(real))
        return made[0]

    async with running_node(
        tmp_path / "data",
        wrap_fs=wrap,
        min_part_bytes=PART,
        min_free=MinFree(size_bytes=4 * MiB),
    ) as harness:
        await harness.create_bucket("bkt")
        put = await harness.request("PUT", "/bkt/old", body=pattern(MiB + 3, "old"))
        assert put.status == 200, put
        yield harness, made[0]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def blob_files(data_dir: Path) -> list[str]:
    return files_under(data_dir / "blobs") + files_under(data_dir / "tmp")


def assert_full(response: ReceivedResponse) -> None:
    assert response.status == 507, response
    fields = error_fields(response)
    assert fields["Code"] == "XHamsterStorageFull", fields
    assert FULL_MESSAGE_WORDS in fields["Message"], fields


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info]


async def test_enospc_answers_507_leaves_nothing_and_logs_once(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    before = blob_files(node.data_dir)
    fs.room_bytes = 300 * 1024  # the disk fills up in the middle of the next body
    with caplog.at_level(logging.INFO):
        for attempt in range(20):
            put = await node.request("PUT", f"/bkt/new{attempt}", body=pattern(2 * MiB, attempt))
            assert_full(put)
            fs.room_bytes = 0
        # Nothing partial: no temp file, no new blob, no record.
        assert blob_files(node.data_dir) == before
        assert (await node.request("HEAD", "/bkt/new0")).status == 404
        # Reads and deletes go on.
        old = await node.request("GET", "/bkt/old")
        assert (old.status, old.body) == (200, pattern(MiB + 3, "old"))
        assert (await node.request("DELETE", "/bkt/never-there")).status == 204
    full_lines = [r for r in caplog.records if "disk full" in r.getMessage()]
    assert len(full_lines) == 1, [r.getMessage() for r in caplog.records]
    assert "No space left on device" in full_lines[0].getMessage()
    assert full_lines[0].levelno == logging.WARNING
    assert not tracebacks(caplog)
    # No per-request warning for a 507 either.
    assert not [r for r in caplog.records if "XHamsterStorageFull We" in r.getMessage()]
    assert not [r for r in caplog.records if r.getMessage().startswith("request ")]

    # Space comes back: writes work again, and that is said once.
    caplog.clear()
    fs.room_bytes = None
    with caplog.at_level(logging.INFO):
        put = await node.request("PUT", "/bkt/new0", body=pattern(2 * MiB, 0))
        assert put.status == 200, put
    back = [r.getMessage() for r in caplog.records if "space is back" in r.getMessage()]
    assert back == ["disk space is back: writes accepted again (20 refused while full)"]
    got = await node.request("GET", "/bkt/new0")
    assert (got.status, got.body) == (200, pattern(2 * MiB, 0))


async def test_a_long_burst_is_summed_up_once_a_minute(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    fs.room_bytes = 0
    with caplog.at_level(logging.INFO):
        for attempt in range(7):
            # Bodies that go to blob files (an inline one writes no file).
            body = pattern(INLINE_MAX_BYTES + 1000, attempt)
            assert_full(await node.request("PUT", "/bkt/k", body=body))
            await trio.sleep(25)  # mock time: 7 refusals over 150 s
    lines = [r.getMessage() for r in caplog.records if "disk" in r.getMessage()]
    assert len(lines) == 3, lines
    assert lines[0].startswith("disk full (blob write tmp/")
    # 25 s apart: the 4th refusal (75 s) and the 7th (150 s) close a minute,
    # each after 3 more (25, 50, 75 s; 100, 125, 150 s).
    assert lines[1].endswith(": 3 more write(s) refused")
    assert lines[2].endswith(": 3 more write(s) refused")


async def test_min_free_refuses_new_writes_early_deletes_go_on(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    # An upload in progress with one part, before space runs low.
    created = await node.request("POST", "/bkt/mp", query="uploads")
    upload_id = ElementTree.fromstring(created.body).findtext(f"{{{S3_NS}}}UploadId")
    assert upload_id
    part1 = await node.request(
        "PUT", "/bkt/mp", query=f"partNumber=1&uploadId={upload_id}", body=pattern(PART, "p1")
    )
    assert part1.status == 200
    assert (await node.request("PUT", "/bkt/doomed", body=pattern(5000, "doomed"))).status == 200
    before = blob_files(node.data_dir)
    created_before = list(fs.created)

    fs.free_bytes = 4 * MiB - 1  # below --min-free 4MiB
    complete = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{part1.header('etag')}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    with caplog.at_level(logging.INFO):
        refused = [
            await node.request("PUT", "/bkt/new", body=pattern(10, "new")),
            await node.request(
                "PUT", "/bkt/mp", query=f"partNumber=2&uploadId={upload_id}", body=b"x"
            ),
            await node.request("POST", "/bkt/mp", query=f"uploadId={upload_id}", body=complete),
            await node.request("PUT", "/bkt/copy", headers=[("x-amz-copy-source", "/bkt/old")]),
            await node.request(
                "PUT",
                "/bkt/mp",
                query=f"partNumber=3&uploadId={upload_id}",
                headers=[("x-amz-copy-source", "/bkt/old")],
            ),
            await node.request("POST", "/bkt/other", query="uploads"),
        ]
        for response in refused:
            assert_full(response)
        # Refused before a byte went to disk.
        assert fs.created == created_before
        assert blob_files(node.data_dir) == before
        # Deletes, reads and listings go on.
        old = await node.request("GET", "/bkt/old")
        assert (old.status, old.body) == (200, pattern(MiB + 3, "old"))
        assert (await node.request("DELETE", "/bkt/doomed")).status == 204
        assert (await node.request("HEAD", "/bkt/doomed")).status == 404
        aborted = await node.request("DELETE", "/bkt/mp", query=f"uploadId={upload_id}")
        assert aborted.status == 204
        listed = await node.request("GET", "/bkt", query="list-type=2")
        assert listed.status == 200 and b"<Key>old</Key>" in listed.body
    lines = [r.getMessage() for r in caplog.records if "disk" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "--min-free keeps 4194304" in lines[0]
    assert not tracebacks(caplog)

    # A write that would cross the line is refused by its declared length;
    # one that leaves enough room goes through.
    fs.free_bytes = 4 * MiB + 1000
    assert_full(await node.request("PUT", "/bkt/big", body=pattern(1001, "big")))
    put = await node.request("PUT", "/bkt/small", body=pattern(1000, "small"))
    assert put.status == 200, put
    fs.free_bytes = 100 * MiB
    put = await node.request("PUT", "/bkt/big", body=pattern(1001, "big"))
    assert put.status == 200, put
    got = await node.request("GET", "/bkt/big")
    assert (got.status, got.body) == (200, pattern(1001, "big"))


async def test_a_retried_complete_gets_its_answer_below_min_free(
    faulty: tuple[Harness, FaultyFS], autojump_clock: MockClock
) -> None:
    """A Complete repeated after it made its object (its response was lost)
    writes nothing: it still gets the same success when space is low, not a
    507 that the SDK would take for a failure."""
    node, fs = faulty
    created = await node.request("POST", "/bkt/mp", query="uploads")
    upload_id = ElementTree.fromstring(created.body).findtext(f"{{{S3_NS}}}UploadId")
    assert upload_id
    part1 = await node.request(
        "PUT", "/bkt/mp", query=f"partNumber=1&uploadId={upload_id}", body=pattern(PART, "p1")
    )
    complete = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{part1.header('etag')}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    first = await node.request("POST", "/bkt/mp", query=f"uploadId={upload_id}", body=complete)
    assert first.status == 200, first
    fs.free_bytes = 0
    again = await node.request("POST", "/bkt/mp", query=f"uploadId={upload_id}", body=complete)
    assert (again.status, again.body) == (200, first.body)
    got = await node.request("GET", "/bkt/mp")
    assert (got.status, got.body) == (200, pattern(PART, "p1"))


async def test_eio_reading_a_blob_answers_500_once_with_the_path(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    blob = next(name for name in blob_files(node.data_dir) if name.count("/") == 1)
    fs.eio_read.add(f"blobs/{blob}")
    with caplog.at_level(logging.INFO):
        got = await node.request("GET", "/bkt/old")
    assert got.status == 500, got
    assert error_fields(got)["Code"] == "InternalError"
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert f"blob read blobs/{blob}" in message and "Input/output error" in message, message
    assert not tracebacks(caplog)
    fs.eio_read.clear()
    got = await node.request("GET", "/bkt/old")
    assert (got.status, got.body) == (200, pattern(MiB + 3, "old"))


async def test_eio_writing_a_blob_answers_500_once_and_leaves_nothing(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    before = blob_files(node.data_dir)
    fs.eio_write = True
    with caplog.at_level(logging.INFO):
        put = await node.request("PUT", "/bkt/new", body=pattern(3 * MiB, "new"))
    assert put.status == 500, put
    assert error_fields(put)["Code"] == "InternalError"
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "blob write tmp/" in lines[0].getMessage()
    assert "Input/output error" in lines[0].getMessage()
    assert not tracebacks(caplog)
    assert blob_files(node.data_dir) == before
    # (That connection closed: the body it did not read is over the drain limit.)
    assert (await node.connect().request("HEAD", "/bkt/new")).status == 404


async def test_emfile_opening_a_blob_answers_503_slowdown(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    fs.emfile_reads = True
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            got = await node.request("GET", "/bkt/old")
            assert got.status == 503, got
            assert error_fields(got)["Code"] == "SlowDown"
            assert got.header("retry-after") == "1"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert "out of file descriptors (blob open blobs/" in lines[0]
    assert not tracebacks(caplog)
    fs.emfile_reads = False
    got = await node.request("GET", "/bkt/old")
    assert (got.status, got.body) == (200, pattern(MiB + 3, "old"))


async def test_emfile_anywhere_in_a_request_answers_503_slowdown(
    faulty: tuple[Harness, FaultyFS],
    autojump_clock: MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, fs = faulty
    fs.emfile_statvfs = True
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            put = await node.request("PUT", "/bkt/new", body=pattern(1000, "new"))
            assert put.status == 503, put
            assert error_fields(put)["Code"] == "SlowDown"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        "out of file descriptors (request: [Errno 24] Too many open files): answering 503 "
        "SlowDown until some are free"
    ]
    assert not tracebacks(caplog)
    fs.emfile_statvfs = False
    assert (await node.request("HEAD", "/bkt/new")).status == 404
