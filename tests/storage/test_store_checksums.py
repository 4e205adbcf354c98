"""Store: the additional checksum (x-amz-checksum-*) of single PUTs."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from hamster import integrity
from hamster.runtime import Runtime
from hamster.s3 import checksums
from hamster.s3.errors import S3Error
from hamster.storage import PutRequest, Store
from hamster.storage import blobs as blobs_module
from hamster.storage.store import ChecksumValue
from tests.offload import RecordingOffload

from .bodies import BytesBody
from .conftest import make_runtime

OWNER = "AKIDOWNER"
DATA = b"123456789"
MiB = 1 << 20


def files_under(store: Store, sub: str) -> list[str]:
    root = Path(store.fs.root) / sub  # type: ignore[attr-defined]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
async def bk(store: Store) -> Store:
    await store.create_bucket("bk", OWNER, "us-east-1")
    return store


def req(key: str = "k", **kw: Any) -> PutRequest:
    return PutRequest(bucket="bk", key=key, **kw)


async def test_default_is_crc64nvme(bk: Store) -> None:
    info = await bk.put_object(req(), BytesBody(DATA))
    expected = ChecksumValue("CRC64NVME", bytes.fromhex("ae8b14860a799888"), "FULL_OBJECT")
    assert info.checksum == expected
    assert (await bk.head_object("bk", "k")).checksum == expected
    async with await bk.open_object("bk", "k") as reader:
        assert reader.info.checksum == expected
    assert [o.checksum async for o in bk.iter_objects("bk")] == [expected]


async def test_checksum_survives_reopen(tmp_path: Path, runtime: Runtime) -> None:
    store = await Store.open(str(tmp_path / "d"), runtime)
    await store.create_bucket("bk", OWNER, "us-east-1")
    info = await store.put_object(req(checksum_algorithm="SHA1"), BytesBody(DATA))
    await store.close()
    store = await Store.open(str(tmp_path / "d"), runtime)
    try:
        assert (await store.head_object("bk", "k")).checksum == info.checksum
        assert info.checksum == ChecksumValue("SHA1", hashlib.sha1(DATA).digest())
    finally:
        await store.close()


@pytest.mark.parametrize("algorithm", integrity.ALGORITHMS)
async def test_header_value_checked_and_stored(bk: Store, algorithm: str) -> None:
    digest = integrity.compute(algorithm, DATA)
    put = req(checksum_algorithm=algorithm, checksum_expected=digest)
    info = await bk.put_object(put, BytesBody(DATA, piece_bytes=4))
    assert info.checksum == ChecksumValue(algorithm, digest, "FULL_OBJECT")
    assert info.etag == hashlib.md5(DATA).hexdigest()


@pytest.mark.parametrize("algorithm", integrity.ALGORITHMS)
async def test_mismatch_stores_nothing(bk: Store, algorithm: str) -> None:
    await bk.put_object(req("old"), BytesBody(b"previous"))
    before = files_under(bk, "blobs")
    wrong = integrity.compute(algorithm, b"other bytes")
    with pytest.raises(S3Error) as e:
        await bk.put_object(
            req("new", checksum_algorithm=algorithm, checksum_expected=wrong), BytesBody(DATA)
        )
    assert e.value.code == "BadDigest"
    assert e.value.text == f"The {algorithm} you specified did not match the calculated checksum."
    # Nor does it replace an existing key.
    with pytest.raises(S3Error) as e:
        await bk.put_object(
            req("old", checksum_algorithm=algorithm, checksum_expected=wrong), BytesBody(DATA)
        )
    assert (e.value.code, e.value.status) == ("BadDigest", 400)
    assert [o.key async for o in bk.iter_objects("bk")] == ["old"]
    async with await bk.open_object("bk", "old") as reader:
        assert b"".join([c async for c in reader.stream(0, reader.info.size)]) == b"previous"
    assert files_under(bk, "blobs") == before
    assert files_under(bk, "tmp") == []


async def test_content_md5_and_checksum_together(bk: Store) -> None:
    md5 = hashlib.md5(DATA).digest()
    crc = integrity.compute("CRC32", DATA)
    info = await bk.put_object(
        req(content_md5=md5, checksum_algorithm="CRC32", checksum_expected=crc), BytesBody(DATA)
    )
    assert info.checksum == ChecksumValue("CRC32", crc)
    with pytest.raises(S3Error) as e:
        await bk.put_object(
            req(
                "k2",
                content_md5=hashlib.md5(b"x").digest(),
                checksum_algorithm="CRC32",
                checksum_expected=crc,
            ),
            BytesBody(DATA),
        )
    assert (e.value.code, e.value.text) == (
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )


class EndWatcher:
    """A checksum_at_end callback that records whether the body had ended."""

    def __init__(self, body: BytesBody, value: bytes | S3Error | None) -> None:
        self.body = body
        self.value = value
        self.calls = 0

    def __call__(self) -> bytes | None:
        self.calls += 1
        assert self.body.offset == len(self.body.data), "called before the body ended"
        if isinstance(self.value, S3Error):
            raise self.value
        return self.value


@pytest.mark.parametrize("algorithm", integrity.ALGORITHMS)
async def test_value_at_end(bk: Store, algorithm: str) -> None:
    data = DATA * 300_000  # 2.6 MiB: several chunks
    body = BytesBody(data)
    at_end = EndWatcher(body, integrity.compute(algorithm, data))
    info = await bk.put_object(req(checksum_algorithm=algorithm), body, checksum_at_end=at_end)
    assert at_end.calls == 1
    assert info.checksum == ChecksumValue(algorithm, integrity.compute(algorithm, data))


async def test_value_at_end_none_means_unchecked(bk: Store) -> None:
    body = BytesBody(DATA)
    at_end = EndWatcher(body, None)
    info = await bk.put_object(req(), body, checksum_at_end=at_end)
    assert at_end.calls == 1
    assert info.checksum is not None and info.checksum.algorithm == "CRC64NVME"


@pytest.mark.parametrize(
    "value",
    [
        integrity.compute("CRC32C", b"not the data"),
        b"\x00",  # a value of the wrong length never matches
        S3Error("MalformedTrailerError", checksums.MALFORMED_TRAILER_MESSAGE),
    ],
)
async def test_value_at_end_refused_stores_nothing(bk: Store, value: bytes | S3Error) -> None:
    body = BytesBody(DATA * 200_000)
    with pytest.raises(S3Error) as e:
        await bk.put_object(
            req(checksum_algorithm="CRC32C"), body, checksum_at_end=EndWatcher(body, value)
        )
    assert e.value.code == (value.code if isinstance(value, S3Error) else "BadDigest")
    assert [o async for o in bk.iter_objects("bk")] == []
    assert files_under(bk, "blobs") == []
    assert files_under(bk, "tmp") == []


async def test_one_thread_hop_per_chunk(tmp_path: Path) -> None:
    """MD5 and the checksum share one offload hop (a worker thread) per 1 MiB chunk."""
    offload = RecordingOffload()
    runtime = make_runtime()
    runtime.offload = offload
    store = await Store.open(str(tmp_path / "data"), runtime)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        data = hashlib.shake_256(b"hops").digest(3 * MiB + 1)
        digest = integrity.compute("SHA256", data)
        offload.calls.clear()
        info = await store.put_object(
            req(checksum_algorithm="SHA256", checksum_expected=digest), BytesBody(data)
        )
    finally:
        await store.close()
    assert info.checksum == ChecksumValue("SHA256", digest)
    assert info.etag == hashlib.md5(data).hexdigest()
    hashers = [getattr(call.fn, "__self__", None) for call in offload.calls]
    hops = [
        (len(h.updates), len(call.args[0]))
        for h, call in zip(hashers, offload.calls, strict=True)
        if isinstance(h, blobs_module._Hashers)
    ]
    # 3 full chunks, each hashed by both; the 1-byte tail inline.
    assert hops == [(2, MiB)] * 3
    assert all(call.thread != threading.get_ident() for call in offload.calls)
