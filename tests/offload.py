"""Test offloads: a recording `Offload`, and a guard that no thread is used."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import trio

from hamster.runtime import Offload, ThreadOffload

T = TypeVar("T")


@dataclass(frozen=True)
class OffloadCall:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    thread: int  # threading.get_ident() of the thread fn ran in


class RecordingOffload:
    """Hands every call to `inner` (a worker thread by default) and records it."""

    def __init__(self, inner: Offload | None = None) -> None:
        self.inner: Offload = inner if inner is not None else ThreadOffload()
        self.calls: list[OffloadCall] = []

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        ran_in: list[int] = []

        def run() -> T:
            ran_in.append(threading.get_ident())
            return fn(*args)

        result = await self.inner.run_sync(run)
        self.calls.append(OffloadCall(fn, args, ran_in[0]))
        return result


@contextmanager
def no_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to run something on a trio worker thread meanwhile."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a thread hop outside the runtime's offload: {args!r}")

    with monkeypatch.context() as m:
        m.setattr(trio.to_thread, "run_sync", refuse)
        m.setattr(trio.lowlevel, "start_thread_soon", refuse)
        yield
