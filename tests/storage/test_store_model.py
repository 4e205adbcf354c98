"""Random operation sequences against a dict model, with reopens (recovery)."""

from __future__ import annotations

import hashlib
import os
import tempfile

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store
from hamster.storage.copy import CopyRequest, NewMetadata
from hamster.storage.records import StandardHeaders
from hamster.storage.store import INLINE_MAX_BYTES, DeleteTarget

from .bodies import BytesBody
from .conftest import make_runtime

KEYS = st.sampled_from(["a", "a/b", "b", "é", "a\x00", ""])
Op = tuple[str, str, bytes]
HEADERS = StandardHeaders(
    content_type="text/copied",
    content_encoding=None,
    content_disposition=None,
    content_language=None,
    cache_control=None,
    expires=None,
)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.binary(max_size=64)),
        st.tuples(st.just("bad_put"), KEYS, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), KEYS, st.just(b"")),
        # DeleteObjects of the keys in the bytes (each ends with \x01), repeats included.
        st.lists(KEYS, max_size=6).map(
            lambda ks: ("delete_many", "", b"".join(k.encode() + b"\x01" for k in ks))
        ),
        # Copy KEY to the key encoded in the bytes; onto itself, only the record changes.
        st.tuples(st.just("copy"), KEYS, KEYS.map(str.encode)),
        st.tuples(st.just("copy"), KEYS, st.just(b"")).map(lambda t: (t[0], t[1], t[1].encode())),
        st.tuples(st.just("reopen"), st.just(""), st.just(b"")),
    ),
    max_size=25,
)


async def check(store: Store, model: dict[str, bytes]) -> None:
    """The store holds exactly `model`; an object is inline (no blob file)
    exactly when it is no larger than the store's inline threshold."""
    listed = [o async for o in store.iter_objects("bk")]
    assert [o.key for o in listed] == sorted(model, key=lambda k: k.encode())
    for info in listed:
        async with await store.open_object("bk", info.key) as reader:
            data = b"".join([c async for c in reader.stream(0, info.size)])
        assert data == model[info.key]
        assert info.etag == hashlib.md5(data).hexdigest()
    root: str = store.fs.root  # type: ignore[attr-defined]
    blob_files = [f for _dir, _subdirs, files in os.walk(root + "/blobs") for f in files]
    inline_max = store.inline_max_bytes
    assert len(blob_files) == sum(
        1 for v in model.values() if inline_max == 0 or len(v) > inline_max
    )
    for info in listed:
        assert (info.inline_data is not None) == (0 < inline_max and info.size <= inline_max)


async def run_ops(data_dir: str, ops: list[Op], inline_max: int) -> None:
    runtime = make_runtime()
    store = await Store.open(data_dir, runtime, inline_max_bytes=inline_max)
    await store.create_bucket("bk", "o", "us-east-1")
    model: dict[str, bytes] = {}
    try:
        for op, key, data in ops:
            if op == "put":
                await store.put_object(PutRequest(bucket="bk", key=key), BytesBody(data, 7))
                model[key] = data
            elif op == "bad_put":
                req = PutRequest(bucket="bk", key=key, content_length=len(data) + 1)
                try:
                    await store.put_object(req, BytesBody(data, 7))
                except S3Error as exc:
                    assert exc.code == "IncompleteBody"
                else:
                    raise AssertionError("short body accepted")
            elif op == "delete":
                await store.delete_object("bk", key)
                model.pop(key, None)
            elif op == "delete_many":
                keys = [k.decode() for k in data.split(b"\x01")[:-1]]
                outcomes = await store.delete_objects("bk", [DeleteTarget(k) for k in keys])
                assert outcomes == [None] * len(keys)
                for k in keys:
                    model.pop(k, None)
            elif op == "copy":
                dst = data.decode()
                copy = CopyRequest("bk", key, "bk", dst, metadata=NewMetadata(HEADERS))
                try:
                    await store.copy_object(copy, check_source=lambda _info: None)
                except S3Error as exc:
                    assert exc.code == "NoSuchKey" and key not in model
                else:
                    model[dst] = model[key]
            else:
                await store.close()
                store = await Store.open(data_dir, runtime, inline_max_bytes=inline_max)
                assert store.recovery.missing == []
                assert store.recovery.orphans_removed == 0
            await check(store, model)
    finally:
        await store.close()


# Bodies are 0-64 bytes: every object in a blob, objects of up to 32 bytes
# inline and the others in blobs (copies from one kind to the other), all inline.
@pytest.mark.parametrize("inline_max", [0, 32, INLINE_MAX_BYTES])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_store_matches_model(ops: list[Op], inline_max: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(run_ops, os.path.join(tmp, "d"), ops, inline_max)
