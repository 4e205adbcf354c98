"""`Store`: the storage API the S3 handlers call.

Data directory layout: meta/ (LevelDB), blobs/<xx>/<id> (object bytes, by
internal id), tmp/ (writes in progress). See records.py for the key layout.

Inline objects: a PUT or copy whose body is at most `INLINE_MAX_BYTES`
(16 KiB) keeps its bytes inside its ObjectRecord (`ObjectInfo.inline_data`)
and has no blob. The body is read whole, hashed and checked exactly as a
blob's (blobs.py), and the record, bytes included, is committed by the same
`Core.transaction`: the PUT is one synced metadata write, with no file
written, fsynced or renamed, and nothing to clean up if it fails. A GET or
HEAD is served from the record, with no file and no thread hop. An inline
object owes nothing when it is overwritten or deleted; one that overwrites a
blob object removes that blob after its commit, as any overwrite does. A copy
of at most the threshold is inline whatever its source; multipart parts and
objects are always blobs. Recovery has nothing to do for an inline record
(`records.record_blob_ids` names no blob). The threshold is a trade: every
inline byte is read back by every listing that scans the record
(bench/inline_listing.py: 10,000 records of 4 KiB inline list about 1.2x the
time of blob records, of 16 KiB 1.5x, of 32 KiB 2x), while a small PUT gains
the same (no blob, no fsyncs) at any size below it.

Write path (PUT of a blob object): preconditions are checked (fail fast),
the body streams into a durable blob (blobs.py), then, in one `Core.transaction` (core.py:
the commit rule), the bucket and the preconditions are checked again and the
record is written with sync=True; only then does the PUT return. The additional checksum
(x-amz-checksum-*; CRC64NVME when the client names none) is computed in
the same pass as the MD5 and checked, like Content-MD5, before the blob is
made durable. The old blob of an overwrite is
removed after the new record is durable. Any failure before the commit
removes the new blob: an unacknowledged PUT leaves nothing.

Multipart uploads (`Store.uploads`, multipart.py) share the layout and the
core; a multipart object's record points at its parts' blobs
(`ObjectInfo.parts`), and overwriting or deleting it removes all of them
after the record swap.

Concurrency: the core's commit lock serialises every check-and-commit
(object puts and deletes, bucket creation and deletion, multipart commits),
so racing conditional PUTs have exactly one winner and a bucket cannot be
deleted while a put into it commits; the commits of concurrent requests
share one synced metadata write (group commit, core.py), and the checks see
the batches still waiting for theirs. Readers take no lock: an open blob file stays readable
after an overwrite or delete removes its name (POSIX semantics).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import trio

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.runtime import Runtime
from hamster.s3.conditional import NO_CONDITIONS, WriteConditions, check_write_conditions
from hamster.s3.errors import S3Error
from hamster.storage import records
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, BlobStore, BodySource, blob_path
from hamster.storage.copy import (
    CopyRequest,
    NewMetadata,
    PartCopyRequest,
    SpanBody,
    damaged_source,
    source_checksum,
    source_md5,
)
from hamster.storage.core import Core, no_such_key
from hamster.storage.errors import classify
from hamster.storage.fs import FileSystem, ReadableFile, RealFileSystem, SendableFile
from hamster.storage.meta import SCAN_BATCH_ENTRIES, LevelDBMetaStore, MetaStore
from hamster.storage.multipart import PartRequest, Uploads
from hamster.storage.parts import MIN_PART_BYTES
from hamster.storage.records import BucketInfo, ObjectInfo, ObjectSummary, PartInfo
from hamster.storage.recovery import RecoveryReport, recover, recover_by_scan
from hamster.storage.space import DEFAULT_MIN_FREE, MinFree

log = logging.getLogger("hamster.storage")

META_DIR = "meta"
MAX_SIZE_BYTES = 5 * 1024**3
# The first metadata read of `Store.iter_objects` (later ones grow).
LIST_FIRST_BATCH = 8
OPEN_RETRIES_MAX = 8
# A single blob up to this size is read whole when it is opened (`open_object`):
# one `FileSystem.read_file` call instead of open, read and close, each a
# thread hop; the stream's own chunk (1 MiB) is held in memory anyway.
SMALL_READ_BYTES = 1 << 20
# A PUT's or copy's body of at most this many bytes is an inline object: its
# bytes live in its ObjectRecord (`ObjectInfo.inline_data`), with no blob.
INLINE_MAX_BYTES = 16 * 1024

__all__ = [
    "BodySource",
    "BucketInfo",
    "ChecksumValue",
    "CopyRequest",
    "DeleteTarget",
    "NewMetadata",
    "ObjectInfo",
    "ObjectReader",
    "PutRequest",
    "Store",
]


@dataclass(frozen=True)
class PutRequest:
    bucket: str
    key: str
    content_type: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    user_metadata: tuple[tuple[str, str], ...] = ()
    # Declared length; a body of a different length -> IncompleteBody.
    content_length: int | None = None
    # 16 raw bytes from Content-MD5; mismatch -> BadDigest.
    content_md5: bytes | None = None
    # If-Match / If-None-Match, checked before the body is read and again at
    # commit time (s3.conditional.check_write_conditions).
    conditions: WriteConditions = NO_CONDITIONS
    # Larger body -> EntityTooLarge (the declared length is checked first).
    max_size_bytes: int = MAX_SIZE_BYTES
    # The additional checksum to compute and store (a `integrity.ALGORITHMS`
    # name); None: integrity.DEFAULT_ALGORITHM (CRC64NVME), as S3 does.
    checksum_algorithm: str | None = None
    # Its raw digest as the client sent it in a header; mismatch -> BadDigest.
    # (A value that comes only at the end of the body: see `put_object`.)
    checksum_expected: bytes | None = None


def _etag(info: ObjectInfo | None) -> str | None:
    return None if info is None else info.etag


def _with_metadata(base: ObjectInfo, req: CopyRequest, **changes: Any) -> ObjectInfo:
    """`base` with `changes` and, for a REPLACE copy, the request's metadata.
    A copy is no upload's result: a repeated Complete finds no match in it."""
    changes.setdefault("upload_id", "")
    if req.metadata is not None:
        changes.update(req.metadata.headers)
        changes["user_metadata"] = req.metadata.user_metadata
    return dataclasses.replace(base, bucket=req.bucket, key=req.key, **changes)


