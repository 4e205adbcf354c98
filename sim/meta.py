"""A model of LevelDB behind hamster's `MetaStore`, with LevelDB's crash semantics.

The model (what `SimMetaDisk.crash` may do):

- The store is a sequence of write batches applied to an ordered map
  (bytewise key order). Each batch is atomic: a crash keeps all of it or
  none of it. Within a batch, a key both put and deleted ends up deleted.
- A batch written with sync=True is durable when `write` returns, and so is
  every batch before it (LevelDB appends batches to one log and fsyncs the
  log). Its `write` is two steps, as in `DBImpl::Write`: the batch is
  appended to the log (unsynced, not yet readable), then the log is fsynced
  (an rng-chosen 0..`sync_max_s` of mock time) and the batch applied to what
  reads see. A crash between the two (at the "sync" operation) keeps a
  prefix of the unsynced batches like any crash: the batch may survive or
  not, and its writer was never answered. Writes are serialised (LevelDB's
  writer queue). Batches written with sync=False after the last synced one are in
  the page cache only: a crash keeps an rng-chosen prefix of them and loses
  the rest, a suffix. Nothing else is lost.
- `open` without a crash is a process restart without power loss: the log
  (in the page cache) is replayed, and like LevelDB's `DB::Open`, which
  writes the recovered log into a synced table and a new manifest, that
  makes every batch in it durable.
- Reads see every batch whose `write` has returned. `scan` reads in bounded
  batches of `hamster.storage.meta.SCAN_BATCH_ENTRIES` from the live state
  (not a snapshot), as the contract allows.
- Fault (`MetaFaults`, drawn from the rng while `enabled`): `write` raises
  OSError (EIO) with probability `write_eio`. As in LevelDB's
  `DBImpl::Write`, a failed batch never reaches the memtable, so reads do
  not see it; but its log record may have been written ("the log record we
  just added may or may not show up when the DB is re-opened"): rng's
  choice, and then it is an unsynced batch that appears at the next `open`
  or crash if it survives. (After a failed sync of its log LevelDB also
  refuses every later write until it is reopened; that is not modelled.) A batch that fails to build
  (a value that is not bytes) raises TypeError and writes nothing.
- The crash kills the live view: every later call on it raises
  `sim.errors.SimCrash`. `open` after a crash sees what survived.

Every call checkpoints once (cancellable before its effect) and then applies
its effect atomically; `before_op` is called with (operation, key) before
every get, write and scan batch of the live view: ("get", key), ("write",
first key of the batch or b""), ("sync", the same key, between a synced
write's two steps), ("scan", the key the batch starts from).
Determinism: the outcome depends only on the rng's seed and the calls.
"""

from __future__ import annotations

import bisect
import errno
import os
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import trio

from hamster.storage.meta import scan_in_batches
from sim.errors import SimCrash


@dataclass
class MetaFaults:
    """write_eio: probability that a `write` fails with EIO (see the module
    docstring); `enabled=False` switches faults off."""

    write_eio: float = 0.0
    enabled: bool = True

    def __post_init__(self) -> None:
        assert 0.0 <= self.write_eio <= 1.0, f"write_eio={self.write_eio} is not a probability"


@dataclass(frozen=True)
class _Batch:
    puts: tuple[tuple[bytes, bytes], ...]
    deletes: tuple[bytes, ...]


class _Map:
    """An ordered map of bytes: a dict and its sorted keys."""

    def __init__(self, items: dict[bytes, bytes] | None = None) -> None:
        self.values: dict[bytes, bytes] = dict(items) if items else {}
        self.keys: list[bytes] = sorted(self.values)

    def copy(self) -> _Map:
        return _Map(self.values)

    def apply(self, batch: _Batch) -> None:
        for key, value in batch.puts:
            if key not in self.values:
                bisect.insort(self.keys, key)
            self.values[key] = value
        for key in batch.deletes:
            if self.values.pop(key, None) is not None:
                del self.keys[bisect.bisect_left(self.keys, key)]


def _check_batch(puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes]) -> _Batch:
    """The batch as immutable values; TypeError (nothing written) if it is not bytes."""
    out_puts: list[tuple[bytes, bytes]] = []
    for key, value in puts:
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError(f"keys and values must be bytes, not {type(key)}, {type(value)}")
        out_puts.append((key, value))
    for key in deletes:
        if not isinstance(key, bytes):
            raise TypeError(f"keys must be bytes, not {type(key)}")
    return _Batch(tuple(out_puts), tuple(deletes))


