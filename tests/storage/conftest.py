"""Fixtures of the storage tests."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hamster.runtime import Runtime
from hamster.storage import Store


class FixedClock:
    """A clock that moves 1 ms per reading."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self._ticks = itertools.count()
        self._start_ns = start_ns

    def now_ns(self) -> int:
        return self._start_ns + next(self._ticks) * 1_000_000


class CountingEntropy:
    """Deterministic 'randomness': a counter."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def token_bytes(self, n: int) -> bytes:
        return next(self._counter).to_bytes(n, "big")


def make_runtime() -> Runtime:
    return Runtime(clock=FixedClock(), entropy=CountingEntropy())


@pytest.fixture
def runtime() -> Runtime:
    return make_runtime()


@pytest.fixture
async def store(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    """A store that keeps every object in blob files, small ones included
    (inline_max_bytes=0): the tests of blob lifetimes, written before inline
    objects, use it; `inline_store` is the store as `hamster serve` opens it."""
    s = await Store.open(str(tmp_path / "data"), runtime, inline_max_bytes=0)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def inline_store(tmp_path: Path, runtime: Runtime) -> AsyncIterator[Store]:
    """A store with the default inline threshold (store.INLINE_MAX_BYTES)."""
    s = await Store.open(str(tmp_path / "data"), runtime)
    try:
        yield s
    finally:
        await s.close()
