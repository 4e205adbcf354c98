"""The contract of `FileSystem`, run against every implementation.

To add an implementation (e.g. the simulator's mock), add a factory to
`FACTORIES`: it gets a fresh empty directory and returns a FileSystem whose
root is empty.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from hamster.storage.fs import FileSystem, RealFileSystem
from sim.fs import SimDisk, SimFileSystem
from tests.patterns import pattern

FACTORIES: dict[str, Callable[[Path], FileSystem]] = {
    "real": lambda tmp: RealFileSystem(str(tmp / "root")),
    "sim": lambda tmp: SimDisk(random.Random(0)).mount(),
}


@pytest.fixture(params=sorted(FACTORIES))
async def fs(request: pytest.FixtureRequest, tmp_path: Path) -> FileSystem:
    made = FACTORIES[request.param](tmp_path)
    await made.makedirs("")
    return made


async def write_file(fs: FileSystem, path: str, data: bytes) -> None:
    f = await fs.open_write(path)
    try:
        await f.write(data)
        await f.sync()
    finally:
        await f.close()


async def read_file(fs: FileSystem, path: str) -> bytes:
    f = await fs.open_read(path)
    try:
        return await f.read_at(0, await f.size())
    finally:
        await f.close()


async def test_write_then_read_round_trip(fs: FileSystem) -> None:
    data = pattern(1_280_000, "fs")  # > 1 MiB
    f = await fs.open_write("a")
    await f.write(data[:1000])
    await f.write(memoryview(data)[1000:])
    await f.sync()
    await f.close()
    r = await fs.open_read("a")
    assert await r.size() == len(data)
    assert await r.read_at(0, len(data)) == data
    assert await r.read_at(10, 5) == data[10:15]
    assert await r.read_at(len(data) - 3, 100) == data[-3:]  # short at EOF
    assert await r.read_at(len(data), 10) == b""
    assert await r.read_at(len(data) + 10, 10) == b""
    await r.close()
    await r.close()  # idempotent


async def test_empty_file(fs: FileSystem) -> None:
    await write_file(fs, "empty", b"")
    assert await read_file(fs, "empty") == b""


async def test_open_write_is_exclusive(fs: FileSystem) -> None:
    await write_file(fs, "x", b"1")
    with pytest.raises(FileExistsError):
        await fs.open_write("x")
    assert await read_file(fs, "x") == b"1"


async def test_open_write_needs_parent(fs: FileSystem) -> None:
    with pytest.raises(FileNotFoundError):
        await fs.open_write("no/such/dir")


async def test_open_read_missing(fs: FileSystem) -> None:
    with pytest.raises(FileNotFoundError):
        await fs.open_read("missing")


async def test_closed_file_refuses_io(fs: FileSystem) -> None:
    f = await fs.open_write("c")
    await f.close()
    with pytest.raises(ValueError):
        await f.write(b"x")


async def test_makedirs_listdir_exists(fs: FileSystem) -> None:
    assert await fs.listdir("") == []
    await fs.makedirs("d/e/f")
    await fs.makedirs("d/e/f")  # exists: fine
    assert await fs.exists("d/e")
    assert not await fs.exists("d/x")
    await write_file(fs, "d/b", b"")
    await write_file(fs, "d/a", b"")
    assert await fs.listdir("d") == ["a", "b", "e"]
    assert await fs.listdir("") == ["d"]
    await fs.sync_dir("d")
    await fs.sync_dir("")
    with pytest.raises(FileNotFoundError):
        await fs.listdir("nope")


async def test_rename_replaces_atomically(fs: FileSystem) -> None:
    await fs.makedirs("t")
    await fs.makedirs("b")
    await write_file(fs, "t/new", b"new")
    await write_file(fs, "b/obj", b"old")
    await fs.rename("t/new", "b/obj")
    await fs.sync_dir("b")
    assert await read_file(fs, "b/obj") == b"new"
    assert not await fs.exists("t/new")
    assert await fs.listdir("t") == []
    with pytest.raises(FileNotFoundError):
        await fs.rename("t/new", "b/other")


async def test_link_names_the_same_file_twice(fs: FileSystem) -> None:
    data = pattern(5000, "link")
    await fs.makedirs("t")
    await fs.makedirs("b")
    await write_file(fs, "t/new", data)
    await fs.link("t/new", "b/obj")
    await fs.sync_dir("b")
    assert await read_file(fs, "b/obj") == data
    assert await read_file(fs, "t/new") == data  # the old name stays
    await fs.remove("t/new")
    assert await read_file(fs, "b/obj") == data
    with pytest.raises(FileExistsError):
        await fs.link("b/obj", "b/obj")
    with pytest.raises(FileNotFoundError):
        await fs.link("t/new", "b/other")


async def test_place_links_syncs_then_removes_the_old_name(fs: FileSystem) -> None:
    data = pattern(5000, "place")
    await fs.makedirs("t")
    await fs.makedirs("b")
    await write_file(fs, "t/new", data)
    await fs.place("t/new", "b/obj")
    assert await read_file(fs, "b/obj") == data
    assert await fs.listdir("t") == []
    # A destination already there (a placement cut after its link) is kept.
    await write_file(fs, "t/again", data)
    await fs.link("t/again", "b/again")
    await fs.place("t/again", "b/again", sync_dir=False)
    assert await read_file(fs, "b/again") == data
    assert await fs.listdir("t") == []
    with pytest.raises(FileNotFoundError):
        await fs.place("t/missing", "b/missing")


async def test_write_file_without_a_rename_syncs_its_own_directory(fs: FileSystem) -> None:
    await fs.makedirs("t")
    step: list[str] = []
    await fs.write_file("t/x", b"kept here", step=step)
    assert step == ["directory sync", "t"]
    assert await read_file(fs, "t/x") == b"kept here"


async def test_remove(fs: FileSystem) -> None:
    await write_file(fs, "r", b"1")
    await fs.remove("r")
    assert not await fs.exists("r")
    with pytest.raises(FileNotFoundError):
        await fs.remove("r")
    await fs.remove("r", missing_ok=True)


async def test_open_file_survives_remove_and_replace(fs: FileSystem) -> None:
    await write_file(fs, "f", b"first")
    held = await fs.open_read("f")
    await write_file(fs, "g", b"second!")
    await fs.rename("g", "f")
    assert await read_file(fs, "f") == b"second!"
    assert await held.read_at(0, 100) == b"first"
    await fs.remove("f")
    assert await held.read_at(0, 100) == b"first"
    await held.close()


@pytest.mark.parametrize("bad", ["/abs", "a/../b", "a//b", "./a", "a/", ".."])
async def test_rejects_malformed_paths(fs: FileSystem, bad: str) -> None:
    with pytest.raises(AssertionError):
        await fs.open_write(bad)


async def test_errors_of_wrong_kinds_of_paths(fs: FileSystem) -> None:
    await fs.makedirs("d")
    await write_file(fs, "d/f", b"file")
    with pytest.raises(NotADirectoryError):
        await fs.open_write("d/f/x")
    with pytest.raises(NotADirectoryError):
        await fs.listdir("d/f")
    with pytest.raises(NotADirectoryError):
        await fs.sync_dir("d/f")
    with pytest.raises(FileNotFoundError):
        await fs.sync_dir("d/missing")
    with pytest.raises(FileExistsError):
        await fs.makedirs("d/f")
    with pytest.raises(FileExistsError):
        await fs.open_write("d")
    with pytest.raises(IsADirectoryError):
        await fs.remove("d")
    await fs.makedirs("d/empty")
    with pytest.raises(IsADirectoryError):
        await fs.rename("d/f", "d/empty")
    assert not await fs.exists("d/f/x")
    assert await fs.exists("")
    assert await read_file(fs, "d/f") == b"file"


async def test_rename_within_a_directory_and_onto_itself(fs: FileSystem) -> None:
    await write_file(fs, "a", b"alpha")
    await write_file(fs, "b", b"beta")
    await fs.rename("a", "b")
    assert await fs.listdir("") == ["b"]
    assert await read_file(fs, "b") == b"alpha"
    await fs.rename("b", "b")
    assert await read_file(fs, "b") == b"alpha"


async def test_reader_sees_a_growing_file(fs: FileSystem) -> None:
    w = await fs.open_write("g")
    await w.write(b"one")
    r = await fs.open_read("g")
    assert await r.size() == 3
    await w.write(b"two")
    assert await r.size() == 6
    assert await r.read_at(2, 10) == b"etwo"
    await w.close()
    await r.close()


async def test_disk_space_is_unknown_or_within_the_filesystem(fs: FileSystem) -> None:
    """`disk_space` may be None (the simulator does not model free space:
    nothing is then refused early); a value has 0 <= free <= total, total > 0."""
    space = await fs.disk_space()
    assert space is None or 0 <= space.free_bytes <= space.total_bytes
    assert space is None or space.total_bytes > 0
    assert (space is None) == isinstance(fs, SimFileSystem)


# --- the combined operations ------------------------------------------------------


async def test_write_file_puts_the_whole_file_under_its_new_name(fs: FileSystem) -> None:
    await fs.makedirs("tmp")
    await fs.makedirs("d")
    data = pattern(10_000, obj=7)
    step: list[str] = []
    await fs.write_file("tmp/a", memoryview(data), rename_to="d/a", step=step)
    assert step == ["directory sync", "d"]
    assert await read_file(fs, "d/a") == data
    assert not await fs.exists("tmp/a")
    await fs.write_file("tmp/b", b"", rename_to="b", sync=False, sync_dir=False, step=step)
    assert step == ["rename", "b"]  # no directory sync asked for
    assert await read_file(fs, "b") == b""
    # It replaces an existing file, as rename does.
    await fs.write_file("tmp/c", bytearray(data[:5]), rename_to="d/a")
    assert await read_file(fs, "d/a") == data[:5]


async def test_write_file_names_the_step_that_failed_and_leaves_the_file(fs: FileSystem) -> None:
    await fs.makedirs("tmp")
    await write_file(fs, "tmp/taken", b"old")
    step: list[str] = []
    with pytest.raises(FileExistsError):
        await fs.write_file("tmp/taken", b"new", rename_to="x", step=step)
    assert step == ["create", "tmp/taken"]
    assert await read_file(fs, "tmp/taken") == b"old"
    with pytest.raises(FileNotFoundError):
        await fs.write_file("tmp/n", b"new", rename_to="missing/n", step=step)
    assert step == ["rename", "missing/n"]
    assert await read_file(fs, "tmp/n") == b"new"  # left where it was, closed
    await fs.remove("tmp/n")


async def test_read_file_reads_up_to_max_bytes_from_the_start(fs: FileSystem) -> None:
    data = pattern(5000, obj=3)
    await write_file(fs, "f", data)
    assert await fs.read_file("f", 5000) == data
    assert await fs.read_file("f", 9999) == data
    assert await fs.read_file("f", 17) == data[:17]
    assert await fs.read_file("f", 0) == b""
    with pytest.raises(FileNotFoundError):
        await fs.read_file("nope", 10)
