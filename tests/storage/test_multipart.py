"""Store: multipart uploads (parts, completion without copying, abort, reads
across part boundaries, blob lifetimes, recovery, write order)."""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.runtime import Runtime
from hamster.s3.conditional import WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store
from hamster.storage.blobs import blob_dir, blob_path
from hamster.storage.copy import CopyRequest, NewMetadata
from hamster.storage.multipart import CompleteRequest, NewUpload, PartRequest
from hamster.storage.parts import CompletedPart
from hamster.storage.records import ObjectInfo, PartInfo, StandardHeaders, UploadInfo
from hamster.storage.recovery import recover_by_scan
from tests.patterns import pattern, split

from .bodies import BytesBody
from .conftest import make_runtime
from .test_write_order import open_recorded

OWNER = "AKIDOWNER"
MIN_PART = 8

# ``If-None-Match: *``: the key must not exist.
ONLY_NEW = WriteConditions(if_none_match="*")


def if_match(etag: str) -> WriteConditions:
    return WriteConditions(if_match=etag)


@pytest.fixture
async def mp(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    s = await Store.open(
        str(tmp_path / "data"), runtime, min_part_bytes=MIN_PART, inline_max_bytes=0
    )
    await s.create_bucket("bk", OWNER, "us-east-1")
    try:
        yield s
    finally:
        await s.close()


async def create(store: Store, key: str = "k", **kw: object) -> UploadInfo:
    return await store.uploads.create(NewUpload(bucket="bk", key=key, initiator=OWNER, **kw))  # type: ignore[arg-type]


async def part(
    store: Store, upload: UploadInfo, number: int, data: bytes, **kw: object
) -> PartInfo:
    """Upload a part; with the upload's checksum, as an SDK would send it."""
    algorithm = upload.checksum_algorithm
    if algorithm is not None and "checksum_algorithm" not in kw:
        kw["checksum_algorithm"] = algorithm
        kw["checksum_expected"] = integrity.compute(algorithm, data)
    req = PartRequest(
        bucket="bk",
        key=upload.key,
        upload_id=upload.upload_id,
        part_number=number,
        **kw,  # type: ignore[arg-type]
    )
    info, _answer = await store.uploads.upload_part(req, BytesBody(data))
    return info


def completed(parts: Sequence[PartInfo], with_checksums: bool = False) -> tuple[CompletedPart, ...]:
    out = []
    for p in parts:
        sums: tuple[tuple[str, str], ...] = ()
        if with_checksums:
            assert p.checksum is not None
            sums = ((p.checksum.algorithm, p.checksum.b64),)
        out.append(CompletedPart(p.part_number, p.etag, sums))
    return tuple(out)


async def complete(
    store: Store, upload: UploadInfo, parts: Sequence[PartInfo], **kw: object
) -> ObjectInfo:
    with_checksums = upload.checksum_algorithm is not None
    req = CompleteRequest(
        bucket="bk",
        key=upload.key,
        upload_id=upload.upload_id,
        parts=completed(parts, with_checksums),
        **kw,  # type: ignore[arg-type]
    )
    return await store.uploads.complete(req)


async def read(store: Store, key: str, start: int = 0, length: int | None = None) -> bytes:
    async with await store.open_object("bk", key) as reader:
        if length is None:
            length = reader.info.size - start
        return b"".join([c async for c in reader.stream(start, length, chunk_bytes=5)])


def blob_exists(store: Store, blob_id: str) -> bool:
    return (Path(store.fs.root) / blob_path(blob_id)).exists()  # type: ignore[attr-defined]


def blob_count(store: Store) -> int:
    root = Path(store.fs.root) / "blobs"  # type: ignore[attr-defined]
    return sum(1 for p in root.rglob("*") if p.is_file())


async def code_of(coro: object) -> str:
    with pytest.raises(S3Error) as e:
        await coro  # type: ignore[misc]
    return e.value.code


# Position-dependent bytes (tests/patterns.py), parts of unequal sizes: a
# byte or part read from a wrong offset, or parts swapped, show.
DATA = pattern(25, "store-multipart")
PIECES = split(DATA, [10, 12, 3])


async def three_part_object(store: Store, key: str = "k", **kw: object) -> ObjectInfo:
    upload = await create(store, key, **kw)
    parts = [await part(store, upload, i + 1, d) for i, d in enumerate(PIECES)]
    return await complete(store, upload, parts)


# --- the happy path -----------------------------------------------------------


async def test_complete_makes_the_object_without_copying(mp: Store) -> None:
    upload = await create(mp, content_type="text/plain", user_metadata=(("a", "1"),))
    parts = [await part(mp, upload, n, d) for n, d in zip((1, 2, 5), PIECES, strict=True)]
    before = blob_count(mp)
    info = await complete(mp, upload, parts)
    assert blob_count(mp) == before  # no new blob: the parts are the object
    assert info.size == len(DATA)
    md5s = b"".join(hashlib.md5(d).digest() for d in PIECES)
    assert info.etag == hashlib.md5(md5s).hexdigest() + "-3"
    assert info.content_type == "text/plain" and info.user_metadata == (("a", "1"),)
    assert info.blob_id == "" and [p.part_number for p in info.parts] == [1, 2, 5]
    assert await read(mp, "k") == DATA
    head = await mp.head_object("bk", "k")
    assert head == info
    # The upload is gone.
    assert await code_of(mp.uploads.get("bk", "k", upload.upload_id)) == "NoSuchUpload"
    assert await mp.uploads.list_parts(upload.upload_id) == []


async def test_every_range_across_part_boundaries(mp: Store) -> None:
    await three_part_object(mp)
    async with await mp.open_object("bk", "k") as reader:
        for start in range(len(DATA) + 1):
            for length in range(len(DATA) - start + 1):
                got = b"".join([c async for c in reader.stream(start, length, chunk_bytes=4)])
                assert got == DATA[start : start + length], (start, length)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6), data=st.data())
