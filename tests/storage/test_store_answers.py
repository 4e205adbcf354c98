"""Store: the exact answers of DeleteBucket, DeleteObjects and the copies
(codes, messages, error details), what a refusal leaves, and UploadPartCopy
over ranges and sources it can and cannot check."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.runtime import Runtime
from hamster.s3.conditional import WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage import ObjectInfo, PutRequest, Store, records
from hamster.storage.blobs import blob_path
from hamster.storage.copy import CopyRequest, PartCopyRequest, SpanBody, source_checksum
from hamster.storage.fs import ReadableFile, RealFileSystem
from hamster.storage.meta import LevelDBMetaStore
from hamster.storage.multipart import CompleteRequest, NewUpload, PartRequest
from hamster.storage.parts import CompletedPart
from hamster.storage.records import PartInfo, UploadInfo
from hamster.storage.store import DeleteTarget

from .bodies import BytesBody, GatedBody
from .test_write_order import MetaWrapper, RecordingFS

OWNER = "AKIDOWNER"
MIN_PART = 16

Answer = tuple[str, int, str, list[tuple[str, str]]]


def data(label: str, size: int) -> bytes:
    """Position-dependent bytes, distinct per label."""
    return hashlib.shake_256(label.encode()).digest(size)


class CountingMeta(MetaWrapper):
    """Counts the records each scan hands out, by prefix."""

    def __init__(self, inner: object) -> None:
        super().__init__(inner)  # type: ignore[arg-type]
        self.scanned: dict[bytes, int] = {}

    def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        async def counted() -> AsyncIterator[tuple[bytes, bytes]]:
            async for kv in self.inner.scan(prefix, start_after, limit):
                self.scanned[prefix] = self.scanned.get(prefix, 0) + 1
                yield kv

        return counted()


class ClosingMeta(MetaWrapper):
    """Knows whether it was closed (and the close completed)."""

    def __init__(self, inner: LevelDBMetaStore) -> None:
        super().__init__(inner)
        self.closed = False

    async def close(self) -> None:
        await self.inner.close()
        self.closed = True


def object_info(key: str) -> ObjectInfo:
    """A record for listings only (its blob is never read)."""
    return ObjectInfo(
        "bk",
        key,
        0,
        "d41d8cd98f00b204e9800998ecf8427e",
        1,
        None,
        None,
        None,
        None,
        None,
        None,
        (),
        "0" * 32,
    )


@pytest.fixture
async def store(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    s = await Store.open(
        str(tmp_path / "data"), runtime, min_part_bytes=MIN_PART, inline_max_bytes=0
    )
    await s.create_bucket("bk", OWNER, "us-east-1")
    try:
        yield s
    finally:
        await s.close()


def answer(e: S3Error) -> Answer:
    return e.code, e.status, e.text, list((e.extra or {}).items())


async def refusal(coro: object) -> Answer:
    with pytest.raises(S3Error) as e:
        await coro  # type: ignore[misc]
    return answer(e.value)


async def put(store: Store, key: str, body: bytes, **kw: object) -> ObjectInfo:
    req = PutRequest(bucket="bk", key=key, **kw)  # type: ignore[arg-type]
    return await store.put_object(req, BytesBody(body))


async def read_all(store: Store, key: str) -> bytes:
    async with await store.open_object("bk", key) as reader:
        return b"".join([c async for c in reader.stream(0, reader.info.size)])


def blob_files(store: Store) -> list[str]:
    root = Path(store.fs.root) / "blobs"  # type: ignore[attr-defined]
    return sorted(p.name for p in root.rglob("*") if p.is_file())


# --- DeleteBucket ---------------------------------------------------------------


async def test_delete_bucket_refusals(store: Store) -> None:
    assert await refusal(store.delete_bucket("nobucket")) == (
        "NoSuchBucket",
        404,
        "The specified bucket does not exist",
        [("BucketName", "nobucket")],
    )
    body = data("kept", 100)
    await put(store, "kept", body)
    upload = await store.uploads.create(NewUpload("bk", "mp", OWNER))
    part, _ = await store.uploads.upload_part(
        PartRequest("bk", "mp", upload.upload_id, 1), BytesBody(data("part", 20))
    )
    blobs = blob_files(store)
    assert await refusal(store.delete_bucket("bk")) == (
        "BucketNotEmpty",
        409,
        "The bucket you tried to delete is not empty",
        [("BucketName", "bk")],
    )
    # Nothing went: the bucket, its object, its upload and the part's blob.
    assert [b.name for b in await store.list_buckets()] == ["bk"]
    assert await read_all(store, "kept") == body
    assert await store.uploads.list_parts(upload.upload_id) == [part]
    assert blob_files(store) == blobs


async def test_delete_bucket_reads_one_object_record_to_refuse(
    tmp_path: Path, runtime: Runtime
) -> None:
    """A bucket of many objects is not scanned whole to find it is not empty."""
    meta = CountingMeta(None)
    store = await Store.open(str(tmp_path / "d"), runtime, inline_max_bytes=0)
    meta.inner = store.core.meta
    store.core.meta = meta
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        for n in range(5):
            await put(store, f"k{n}", data(f"k{n}", 10))
        assert (await refusal(store.delete_bucket("bk")))[0] == "BucketNotEmpty"
        assert meta.scanned == {b"o/bk\x00": 1}
    finally:
        await store.close()


# --- DeleteObjects --------------------------------------------------------------


async def test_delete_objects_if_match_of_a_missing_key_names_it(store: Store) -> None:
    await put(store, "here", data("here", 10))
    outcomes = await store.delete_objects(
        "bk", [DeleteTarget("gone", if_match="*"), DeleteTarget("here", if_match="*")]
    )
    assert outcomes[1] is None
    assert outcomes[0] is not None
    assert answer(outcomes[0]) == (
        "NoSuchKey",
        404,
        "The specified key does not exist.",
        [("Key", "gone")],
    )
    assert await store.get_object_info("bk", "here") is None


# --- CopyObject onto itself -----------------------------------------------------


async def test_copy_onto_itself_checks_the_destination_conditions(store: Store) -> None:
    body = data("self", 300)
    info = await put(store, "k", body, content_type="text/old")
    req = CopyRequest("bk", "k", "bk", "k", conditions=WriteConditions(if_match=info.etag))
    copied = await store.copy_object(req, check_source=lambda _i: None)
    assert copied.blob_ids == info.blob_ids  # the record only
    assert copied.last_modified_ns > info.last_modified_ns
    assert await read_all(store, "k") == body
    other = CopyRequest("bk", "k", "bk", "k", conditions=WriteConditions(if_match="0" * 32))
    assert await refusal(store.copy_object(other, check_source=lambda _i: None)) == (
        "PreconditionFailed",
        412,
        "At least one of the pre-conditions you specified did not hold",
        [("Condition", "If-Match")],
    )
    assert await store.head_object("bk", "k") == copied


async def test_copy_record_of_a_key_deleted_meanwhile_is_no_such_key(store: Store) -> None:
    """The conditions are checked again under the commit lock: a key deleted
    after the early check fails If-Match there, naming the key."""
    info = await put(store, "k", data("raced", 50))
    await store.delete_object("bk", "k")
    req = CopyRequest("bk", "k", "bk", "k", conditions=WriteConditions(if_match="*"))
    assert await refusal(store._copy_record(req, info)) == (
        "NoSuchKey",
        404,
        "The specified key does not exist.",
        [("Key", "k")],
    )
    assert await store.get_object_info("bk", "k") is None


# --- UploadPartCopy -------------------------------------------------------------


async def multipart_source(store: Store, key: str, pieces: list[bytes], **kw: object) -> ObjectInfo:
    upload = await store.uploads.create(NewUpload("bk", key, OWNER, **kw))  # type: ignore[arg-type]
    parts: list[PartInfo] = []
    for n, piece in enumerate(pieces, 1):
        algorithm = upload.checksum_algorithm
        req = PartRequest(
            "bk",
            key,
            upload.upload_id,
            n,
            checksum_algorithm=algorithm,
            checksum_expected=None if algorithm is None else integrity.compute(algorithm, piece),
        )
        parts.append((await store.uploads.upload_part(req, BytesBody(piece)))[0])
    completed = tuple(
        CompletedPart(
            p.part_number,
            p.etag,
            ()
            if p.checksum is None or upload.checksum_algorithm is None
            else ((p.checksum.algorithm, p.checksum.b64),),
        )
        for p in parts
    )
    return await store.uploads.complete(CompleteRequest("bk", key, upload.upload_id, completed))


async def part_upload(store: Store, **kw: object) -> UploadInfo:
    return await store.uploads.create(NewUpload("bk", "dst", OWNER, **kw))  # type: ignore[arg-type]


def whole(info: ObjectInfo) -> tuple[int, int]:
    return 0, info.size


def fixed(span: tuple[int, int]) -> Callable[[ObjectInfo], tuple[int, int]]:
    return lambda _info: span


async def test_part_copy_of_a_damaged_multipart_source_is_refused(store: Store) -> None:
    """A multipart source has no MD5 of its bytes, but its FULL_OBJECT CRC32
    checks a whole copy into an upload of the same algorithm."""
    pieces = [data("p1", MIN_PART), data("p2", MIN_PART + 5), data("p3", 7)]
    source = await multipart_source(
        store, "src", pieces, checksum_algorithm="CRC32", checksum_type="FULL_OBJECT"
    )
    assert source.checksum == ChecksumValue("CRC32", integrity.compute("CRC32", b"".join(pieces)))
    upload = await part_upload(store, checksum_algorithm="CRC32", checksum_type="FULL_OBJECT")
    req = PartCopyRequest("bk", "dst", upload.upload_id, 1, "bk", "src")
    # Undamaged: copied, checked.
    part, answered = await store.upload_part_copy(req, select=whole)
    whole_data = b"".join(pieces)
    assert (part.size, part.etag) == (len(whole_data), hashlib.md5(whole_data).hexdigest())
    assert answered == part.checksum == source.checksum
    # One bit of the second part's blob flipped.
    path = Path(store.fs.root) / blob_path(source.parts[1].blob_id)  # type: ignore[attr-defined]
    damaged = bytearray(path.read_bytes())
    damaged[3] ^= 0x10
    path.write_bytes(bytes(damaged))
    blobs = blob_files(store)
    again = PartCopyRequest("bk", "dst", upload.upload_id, 2, "bk", "src")
    assert await refusal(store.upload_part_copy(again, select=whole)) == (
        "InternalError",
        500,
        "The data of object 'src' is damaged.",
        [],
    )
    assert await store.uploads.list_parts(upload.upload_id) == [part]
    assert blob_files(store) == blobs


async def test_part_copy_of_an_empty_source(store: Store) -> None:
    await put(store, "empty", b"")
    upload = await part_upload(store, checksum_algorithm="SHA256", checksum_type="COMPOSITE")
    req = PartCopyRequest("bk", "dst", upload.upload_id, 1, "bk", "empty")
    part, answered = await store.upload_part_copy(req, select=whole)
    assert (part.size, part.etag) == (0, hashlib.md5(b"").hexdigest())
    assert answered == part.checksum == ChecksumValue("SHA256", hashlib.sha256(b"").digest())
    assert await store.uploads.list_parts(upload.upload_id) == [part]


async def test_part_copy_ranges_across_the_parts_of_a_multipart_source(store: Store) -> None:
    pieces = [data("a", MIN_PART), data("b", MIN_PART + 1), data("c", 9)]
    await multipart_source(store, "src", pieces)
    whole_data = b"".join(pieces)
    upload = await part_upload(store)
    spans = [(0, 1), (MIN_PART - 1, 2), (MIN_PART, MIN_PART + 1), (5, len(whole_data) - 6)]
    for n, (start, length) in enumerate(spans, 1):
        req = PartCopyRequest("bk", "dst", upload.upload_id, n, "bk", "src")
        part, _ = await store.upload_part_copy(req, select=fixed((start, length)))
        piece = whole_data[start : start + length]
        assert (part.size, part.etag) == (length, hashlib.md5(piece).hexdigest()), (start, length)
        assert part.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", piece))


# --- CreateBucket, PutObject, the store itself ----------------------------------


async def test_create_bucket_refusals_name_the_bucket(store: Store) -> None:
    assert await refusal(store.create_bucket("bk", OWNER, "us-east-1")) == (
        "BucketAlreadyOwnedByYou",
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
        [("BucketName", "bk")],
    )
    assert await refusal(store.create_bucket("bk", "SOMEONEELSE", "us-east-1")) == (
        "BucketAlreadyExists",
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all "
        "users of the system. Please select a different name and try again.",
        [("BucketName", "bk")],
    )
    assert [(b.name, b.owner) for b in await store.list_buckets()] == [("bk", OWNER)]


async def test_put_stores_every_standard_header(store: Store) -> None:
    headers = {
        "content_type": "image/png",
        "content_encoding": "br",
        "content_disposition": "inline; filename=x.png",
        "content_language": "en-GB",
        "cache_control": "public, max-age=3600",
        "expires": "Mon, 01 Jan 2035 00:00:00 GMT",
    }
    body = data("headers", 70)
    info = await put(store, "h", body, user_metadata=(("k", "v"),), **headers)
    head = await store.head_object("bk", "h")
    assert head == info
    for name, value in headers.items():
        assert getattr(head, name) == value, name
    assert head.user_metadata == (("k", "v"),)
    assert head.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", body))


async def test_put_if_match_of_a_missing_key_names_it(store: Store) -> None:
    req = PutRequest("bk", "nokey", conditions=WriteConditions(if_match="*"))
    assert await refusal(store.put_object(req, BytesBody(data("x", 5)))) == (
        "NoSuchKey",
        404,
        "The specified key does not exist.",
        [("Key", "nokey")],
    )
    assert blob_files(store) == []


async def test_put_if_match_of_a_key_deleted_while_the_body_is_read(store: Store) -> None:
    """The condition is checked again at commit: the key went meanwhile."""
    old = await put(store, "k", data("old", 10))
    gate = trio.Event()
    body = GatedBody(data("new", 10), gate)
    req = PutRequest("bk", "k", conditions=WriteConditions(if_match=old.etag))
    outcome: list[Answer] = []

    async def put_it() -> None:
        outcome.append(await refusal(store.put_object(req, body)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(put_it)
        await body.started.wait()
        await store.delete_object("bk", "k")
        gate.set()
    assert outcome == [("NoSuchKey", 404, "The specified key does not exist.", [("Key", "k")])]
    assert await store.get_object_info("bk", "k") is None
    assert blob_files(store) == []


async def test_put_with_a_header_checksum_takes_no_trailer(store: Store) -> None:
    body = data("both", 10)
    digest = integrity.compute("CRC32", body)
    req = PutRequest("bk", "k", checksum_algorithm="CRC32", checksum_expected=digest)
    with pytest.raises(AssertionError):
        await store.put_object(req, BytesBody(body), checksum_at_end=lambda: digest)
    assert await store.get_object_info("bk", "k") is None


async def test_store_open_lays_out_the_data_directory(tmp_path: Path, runtime: Runtime) -> None:
    data_dir = tmp_path / "fresh"
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        assert store.runtime is runtime
        assert sorted(os.listdir(data_dir)) == ["blobs", "meta", "tmp"]
        assert "CURRENT" in os.listdir(data_dir / "meta")  # LevelDB lives in meta/
        info = await store.meta.get(records.STORE_INFO_KEY)
        assert info is not None
        created = records.decode_store_info(info).created_ns
        assert 0 < created < runtime.now_ns()
    finally:
        await store.close()
    # Reopened: the same creation time.
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        info = await store.meta.get(records.STORE_INFO_KEY)
        assert info is not None and records.decode_store_info(info).created_ns == created
    finally:
        await store.close()


async def test_store_open_cancelled_in_recovery_closes_its_metadata(
    tmp_path: Path, runtime: Runtime
) -> None:
    """The metadata store is closed even when the open is cancelled (its
    LevelDB lock released: the next open of the directory succeeds)."""
    data_dir = tmp_path / "d"
    (data_dir / "meta").mkdir(parents=True)
    entered = trio.Event()

    class StuckListing(RecordingFS):
        async def listdir(self, path: str) -> list[str]:
            if path == "tmp":
                entered.set()
                await trio.sleep_forever()
            return await self.inner.listdir(path)

    meta = ClosingMeta(await LevelDBMetaStore.open(str(data_dir / "meta")))
    fs = StuckListing(RealFileSystem(str(data_dir)), [])
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def open_it() -> None:
                await Store.open(str(data_dir), runtime, fs=fs, meta=meta, inline_max_bytes=0)

            nursery.start_soon(open_it)
            await entered.wait()
            scope.cancel()
    assert meta.closed
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    await store.close()


# --- GetObject of a blob that cannot be opened ----------------------------------


async def test_open_object_of_a_lost_blob_is_internal_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    info = await put(store, "lost", data("lost", 30))
    (Path(store.fs.root) / blob_path(info.blob_id)).unlink()  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        assert await refusal(store.open_object("bk", "lost")) == (
            "InternalError",
            500,
            "The data of object 'lost' is missing.",
            [],
        )
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, f"object bk/lost: blob {info.blob_id} is missing; refusing to serve it")
    ]


async def test_open_object_that_fails_otherwise_unpins(tmp_path: Path, runtime: Runtime) -> None:
    """A read error other than a missing file is the answer, and leaves no pin
    (a delete then removes the blob at once)."""
    data_dir = tmp_path / "d"
    (data_dir / "meta").mkdir(parents=True)
    failing: set[str] = set()

    class FailingOpen(RecordingFS):
        async def open_read(self, path: str) -> ReadableFile:
            if path in failing:
                raise PermissionError(13, "Permission denied", path)
            return await self.inner.open_read(path)

    store = await Store.open(
        str(data_dir),
        runtime,
        fs=FailingOpen(RealFileSystem(str(data_dir)), []),
        inline_max_bytes=0,
    )
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        info = await put(store, "k", data("denied", 12))
        failing.add(blob_path(info.blob_id))
        with pytest.raises(PermissionError):
            await store.open_object("bk", "k")
        await store.delete_object("bk", "k")
        assert not (data_dir / blob_path(info.blob_id)).exists()
    finally:
        await store.close()


# --- CopyObject -----------------------------------------------------------------


async def test_copy_keeps_the_sources_algorithm_and_checks_it_with_its_record(
    store: Store,
) -> None:
    body = data("src", 90)
    source = await put(store, "src", body, checksum_algorithm="SHA256")
    seen: list[ObjectInfo] = []
    req = CopyRequest("bk", "src", "bk", "dst")
    copied = await store.copy_object(req, check_source=seen.append)
    assert seen == [source]
    assert copied.checksum == ChecksumValue("SHA256", hashlib.sha256(body).digest())
    assert copied.last_modified_ns > source.last_modified_ns
    assert copied.blob_id != source.blob_id
    assert await store.head_object("bk", "dst") == copied


async def test_copy_of_a_multipart_source_is_a_single_part_object(store: Store) -> None:
    pieces = [data("m1", MIN_PART), data("m2", MIN_PART + 2), data("m3", 4)]
    source = await multipart_source(store, "src", pieces)
    whole_data = b"".join(pieces)
    assert source.etag.endswith("-3")
    await store.create_bucket("other", OWNER, "us-east-1")
    req = CopyRequest("bk", "src", "other", "dst")
    copied = await store.copy_object(req, check_source=lambda _i: None)
    assert (copied.bucket, copied.key, copied.size) == ("other", "dst", len(whole_data))
    assert copied.etag == hashlib.md5(whole_data).hexdigest()
    assert copied.parts == () and copied.upload_id == ""
    assert copied.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", whole_data))
    assert await store.head_object("other", "dst") == copied
    async with await store.open_object("other", "dst") as reader:
        assert b"".join([c async for c in reader.stream(0, len(whole_data))]) == whole_data


async def test_copy_of_a_damaged_multipart_source_is_refused(store: Store) -> None:
    pieces = [data("d1", MIN_PART), data("d2", 9)]
    source = await multipart_source(
        store, "src", pieces, checksum_algorithm="CRC32C", checksum_type="FULL_OBJECT"
    )
    path = Path(store.fs.root) / blob_path(source.parts[0].blob_id)  # type: ignore[attr-defined]
    damaged = bytearray(path.read_bytes())
    damaged[7] ^= 0x01
    path.write_bytes(bytes(damaged))
    blobs = blob_files(store)
    req = CopyRequest("bk", "src", "bk", "dst")
    assert await refusal(store.copy_object(req, check_source=lambda _i: None)) == (
        "InternalError",
        500,
        "The data of object 'src' is damaged.",
        [],
    )
    assert await store.get_object_info("bk", "dst") is None
    assert blob_files(store) == blobs


async def test_copy_of_a_source_without_a_stored_checksum(store: Store) -> None:
    """Records written before checksums were stored have none: the copy
    computes the default algorithm."""
    body = data("old", 33)
    info = await put(store, "old", body)
    bare = dataclasses.replace(info, checksum=None)
    await store.meta.write(
        [(records.object_key("bk", "old"), records.encode_object(bare))], [], sync=True
    )
    copied = await store.copy_object(
        CopyRequest("bk", "old", "bk", "new"), check_source=lambda _i: None
    )
    assert copied.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", body))
    assert copied.etag == hashlib.md5(body).hexdigest()


# --- ListObjects reads in growing batches ---------------------------------------


async def test_iter_objects_reads_few_records_first_then_more(
    tmp_path: Path, runtime: Runtime
) -> None:
    limits: list[int | None] = []

    class Limits(MetaWrapper):
        def scan(
            self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
        ) -> AsyncIterator[tuple[bytes, bytes]]:
            if prefix.startswith(b"o/"):
                limits.append(limit)
            return self.inner.scan(prefix, start_after, limit)

    store = await Store.open(str(tmp_path / "d"), runtime, inline_max_bytes=0)
    store.meta = Limits(store.meta)
    store.core.meta = store.meta
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        keys = [f"k{n:03d}" for n in range(200)]
        for key in keys:
            await store.meta.write(
                [(records.object_key("bk", key), records.encode_object(object_info(key)))],
                [],
                sync=False,
            )
        # A listing that stops after 3 keys reads 8 records.
        seen = []
        async for info in store.iter_objects("bk"):
            seen.append(info.key)
            if len(seen) == 3:
                break
        assert seen == keys[:3] and limits == [8]
        limits.clear()
        assert [i.key async for i in store.iter_objects("bk")] == keys
        assert limits == [8, 32, 128, 256]
    finally:
        await store.close()


# --- copy.py: SpanBody and the digests a copy checks ----------------------------


class Chunks:
    """A `_Stream` that yields the given chunks (the same objects) and knows
    whether its generator was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    async def stream(self, start: int, length: int, chunk_bytes: int) -> AsyncIterator[bytes]:
        try:
            for chunk in self.chunks:
                yield chunk
        finally:
            self.closed = True


