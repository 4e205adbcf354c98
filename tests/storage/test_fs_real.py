"""What `RealFileSystem` promises beyond the shared contract
(tests/storage/test_fs_conformance.py): descriptors not inherited by child
processes, blob files readable by the owner's group and others but writable
by the owner only, whole writes through short ones, and the exact assertions
that guard the interface's paths."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hamster.storage.fs import RealFile, RealFileSystem, check_path
from tests.patterns import assert_pattern, pattern


@pytest.fixture
def real(tmp_path: Path) -> RealFileSystem:
    (tmp_path / "root").mkdir()
    return RealFileSystem(str(tmp_path / "root"))


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def descriptor(f: RealFile) -> int:
    fd = f._fd  # the descriptor itself: what the kernel holds for it
    assert fd is not None
    return fd


async def test_files_are_closed_on_exec(real: RealFileSystem) -> None:
    w = await real.open_write("f")
    await w.write(b"x")
    r = await real.open_read("f")
    try:
        for f in (w, r):
            assert fcntl.fcntl(descriptor(f), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        await w.close()
        await r.close()


async def test_new_files_are_0644(real: RealFileSystem, umask_022: None) -> None:
    f = await real.open_write("f")
    await f.close()
    assert os.stat(os.path.join(real.root, "f")).st_mode & 0o777 == 0o644


async def test_a_write_goes_on_through_short_writes(
    real: RealFileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    write = os.write

    def short_write(fd: int, data: memoryview) -> int:
        n = write(fd, data[:7])
        sizes.append(n)
        return n

    monkeypatch.setattr(os, "write", short_write)
    f = await real.open_write("f")
    await f.write(pattern(100, 4))
    await f.close()
    monkeypatch.undo()
    assert sizes == [7] * 14 + [2]
    assert_pattern(Path(real.root, "f").read_bytes(), 4, size=100)


async def test_a_closed_file_says_so(real: RealFileSystem) -> None:
    f = await real.open_write("f")
    await f.close()
    for call in (f.write(b"x"), f.sync(), f.read_at(0, 1), f.size()):
        with pytest.raises(ValueError, match=r"^I/O on a closed file$"):
            await call


def test_check_path_names_what_is_wrong() -> None:
    check_path("", allow_root=True)
    check_path("blobs/ab/c")
    with pytest.raises(AssertionError, match=r"^empty path$"):
        check_path("")
    with pytest.raises(AssertionError, match=r"^absolute path '/etc/passwd'$"):
        check_path("/etc/passwd")
    with pytest.raises(AssertionError, match=r"^NUL in path 'a\\x00b'$"):
        check_path("a\x00b")
    with pytest.raises(AssertionError, match=r"^bad path 'a/\.\./b'$"):
        check_path("a/../b")


async def test_only_directory_calls_take_the_root(real: RealFileSystem) -> None:
    assert await real.listdir("") == []
    assert await real.exists("")
    for call in (real.open_write(""), real.open_read(""), real.remove(""), real.rename("", "x")):
        with pytest.raises(AssertionError, match=r"^empty path$"):
            await call
