"""The one filesystem interface: all file I/O of the store goes through it.

A simulator swaps in a mock filesystem (with injected faults and crashes) for
`RealFileSystem`; tests/storage/test_fs_conformance.py holds both to the same
contract.

Three combined calls save thread hops: `write_file` (create, write, fsync,
close, rename, directory fsync), `read_file` (open, read, close) and `place`
(link, directory fsync, remove). Each is, by contract, its single operations
in order, with their durability and errors (`write_file_in_steps`,
`read_file_in_steps` and `place_in_steps` are the reference, and the
simulator's implementation); `RealFileSystem` runs each in one hop.

Paths are relative to the filesystem's root (the data directory),
'/'-separated, without '.', '..' or empty components: "blobs/ab/abcdef...".
The empty path "" names the root itself (only for `sync_dir`, `listdir`,
`makedirs`, `exists`).

Errors are the builtin OSError family: FileNotFoundError (a missing file or
parent directory), FileExistsError (`open_write` of an existing path),
NotADirectoryError / IsADirectoryError where POSIX has them; any other
OSError is an I/O fault.

Durability (what survives a crash: process kill or power loss):
- `WritableFile.write` puts bytes in the page cache only; nothing is durable.
- `WritableFile.sync` (fsync): when it returns, the contents and size of the
  file written so far are durable *as an inode*; its name is not.
- A new name (`open_write`, `rename`, `makedirs`) or the loss of one
  (`remove`, `rename`'s source) is durable only once `sync_dir` of the parent
  directory returns. `rename` of a synced file followed by `sync_dir` of the
  destination's parent is the way to make a file appear durably and whole.
- Before its parent is synced, a crash may leave an old name, a new name,
  or (for a rename within one directory) either one of them -- never a
  file under a name holding bytes that were not synced.
- Unsynced data may after a crash be absent, truncated or zero-filled.
`rename` is atomic for readers: a path names the old file or the new one,
never a mixture. An open file keeps its contents after `remove` or after
being replaced by `rename` (POSIX semantics); readers holding it keep reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import trio

from hamster.runtime import Offload, ThreadOffload


@dataclass(frozen=True)
class DiskSpace:
    """What `FileSystem.disk_space` reports about the filesystem under the root."""

    free_bytes: int  # available to the server's user (statvfs f_bavail)
    total_bytes: int  # the filesystem's size (f_blocks)


class WritableFile(Protocol):
    """A file being written sequentially from offset 0."""

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append all of `data` (short writes are retried internally)."""
        ...

    async def sync(self) -> None:
        """Make the contents written so far durable (fsync)."""
        ...

    async def close(self) -> None:
        """Release the file. Idempotent. Does not sync."""
        ...


