"""The one metadata store interface: an ordered key-value store (LevelDB's model).

A simulator swaps in an in-memory model for `LevelDBMetaStore`.

Contract:
- Keys and values are bytes; keys order bytewise (memcmp).
- `write` applies its puts and deletes as one atomic batch: after a crash
  either all of it is there or none. With sync=True the batch is durable
  when `write` returns (use it for anything acknowledged to a client); with
  sync=False a crash may lose it (wholly) together with later batches.
  Within a batch, a key both put and deleted ends up deleted.
- Reads see every batch whose `write` has returned.
- `scan` yields (key, value) pairs in key order, lazily, in bounded batches.
  It is not a snapshot: a write that lands while a scan is in progress may
  or may not be seen by the later part of it; every pair yielded was true
  at some instant during the scan.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol

import plyvel
import trio

from hamster.runtime import Offload, ThreadOffload
from hamster.storage.errors import (
    DESCRIPTOR_ERRNOS,
    FULL_ERRNOS,
    OutOfDescriptors,
    StorageError,
    StorageFull,
)

SCAN_BATCH_ENTRIES = 256
# A point read that LevelDB serves from its block cache or the page cache takes
# ~2 us on this machine; a hop to a worker thread 50-250 us (trio.to_thread,
# 2 busy cores). So `LevelDBMetaStore.get` runs on the event loop, and only a
# read that can really block goes through the offload: one that took longer
# than GET_INLINE_SLOW_NS and read from the disk (a table block not in memory)
# sends the next GET_HOPS_AFTER_SLOW reads to worker threads, then they are
# tried inline again. A slow read counts as one from the disk only if the
# thread's disk-read counters grew (`thread_disk_reads`): on a busy machine
# the loop thread is often descheduled for a millisecond in the middle of a
# read from memory, and that alone must not send 256 reads through a hop
# each (measured under 4 KiB PUT load at 16 connections, load average 12:
# 37% of point reads hopped). Scans always hop (each reads up to
# SCAN_BATCH_ENTRIES entries).
GET_INLINE_SLOW_NS = 1_000_000
GET_HOPS_AFTER_SLOW = 256


def thread_disk_reads() -> int:
    """The calling thread's major page faults plus 512-byte blocks it read
    from a disk (getrusage RUSAGE_THREAD): they grow when a read had to wait
    for the disk (LevelDB maps its table files, or preads them), not when the
    thread was merely descheduled."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_majflt + usage.ru_inblock


