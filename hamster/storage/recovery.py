"""Startup recovery: remove what a crash left half-done, never what a record needs.

Run by `Store.open` before serving, with nothing else touching the store:
1. Every file in tmp/ is an unfinished write: removed.
2. The ids of all blobs that a record points to are collected (a set: a
   few dozen bytes per object).
3. Every file in blobs/<xx>/ that no record points to is a write that
   crashed between rename and commit, or the old blob of an overwrite or
   delete that crashed before removing it: removed.
4. A record whose blob is missing is logged at ERROR level; the store then
   refuses to serve it (InternalError), never serving other bytes.

Records are read through records.py (`records.record_blob_ids`, for the
kinds of `records.BLOB_RECORD_PREFIXES`: ObjectRecord and PartRecord), like
every other read: a record of a newer format version stops recovery (and
`Store.open`) with ValueError, as a read of it would fail, instead of
removing blobs it may point to.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, is_blob_id
from hamster.storage.fs import FileSystem
from hamster.storage.meta import MetaStore
from hamster.storage.records import BLOB_RECORD_PREFIXES, record_blob_ids

log = logging.getLogger("hamster.storage")


@dataclass
class RecoveryReport:
    tmp_removed: int = 0
    orphans_removed: int = 0
    blobs_kept: int = 0
    # (metadata key, blob id) of records whose blob file is missing.
    missing: list[tuple[bytes, str]] = field(default_factory=list)


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


async def recover(fs: FileSystem, meta: MetaStore) -> RecoveryReport:
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
