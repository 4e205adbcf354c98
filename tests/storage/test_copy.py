"""Store.copy_object and Store.upload_part_copy: the durability order of a copy,
a copy onto itself that only rewrites the record, a source that changes or is
damaged, and part copies stored as parts."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from hamster import integrity
from hamster.s3.errors import S3Error
from hamster.storage import ObjectInfo, PutRequest, Store
from hamster.storage.blobs import TMP_DIR, blob_dir, blob_path, tmp_path
from hamster.storage.copy import CopyRequest, NewMetadata, PartCopyRequest, SpanBody
from hamster.storage.fs import RealFileSystem, WritableFile
from hamster.storage.meta import LevelDBMetaStore, MetaStore
from hamster.storage.multipart import NewUpload
from hamster.storage.records import StandardHeaders

from .bodies import BytesBody
from .conftest import make_runtime
from .test_write_order import MetaWrapper, RecordingFS, open_recorded

OWNER = "AKIDOWNER"
HEADERS = StandardHeaders(
    content_type="text/new",
    content_encoding=None,
    content_disposition=None,
    content_language="fr",
    cache_control=None,
    expires=None,
)


def data(size: int, seed: str = "store-copy") -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


async def read_all(store: Store, bucket: str, key: str) -> bytes:
    async with await store.open_object(bucket, key) as reader:
        return b"".join([c async for c in reader.stream(0, reader.info.size)])


def accept(_info: ObjectInfo) -> None:
    pass


async def put(store: Store, key: str, body: bytes, **kw: object) -> ObjectInfo:
    return await store.put_object(
        PutRequest(bucket="bk", key=key, **kw),  # type: ignore[arg-type]
        BytesBody(body),
    )


async def copy(store: Store, src: str, dst: str, **kw: object) -> ObjectInfo:
    req = CopyRequest(source_bucket="bk", source_key=src, bucket="bk", key=dst, **kw)  # type: ignore[arg-type]
    return await store.copy_object(req, check_source=accept)


def files_under(data_dir: Path, sub: str) -> list[str]:
    return sorted(p.name for p in (data_dir / sub).rglob("*") if p.is_file())


@pytest.fixture
async def recorded(tmp_path: Path) -> tuple[Store, list[str], Path]:
    log: list[str] = []
    data_dir = tmp_path / "d"
    store = await open_recorded(data_dir, log)
    await store.create_bucket("bk", OWNER, "us-east-1")
    return store, log, data_dir


async def test_copy_is_durable_before_its_record(recorded: tuple[Store, list[str], Path]) -> None:
    store, log, _ = recorded
    try:
        body = data(3_000_000)
        await put(store, "src", body, content_type="text/src", user_metadata=(("a", "1"),))
        old = await put(store, "dst", b"old destination")
        log.clear()
        info = await copy(store, "src", "dst")
        b = info.blob_id
        o = old.blob_id
        assert [e for e in log if not e.startswith("write ")] == [
            f"create {tmp_path(b)}",
            f"sync {tmp_path(b)}",
            f"sync_dir {TMP_DIR}",
            # The placing marker of the old destination's PUT goes in this batch.
            f"meta sync b'o/bk\\x00dst,n/{b},r/{o},n/{o}'",
            f"remove {blob_path(o)}",
            f"link {tmp_path(b)} {blob_path(b)}",
            *sorted({f"sync_dir {blob_dir(b)}", f"sync_dir {blob_dir(o)}"}),
            f"remove {tmp_path(b)}",
        ]
        # 1 MiB chunks from the source's reader to the blob: bounded, not one write per read.
        assert len([e for e in log if e.startswith("write ")]) == 3
        assert await read_all(store, "bk", "dst") == body
        assert (info.etag, info.size, info.content_type, info.user_metadata) == (
            hashlib.md5(body).hexdigest(),
            len(body),
            "text/src",
            (("a", "1"),),
        )
        assert info.checksum == integrity.ChecksumValue(
            "CRC64NVME", integrity.compute("CRC64NVME", body)
        )
    finally:
        await store.close()


async def test_copy_onto_itself_rewrites_only_the_record(
    recorded: tuple[Store, list[str], Path],
) -> None:
    store, log, data_dir = recorded
    try:
        body = data(1_500_000, "itself")
        before = await put(store, "k", body, content_type="text/old", checksum_algorithm="SHA1")
        blobs_before = files_under(data_dir, "blobs")
        log.clear()
        info = await copy(
            store, "k", "k", metadata=NewMetadata(HEADERS, (("m", "v"),)), checksum_algorithm="SHA1"
        )
        # One synced record write: no blob created, none removed (and the
        # placing marker of the PUT before goes with it).
        assert log == [f"meta sync b'o/bk\\x00k,n/{before.blob_id}'"]
        assert files_under(data_dir, "blobs") == blobs_before
        assert (info.blob_id, info.etag, info.checksum) == (
            before.blob_id,
            before.etag,
            before.checksum,
        )
        assert (info.content_type, info.content_language, info.user_metadata) == (
            "text/new",
            "fr",
            (("m", "v"),),
        )
        assert info.last_modified_ns > before.last_modified_ns
        assert await store.head_object("bk", "k") == info
        assert await read_all(store, "bk", "k") == body

        # Another algorithm: the bytes are read (and a new blob written).
        log.clear()
        again = await copy(
            store, "k", "k", metadata=NewMetadata(HEADERS), checksum_algorithm="CRC32"
        )
        assert again.blob_id != before.blob_id
        assert again.checksum == integrity.ChecksumValue("CRC32", integrity.compute("CRC32", body))
        assert f"remove {blob_path(before.blob_id)}" in log
        assert files_under(data_dir, "blobs") == [again.blob_id]
        assert await read_all(store, "bk", "k") == body
    finally:
        await store.close()


class OverwritingMeta(MetaWrapper):
    """Commits `record` under `key` just before the `nth` read of `key`: an
    overwrite that lands between a copy's open and its commit."""

    def __init__(self, inner: MetaStore, key: bytes, record: bytes, nth: int) -> None:
        super().__init__(inner)
        self.key, self.record, self.nth = key, record, nth
        self.reads = 0
        self.armed = False

    async def get(self, key: bytes) -> bytes | None:
        if self.armed and key == self.key:
            self.reads += 1
            if self.reads == self.nth:
                await self.inner.write([(self.key, self.record)], [], sync=True)
        return await self.inner.get(key)


