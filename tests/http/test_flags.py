"""`hamster serve`'s connection flags become the `ServerLimits` the server runs with."""

from __future__ import annotations

import pytest

from hamster.cli import _connection_limits, build_parser
from hamster.http.connection import ServerLimits


def limits(*argv: str) -> ServerLimits:
    return _connection_limits(build_parser().parse_args(["serve", *argv]))


def test_without_flags_the_limits_are_the_defaults() -> None:
    assert limits() == ServerLimits()


def test_every_connection_flag_sets_its_limit() -> None:
    got = limits(
        "--max-connections-per-client=3",
        "--max-header-bytes=8192",
        "--header-timeout=3.5",
        "--idle-timeout=31",
        "--min-transfer-rate=0",
        "--transfer-window=45",
        "--drain-limit=77",
        "--linger-timeout=2",
        "--shutdown-grace=9",
    )
    assert got == ServerLimits(
        max_connections_per_client=3,
        max_header_bytes=8192,
        header_timeout_s=3.5,
        idle_timeout_s=31.0,
        min_transfer_bytes_per_s=0.0,
        transfer_window_s=45.0,
        drain_limit_bytes=77,
        linger_timeout_s=2.0,
        shutdown_grace_s=9.0,
    )


@pytest.mark.parametrize(
    "flag",
    [
        "--header-timeout=0",
        "--transfer-window=-1",
        "--idle-timeout=nan",
        "--min-transfer-rate=-5",
        "--min-transfer-rate=inf",
        "--max-header-bytes=0",
        "--max-connections-per-client=0",
        "--drain-limit=1.5",
        "--linger-timeout=soon",
    ],
)
def test_a_bad_value_is_a_usage_error(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        limits(flag)
    assert exit_info.value.code == 2
    assert flag.split("=")[0] in capsys.readouterr().err
