"""Blob files: object bytes on disk, named by internal id, never by key.

Layout under the data directory:
  tmp/<id>              a blob being written, or committed and not yet placed
  blobs/<id[:2]>/<id>   a placed blob

A blob's life (recovery.py has the whole design and what a crash leaves):
1. `BlobStore.write` streams a body through a bounded buffer into tmp/<id>,
   hashing it on the way (MD5 and the additional checksum, in one
   `Runtime.hash` call per chunk: one worker-thread hop for a big chunk),
   checks the digests the client sent, then fsyncs the file and tmp/: when
   it returns the blob is durable in tmp/, and nothing points to it yet. A
   body that ends within its first chunk is read whole first, hashed and
   checked, and then written by one `FileSystem.write_file` call, the same
   steps in the same order in one thread hop. A blob no batch commits is
   removed from tmp/ (`abandon`).
2. The batch that first points a record at it also writes its placing
   marker (core.py); once that batch is durable the blob is `committed`:
   pinned, and queued for placement.
3. `settle` (run by the transaction after its removals) links each queued
   blob into blobs/<xx>/, fsyncs those directories once each, then removes
   the tmp/ names: the placing markers can go (core.py deletes them in the
   next batch). One blob alone is placed by one `FileSystem.place` call (one
   thread hop). Readers find a blob under either name (`open_read`,
   `read_file`: the tmp/ name first while it may be there).
4. `remove`, once the batch that drops the last reference (with the blob's
   removal marker) is durable and the last pin is gone, unlinks the blob's
   names; once its directory is fsynced (by a placement into it, or with
   the others when `REMOVALS_SYNCED_TOGETHER` are pending, or at close) its
   markers can go.
Inline objects: a body of at most `write`'s `inline_max_bytes` (a PUT's or
a copy's, storage/store.py) is read, hashed and checked the same way and not
written at all: it goes back to the caller (`WrittenBlob.inline_data`),
which stores it inside the object's record; it has no life here.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import trio

from hamster import integrity
from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage import records
from hamster.storage.errors import StorageFull, classify
from hamster.storage.fs import FileSystem, ReadableFile, WritableFile
from hamster.storage.space import MinFree, SpaceGuard

log = logging.getLogger("hamster.storage")

BLOBS_DIR = "blobs"
TMP_DIR = "tmp"
CHUNK_BYTES = 1 << 20
# Chunks queued between reading the body and hashing + writing it: none, the
# reader hands a chunk over when the writer takes it (see `BlobStore._write`).
PIPELINE_CHUNKS = 0
# Removals whose directory fsync (and then marker deletion) waits for more:
# their directories are synced together once this many are pending (or a
# placement syncs their directory, or at close). A crash leaves at most
# about this many removal markers for recovery.
REMOVALS_SYNCED_TOGETHER = 64

BLOB_ID_RE = re.compile(r"[0-9a-f]{32}\Z")

_T = TypeVar("_T")

# The update methods of the hashers one write feeds (hashlib's and integrity's
# take any bytes-like object: a chunk may be a memoryview of a reused buffer).
_Updates = tuple[Callable[[Any], None], ...]


class BodySource(Protocol):
    async def read(self, max_bytes: int) -> bytes:
        """Up to max_bytes of the body; b"" at end. May raise S3Error."""
        ...


@dataclass(frozen=True)
class WrittenBlob:
    blob_id: str
    size: int
    md5: bytes  # raw 16 bytes
    # Raw digest of the checksum_algorithm given to `write` (None if none was).
    checksum: bytes | None = None
    # Raw digest of the extra_checksum_algorithm given to `write`, likewise.
    extra_checksum: bytes | None = None
    # The whole body when it was at most `write`'s inline_max_bytes: then no
    # file was written (and blob_id is "").
    inline_data: bytes | None = None


def is_blob_id(name: str) -> bool:
    return BLOB_ID_RE.match(name) is not None


def blob_dir(blob_id: str) -> str:
    assert is_blob_id(blob_id), blob_id
    return f"{BLOBS_DIR}/{blob_id[:2]}"


def blob_path(blob_id: str) -> str:
    return f"{blob_dir(blob_id)}/{blob_id}"


def tmp_path(blob_id: str) -> str:
    assert is_blob_id(blob_id), blob_id
    return f"{TMP_DIR}/{blob_id}"


class _Hashers:
    """The hashers one write feeds, updated together (one hop per chunk)."""

    def __init__(self, updates: _Updates) -> None:
        self.updates = updates

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        for update in self.updates:
            update(chunk)


@contextlib.contextmanager
def _single_error() -> Iterator[None]:
    """Re-raise a nursery's lone error as itself (an S3Error from the body, an
    OSError from the disk), so callers see the error and not a group of one."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group
        raise