async def overwriting_store(data_dir: Path, key: str) -> tuple[Store, OverwritingMeta]:
    """A store with bucket "bk" whose metadata, once armed, commits an
    overwrite of `key` before the second read of it (see `overwrite_with`)."""
    from hamster.storage import records

    (data_dir / "meta").mkdir(parents=True)
    inner = await LevelDBMetaStore.open(str(data_dir / "meta"))
    meta = OverwritingMeta(inner, records.object_key("bk", key), b"", nth=2)
    store = await Store.open(str(data_dir), make_runtime(), meta=meta, inline_max_bytes=0)
    await store.create_bucket("bk", OWNER, "us-east-1")
    return store, meta


async def overwrite_with(store: Store, meta: OverwritingMeta, key: str, body: bytes) -> ObjectInfo:
    """Make `meta`'s overwrite an object of `body` at `key` whose blob is its
    own (put at a scratch key whose record is then dropped); returns it."""
    from hamster.storage import records

    scratch = await put(store, "scratch", body)
    await meta.inner.write([], [records.object_key("bk", "scratch")], sync=True)
    info = ObjectInfo(**{**scratch.__dict__, "key": key})
    meta.record = records.encode_object(info)
    return info


async def test_copy_onto_itself_of_an_object_that_changed_copies_the_opened_bytes(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "d"
    store, meta = await overwriting_store(data_dir, "k")
    try:
        original = data(100_000, "original")
        first = await put(store, "k", original)
        # The overwrite: "k" becomes a record of other bytes (another blob).
        newer = await overwrite_with(store, meta, "k", data(10, "newer"))
        meta.armed = True  # read 1: the copy opens "k"; read 2: its commit re-reads it
        info = await copy(store, "k", "k", metadata=NewMetadata(HEADERS))
        assert meta.reads >= 2
        # Not a record rewrite pointing at a blob that is no longer "k"'s:
        # the bytes that were opened, in a new blob.
        assert info.blob_id not in (first.blob_id, newer.blob_id)
        assert await read_all(store, "bk", "k") == original
        assert info.etag == hashlib.md5(original).hexdigest()
        # The overwrite's blob went with its record; the original's stays, an
        # orphan of the overwrite made behind the store's back.
        assert files_under(data_dir, "blobs") == sorted([first.blob_id, info.blob_id])
    finally:
        await store.close()


async def test_destination_written_during_the_copy_fails_its_condition_at_commit(
    tmp_path: Path,
) -> None:
    """If-None-Match: * holds when the copy starts; the key is written before
    the copy commits: PreconditionFailed, the copy's blob removed."""
    from hamster.s3.conditional import WriteConditions

    data_dir = tmp_path / "d"
    store, meta = await overwriting_store(data_dir, "dst")
    try:
        src = await put(store, "src", data(200_000, "source"))
        raced = await overwrite_with(store, meta, "dst", data(300, "raced"))
        meta.armed = True  # read 1: the early check; read 2: the commit's
        with pytest.raises(S3Error) as e:
            await copy(store, "src", "dst", conditions=WriteConditions(if_none_match="*"))
        assert e.value.code == "PreconditionFailed"
        assert meta.reads == 2
        assert await store.head_object("bk", "dst") == raced
        assert await read_all(store, "bk", "dst") == data(300, "raced")
        assert files_under(data_dir, "blobs") == sorted([src.blob_id, raced.blob_id])
        assert files_under(data_dir, "tmp") == []
    finally:
        await store.close()


async def test_damaged_source_is_not_copied(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "d"), make_runtime(), inline_max_bytes=0)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        body = data(200_000, "damaged")
        src = await put(store, "src", body)
        path = tmp_path / "d" / blob_path(src.blob_id)
        damaged = bytearray(path.read_bytes())
        damaged[123_456] ^= 0x01
        path.write_bytes(bytes(damaged))
        for kw in ({}, {"checksum_algorithm": "SHA256"}):
            with pytest.raises(S3Error) as e:
                await copy(store, "src", "dst", **kw)
            assert e.value.code == "InternalError"
            assert await store.get_object_info("bk", "dst") is None
        upload = await store.uploads.create(NewUpload(bucket="bk", key="mp", initiator=OWNER))
        part = PartCopyRequest("bk", "mp", upload.upload_id, 1, "bk", "src")
        with pytest.raises(S3Error) as e:
            await store.upload_part_copy(part, select=lambda info: (0, info.size))
        assert e.value.code == "InternalError"
        assert await store.uploads.list_parts(upload.upload_id) == []
        # A range is not checked against the whole object's digests.
        got, _ = await store.upload_part_copy(part, select=lambda info: (0, 1000))
        assert got.etag == hashlib.md5(body[:1000]).hexdigest()
        assert files_under(tmp_path / "d", "tmp") == []
        assert sorted(files_under(tmp_path / "d", "blobs")) == sorted([src.blob_id, got.blob_id])
    finally:
        await store.close()


