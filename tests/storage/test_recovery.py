"""Startup recovery: it reads only the markers and tmp/, finishes the
placements and removals in flight, removes uncommitted temp files; a
committed blob that is missing is refused loudly, never served; a store of
the previous format is scanned once and upgraded."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store, records
from hamster.storage.blobs import TMP_DIR, blob_path
from hamster.storage.blobs import tmp_path as tmp_name
from hamster.storage.fs import RealFileSystem
from hamster.storage.meta import LevelDBMetaStore, MetaStore
from sim.fs import SimDisk
from sim.meta import SimMetaDisk
from tests.patterns import pattern

from .bodies import BytesBody
from .conftest import make_runtime
from .test_write_order import MetaWrapper, RecordingFS


def body(key: str) -> bytes:
    return pattern(3000, key)


async def populated(data_dir: Path, runtime: Runtime) -> dict[str, str]:
    """A store with two objects, closed; returns key -> blob id."""
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    await store.create_bucket("bk", "owner", "us-east-1")
    ids = {}
    for key in ("keep1", "keep2"):
        info = await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(body(key)))
        ids[key] = info.blob_id
    await store.close()
    return ids


class WatchedMeta(MetaWrapper):
    """Records the prefix of every scan."""

    def __init__(self, inner: MetaStore) -> None:
        super().__init__(inner)
        self.scans: list[bytes] = []

    def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        self.scans.append(prefix)
        return self.inner.scan(prefix, start_after, limit)


class ListingFS(RecordingFS):
    def __init__(self, root: Path) -> None:
        super().__init__(RealFileSystem(str(root)), [])
        self.listed: list[str] = []

    async def listdir(self, path: str) -> list[str]:
        self.listed.append(path)
        return await self.inner.listdir(path)


async def test_a_start_reads_only_the_markers_and_lists_only_tmp(
    tmp_path: Path, runtime: Runtime
) -> None:
    """Startup is proportional to what was in flight: no scan of the object
    or part records, no listing of blobs/<xx> (planted: `recover` replaced
    by `recover_by_scan` in Store.open -> red)."""
    data_dir = tmp_path / "d"
    await populated(data_dir, runtime)
    meta = WatchedMeta(await LevelDBMetaStore.open(str(data_dir / "meta")))
    fs = ListingFS(data_dir)
    store = await Store.open(str(data_dir), runtime, fs=fs, meta=meta, inline_max_bytes=0)
    try:
        assert meta.scans == [records.PLACING_PREFIX, records.REMOVING_PREFIX]
        assert fs.listed == [TMP_DIR]
    finally:
        await store.close()


async def test_recovery_finishes_what_was_in_flight(tmp_path: Path, runtime: Runtime) -> None:
    """What a crash may leave: a committed blob still in tmp/ (placing marker),
    an unreferenced one not yet removed (removal marker), an uncommitted temp
    file (no marker). An orphan without a marker is fsck's, left alone."""
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        # keep2's blob as if the crash came right after its commit.
        placed = ids["keep2"]
        os.link(data_dir / blob_path(placed), data_dir / tmp_name(placed))
        (data_dir / blob_path(placed)).unlink()
        gone = "ab" + "7" * 30
        (data_dir / "blobs" / "ab").mkdir(exist_ok=True)
        (data_dir / blob_path(gone)).write_bytes(b"unreferenced")
        (data_dir / tmp_name(gone)).write_bytes(b"unreferenced")
        marker = records.MARKER_VALUE
        await store.meta.write(
            [(records.placing_key(placed), marker), (records.removing_key(gone), marker)],
            [],
            sync=True,
        )
    finally:
        await store.meta.close()
    (data_dir / "tmp" / ("f" * 32)).write_bytes(b"half")
    unmarked = "cd" + "0" * 30
    (data_dir / "blobs" / "cd").mkdir(exist_ok=True)
    (data_dir / blob_path(unmarked)).write_bytes(b"orphan of an older crash")

    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        r = store.recovery
        assert (r.placed, r.orphans_removed, r.tmp_removed, r.missing) == (1, 1, 1, [])
        assert os.listdir(data_dir / "tmp") == []
        assert not (data_dir / blob_path(gone)).exists()
        assert (data_dir / blob_path(unmarked)).exists()
        assert [kv async for kv in store.meta.scan(records.PLACING_PREFIX)] == []
        assert [kv async for kv in store.meta.scan(records.REMOVING_PREFIX)] == []
        for key, blob_id in ids.items():
            assert (data_dir / blob_path(blob_id)).exists()
            async with await store.open_object("bk", key) as reader:
                got = b"".join([c async for c in reader.stream(0, reader.info.size)])
                assert got == body(key)
    finally:
        await store.close()