class _Sizes:
    """The running size of a body, held to its declared length and limit."""

    def __init__(self, content_length: int | None, max_size_bytes: int) -> None:
        self.content_length = content_length
        self.max_size_bytes = max_size_bytes
        self.size = 0

    def add(self, n: int) -> None:
        """Count `n` more bytes: EntityTooLarge, IncompleteBody (longer than declared)."""
        self.size += n
        if self.size > self.max_size_bytes:
            raise S3Error("EntityTooLarge")
        if self.content_length is not None and self.size > self.content_length:
            raise S3Error("IncompleteBody")

    def check_complete(self) -> None:
        """The body has ended: IncompleteBody if shorter than declared."""
        if self.content_length is not None and self.size != self.content_length:
            raise S3Error("IncompleteBody")


class BlobStore:
    """Blob files on `fs`; `space` (default: no minimum free space) counts
    the writes a full disk refuses (space.py)."""

    def __init__(
        self,
        fs: FileSystem,
        runtime: Runtime,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        space: SpaceGuard | None = None,
    ) -> None:
        assert chunk_bytes > 0
        self.fs = fs
        self.runtime = runtime
        self.chunk_bytes = chunk_bytes
        self.space = space if space is not None else SpaceGuard(fs, runtime, MinFree())
        self._known_dirs: set[str] = set()
        # Readers' pins (blob id -> count) and the removals waiting for them.
        self._pins: collections.Counter[str] = collections.Counter()
        self._removal_waiting: set[str] = set()
        # Committed blobs whose tmp/ name may still be there (placement queued,
        # running, or failed: recovery finishes it), and those queued.
        self._in_tmp: set[str] = set()
        self._to_place: list[str] = []
        # Blobs unlinked, their directory not yet synced (`settle`).
        self._removed: list[str] = []
        self._settling = trio.Lock()

    async def write(
        self,
        blob_id: str,
        body: BodySource,
        *,
        content_length: int | None,
        max_size_bytes: int,
        content_md5: bytes | None,
        checksum_algorithm: str | None = None,
        expected_checksum: Callable[[], bytes | None] | None = None,
        extra_checksum_algorithm: str | None = None,
        inline_max_bytes: int = 0,
    ) -> WrittenBlob:
        """Stream `body` into tmp/ as `blob_id`, durably; see the module docstring.

        Args:
          checksum_algorithm: an algorithm of `checksums` to compute while
            streaming (its digest is `WrittenBlob.checksum`).
          expected_checksum: called once the body has ended (so it may read
            aws-chunked trailers), before anything is made durable; returns
            the digest the client sent (None: nothing to check) or raises.
          extra_checksum_algorithm: a second algorithm to compute in the same
            pass, unchecked (`WrittenBlob.extra_checksum`; a part of an upload
            that names no algorithm keeps CRC64NVME beside the client's own).
          inline_max_bytes: a body of at most this many bytes (0: none) is
            hashed and checked as any other, but not written: it comes back
            as `WrittenBlob.inline_data`, with blob_id "".

        Error handling: IncompleteBody (length differs from content_length),
        EntityTooLarge (over max_size_bytes), BadDigest (content_md5 or
        checksum mismatch), whatever body.read or expected_checksum raise
        (cancellation included), or a `StorageError` (errors.py) for ENOSPC,
        EDQUOT, EMFILE, ENFILE or EIO from the disk (other OSErrors as they
        are): the temp file is removed and nothing is left behind.
        """
        assert content_md5 is None or len(content_md5) == 16
        assert expected_checksum is None or checksum_algorithm is not None
        if content_length is not None and content_length > max_size_bytes:
            raise S3Error("EntityTooLarge")
        # What the disk is doing, for a StorageError's op and path.
        step = ["create", tmp_path(blob_id)]
        try:
            written = await self._write(
                blob_id,
                body,
                step,
                content_length=content_length,
                max_size_bytes=max_size_bytes,
                content_md5=content_md5,
                checksum_algorithm=checksum_algorithm,
                expected_checksum=expected_checksum,
                extra_checksum_algorithm=extra_checksum_algorithm,
                inline_max_bytes=inline_max_bytes,
            )
        except OSError as exc:
            error = classify(exc, f"blob {step[0]}", step[1])
            if error is None:
                raise
            if isinstance(error, StorageFull):
                self.space.refused(error)
            raise error from exc
        self.space.accepted()
        return written

    async def _write(
        self,
        blob_id: str,
        body: BodySource,
        step: list[str],
        *,
        content_length: int | None,
        max_size_bytes: int,
        content_md5: bytes | None,
        checksum_algorithm: str | None,
        expected_checksum: Callable[[], bytes | None] | None,
        extra_checksum_algorithm: str | None,
        inline_max_bytes: int,
    ) -> WrittenBlob:
        """`write`'s work; sets `step` to what it does on the disk.

        The first chunk is read before the file is created: a body that ends
        within it (most objects) is hashed, checked and then written in ONE
        `FileSystem.write_file` call (create, write, fsync, close, directory
        fsync: one thread hop instead of five). A longer body streams
        through the two-stage pipeline, that first chunk first."""
        md5 = hashlib.md5()
        hasher = (
            integrity.new_hasher(checksum_algorithm) if checksum_algorithm is not None else None
        )
        extra = (
            integrity.new_hasher(extra_checksum_algorithm)
            if extra_checksum_algorithm is not None
            else None
        )
        hashers = _Hashers(tuple(h.update for h in (md5, hasher, extra) if h is not None))
        sizes = _Sizes(content_length, max_size_bytes)
        first, ended = await self._read_chunk(body, sizes)
        if ended and 0 < inline_max_bytes and len(first) <= inline_max_bytes:
            # Small enough to live in its record: checked, and not written.
            await self.runtime.hash(hashers.update, first)
            digest, checksum = self._check_digests(
                sizes,
                md5=md5,
                hasher=hasher,
                content_md5=content_md5,
                checksum_algorithm=checksum_algorithm,
                expected_checksum=expected_checksum,
            )
            return WrittenBlob(
                blob_id="",
                size=sizes.size,
                md5=digest,
                checksum=checksum,
                extra_checksum=extra.digest() if extra is not None else None,
                inline_data=bytes(first),
            )
        # The step-by-step path below also takes the planted ignore-fsync-error bug.
        if ended and not self.runtime.broken("ignore-fsync-error"):
            await self.runtime.hash(hashers.update, first)
            return await self._write_small(
                blob_id,
                first,
                step,
                sizes,
                md5=md5,
                hasher=hasher,
                extra=extra,
                content_md5=content_md5,
                checksum_algorithm=checksum_algorithm,
                expected_checksum=expected_checksum,
            )
        tmp = tmp_path(blob_id)
        f = await self.fs.open_write(tmp)
        step[0] = "write"
        try:
            # Two stages, one chunk apart: while one chunk is hashed and
            # written, the next is read (and, for aws-chunked, verified), so
            # the hashes of both stages run on the two cores at once. The
            # reader fills one of two chunk buffers, allocated once per write
            # and used in turn; it hands each over when the writer takes it,
            # which is when the writer is done with the one before. So a write
            # holds two chunks (the first chunk's buffer is one of them), never
            # more, and allocates nothing per chunk: 2 MiB per PUT.
            send, receive = trio.open_memory_channel[bytes | bytearray | memoryview](
                PIPELINE_CHUNKS
            )

            async def hash_and_write() -> None:
                # `receive` is never closed: closing it on a failed write would
                # make the reader's next send raise BrokenResourceError, and
                # that could come out of the nursery in place of the disk's
                # error (a full disk answered 500, which SDKs retry). Left
                # open, the reader is simply cancelled by the nursery.
                async for chunk in receive:
                    # Every digest of a chunk in one call: one hop for a big one.
                    await self.runtime.hash(hashers.update, chunk)
                    await f.write(chunk)
                    del chunk  # its buffer is the reader's again

            buffers: list[bytearray] = []  # the (up to two) chunk buffers
            turn = 0  # the buffer the reader fills next
            filled = 0  # bytes in it
            if isinstance(first, bytearray) and len(first) == self.chunk_bytes:
                # The first chunk's own buffer is the second one, refilled
                # once the writer has taken the chunk after it.
                buffers.append(first)
                turn = 1
            with _single_error():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(hash_and_write)
                    async with send:
                        if first:
                            await send.send(first)
                        while not ended:
                            data = await body.read(self.chunk_bytes - filled)
                            assert len(data) <= self.chunk_bytes - filled
                            sizes.add(len(data))
                            chunk: bytes | memoryview | None = None
                            if not filled and len(data) == self.chunk_bytes:
                                chunk = data  # one read filled a whole chunk: no copy
                            elif data:
                                while turn >= len(buffers):
                                    buffers.append(bytearray(self.chunk_bytes))
                                buffers[turn][filled : filled + len(data)] = data
                                filled += len(data)
                            if filled and (not data or filled == self.chunk_bytes):
                                chunk = memoryview(buffers[turn])[:filled]
                                turn, filled = 1 - turn, 0
                            if chunk is not None:
                                await send.send(chunk)
                                del chunk
                            if not data:
                                break
            assert not filled
            digest, checksum = self._check_digests(
                sizes,
                md5=md5,
                hasher=hasher,
                content_md5=content_md5,
                checksum_algorithm=checksum_algorithm,
                expected_checksum=expected_checksum,
            )
            step[0] = "sync"
            await self._sync_blob(blob_id, f)
            await f.close()
            step[:] = ["directory sync", TMP_DIR]
            # Planted bug for the simulator (hamster.runtime.BREAKS): skip-dir-fsync.
            if not self.runtime.broken("skip-dir-fsync"):
                await self.fs.sync_dir(TMP_DIR)
            return WrittenBlob(
                blob_id=blob_id,
                size=sizes.size,
                md5=digest,
                checksum=checksum,
                extra_checksum=extra.digest() if extra is not None else None,
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await f.close()
                    await self.fs.remove(tmp, missing_ok=True)
                except OSError:
                    # Recovery removes it at the next start; keep the first error.
                    log.exception("could not clean up blob %s after a failed write", blob_id)
            raise

    async def _read_chunk(self, body: BodySource, sizes: _Sizes) -> tuple[bytes | bytearray, bool]:
        """The body's first chunk_bytes (fewer: it ended), and whether it has
        ended. A single read that fills the chunk is kept as is (no copy)."""
        buf = bytearray()
        while len(buf) < self.chunk_bytes:
            data = await body.read(self.chunk_bytes - len(buf))
            assert len(data) <= self.chunk_bytes - len(buf)
            if not data:
                return buf, True
            sizes.add(len(data))
            if not buf and len(data) == self.chunk_bytes:
                return data, False
            buf += data
        return buf, False

    def _check_digests(
        self,
        sizes: _Sizes,
        *,
        md5: Any,
        hasher: Any,
        content_md5: bytes | None,
        checksum_algorithm: str | None,
        expected_checksum: Callable[[], bytes | None] | None,
    ) -> tuple[bytes, bytes | None]:
        """The body has ended: its length, Content-MD5 and checksum checked
        (IncompleteBody, BadDigest); the MD5 and the checksum's digests."""
        sizes.check_complete()
        expected = expected_checksum() if expected_checksum is not None else None
        digest: bytes = md5.digest()
        if content_md5 is not None and digest != content_md5:
            raise S3Error("BadDigest")
        checksum: bytes | None = hasher.digest() if hasher is not None else None
        if expected is not None:
            assert checksum_algorithm is not None and checksum is not None
            integrity.check(checksum_algorithm, expected, checksum)
        return digest, checksum

    async def _write_small(
        self,
        blob_id: str,
        data: bytes | bytearray,
        step: list[str],
        sizes: _Sizes,
        *,
        md5: Any,
        hasher: Any,
        extra: Any,
        content_md5: bytes | None,
        checksum_algorithm: str | None,
        expected_checksum: Callable[[], bytes | None] | None,
    ) -> WrittenBlob:
        """A whole body, hashed: checked, then made durable in one call."""
        digest, checksum = self._check_digests(
            sizes,
            md5=md5,
            hasher=hasher,
            content_md5=content_md5,
            checksum_algorithm=checksum_algorithm,
            expected_checksum=expected_checksum,
        )
        tmp = tmp_path(blob_id)
        try:
            # Planted bugs for the simulator (hamster.runtime.BREAKS):
            # skip-blob-fsync, skip-dir-fsync.
            await self.fs.write_file(
                tmp,
                data,
                sync=not self.runtime.broken("skip-blob-fsync"),
                sync_dir=not self.runtime.broken("skip-dir-fsync"),
                step=step,
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await self.fs.remove(tmp, missing_ok=True)
                except OSError:
                    # Recovery removes it at the next start; keep the first error.
                    log.exception("could not clean up blob %s after a failed write", blob_id)
            raise
        return WrittenBlob(
            blob_id=blob_id,
            size=sizes.size,
            md5=digest,
            checksum=checksum,
            extra_checksum=extra.digest() if extra is not None else None,
        )

    async def _sync_blob(self, blob_id: str, f: WritableFile) -> None:
        """fsync the blob written so far (an OSError means its data may be lost)."""
        # Planted bug for the simulator (hamster.runtime.BREAKS): skip-blob-fsync.
        if self.runtime.broken("skip-blob-fsync"):
            return
        try:
            await f.sync()
        except OSError:
            # Planted bug for the simulator (hamster.runtime.BREAKS): ignore-fsync-error.
            if not self.runtime.broken("ignore-fsync-error"):
                raise
            log.exception("fsync of blob %s failed; carrying on (ignore-fsync-error)", blob_id)

    async def _ensure_dir(self, path: str) -> None:
        if path in self._known_dirs:
            return
        if not await self.fs.exists(path):
            await self.fs.makedirs(path)
            # Planted bug for the simulator (hamster.runtime.BREAKS): skip-dir-fsync.
            if not self.runtime.broken("skip-dir-fsync"):
                await self.fs.sync_dir(BLOBS_DIR)
        self._known_dirs.add(path)

    def pin(self, blob_ids: Iterable[str]) -> None:
        """Keep `blob_ids` on disk while a reader may still open them: a
        `remove` of a pinned blob waits for the last `unpin`."""
        for blob_id in blob_ids:
            self._pins[blob_id] += 1

    async def unpin(self, blob_ids: Iterable[str]) -> None:
        """Release a `pin`; removes blobs whose removal was waiting for it.

        Every pin is released first. The removals are shielded, and one that
        fails is logged, not raised: no record points to the blob, so it is an
        orphan that recovery removes, and the operation that unpins (a copy
        that has committed, a GET that has answered) succeeded.
        """
        due: list[str] = []
        for blob_id in blob_ids:
            assert self._pins[blob_id] > 0, blob_id
            self._pins[blob_id] -= 1
            if self._pins[blob_id] == 0:
                del self._pins[blob_id]
                if blob_id in self._removal_waiting:
                    self._removal_waiting.discard(blob_id)
                    due.append(blob_id)
        with trio.CancelScope(shield=True):
            for blob_id in due:
                try:
                    await self._unlink(blob_id)
                except OSError:
                    log.exception("could not remove unreferenced blob %s; recovery will", blob_id)

    async def remove(self, blob_id: str) -> None:
        """Remove a blob no record points to any more, once the batch with its
        removal marker is durable (missing is fine); a pinned blob goes when
        its last reader unpins it (or its placement is done).

        Not synced here: `settle` syncs the directory before its markers go;
        if a crash brings it back first, recovery removes it again.
        """
        if self._pins[blob_id] > 0:
            self._removal_waiting.add(blob_id)
            return
        await self._unlink(blob_id)

    async def _unlink(self, blob_id: str) -> None:
        # Its blobs/<xx>/ may not exist (a placement that failed to make it).
        with contextlib.suppress(FileNotFoundError):
            await self.fs.remove(blob_path(blob_id), missing_ok=True)
        if blob_id in self._in_tmp:
            await self.fs.remove(tmp_path(blob_id), missing_ok=True)
            self._in_tmp.discard(blob_id)
        self._removed.append(blob_id)

    async def abandon(self, blob_id: str) -> None:
        """Remove a blob `write` made that no batch committed (in tmp/ only)."""
        await self.fs.remove(tmp_path(blob_id), missing_ok=True)

    # --- committed blobs: reading under either name, placing -----------------

    async def _at_either(self, blob_id: str, op: Callable[[str], Awaitable[_T]]) -> _T:
        """`op` on the blob's tmp/ name or its blobs/ name, wherever it is.

        A placement links the blobs/ name before it removes the tmp/ one, so
        a miss under one name and then the other means the blob moved in
        between (the first is tried again) or is gone (FileNotFoundError)."""
        names = [blob_path(blob_id), tmp_path(blob_id)]
        if blob_id in self._in_tmp:
            names.reverse()
        names.append(names[0])
        for path in names[:-1]:
            try:
                return await op(path)
            except FileNotFoundError:
                pass
        return await op(names[-1])

    async def open_read(self, blob_id: str) -> ReadableFile:
        """Open a committed blob, placed or not (FileNotFoundError: it is gone)."""
        return await self._at_either(blob_id, self.fs.open_read)

    async def read_file(self, blob_id: str, max_bytes: int) -> bytes:
        """`FileSystem.read_file` of a committed blob, placed or not."""
        return await self._at_either(blob_id, lambda path: self.fs.read_file(path, max_bytes))

    def committed(self, blob_ids: Iterable[str]) -> None:
        """The batch with these new blobs' placing markers is durable: queue
        them for placement, pinned (a removal waits until they are placed)."""
        for blob_id in blob_ids:
            self._pins[blob_id] += 1
            self._in_tmp.add(blob_id)
            self._to_place.append(blob_id)

    @property
    def settle_due(self) -> bool:
        """Whether `settle` has anything to do now (placements, or enough
        removals to sync their directories)."""
        return bool(self._to_place) or len(self._removed) >= REMOVALS_SYNCED_TOGETHER

    async def settle(self, *, everything: bool = False) -> list[bytes]:
        """Place the queued blobs and make the removals durable; the markers
        that may now go (the caller deletes them, unsynced or in its next
        batch).

        For each queued blob: its blobs/<xx>/ name linked (the directory made
        if new); each directory touched fsynced once; then its tmp/ name
        removed (not synced: a tmp/ name without a marker is removed by
        recovery). A failure is logged and leaves that blob's marker for
        recovery to finish (the blob is still read from tmp/). The
        directories of removals are synced only with a placement's, or when
        enough are pending, or with `everything` (at close). Shielded."""
        done: list[bytes] = []
        with trio.CancelScope(shield=True):
            async with self._settling:
                done = await self._settle(everything)
        return done

    async def _settle(self, everything: bool) -> list[bytes]:
        place, self._to_place = self._to_place, []
        removed, self._removed = self._removed, []
        done: list[bytes] = []
        synced: set[str] = set()
        # Planted bug for the simulator (hamster.runtime.BREAKS): the tmp/
        # names go before the new names are durable.
        early = self.runtime.broken("unlink-tmp-before-sync")
        if len(place) == 1 and not early:
            synced = await self._place_one(place[0])
            if synced:
                done.append(records.placing_key(place[0]))
        elif place:
            linked: list[str] = []
            for blob_id in place:
                try:
                    await self._ensure_dir(blob_dir(blob_id))
                    with contextlib.suppress(FileExistsError):
                        await self.fs.link(tmp_path(blob_id), blob_path(blob_id))
                    linked.append(blob_id)
                except OSError:
                    log.exception("could not place blob %s; recovery finishes it", blob_id)
            if early:
                done.extend(await self._drop_tmp_names(linked))
                linked = []
            synced = await self._sync_dirs({blob_dir(b) for b in linked})
            done.extend(await self._drop_tmp_names([b for b in linked if blob_dir(b) in synced]))
        # The removals were unlinked before this settle began: a placement's
        # fsync of their directory made them durable too.
        if everything or len(removed) >= REMOVALS_SYNCED_TOGETHER:
            synced |= await self._sync_dirs({blob_dir(b) for b in removed} - synced)
        done.extend(self._removals_done(removed, synced))
        await self.unpin(place)
        return done

    async def _place_one(self, blob_id: str) -> set[str]:
        """Place one blob in one `FileSystem.place` call; the directory it
        synced (none if it failed: the blob stays in tmp/ for recovery)."""
        directory = blob_dir(blob_id)
        try:
            await self._ensure_dir(directory)
            # Planted bug for the simulator (hamster.runtime.BREAKS): skip-dir-fsync.
            await self.fs.place(
                tmp_path(blob_id),
                blob_path(blob_id),
                sync_dir=not self.runtime.broken("skip-dir-fsync"),
            )
        except OSError:
            log.exception("could not place blob %s; recovery finishes it", blob_id)
            return set()
        self._in_tmp.discard(blob_id)
        return {directory}

    async def _sync_dirs(self, directories: set[str]) -> set[str]:
        """fsync each of `directories`; those that are now durable."""
        synced: set[str] = set()
        for directory in sorted(directories):
            try:
                # Planted bug for the simulator (hamster.runtime.BREAKS): skip-dir-fsync.
                if not self.runtime.broken("skip-dir-fsync"):
                    await self.fs.sync_dir(directory)
                synced.add(directory)
            except FileNotFoundError:
                synced.add(directory)  # no such directory: nothing in it to make durable
            except OSError:
                log.exception("could not sync %s; recovery finishes its blobs", directory)
        return synced

    def _removals_done(self, removed: list[str], synced: set[str]) -> list[bytes]:
        """The markers of the removals whose directory is now synced; the
        others wait for a later `settle`."""
        done: list[bytes] = []
        for blob_id in removed:
            if blob_dir(blob_id) in synced:
                # A blob removed before its placement also had a placing marker.
                done += [records.removing_key(blob_id), records.placing_key(blob_id)]
            else:
                self._removed.append(blob_id)
        return done

    async def _drop_tmp_names(self, blob_ids: list[str]) -> list[bytes]:
        """Remove the tmp/ names of placed blobs; their placing markers."""
        done: list[bytes] = []
        for blob_id in blob_ids:
            try:
                await self.fs.remove(tmp_path(blob_id), missing_ok=True)
            except OSError:
                log.exception("could not remove tmp/%s; recovery will", blob_id)
                continue
            self._in_tmp.discard(blob_id)
            done.append(records.placing_key(blob_id))
        return done
