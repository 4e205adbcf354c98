"""The runtime's thread hops: `Runtime.hash` and the offloads."""

from __future__ import annotations

import hashlib
import threading

import pytest
import trio
import trio.testing

from hamster.runtime import (
    HASH_INLINE_MAX_BYTES,
    REQUEST_IDS_PER_DRAW,
    InlineOffload,
    Runtime,
    ThreadOffload,
)
from tests.offload import RecordingOffload


async def test_hash_runs_inline_up_to_the_cut_off_and_offloads_above() -> None:
    offload = RecordingOffload()
    runtime = Runtime(offload=offload)
    seen: list[tuple[int, int]] = []

    def fn(data: bytes) -> int:
        seen.append((len(data), threading.get_ident()))
        return len(data)

    for size in (0, 1, HASH_INLINE_MAX_BYTES, HASH_INLINE_MAX_BYTES + 1):
        assert await runtime.hash(fn, bytes(size)) == size
    here = threading.get_ident()
    assert seen[:3] == [(0, here), (1, here), (HASH_INLINE_MAX_BYTES, here)]
    assert seen[3][0] == HASH_INLINE_MAX_BYTES + 1 and seen[3][1] != here
    assert [len(call.args[0]) for call in offload.calls] == [HASH_INLINE_MAX_BYTES + 1]


async def test_the_cut_off_is_a_setting() -> None:
    offload = RecordingOffload()
    runtime = Runtime(offload=offload, hash_inline_max_bytes=10)
    await runtime.hash(len, b"0123456789")
    await runtime.hash(len, b"0123456789a")
    assert [call.args for call in offload.calls] == [(b"0123456789a",)]


async def test_thread_offload_runs_on_a_worker_thread() -> None:
    ident = await ThreadOffload().run_sync(threading.get_ident)
    assert ident != threading.get_ident()
    assert await Runtime().run_sync(divmod, 7, 2) == (3, 1)


async def test_inline_offload_runs_on_the_trio_thread() -> None:
    assert await InlineOffload().run_sync(threading.get_ident) == threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        await InlineOffload().run_sync(divmod, 1, 0)


async def test_inline_offload_is_a_checkpoint() -> None:
    """Like a thread hop it is a schedule point, and a cancelled caller gets
    Cancelled before fn runs."""
    ran: list[str] = []
    with trio.testing.assert_checkpoints():
        await InlineOffload().run_sync(ran.append, "first")
    with trio.CancelScope() as scope:
        scope.cancel()
        await InlineOffload().run_sync(ran.append, "cancelled")
    assert scope.cancelled_caught and ran == ["first"]


class CountingEntropy:
    """Position-dependent bytes (a SHA-256 stream), and how many were asked for."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self._stream = b""

    def token_bytes(self, n: int) -> bytes:
        self.calls.append(n)
        start = len(self._stream)
        while len(self._stream) < start + n:
            self._stream += hashlib.sha256(b"%d" % len(self._stream)).digest()
        return self._stream[start : start + n]

    def all_bytes(self) -> bytes:
        return self._stream[: sum(self.calls)]


def test_request_ids_are_the_entropys_bytes_in_order_drawn_a_batch_at_a_time() -> None:
    entropy = CountingEntropy()
    runtime = Runtime(entropy=entropy)
    ids = [runtime.request_id() for _ in range(REQUEST_IDS_PER_DRAW + 1)]
    assert entropy.calls == [8 * REQUEST_IDS_PER_DRAW, 8 * REQUEST_IDS_PER_DRAW]
    assert all(len(i) == 16 and i == i.upper() and int(i, 16) >= 0 for i in ids)
    assert "".join(ids) == entropy.all_bytes()[: 8 * len(ids)].hex().upper()
    assert len(set(ids)) == len(ids)
    # Internal ids still take their own 16 bytes, after what request ids drew.
    assert runtime.new_id() == entropy.all_bytes()[-16:].hex()
    assert entropy.calls[-1] == 16