class ReadableFile(Protocol):
    """A file open for positional reads."""

    async def read_at(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes at `offset`; shorter only at end of file."""
        ...

    async def size(self) -> int:
        """The current size of the open file in bytes."""
        ...

    async def close(self) -> None:
        """Release the file. Idempotent."""
        ...


@runtime_checkable
class SendableFile(ReadableFile, Protocol):
    """A `ReadableFile` that can also copy its bytes to another descriptor in
    the kernel (``os.sendfile``), as `RealFileSystem`'s files can; a reader
    whose file is not one reads and passes on the bytes instead."""

    async def send_to(self, out_fd: int, offset: int, size: int) -> int:
        """Copy up to `size` bytes at `offset` to the descriptor `out_fd`
        (non-blocking: as many as it takes now), in one hop; how many were
        copied, 0 only at end of file.

        Raises:
          BlockingIOError: `out_fd` took nothing (it is full).
          OSError: a read error of the file, or a write error of `out_fd`
            (EPIPE, ECONNRESET for a socket whose peer is gone).
        """
        ...


class FileSystem(Protocol):
    async def open_write(self, path: str) -> WritableFile:
        """Create `path` exclusively (FileExistsError if it exists)."""
        ...

    async def open_read(self, path: str) -> ReadableFile:
        """Open an existing file (FileNotFoundError if missing)."""
        ...

    async def rename(self, src: str, dst: str) -> None:
        """Atomically move `src` to `dst`, replacing `dst` if it exists."""
        ...

    async def link(self, src: str, dst: str) -> None:
        """A second name `dst` for the file `src` (a hard link; FileExistsError
        if `dst` exists). Like a create, the new name is durable only once
        `sync_dir` of its parent returns; `src` keeps its name."""
        ...

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        """Remove a file."""
        ...

    async def sync_dir(self, path: str) -> None:
        """Make the directory's entries (names created/removed in it) durable."""
        ...

    async def makedirs(self, path: str) -> None:
        """Create `path` and missing parents; no error if it exists."""
        ...

    async def listdir(self, path: str) -> list[str]:
        """Names in the directory, sorted."""
        ...

    async def exists(self, path: str) -> bool:
        """Whether `path` names a file or directory."""
        ...

    async def disk_space(self) -> DiskSpace | None:
        """Free and total space of the filesystem under the root; None where
        it is not known (nothing is then refused early: space.py)."""
        ...

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
        """A whole file written (and moved into place) in one call (one hop):
        `open_write(path)`, `write(data)`, `sync()` if `sync`, `close()`,
        `rename(path, rename_to)` if `rename_to` is given, `sync_dir` of the
        final name's parent (`rename_to`'s, else `path`'s) if `sync_dir`, with
        each step's durability and errors (a crash may cut it after any step;
        `write_file_in_steps` is the reference).

        `step`, if given, is set to [what, path] of the step running, where
        what is "create", "write", "sync", "close", "rename" or "directory
        sync"; when it raises, that is the step that failed. Nothing is
        cleaned up: after a failure before "rename" (or without one) the file
        is at `path` (closed), after it at `rename_to`."""
        ...

    async def read_file(self, path: str, max_bytes: int) -> bytes:
        """`open_read(path)`, `read_at(0, max_bytes)`, `close()` in one call
        (one hop): up to `max_bytes` from the start of the file."""
        ...

    async def place(self, src: str, dst: str, *, sync_dir: bool = True) -> None:
        """A file moved to `dst` through a link, in one call (one hop):
        `link(src, dst)` (a `dst` that exists already is kept), `sync_dir` of
        `dst`'s parent if `sync_dir`, then `remove(src)`: the file has a
        durable name before it loses the old one (`place_in_steps` is the
        reference)."""
        ...


def parent_dir(path: str) -> str:
    """The directory holding `path` ("" for the root)."""
    return path.rpartition("/")[0]


async def write_file_in_steps(
    fs: FileSystem,
    path: str,
    data: bytes | bytearray | memoryview,
    *,
    rename_to: str | None = None,
    sync: bool = True,
    sync_dir: bool = True,
    step: list[str] | None = None,
) -> None:
    """`FileSystem.write_file` through the filesystem's single operations:
    the reference for its steps, and the implementation of filesystems that
    have no faster one (the simulator's: each step its own crash point)."""
    at = step if step is not None else ["", ""]
    at[:] = ["create", path]
    f = await fs.open_write(path)
    try:
        at[0] = "write"
        await f.write(data)
        if sync:
            at[0] = "sync"
            await f.sync()
    except BaseException:
        with trio.CancelScope(shield=True):
            await f.close()
        raise
    at[0] = "close"
    await f.close()
    final = path
    if rename_to is not None:
        at[:] = ["rename", rename_to]
        await fs.rename(path, rename_to)
        final = rename_to
    if sync_dir:
        at[:] = ["directory sync", parent_dir(final)]
        await fs.sync_dir(parent_dir(final))


async def read_file_in_steps(fs: FileSystem, path: str, max_bytes: int) -> bytes:
    """`FileSystem.read_file` through the filesystem's single operations."""
    f = await fs.open_read(path)
    try:
        return await f.read_at(0, max_bytes)
    finally:
        with trio.CancelScope(shield=True):
            await f.close()


async def place_in_steps(fs: FileSystem, src: str, dst: str, *, sync_dir: bool = True) -> None:
    """`FileSystem.place` through the filesystem's single operations."""
    try:
        await fs.link(src, dst)
    except FileExistsError:
        pass
    if sync_dir:
        await fs.sync_dir(parent_dir(dst))
    await fs.remove(src)


class InSteps:
    """Mixin for a `FileSystem` whose combined calls are its single operations
    (each then seen, faulted or cut by a crash on its own): `write_file`,
    `read_file` and `place` through `write_file_in_steps`, `read_file_in_steps`
    and `place_in_steps`. Put it first among the bases, so that it wins over a
    faster inherited version."""

    async def write_file(
        self: FileSystem,
        path: str,
        data: bytes | bytearray | memoryview,
        *,
        rename_to: str | None = None,
        sync: bool = True,
        sync_dir: bool = True,
        step: list[str] | None = None,
    ) -> None:
        await write_file_in_steps(
            self, path, data, rename_to=rename_to, sync=sync, sync_dir=sync_dir, step=step
        )

    async def read_file(self: FileSystem, path: str, max_bytes: int) -> bytes:
        return await read_file_in_steps(self, path, max_bytes)

    async def place(self: FileSystem, src: str, dst: str, *, sync_dir: bool = True) -> None:
        await place_in_steps(self, src, dst, sync_dir=sync_dir)


def check_path(path: str, *, allow_root: bool = False) -> None:
    """Assert `path` is a well-formed relative path of this interface."""
    if path == "":
        assert allow_root, "empty path"
        return
    assert not path.startswith("/"), f"absolute path {path!r}"
    assert "\x00" not in path, f"NUL in path {path!r}"
    for part in path.split("/"):
        assert part not in ("", ".", ".."), f"bad path {path!r}"


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view)
        assert written > 0
        view = view[written:]