class PlainIterator:
    """An async iterator that is no generator (it has no aclose)."""

    def __init__(self) -> None:
        self.done = False

    def __aiter__(self) -> PlainIterator:
        return self

    async def __anext__(self) -> bytes:
        if self.done:
            raise StopAsyncIteration
        self.done = True
        return b"plain"


async def test_span_body_hands_whole_chunks_over_without_a_copy() -> None:
    chunks = [data("c1", 8), data("c2", 8), data("c3", 20)]
    body = SpanBody(Chunks(chunks), 0, 36, chunk_bytes=8)
    assert await body.read(8) is chunks[0]  # exactly max_bytes: the chunk itself
    assert await body.read(100) is chunks[1]
    assert await body.read(8) == chunks[2][:8]  # larger: split
    assert await body.read(8) == chunks[2][8:16]
    assert await body.read(8) == chunks[2][16:]
    assert await body.read(8) == b""
    with pytest.raises(AssertionError):
        await body.read(0)
    await body.aclose()


async def test_span_body_aclose_closes_the_readers_generator() -> None:
    source = Chunks([data("g1", 4), data("g2", 4)])
    body = SpanBody(source, 0, 8)
    assert await body.read(4) == source.chunks[0]
    assert not source.closed
    await body.aclose()
    assert source.closed
    # A stream that is no generator has nothing to close.

    class Plain:
        def stream(self, start: int, length: int, chunk_bytes: int) -> AsyncIterator[bytes]:
            return PlainIterator()

    plain = SpanBody(Plain(), 0, 5)
    assert await plain.read(10) == b"plain"
    await plain.aclose()


