"""The `node` fixture: a running in-process server (tests/api/harness.py).

A test that uses it also names pytest-trio's `autojump_clock` among its
arguments (pytest-trio takes the run's clock from the test's own arguments
only), so timeouts pass in no real time; the fixture checks it did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from tests.api.harness import Harness, running_node


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Harness]:
    assert isinstance(trio.lowlevel.current_clock(), MockClock), (
        "a test using `node` takes `autojump_clock: MockClock` as an argument too"
    )
    async with running_node(tmp_path / "data") as harness:
        yield harness