def _read_full(fd: int, offset: int, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        part = os.pread(fd, size - got, offset + got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _send_all_possible(out_fd: int, in_fd: int, offset: int, size: int) -> int:
    """os.sendfile until `size` bytes are copied, `out_fd` is full or the file ends."""
    sent = 0
    while sent < size:
        try:
            n = os.sendfile(out_fd, in_fd, offset + sent, size - sent)
        except BlockingIOError:
            if sent:
                break
            raise
        if n == 0:
            break
        sent += n
    return sent


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC


class RealFile:
    """A file descriptor of `RealFileSystem`; each call is one hop through
    the filesystem's offload."""

    def __init__(self, fd: int, offload: Offload) -> None:
        self._fd: int | None = fd
        self._offload = offload

    def _require_fd(self) -> int:
        if self._fd is None:
            raise ValueError("I/O on a closed file")
        return self._fd

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await self._offload.run_sync(_write_all, self._require_fd(), data)

    async def sync(self) -> None:
        await self._offload.run_sync(os.fsync, self._require_fd())

    async def read_at(self, offset: int, size: int) -> bytes:
        assert offset >= 0 and size >= 0
        return await self._offload.run_sync(_read_full, self._require_fd(), offset, size)

    async def send_to(self, out_fd: int, offset: int, size: int) -> int:
        assert offset >= 0 and size > 0
        fd = self._require_fd()
        return await self._offload.run_sync(_send_all_possible, out_fd, fd, offset, size)

    async def size(self) -> int:
        st = await self._offload.run_sync(os.fstat, self._require_fd())
        return st.st_size

    async def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            await self._offload.run_sync(os.close, fd)


class RealFileSystem:
    """`FileSystem` on the host's filesystem under `root`.

    Every blocking os.* call is one `offload` hop (a worker thread unless
    told otherwise; `Store.open` passes the runtime's); `write_file` and
    `read_file` are one hop each; statvfs (`disk_space`) runs inline.
    """

    def __init__(self, root: str, *, offload: Offload | None = None) -> None:
        self.root = os.path.abspath(root)
        self._offload: Offload = offload if offload is not None else ThreadOffload()

    def _abs(self, path: str, *, allow_root: bool = False) -> str:
        check_path(path, allow_root=allow_root)
        return os.path.join(self.root, path) if path else self.root

    async def open_write(self, path: str) -> RealFile:
        fd = await self._offload.run_sync(os.open, self._abs(path), _WRITE_FLAGS, 0o644)
        return RealFile(fd, self._offload)

    async def open_read(self, path: str) -> RealFile:
        fd = await self._offload.run_sync(os.open, self._abs(path), _READ_FLAGS)
        return RealFile(fd, self._offload)

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
        src = self._abs(path)
        dst = None if rename_to is None else self._abs(rename_to)
        parent = parent_dir(path if rename_to is None else rename_to)
        parent_abs = self._abs(parent, allow_root=True)
        at = step if step is not None else ["", ""]

        def write_file() -> None:
            at[:] = ["create", path]
            fd = os.open(src, _WRITE_FLAGS, 0o644)
            try:
                at[0] = "write"
                _write_all(fd, data)
                if sync:
                    at[0] = "sync"
                    os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
            at[0] = "close"
            os.close(fd)
            if rename_to is not None:
                assert dst is not None
                at[:] = ["rename", rename_to]
                os.replace(src, dst)
            if sync_dir:
                at[:] = ["directory sync", parent]
                _fsync_dir(parent_abs)

        await self._offload.run_sync(write_file)

    async def read_file(self, path: str, max_bytes: int) -> bytes:
        assert max_bytes >= 0
        target = self._abs(path)

        def read_file() -> bytes:
            fd = os.open(target, _READ_FLAGS)
            try:
                return _read_full(fd, 0, max_bytes)
            finally:
                os.close(fd)

        return await self._offload.run_sync(read_file)

    async def rename(self, src: str, dst: str) -> None:
        await self._offload.run_sync(os.replace, self._abs(src), self._abs(dst))

    async def link(self, src: str, dst: str) -> None:
        await self._offload.run_sync(os.link, self._abs(src), self._abs(dst))

    async def place(self, src: str, dst: str, *, sync_dir: bool = True) -> None:
        source, target = self._abs(src), self._abs(dst)
        parent = self._abs(parent_dir(dst), allow_root=True)

        def place() -> None:
            try:
                os.link(source, target)
            except FileExistsError:
                pass
            if sync_dir:
                _fsync_dir(parent)
            os.unlink(source)

        await self._offload.run_sync(place)

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        target = self._abs(path)

        def unlink() -> None:
            try:
                os.unlink(target)
            except FileNotFoundError:
                if not missing_ok:
                    raise

        await self._offload.run_sync(unlink)

    async def sync_dir(self, path: str) -> None:
        await self._offload.run_sync(_fsync_dir, self._abs(path, allow_root=True))

    async def makedirs(self, path: str) -> None:
        target = self._abs(path, allow_root=True)
        await self._offload.run_sync(lambda: os.makedirs(target, exist_ok=True))

    async def listdir(self, path: str) -> list[str]:
        target = self._abs(path, allow_root=True)
        return await self._offload.run_sync(lambda: sorted(os.listdir(target)))

    async def exists(self, path: str) -> bool:
        return await self._offload.run_sync(os.path.lexists, self._abs(path, allow_root=True))

    async def disk_space(self) -> DiskSpace:
        # Inline, not a hop (every write asks): statvfs reads the filesystem's
        # counters from memory (~2 us), it waits for no disk I/O on a local
        # filesystem. A checkpoint, as a hop has.
        await trio.lowlevel.checkpoint()
        st = os.statvfs(self.root)
        return DiskSpace(
            free_bytes=st.f_bavail * st.f_frsize, total_bytes=st.f_blocks * st.f_frsize
        )
