"""Store: buckets, put/get/overwrite/delete, errors, preconditions, listing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from hamster.runtime import Runtime
from hamster.s3.conditional import WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage import ObjectInfo, PutRequest, Store
from hamster.storage.blobs import blob_path
from tests.patterns import pattern

from .bodies import BytesBody, FailingBody, GatedBody, checksum_mismatch

OWNER = "AKIDOWNER"

# ``If-None-Match: *``: the key must not exist.
ONLY_NEW = WriteConditions(if_none_match="*")


def if_match(etag: str) -> WriteConditions:
    return WriteConditions(if_match=etag)


async def read_all(store: Store, bucket: str, key: str) -> bytes:
    async with await store.open_object(bucket, key) as reader:
        return b"".join([c async for c in reader.stream(0, reader.info.size)])


async def put(store: Store, key: str, data: bytes, **kw: object) -> ObjectInfo:
    req = PutRequest(bucket="bk", key=key, **kw)  # type: ignore[arg-type]
    return await store.put_object(req, BytesBody(data))


def data_dir_files(store: Store, sub: str) -> list[str]:
    root = Path(store.fs.root) / sub  # type: ignore[attr-defined]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
async def bk(store: Store) -> Store:
    await store.create_bucket("bk", OWNER, "us-east-1")
    return store


# --- buckets ----------------------------------------------------------------


async def test_bucket_lifecycle(store: Store) -> None:
    assert await store.list_buckets() == []
    b = await store.create_bucket("zeta", OWNER, "us-east-1")
    assert (b.name, b.owner, b.location) == ("zeta", OWNER, "us-east-1")
    await store.create_bucket("alpha", "other", "eu-west-1")
    assert [x.name for x in await store.list_buckets()] == ["alpha", "zeta"]
    assert await store.get_bucket("zeta") == b
    assert await store.get_bucket("nope") is None
    await store.delete_bucket("zeta")
    assert await store.get_bucket("zeta") is None
    with pytest.raises(S3Error) as e:
        await store.delete_bucket("zeta")
    assert e.value.code == "NoSuchBucket"
    assert e.value.extra == {"BucketName": "zeta"}


async def test_bucket_ownership_errors(store: Store) -> None:
    await store.create_bucket("b1", OWNER, "us-east-1")
    with pytest.raises(S3Error) as e:
        await store.create_bucket("b1", OWNER, "us-east-1")
    assert e.value.code == "BucketAlreadyOwnedByYou"
    with pytest.raises(S3Error) as e:
        await store.create_bucket("b1", "someone-else", "us-east-1")
    assert e.value.code == "BucketAlreadyExists"


async def test_delete_nonempty_bucket(bk: Store) -> None:
    await put(bk, "k", b"x")
    with pytest.raises(S3Error) as e:
        await bk.delete_bucket("bk")
    assert e.value.code == "BucketNotEmpty"
    await bk.delete_object("bk", "k")
    await bk.delete_bucket("bk")


async def test_bucket_deleted_during_put_leaves_no_orphan(bk: Store) -> None:
    gate = trio.Event()
    body = GatedBody(b"abc", gate)
    result: list[BaseException] = []

    async def putter() -> None:
        try:
            await bk.put_object(PutRequest(bucket="bk", key="k"), body)
        except S3Error as exc:
            result.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(putter)
        await body.started.wait()
        await bk.delete_bucket("bk")  # empty at this instant
        gate.set()
    assert [e.code for e in result if isinstance(e, S3Error)] == ["NoSuchBucket"]
    assert [kv async for kv in bk.meta.scan(b"o/")] == []
    assert data_dir_files(bk, "blobs") == []
    assert data_dir_files(bk, "tmp") == []


async def test_object_ops_on_missing_bucket(store: Store) -> None:
    for call in (
        store.head_object("nb", "k"),
        store.open_object("nb", "k"),
        store.delete_object("nb", "k"),
        store.put_object(PutRequest(bucket="nb", key="k"), BytesBody(b"x")),
    ):
        with pytest.raises(S3Error) as e:
            await call
        assert e.value.code == "NoSuchBucket"
        assert e.value.extra == {"BucketName": "nb"}
    with pytest.raises(S3Error) as e:
        [o async for o in store.iter_objects("nb")]
    assert e.value.code == "NoSuchBucket"


# --- objects ----------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1024, 5 * 1024 * 1024 + 17])
async def test_put_get_round_trip(bk: Store, size: int) -> None:
    data = pattern(size, "round-trip")
    req = PutRequest(
        bucket="bk",
        key="dir/obj é",
        content_type="text/plain",
        cache_control="no-cache",
        user_metadata=(("zeta", "1"), ("alpha", "two words")),
        content_length=size,
        content_md5=hashlib.md5(data).digest(),
    )
    info = await bk.put_object(req, BytesBody(data, piece_bytes=300_000))
    assert info.size == size
    assert info.etag == hashlib.md5(data).hexdigest()
    assert info.content_type == "text/plain"
    assert info.content_encoding is None
    assert info.user_metadata == (("zeta", "1"), ("alpha", "two words"))
    assert await bk.head_object("bk", "dir/obj é") == info
    assert await read_all(bk, "bk", "dir/obj é") == data
    assert data_dir_files(bk, "tmp") == []
    assert data_dir_files(bk, "blobs") == [blob_path(info.blob_id)[len("blobs/") :]]


async def test_stream_ranges_and_chunks(bk: Store) -> None:
    data = pattern(10240, "r")
    await put(bk, "r", data)
    async with await bk.open_object("bk", "r") as reader:
        chunks = [c async for c in reader.stream(100, 5000, chunk_bytes=1000)]
        assert [len(c) for c in chunks] == [1000] * 5
        assert b"".join(chunks) == data[100:5100]
        assert [c async for c in reader.stream(len(data), 0)] == []


async def test_overwrite_replaces_and_removes_old_blob(bk: Store) -> None:
    first = await put(bk, "k", b"one")
    second = await put(bk, "k", b"two!", content_type="a/b")
    assert first.blob_id != second.blob_id
    assert await read_all(bk, "bk", "k") == b"two!"
    assert (await bk.head_object("bk", "k")).content_type == "a/b"
    assert len(data_dir_files(bk, "blobs")) == 1


async def test_delete_object(bk: Store) -> None:
    await put(bk, "k", b"data")
    await bk.delete_object("bk", "k")
    await bk.delete_object("bk", "k")  # idempotent
    with pytest.raises(S3Error) as e:
        await bk.head_object("bk", "k")
    assert e.value.code == "NoSuchKey"
    assert e.value.extra == {"Key": "k"}
    with pytest.raises(S3Error) as e:
        await bk.open_object("bk", "k")
    assert e.value.code == "NoSuchKey"
    assert data_dir_files(bk, "blobs") == []


async def test_reader_keeps_old_blob_after_overwrite_and_delete(bk: Store) -> None:
    old = pattern(3 * 1024 * 1024, "old")
    await put(bk, "k", old)
    reader = await bk.open_object("bk", "k")
    stream = reader.stream(0, reader.info.size, chunk_bytes=1 << 20)
    got = [await stream.__anext__()]
    await put(bk, "k", b"new")
    got += [c async for c in stream]
    assert b"".join(got) == old
    await bk.delete_object("bk", "k")
    assert b"".join([c async for c in reader.stream(0, 10)]) == old[:10]
    await reader.aclose()


# --- write errors store nothing -------------------------------------------


async def assert_nothing_stored(store: Store, key: str) -> None:
    with pytest.raises(S3Error) as e:
        await store.head_object("bk", key)
    assert e.value.code == "NoSuchKey"
    assert data_dir_files(store, "tmp") == []
    assert data_dir_files(store, "blobs") == []


async def test_bad_digest_stores_nothing(bk: Store) -> None:
    with pytest.raises(S3Error) as e:
        await put(bk, "k", b"hello", content_md5=hashlib.md5(b"other").digest())
    assert e.value.code == "BadDigest"
    await assert_nothing_stored(bk, "k")


async def test_invalid_digest_length(bk: Store) -> None:
    with pytest.raises(S3Error) as e:
        await put(bk, "k", b"hello", content_md5=b"short")
    assert e.value.code == "InvalidDigest"


@pytest.mark.parametrize("declared", [4, 6])
async def test_incomplete_body(bk: Store, declared: int) -> None:
    with pytest.raises(S3Error) as e:
        await put(bk, "k", b"hello", content_length=declared)
    assert e.value.code == "IncompleteBody"
    await assert_nothing_stored(bk, "k")


async def test_entity_too_large(bk: Store) -> None:
    body = BytesBody(b"x" * 100)
    with pytest.raises(S3Error) as e:
        await bk.put_object(PutRequest(bucket="bk", key="k", max_size_bytes=99), body)
    assert e.value.code == "EntityTooLarge"
    await assert_nothing_stored(bk, "k")
    # Declared too large: refused before reading the body.
    body = BytesBody(b"x" * 100)
    req = PutRequest(bucket="bk", key="k", max_size_bytes=99, content_length=100)
    with pytest.raises(S3Error) as e:
        await bk.put_object(req, body)
    assert e.value.code == "EntityTooLarge"
    assert body.reads == 0
    # Exactly the limit is fine.
    info = await bk.put_object(
        PutRequest(bucket="bk", key="k", max_size_bytes=100), BytesBody(b"x" * 100)
    )
    assert info.size == 100


async def test_body_error_stores_nothing(bk: Store) -> None:
    with pytest.raises(S3Error) as e:
        await bk.put_object(
            PutRequest(bucket="bk", key="k"), FailingBody(b"a" * 3_000_000, checksum_mismatch())
        )
    assert e.value.code == "BadDigest"
    await assert_nothing_stored(bk, "k")


async def test_cancelled_put_stores_nothing(bk: Store) -> None:
    gate = trio.Event()
    body = GatedBody(b"a" * 1_000_000, gate)
    with trio.move_on_after(10) as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bk.put_object, PutRequest(bucket="bk", key="k"), body)
            await body.started.wait()
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert not scope.cancelled_caught
    await assert_nothing_stored(bk, "k")


async def test_memory_flat_buffering(bk: Store) -> None:
    """The body is pulled in reads of at most one chunk, never all at once."""
    seen: list[int] = []

    class Recording(BytesBody):
        async def read(self, max_bytes: int) -> bytes:
            seen.append(max_bytes)
            return await super().read(max_bytes)

    await bk.put_object(PutRequest(bucket="bk", key="k"), Recording(b"z" * 4_500_000))
    assert max(seen) <= bk.core.blobs.chunk_bytes


# --- preconditions ----------------------------------------------------------


async def test_if_none_match_star(bk: Store) -> None:
    await put(bk, "k", b"1", conditions=ONLY_NEW)
    body = BytesBody(b"2")
    with pytest.raises(S3Error) as e:
        await bk.put_object(PutRequest(bucket="bk", key="k", conditions=ONLY_NEW), body)
    assert e.value.code == "PreconditionFailed"
    assert body.reads == 0  # failed fast
    assert await read_all(bk, "bk", "k") == b"1"


async def test_if_match(bk: Store) -> None:
    with pytest.raises(S3Error) as e:
        await put(bk, "k", b"1", conditions=if_match("abc"))
    assert e.value.code == "NoSuchKey"
    first = await put(bk, "k", b"1")
    with pytest.raises(S3Error) as e:
        await put(bk, "k", b"2", conditions=if_match("0" * 32))
    assert e.value.code == "PreconditionFailed"
    second = await put(bk, "k", b"2", conditions=if_match(first.etag))
    assert await read_all(bk, "bk", "k") == b"2"
    await put(bk, "k", b"3", conditions=if_match("*"))
    assert second.etag != first.etag
    assert len(data_dir_files(bk, "blobs")) == 1


async def test_racing_if_none_match_star_puts_have_one_winner(bk: Store) -> None:
    gate_a, gate_b = trio.Event(), trio.Event()
    expected = {name: pattern(2000, name) for name in ("a", "b")}
    body_a = GatedBody(expected["a"][:1000], gate_a, expected["a"][1000:])
    body_b = GatedBody(expected["b"][:1000], gate_b, expected["b"][1000:])
    outcomes: dict[str, object] = {}

    async def run(name: str, body: GatedBody) -> None:
        try:
            outcomes[name] = await bk.put_object(
                PutRequest(bucket="bk", key="k", conditions=ONLY_NEW), body
            )
        except S3Error as exc:
            outcomes[name] = exc.code

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "a", body_a)
        nursery.start_soon(run, "b", body_b)
        await body_a.started.wait()
        await body_b.started.wait()  # both passed the fast check
        gate_b.set()
        gate_a.set()
    winners = [n for n, o in outcomes.items() if isinstance(o, ObjectInfo)]
    losers = [n for n, o in outcomes.items() if o == "PreconditionFailed"]
    assert len(winners) == 1 and len(losers) == 1
    assert await read_all(bk, "bk", "k") == expected[winners[0]]
    assert len(data_dir_files(bk, "blobs")) == 1
    assert data_dir_files(bk, "tmp") == []


# --- listing ----------------------------------------------------------------


async def test_iter_objects_order_prefix_start_after(bk: Store) -> None:
    await bk.create_bucket("bk2", OWNER, "us-east-1")
    await bk.put_object(PutRequest(bucket="bk2", key="a"), BytesBody(b""))
    keys = ["b", "a/b", "a", "é", "~", "a\x00z", "/a", "//a", "A"]
    for key in keys:
        await put(bk, key, key.encode())
    expected = sorted(keys, key=lambda k: k.encode())
    assert [o.key async for o in bk.iter_objects("bk")] == expected
    assert [o.key async for o in bk.iter_objects("bk", prefix="a")] == ["a", "a\x00z", "a/b"]
    assert [o.key async for o in bk.iter_objects("bk", start_after="a\x00z")] == expected[5:]
    assert [o.key async for o in bk.iter_objects("bk", prefix="a", start_after="a")] == [
        "a\x00z",
        "a/b",
    ]
    assert [o.key async for o in bk.iter_objects("bk", start_after="~")] == ["é"]
    infos = [o async for o in bk.iter_objects("bk")]
    assert all(o.bucket == "bk" and o.size == len(o.key.encode()) for o in infos)
    assert [o.key async for o in bk.iter_objects("bk2")] == ["a"]


async def test_reopen_keeps_objects(tmp_path: Path, runtime: Runtime) -> None:
    data_dir = str(tmp_path / "d")
    store = await Store.open(data_dir, runtime, inline_max_bytes=0)
    await store.create_bucket("bk", OWNER, "us-east-1")
    info = await put(store, "k", b"persist")
    await store.close()
    store = await Store.open(data_dir, runtime, inline_max_bytes=0)
    try:
        assert await store.head_object("bk", "k") == info
        assert await read_all(store, "bk", "k") == b"persist"
    finally:
        await store.close()


async def test_a_reader_keeps_the_version_it_read_when_an_overwrite_lands(bk: Store) -> None:
    await put(bk, "k", b"old")
    real_read_file = bk.fs.read_file
    overwritten = False

    async def racing_read_file(path: str, max_bytes: int) -> bytes:
        nonlocal overwritten
        if not overwritten:
            overwritten = True
            # Between reading the record and opening its blob, an overwrite lands:
            # the record's blob is pinned, so its removal waits for the reader.
            await put(bk, "k", b"new")
        return await real_read_file(path, max_bytes)

    # A small object is read whole when opened (one read_file call).
    bk.fs.read_file = racing_read_file  # type: ignore[method-assign]
    assert await read_all(bk, "bk", "k") == b"old"
    assert overwritten
    bk.fs.read_file = real_read_file  # type: ignore[method-assign]
    assert await read_all(bk, "bk", "k") == b"new"
    # The reader closed: the old blob is gone now, only the new one is left.
    assert len(data_dir_files(bk, "blobs")) == 1


async def test_open_retries_when_an_overwrite_removed_the_blob_before_the_pin(
    bk: Store,
) -> None:
    await put(bk, "k", b"old")
    real_head = bk.head_object
    overwritten = False

    async def racing_head(bucket: str, key: str) -> ObjectInfo:
        nonlocal overwritten
        info = await real_head(bucket, key)
        if not overwritten:
            overwritten = True
            await put(bk, "k", b"new")  # lands, old blob removed, before the pin
        return info

    bk.head_object = racing_head  # type: ignore[method-assign]
    assert await read_all(bk, "bk", "k") == b"new"
    assert overwritten


async def test_a_delete_racing_an_open_serves_the_version_read(bk: Store) -> None:
    await put(bk, "k", b"old")
    real_read_file = bk.fs.read_file

    async def racing_read_file(path: str, max_bytes: int) -> bytes:
        await bk.delete_object("bk", "k")
        return await real_read_file(path, max_bytes)

    bk.fs.read_file = racing_read_file  # type: ignore[method-assign]
    assert await read_all(bk, "bk", "k") == b"old"
    bk.fs.read_file = real_read_file  # type: ignore[method-assign]
    with pytest.raises(S3Error) as e:
        await bk.open_object("bk", "k")
    assert e.value.code == "NoSuchKey"
    assert data_dir_files(bk, "blobs") == []


async def test_put_memory_stays_flat(bk: Store) -> None:
    import tracemalloc

    class Generated:
        def __init__(self, total_bytes: int) -> None:
            self.left = total_bytes

        async def read(self, max_bytes: int) -> bytes:
            n = min(max_bytes, self.left, 256 * 1024)
            self.left -= n
            return b"x" * n

    total = 32 * 1024 * 1024
    tracemalloc.start()
    try:
        info = await bk.put_object(PutRequest(bucket="bk", key="big"), Generated(total))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == total
    assert peak < 6 * 1024 * 1024, f"peak {peak} bytes for a {total}-byte PUT"
