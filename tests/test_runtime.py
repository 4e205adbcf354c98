"""The runtime's thread hops: `Runtime.hash` and the offloads."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from hamster.runtime import HASH_INLINE_MAX_BYTES, InlineOffload, Runtime, ThreadOffload
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
