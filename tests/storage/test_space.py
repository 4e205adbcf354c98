"""--min-free's parsing and threshold, the burst logging of a full disk, the
errno classification of storage errors (storage/space.py, errors.py, meta.py),
and the free space the real filesystem reports."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.storage.errors import (
    DiskFault,
    OutOfDescriptors,
    StorageFull,
    classify,
)
from hamster.storage.fs import RealFileSystem
from hamster.storage.meta import classify_leveldb_error
from hamster.storage.space import DEFAULT_MIN_FREE, GIB, FullBurst, MinFree, parse_min_free

MiB = 1 << 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", MinFree(size_bytes=0)),
        ("4096", MinFree(size_bytes=4096)),
        ("512MiB", MinFree(size_bytes=512 * MiB)),
        ("512mib", MinFree(size_bytes=512 * MiB)),
        ("2G", MinFree(size_bytes=2 * GIB)),
        ("2 GiB", MinFree(size_bytes=2 * GIB)),
        ("10GB", MinFree(size_bytes=10 * 1000**3)),
        ("3k", MinFree(size_bytes=3 * 1024)),
        ("3KB", MinFree(size_bytes=3000)),
        ("1T", MinFree(size_bytes=1024**4)),
        ("7B", MinFree(size_bytes=7)),
        ("5%", MinFree(percent=5.0)),
        ("0.5%", MinFree(percent=0.5)),
        ("100%", MinFree(percent=100.0)),
        ("1GiB,1%", MinFree(size_bytes=GIB, percent=1.0)),
        ("1% , 1GiB", MinFree(size_bytes=GIB, percent=1.0)),
    ],
)
def test_parse_min_free(text: str, expected: MinFree) -> None:
    assert parse_min_free(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "-1", "1.5G", "1X", "GiB", "101%", "5%,6%", "1G,2G", "1G,1%,1%", "%", "1 %%", "0x10"],
)
def test_parse_min_free_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_min_free(text)


@given(st.integers(min_value=0, max_value=1 << 50), st.sampled_from(["", "K", "MiB", "GB"]))
def test_parse_min_free_sizes(number: int, unit: str) -> None:
    scale = {"": 1, "K": 1024, "MiB": MiB, "GB": 1000**3}[unit]
    assert parse_min_free(f"{number}{unit}") == MinFree(size_bytes=number * scale)


def test_threshold_is_the_smaller_of_size_and_percent() -> None:
    # The default: 1 GiB or 1 %, whichever is smaller.
    assert DEFAULT_MIN_FREE.threshold_bytes(50 * GIB) == 50 * GIB // 100
    assert DEFAULT_MIN_FREE.threshold_bytes(100 * GIB) == GIB
    assert DEFAULT_MIN_FREE.threshold_bytes(1000 * GIB) == GIB
    assert MinFree(size_bytes=5).threshold_bytes(1000) == 5
    assert MinFree(percent=2.5).threshold_bytes(1000) == 25
    assert MinFree().threshold_bytes(1000) == 0
    assert str(DEFAULT_MIN_FREE) == "1073741824 bytes or 1%"


def test_full_burst_lines() -> None:
    burst = FullBurst(interval_ns=60)
    assert burst.accepted() is None  # no run to end
    assert burst.refused(1000) == 0  # the run starts: its one warning
    assert [burst.refused(t) for t in (1001, 1030, 1059)] == [None, None, None]
    assert burst.refused(1060) == 4  # a minute on: a summary of the 4 since
    assert burst.refused(1100) is None
    assert burst.refused(1119) is None
    assert burst.refused(1120) == 3  # 1100, 1119 and itself
    assert burst.accepted() == 8  # every refusal of the run
    assert burst.accepted() is None
    assert burst.refused(5000) == 0  # a new run
    assert burst.accepted() == 1


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
def test_classify(code: int, kind: type) -> None:
    error = classify(OSError(code, os.strerror(code)), "blob write", "tmp/x")
    assert type(error) is kind
    assert error is not None
    assert (error.op, error.path) == ("blob write", "tmp/x")
    assert str(error) == f"blob write tmp/x: [Errno {code}] {os.strerror(code)}"


@pytest.mark.parametrize("code", [errno.ENOENT, errno.EACCES, errno.EEXIST, errno.EROFS])
def test_classify_leaves_the_rest(code: int) -> None:
    assert classify(OSError(code, os.strerror(code)), "open", "p") is None


def test_classify_leveldb_error() -> None:
    import plyvel

    full = plyvel.IOError(b"IO error: /d/meta/000005.log: No space left on device")
    error = classify_leveldb_error(full, "metadata write")
    assert isinstance(error, StorageFull) and error.path == "meta"
    assert str(error) == "metadata write meta: [Errno 28] No space left on device"
    quota = classify_leveldb_error(plyvel.IOError("IO error: x: Disk quota exceeded"), "w")
    assert isinstance(quota, StorageFull)
    files = classify_leveldb_error(plyvel.IOError("IO error: x: Too many open files"), "r")
    assert isinstance(files, OutOfDescriptors)
    assert classify_leveldb_error(plyvel.IOError("IO error: x: Input/output error"), "r") is None


async def test_real_disk_space_is_statvfs(tmp_path: Path) -> None:
    space = await RealFileSystem(str(tmp_path)).disk_space()
    st_ = os.statvfs(tmp_path)
    assert space.total_bytes == st_.f_blocks * st_.f_frsize
    # Free space moves with other writers: within a few MiB of statvfs's.
    assert abs(space.free_bytes - st_.f_bavail * st_.f_frsize) < 64 * MiB
    assert 0 <= space.free_bytes <= space.total_bytes