class MetaStore(Protocol):
    async def get(self, key: bytes) -> bytes | None: ...

    async def write(
        self,
        puts: Sequence[tuple[bytes, bytes]],
        deletes: Sequence[bytes],
        *,
        sync: bool,
    ) -> None: ...

    def scan(
        self,
        prefix: bytes,
        start_after: bytes | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[tuple[bytes, bytes]]: ...

    async def close(self) -> None: ...


# Reads up to `want` pairs in key order from `start` (itself included or not)
# to `stop` (excluded; None: the end).
ReadBatch = Callable[[bytes, bool, bytes | None, int], Awaitable[list[tuple[bytes, bytes]]]]


async def scan_in_batches(
    prefix: bytes,
    start_after: bytes | None,
    limit: int | None,
    read_batch: ReadBatch,
) -> AsyncIterator[tuple[bytes, bytes]]:
    """`MetaStore.scan` in bounded batches of SCAN_BATCH_ENTRIES, each read
    by `read_batch`: the paging every implementation shares."""
    assert limit is None or limit >= 0
    stop = prefix_upper_bound(prefix)
    if start_after is not None and start_after >= prefix:
        start, include_start = start_after, False
    else:
        start, include_start = prefix, True
    remaining = limit
    while remaining is None or remaining > 0:
        want = SCAN_BATCH_ENTRIES if remaining is None else min(remaining, SCAN_BATCH_ENTRIES)
        batch = await read_batch(start, include_start, stop, want)
        for key, value in batch:
            assert key.startswith(prefix)
            yield key, value
        if len(batch) < want:
            return
        if remaining is not None:
            remaining -= len(batch)
        start, include_start = batch[-1][0], False


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix`, or None."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def classify_leveldb_error(exc: Exception, op: str) -> StorageError | None:
    """LevelDB reports a failed system call as an IOError whose text ends in
    strerror(errno) (plyvel keeps only the text): the `StorageError` of a
    full disk or of no descriptors left, or None for anything else."""
    text = str(exc)
    for codes, kind in ((FULL_ERRNOS, StorageFull), (DESCRIPTOR_ERRNOS, OutOfDescriptors)):
        for code in sorted(codes):
            if os.strerror(code) in text:
                return kind(op, "meta", f"[Errno {code}] {os.strerror(code)}")
    return None


@contextlib.contextmanager
def _leveldb_errors(op: str) -> Iterator[None]:
    try:
        yield
    except plyvel.IOError as exc:
        error = classify_leveldb_error(exc, op)
        if error is None:
            raise
        raise error from exc


class LevelDBMetaStore:
    """`MetaStore` on plyvel; each blocking call is one `offload` hop (a
    worker thread unless told otherwise; `Store.open` passes the runtime's)."""

    def __init__(self, db: Any, *, offload: Offload | None = None) -> None:
        self._db: Any = db
        self._closed = False
        # Gets still to send through the offload after a slow inline one.
        self._hops_left = 0
        # `thread_disk_reads` when a slow read was last looked at.
        self._disk_reads = thread_disk_reads()
        self._offload: Offload = offload if offload is not None else ThreadOffload()

    @classmethod
    async def open(
        cls, path: str, *, offload: Offload | None = None, max_open_files: int | None = None
    ) -> LevelDBMetaStore:
        """Open (or create) the database at `path`; `max_open_files`: the
        table files LevelDB may keep open (None: its default, 1000)."""
        offload = offload if offload is not None else ThreadOffload()
        options: dict[str, Any] = {"create_if_missing": True, "paranoid_checks": True}
        if max_open_files is not None:
            options["max_open_files"] = max_open_files
        db = await offload.run_sync(lambda: plyvel.DB(path, **options))
        return cls(db, offload=offload)

    async def get(self, key: bytes) -> bytes | None:
        """Inline while reads come from memory, else one hop (see GET_INLINE_SLOW_NS)."""
        assert not self._closed
        value: bytes | None
        with _leveldb_errors("metadata read"):
            if self._hops_left > 0:
                self._hops_left -= 1
                value = await self._offload.run_sync(self._db.get, key)
                return value
            started = time.perf_counter_ns()
            value = self._db.get(key)
            if time.perf_counter_ns() - started > GET_INLINE_SLOW_NS:
                disk_reads = thread_disk_reads()
                if disk_reads != self._disk_reads:
                    self._hops_left = GET_HOPS_AFTER_SLOW
                self._disk_reads = disk_reads
        # A checkpoint, as a hop has: a loop of reads still lets others run.
        await trio.lowlevel.checkpoint()
        return value

    async def write(
        self,
        puts: Sequence[tuple[bytes, bytes]],
        deletes: Sequence[bytes],
        *,
        sync: bool,
    ) -> None:
        assert not self._closed
        db = self._db

        def apply() -> None:
            # transaction=True: an exception while building the batch writes nothing.
            with db.write_batch(sync=sync, transaction=True) as batch:
                for key, value in puts:
                    batch.put(key, value)
                for key in deletes:
                    batch.delete(key)

        with _leveldb_errors("metadata write"):
            await self._offload.run_sync(apply)

    def scan(
        self,
        prefix: bytes,
        start_after: bytes | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        return scan_in_batches(prefix, start_after, limit, self._next_batch)

    async def _next_batch(
        self, start: bytes, include_start: bool, stop: bytes | None, want: int
    ) -> list[tuple[bytes, bytes]]:
        assert not self._closed
        with _leveldb_errors("metadata read"):
            return await self._offload.run_sync(
                self._read_batch, start, include_start, stop, want
            )

    def _read_batch(
        self, start: bytes, include_start: bool, stop: bytes | None, want: int
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        with self._db.iterator(start=start, stop=stop, include_start=include_start) as it:
            for key, value in it:
                out.append((key, value))
                if len(out) >= want:
                    break
        return out

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._offload.run_sync(self._db.close)
