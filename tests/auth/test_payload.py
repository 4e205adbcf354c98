"""verified_body: the body passes through unchanged, and its end only arrives if it checks."""

from __future__ import annotations

import hashlib
import threading

import pytest

from hamster.auth import AuthResult, sigv4
from hamster.auth import verified_body as _verified_body
from hamster.http.messages import RequestBody
from hamster.runtime import HASH_INLINE_MAX_BYTES, Runtime
from hamster.s3.errors import S3Error
from tests.offload import RecordingOffload, no_threads
from tests.patterns import pattern


def verified_body(body: RequestBody, auth: AuthResult) -> RequestBody:
    return _verified_body(body, auth, Runtime())


class FakeBody:
    """A RequestBody over `data`, giving at most `piece_bytes` per read."""

    def __init__(self, data: bytes, piece_bytes: int | None = None) -> None:
        self._data = data
        self._offset = 0
        self._piece_bytes = piece_bytes
        self.reads_after_end = 0

    @property
    def content_length(self) -> int | None:
        return len(self._data)

    async def read(self, max_bytes: int) -> bytes:
        size = max_bytes if self._piece_bytes is None else min(max_bytes, self._piece_bytes)
        chunk = self._data[self._offset : self._offset + size]
        self._offset += len(chunk)
        if not chunk:
            self.reads_after_end += 1
        return chunk


def _auth(payload: str) -> AuthResult:
    return AuthResult(access_key="AKIA", payload=payload)


async def _read_all(body: RequestBody, max_bytes: int) -> bytes:
    parts = []
    while chunk := await body.read(max_bytes):
        parts.append(chunk)
    return b"".join(parts)


DATA = pattern(10240, "payload")  # position-dependent: reordered bytes show


@pytest.mark.parametrize(("max_bytes", "piece_bytes"), [(1 << 20, None), (1, None), (7, 3)])
async def test_matching_digest(max_bytes: int, piece_bytes: int | None) -> None:
    raw = FakeBody(DATA, piece_bytes)
    body = verified_body(raw, _auth(hashlib.sha256(DATA).hexdigest()))
    assert body.content_length == len(DATA)
    assert await _read_all(body, max_bytes) == DATA
    assert await body.read(10) == b""  # the end stays the end
    assert raw.reads_after_end == 1


@pytest.mark.parametrize(("max_bytes", "piece_bytes"), [(1 << 20, None), (1, None), (5, 2)])
async def test_mismatching_digest(max_bytes: int, piece_bytes: int | None) -> None:
    claimed = hashlib.sha256(b"something else").hexdigest()
    body = verified_body(FakeBody(DATA, piece_bytes), _auth(claimed))
    received = bytearray()
    with pytest.raises(S3Error) as info:
        while True:
            chunk = await body.read(max_bytes)
            assert chunk, "the end of a mismatching body must never be seen"
            received += chunk
    assert received == DATA
    assert (info.value.code, info.value.status) == ("XAmzContentSHA256Mismatch", 400)
    assert info.value.extra == {
        "ClientComputedContentSHA256": claimed,
        "S3ComputedContentSHA256": hashlib.sha256(DATA).hexdigest(),
    }
    with pytest.raises(S3Error) as again:
        await body.read(max_bytes)  # and never later either
    assert again.value is info.value


async def test_empty_body() -> None:
    body = verified_body(FakeBody(b""), _auth(sigv4.EMPTY_SHA256))
    assert await body.read(100) == b""
    bad = verified_body(FakeBody(b""), _auth("00" * 32))
    with pytest.raises(S3Error) as info:
        await bad.read(100)
    assert (info.value.code, info.value.status) == ("XAmzContentSHA256Mismatch", 400)
    assert info.value.extra == {
        "ClientComputedContentSHA256": "00" * 32,
        "S3ComputedContentSHA256": sigv4.EMPTY_SHA256,
    }


async def test_truncated_body_mismatches() -> None:
    body = verified_body(FakeBody(DATA[:-1]), _auth(hashlib.sha256(DATA).hexdigest()))
    with pytest.raises(S3Error) as info:
        await _read_all(body, 4096)
    assert info.value.code == "XAmzContentSHA256Mismatch"
    assert info.value.extra is not None
    assert info.value.extra["S3ComputedContentSHA256"] == hashlib.sha256(DATA[:-1]).hexdigest()


class SizedBody(FakeBody):
    """A FakeBody whose reads return pieces of the given sizes, in turn."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        super().__init__(data)
        self._sizes = list(sizes)

    async def read(self, max_bytes: int) -> bytes:
        self._piece_bytes = self._sizes.pop(0) if self._sizes else None
        return await super().read(max_bytes)


@pytest.mark.parametrize("cut_bytes", [HASH_INLINE_MAX_BYTES, 1000])
async def test_large_chunks_hash_off_the_event_loop(cut_bytes: int) -> None:
    """Pieces over the runtime's hash_inline_max_bytes are hashed through its
    offload, on another thread; pieces up to it inline, on the trio thread."""
    sizes = [cut_bytes + 1, cut_bytes, 1, cut_bytes + 1, cut_bytes - 1, 2 * cut_bytes]
    data = hashlib.shake_256(b"payload").digest(sum(sizes))
    offload = RecordingOffload()
    runtime = Runtime(offload=offload, hash_inline_max_bytes=cut_bytes)
    body = _verified_body(SizedBody(data, sizes), _auth(hashlib.sha256(data).hexdigest()), runtime)
    pieces = []
    while chunk := await body.read(4 * cut_bytes):
        pieces.append(chunk)
    assert [len(piece) for piece in pieces] == sizes
    offloaded = [piece for piece in pieces if len(piece) > cut_bytes]
    assert [call.args for call in offload.calls] == [(piece,) for piece in offloaded]
    assert all(call.thread != threading.get_ident() for call in offload.calls)


async def test_small_chunks_hash_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    data = hashlib.shake_256(b"small").digest(5000)
    body = _verified_body(
        FakeBody(data, 1000),
        _auth(hashlib.sha256(data).hexdigest()),
        Runtime(hash_inline_max_bytes=1000),
    )
    with no_threads(monkeypatch):
        assert await _read_all(body, 1 << 20) == data


async def test_unsigned_payload_passes_through() -> None:
    raw = FakeBody(DATA)
    assert verified_body(raw, _auth(sigv4.UNSIGNED_PAYLOAD)) is raw