async def test_part_copy_is_stored_like_an_uploaded_part(store: Store) -> None:
    await store.create_bucket("bk", OWNER, "us-east-1")
    body = data(50_000, "part source")
    await put(store, "src", body, checksum_algorithm="SHA256")
    upload = await store.uploads.create(
        NewUpload(
            bucket="bk",
            key="mp",
            initiator=OWNER,
            checksum_algorithm="CRC32C",
            checksum_type="COMPOSITE",
        )
    )
    req = PartCopyRequest("bk", "mp", upload.upload_id, 3, "bk", "src")
    seen: list[ObjectInfo] = []

    def select(info: ObjectInfo) -> tuple[int, int]:
        seen.append(info)
        return 1000, 20_000

    part, answer = await store.upload_part_copy(req, select=select)
    piece = body[1000:21_000]
    assert [i.key for i in seen] == ["src"]
    assert (part.part_number, part.size, part.etag) == (3, 20_000, hashlib.md5(piece).hexdigest())
    expected = integrity.ChecksumValue("CRC32C", integrity.compute("CRC32C", piece))
    assert part.checksum == expected == answer
    assert await store.uploads.list_parts(upload.upload_id) == [part]
    # A refusal of `select` is the answer, and copies nothing.
    other = PartCopyRequest("bk", "mp", upload.upload_id, 4, "bk", "src")
    for refused in (req, other):
        with pytest.raises(S3Error) as e:
            await store.upload_part_copy(
                refused, select=lambda info: (_ for _ in ()).throw(S3Error("PreconditionFailed"))
            )
        assert (e.value.code, e.value.status) == ("PreconditionFailed", 412)
    assert await store.uploads.list_parts(upload.upload_id) == [part]
    with pytest.raises(S3Error) as e:
        await store.upload_part_copy(
            PartCopyRequest("bk", "mp", "0" * 32, 1, "bk", "src"), select=select
        )
    assert e.value.code == "NoSuchUpload"
    assert len(seen) == 1  # the upload is checked before the source is opened


async def test_span_body_hands_reader_chunks_through() -> None:
    class Reader:
        def __init__(self, body: bytes) -> None:
            self.body = body

        async def stream(self, start: int, length: int, chunk_bytes: int) -> AsyncIterator[bytes]:
            for i in range(start, start + length, chunk_bytes):
                yield self.body[i : min(i + chunk_bytes, start + length)]

    body = data(10_000, "span")
    for max_bytes in (1, 7, 100, 4096, 10_000):
        span = SpanBody(Reader(body), 123, 9000, chunk_bytes=1000)
        out = b""
        while chunk := await span.read(max_bytes):
            assert len(chunk) <= max_bytes
            out += chunk
        await span.aclose()
        assert out == body[123:9123]