def test_reads_match_the_concatenation(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], data: st.DataObject
) -> None:
    sizes = [max(s, MIN_PART) for s in sizes[:-1]] + sizes[-1:]
    whole = pattern(sum(sizes), "concatenation")
    pieces = split(whole, sizes)
    start = data.draw(st.integers(0, len(whole)))
    length = data.draw(st.integers(0, len(whole) - start))
    chunk = data.draw(st.integers(1, 50))

    async def run() -> None:
        store = await Store.open(
            str(tmp_path_factory.mktemp("hyp")),
            make_runtime(),
            min_part_bytes=MIN_PART,
            inline_max_bytes=0,
        )
        try:
            await store.create_bucket("bk", OWNER, "us-east-1")
            upload = await create(store)
            parts = [await part(store, upload, i + 1, p) for i, p in enumerate(pieces)]
            await complete(store, upload, parts)
            async with await store.open_object("bk", "k") as reader:
                got = b"".join([c async for c in reader.stream(start, length, chunk)])
            assert got == whole[start : start + length]
        finally:
            await store.close()

    trio.run(run)


# --- checksums ----------------------------------------------------------------


async def test_no_algorithm_gives_crc64nvme_full_object(mp: Store) -> None:
    info = await three_part_object(mp)
    assert info.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", DATA))


async def test_composite_crc32(mp: Store) -> None:
    info = await three_part_object(mp, checksum_algorithm="CRC32", checksum_type="COMPOSITE")
    raw = b"".join(zlib.crc32(d).to_bytes(4, "big") for d in PIECES)
    assert info.checksum == ChecksumValue(
        "CRC32", zlib.crc32(raw).to_bytes(4, "big"), "COMPOSITE", 3
    )
    assert info.checksum.text.endswith("-3")
    assert (await mp.head_object("bk", "k")).checksum == info.checksum


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
async def test_full_object_crc_is_the_crc_of_the_object(mp: Store, algorithm: str) -> None:
    info = await three_part_object(mp, checksum_algorithm=algorithm, checksum_type="FULL_OBJECT")
    assert info.checksum == ChecksumValue(algorithm, integrity.compute(algorithm, DATA))


