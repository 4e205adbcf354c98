"""Store read paths for listings: seeking past a common prefix (skip_under),
and reads that grow from a small first batch."""

from __future__ import annotations

from hamster.storage import PutRequest, Store
from hamster.storage.multipart import NewUpload
from hamster.storage.store import LIST_FIRST_BATCH

from .bodies import BytesBody

OWNER = "AKIDOWNER"


async def test_skip_under_skips_exactly_the_keys_under_the_prefix(store: Store) -> None:
    await store.create_bucket("bk", OWNER, "us-east-1")
    keys = ["a", "a/", "a/\x00", "a/é", "a/\U0010ffff", "a0", "a/" + "z" * 40, "a\x7f", "b"]
    for key in keys:
        await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(key.encode()))
    after = [o.key async for o in store.iter_objects("bk", start_after="a/", skip_under=True)]
    assert after == ["a0", "a\x7f", "b"]
    plain = [o.key async for o in store.iter_objects("bk", start_after="a/")]
    assert plain == ["a/\x00", "a/" + "z" * 40, "a/é", "a/\U0010ffff", "a0", "a\x7f", "b"]
    prefixed = [o.key async for o in store.iter_objects("bk", "a", "a/", skip_under=True)]
    assert prefixed == ["a0", "a\x7f"]


async def test_reads_grow_and_miss_nothing_across_batches(store: Store) -> None:
    await store.create_bucket("bk", OWNER, "us-east-1")
    keys = sorted(f"k{i:04d}" for i in range(LIST_FIRST_BATCH * 4 + LIST_FIRST_BATCH * 16 + 3))
    for key in keys:
        await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(key.encode()))
    assert [o.key async for o in store.iter_objects("bk")] == keys
    assert [o.key async for o in store.iter_objects("bk", start_after=keys[9])] == keys[10:]


async def test_uploads_skip_under(store: Store) -> None:
    await store.create_bucket("bk", OWNER, "us-east-1")
    for key in ["a/1", "a/2", "a0", "b"]:
        await store.uploads.create(NewUpload(bucket="bk", key=key, initiator=OWNER))
    listed = [
        u.key async for u in store.uploads.iter_uploads("bk", key_marker="a/", skip_under=True)
    ]
    assert listed == ["a0", "b"]


async def test_writes_during_a_scan_neither_repeat_nor_hide_stable_keys(store: Store) -> None:
    """Keys written and deleted between the reads of one scan: every key
    yielded is new and greater than the last, and every key that existed
    throughout is yielded."""
    await store.create_bucket("bk", OWNER, "us-east-1")
    stable = [f"s{i:03d}" for i in range(0, 240, 2)]
    doomed = [f"s{i:03d}" for i in range(1, 240, 4)]
    for key in stable + doomed:
        await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(key.encode()))
    seen: list[str] = []
    async for info in store.iter_objects("bk"):
        seen.append(info.key)
        n = len(seen)
        # behind the cursor, ahead of it, and a delete ahead of it
        await store.put_object(PutRequest(bucket="bk", key=f"r{n}"), BytesBody(b"behind"))
        await store.put_object(PutRequest(bucket="bk", key=f"{info.key}+{n}"), BytesBody(b"x"))
        ahead = [k for k in doomed if k > info.key]
        if ahead:
            await store.delete_object("bk", ahead[0])
            doomed.remove(ahead[0])
    assert seen == sorted(set(seen))
    assert set(stable) <= set(seen)
