"""Store: the exact answers of DeleteBucket, DeleteObjects and the copies
(codes, messages, error details), what a refusal leaves, and UploadPartCopy
over ranges and sources it can and cannot check."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.runtime import Runtime
from hamster.s3.conditional import WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage import ObjectInfo, PutRequest, Store
from hamster.storage.blobs import blob_path
from hamster.storage.copy import CopyRequest, PartCopyRequest
from hamster.storage.multipart import CompleteRequest, NewUpload, PartRequest
from hamster.storage.parts import CompletedPart
from hamster.storage.records import PartInfo, UploadInfo
from hamster.storage.store import DeleteTarget

from .bodies import BytesBody
from .test_write_order import MetaWrapper

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


@pytest.fixture
async def store(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    s = await Store.open(str(tmp_path / "data"), runtime, min_part_bytes=MIN_PART)
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
    store = await Store.open(str(tmp_path / "d"), runtime)
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