async def test_part_checksum_of_another_algorithm_is_refused(mp: Store) -> None:
    upload = await create(mp, checksum_algorithm="CRC32", checksum_type="COMPOSITE")
    req = PartRequest(
        bucket="bk",
        key="k",
        upload_id=upload.upload_id,
        part_number=1,
        checksum_algorithm="SHA256",
        checksum_expected=hashlib.sha256(b"x").digest(),
    )
    with pytest.raises(S3Error) as e:
        await mp.uploads.upload_part(req, BytesBody(b"x"))
    assert e.value.code == "InvalidRequest"
    assert "expected checksum Type: CRC32, actual checksum Type: SHA256" in e.value.text
    # A COMPOSITE upload needs the part checksum.
    bare = PartRequest(bucket="bk", key="k", upload_id=upload.upload_id, part_number=1)
    with pytest.raises(S3Error) as e:
        await mp.uploads.upload_part(bare, BytesBody(b"x"))
    assert "actual checksum Type: null" in e.value.text
    assert blob_count(mp) == 0


async def test_part_with_its_own_checksum_in_an_upload_without_one(mp: Store) -> None:
    upload = await create(mp)
    req = PartRequest(
        bucket="bk",
        key="k",
        upload_id=upload.upload_id,
        part_number=1,
        checksum_algorithm="SHA1",
        checksum_expected=hashlib.sha1(b"hello").digest(),
    )
    info, answer = await mp.uploads.upload_part(req, BytesBody(b"hello"))
    assert answer == ChecksumValue("SHA1", hashlib.sha1(b"hello").digest())
    # What the part keeps is CRC64NVME, for the object's default checksum.
    assert info.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", b"hello"))
    bad = PartRequest(
        bucket="bk",
        key="k",
        upload_id=upload.upload_id,
        part_number=2,
        checksum_algorithm="SHA1",
        checksum_expected=hashlib.sha1(b"other").digest(),
    )
    assert await code_of(mp.uploads.upload_part(bad, BytesBody(b"hello"))) == "BadDigest"


async def test_whole_object_checksum_on_complete(mp: Store) -> None:
    upload = await create(mp, checksum_algorithm="CRC32C", checksum_type="FULL_OBJECT")
    parts = [await part(mp, upload, i + 1, d) for i, d in enumerate(PIECES)]
    wrong = ChecksumValue("CRC32C", b"\x00\x00\x00\x01").b64
    assert (
        await code_of(complete(mp, upload, parts, checksum_value=("CRC32C", wrong))) == "BadDigest"
    )
    assert await code_of(complete(mp, upload, parts, checksum_type="COMPOSITE")) == "InvalidRequest"
    assert await code_of(complete(mp, upload, parts, object_size=1)) == "InvalidRequest"
    right = ChecksumValue("CRC32C", integrity.compute("CRC32C", DATA)).b64
    info = await complete(
        mp, upload, parts, checksum_value=("CRC32C", right), object_size=len(DATA)
    )
    assert info.checksum is not None and info.checksum.b64 == right


# --- refusals -----------------------------------------------------------------


async def test_complete_refusals_leave_the_upload(mp: Store) -> None:
    upload = await create(mp)
    first, second, third = split(pattern(MIN_PART + 2, "refusals"), [MIN_PART, 1, 1])
    p1 = await part(mp, upload, 1, first)
    small = await part(mp, upload, 2, second)
    p3 = await part(mp, upload, 3, third)
    bad_etag = PartInfo(1, p1.blob_id, p1.size, "0" * 32)
    missing = PartInfo(4, "", 0, p1.etag)
    assert await code_of(complete(mp, upload, [bad_etag, p3])) == "InvalidPart"
    assert await code_of(complete(mp, upload, [p1, missing])) == "InvalidPart"
    assert await code_of(complete(mp, upload, [p3, p1])) == "InvalidPartOrder"
    assert await code_of(complete(mp, upload, [p1, p1])) == "InvalidPartOrder"
    assert await code_of(complete(mp, upload, [p1, small, p3])) == "EntityTooSmall"
    assert await code_of(complete(mp, upload, [])) == "MalformedXML"
    assert len(await mp.uploads.list_parts(upload.upload_id)) == 3
    # The last part may be small; unused parts go.
    info = await complete(mp, upload, [p1, small])
    assert await read(mp, "k") == first + second
    assert not blob_exists(mp, p3.blob_id)
    assert [p.blob_id for p in info.parts] == [p1.blob_id, small.blob_id]