class GatedWriteFS(RecordingFS):
    """Blob writes wait for `gate` once `armed`; `writing` is set when one does."""

    def __init__(self, root: str) -> None:
        super().__init__(RealFileSystem(root), [])
        self.armed = False
        self.writing = trio.Event()
        self.gate = trio.Event()

    async def open_write(self, path: str) -> WritableFile:
        inner = await super().open_write(path)
        if not self.armed:
            return inner
        fs = self

        class Gated:
            async def write(self, data: bytes | bytearray | memoryview) -> None:
                fs.writing.set()
                await fs.gate.wait()
                await inner.write(data)

            async def sync(self) -> None:
                await inner.sync()

            async def close(self) -> None:
                await inner.close()

        return Gated()


async def test_cancelled_copy_still_releases_its_source(tmp_path: Path) -> None:
    """A copy cancelled mid-stream while its source is overwritten: the old
    source blob (pinned by the copy, its removal waiting) is removed when the
    copy lets go, and the half-written copy leaves nothing."""
    data_dir = tmp_path / "d"
    fs = GatedWriteFS(str(data_dir))
    store = await Store.open(str(data_dir), make_runtime(), fs=fs, inline_max_bytes=0)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        old = await put(store, "src", data(3_000_000, "old"))
        fs.armed = True
        async with trio.open_nursery() as nursery:
            cancel = trio.CancelScope()

            async def run_copy() -> None:
                with cancel:
                    await copy(store, "src", "dst")

            nursery.start_soon(run_copy)
            await fs.writing.wait()
            fs.armed = False
            new = await put(store, "src", data(10, "new"))
            assert (data_dir / blob_path(old.blob_id)).exists()  # pinned by the copy
            cancel.cancel()
        assert not (data_dir / blob_path(old.blob_id)).exists()
        assert files_under(data_dir, "blobs") == [new.blob_id]
        assert files_under(data_dir, "tmp") == []
        assert await store.get_object_info("bk", "dst") is None
    finally:
        await store.close()


class FailingRemoveFS(RecordingFS):
    """`remove` of a path in `failing` raises OSError (a disk refusing it)."""

    def __init__(self, root: str) -> None:
        super().__init__(RealFileSystem(root), [])
        self.failing: set[str] = set()

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        if path in self.failing:
            self.log.append(f"refused remove {path}")
            raise OSError(5, "Input/output error")
        await super().remove(path, missing_ok=missing_ok)


async def test_a_source_blob_that_cannot_be_removed_does_not_fail_the_committed_copy(
    tmp_path: Path,
) -> None:
    """A copy onto itself in another checksum algorithm replaces the parts it
    reads: their removal waits for the copy's reader. When the disk refuses
    one, the copy (committed) still succeeds, the other parts go, no pin is
    left behind, and the refused blob is an orphan that recovery removes."""
    from .test_multipart import complete, create, part

    data_dir = tmp_path / "d"
    fs = FailingRemoveFS(str(data_dir))
    store = await Store.open(
        str(data_dir), make_runtime(), fs=fs, min_part_bytes=8, inline_max_bytes=0
    )
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        upload = await create(store, "mp")
        pieces = [data(1000 + n, f"piece {n}") for n in range(3)]
        parts = [await part(store, upload, n + 1, p) for n, p in enumerate(pieces)]
        source = await complete(store, upload, parts)
        refused = blob_path(source.blob_ids[0])
        fs.failing.add(refused)
        info = await copy(
            store, "mp", "mp", metadata=NewMetadata(HEADERS), checksum_algorithm="SHA256"
        )
        assert f"refused remove {refused}" in fs.log
        assert info.checksum == integrity.ChecksumValue(
            "SHA256", hashlib.sha256(b"".join(pieces)).digest()
        )
        assert await read_all(store, "bk", "mp") == b"".join(pieces)
        assert not store.core.blobs._pins  # every pin released
        assert files_under(data_dir, "blobs") == sorted([source.blob_ids[0], info.blob_id])
    finally:
        await store.close()
    reopened = await Store.open(str(data_dir), make_runtime(), inline_max_bytes=0)
    try:
        assert reopened.recovery.orphans_removed == 1
        assert files_under(data_dir, "blobs") == [info.blob_id]
    finally:
        await reopened.close()
