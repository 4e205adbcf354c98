"""The store's disk-error handling, pinned exactly: `classify` and
`StorageError` (errors.py), `MinFree`, `parse_min_free`, `FullBurst` and
`SpaceGuard` (space.py: thresholds at their edges, the log lines' text, level
and timing under the runtime's clock), the op and path of the `StorageError`
of every disk step of a blob write, a blob open or read and a LevelDB call,
and the wiring of the guard through Store.open, Core and BlobStore."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import plyvel
import pytest
import trio
import trio.testing

from hamster.runtime import Runtime
from hamster.storage import PutRequest, Store
from hamster.storage import store as store_module
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, BlobStore, blob_path
from hamster.storage.blobs import tmp_path as tmp_blob_path
from hamster.storage.core import Core
from hamster.storage.errors import (
    DiskFault,
    OutOfDescriptors,
    StorageError,
    StorageFull,
    classify,
)
from hamster.storage.fs import DiskSpace, ReadableFile, RealFileSystem, WritableFile
from hamster.storage.meta import LevelDBMetaStore
from hamster.storage.multipart import PartRequest
from hamster.storage.space import (
    REPORT_INTERVAL_NS,
    FullBurst,
    MinFree,
    SpaceGuard,
    parse_min_free,
)
from tests.patterns import pattern

from .bodies import BytesBody
from .conftest import CountingEntropy
from .test_multipart import MIN_PART, OWNER, complete, create, part
from .test_write_order import RecordingFS

BLOB_ID = "ab" + "0123456789abcdef" + "0123456789abcd"
START_NS = 1_700_000_000_000_000_000


class ManualClock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = START_NS

    def now_ns(self) -> int:
        return self.now


def manual_runtime() -> tuple[ManualClock, Runtime]:
    clock = ManualClock()
    return clock, Runtime(clock=clock, entropy=CountingEntropy())


def oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def words(code: int) -> str:
    return f"[Errno {code}] {os.strerror(code)}"


class FaultFS(RecordingFS):
    """A real filesystem that raises `fault` at the one call named `fail_at`
    ("open_write", "write", "sync", "makedirs", "rename", "sync_dir",
    "open_read", "read_at"; for a path-taking call only on `fail_path`, if
    set), and reports `space` as its free space."""

    def __init__(self, root: str) -> None:
        super().__init__(RealFileSystem(root), [])
        self.fail_at: str | None = None
        self.fail_path: str | None = None
        self.fault: OSError = oserror(errno.EIO)
        self.space: DiskSpace | None = None

    def _check(self, call: str, path: str = "") -> None:
        if call == self.fail_at and (self.fail_path is None or path == self.fail_path):
            raise self.fault

    async def open_write(self, path: str) -> WritableFile:
        self._check("open_write", path)
        return FaultFile(await self.inner.open_write(path), self, path)

    async def open_read(self, path: str) -> ReadableFile:
        self._check("open_read", path)
        return FaultReadFile(await self.inner.open_read(path), self, path)

    async def rename(self, src: str, dst: str) -> None:
        self._check("rename", dst)
        await self.inner.rename(src, dst)

    async def link(self, src: str, dst: str) -> None:
        self._check("link", dst)
        await self.inner.link(src, dst)

    async def sync_dir(self, path: str) -> None:
        self._check("sync_dir", path)
        await self.inner.sync_dir(path)

    async def makedirs(self, path: str) -> None:
        self._check("makedirs", path)
        await self.inner.makedirs(path)

    async def disk_space(self) -> DiskSpace | None:
        return self.space


class FaultFile:
    def __init__(self, inner: WritableFile, fs: FaultFS, path: str) -> None:
        self.inner, self.fs, self.path = inner, fs, path

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self.fs._check("write", self.path)
        await self.inner.write(data)

    async def sync(self) -> None:
        self.fs._check("sync", self.path)
        await self.inner.sync()

    async def close(self) -> None:
        await self.inner.close()


class FaultReadFile:
    def __init__(self, inner: ReadableFile, fs: FaultFS, path: str) -> None:
        self.inner, self.fs, self.path = inner, fs, path

    async def read_at(self, offset: int, size: int) -> bytes:
        self.fs._check("read_at", self.path)
        return await self.inner.read_at(offset, size)

    async def size(self) -> int:
        return await self.inner.size()

    async def close(self) -> None:
        await self.inner.close()


def storage_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "hamster.storage"]


# --- errors.py ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (errno.ENOSPC, StorageFull),
        (errno.EDQUOT, StorageFull),
        (errno.EMFILE, OutOfDescriptors),
        (errno.ENFILE, OutOfDescriptors),
        (errno.EIO, DiskFault),
    ],
)
@pytest.mark.parametrize("path", ["blobs/ab/x", ""])
def test_classify_names_class_op_path_and_the_os_words(
    code: int, kind: type[StorageError], path: str
) -> None:
    error = classify(oserror(code), "blob read", path)
    assert type(error) is kind
    assert error is not None
    assert (error.op, error.path, error.detail) == ("blob read", path, words(code))
    where = f"blob read {path}" if path else "blob read"
    assert str(error) == f"{where}: {words(code)}"
    assert error.args == (str(error),)


@pytest.mark.parametrize(
    ("code", "name"), [(errno.ENOSPC, "ENOSPC"), (errno.EMFILE, "EMFILE"), (errno.EIO, "EIO")]
)
def test_classify_without_the_os_words_names_the_errno(code: int, name: str) -> None:
    for exc in (OSError(code, ""), OSError(code, None)):
        error = classify(exc, "blob write", "tmp/x")
        assert error is not None
        assert error.detail == f"[Errno {code}] {name}"
        assert str(error) == f"blob write tmp/x: [Errno {code}] {name}"


@pytest.mark.parametrize("code", [errno.ENOENT, errno.EACCES, errno.EROFS, errno.EAGAIN])
def test_classify_leaves_other_errnos_alone(code: int) -> None:
    assert classify(oserror(code), "blob open", "blobs/ab/x") is None
    assert classify(OSError("no errno at all"), "blob open", "") is None


def test_storage_error_without_a_path() -> None:
    error = StorageFull("write", "", "100 bytes free")
    assert (error.op, error.path, error.detail) == ("write", "", "100 bytes free")
    assert str(error) == "write: 100 bytes free"
    assert str(DiskFault("read", "meta", "[Errno 5] x")) == "read meta: [Errno 5] x"


# --- MinFree and parse_min_free ----------------------------------------------


def test_min_free_bounds() -> None:
    assert MinFree(percent=0).threshold_bytes(1000) == 0
    assert MinFree(percent=100).threshold_bytes(1000) == 1000
    assert MinFree(size_bytes=0).threshold_bytes(1000) == 0
    for bad in ({"percent": 100.5}, {"percent": 101}, {"percent": -0.1}, {"size_bytes": -1}):
        with pytest.raises(AssertionError):
            MinFree(**bad)


def test_min_free_str() -> None:
    assert str(MinFree()) == "0"
    assert str(MinFree(size_bytes=0)) == "0 bytes"
    assert str(MinFree(size_bytes=4096)) == "4096 bytes"
    assert str(MinFree(percent=2.5)) == "2.5%"
    assert str(MinFree(size_bytes=7, percent=0)) == "7 bytes or 0%"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected SIZE, PERCENT% or SIZE,PERCENT%, got ''"),
        ("1X", "expected SIZE, PERCENT% or SIZE,PERCENT%, got '1X'"),
        ("1G,x", "expected SIZE, PERCENT% or SIZE,PERCENT%, got '1G,x'"),
        ("1G,1%,1%", "expected SIZE, PERCENT% or SIZE,PERCENT%, got '1G,1%,1%'"),
        ("1G,2G,3G", "expected SIZE, PERCENT% or SIZE,PERCENT%, got '1G,2G,3G'"),
        ("5%,6%", "bad percentage in '5%,6%'"),
        ("101%", "bad percentage in '101%'"),
        ("1G,2G", "two sizes in '1G,2G'"),
    ],
)
def test_parse_min_free_messages(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_min_free(text)
    assert caught.value.args == (message,)


# --- FullBurst ---------------------------------------------------------------


def test_full_burst_interval_must_be_positive() -> None:
    with pytest.raises(AssertionError):
        FullBurst(interval_ns=0)
    burst = FullBurst(interval_ns=1)
    assert (burst.active, burst.total) == (False, 0)
    assert burst.refused(10) == 0
    assert burst.refused(10) is None
    assert burst.refused(11) == 2
    assert FullBurst().interval_ns == REPORT_INTERVAL_NS == 60_000_000_000


# --- SpaceGuard --------------------------------------------------------------


class SpaceFS(RecordingFS):
    """A filesystem that reports `space` (nothing else is called)."""

    def __init__(self, space: DiskSpace | None) -> None:
        super().__init__(RealFileSystem("/nonexistent"), [])
        self.space = space

    async def disk_space(self) -> DiskSpace | None:
        return self.space


async def test_require_refuses_only_below_the_threshold() -> None:
    _clock, runtime = manual_runtime()
    fs = SpaceFS(DiskSpace(free_bytes=1100, total_bytes=10_000))
    guard = SpaceGuard(fs, runtime, MinFree(size_bytes=1000))
    await guard.require(100)  # leaves exactly the minimum: accepted
    await guard.require(0)
    await guard.require()  # the default asks for nothing
    fs.space = DiskSpace(free_bytes=1000, total_bytes=10_000)
    await guard.require()  # at the threshold itself: asks for 0 bytes
    with pytest.raises(StorageFull) as caught:
        await guard.require(1)
    error = caught.value
    assert type(error) is StorageFull
    assert (error.op, error.path) == ("write", "")
    assert error.detail == "1000 bytes free, 1 to write, --min-free keeps 1000"
    assert str(error) == "write: 1000 bytes free, 1 to write, --min-free keeps 1000"
    fs.space = DiskSpace(free_bytes=1100, total_bytes=10_000)
    with pytest.raises(StorageFull, match=r"^write: 1100 bytes free, 101 to write, "):
        await guard.require(101)


async def test_require_with_a_percentage_and_unknown_space() -> None:
    _clock, runtime = manual_runtime()
    fs = SpaceFS(DiskSpace(free_bytes=50, total_bytes=1000))
    guard = SpaceGuard(fs, runtime, MinFree(percent=5))  # keeps 50
    await guard.require(0)
    with pytest.raises(
        StorageFull, match=r"^write: 50 bytes free, 1 to write, --min-free keeps 50\Z"
    ):
        await guard.require(1)
    fs.space = None  # unknown: nothing refused early
    await guard.require(10**15)
    fs.space = DiskSpace(free_bytes=0, total_bytes=1000)
    await SpaceGuard(fs, runtime, MinFree()).require(10**15)  # keeps nothing


async def test_refusals_log_once_per_burst_under_the_runtime_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hamster.storage")
    clock, runtime = manual_runtime()
    fs = SpaceFS(DiskSpace(free_bytes=10, total_bytes=1000))
    guard = SpaceGuard(fs, runtime, MinFree(size_bytes=10))
    first = "write: 10 bytes free, 3 to write, --min-free keeps 10"
    with pytest.raises(StorageFull):
        await guard.require(3)
    assert storage_lines(caplog) == [
        (
            logging.WARNING,
            f"disk full ({first}): refusing writes with 507 XHamsterStorageFull until space "
            "returns; reads and deletes go on",
        )
    ]
    caplog.clear()
    clock.now += REPORT_INTERVAL_NS - 1
    with pytest.raises(StorageFull):
        await guard.require(4)
    assert storage_lines(caplog) == []  # not yet a minute
    clock.now += 1
    with pytest.raises(StorageFull):
        await guard.require(5)
    assert storage_lines(caplog) == [
        (
            logging.WARNING,
            "disk still full (write: 10 bytes free, 5 to write, --min-free keeps 10): "
            "2 more write(s) refused",
        )
    ]
    caplog.clear()
    guard.refused(StorageFull("blob write", "tmp/x", words(errno.ENOSPC)))
    assert storage_lines(caplog) == []
    guard.accepted()
    assert storage_lines(caplog) == [
        (logging.INFO, "disk space is back: writes accepted again (4 refused while full)")
    ]
    caplog.clear()
    guard.accepted()  # no run to end: no line
    assert storage_lines(caplog) == []
    guard.refused(StorageFull("blob write", "tmp/y", words(errno.EDQUOT)))
    assert storage_lines(caplog) == [
        (
            logging.WARNING,
            f"disk full (blob write tmp/y: {words(errno.EDQUOT)}): refusing writes with 507 "
            "XHamsterStorageFull until space returns; reads and deletes go on",
        )
    ]


# --- blob writes: the op and path of every step -------------------------------


async def fault_blobs(tmp_path: Path) -> tuple[FaultFS, BlobStore]:
    fs = FaultFS(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    return fs, BlobStore(fs, manual_runtime()[1], chunk_bytes=4096)


async def write_blob(blobs: BlobStore, size: int = 10_000) -> None:
    data = pattern(size, "disk-errors")
    await blobs.write(
        BLOB_ID, BytesBody(data, 3000), content_length=size, max_size_bytes=size, content_md5=None
    )


@pytest.mark.parametrize(
    ("fail_at", "fail_path", "where"),
    [
        ("open_write", None, f"blob create {tmp_blob_path(BLOB_ID)}"),
        ("write", None, f"blob write {tmp_blob_path(BLOB_ID)}"),
        ("sync", None, f"blob sync {tmp_blob_path(BLOB_ID)}"),
        ("sync_dir", TMP_DIR, f"blob directory sync {TMP_DIR}"),
    ],
)
@pytest.mark.parametrize(
    ("code", "kind"),
    [(errno.ENOSPC, StorageFull), (errno.EMFILE, OutOfDescriptors), (errno.EIO, DiskFault)],
)
async def test_each_step_of_a_blob_write_names_itself(
    tmp_path: Path,
    fail_at: str,
    fail_path: str | None,
    where: str,
    code: int,
    kind: type[StorageError],
) -> None:
    fs, blobs = await fault_blobs(tmp_path)
    fs.fail_at, fs.fail_path, fs.fault = fail_at, fail_path, oserror(code)
    with pytest.raises(StorageError) as caught:
        await write_blob(blobs)
    assert type(caught.value) is kind
    assert str(caught.value) == f"{where}: {words(code)}"
    assert caught.value.__cause__ is fs.fault
    assert not (tmp_path / tmp_blob_path(BLOB_ID)).exists()
    assert not (tmp_path / blob_path(BLOB_ID)).exists()


class HeldBody:
    """Serves `data` in `piece_bytes` pieces; after the first, the next
    bytes arrive only once `arrive` is set (a client's next packet)."""

    def __init__(self, data: bytes, piece_bytes: int) -> None:
        self.data, self.offset, self.piece_bytes = data, 0, piece_bytes
        self.arrive = trio.Event()

    async def read(self, max_bytes: int) -> bytes:
        if self.offset:
            await self.arrive.wait()
        n = min(max_bytes, self.piece_bytes)
        out = self.data[self.offset : self.offset + n]
        self.offset += len(out)
        return out


class RacingFaultFile(FaultFile):
    """A FaultFile whose failing write lets `body`'s next bytes arrive one
    scheduling step before it fails, so that the body reader hands over a
    chunk just as the writer stage gives up (as on a busy server)."""

    def __init__(self, inner: WritableFile, fs: FaultFS, path: str, body: HeldBody) -> None:
        super().__init__(inner, fs, path)
        self.body = body

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.fs.fail_at == "write":
            self.body.arrive.set()
            await trio.lowlevel.checkpoint()
        await super().write(data)


# Which of the two stages trio runs first after the failure is a coin toss
# (it reverses half of its run batches): this many writes try both orders.
RACE_TRIES = 24


@pytest.mark.parametrize(("code", "kind"), [(errno.ENOSPC, StorageFull), (errno.EIO, DiskFault)])
async def test_a_write_failing_while_the_reader_waits_to_hand_over_still_names_itself(
    tmp_path: Path, code: int, kind: type[StorageError]
) -> None:
    """The writer stage's error comes out, never the reader's broken channel
    (which answered a full disk with a retried 500 InternalError)."""
    fs, blobs = await fault_blobs(tmp_path)
    inner_open = fs.open_write
    body = HeldBody(b"", 1)

    async def open_write(path: str) -> WritableFile:
        f = await inner_open(path)
        assert isinstance(f, FaultFile)
        return RacingFaultFile(f.inner, fs, path, body)

    fs.open_write = open_write  # type: ignore[method-assign]
    fs.fail_at, fs.fault = "write", oserror(code)
    size = 3 * 4096
    for _ in range(RACE_TRIES):
        body = HeldBody(pattern(size, "race"), 4096)
        with pytest.raises(StorageError) as caught:
            await blobs.write(
                BLOB_ID, body, content_length=size, max_size_bytes=size, content_md5=None
            )
        assert type(caught.value) is kind
        assert str(caught.value) == f"blob write {tmp_blob_path(BLOB_ID)}: {words(code)}"
        assert caught.value.__cause__ is fs.fault
        assert not (tmp_path / tmp_blob_path(BLOB_ID)).exists()


async def test_a_full_disk_under_a_blob_write_is_counted_and_its_end_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """BlobStore without a `space` gets a working guard of its own: a full
    disk is logged once with the error, the next good write ends the run."""
    caplog.set_level(logging.DEBUG, logger="hamster.storage")
    fs, blobs = await fault_blobs(tmp_path)
    fs.space = DiskSpace(free_bytes=0, total_bytes=1000)
    await blobs.space.require(10**12)  # the default keeps nothing free
    fs.fail_at, fs.fault = "write", oserror(errno.ENOSPC)
    with pytest.raises(StorageFull):
        await write_blob(blobs)
    assert storage_lines(caplog) == [
        (
            logging.WARNING,
            f"disk full (blob write {tmp_blob_path(BLOB_ID)}: {words(errno.ENOSPC)}): refusing "
            "writes with 507 XHamsterStorageFull until space returns; reads and deletes go on",
        )
    ]
    caplog.clear()
    fs.fail_at = None
    await write_blob(blobs)
    assert storage_lines(caplog) == [
        (logging.INFO, "disk space is back: writes accepted again (1 refused while full)")
    ]


async def test_an_io_error_of_a_blob_write_is_not_a_full_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hamster.storage")
    fs, blobs = await fault_blobs(tmp_path)
    fs.fail_at, fs.fault = "sync", oserror(errno.EIO)
    with pytest.raises(DiskFault):
        await write_blob(blobs)
    assert storage_lines(caplog) == []
    assert blobs.space.burst.active is False


async def test_blob_store_uses_the_guard_it_is_given(tmp_path: Path) -> None:
    fs = FaultFS(str(tmp_path))
    _clock, runtime = manual_runtime()
    guard = SpaceGuard(fs, runtime, MinFree(size_bytes=5))
    assert BlobStore(fs, runtime, space=guard).space is guard


# --- LevelDB errors ------------------------------------------------------------


class FailingDB:
    """A plyvel DB stand-in whose every call fails as LevelDB reports `text`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise plyvel.IOError(self.text)

    get = iterator = write_batch = _fail

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("text", "kind", "code"),
    [
        ("IO error: /d/meta/000005.log: No space left on device", StorageFull, errno.ENOSPC),
        ("IO error: /d/meta/000007.ldb: Too many open files", OutOfDescriptors, errno.EMFILE),
    ],
)
async def test_leveldb_calls_name_their_op(text: str, kind: type[StorageError], code: int) -> None:
    store = LevelDBMetaStore(FailingDB(text))
    with pytest.raises(StorageError) as read:
        await store.get(b"k")
    with pytest.raises(StorageError) as scan:
        async for _ in store.scan(b"p/"):
            pass
    with pytest.raises(StorageError) as write:
        await store.write([(b"k", b"v")], [], sync=True)
    for caught, op in ((read, "metadata read"), (scan, "metadata read"), (write, "metadata write")):
        assert type(caught.value) is kind
        assert str(caught.value) == f"{op} meta: {words(code)}"
        assert isinstance(caught.value.__cause__, plyvel.IOError)
    await store.close()


async def test_other_leveldb_io_errors_stay_as_they_are() -> None:
    store = LevelDBMetaStore(FailingDB("IO error: x: Input/output error"))
    with pytest.raises(plyvel.IOError):
        await store.get(b"k")
    await store.close()


# --- the store: reads, and the guard's wiring ------------------------------------


async def open_fault_store(
    data_dir: Path, runtime: Runtime | None = None, **kw: Any
) -> tuple[FaultFS, Store]:
    (data_dir / "meta").mkdir(parents=True)
    fs = FaultFS(str(data_dir))
    runtime = runtime if runtime is not None else manual_runtime()[1]
    meta = await LevelDBMetaStore.open(str(data_dir / "meta"))
    store = await Store.open(
        str(data_dir), runtime, fs=fs, meta=meta, min_part_bytes=MIN_PART, **kw, inline_max_bytes=0
    )
    await store.create_bucket("bk", OWNER, "us-east-1")
    return fs, store


@pytest.fixture
async def faulty(tmp_path: Path) -> AsyncIterator[tuple[FaultFS, Store]]:
    fs, store = await open_fault_store(tmp_path / "d")
    try:
        yield fs, store
    finally:
        await store.close()


async def put(store: Store, key: str, data: bytes, *, declared: bool = True) -> None:
    """PUT `data`, its Content-Length declared unless told otherwise."""
    req = PutRequest(bucket="bk", key=key, content_length=len(data) if declared else None)
    await store.put_object(req, BytesBody(data))


@pytest.mark.parametrize(
    ("code", "kind"), [(errno.EMFILE, OutOfDescriptors), (errno.EIO, DiskFault)]
)
async def test_opening_and_reading_an_object_name_the_blob(
    faulty: tuple[FaultFS, Store],
    code: int,
    kind: type[StorageError],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The streamed read (an object above SMALL_READ_BYTES: here all are)."""
    monkeypatch.setattr(store_module, "SMALL_READ_BYTES", 0)
    fs, store = faulty
    data = pattern(5000, "open-read")
    await put(store, "k", data)
    info = await store.head_object("bk", "k")
    path = blob_path(info.blob_id)
    fs.fail_at, fs.fault = "open_read", oserror(code)
    with pytest.raises(StorageError) as opening:
        await store.open_object("bk", "k")
    assert type(opening.value) is kind
    assert str(opening.value) == f"blob open {path}: {words(code)}"
    fs.fail_at = "read_at"
    async with await store.open_object("bk", "k") as reader:
        with pytest.raises(StorageError) as reading:
            async for _ in reader.stream(0, len(data)):
                pass
    assert type(reading.value) is kind
    assert str(reading.value) == f"blob read {path}: {words(code)}"
    fs.fail_at = None
    async with await store.open_object("bk", "k") as reader:
        assert b"".join([c async for c in reader.stream(0, len(data))]) == data


@pytest.mark.parametrize(
    ("code", "kind"), [(errno.EMFILE, OutOfDescriptors), (errno.EIO, DiskFault)]
)
@pytest.mark.parametrize("fail_at", ["open_read", "read_at"])
async def test_reading_a_small_object_whole_names_the_blob(
    faulty: tuple[FaultFS, Store], code: int, kind: type[StorageError], fail_at: str
) -> None:
    """A small object is opened and read in one call: either failing is an
    error of opening it, before any byte is answered."""
    fs, store = faulty
    data = pattern(5000, "open-read")
    await put(store, "k", data)
    path = blob_path((await store.head_object("bk", "k")).blob_id)
    fs.fail_at, fs.fault = fail_at, oserror(code)
    with pytest.raises(StorageError) as opening:
        await store.open_object("bk", "k")
    assert type(opening.value) is kind
    assert str(opening.value) == f"blob open {path}: {words(code)}"
    fs.fail_at = None
    async with await store.open_object("bk", "k") as reader:
        assert b"".join([c async for c in reader.stream(0, len(data))]) == data


async def test_opening_a_later_part_of_a_multipart_object_names_its_blob(
    faulty: tuple[FaultFS, Store],
) -> None:
    fs, store = faulty
    upload = await create(store)
    data = pattern(30, "parts")
    parts = [
        await part(store, upload, 1, data[:MIN_PART]),
        await part(store, upload, 2, data[MIN_PART:]),
    ]
    await complete(store, upload, parts)
    second = blob_path(parts[1].blob_id)
    fs.fail_at, fs.fail_path, fs.fault = "open_read", second, oserror(errno.ENFILE)
    async with await store.open_object("bk", "k") as reader:
        got = bytearray()
        with pytest.raises(OutOfDescriptors) as caught:
            async for chunk in reader.stream(0, len(data)):
                got += chunk
    assert bytes(got) == data[:MIN_PART]
    assert str(caught.value) == f"blob open {second}: {words(errno.ENFILE)}"


async def test_store_open_passes_min_free_through(tmp_path: Path) -> None:
    fs, store = await open_fault_store(tmp_path / "d", min_free=MinFree(size_bytes=1000))
    try:
        fs.space = DiskSpace(free_bytes=1100, total_bytes=10**9)
        data = pattern(100, "min-free")
        await put(store, "fits", data)  # leaves exactly 1000
        with pytest.raises(StorageFull) as caught:
            await put(store, "over", pattern(101, "min-free"))
        assert str(caught.value) == "write: 1100 bytes free, 101 to write, --min-free keeps 1000"
        assert await store.get_object_info("bk", "over") is None
    finally:
        await store.close()


async def test_a_put_or_part_without_a_length_asks_for_nothing(
    faulty: tuple[FaultFS, Store],
) -> None:
    """A body of unknown length is checked as 0 bytes: at exactly the
    threshold it is let through (the disk refuses it if it must)."""
    fs, store = faulty
    keep = min(1 << 30, 10**9 // 100)  # the default: 1 GiB or 1 %
    fs.space = DiskSpace(free_bytes=keep, total_bytes=10**9)
    data = pattern(64, "no-length")
    await put(store, "k", data, declared=False)
    async with await store.open_object("bk", "k") as reader:
        assert b"".join([c async for c in reader.stream(0, len(data))]) == data
    with pytest.raises(StorageFull, match=r"^write: 10000000 bytes free, 64 to write, "):
        await put(store, "k2", data)
    upload = await create(store)
    req = PartRequest(bucket="bk", key="k", upload_id=upload.upload_id, part_number=1)
    info, _answer = await store.uploads.upload_part(req, BytesBody(data))
    assert info.size == 64
    sized = PartRequest(
        bucket="bk", key="k", upload_id=upload.upload_id, part_number=2, content_length=64
    )
    with pytest.raises(StorageFull, match=r"^write: 10000000 bytes free, 64 to write, "):
        await store.uploads.upload_part(sized, BytesBody(data))


class NoMeta:
    """A metadata store Core is never asked to use here."""

    async def get(self, key: bytes) -> bytes | None:
        raise AssertionError(key)

    async def write(self, puts: Any, deletes: Any, *, sync: bool) -> None:
        raise AssertionError(puts)

    def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> Any:
        raise AssertionError(prefix)

    async def close(self) -> None:
        pass


async def test_core_guard_keeps_min_free_and_is_the_blob_stores(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hamster.storage")
    fs = FaultFS(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    fs.space = DiskSpace(free_bytes=500, total_bytes=10**6)
    _clock, runtime = manual_runtime()
    await Core(fs, NoMeta(), runtime).space.require(10**9)  # no min_free: keeps nothing
    core = Core(fs, NoMeta(), runtime, min_free=MinFree(size_bytes=400))
    await core.space.require(100)
    with pytest.raises(
        StorageFull, match=r"^write: 500 bytes free, 101 to write, --min-free keeps 400\Z"
    ):
        await core.space.require(101)
    caplog.clear()
    # A blob write through the core's blob store ends the core's run.
    await write_blob(core.blobs, 300)
    assert storage_lines(caplog) == [
        (logging.INFO, "disk space is back: writes accepted again (1 refused while full)")
    ]