async def test_unknown_upload(mp: Store) -> None:
    upload = await create(mp)
    other = UploadInfo("bk", "other-key", upload.upload_id, 0, OWNER)
    assert await code_of(part(mp, other, 1, b"x")) == "NoSuchUpload"
    assert await code_of(mp.uploads.get("bk", "k", "not-an-id")) == "NoSuchUpload"
    assert await code_of(mp.uploads.get("nobucket", "k", upload.upload_id)) == "NoSuchBucket"
    assert await code_of(mp.uploads.abort("bk", "k", "f" * 32)) == "NoSuchUpload"


async def test_conditional_complete(mp: Store) -> None:
    await three_part_object(mp)
    upload = await create(mp)
    p = await part(mp, upload, 1, b"new")
    assert await code_of(complete(mp, upload, [p], conditions=ONLY_NEW)) == "PreconditionFailed"
    other = if_match("0" * 32)
    assert await code_of(complete(mp, upload, [p], conditions=other)) == "PreconditionFailed"
    current = await mp.head_object("bk", "k")
    await complete(mp, upload, [p], conditions=if_match(current.etag))
    assert await read(mp, "k") == b"new"
    upload2 = await create(mp, "fresh")
    p2 = await part(mp, upload2, 1, b"n")
    assert await code_of(complete(mp, upload2, [p2], conditions=if_match("*"))) == "NoSuchKey"
    await complete(mp, upload2, [p2], conditions=ONLY_NEW)


async def test_repeated_complete_answers_the_same_success(mp: Store) -> None:
    """An SDK retries a Complete whose response was lost: the same upload and
    parts answer the object that Complete made, and nothing changes."""
    upload = await create(mp, "retried")
    parts = [await part(mp, upload, i + 1, d) for i, d in enumerate(PIECES)]
    first = await complete(mp, upload, parts)
    assert first.upload_id == upload.upload_id
    blobs = blob_count(mp)
    await mp.uploads.check_completable("bk", "retried", upload.upload_id)  # body worth reading
    again = await complete(mp, upload, parts)
    assert again == first
    assert await mp.head_object("bk", "retried") == first
    assert blob_count(mp) == blobs and await read(mp, "retried") == DATA


async def test_repeated_complete_with_other_parts_is_no_such_upload(mp: Store) -> None:
    upload = await create(mp, "retried")
    parts = [await part(mp, upload, i + 1, d) for i, d in enumerate(PIECES)]
    await complete(mp, upload, parts)
    assert await code_of(complete(mp, upload, parts[:2])) == "NoSuchUpload"
    assert await code_of(complete(mp, upload, [parts[0], parts[2]])) == "NoSuchUpload"
    wrong_etag = CompleteRequest(
        bucket="bk",
        key="retried",
        upload_id=upload.upload_id,
        parts=tuple(CompletedPart(p.part_number, "0" * 32) for p in parts),
    )
    assert await code_of(mp.uploads.complete(wrong_etag)) == "NoSuchUpload"
    # Another upload's id, or the same id at another key: no match either.
    other = UploadInfo("bk", "elsewhere", upload.upload_id, 0, OWNER)
    assert await code_of(complete(mp, other, parts)) == "NoSuchUpload"


