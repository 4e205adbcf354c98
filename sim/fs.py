"""A simulated disk with crash semantics, behind hamster's `FileSystem`.

The model (what `SimDisk.crash` may do; it is the contract of
hamster/storage/fs.py, resolved adversarially):

- The disk holds inodes: files (bytes) and directories (name -> inode).
  Paths name inodes through the directories, as on POSIX; an open file holds
  its inode, so it keeps its bytes after `remove` or after being replaced by
  `rename`. Files are written sequentially from offset 0, so a file's bytes
  are an append-only sequence.
- File data: `write` changes only the volatile view (the page cache). `sync`
  (fsync) makes the bytes written so far durable. At a crash, each file's
  unsynced tail is resolved from the rng, one of:
    lost    the file has exactly its synced bytes;
    kept    every byte written survived;
    prefix  the synced bytes plus some prefix of the tail (any byte length);
    torn    the size made it (or got cut at a 4 KiB boundary) but each 4 KiB
            block of the tail, aligned to the file's offset 0, independently
            holds the new bytes or zeros (the old content of an appended
            block: a hole).
  A file's data is resolved once per inode, independently of its names: a
  name can survive without the data it points to (as ext4 can keep a rename
  and lose the unsynced blocks behind it).
- A failed fsync (injected EIO) loses the file's unsynced bytes for good, as
  Linux drops the dirty pages and later fsyncs succeed: reads before a crash
  still see them, but a crash always zero-fills them, even if a later fsync
  succeeded (the size made it, the bytes never did).
- Names: every change of a directory (a create by `open_write` or
  `makedirs`, a `link`'s new name, `remove`, and each side of a `rename`)
  is appended to that directory's list of unsynced operations; `sync_dir`
  makes the directory's current entries durable. At a crash each directory keeps an rng-chosen
  prefix of its unsynced operations on top of its durable entries. A rename
  within one directory is one operation (the old name or the new one
  survives, never neither); a rename across directories is an unlink in the
  source and a link in the destination, resolved in each (both names, either,
  or none may survive, all naming the same inode). A directory whose
  creation is not kept vanishes with everything under it; the root always
  exists. What no surviving name reaches is gone.
- The crash kills the live mount: every later call on it or on a file opened
  through it raises `sim.errors.SimCrash`. `mount` after a crash sees what
  survived. `mount` without a crash is a process restart without power loss:
  the volatile state stays (it was in the page cache), still unsynced.
- Faults (`Faults`, drawn from the rng while `enabled`): EIO on `read_at`,
  `write` and `sync`/`sync_dir`; ENOSPC on `write` and `open_write`; a failed
  `write` may have appended a prefix of its data; a failed `sync_dir` leaves
  the directory's operations unsynced (the crash resolves them). Slow
  operations take an rng-chosen time (`trio.sleep`, shielded like a thread
  hop: a cancelled caller waits for it); the simulator runs trio's MockClock.
- Not modelled: free space (`disk_space` is None), renaming a directory
  (IsADirectoryError), rmdir, overwriting bytes in place, corruption of
  synced data, errors on metadata reads.

Scheduling: each operation checkpoints once (cancellable before its effect,
like `trio.to_thread.run_sync`) and then applies its effect atomically; a
crash while it waited is noticed and raised as SimCrash instead.

Determinism: the outcome depends only on the rng's seed and the sequence of
calls; nothing iterates a hash-ordered collection unsorted, so a seed replays
byte for byte in a fresh process. `trace` gets one line per operation and per
crash decision.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from hamster.storage.fs import DiskSpace, InSteps, check_path
from sim.errors import SimCrash

_T = TypeVar("_T")

BLOCK_BYTES = 4096
ROOT_INODE = 0
# Garbage-collect unreachable inodes once the table holds this many more than
# the last collection left (at least).
_GC_SLACK_INODES = 64


@dataclass
class Faults:
    """Fault probabilities, each drawn per operation while `enabled`.

    eio_read: `read_at` fails with EIO. eio_write: `write` fails with EIO.
    eio_fsync: `sync` or `sync_dir` fails with EIO. enospc: `write` or
    `open_write` fails with ENOSPC. slow: the operation takes a uniform
    0..slow_max_s seconds of (mock) time. `enabled=False` switches them all
    off (the simulator's fault-free final phase).
    """

    eio_read: float = 0.0
    eio_write: float = 0.0
    eio_fsync: float = 0.0
    enospc: float = 0.0
    slow: float = 0.0
    slow_max_s: float = 0.05
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("eio_read", "eio_write", "eio_fsync", "enospc", "slow"):
            p = getattr(self, name)
            assert 0.0 <= p <= 1.0, f"{name}={p} is not a probability"
        assert self.slow_max_s >= 0.0


@dataclass
class _File:
    data: bytearray = field(default_factory=bytearray)
    # data[:synced_bytes] is durable (but for `lost`).
    synced_bytes: int = 0
    # Byte ranges [start, end) whose fsync failed: never durable.
    lost: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class _Link:
    """`name` now names inode `ino` (a create, or the destination of a rename)."""

    name: str
    ino: int


@dataclass(frozen=True)
class _Unlink:
    """`name` no longer names anything (a remove, or the source of a rename)."""

    name: str


@dataclass(frozen=True)
class _Move:
    """A rename within one directory: `dst` names `ino`, `src` goes."""

    src: str
    dst: str
    ino: int


_DirOp = _Link | _Unlink | _Move


@dataclass
class _Dir:
    entries: dict[str, int] = field(default_factory=dict)  # the volatile view
    durable: dict[str, int] = field(default_factory=dict)  # as of the last sync_dir
    pending: list[_DirOp] = field(default_factory=list)  # since the last sync_dir


def _apply(entries: dict[str, int], op: _DirOp) -> None:
    if isinstance(op, _Link):
        entries[op.name] = op.ino
    elif isinstance(op, _Unlink):
        del entries[op.name]
    else:
        assert entries[op.src] == op.ino
        del entries[op.src]
        entries[op.dst] = op.ino


def _error(code: int, path: str) -> OSError:
    # OSError(errno.ENOENT, ...) constructs a FileNotFoundError, and so on.
    return OSError(code, os.strerror(code), path)


def _split(path: str) -> tuple[list[str], str]:
    parts = path.split("/")
    return parts[:-1], parts[-1]


class SimDisk:
    """The disk: inodes, their volatile and durable states, and the crash.

    Use `mount()` for a `FileSystem` view; `crash()` to lose power; `files()`
    to look at the current contents. `before_op`, when set, is called with
    (operation name, path) before every operation of the live mount, before
    its checkpoint; it may raise, or call `crash()` (the operation then
    raises SimCrash). Operation names: open_write, write, sync, close,
    open_read, read_at, size, rename and link (path "src -> dst"), remove, sync_dir,
    makedirs, listdir, exists. File operations pass the path the file was
    opened under.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        faults: Faults | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.rng = rng
        self.faults = faults if faults is not None else Faults()
        self.before_op: Callable[[str, str], None] | None = None
        self._trace_fn = trace
        self._inodes: dict[int, _File | _Dir] = {ROOT_INODE: _Dir()}
        self._next_ino = ROOT_INODE + 1
        self._gc_at = _GC_SLACK_INODES
        self._generation = 0  # of the live mount; 0 is never live
        self._live = False
        # Inodes held open through the live mount (inode -> open count).
        self._open: dict[int, int] = {}

    # --- public ----------------------------------------------------------

    def mount(self) -> SimFileSystem:
        """A `FileSystem` over the disk as it is; the previous mount dies."""
        self._generation += 1
        self._live = True
        self._open = {}
        self.trace(f"fs{self._generation} mount")
        return SimFileSystem(self, self._generation)

    def crash(self) -> None:
        """Lose power: resolve the volatile state (see the module docstring)."""
        self._live = False
        self._open = {}
        self.trace(f"fs{self._generation} crash")
        rng = self.rng
        resolved: dict[int, dict[str, int]] = {}
        dir_paths = {ROOT_INODE: ""}
        queue = [ROOT_INODE]
        file_paths: dict[int, str] = {}
        while queue:
            ino = queue.pop(0)
            node = self._inodes[ino]
            assert isinstance(node, _Dir)
            entries = dict(node.durable)
            if node.pending:
                keep = rng.randint(0, len(node.pending))
                for op in node.pending[:keep]:
                    _apply(entries, op)
                self.trace(
                    f"crash dir /{dir_paths[ino]} keeps {keep}/{len(node.pending)} operations"
                )
            resolved[ino] = entries
            for name in sorted(entries):
                child = entries[name]
                path = f"{dir_paths[ino]}/{name}" if dir_paths[ino] else name
                if isinstance(self._inodes[child], _Dir):
                    assert child not in dir_paths, "a directory with two names"
                    dir_paths[child] = path
                    queue.append(child)
                else:
                    file_paths.setdefault(child, path)
        survivors: dict[int, _File | _Dir] = {}
        for ino in sorted(resolved):
            entries = resolved[ino]
            survivors[ino] = _Dir(entries=entries, durable=dict(entries))
        for ino in sorted(file_paths):
            node = self._inodes[ino]
            assert isinstance(node, _File)
            data = self._resolve_file(node, file_paths[ino])
            survivors[ino] = _File(data=data, synced_bytes=len(data))
        self._inodes = survivors
        self._gc_at = len(survivors) + _GC_SLACK_INODES

    def files(self) -> dict[str, bytes]:
        """Every file's current (volatile) contents by path, in path order."""
        out: dict[str, bytes] = {}

        def walk(ino: int, prefix: str) -> None:
            node = self._inodes[ino]
            assert isinstance(node, _Dir)
            for name in sorted(node.entries):
                child = node.entries[name]
                path = prefix + name
                sub = self._inodes[child]
                if isinstance(sub, _Dir):
                    walk(child, path + "/")
                else:
                    out[path] = bytes(sub.data)

        walk(ROOT_INODE, "")
        return out

    def trace(self, line: str) -> None:
        if self._trace_fn is not None:
            self._trace_fn(line)

    # --- crash resolution -----------------------------------------------

    def _resolve_file(self, node: _File, path: str) -> bytearray:
        rng = self.rng
        base, end = node.synced_bytes, len(node.data)
        data = bytearray(node.data)
        if base < end:
            outcome = rng.choice(("lost", "kept", "prefix", "torn"))
            detail = ""
            if outcome == "lost":
                del data[base:]
            elif outcome == "prefix":
                size = rng.randint(base, end)
                del data[size:]
                detail = f" size {size}"
            elif outcome == "torn":
                cuts = [b for b in range(BLOCK_BYTES, end, BLOCK_BYTES) if b > base]
                size = end if not cuts or rng.random() < 0.5 else rng.choice(cuts)
                del data[size:]
                zeroed: list[int] = []
                for block in range(base // BLOCK_BYTES, -(-size // BLOCK_BYTES)):
                    if rng.random() < 0.5:
                        start = max(base, block * BLOCK_BYTES)
                        stop = min(size, (block + 1) * BLOCK_BYTES)
                        data[start:stop] = bytes(stop - start)
                        zeroed.append(block)
                detail = f" size {size} zeroed blocks {zeroed}"
            self.trace(f"crash file {path} unsynced {base}..{end} {outcome}{detail}")
        for start, stop in node.lost:
            stop = min(stop, len(data))
            if start < stop:
                data[start:stop] = bytes(stop - start)
        return data

    # --- helpers for the mount ---------------------------------------------

    def _is_live(self, generation: int) -> bool:
        return self._live and generation == self._generation

    def _new_inode(self, node: _File | _Dir) -> int:
        if len(self._inodes) >= self._gc_at:
            self._collect_garbage()
        ino = self._next_ino
        self._next_ino += 1
        self._inodes[ino] = node
        return ino

    def _collect_garbage(self) -> None:
        """Drop inodes no name (volatile, durable or pending) and no open file
        reaches: no crash can bring them back. Does not touch the rng."""
        marked: set[int] = set()
        stack = [ROOT_INODE, *sorted(self._open)]
        while stack:
            ino = stack.pop()
            if ino in marked:
                continue
            marked.add(ino)
            node = self._inodes[ino]
            if isinstance(node, _Dir):
                stack.extend(node.entries.values())
                stack.extend(node.durable.values())
                stack.extend(op.ino for op in node.pending if not isinstance(op, _Unlink))
        self._inodes = {ino: self._inodes[ino] for ino in sorted(marked)}
        self._gc_at = len(self._inodes) + max(_GC_SLACK_INODES, len(self._inodes))

    def _dir_of(self, parts: list[str], path: str) -> _Dir:
        ino = ROOT_INODE
        for part in parts:
            node = self._inodes[ino]
            assert isinstance(node, _Dir)
            child = node.entries.get(part)
            if child is None:
                raise _error(errno.ENOENT, path)
            if not isinstance(self._inodes[child], _Dir):
                raise _error(errno.ENOTDIR, path)
            ino = child
        node = self._inodes[ino]
        assert isinstance(node, _Dir)
        return node

    def _lookup(self, path: str) -> int:
        """The inode `path` names (the root for "")."""
        if path == "":
            return ROOT_INODE
        parts, name = _split(path)
        child = self._dir_of(parts, path).entries.get(name)
        if child is None:
            raise _error(errno.ENOENT, path)
        return child

    def _draw(self, probability: float) -> bool:
        """Whether a fault of `probability` strikes now (no draw if it cannot)."""
        if not self.faults.enabled or probability <= 0.0:
            return False
        return self.rng.random() < probability

    def _slow_delay_s(self) -> float:
        if self._draw(self.faults.slow):
            return self.rng.uniform(0.0, self.faults.slow_max_s)
        return 0.0

    def _opened(self, ino: int) -> None:
        self._open[ino] = self._open.get(ino, 0) + 1

    def _closed(self, ino: int) -> None:
        left = self._open[ino] - 1
        if left:
            self._open[ino] = left
        else:
            del self._open[ino]


class _View:
    """What a mount and its files share: the liveness check and the entry hop."""

    def __init__(self, disk: SimDisk, generation: int) -> None:
        self._disk = disk
        self._generation = generation

    def _check_live(self) -> None:
        if not self._disk._is_live(self._generation):
            raise SimCrash(f"fs{self._generation} is dead")

    async def _enter(self, op: str, path: str) -> None:
        """Before an operation's effect: the hook, one checkpoint, maybe a
        slow wait; raises SimCrash if the mount is (or died meanwhile) dead."""
        disk = self._disk
        self._check_live()
        if disk.before_op is not None:
            disk.before_op(op, path)
            self._check_live()
        await trio.lowlevel.checkpoint()
        self._check_live()
        delay_s = disk._slow_delay_s()
        if delay_s > 0.0:
            disk.trace(f"fs{self._generation} slow {op} {path} {delay_s:.6f}s")
            with trio.CancelScope(shield=True):
                await trio.sleep(delay_s)
            self._check_live()

    def _trace(self, line: str) -> None:
        self._disk.trace(f"fs{self._generation} {line}")


class _OpenFile(_View):
    """A file opened through a mount: its inode and the path it was opened as."""

    def __init__(self, disk: SimDisk, generation: int, ino: int, path: str) -> None:
        super().__init__(disk, generation)
        self._ino = ino
        self._path = path
        self._closed = False

    def _node(self) -> _File:
        if self._closed:
            raise ValueError("I/O on a closed file")
        node = self._disk._inodes[self._ino]
        assert isinstance(node, _File)
        return node

    async def close(self) -> None:
        """Release the file. Idempotent (on a live mount). Does not sync."""
        await self._enter("close", self._path)
        if not self._closed:
            self._closed = True
            self._disk._closed(self._ino)
        self._trace(f"close {self._path}")


class SimWritableFile(_OpenFile):
    """A file being written through a `SimFileSystem` (hamster's WritableFile)."""

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await self._enter("write", self._path)
        node = self._node()
        view = memoryview(data).cast("B")
        disk = self._disk
        for name, probability, code in (
            ("EIO", disk.faults.eio_write, errno.EIO),
            ("ENOSPC", disk.faults.enospc, errno.ENOSPC),
        ):
            if disk._draw(probability):
                written = disk.rng.randint(0, len(view))
                node.data += view[:written]
                self._trace(f"write {self._path} +{len(view)} {name} after {written}")
                raise _error(code, self._path)
        node.data += view
        self._trace(f"write {self._path} +{len(view)}")

    async def sync(self) -> None:
        await self._enter("sync", self._path)
        node = self._node()
        disk = self._disk
        if disk._draw(disk.faults.eio_fsync):
            if node.synced_bytes < len(node.data):
                node.lost.append((node.synced_bytes, len(node.data)))
            self._trace(f"sync {self._path} EIO: {node.synced_bytes}..{len(node.data)} lost")
            raise _error(errno.EIO, self._path)
        node.synced_bytes = len(node.data)
        self._trace(f"sync {self._path} {node.synced_bytes}")


class SimReadableFile(_OpenFile):
    """A file open for reads through a `SimFileSystem` (hamster's ReadableFile)."""

    async def read_at(self, offset: int, size: int) -> bytes:
        assert offset >= 0 and size >= 0
        await self._enter("read_at", self._path)
        node = self._node()
        disk = self._disk
        if disk._draw(disk.faults.eio_read):
            self._trace(f"read_at {self._path} {offset}+{size} EIO")
            raise _error(errno.EIO, self._path)
        out = bytes(node.data[offset : offset + size])
        self._trace(f"read_at {self._path} {offset}+{size} -> {len(out)}")
        return out

    async def size(self) -> int:
        await self._enter("size", self._path)
        size = len(self._node().data)
        self._trace(f"size {self._path} -> {size}")
        return size


class SimFileSystem(InSteps, _View):
    """hamster's `FileSystem` over a `SimDisk`; dead once the disk crashes or
    is mounted again (every call then raises SimCrash)."""

    async def _run(
        self,
        op: str,
        path: str,
        effect: Callable[[], _T],
        shown: Callable[[_T], str] = lambda _result: "",
    ) -> _T:
        """Enter, apply `effect` atomically, trace the outcome."""
        await self._enter(op, path)
        try:
            result = effect()
        except OSError as e:
            self._trace(f"{op} {path} {errno.errorcode.get(e.errno or 0, e.errno)}")
            raise
        self._trace(f"{op} {path}{shown(result)}")
        return result

    async def open_write(self, path: str) -> SimWritableFile:
        check_path(path)
        disk = self._disk

        def effect() -> SimWritableFile:
            parts, name = _split(path)
            parent = disk._dir_of(parts, path)
            if name in parent.entries:
                raise _error(errno.EEXIST, path)
            if disk._draw(disk.faults.enospc):
                raise _error(errno.ENOSPC, path)
            ino = disk._new_inode(_File())
            parent.entries[name] = ino
            parent.pending.append(_Link(name, ino))
            disk._opened(ino)
            return SimWritableFile(disk, self._generation, ino, path)

        return await self._run("open_write", path, effect)

    async def open_read(self, path: str) -> SimReadableFile:
        check_path(path)
        disk = self._disk

        def effect() -> SimReadableFile:
            ino = disk._lookup(path)
            if isinstance(disk._inodes[ino], _Dir):
                raise _error(errno.EISDIR, path)
            disk._opened(ino)
            return SimReadableFile(disk, self._generation, ino, path)

        return await self._run("open_read", path, effect)

    async def rename(self, src: str, dst: str) -> None:
        check_path(src)
        check_path(dst)
        disk = self._disk

        def effect() -> None:
            src_parts, src_name = _split(src)
            dst_parts, dst_name = _split(dst)
            src_dir = disk._dir_of(src_parts, src)
            ino = src_dir.entries.get(src_name)
            if ino is None:
                raise _error(errno.ENOENT, src)
            if isinstance(disk._inodes[ino], _Dir):
                raise _error(errno.EISDIR, src)  # not modelled
            dst_dir = disk._dir_of(dst_parts, dst)
            old = dst_dir.entries.get(dst_name)
            if old is not None and isinstance(disk._inodes[old], _Dir):
                raise _error(errno.EISDIR, dst)
            if old == ino:
                return  # POSIX: both names already name the same file
            if src_dir is dst_dir:
                op: _DirOp = _Move(src_name, dst_name, ino)
                _apply(src_dir.entries, op)
                src_dir.pending.append(op)
            else:
                del src_dir.entries[src_name]
                src_dir.pending.append(_Unlink(src_name))
                dst_dir.entries[dst_name] = ino
                dst_dir.pending.append(_Link(dst_name, ino))

        await self._run("rename", f"{src} -> {dst}", effect)

    async def link(self, src: str, dst: str) -> None:
        check_path(src)
        check_path(dst)
        disk = self._disk

        def effect() -> None:
            src_parts, src_name = _split(src)
            dst_parts, dst_name = _split(dst)
            ino = disk._dir_of(src_parts, src).entries.get(src_name)
            if ino is None:
                raise _error(errno.ENOENT, src)
            if isinstance(disk._inodes[ino], _Dir):
                raise _error(errno.EPERM, src)  # POSIX: no hard link to a directory
            dst_dir = disk._dir_of(dst_parts, dst)
            if dst_name in dst_dir.entries:
                raise _error(errno.EEXIST, dst)
            dst_dir.entries[dst_name] = ino
            dst_dir.pending.append(_Link(dst_name, ino))

        await self._run("link", f"{src} -> {dst}", effect)

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        check_path(path)
        disk = self._disk

        def effect() -> bool:
            parts, name = _split(path)
            parent = disk._dir_of(parts, path)
            ino = parent.entries.get(name)
            if ino is None:
                if missing_ok:
                    return False
                raise _error(errno.ENOENT, path)
            if isinstance(disk._inodes[ino], _Dir):
                raise _error(errno.EISDIR, path)
            del parent.entries[name]
            parent.pending.append(_Unlink(name))
            return True

        await self._run("remove", path, effect, lambda removed: "" if removed else " (missing)")

    async def sync_dir(self, path: str) -> None:
        check_path(path, allow_root=True)
        disk = self._disk

        def effect() -> None:
            node = disk._inodes[disk._lookup(path)]
            if not isinstance(node, _Dir):
                raise _error(errno.ENOTDIR, path)
            if disk._draw(disk.faults.eio_fsync):
                raise _error(errno.EIO, path)  # the operations stay unsynced
            node.durable = dict(node.entries)
            node.pending = []

        await self._run("sync_dir", path, effect)

    async def makedirs(self, path: str) -> None:
        check_path(path, allow_root=True)
        disk = self._disk

        def effect() -> None:
            if path == "":
                return
            ino = ROOT_INODE
            for part in path.split("/"):
                node = disk._inodes[ino]
                if not isinstance(node, _Dir):
                    raise _error(errno.ENOTDIR, path)
                child = node.entries.get(part)
                if child is None:
                    child = disk._new_inode(_Dir())
                    node.entries[part] = child
                    node.pending.append(_Link(part, child))
                ino = child
            if not isinstance(disk._inodes[ino], _Dir):
                raise _error(errno.EEXIST, path)

        await self._run("makedirs", path, effect)

    async def listdir(self, path: str) -> list[str]:
        check_path(path, allow_root=True)
        disk = self._disk

        def effect() -> list[str]:
            node = disk._inodes[disk._lookup(path)]
            if not isinstance(node, _Dir):
                raise _error(errno.ENOTDIR, path)
            return sorted(node.entries)

        return await self._run("listdir", path, effect, lambda names: f" -> {len(names)}")

    async def exists(self, path: str) -> bool:
        check_path(path, allow_root=True)
        disk = self._disk

        def effect() -> bool:
            try:
                disk._lookup(path)
            except OSError:
                return False
            return True

        return await self._run("exists", path, effect, lambda found: f" -> {found}")

    async def disk_space(self) -> DiskSpace | None:
        """Not modelled: the disk has no size (ENOSPC is an injected fault),
        so the store's minimum-free check never refuses here. No checkpoint
        and no draw from the rng: a seed replays as it did before."""
        return None
