"""The file descriptor budget (hamster/http/descriptors.py): the connection
cap that fits RLIMIT_NOFILE, LevelDB's share, raising the soft limit."""

from __future__ import annotations

import logging
import resource

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.config import ConfigError
from hamster.http import descriptors
from hamster.http.descriptors import (
    FDS_PER_CONNECTION,
    RESERVED_FDS,
    budget_descriptors,
    plan_descriptors,
    raise_nofile_limit,
)


@pytest.mark.parametrize(
    ("limit", "configured", "cap", "metadata"),
    [
        (256, 1024, 39, 74),  # (256 - 64 - 74) // 3
        (1024, 1024, 277, 128),  # (1024 - 64 - 128) // 3
        (4096, 1024, 1024, 512),  # fits: not lowered
        (4096, 5000, 1173, 512),  # (4096 - 64 - 512) // 3
        (1 << 20, 1024, 1024, 1000),
        (1 << 20, 100_000, 100_000, 1000),
        (141, 1024, 1, 74),  # the least that serves one connection
        (20000, 7, 7, 1000),
    ],
)
def test_plan(limit: int, configured: int, cap: int, metadata: int) -> None:
    budget = plan_descriptors(limit, configured)
    assert (budget.max_connections, budget.metadata_files) == (cap, metadata)
    assert budget.lowered == (cap < configured)


def test_too_low_a_limit_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="RLIMIT_NOFILE is 140: too few file descriptors"):
        plan_descriptors(140, 1024)


@given(st.integers(min_value=141, max_value=1 << 22), st.integers(min_value=1, max_value=1 << 20))
def test_plan_always_leaves_the_files_their_descriptors(limit: int, configured: int) -> None:
    budget = plan_descriptors(limit, configured)
    assert 1 <= budget.max_connections <= configured
    used = budget.max_connections * FDS_PER_CONNECTION + RESERVED_FDS + budget.metadata_files
    assert used <= limit
    # Lowered only as far as needed: one more connection would not fit.
    if budget.lowered:
        assert used + FDS_PER_CONNECTION > limit


def test_raise_nofile_limit_raises_soft_to_hard(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = {"now": (256, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda _which: limits["now"])

    def setrlimit(which: int, value: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE
        limits["now"] = value

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert raise_nofile_limit() == (4096, 4096)
    # Already at the hard limit: nothing to do.
    assert raise_nofile_limit() == (4096, 4096)


def test_a_refused_raise_keeps_the_soft_limit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (256, 4096))

    def setrlimit(which: int, value: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    with caplog.at_level(logging.WARNING):
        assert raise_nofile_limit() == (256, 4096)
    assert [r.getMessage() for r in caplog.records] == [
        "could not raise RLIMIT_NOFILE from 256 to 4096: not allowed"
    ]


def test_budget_logs_one_line_when_the_cap_is_lowered(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(descriptors, "raise_nofile_limit", lambda: (256, 256))
    with caplog.at_level(logging.INFO, logger="hamster.http"):
        budget = budget_descriptors(1024)
    assert budget.max_connections == 39
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "connection cap lowered from 1024 to 39: RLIMIT_NOFILE is 256 (hard 256); each "
            "connection may hold 3 descriptors, 64 are kept for the server and 74 for the "
            "metadata store",
        )
    ]
    caplog.clear()
    monkeypatch.setattr(descriptors, "raise_nofile_limit", lambda: (20000, 20000))
    with caplog.at_level(logging.INFO, logger="hamster.http"):
        assert budget_descriptors(1024).max_connections == 1024
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.INFO,
            "file descriptors: RLIMIT_NOFILE 20000, connection cap 1024, metadata store 1000",
        )
    ]