async def test_repeated_complete_after_the_key_was_written_is_no_such_upload(
    mp: Store,
) -> None:
    upload = await create(mp, "retried")
    parts = [await part(mp, upload, i + 1, d) for i, d in enumerate(PIECES)]
    await complete(mp, upload, parts)
    await mp.put_object(PutRequest("bk", "retried"), BytesBody(b"overwritten"))
    assert await code_of(complete(mp, upload, parts)) == "NoSuchUpload"
    check = mp.uploads.check_completable("bk", "retried", upload.upload_id)
    assert await code_of(check) == "NoSuchUpload"
    assert await code_of(mp.uploads.check_completable("bk", "retried", "")) == "NoSuchUpload"
    # Made by the upload again, then copied onto itself (record only): a copy
    # is no upload's result either.
    upload = await create(mp, "copied")
    parts = [await part(mp, upload, i + 1, d) for i, d in enumerate(PIECES)]
    await complete(mp, upload, parts)
    headers = StandardHeaders(
        content_type="text/replaced",
        content_encoding=None,
        content_disposition=None,
        content_language=None,
        cache_control=None,
        expires=None,
    )
    copy = CopyRequest("bk", "copied", "bk", "copied", metadata=NewMetadata(headers))
    await mp.copy_object(copy, check_source=lambda _info: None)
    assert (await mp.head_object("bk", "copied")).upload_id == ""
    assert await code_of(complete(mp, upload, parts)) == "NoSuchUpload"
    # Deleted since: NoSuchUpload too.
    upload = await create(mp, "deleted")
    parts = [await part(mp, upload, 1, b"only")]
    await complete(mp, upload, parts)
    await mp.delete_object("bk", "deleted")
    assert await code_of(complete(mp, upload, parts)) == "NoSuchUpload"


# --- blob lifetimes -----------------------------------------------------------


async def test_reupload_replaces_the_part_and_removes_its_blob(mp: Store) -> None:
    upload = await create(mp)
    first = await part(mp, upload, 1, b"first")
    second = await part(mp, upload, 1, b"second")
    assert not blob_exists(mp, first.blob_id) and blob_exists(mp, second.blob_id)
    assert await mp.uploads.list_parts(upload.upload_id) == [second]


async def test_overwrite_and_delete_remove_every_part_blob(mp: Store) -> None:
    info = await three_part_object(mp)
    assert all(blob_exists(mp, b) for b in info.blob_ids)
    single = await mp.put_object(PutRequest(bucket="bk", key="k"), BytesBody(b"single"))
    assert not any(blob_exists(mp, b) for b in info.blob_ids)
    again = await three_part_object(mp)
    assert not blob_exists(mp, single.blob_id)
    await mp.delete_object("bk", "k")
    assert not any(blob_exists(mp, b) for b in again.blob_ids)
    assert blob_count(mp) == 0


async def test_a_reader_of_a_multipart_object_outlives_an_overwrite(mp: Store) -> None:
    """Later parts are opened only when the stream reaches them; the store pins
    them, so an overwrite or delete meanwhile cannot take them away."""
    info = await three_part_object(mp)
    async with await mp.open_object("bk", "k") as reader:
        stream = reader.stream(0, reader.info.size, chunk_bytes=5)
        got = [await anext(stream)]  # part 1 is open; parts 2 and 3 are not yet
        await mp.put_object(PutRequest(bucket="bk", key="k"), BytesBody(b"single"))
        await mp.delete_object("bk", "k")
        assert all(blob_exists(mp, b) for b in info.blob_ids)
        got += [chunk async for chunk in stream]
    assert b"".join(got) == DATA
    # The reader is closed: the pinned blobs went with it.
    assert not any(blob_exists(mp, b) for b in info.blob_ids)
    assert blob_count(mp) == 0


async def test_abort_removes_records_and_blobs(mp: Store) -> None:
    upload = await create(mp)
    await part(mp, upload, 1, b"one")
    await part(mp, upload, 2, b"two")
    await mp.uploads.abort("bk", "k", upload.upload_id)
    assert blob_count(mp) == 0
    assert await mp.uploads.list_parts(upload.upload_id) == []
    assert await code_of(part(mp, upload, 3, b"x")) == "NoSuchUpload"


