"""Startup recovery: finish what was in flight at a crash, never more.

Run by `Store.open` before serving, with nothing else touching the store.
Its cost is proportional to what was in flight, not to the size of the
store: it lists tmp/ and reads the two marker ranges of the metadata, and
never scans the object records or lists blobs/<xx>/.
An inline object's record holds its bytes and points to no blob
(`records.record_blob_ids` names none): it needs nothing from recovery,
its batch is durable whole or not at all, and it puts no marker.

The design (data directory format 2, records.STORE_FORMAT_VERSION):
- A new blob is written to tmp/<id>, fsynced, and tmp/ fsynced (blobs.py).
  Nothing points to it yet: a crash now leaves a tmp/ file without a marker.
- The batch that first points a record at it (a PUT's or a copy's
  ObjectRecord, an UploadPart's PartRecord) also puts its placing marker
  b"n/<id>", in the same synced write (core.py). Acknowledged means that
  batch is durable; the blob may still be in tmp/, and readers look there
  too (`BlobStore.open_read`).
- Placement (`BlobStore.settle`, run by the transaction once its batch is
  durable, before it answers; one call places what every transaction that
  got there meanwhile queued, one fsync per directory): link
  blobs/<xx>/<id> to the tmp/ file, fsync blobs/<xx>/, then remove the tmp/
  name (unsynced) and delete the marker (in the next batch, or at close). A
  link, not a rename: a rename across directories can lose both names at a
  crash (sim/fs.py), a link never takes the old name away before the new
  one is durable.
- The batch that drops the last reference to a blob (an overwrite, a delete,
  an Abort, a Complete's unused parts, DeleteBucket's parts) puts its
  removal marker b"r/<id>". Once it is durable (and no reader pins the
  blob) its names are unlinked; once that is durable (blobs/<xx>/ fsynced
  by `settle`) the marker goes.
Invariant: every file in tmp/ without a placing marker is uncommitted; every
file in blobs/ is pointed to by a record or has a removal marker; every blob
a record points to is in blobs/, or in tmp/ with a placing marker.

Recovery, in this order (each step idempotent: a crash during recovery is
recovered from by the next one):
1. The markers are read (`records.PLACING_PREFIX`, `REMOVING_PREFIX`).
2. Each file in tmp/ with a placing marker (and no removal marker) is linked
   into blobs/<xx>/ (unless already there); a placing marker whose blob is in
   neither place is a record with a missing blob: reported (`missing`),
   logged at ERROR level, and the store then refuses to serve it
   (InternalError), never serving other bytes.
3. Each blob with a removal marker is unlinked (both names).
4. The blobs/<xx>/ touched are fsynced; then every other tmp/ file is
   removed (an uncommitted write, or a placed blob's leftover name) and tmp/
   fsynced; then all markers are deleted in one synced batch.

A marker of a newer format version stops recovery (and `Store.open`) with
ValueError, as a read of a newer record does.

A store of format 1 (blobs renamed into blobs/ before their record was
committed; no markers) gets `recover_by_scan` once, at its first start by
this version: the full cross-check of every record against every blob file
(kept for `hamster fsck`, which does it on demand). Note for such a check on
format 2: a tmp/ file with a placing marker is a committed blob.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hamster.runtime import Runtime
from hamster.storage import records
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, blob_dir, blob_path, is_blob_id, tmp_path
from hamster.storage.fs import FileSystem
from hamster.storage.meta import MetaStore
from hamster.storage.records import BLOB_RECORD_PREFIXES, record_blob_ids

log = logging.getLogger("hamster.storage")


@dataclass
class RecoveryReport:
    tmp_removed: int = 0
    orphans_removed: int = 0
    blobs_kept: int = 0
    # Committed blobs moved from tmp/ into blobs/ (format 2).
    placed: int = 0
    # (metadata key, blob id) of records whose blob file is missing (format 2:
    # the key is the placing marker's; the record itself is not looked up).
    missing: list[tuple[bytes, str]] = field(default_factory=list)


async def _markers(meta: MetaStore, prefix: bytes) -> dict[str, bytes]:
    """blob id -> marker key, for the markers under `prefix`."""
    found: dict[str, bytes] = {}
    async for key, value in meta.scan(prefix):
        records.check_marker(value)
        found[records.marker_blob_id(key)] = key
    return found


async def recover(fs: FileSystem, meta: MetaStore, runtime: Runtime) -> RecoveryReport:
    """Finish the placements and removals a crash cut short; see the module
    docstring. Planted bug for the simulator (hamster.runtime.BREAKS):
    recovery-drops-placed removes every tmp/ file, marker or not."""
    report = RecoveryReport()
    placing = await _markers(meta, records.PLACING_PREFIX)
    removing = await _markers(meta, records.REMOVING_PREFIX)
    in_tmp = set(await fs.listdir(TMP_DIR))
    drop_placed = runtime.broken("recovery-drops-placed")
    dirty: set[str] = set()
    made_dirs = False
    for blob_id in sorted(placing):
        if blob_id in removing:
            continue  # unreferenced since: step 3 removes it
        if blob_id in in_tmp and drop_placed:
            continue  # the planted bug: its tmp/ file goes below, like any other
        if blob_id in in_tmp:
            directory = blob_dir(blob_id)
            if not await fs.exists(directory):
                await fs.makedirs(directory)
                made_dirs = True
            with contextlib.suppress(FileExistsError):
                await fs.link(tmp_path(blob_id), blob_path(blob_id))
            dirty.add(directory)
            report.placed += 1
        elif not await fs.exists(blob_path(blob_id)):
            report.missing.append((placing[blob_id], blob_id))
            log.error(
                "recovery: blob %s was committed but is missing; the record that points "
                "to it will be refused with InternalError, not served",
                blob_id,
            )
    for blob_id in sorted(removing):
        # Its blobs/<xx>/ may be gone too (a crash before it was synced).
        with contextlib.suppress(FileNotFoundError):
            await fs.remove(blob_path(blob_id), missing_ok=True)
        if blob_id in in_tmp:
            await fs.remove(tmp_path(blob_id), missing_ok=True)
            in_tmp.discard(blob_id)
        dirty.add(blob_dir(blob_id))
        report.orphans_removed += 1
    if made_dirs:
        await fs.sync_dir(BLOBS_DIR)
    for directory in sorted(dirty):
        if await fs.exists(directory):
            await fs.sync_dir(directory)
    for name in sorted(in_tmp):
        await fs.remove(f"{TMP_DIR}/{name}", missing_ok=True)
        if name not in placing:
            report.tmp_removed += 1
    if in_tmp:
        await fs.sync_dir(TMP_DIR)
    done = [*placing.values(), *removing.values()]
    if done:
        await meta.write([], done, sync=True)
    if report.tmp_removed or report.orphans_removed or report.placed or report.missing:
        log.warning(
            "recovery: placed %d committed blobs, removed %d unreferenced blobs and %d "
            "temp files; %d records miss their blob",
            report.placed,
            report.orphans_removed,
            report.tmp_removed,
            len(report.missing),
        )
    return report


# --- the full cross-check (format 1 at its upgrade; fsck) ---------------------


async def _record_blob_ids(meta: MetaStore) -> AsyncIterator[tuple[bytes, str]]:
    """(metadata key, blob id) for every blob every record points to."""
    for prefix in BLOB_RECORD_PREFIXES:
        async for key, value in meta.scan(prefix):
            for blob_id in record_blob_ids(key, value):
                yield key, blob_id


async def referenced_blob_ids(meta: MetaStore) -> set[str]:
    """The ids of all blobs a record points to."""
    refs: set[str] = set()
    async for _key, blob_id in _record_blob_ids(meta):
        assert blob_id not in refs, f"blob {blob_id} referenced twice"
        refs.add(blob_id)
    return refs


async def recover_by_scan(fs: FileSystem, meta: MetaStore) -> RecoveryReport:
    """Recovery of a format-1 store: every record read, every blob listed.

    1. Every file in tmp/ is an unfinished write: removed.
    2. The ids of all blobs that a record points to are collected (a set: a
       few dozen bytes per object).
    3. Every file in blobs/<xx>/ that no record points to is a write that
       crashed between rename and commit, or the old blob of an overwrite or
       delete that crashed before removing it: removed.
    4. A record whose blob is missing is logged at ERROR level; the store then
       refuses to serve it (InternalError), never serving other bytes.
    Records are read through records.py (`records.record_blob_ids`), like
    every other read: a record of a newer format version stops it with
    ValueError instead of removing blobs it may point to.
    """
    report = RecoveryReport()
    for name in await fs.listdir(TMP_DIR):
        await fs.remove(f"{TMP_DIR}/{name}", missing_ok=True)
        report.tmp_removed += 1
    if report.tmp_removed:
        await fs.sync_dir(TMP_DIR)

    refs = await referenced_blob_ids(meta)
    found: set[str] = set()
    for sub in await fs.listdir(BLOBS_DIR):
        if len(sub) != 2:
            log.warning("recovery: unexpected entry %s/%s left alone", BLOBS_DIR, sub)
            continue
        removed = 0
        for name in await fs.listdir(f"{BLOBS_DIR}/{sub}"):
            if name in refs and name.startswith(sub):
                found.add(name)
                continue
            if not is_blob_id(name):
                log.warning("recovery: removing stray file %s/%s/%s", BLOBS_DIR, sub, name)
            await fs.remove(f"{BLOBS_DIR}/{sub}/{name}", missing_ok=True)
            removed += 1
        if removed:
            await fs.sync_dir(f"{BLOBS_DIR}/{sub}")
        report.orphans_removed += removed
    report.blobs_kept = len(found)

    if len(found) < len(refs):
        # Rare: a second pass names the records (keeps the first pass lean).
        async for key, blob_id in _record_blob_ids(meta):
            if blob_id not in found:
                report.missing.append((key, blob_id))
                log.error(
                    "recovery: record %r points to missing blob %s; it will be refused "
                    "with InternalError, not served",
                    key,
                    blob_id,
                )
    if report.tmp_removed or report.orphans_removed or report.missing:
        log.warning(
            "recovery: removed %d temp files and %d orphan blobs; %d records miss their blob",
            report.tmp_removed,
            report.orphans_removed,
            len(report.missing),
        )
    return report
