"""Inline objects: a PUT or copy of at most `Store.inline_max_bytes` keeps its
bytes in its ObjectRecord (no blob file). The same checks as a blob PUT, one
synced metadata write, served from the record; copies, part copies,
multipart completion, deletes, listing and recovery over them."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hamster import integrity
from hamster.runtime import Runtime
from hamster.s3.conditional import WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store
from hamster.storage.copy import CopyRequest, NewMetadata, PartCopyRequest
from hamster.storage.errors import StorageFull
from hamster.storage.fs import RealFileSystem
from hamster.storage.meta import LevelDBMetaStore
from hamster.storage.multipart import NewUpload
from hamster.storage.records import StandardHeaders
from hamster.storage.space import MinFree
from hamster.storage.store import INLINE_MAX_BYTES, DeleteTarget
from tests.patterns import pattern

from .bodies import BytesBody
from .conftest import make_runtime
from .test_multipart import complete, part
from .test_write_order import RecordingFS, RecordingMeta

OWNER = "AKIDOWNER"
LIMIT = INLINE_MAX_BYTES
HEADERS = StandardHeaders(
    content_type="text/replaced",
    content_encoding=None,
    content_disposition=None,
    content_language=None,
    cache_control=None,
    expires=None,
)


@pytest.fixture
async def st(inline_store: Store) -> AsyncIterator[Store]:
    await inline_store.create_bucket("bk", OWNER, "us-east-1")
    yield inline_store


def files(store: Store, under: str) -> list[str]:
    root = Path(store.fs.root) / under  # type: ignore[attr-defined]
    return sorted(p.name for p in root.rglob("*") if p.is_file())


async def put(store: Store, key: str, data: bytes, **kw: object) -> object:
    req = PutRequest(bucket="bk", key=key, **kw)  # type: ignore[arg-type]
    return await store.put_object(req, BytesBody(data, 1000))


async def read(store: Store, key: str, start: int = 0, length: int | None = None) -> bytes:
    async with await store.open_object("bk", key) as reader:
        if length is None:
            length = reader.info.size - start
        return b"".join([c async for c in reader.stream(start, length, chunk_bytes=700)])


async def test_up_to_the_threshold_a_put_is_inline_beyond_it_a_blob(st: Store) -> None:
    assert 16 * 1024 <= LIMIT <= 64 * 1024
    small, edge, big = pattern(4096, "small"), pattern(LIMIT, "edge"), pattern(LIMIT + 1, "big")
    for key, data in (("small", small), ("edge", edge), ("empty", b""), ("big", big)):
        info = await st.put_object(PutRequest(bucket="bk", key=key), BytesBody(data, 1000))
        assert info.etag == hashlib.md5(data).hexdigest()
        assert info.checksum == integrity.ChecksumValue(
            "CRC64NVME", integrity.compute("CRC64NVME", data)
        )
        assert (info.inline_data, info.blob_id == "") == (
            (data, True) if key != "big" else (None, False)
        )
        assert await read(st, key) == data
    big_info = await st.head_object("bk", "big")
    assert files(st, "blobs") == [big_info.blob_id]
    assert files(st, "tmp") == []
    # Ranges of an inline object come from the record too.
    assert await read(st, "edge", 1, LIMIT - 2) == edge[1 : LIMIT - 1]
    assert await read(st, "small", 4095, 1) == small[4095:]
    empty = await st.head_object("bk", "empty")
    assert (empty.inline_data, empty.size, empty.blob_ids) == (b"", 0, [])


async def test_an_inline_put_is_checked_like_any_other(st: Store) -> None:
    data = pattern(5000, "checked")
    wrong_md5 = hashlib.md5(data + b"x").digest()
    crc = integrity.compute("CRC32", data)
    bad_crc = integrity.compute("CRC32", data[:-1])
    refusals: list[tuple[str, PutRequest, object]] = [
        ("BadDigest", PutRequest(bucket="bk", key="k", content_md5=wrong_md5), None),
        (
            "BadDigest",
            PutRequest(bucket="bk", key="k", checksum_algorithm="CRC32", checksum_expected=bad_crc),
            None,
        ),
        ("IncompleteBody", PutRequest(bucket="bk", key="k", content_length=5001), None),
        ("EntityTooLarge", PutRequest(bucket="bk", key="k", max_size_bytes=4999), None),
    ]
    for code, req, _ in refusals:
        with pytest.raises(S3Error) as e:
            await st.put_object(req, BytesBody(data, 1000))
        assert e.value.code == code
    # A trailer's checksum (aws-chunked) is asked for once the body has ended.
    with pytest.raises(S3Error) as e:
        await st.put_object(
            PutRequest(bucket="bk", key="k", checksum_algorithm="CRC32"),
            BytesBody(data, 1000),
            checksum_at_end=lambda: bad_crc,
        )
    assert e.value.code == "BadDigest"
    assert await st.get_object_info("bk", "k") is None
    ok = PutRequest(
        bucket="bk",
        key="k",
        content_md5=hashlib.md5(data).digest(),
        checksum_algorithm="CRC32",
        checksum_expected=crc,
    )
    info = await st.put_object(ok, BytesBody(data, 1000))
    assert info.inline_data == data
    assert info.checksum == integrity.ChecksumValue("CRC32", crc)
    assert (await st.head_object("bk", "k")).checksum == info.checksum


async def test_conditions_and_the_space_guard_hold_for_inline_puts(tmp_path: Path) -> None:
    runtime = make_runtime()
    store = await Store.open(str(tmp_path / "d"), runtime)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        await put(store, "k", pattern(100, "first"))
        with pytest.raises(S3Error) as e:
            await put(
                store, "k", pattern(100, "second"), conditions=WriteConditions(if_none_match="*")
            )
        assert e.value.code == "PreconditionFailed"
        assert await read(store, "k") == pattern(100, "first")
    finally:
        await store.close()
    # A disk that is short of space refuses an inline PUT as it does any.
    full = await Store.open(str(tmp_path / "d"), runtime, min_free=MinFree(size_bytes=1 << 62))
    try:
        with pytest.raises(StorageFull):
            await put(full, "k2", pattern(100, "refused"))
        assert await full.get_object_info("bk", "k2") is None
    finally:
        await full.close()


async def test_one_synced_metadata_write_and_nothing_on_the_filesystem(tmp_path: Path) -> None:
    """The inline PUT's crash story: nothing to make durable but its record,
    which holds the bytes; the blob it replaces goes after the record."""
    log: list[str] = []
    data_dir = tmp_path / "d"
    (data_dir / "meta").mkdir(parents=True)
    fs = RecordingFS(RealFileSystem(str(data_dir)), log)
    meta = RecordingMeta(await LevelDBMetaStore.open(str(data_dir / "meta")), log)
    store = await Store.open(str(data_dir), make_runtime(), fs=fs, meta=meta)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        old = await store.put_object(
            PutRequest(bucket="bk", key="k"), BytesBody(pattern(LIMIT + 10, "old"))
        )
        log.clear()
        await put(store, "k", pattern(3000, "new"))
        # One batch: the record with its bytes, the removal marker of the
        # blob it replaces (and the previous PUT's placing marker, done
        # with); then that blob's removal (made durable later, with others).
        b = old.blob_id
        assert log[0].startswith("meta sync b'o/bk\\x00k,") and f"r/{b}" in log[0]
        assert log[1:] == [f"remove blobs/{b[:2]}/{b}"]
        log.clear()
        await put(store, "k", pattern(3000, "newer"))
        await store.delete_object("bk", "k")
        # Two synced batches (the first also drops the markers done with).
        assert len(log) == 2
        assert all(e.startswith("meta sync b'o/bk\\x00k") for e in log), log
    finally:
        await store.close()


async def test_copies_of_and_into_inline_objects(st: Store) -> None:
    await st.create_bucket("other", OWNER, "us-east-1")
    data = pattern(3000, "copied")
    src = await put(st, "src", data, content_type="text/plain")
    for bucket, key in (("bk", "dst"), ("other", "dst")):
        info = await st.copy_object(
            CopyRequest("bk", "src", bucket, key), check_source=lambda _i: None
        )
        assert (info.inline_data, info.blob_id, info.content_type) == (data, "", "text/plain")
        assert info.etag == src.etag  # type: ignore[attr-defined]
        assert (await st.head_object(bucket, key)).inline_data == data
    # Onto itself, metadata replaced: only the record changes, bytes stay inline.
    same = await st.copy_object(
        CopyRequest("bk", "src", "bk", "src", metadata=NewMetadata(HEADERS)),
        check_source=lambda _i: None,
    )
    assert (same.inline_data, same.content_type) == (data, "text/replaced")
    # Onto itself with another checksum algorithm: a new inline object.
    other = await st.copy_object(
        CopyRequest("bk", "src", "bk", "src", checksum_algorithm="SHA256"),
        check_source=lambda _i: None,
    )
    assert other.inline_data == data
    assert other.checksum == integrity.ChecksumValue("SHA256", hashlib.sha256(data).digest())
    assert await read(st, "src") == data
    assert files(st, "blobs") == []


async def test_a_small_blob_object_copied_becomes_inline(tmp_path: Path, runtime: Runtime) -> None:
    data_dir = str(tmp_path / "d")
    store = await Store.open(data_dir, runtime, inline_max_bytes=0)
    await store.create_bucket("bk", OWNER, "us-east-1")
    data = pattern(2000, "was a blob")
    blob = await put(store, "src", data)
    await store.close()
    store = await Store.open(data_dir, runtime)
    try:
        assert (await read(store, "src")) == data  # records are read whichever way they are
        info = await store.copy_object(
            CopyRequest("bk", "src", "bk", "dst"), check_source=lambda _i: None
        )
        assert info.inline_data == data
        assert files(store, "blobs") == [blob.blob_id]  # type: ignore[attr-defined]
        # Overwriting the blob object by an inline one removes its blob.
        await put(store, "src", pattern(10, "inline now"))
        assert files(store, "blobs") == []
    finally:
        await store.close()


async def test_part_copy_multipart_and_deletes_over_inline_objects(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "d"), make_runtime(), min_part_bytes=8)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        data = pattern(4000, "part source")
        await put(store, "src", data)
        await put(store, "k", pattern(100, "replaced by the upload"))
        upload = await store.uploads.create(NewUpload(bucket="bk", key="k", initiator=OWNER))
        copied, _ = await store.upload_part_copy(
            PartCopyRequest("bk", "k", upload.upload_id, 1, "bk", "src"),
            select=lambda _i: (100, 1000),
        )
        assert copied.etag == hashlib.md5(data[100:1100]).hexdigest()
        assert files(store, "blobs") == [copied.blob_id]  # parts are always blobs
        second = await part(store, upload, 2, pattern(50, "second part"))
        made = await complete(store, upload, [copied, second])
        assert made.inline_data is None
        assert await read(store, "k") == data[100:1100] + pattern(50, "second part")
        # An aborted upload over an inline object leaves the object alone.
        doomed = await store.uploads.create(NewUpload(bucket="bk", key="src", initiator=OWNER))
        await part(store, doomed, 1, pattern(20, "aborted"))
        await store.uploads.abort("bk", "src", doomed.upload_id)
        assert await read(store, "src") == data
        # DeleteObjects over an inline object and a multipart one.
        outcomes = await store.delete_objects("bk", [DeleteTarget("src"), DeleteTarget("k")])
        assert outcomes == [None, None]
        assert [o async for o in store.iter_objects("bk")] == []
        assert files(store, "blobs") == []
    finally:
        await store.close()


async def test_listing_and_recovery_see_inline_objects(tmp_path: Path, runtime: Runtime) -> None:
    data_dir = str(tmp_path / "d")
    store = await Store.open(data_dir, runtime)
    await store.create_bucket("bk", OWNER, "us-east-1")
    written = [
        await put(store, key, pattern(size, key))
        for key, size in (("a", 0), ("b", 300), ("c", LIMIT + 1), ("d", LIMIT))
    ]
    listed = [o async for o in store.iter_objects("bk")]
    assert listed == written
    await store.close()
    store = await Store.open(data_dir, runtime)
    try:
        report = store.recovery
        assert (report.missing, report.orphans_removed, report.tmp_removed) == ([], 0, 0)
        for key, size in (("a", 0), ("b", 300), ("c", LIMIT + 1), ("d", LIMIT)):
            assert await read(store, key) == pattern(size, key)
    finally:
        await store.close()
