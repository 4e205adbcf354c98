"""With `InlineOffload` the whole store stays on the trio thread: opening
(LevelDB, recovery), writes big enough to hash through the offload, reads,
copies, multipart and deletes. Any other thread hop fails the test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hamster.runtime import InlineOffload
from hamster.storage import PutRequest, Store
from hamster.storage.copy import CopyRequest
from hamster.storage.multipart import CompleteRequest, NewUpload, PartRequest
from hamster.storage.parts import CompletedPart
from tests.offload import no_threads

from .bodies import BytesBody
from .conftest import make_runtime

MiB = 1 << 20


async def read_all(store: Store, key: str) -> bytes:
    reader = await store.open_object("bk", key)
    try:
        return b"".join([c async for c in reader.stream(0, reader.info.size)])
    finally:
        await reader.aclose()


async def test_store_uses_no_thread_with_inline_offload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime()
    runtime.offload = InlineOffload()
    data = hashlib.shake_256(b"inline").digest(2 * MiB + 3)
    data_dir = str(tmp_path / "data")
    with no_threads(monkeypatch):
        store = await Store.open(data_dir, runtime)
        try:
            await store.create_bucket("bk", "owner", "us-east-1")
            await store.put_object(PutRequest(bucket="bk", key="a"), BytesBody(data))
            await store.put_object(PutRequest(bucket="bk", key="a"), BytesBody(data[::-1]))
            await store.copy_object(
                CopyRequest(source_bucket="bk", source_key="a", bucket="bk", key="b"),
                check_source=lambda info: None,
            )
            upload = await store.uploads.create(NewUpload("bk", "m", initiator="owner"))
            part, _ = await store.uploads.upload_part(
                PartRequest(bucket="bk", key="m", upload_id=upload.upload_id, part_number=1),
                BytesBody(data),
            )
            await store.uploads.complete(
                CompleteRequest("bk", "m", upload.upload_id, (CompletedPart(1, part.etag),))
            )
            assert await read_all(store, "m") == data
            assert await read_all(store, "b") == data[::-1]
            await store.delete_object("bk", "a")
        finally:
            await store.close()
        store = await Store.open(data_dir, runtime)  # recovery, on the same thread
        try:
            assert await read_all(store, "b") == data[::-1]
            assert [o.key async for o in store.iter_objects("bk")] == ["b", "m"]
        finally:
            await store.close()
