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
    s = await Store.open(str(tmp_path / "data"), runtime)
    try:
        yield s
    finally:
        await s.close()