@dataclass(frozen=True)
class DeleteTarget:
    """A key for `Store.delete_objects`, and its condition: `if_match` the
    ETag the current object must have, as the client sent it (quoted or not,
    ``*`` for any; checked like If-Match by `check_write_conditions`: mismatch
    -> PreconditionFailed, key missing -> NoSuchKey), None for none."""

    key: str
    if_match: str | None = None


@contextlib.contextmanager
def _disk_errors(op: str, path: str) -> Iterator[None]:
    """An OSError of `op` on `path` as its `StorageError` (errors.py: EMFILE
    -> 503 SlowDown, EIO -> 500 logged with the path, ...); others as they are."""
    try:
        yield
    except OSError as exc:
        error = classify(exc, op, path)
        if error is None:
            raise
        raise error from exc


class LoadedFile:
    """A `ReadableFile` over bytes already read (a small blob, read whole)."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def _require_data(self) -> bytes:
        if self._data is None:
            raise ValueError("I/O on a closed file")
        return self._data

    async def read_at(self, offset: int, size: int) -> bytes:
        assert offset >= 0 and size >= 0
        data = self._require_data()
        if offset == 0 and size >= len(data):
            return data
        return data[offset : offset + size]

    async def size(self) -> int:
        return len(self._require_data())

    async def close(self) -> None:
        self._data = None


class ObjectReader:
    """An open object: `info` and the blob file(s) it is read from.

    A single PUT's object is one blob, opened by `Store.open_object`; its
    bytes stay those of `info` even if the key is overwritten or deleted
    meanwhile (an open file outlives its name). A multipart object is its
    parts' blobs in order: the first is opened up front, the others when the
    stream reaches them (opening 10000 files at once is not an option); the
    store pins every blob of `info` until `aclose`, so an overwrite or delete
    meanwhile defers their removal and the reader still gets the old bytes.
    Use as `async with`, or call `aclose`.
    """

    def __init__(
        self,
        info: ObjectInfo,
        file: ReadableFile,
        fs: FileSystem | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        assert blobs is not None or not info.parts
        self.info = info
        self._fs = fs
        # The store pinned info.blob_ids for us (see Store.open_object): they
        # stay on disk until aclose unpins them, whatever overwrites the key.
        self._blobs = blobs
        self._first = file
        # (offset in the object, blob id, size) of each blob, in order.
        self._segments: list[tuple[int, str, int]] = []
        offset = 0
        if info.parts:
            for part in info.parts:
                self._segments.append((offset, part.blob_id, part.size))
                offset += part.size
        else:
            # An inline object's one segment is its `file`, a LoadedFile.
            self._segments.append((0, info.blob_id, info.size))
            offset = info.size
        assert offset == info.size, (offset, info.size)
        self._starts = [seg[0] for seg in self._segments]
        self._current: tuple[int, ReadableFile] | None = None

    @property
    def can_send(self) -> bool:
        """Whether `send_to` works: the blob files can copy to a descriptor
        in the kernel (all of them come from the same filesystem)."""
        return isinstance(self._first, SendableFile)

    async def _file(self, index: int) -> ReadableFile:
        if index == 0:
            return self._first
        if self._current is not None:
            if self._current[0] == index:
                return self._current[1]
            old = self._current[1]
            self._current = None
            await old.close()
        assert self._blobs is not None
        blob_id = self._segments[index][1]
        try:
            with _disk_errors("blob open", blob_path(blob_id)):
                file = await self._blobs.open_read(blob_id)
        except FileNotFoundError:
            log.error(
                "object %s/%s: part blob %s is missing (overwritten meanwhile, or lost); "
                "ending the stream",
                self.info.bucket,
                self.info.key,
                blob_id,
            )
            raise S3Error("InternalError") from None
        self._current = (index, file)
        return file

    async def stream(
        self, start: int, length: int, chunk_bytes: int = 1 << 20
    ) -> AsyncGenerator[bytes, None]:
        """Yield bytes [start, start+length) in chunks of at most chunk_bytes."""
        assert 0 <= start and 0 <= length and start + length <= self.info.size
        assert chunk_bytes > 0
        end = start + length
        for index, (seg_start, blob_id, seg_size) in enumerate(self._segments):
            seg_end = seg_start + seg_size
            if seg_end <= start or seg_size == 0:
                continue
            if seg_start >= end:
                break
            file = await self._file(index)
            offset = max(start, seg_start) - seg_start
            stop = min(end, seg_end) - seg_start
            where = blob_path(blob_id) if blob_id else "inline"
            while offset < stop:
                with _disk_errors("blob read", where):
                    data = await file.read_at(offset, min(chunk_bytes, stop - offset))
                if not data:
                    log.error(
                        "blob %s of %s/%s ends at %d, record says %d bytes",
                        blob_id or "(inline)",
                        self.info.bucket,
                        self.info.key,
                        offset,
                        seg_size,
                    )
                    raise S3Error("InternalError")
                offset += len(data)
                yield data

    async def send_to(self, out_fd: int, offset: int, size: int) -> int:
        """Copy up to `size` bytes of the object at `offset` to the
        non-blocking descriptor `out_fd` (`SendableFile.send_to`, within
        one blob); how many were copied (> 0). Only when `can_send`.

        Raises:
          BlockingIOError: `out_fd` took nothing (it is full).
          S3Error: InternalError for a blob shorter than its record says.
          StorageError: a disk error reading the blob (`classify`); other
            OSErrors (`out_fd`'s: EPIPE, ECONNRESET) as they are.
        """
        assert 0 <= offset and 0 < size and offset + size <= self.info.size
        # The last segment starting at or before offset: an empty one shares
        # its start with the next, so this is the one holding the byte.
        index = bisect.bisect_right(self._starts, offset) - 1
        seg_start, blob_id, seg_size = self._segments[index]
        file = await self._file(index)
        assert isinstance(file, SendableFile), file
        in_blob = offset - seg_start
        with _disk_errors("blob read", blob_path(blob_id)):
            sent = await file.send_to(out_fd, in_blob, min(size, seg_size - in_blob))
        if sent == 0:
            log.error(
                "blob %s of %s/%s ends at %d, record says %d bytes",
                blob_id,
                self.info.bucket,
                self.info.key,
                in_blob,
                seg_size,
            )
            raise S3Error("InternalError")
        return sent

    async def aclose(self) -> None:
        current, self._current = self._current, None
        blobs, self._blobs = self._blobs, None
        try:
            if current is not None:
                await current[1].close()
        finally:
            try:
                await self._first.close()
            finally:
                if blobs is not None:
                    await blobs.unpin(self.info.blob_ids)

    async def __aenter__(self) -> ObjectReader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Store:
    """The storage engine. Open with `await Store.open(...)`; `close` when done."""

    def __init__(
        self,
        core: Core,
        recovery: RecoveryReport,
        *,
        min_part_bytes: int = MIN_PART_BYTES,
        inline_max_bytes: int = INLINE_MAX_BYTES,
    ) -> None:
        assert 0 <= inline_max_bytes <= SMALL_READ_BYTES
        self.inline_max_bytes = inline_max_bytes
        self.core = core
        self.fs = core.fs
        self.meta = core.meta
        self.runtime = core.runtime
        self.recovery = recovery
        self.uploads = Uploads(core, min_part_bytes=min_part_bytes)

    @classmethod
    async def open(
        cls,
        data_dir: str,
        runtime: Runtime,
        *,
        fs: FileSystem | None = None,
        meta: MetaStore | None = None,
        min_part_bytes: int = MIN_PART_BYTES,
        min_free: MinFree = DEFAULT_MIN_FREE,
        inline_max_bytes: int = INLINE_MAX_BYTES,
    ) -> Store:
        """Create the layout if needed, run recovery, return the store.

        A given `meta` is owned by the store from here on (closed by `close`).
        `min_part_bytes`: the smallest multipart part but the last (S3: 5 MiB).
        `min_free`: the free space new writes must leave (space.py).
        `inline_max_bytes`: the largest body stored inline in its record
        (0: none); records already written are read whichever way they are.
        """
        if fs is None:
            fs = RealFileSystem(data_dir, offload=runtime.offload)
        for path in ("", TMP_DIR, BLOBS_DIR):
            await fs.makedirs(path)
        await fs.sync_dir("")
        # A blobs/xx that a killed process made but had not synced into blobs/
        # yet is in the page cache only; BlobStore finds it and does not sync
        # blobs/ for it again: make every entry of blobs/ durable now.
        await fs.sync_dir(BLOBS_DIR)
        if meta is None:
            await fs.makedirs(META_DIR)
            meta = await LevelDBMetaStore.open(
                os.path.join(data_dir, META_DIR), offload=runtime.offload
            )
        core = Core(fs, meta, runtime, min_free=min_free)
        try:
            version = records.STORE_FORMAT_VERSION
            async with core.transaction() as batch:
                info = await meta.get(records.STORE_INFO_KEY)
                if info is None:
                    created_ns = runtime.now_ns()
                    batch.put(records.STORE_INFO_KEY, records.encode_store_info(created_ns))
                else:
                    # Refuses a newer format.
                    stored = records.decode_store_info(info)
                    version, created_ns = stored.format_version, stored.created_ns
            if version < records.STORE_FORMAT_VERSION:
                # A store of the layout before markers: one last full scan
                # (its crashes left orphans only it finds), then the new format.
                report = await recover_by_scan(fs, meta)
                async with core.transaction() as batch:
                    batch.put(records.STORE_INFO_KEY, records.encode_store_info(created_ns))
                log.warning(
                    "data directory upgraded from format %d to %d (an older Hamster "
                    "refuses it from now on)",
                    version,
                    records.STORE_FORMAT_VERSION,
                )
            else:
                report = await recover(fs, meta, runtime)
        except BaseException:
            with trio.CancelScope(shield=True):
                await meta.close()
            raise
        return cls(core, report, min_part_bytes=min_part_bytes, inline_max_bytes=inline_max_bytes)

    async def close(self) -> None:
        """Finish the pending placements and removals, close the metadata."""
        await self.core.close()

    # --- buckets -----------------------------------------------------------

    async def create_bucket(self, name: str, owner: str, location: str) -> BucketInfo:
        core = self.core
        async with core.transaction() as batch:
            existing = await core.get_bucket(name)
            if existing is not None:
                if existing.owner == owner:
                    raise S3Error("BucketAlreadyOwnedByYou", extra={"BucketName": name})
                raise S3Error("BucketAlreadyExists", extra={"BucketName": name})
            info = BucketInfo(
                name=name, owner=owner, created_ns=core.runtime.now_ns(), location=location
            )
            batch.put(records.bucket_key(name), records.encode_bucket(info))
        return info

    async def get_bucket(self, name: str) -> BucketInfo | None:
        return await self.core.get_bucket(name)

    async def list_buckets(self) -> list[BucketInfo]:
        return [
            records.decode_bucket(value)
            async for _key, value in self.meta.scan(records.BUCKET_PREFIX)
        ]

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket. Uploads in progress do not count as content
        (S3 deletes a bucket that has some): they go with it, in the same batch,
        and their part blobs are removed after it."""
        core = self.core
        async with core.transaction() as batch:
            await core.require_bucket(name)
            first = [kv async for kv in core.scan(records.object_prefix(name), limit=1)]
            if first:
                raise S3Error("BucketNotEmpty", extra={"BucketName": name})
            deletes, blob_ids = await self.uploads.bucket_upload_records(name)
            batch.delete(records.bucket_key(name))
            batch.deletes.extend(deletes)
            batch.discard_after(blob_ids)

    # --- objects -----------------------------------------------------------

    async def get_object_info(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's record, None if there is none (no bucket check)."""
        return await self.core.get_object(bucket, key)

    async def require_bucket(self, bucket: str) -> None:
        """NoSuchBucket unless `bucket` exists."""
        await self.core.require_bucket(bucket)

    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        info = await self.core.get_object(bucket, key)
        if info is None:
            await self.core.require_bucket(bucket)
            raise no_such_key(key)
        return info

    async def open_object(self, bucket: str, key: str) -> ObjectReader:
        blobs = self.core.blobs
        previous: str | None = None
        for _attempt in range(OPEN_RETRIES_MAX):
            info = await self.head_object(bucket, key)
            if info.inline_data is not None:
                # Served from the record: no file, no pin, no thread hop.
                if len(info.inline_data) != info.size:
                    log.error(
                        "object %s/%s: its record holds %d bytes inline, says %d; "
                        "refusing to serve it",
                        bucket,
                        key,
                        len(info.inline_data),
                        info.size,
                    )
                    damaged = f"The data of object {key!r} is damaged."
                    raise S3Error("InternalError", message=damaged)
                return ObjectReader(info, LoadedFile(info.inline_data))
            # Pinned from here (no await in between): a concurrent overwrite or
            # delete may still have removed blobs before now, which the open
            # below notices, but none after, so later parts stay readable.
            blobs.pin(info.blob_ids)
            first = info.blob_ids[0]
            try:
                with _disk_errors("blob open", blob_path(first)):
                    file: ReadableFile
                    if not info.parts and info.size <= SMALL_READ_BYTES:
                        # Open, read and close in one call (one thread hop).
                        file = LoadedFile(await blobs.read_file(first, info.size))
                    else:
                        file = await blobs.open_read(first)
            except FileNotFoundError:
                await blobs.unpin(info.blob_ids)
                if first == previous:
                    break  # the record did not move: its blob is really gone
                # A concurrent overwrite or delete may have removed it: re-read.
                previous = first
                continue
            except BaseException:
                await blobs.unpin(info.blob_ids)
                raise
            return ObjectReader(info, file, self.fs, blobs)
        log.error("object %s/%s: blob %s is missing; refusing to serve it", bucket, key, previous)
        raise S3Error("InternalError", message=f"The data of object {key!r} is missing.")

    async def put_object(
        self,
        req: PutRequest,
        body: BodySource,
        *,
        checksum_at_end: Callable[[], bytes | None] | None = None,
    ) -> ObjectInfo:
        """Store `body` under req.bucket/req.key; see the module docstring.

        Args:
          req: what to store and the checks to make.
          body: the bytes.
          checksum_at_end: for a checksum value that arrives after the body
            (an aws-chunked trailer): called once `body` has ended, returns
            the raw digest of req.checksum_algorithm (None: nothing to check)
            or raises the S3Error the request gets. Excludes
            req.checksum_expected.
        """
        core = self.core
        if req.content_md5 is not None and len(req.content_md5) != 16:
            raise S3Error("InvalidDigest")
        algorithm = req.checksum_algorithm or integrity.DEFAULT_ALGORITHM
        assert algorithm in integrity.DIGEST_BYTES, algorithm
        if req.checksum_expected is not None:
            assert req.checksum_algorithm is not None and checksum_at_end is None
            assert len(req.checksum_expected) == integrity.DIGEST_BYTES[algorithm]
        expected_checksum = checksum_at_end
        if req.checksum_expected is not None:
            header_value = req.checksum_expected
            expected_checksum = lambda: header_value  # noqa: E731
        await core.require_bucket(req.bucket)
        await self._check_conditions_early(req.bucket, req.key, req.conditions)
        await core.space.require(req.content_length or 0)
        blob_id = core.runtime.new_id()
        written = await core.blobs.write(
            blob_id,
            body,
            content_length=req.content_length,
            max_size_bytes=req.max_size_bytes,
            content_md5=req.content_md5,
            checksum_algorithm=algorithm,
            expected_checksum=expected_checksum,
            inline_max_bytes=self.inline_max_bytes,
        )
        assert written.checksum is not None
        assert written.blob_id == (blob_id if written.inline_data is None else "")
        info = ObjectInfo(
            bucket=req.bucket,
            key=req.key,
            size=written.size,
            etag=written.md5.hex(),
            last_modified_ns=core.runtime.now_ns(),
            content_type=req.content_type,
            content_encoding=req.content_encoding,
            content_disposition=req.content_disposition,
            content_language=req.content_language,
            cache_control=req.cache_control,
            expires=req.expires,
            user_metadata=req.user_metadata,
            blob_id=written.blob_id,
            checksum=ChecksumValue(algorithm, written.checksum, integrity.FULL_OBJECT),
            inline_data=written.inline_data,
        )
        await self._commit_object(info, req.conditions)
        return info

    async def _check_conditions_early(
        self, bucket: str, key: str, conditions: WriteConditions
    ) -> None:
        """If-Match / If-None-Match before a byte is read (fail fast);
        `_commit_object` checks them again under the lock."""
        if conditions.present:
            current = await self.core.get_object(bucket, key)
            check_write_conditions(conditions, _etag(current), key=key)

    async def _commit_object(self, info: ObjectInfo, conditions: WriteConditions) -> None:
        """Commit `info`, whose one blob is new and durable (or which is
        inline: its bytes in the record), at its key (PUT and copy): in one
        `Core.transaction` the bucket and the conditions are checked again,
        the record written, and the blobs of the object it replaces removed
        after (those an open reader pinned, a copy's source included, when
        it closes; an inline object has none). Any refusal removes the new
        blob. An inline PUT is thus one synced metadata write, nothing else."""
        core = self.core
        assert not info.parts
        inline = info.inline_data is not None
        async with core.transaction(new_blobs=info.blob_ids, inline=inline) as batch:
            await core.require_bucket(info.bucket)
            old = await core.get_object(info.bucket, info.key)
            check_write_conditions(conditions, _etag(old), key=info.key)
            assert old is None or not set(info.blob_ids) & set(old.blob_ids)
            batch.put(records.object_key(info.bucket, info.key), records.encode_object(info))
            if old is not None:
                batch.discard_after(old.blob_ids)

    async def delete_object(self, bucket: str, key: str) -> None:
        core = self.core
        async with core.transaction() as batch:
            await core.require_bucket(bucket)
            old = await core.get_object(bucket, key)
            if old is not None:
                batch.delete(records.object_key(bucket, key))
                batch.discard_after(old.blob_ids)

    # --- server-side copy (copy.py) -----------------------------------------

    async def copy_object(
        self, req: CopyRequest, *, check_source: Callable[[ObjectInfo], None]
    ) -> ObjectInfo:
        """Copy req.source_bucket/req.source_key to req.bucket/req.key (CopyObject).

        Args:
          req: what to copy where, and the destination's conditions.
          check_source: called with the source's record before a byte is
            copied (the copy source conditions, the size limit); raises the
            S3Error the request gets.

        A copy onto itself that keeps the checksum algorithm changes only the
        record: the new one points at the same blob(s) or holds the same
        inline bytes, none is copied or removed (if the object changes
        meanwhile, the bytes opened are copied instead). Any other copy
        streams the source into a new blob (see copy.py) and commits it like
        a PUT, the old destination's blobs removed afterwards; like a PUT,
        a copy of at most `inline_max_bytes` is inline, whether its source
        is inline or a blob (a small multipart object included). The new
        object's ETag is the MD5 of its bytes and its checksum FULL_OBJECT.

        Raises: NoSuchBucket / NoSuchKey (source or destination bucket),
        what `check_source` raises, PreconditionFailed / NoSuchKey (the
        destination's conditions), InternalError for a damaged source.
        """
        core = self.core
        await core.require_bucket(req.bucket)
        async with self._open_source(req.source_bucket, req.source_key) as reader:
            source = reader.info
            check_source(source)
            await self._check_conditions_early(req.bucket, req.key, req.conditions)
            await core.space.require(source.size)
            kept = source.checksum.algorithm if source.checksum is not None else None
            if req.onto_itself and req.checksum_algorithm in (None, kept):
                info = await self._copy_record(req, source)
                if info is not None:
                    return info
            algorithm = req.checksum_algorithm or kept or integrity.DEFAULT_ALGORITHM
            blob_id = core.runtime.new_id()
            body = SpanBody(reader, 0, source.size)
            expected = source_checksum(source, 0, source.size, algorithm)
            try:
                with damaged_source(source):
                    written = await core.blobs.write(
                        blob_id,
                        body,
                        content_length=source.size,
                        max_size_bytes=MAX_SIZE_BYTES,
                        content_md5=source_md5(source, 0, source.size),
                        checksum_algorithm=algorithm,
                        expected_checksum=(lambda: expected) if expected is not None else None,
                        inline_max_bytes=self.inline_max_bytes,
                    )
            finally:
                await body.aclose()
            assert written.checksum is not None and written.size == source.size
            info = _with_metadata(
                source,
                req,
                size=written.size,
                etag=written.md5.hex(),
                last_modified_ns=core.runtime.now_ns(),
                blob_id=written.blob_id,
                checksum=ChecksumValue(algorithm, written.checksum, integrity.FULL_OBJECT),
                parts=(),
                inline_data=written.inline_data,
            )
            await self._commit_object(info, req.conditions)
            return info

    @contextlib.asynccontextmanager
    async def _open_source(self, bucket: str, key: str) -> AsyncIterator[ObjectReader]:
        """A copy's source, opened; closed (and its blobs unpinned) shielded,
        so a cancelled copy cannot leave them pinned, never to be removed."""
        reader = await self.open_object(bucket, key)
        try:
            yield reader
        finally:
            with trio.CancelScope(shield=True):
                await reader.aclose()

    async def _copy_record(self, req: CopyRequest, source: ObjectInfo) -> ObjectInfo | None:
        """A copy onto itself, record only; None (nothing written) if the
        object is no longer the one `source` describes."""
        core = self.core
        async with core.transaction(inline=source.inline_data is not None) as batch:
            await core.require_bucket(req.bucket)
            current = await core.get_object(req.bucket, req.key)
            check_write_conditions(req.conditions, _etag(current), key=req.key)
            # An inline object overwritten by the same bytes has the same
            # (no) blobs and ETag, but perhaps another checksum.
            if current is None or (current.blob_ids, current.etag, current.checksum) != (
                source.blob_ids,
                source.etag,
                source.checksum,
            ):
                return None
            info = _with_metadata(current, req, last_modified_ns=core.runtime.now_ns())
            batch.put(records.object_key(req.bucket, req.key), records.encode_object(info))
            # Nothing to discard: the new record points at the old one's blobs.
        return info

    async def upload_part_copy(
        self,
        req: PartCopyRequest,
        *,
        select: Callable[[ObjectInfo], tuple[int, int]],
    ) -> tuple[PartInfo, ChecksumValue | None]:
        """Store part req.part_number of an upload as bytes of a source object
        (UploadPartCopy), exactly as `Uploads.upload_part` stores a part: its
        ETag the MD5 of the bytes, its checksum of the upload's algorithm
        (CRC64NVME if it names none), which is also the one answered.

        Args:
          select: called with the source's record before a byte is copied;
            returns (start, length) of the bytes to copy or raises (the copy
            source conditions, the range).

        Raises: NoSuchUpload, NoSuchBucket / NoSuchKey (the source), what
        `select` raises, InternalError for a damaged source.
        """
        upload = await self.uploads.get(req.bucket, req.key, req.upload_id)
        algorithm = upload.checksum_algorithm
        async with self._open_source(req.source_bucket, req.source_key) as reader:
            source = reader.info
            start, length = select(source)
            assert 0 <= start and 0 <= length and start + length <= source.size
            expected = (
                source_checksum(source, start, length, algorithm) if algorithm is not None else None
            )
            body = SpanBody(reader, start, length)
            try:
                with damaged_source(source):
                    return await self.uploads.upload_part(
                        PartRequest(
                            bucket=req.bucket,
                            key=req.key,
                            upload_id=req.upload_id,
                            part_number=req.part_number,
                            content_length=length,
                            content_md5=source_md5(source, start, length),
                            # The upload's algorithm, computed here: a part
                            # copy carries no client checksum to check.
                            checksum_algorithm=algorithm,
                            checksum_expected=expected,
                        ),
                        body,
                    )
            finally:
                await body.aclose()

    async def delete_objects(
        self, bucket: str, targets: Sequence[DeleteTarget]
    ) -> list[S3Error | None]:
        """Delete many keys of `bucket` in ONE transaction (one synced batch).

        Returns, per target in order, None when the key is gone (deleted now,
        or never there) or the S3Error its condition got (`DeleteTarget`);
        the others are deleted all the same. A key named twice is deleted
        once and reported for each. The blobs of the deleted objects are
        removed after the batch is durable (those an open reader pinned, when
        it closes). NoSuchBucket, before anything, for a missing bucket.
        """
        core = self.core
        outcomes: list[S3Error | None] = []
        async with core.transaction() as batch:
            await core.require_bucket(bucket)
            deleted: set[str] = set()
            for target in targets:
                current = None
                if target.key not in deleted:
                    current = await core.get_object(bucket, target.key)
                try:
                    conditions = WriteConditions(if_match=target.if_match)
                    check_write_conditions(conditions, _etag(current), key=target.key)
                except S3Error as error:
                    outcomes.append(error)
                    continue
                outcomes.append(None)
                if current is not None:
                    deleted.add(target.key)
                    batch.delete(records.object_key(bucket, target.key))
                    batch.discard_after(current.blob_ids)
        return outcomes

    async def iter_objects(
        self,
        bucket: str,
        prefix: str = "",
        start_after: str = "",
        *,
        skip_under: bool = False,
        check_bucket: bool = True,
    ) -> AsyncGenerator[ObjectInfo, None]:
        """Objects of `bucket` whose key starts with `prefix` and sorts after
        `start_after`, in key order (UTF-8 bytes), read lazily.

        With `skip_under`, every key that starts with `start_after` is skipped
        too: a listing that has rolled them up into one common prefix restarts
        its scan here instead of reading them. The scan then starts after
        ``start_after`` + 0xff, which sorts after every key under it (valid
        UTF-8 never contains 0xff) and before every greater key.

        The first read is small and later ones grow (`LIST_FIRST_BATCH`
        entries, then 4x up to the metadata store's batch): a listing that
        seeks after a few keys reads few.

        NoSuchBucket (at the first iteration) if the bucket does not exist,
        unless `check_bucket` is False (the caller has just checked, and a
        listing restarting its scan need not ask again): then a missing
        bucket simply has no objects.
        """
        async with contextlib.aclosing(
            self._object_records(
                bucket, prefix, start_after, skip_under=skip_under, check_bucket=check_bucket
            )
        ) as values:
            async for value in values:
                yield records.decode_object(bucket, value)

    async def iter_summaries(
        self,
        bucket: str,
        prefix: str = "",
        start_after: str = "",
        *,
        skip_under: bool = False,
        check_bucket: bool = True,
    ) -> AsyncGenerator[ObjectSummary, None]:
        """`iter_objects`, each object as what a listing shows of it
        (`records.decode_object_summary`: a fraction of the decoding)."""
        async with contextlib.aclosing(
            self._object_records(
                bucket, prefix, start_after, skip_under=skip_under, check_bucket=check_bucket
            )
        ) as values:
            async for value in values:
                yield records.decode_object_summary(value)

    async def _object_records(
        self,
        bucket: str,
        prefix: str,
        start_after: str,
        *,
        skip_under: bool,
        check_bucket: bool,
    ) -> AsyncGenerator[bytes, None]:
        """The encoded records `iter_objects` decodes, in key order."""
        assert start_after or not skip_under
        if check_bucket:
            await self.core.require_bucket(bucket)
        base = records.object_prefix(bucket)
        after: bytes | None = None
        if start_after:
            after = base + start_after.encode() + (b"\xff" if skip_under else b"")
        want = LIST_FIRST_BATCH
        while True:
            # Each batch is read whole (the scan ends at `want`), so no scan is
            # left open when the caller stops early.
            batch = [
                kv async for kv in self.meta.scan(base + prefix.encode(), after, limit=want)
            ]
            for _key, value in batch:
                yield value
            if len(batch) < want:
                return
            after = batch[-1][0]
            want = min(want * 4, SCAN_BATCH_ENTRIES)
