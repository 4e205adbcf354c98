"""Thread hops of the small-object paths: each costs 50-250 us of a 2-core
machine's time, more than the work it carries (issue 11). Counted through
the runtime's offload, by what each hop runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from hamster.runtime import Runtime
from hamster.storage import PutRequest, Store
from hamster.storage.blobs import blob_dir
from tests.patterns import pattern

from .bodies import BytesBody
from .conftest import CountingEntropy, FixedClock

T = TypeVar("T")


class CountingOffload:
    def __init__(self) -> None:
        self.hops: list[str] = []

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        self.hops.append(fn.__qualname__.split(".")[0])
        return await trio.to_thread.run_sync(fn, *args)


async def test_a_small_put_takes_four_hops_and_a_small_get_one(tmp_path: Path) -> None:
    offload = CountingOffload()
    runtime = Runtime(clock=FixedClock(), entropy=CountingEntropy(), offload=offload)
    store = await Store.open(str(tmp_path / "d"), runtime, inline_max_bytes=0)
    try:
        await store.create_bucket("bk", "owner", "us-east-1")
        first = await store.put_object(
            PutRequest(bucket="bk", key="first"), BytesBody(pattern(4096, "first"))
        )
        # The next blob id lands in the same blob directory, now known.
        assert blob_dir(runtime.new_id()) == blob_dir(first.blob_id)
        offload.hops.clear()
        data = pattern(4096, "k")
        await store.put_object(PutRequest(bucket="bk", key="first"), BytesBody(data))
        # The blob (open, write, fsync, close, fsync of tmp/) in one hop, the
        # record's synced batch in one; the point reads of the record and the
        # bucket inline; then the overwritten blob's removal, and the new
        # blob's placement (link, fsync of blobs/xx, removal of the tmp/
        # name) in one.
        assert offload.hops == [
            "RealFileSystem",
            "LevelDBMetaStore",
            "RealFileSystem",
            "RealFileSystem",
        ], offload.hops
        offload.hops.clear()
        async with await store.open_object("bk", "first") as reader:
            assert b"".join([c async for c in reader.stream(0, reader.info.size)]) == data
        assert offload.hops == ["RealFileSystem"], offload.hops  # open, read and close in one
    finally:
        await store.close()


async def test_an_inline_put_takes_one_hop_and_its_get_none(tmp_path: Path) -> None:
    offload = CountingOffload()
    runtime = Runtime(clock=FixedClock(), entropy=CountingEntropy(), offload=offload)
    store = await Store.open(str(tmp_path / "d"), runtime)
    try:
        await store.create_bucket("bk", "owner", "us-east-1")
        big = pattern(store.inline_max_bytes + 1, "big")
        first = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(big))
        assert first.inline_data is None
        offload.hops.clear()
        data = pattern(4096, "k")
        info = await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(data))
        assert info.inline_data == data and info.blob_id == ""
        # The record's synced batch, with the bytes in it; then what the
        # blob it replaced owes: its removal (its directory is synced later,
        # with other removals). No blob file written, no fsync of one.
        assert offload.hops == ["LevelDBMetaStore", "RealFileSystem"], offload.hops
        offload.hops.clear()
        again = pattern(4096, "again")
        await store.put_object(PutRequest(bucket="bk", key="k"), BytesBody(again))
        # An inline object owes nothing (the batch also drops the removal
        # marker the last overwrite left).
        assert offload.hops == ["LevelDBMetaStore"], offload.hops
        offload.hops.clear()
        async with await store.open_object("bk", "k") as reader:
            assert b"".join([c async for c in reader.stream(0, reader.info.size)]) == again
            assert b"".join([c async for c in reader.stream(100, 900)]) == again[100:1000]
        await store.head_object("bk", "k")
        assert offload.hops == []  # served from the record
    finally:
        await store.close()