class SimMetaDisk:
    """The metadata store's durable and volatile state, and the crash.

    `open()` for a `MetaStore` view, `crash()` to lose power, `items()` to
    look at the current contents. `before_op` and `faults`: see the module
    docstring.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        faults: MetaFaults | None = None,
        trace: Callable[[str], None] | None = None,
        sync_max_s: float = 0.0,
    ) -> None:
        assert sync_max_s >= 0.0
        self.rng = rng
        self.faults = faults if faults is not None else MetaFaults()
        # A synced write's fsync of the log takes 0..sync_max_s (mock time).
        self.sync_max_s = sync_max_s
        self.before_op: Callable[[str, bytes], None] | None = None
        self._trace_fn = trace
        self._durable = _Map()  # after the last synced batch
        self._unsynced: list[_Batch] = []  # since then, in order
        self._current = _Map()  # _durable with _unsynced applied: what reads see
        self._generation = 0  # of the live view; 0 is never live
        self._live = False

    def open(self) -> SimMetaStore:
        """A `MetaStore` over the state as it is; the previous view dies.

        Like LevelDB replaying its log, the new view sees every batch in the
        log, also one whose write failed after logging it, and the replay
        makes them durable (DB::Open writes them into a synced table)."""
        self._generation += 1
        self._live = True
        for batch in self._unsynced:
            self._durable.apply(batch)
        self._unsynced = []
        self._current = self._durable.copy()
        self.trace(f"meta{self._generation} open")
        return SimMetaStore(self, self._generation)

    def crash(self) -> None:
        """Lose power: keep a prefix of the unsynced batches, lose the rest."""
        self._live = False
        self.trace(f"meta{self._generation} crash")
        if self._unsynced:
            keep = self.rng.randint(0, len(self._unsynced))
            for batch in self._unsynced[:keep]:
                self._durable.apply(batch)
            self.trace(f"crash meta keeps {keep}/{len(self._unsynced)} unsynced batches")
            self._unsynced = []
        self._current = self._durable.copy()

    def items(self) -> list[tuple[bytes, bytes]]:
        """The current contents (what reads see), in key order."""
        values = self._current.values
        return [(key, values[key]) for key in self._current.keys]

    def trace(self, line: str) -> None:
        if self._trace_fn is not None:
            self._trace_fn(line)

    def _commit(self, batch: _Batch, *, sync: bool) -> None:
        self._current.apply(batch)
        if sync:
            for earlier in self._unsynced:
                self._durable.apply(earlier)
            self._unsynced = []
            self._durable.apply(batch)
        else:
            self._unsynced.append(batch)


class SimMetaStore:
    """hamster's `MetaStore` over a `SimMetaDisk`; dead once the disk crashes
    or is opened again (every call then raises SimCrash)."""

    def __init__(self, disk: SimMetaDisk, generation: int) -> None:
        self._disk = disk
        self._generation = generation
        self._closed = False
        # LevelDB's writer queue: one write at a time.
        self._writer = trio.Lock()

    def _check_live(self) -> None:
        disk = self._disk
        if not (disk._live and disk._generation == self._generation):
            raise SimCrash(f"meta{self._generation} is dead")

    async def _enter(self, op: str, key: bytes) -> None:
        self._check_live()
        assert not self._closed, "use of a closed MetaStore"
        if self._disk.before_op is not None:
            self._disk.before_op(op, key)
            self._check_live()
        await trio.lowlevel.checkpoint()
        self._check_live()

    def _trace(self, line: str) -> None:
        self._disk.trace(f"meta{self._generation} {line}")

    async def get(self, key: bytes) -> bytes | None:
        await self._enter("get", key)
        value = self._disk._current.values.get(key)
        self._trace(f"get {key!r} -> {'None' if value is None else len(value)}")
        return value

    async def write(
        self,
        puts: Sequence[tuple[bytes, bytes]],
        deletes: Sequence[bytes],
        *,
        sync: bool,
    ) -> None:
        first = puts[0][0] if puts else deletes[0] if deletes else b""
        async with self._writer:
            await self._enter("write", first)
            batch = _check_batch(puts, deletes)
            disk = self._disk
            shown = f"write sync={int(sync)} puts={len(batch.puts)} deletes={len(batch.deletes)}"
            faults = disk.faults
            if faults.enabled and faults.write_eio > 0.0 and disk.rng.random() < faults.write_eio:
                logged = disk.rng.random() < 0.5
                if logged:
                    disk._unsynced.append(batch)  # in the log, not in the memtable
                self._trace(f"{shown} EIO ({'logged' if logged else 'not logged'})")
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            if not sync:
                disk._commit(batch, sync=False)
                self._trace(shown)
                return
            disk._unsynced.append(batch)  # in the log, neither synced nor readable
            self._trace(f"{shown} logged")
            # The log's fsync: it takes time, and once started it is not undone.
            with trio.CancelScope(shield=True):
                delay_s = disk.rng.uniform(0.0, disk.sync_max_s) if disk.sync_max_s > 0.0 else 0.0
                if delay_s > 0.0:
                    await trio.sleep(delay_s)
                await self._enter("sync", first)
            for logged_batch in disk._unsynced:
                disk._durable.apply(logged_batch)
            disk._unsynced = []
            disk._current.apply(batch)
            self._trace("synced")

    async def scan(
        self,
        prefix: bytes,
        start_after: bytes | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        async for key, value in scan_in_batches(prefix, start_after, limit, self._next_batch):
            self._check_live()
            yield key, value

    async def _next_batch(
        self, start: bytes, include_start: bool, stop: bytes | None, want: int
    ) -> list[tuple[bytes, bytes]]:
        await self._enter("scan", start)
        batch = self._read_batch(start, include_start, stop, want)
        self._trace(f"scan {start!r} -> {len(batch)}")
        return batch

    def _read_batch(
        self, start: bytes, include_start: bool, stop: bytes | None, want: int
    ) -> list[tuple[bytes, bytes]]:
        current = self._disk._current
        keys = current.keys
        lo = (bisect.bisect_left if include_start else bisect.bisect_right)(keys, start)
        hi = len(keys) if stop is None else bisect.bisect_left(keys, stop)
        return [(key, current.values[key]) for key in keys[lo : min(hi, lo + want)]]

    async def close(self) -> None:
        """Idempotent; the state stays on the disk (reopen with `SimMetaDisk.open`)."""
        self._check_live()
        await trio.lowlevel.checkpoint()
        self._check_live()
        if not self._closed:
            self._closed = True
            self._trace("close")