async def test_part_racing_an_abort_leaves_nothing(mp: Store) -> None:
    upload = await create(mp)
    gate = trio.Event()

    class SlowBody:
        sent = False

        async def read(self, max_bytes: int) -> bytes:
            if not self.sent:
                self.sent = True
                return b"late"
            await gate.wait()
            return b""

    req = PartRequest(bucket="bk", key="k", upload_id=upload.upload_id, part_number=1)
    async with trio.open_nursery() as nursery:

        async def upload_it() -> None:
            assert await code_of(mp.uploads.upload_part(req, SlowBody())) == "NoSuchUpload"

        nursery.start_soon(upload_it)
        await trio.testing.wait_all_tasks_blocked()
        await mp.uploads.abort("bk", "k", upload.upload_id)
        gate.set()
    assert blob_count(mp) == 0


async def test_delete_bucket_takes_its_uploads_along(mp: Store) -> None:
    upload = await create(mp)
    await part(mp, upload, 1, b"p")
    await mp.delete_bucket("bk")
    assert blob_count(mp) == 0
    await mp.create_bucket("bk", OWNER, "us-east-1")
    assert [u async for u in mp.uploads.iter_uploads("bk")] == []
    assert await code_of(mp.uploads.get("bk", "k", upload.upload_id)) == "NoSuchUpload"


async def test_bucket_with_a_multipart_object_is_not_empty(mp: Store) -> None:
    await three_part_object(mp)
    assert await code_of(mp.delete_bucket("bk")) == "BucketNotEmpty"


# --- listing ------------------------------------------------------------------


async def test_list_parts_pages(mp: Store) -> None:
    upload = await create(mp)
    for n in (3, 1, 10000, 7):
        await part(mp, upload, n, b"%d" % n)
    numbers = [p.part_number for p in await mp.uploads.list_parts(upload.upload_id)]
    assert numbers == [1, 3, 7, 10000]
    page = await mp.uploads.list_parts(upload.upload_id, after=3, limit=2)
    assert [p.part_number for p in page] == [7, 10000]
    assert await mp.uploads.list_parts(upload.upload_id, after=10000) == []


async def test_iter_uploads_order_and_markers(mp: Store) -> None:
    made = [await create(mp, key) for key in ("b", "a", "b", "c/d", "a")]
    order = sorted((u.key, u.upload_id) for u in made)
    listed = [(u.key, u.upload_id) async for u in mp.uploads.iter_uploads("bk")]
    assert listed == order
    after_a = [(u.key, u.upload_id) async for u in mp.uploads.iter_uploads("bk", key_marker="a")]
    assert after_a == [x for x in order if x[0] > "a"]
    first_b = order[2][1]
    after_b1 = [
        (u.key, u.upload_id)
        async for u in mp.uploads.iter_uploads("bk", key_marker="b", upload_id_marker=first_b)
    ]
    assert after_b1 == order[3:]
    prefixed = [u.key async for u in mp.uploads.iter_uploads("bk", prefix="c/")]
    assert prefixed == ["c/d"]


# --- recovery -----------------------------------------------------------------


async def test_the_full_cross_check_keeps_live_part_blobs(tmp_path: Path, runtime: Runtime) -> None:
    """`recover_by_scan` (a format-1 store's last recovery, and fsck's check):
    an orphan no start finds any more is removed, every part blob is kept."""
    data_dir = str(tmp_path / "d")
    store = await Store.open(data_dir, runtime, min_part_bytes=MIN_PART, inline_max_bytes=0)
    await store.create_bucket("bk", OWNER, "us-east-1")
    obj = await three_part_object(store, "done")
    upload = await create(store, "open")
    live = await part(store, upload, 1, b"in progress")
    await store.close()
    orphan = "ab" + "1" * 30
    (tmp_path / "d" / "blobs" / "ab").mkdir(exist_ok=True)
    (tmp_path / "d" / blob_path(orphan)).write_bytes(b"crashed before commit")

    store = await Store.open(data_dir, runtime, min_part_bytes=MIN_PART, inline_max_bytes=0)
    try:
        assert store.recovery.orphans_removed == 0  # a start does not look for it
        report = await recover_by_scan(store.fs, store.meta)
        assert report.orphans_removed == 1
        assert report.blobs_kept == 4
        assert report.missing == []
        assert await read(store, "done") == DATA
        assert blob_exists(store, live.blob_id)
        assert all(blob_exists(store, b) for b in obj.blob_ids)
        p2 = await part(store, upload, 2, b"!")
        await complete(store, upload, [live, p2])
        assert await read(store, "open") == b"in progress!"
    finally:
        await store.close()


