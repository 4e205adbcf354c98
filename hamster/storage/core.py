"""The storage core `Store` and `Uploads` share: metadata, blobs, runtime, and
the one way metadata is committed.

The commit rule (every write path, in this order):
1. the new blobs are durable (written, synced, renamed, directory synced:
   blobs.py) before any record points to them;
2. under the commit lock, the checks are made again (bucket, preconditions,
   upload still there) and the whole change is ONE metadata batch written
   with sync=True (`Core.transaction`); once the write starts it is shielded
   from cancellation, and a record that may have reached disk is never
   followed by cleanup of the blobs it points to;
3. only then, outside the lock, the blobs the batch unreferenced (the old
   object, replaced parts, unused parts) are removed; a failure there only
   leaves an orphan that recovery removes.
A failure before the write starts removes the new blobs (`new_blobs`): an
unacknowledged write leaves nothing.

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

The commit lock serialises every check-and-commit, so racing conditional
writes have exactly one winner and a bucket cannot be deleted while a write
into it commits. Readers take no lock.
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
        # The first metadata write that failed (see the module docstring).
        self.failed: BaseException | None = None
        # Called once, with that failure (the node stops the server).
        self.on_failure: Callable[[BaseException], None] | None = None

    # --- reading -------------------------------------------------------------

    async def get_bucket(self, name: str) -> BucketInfo | None:
        value = await self.meta.get(records.bucket_key(name))
        return None if value is None else records.decode_bucket(value)

    async def require_bucket(self, bucket: str) -> None:
        """NoSuchBucket unless `bucket` exists."""
        if await self.meta.get(records.bucket_key(bucket)) is None:
            raise no_such_bucket(bucket)

    async def get_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's record, None if there is none (no bucket check)."""
        value = await self.meta.get(records.object_key(bucket, key))
        return None if value is None else records.decode_object(bucket, value)

    # --- committing ----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self, *, new_blobs: Iterable[str] = ()) -> AsyncIterator[Batch]:
        """Check and commit under the commit lock; see the module docstring.

        The body runs under the lock: it makes its checks (raising the
        S3Error the request gets) and fills the `Batch`. When it ends
        normally the batch is written with sync=True, shielded (nothing is
        written for an empty batch), the lock is released, and the blobs of
        `Batch.discard` are removed.

        Args:
          new_blobs: durable blobs the batch will point to; removed if the
            transaction fails before the write starts (including while
            waiting for the lock), never once it has started.
        """
        batch = Batch()
        started = False
        # Planted bugs for the simulator (hamster.runtime.BREAKS): the old
        # blobs go before the batch that unreferences them is written
        # (delete-before-swap); the batch is not synced (ack-before-sync).
        discard_first = self.runtime.broken("delete-before-swap")
        sync = not self.runtime.broken("ack-before-sync")
        try:
            async with self.commit_lock:
                if self.failed is not None:
                    raise S3Error(
                        "ServiceUnavailable",
                        "A metadata write failed; this server refuses writes until it restarts.",
                    )
                yield batch
                if discard_first:
                    await self.discard_blobs(batch.discard)
                if not batch.empty:
                    started = True
                    with trio.CancelScope(shield=True):
                        try:
                            await self.meta.write(batch.puts, batch.deletes, sync=sync)
                        except Exception as exc:
                            if isinstance(exc, StorageFull):
                                self.space.refused(exc)
                            self._fail(exc)
                            raise
        except BaseException:
            if not started:
                await self.discard_blobs(new_blobs)
            raise
        if not discard_first:
            await self.discard_blobs(batch.discard)

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

    async def discard_blobs(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs no record points to (shielded: see `discard_blob`)."""
        with trio.CancelScope(shield=True):
            for blob_id in blob_ids:
                await self.discard_blob(blob_id)

    async def discard_blob(self, blob_id: str) -> None:
        """Remove a blob no record points to; a failure only leaves an orphan
        for recovery, so it is logged, not raised (the operation succeeded)."""
        with trio.CancelScope(shield=True):
            try:
                await self.blobs.remove(blob_id)
            except OSError:
                log.exception("could not remove unreferenced blob %s; recovery will", blob_id)