def test_source_checksum_only_for_a_whole_full_object_checksum_of_the_algorithm() -> None:
    body = data("sum", 40)
    crc = ChecksumValue("CRC32", integrity.compute("CRC32", body))
    info = dataclasses.replace(object_info("k"), size=40, checksum=crc)
    assert source_checksum(info, 0, 40, "CRC32") == crc.value
    assert source_checksum(info, 0, 40, "CRC32C") is None  # another algorithm
    assert source_checksum(info, 0, 39, "CRC32") is None  # a range
    assert source_checksum(info, 1, 39, "CRC32") is None
    composite = dataclasses.replace(
        info, checksum=ChecksumValue("CRC32", crc.value, "COMPOSITE", 2)
    )
    assert source_checksum(composite, 0, 40, "CRC32") is None
    assert source_checksum(dataclasses.replace(info, checksum=None), 0, 40, "CRC32") is None


# --- require_bucket and a store without a part minimum ----------------------------


async def test_require_bucket(store: Store) -> None:
    await store.require_bucket("bk")
    assert await refusal(store.require_bucket("nobucket")) == (
        "NoSuchBucket",
        404,
        "The specified bucket does not exist",
        [("BucketName", "nobucket")],
    )


async def test_a_store_without_a_part_minimum_takes_one_byte_parts(
    tmp_path: Path, runtime: Runtime
) -> None:
    s = await Store.open(str(tmp_path / "nomin"), runtime, min_part_bytes=0, inline_max_bytes=0)
    try:
        await s.create_bucket("bk", OWNER, "us-east-1")
        upload = await s.uploads.create(NewUpload("bk", "mp", OWNER))
        body = data("tiny parts", 3)
        completed = []
        for number, byte in enumerate(body, start=1):
            part, _ = await s.uploads.upload_part(
                PartRequest("bk", "mp", upload.upload_id, number), BytesBody(bytes([byte]))
            )
            completed.append(CompletedPart(number, part.etag))
        info = await s.uploads.complete(
            CompleteRequest("bk", "mp", upload.upload_id, tuple(completed))
        )
        assert info.size == 3
        assert await read_all(s, "mp") == body
    finally:
        await s.close()