async def test_the_full_cross_check_reports_a_missing_part_and_it_is_never_served(
    tmp_path: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = str(tmp_path / "d")
    store = await Store.open(data_dir, runtime, min_part_bytes=MIN_PART, inline_max_bytes=0)
    await store.create_bucket("bk", OWNER, "us-east-1")
    obj = await three_part_object(store, "k")
    upload = await create(store, "open")
    live = await part(store, upload, 1, b"in progress")
    await store.close()
    (tmp_path / "d" / blob_path(obj.parts[1].blob_id)).unlink()
    (tmp_path / "d" / blob_path(live.blob_id)).unlink()

    store = await Store.open(data_dir, runtime, min_part_bytes=MIN_PART, inline_max_bytes=0)
    try:
        with caplog.at_level(logging.ERROR, logger="hamster.storage"):
            report = await recover_by_scan(store.fs, store.meta)
        missing = {blob for _key, blob in report.missing}
        assert missing == {obj.parts[1].blob_id, live.blob_id}
        assert "missing blob" in caplog.text
        # Bytes of part 1 may go out, then the stream stops: never other bytes.
        with pytest.raises(S3Error) as e:
            await read(store, "k")
        assert e.value.code == "InternalError"
        assert await read(store, "k", 0, len(PIECES[0])) == PIECES[0]
    finally:
        await store.close()


# --- write order --------------------------------------------------------------


async def test_part_and_complete_durability_order(tmp_path: Path) -> None:
    log: list[str] = []
    store = await open_recorded(tmp_path / "d", log, min_part_bytes=1)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        upload = await create(store)
        log.clear()
        first = await part(store, upload, 1, b"one")
        blob = blob_path(first.blob_id)
        f1 = first.blob_id
        key = upload.upload_id.encode() + b"/00001"
        # Durable in tmp/, committed with its placing marker, then placed (the
        # store's first blob: its new blobs/xx is synced into blobs/ first).
        assert log == [
            f"create tmp/{f1}",
            f"write tmp/{f1}",
            f"sync tmp/{f1}",
            "sync_dir tmp",
            "meta sync " + repr(b"p/" + key + b",n/" + f1.encode()),
            f"makedirs {blob_dir(f1)}",
            "sync_dir blobs",
            f"link tmp/{f1} {blob}",
            f"sync_dir {blob_dir(f1)}",
            f"remove tmp/{f1}",
        ]
        log.clear()
        again = await part(store, upload, 1, b"uno")
        a1, f1b = again.blob_id, f1.encode()
        assert blob_dir(a1) == blob_dir(f1)
        assert [line for line in log if not line.startswith("write ")] == [
            f"create tmp/{a1}",
            f"sync tmp/{a1}",
            "sync_dir tmp",
            "meta sync " + repr(b"p/" + key + b",n/%s,r/%s,n/%s" % (a1.encode(), f1b, f1b)),
            f"remove {blob}",
            f"link tmp/{a1} {blob_path(a1)}",
            f"sync_dir {blob_dir(a1)}",
            f"remove tmp/{a1}",
        ]
        p2 = await part(store, upload, 2, b"two")
        unused = await part(store, upload, 3, b"three")
        old = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(b"old"))
        log.clear()
        await complete(store, upload, [again, p2])
        # One batch swaps the records; only then do unused and replaced blobs go.
        assert log[0].startswith("meta sync")
        assert b"o/bk\\x00k" in log[0].encode() and b"u/bk" in log[0].encode()
        removed = [e for e in log[1:] if e.startswith("remove ")]
        assert sorted(removed) == sorted(
            [f"remove {blob_path(unused.blob_id)}", f"remove {blob_path(old.blob_id)}"]
        )
        assert all(e.startswith(("remove ", "sync_dir blobs/")) for e in log[1:])
    finally:
        await store.close()
