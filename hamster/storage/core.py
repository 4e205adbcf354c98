"""The storage core `Store` and `Uploads` share: metadata, blobs, runtime, and
the one way metadata is committed.

The commit rule (every write path, in this order):
1. the new blobs are durable in tmp/ (written, synced, tmp/ synced:
   blobs.py) before any record points to them;
2. under the commit lock, the checks are made again (bucket, preconditions,
   upload still there) and the whole change is ONE batch (`Core.transaction`),
   with a placing marker for each new blob and a removal marker for each
   blob it unreferences (records.py; recovery.py has why); the batch joins
   the open commit group and the lock is released; the group's batches are
   written as ONE metadata write with sync=True (group commit, below), and
   the transaction returns only once the write holding its batch has
   returned: acknowledged means durable. From the moment it joins a group it
   is shielded from cancellation, and a record that may have reached disk is
   never followed by cleanup of the blobs it points to;
3. only then, outside the lock, the new blobs are placed into blobs/ and the
   blobs the batch unreferenced (the old object, replaced parts, unused
   parts) are removed, and the directories synced (`BlobStore.settle`: one
   call does what every transaction that got there meanwhile queued); the
   markers it is done with are deleted in the next group's batch (or at
   `close`). A crash anywhere leaves markers that recovery finishes.
A failure before the batch joins a group removes the new blobs (`new_blobs`):
an unacknowledged write leaves nothing.

Group commit: one fsync of LevelDB's log costs milliseconds, so the batches
of concurrent transactions share it. At most one group is being written at a
time (`_writing`); transactions that finish their checks meanwhile join the
next one (`_open`), and when the write in flight returns, the first of them
to run writes their group for all of them. Groups are written in the order
they were formed, so the order of commits is the order of the lock. Checks
under the lock must see the batches of groups not yet written, or a second
`If-None-Match: *` PUT could win beside the first: `Core.read` and
`Core.scan` (every read of a transaction body goes through them) see them,
newest first, when the caller holds the commit lock; every other reader sees
only what is durable, as before.

A metadata write that fails is fatal to this store instance. LevelDB never
makes a failed batch readable, but its log record "may or may not show up
when the DB is re-opened" (and after a failed sync LevelDB refuses every
later write). So what reads see is no longer what a restart will see: a
DELETE of a key whose failed PUT is only in the log would find nothing,
write nothing and answer 204, and the PUT would come back at the restart.
From the first failure on, `Core.failed` is set, every later transaction
answers 503 ServiceUnavailable (SDKs retry it) without writing, and
`Core.on_failure` tells the server to stop so its supervisor restarts it;
the restart replays the log and recovery resolves the rest.

The commit lock serialises every check-and-commit (with the groups not yet
written in view), so racing conditional writes have exactly one winner and a
bucket cannot be deleted while a write into it commits. Readers take no lock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import trio

from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage import records
from hamster.storage.blobs import BlobStore
from hamster.storage.errors import StorageFull
from hamster.storage.fs import FileSystem
from hamster.storage.meta import MetaStore
from hamster.storage.records import BucketInfo, ObjectInfo
from hamster.storage.space import MinFree, SpaceGuard

log = logging.getLogger("hamster.storage")

__all__ = ["Batch", "Core", "no_such_bucket", "no_such_key"]


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", extra={"BucketName": bucket})


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", extra={"Key": key})


@dataclass
class Batch:
    """One metadata commit: records to put and to delete, written in one
    synced batch, and the blobs to remove once it is durable."""

    puts: list[tuple[bytes, bytes]] = field(default_factory=list)
    deletes: list[bytes] = field(default_factory=list)
    # Blobs no record points to once the batch is durable.
    discard: list[str] = field(default_factory=list)

    def put(self, key: bytes, value: bytes) -> None:
        self.puts.append((key, value))

    def delete(self, key: bytes) -> None:
        self.deletes.append(key)

    def discard_after(self, blob_ids: Iterable[str]) -> None:
        self.discard.extend(blob_ids)

    @property
    def empty(self) -> bool:
        return not self.puts and not self.deletes


class _Group:
    """Batches of transactions committed together: one synced metadata write.

    `changes` is what the group leaves: key -> value, None for a delete, in
    commit order (a later batch's change of a key replaces an earlier one's)."""

    def __init__(self) -> None:
        self.changes: dict[bytes, bytes | None] = {}
        self.done = trio.Event()
        # What the write raised (every member raises it), set before `done`.
        self.error: BaseException | None = None

    def add(self, batch: Batch) -> None:
        # A key both put and deleted in one batch ends up deleted (as in one
        # LevelDB batch of puts then deletes).
        for key, value in batch.puts:
            self.changes[key] = value
        for key in batch.deletes:
            self.changes[key] = None


class Core:
    """The data directory's metadata and blobs, the runtime and the commit
    lock; `space` checks `min_free` before new writes (space.py)."""

    def __init__(
        self, fs: FileSystem, meta: MetaStore, runtime: Runtime, *, min_free: MinFree | None = None
    ) -> None:
        self.fs = fs
        self.meta = meta
        self.runtime = runtime
        self.space = SpaceGuard(fs, runtime, min_free if min_free is not None else MinFree())
        self.blobs = BlobStore(fs, runtime, space=self.space)
        self.commit_lock = trio.Lock()
        # The task holding the commit lock in `transaction` (its reads see
        # the groups below), the group being written, the group forming.
        self._holder: trio.lowlevel.Task | None = None
        self._writing: _Group | None = None
        self._open: _Group | None = None
        # The first metadata write that failed (see the module docstring).
        self.failed: BaseException | None = None
        # Called once, with that failure (the node stops the server).
        self.on_failure: Callable[[BaseException], None] | None = None
        # Markers `BlobStore.settle` is done with: deleted by the next group.
        self._settled: list[bytes] = []

    # --- reading -------------------------------------------------------------

    def _pending(self) -> list[dict[bytes, bytes | None]]:
        """The changes of the groups not yet durable, newest first, if the
        calling task holds the commit lock in `transaction`; else none."""
        if self._holder is None or self._holder is not trio.lowlevel.current_task():
            return []
        return [g.changes for g in (self._open, self._writing) if g is not None]

    async def read(self, key: bytes) -> bytes | None:
        """`meta.get`, seeing the groups not yet written when called from a
        transaction's body (see the module docstring)."""
        for changes in self._pending():
            if key in changes:
                return changes[key]
        return await self.meta.get(key)

    def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        """`meta.scan`, seeing the groups not yet written when called from a
        transaction's body (their changes as of the call)."""
        assert limit is None or limit >= 0
        pending = self._pending()
        if not pending:
            return self.meta.scan(prefix, start_after, limit)
        return self._scan_pending(pending, prefix, start_after, limit)

    async def _scan_pending(
        self,
        pending: list[dict[bytes, bytes | None]],
        prefix: bytes,
        start_after: bytes | None,
        limit: int | None,
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        """The durable scan merged with the pending changes (newest first)."""
        merged: dict[bytes, bytes | None] = {}
        for changes in reversed(pending):  # oldest first: newer ones win
            merged.update(changes)
        ahead = sorted(
            key
            for key in merged
            if key.startswith(prefix) and (start_after is None or key > start_after)
        )
        left = limit
        if left == 0:
            return
        at = 0
        durable = self.meta.scan(prefix, start_after)
        try:
            async for key, value in durable:
                while at < len(ahead) and ahead[at] < key:
                    pending_value = merged[ahead[at]]
                    if pending_value is not None:
                        yield ahead[at], pending_value
                        if left is not None:
                            left -= 1
                            if left == 0:
                                return
                    at += 1
                if at < len(ahead) and ahead[at] == key:
                    at += 1
                    changed = merged[key]
                    if changed is None:
                        continue
                    value = changed
                yield key, value
                if left is not None:
                    left -= 1
                    if left == 0:
                        return
        finally:
            # Stopped early: the durable scan ends now (a generator's aclose).
            aclose = getattr(durable, "aclose", None)
            if aclose is not None:
                await aclose()
        for key in ahead[at:]:
            pending_value = merged[key]
            if pending_value is not None:
                yield key, pending_value
                if left is not None:
                    left -= 1
                    if left == 0:
                        return

    async def get_bucket(self, name: str) -> BucketInfo | None:
        value = await self.read(records.bucket_key(name))
        return None if value is None else records.decode_bucket(value)

    async def require_bucket(self, bucket: str) -> None:
        """NoSuchBucket unless `bucket` exists."""
        if await self.read(records.bucket_key(bucket)) is None:
            raise no_such_bucket(bucket)

    async def get_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's record, None if there is none (no bucket check)."""
        value = await self.read(records.object_key(bucket, key))
        return None if value is None else records.decode_object(bucket, value)

    # --- committing ----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(
        self, *, new_blobs: Iterable[str] = (), inline: bool = False
    ) -> AsyncIterator[Batch]:
        """Check and commit under the commit lock; see the module docstring.

        The body runs under the lock: it makes its checks (raising the
        S3Error the request gets; its reads through `read` and `scan`) and
        fills the `Batch`. When it ends normally the batch joins the open
        commit group (nothing for an empty batch) and the lock is released;
        then, shielded, the transaction waits until the group's synced write
        has returned (writing it itself when it is the group's turn and no
        other member has started it), and the blobs of `Batch.discard` are
        removed. A failed group write raises its error in every member.

        Args:
          new_blobs: blobs `BlobStore.write` made durable in tmp/, which the
            batch will point to: the batch gets their placing markers and,
            once durable, they are queued for placement; removed if the
            transaction fails before its batch joins a group (including
            while waiting for the lock), never once it has.
          inline: the batch holds an inline object's bytes (committed like
            any other; only the planted inline-unsynced bug looks at it).
        """
        new_blobs = list(new_blobs)
        batch = Batch()
        group: _Group | None = None
        # Planted bugs for the simulator (hamster.runtime.BREAKS): the old
        # blobs go before the batch that unreferences them is written
        # (delete-before-swap); the batch is not synced (ack-before-sync), or
        # not when it holds an inline object (inline-unsynced).
        discard_first = self.runtime.broken("delete-before-swap")
        sync = not self.runtime.broken("ack-before-sync")
        if inline and self.runtime.broken("inline-unsynced"):
            sync = False
        try:
            async with self.commit_lock:
                if self.failed is not None:
                    raise S3Error(
                        "ServiceUnavailable",
                        "A metadata write failed; this server refuses writes until it restarts.",
                    )
                self._holder = trio.lowlevel.current_task()
                try:
                    yield batch
                finally:
                    self._holder = None
                if discard_first:
                    await self.discard_blobs(batch.discard)
                if not batch.empty:
                    for blob_id in new_blobs:
                        batch.put(records.placing_key(blob_id), records.MARKER_VALUE)
                    # Planted bug for the simulator (hamster.runtime.BREAKS):
                    # unrecorded-removal.
                    if not self.runtime.broken("unrecorded-removal"):
                        for blob_id in batch.discard:
                            batch.put(records.removing_key(blob_id), records.MARKER_VALUE)
                    if self._open is None:
                        self._open = _Group()
                    group = self._open
                    group.add(batch)
        except BaseException:
            if group is None:
                await self.abandon_blobs(new_blobs)
            raise
        if group is not None:
            await self._durable(group, sync=sync)
            self.blobs.committed(new_blobs)
        if not discard_first:
            await self.discard_blobs(batch.discard)
        await self._settle_blobs()

    async def _durable(self, group: _Group, *, sync: bool) -> None:
        """Return once `group`'s write has returned (raise its error): wait
        for the write in flight, then write the group if no member has yet."""
        with trio.CancelScope(shield=True):
            while not group.done.is_set():
                writing = self._writing
                if writing is not None:
                    await writing.done.wait()
                    # Planted bug for the simulator (hamster.runtime.BREAKS):
                    # the write this waited for was an earlier group's.
                    if writing is not group and self.runtime.broken("ack-on-earlier-write"):
                        return
                else:
                    assert self._open is group
                    await self._write_group(group, sync=sync)
        if group.error is not None:
            raise group.error

    async def _write_group(self, group: _Group, *, sync: bool) -> None:
        """Write the open group as one metadata batch; its error (and the
        refusal after an earlier failure) goes to `group.error`."""
        self._open, self._writing = None, group
        try:
            if self.failed is not None:
                raise S3Error(
                    "ServiceUnavailable",
                    "A metadata write failed; this server refuses writes until it restarts.",
                )
            settled, self._settled = self._settled, []
            for key in settled:
                group.changes.setdefault(key, None)
            puts = [(key, value) for key, value in group.changes.items() if value is not None]
            deletes = [key for key, value in group.changes.items() if value is None]
            try:
                await self.meta.write(puts, deletes, sync=sync)
            except Exception as exc:
                if isinstance(exc, StorageFull):
                    self.space.refused(exc)
                self._fail(exc)
                raise
        except BaseException as exc:
            group.error = exc
        finally:
            self._writing = None
            group.done.set()

    async def _settle_blobs(self) -> None:
        """`BlobStore.settle` if it has work; the markers it is done with go
        in the next group's batch."""
        if self.blobs.settle_due:
            self._settled.extend(await self.blobs.settle())

    async def close(self) -> None:
        """Settle what is pending and delete its markers (not after a failed
        metadata write: recovery finishes it), then close the metadata store."""
        try:
            if self.failed is None:
                self._settled.extend(await self.blobs.settle(everything=True))
                settled, self._settled = self._settled, []
                if settled:
                    await self.meta.write([], settled, sync=True)
        finally:
            await self.meta.close()

    def _fail(self, exc: BaseException) -> None:
        if self.failed is not None:
            return
        self.failed = exc
        log.critical(
            "metadata write failed (%s): refusing writes; the server stops so that a "
            "restart replays the metadata log and recovers",
            exc,
        )
        if self.on_failure is not None:
            self.on_failure(exc)

    async def abandon_blobs(self, blob_ids: Iterable[str]) -> None:
        """Remove new blobs no batch committed (in tmp/; shielded, a failure
        logged: recovery removes every tmp/ file without a marker)."""
        with trio.CancelScope(shield=True):
            for blob_id in blob_ids:
                try:
                    await self.blobs.abandon(blob_id)
                except OSError:
                    log.exception("could not remove uncommitted blob %s; recovery will", blob_id)

    async def discard_blobs(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs no record points to (shielded: see `discard_blob`)."""
        with trio.CancelScope(shield=True):
            for blob_id in blob_ids:
                await self.discard_blob(blob_id)

    async def discard_blob(self, blob_id: str) -> None:
        """Remove a blob no record points to; a failure only leaves its
        removal marker for recovery, so it is logged, not raised (the
        operation succeeded)."""
        with trio.CancelScope(shield=True):
            try:
                await self.blobs.remove(blob_id)
            except OSError:
                log.exception("could not remove unreferenced blob %s; recovery will", blob_id)