async def test_a_committed_blob_that_is_nowhere_is_reported_and_refused(
    tmp_path: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    lost = ids["keep1"]
    await store.meta.write([(records.placing_key(lost), records.MARKER_VALUE)], [], sync=True)
    await store.meta.close()
    (data_dir / blob_path(lost)).unlink()

    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        assert store.recovery.missing == [(records.placing_key(lost), lost)]
        assert any(lost in r.getMessage() for r in caplog.records)
        with pytest.raises(S3Error) as e:
            await store.open_object("bk", "keep1")
        assert e.value.code == "InternalError"
        # The other object serves; overwriting the broken key heals it.
        async with await store.open_object("bk", "keep2") as reader:
            assert reader.info.key == "keep2"
        await store.put_object(PutRequest(bucket="bk", key="keep1"), BytesBody(b"fresh"))
        async with await store.open_object("bk", "keep1") as reader:
            assert b"".join([c async for c in reader.stream(0, 5)]) == b"fresh"
    finally:
        await store.close()


async def test_reopen_of_a_clean_store_changes_nothing(tmp_path: Path, runtime: Runtime) -> None:
    data_dir = tmp_path / "d"
    await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        r = store.recovery
        assert (r.tmp_removed, r.orphans_removed, r.placed, r.missing) == (0, 0, 0, [])
    finally:
        await store.close()


async def test_a_store_of_format_1_is_scanned_once_then_upgraded(
    tmp_path: Path, runtime: Runtime
) -> None:
    """The previous version's crash leaves orphans only a full scan finds: the
    first start scans (and removes them), writes format 2, and later starts
    do not scan. Downgrade: format 2 is refused by a version that knows 1."""
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    created = records.decode_store_info(await store.meta.get(records.STORE_INFO_KEY) or b"")
    old = records.encode_store_info(created.created_ns, version=records.STORE_FORMAT_SCANNED)
    await store.meta.write([(records.STORE_INFO_KEY, old)], [], sync=True)
    await store.close()
    orphan = "ab" + "0" * 30
    (data_dir / "blobs" / "ab").mkdir(exist_ok=True)
    (data_dir / blob_path(orphan)).write_bytes(b"orphan")
    (data_dir / "tmp" / ("f" * 32)).write_bytes(b"half")

    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        r = store.recovery
        assert (r.tmp_removed, r.orphans_removed, r.blobs_kept, r.missing) == (1, 1, 2, [])
        info = records.decode_store_info(await store.meta.get(records.STORE_INFO_KEY) or b"")
        assert (info.format_version, info.created_ns) == (2, created.created_ns)
        for key in ids:
            async with await store.open_object("bk", key) as reader:
                got = b"".join([c async for c in reader.stream(0, reader.info.size)])
                assert got == body(key)
    finally:
        await store.close()
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        assert store.recovery.blobs_kept == 0  # not scanned again
    finally:
        await store.close()
    # The previous version's check_version refuses any format_version above 1.
    assert info.format_version > 1


async def test_a_newer_marker_is_refused(tmp_path: Path, runtime: Runtime) -> None:
    from hamster.storage.pb import records_pb2 as pb

    data_dir = tmp_path / "d"
    await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    newer = pb.BlobMarker(format_version=records.FORMAT_VERSION + 1).SerializeToString()
    await store.meta.write([(records.removing_key("ab" + "1" * 30), newer)], [], sync=True)
    await store.close()
    newest = records.FORMAT_VERSION
    with pytest.raises(ValueError, match=f"BlobMarker has format_version {newest + 1}, newer"):
        await Store.open(str(data_dir), runtime, inline_max_bytes=0)


async def test_newer_store_format_is_refused(tmp_path: Path, runtime: Runtime) -> None:
    from hamster.storage.pb import records_pb2 as pb

    data_dir = tmp_path / "d"
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    newer = pb.StoreInfo(format_version=records.STORE_FORMAT_VERSION + 1, created_ns=1)
    await store.meta.write([(records.STORE_INFO_KEY, newer.SerializeToString())], [], sync=True)
    await store.close()
    with pytest.raises(ValueError, match="newer"):
        await Store.open(str(data_dir), runtime, inline_max_bytes=0)


@pytest.mark.parametrize("kind", ["object", "part"])
async def test_recovery_refuses_a_newer_record_like_reads_do(
    tmp_path: Path, runtime: Runtime, kind: str
) -> None:
    """The full scan (a format-1 store's first start) reads records through
    records.py: one of a newer format version stops `Store.open` with the
    error a read of it gets, and no blob is removed (it cannot tell which
    ones it points to)."""
    from hamster.storage.multipart import NewUpload, PartRequest
    from hamster.storage.pb import records_pb2 as pb

    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        if kind == "object":
            meta_key = records.object_key("bk", "keep1")
            message: pb.ObjectRecord | pb.PartRecord = pb.ObjectRecord()
        else:
            upload = await store.uploads.create(NewUpload("bk", "up", initiator="owner"))
            part, _ = await store.uploads.upload_part(
                PartRequest(bucket="bk", key="up", upload_id=upload.upload_id, part_number=1),
                BytesBody(b"part one"),
            )
            ids["part"] = part.blob_id
            meta_key = records.part_key(upload.upload_id, 1)
            message = pb.PartRecord()
        value = await store.meta.get(meta_key)
        assert value is not None
        message.ParseFromString(value)
        message.format_version = records.FORMAT_VERSION + 1
        newer = message.SerializeToString()
        old = records.encode_store_info(1, version=records.STORE_FORMAT_SCANNED)
        await store.meta.write([(meta_key, newer), (records.STORE_INFO_KEY, old)], [], sync=True)
    finally:
        await store.close()
    decode = (lambda v: records.decode_object("bk", v)) if kind == "object" else records.decode_part
    with pytest.raises(ValueError) as read_error:
        decode(newer)
    with pytest.raises(ValueError) as open_error:
        await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    assert str(open_error.value) == str(read_error.value)
    assert "newer than" in str(open_error.value)
    for blob_id in ids.values():
        assert (data_dir / blob_path(blob_id)).exists()


async def test_a_removal_whose_blob_directory_is_gone_is_no_error() -> None:
    """A crash can lose a blobs/<xx>/ that was never synced while a removal
    marker names a blob in it (simulated disk: a missing parent directory is
    FileNotFoundError, whatever missing_ok says). Found by hamster-sim seed 68."""
    disk, metadisk = SimDisk(random.Random(0)), SimMetaDisk(random.Random(0))
    store = await Store.open("", make_runtime(), fs=disk.mount(), meta=metadisk.open())
    gone = "be" + "0" * 30
    await store.meta.write([(records.removing_key(gone), records.MARKER_VALUE)], [], sync=True)
    await store.close()
    store = await Store.open("", make_runtime(), fs=disk.mount(), meta=metadisk.open())
    try:
        assert store.recovery.orphans_removed == 1
        assert [kv async for kv in store.meta.scan(records.REMOVING_PREFIX)] == []
    finally:
        await store.close()
