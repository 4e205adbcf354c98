"""Startup recovery: temp files and orphan blobs go, referenced blobs stay,
a record whose blob is missing is refused loudly, never served."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store
from hamster.storage.blobs import blob_path

from .bodies import BytesBody


async def populated(data_dir: Path, runtime: Runtime) -> dict[str, str]:
    """A store with two objects, closed; returns key -> blob id."""
    store = await Store.open(str(data_dir), runtime)
    await store.create_bucket("bk", "owner", "us-east-1")
    ids = {}
    for key in ("keep1", "keep2"):
        info = await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(key.encode()))
        ids[key] = info.blob_id
    await store.close()
    return ids


async def test_recovery_removes_tmp_and_orphans_keeps_referenced(
    tmp_path: Path, runtime: Runtime
) -> None:
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    # What a crash may leave: a half-written temp file, a blob renamed into
    # place whose record was never committed, a stray file.
    (data_dir / "tmp" / ("f" * 32)).write_bytes(b"half")
    orphan = "ab" + "0" * 30
    (data_dir / "blobs" / "ab").mkdir(exist_ok=True)
    (data_dir / blob_path(orphan)).write_bytes(b"orphan")
    (data_dir / "blobs" / "ab" / "junk.txt").write_bytes(b"?")

    store = await Store.open(str(data_dir), runtime)
    try:
        assert store.recovery.tmp_removed == 1
        assert store.recovery.orphans_removed == 2
        assert store.recovery.blobs_kept == 2
        assert store.recovery.missing == []
        assert os.listdir(data_dir / "tmp") == []
        assert not (data_dir / blob_path(orphan)).exists()
        assert not (data_dir / "blobs" / "ab" / "junk.txt").exists()
        for key, blob_id in ids.items():
            assert (data_dir / blob_path(blob_id)).exists()
            async with await store.open_object("bk", key) as reader:
                assert b"".join([c async for c in reader.stream(0, reader.info.size)]) == (
                    key.encode()
                )
    finally:
        await store.close()


async def test_missing_blob_is_reported_and_refused(
    tmp_path: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    (data_dir / blob_path(ids["keep1"])).unlink()

    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        store = await Store.open(str(data_dir), runtime)
    try:
        assert [blob for _key, blob in store.recovery.missing] == [ids["keep1"]]
        assert any(ids["keep1"] in r.getMessage() for r in caplog.records)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="hamster.storage"):
            with pytest.raises(S3Error) as e:
                await store.open_object("bk", "keep1")
        assert e.value.code == "InternalError"
        assert any(
            "missing" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
        )
        # The record is still listed (metadata is intact); the other object serves.
        assert (await store.head_object("bk", "keep1")).blob_id == ids["keep1"]
        async with await store.open_object("bk", "keep2") as reader:
            assert reader.info.key == "keep2"
        # Overwriting the broken key heals it.
        await store.put_object(PutRequest(bucket="bk", key="keep1"), BytesBody(b"fresh"))
        async with await store.open_object("bk", "keep1") as reader:
            assert b"".join([c async for c in reader.stream(0, 5)]) == b"fresh"
    finally:
        await store.close()


async def test_reopen_of_a_clean_store_changes_nothing(tmp_path: Path, runtime: Runtime) -> None:
    data_dir = tmp_path / "d"
    await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime)
    try:
        r = store.recovery
        assert (r.tmp_removed, r.orphans_removed, r.blobs_kept, r.missing) == (0, 0, 2, [])
    finally:
        await store.close()


async def test_newer_store_format_is_refused(tmp_path: Path, runtime: Runtime) -> None:
    from hamster.storage import records
    from hamster.storage.pb import records_pb2 as pb

    data_dir = tmp_path / "d"
    store = await Store.open(str(data_dir), runtime)
    newer = pb.StoreInfo(format_version=records.FORMAT_VERSION + 1, created_ns=1)
    await store.meta.write([(records.STORE_INFO_KEY, newer.SerializeToString())], [], sync=True)
    await store.close()
    with pytest.raises(ValueError, match="newer"):
        await Store.open(str(data_dir), runtime)


@pytest.mark.parametrize("kind", ["object", "part"])
async def test_recovery_refuses_a_newer_record_like_reads_do(
    tmp_path: Path, runtime: Runtime, kind: str
) -> None:
    """Recovery reads records through records.py: one of a newer format
    version stops `Store.open` with the error a read of it gets, and no blob
    is removed (recovery cannot tell which ones it points to)."""
    from hamster.storage import records
    from hamster.storage.multipart import NewUpload, PartRequest
    from hamster.storage.pb import records_pb2 as pb

    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime)
    store = await Store.open(str(data_dir), runtime)
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
        await store.meta.write([(meta_key, newer)], [], sync=True)
    finally:
        await store.close()
    decode = (lambda v: records.decode_object("bk", v)) if kind == "object" else records.decode_part
    with pytest.raises(ValueError) as read_error:
        decode(newer)
    with pytest.raises(ValueError) as open_error:
        await Store.open(str(data_dir), runtime)
    assert str(open_error.value) == str(read_error.value)
    assert "newer than" in str(open_error.value)
    for blob_id in ids.values():
        assert (data_dir / blob_path(blob_id)).exists()
