"""The transfer-rate floor's meter (`hamster.http.rate`), without any I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.http.rate import RateFloor, TransferMeter

FLOOR = RateFloor(min_bytes_per_s=1000.0, window_s=10.0)

WAITS = st.lists(
    st.tuples(st.floats(min_value=0, max_value=30), st.integers(min_value=0, max_value=50_000)),
    max_size=40,
)


def test_a_fresh_meter_has_one_window_of_credit() -> None:
    meter = TransferMeter(FLOOR)
    assert meter.allowance_s() == 10.0
    assert not meter.exhausted


def test_bytes_earn_their_time_at_the_floor_and_waits_spend_it() -> None:
    meter = TransferMeter(FLOOR)
    meter.spent(4.0, 1500)  # 4 s spent, 1.5 s earned
    assert meter.credit_s == pytest.approx(7.5)
    meter.spent(7.5, 0)
    assert meter.exhausted
    assert meter.allowance_s() == 0.0


def test_credit_never_grows_past_one_window() -> None:
    meter = TransferMeter(FLOOR)
    meter.spent(0.5, 1_000_000)  # a fast burst: a thousand seconds' worth of bytes
    assert meter.credit_s == 10.0


def test_a_trickle_far_below_the_floor_runs_out_about_a_window_in() -> None:
    # One byte every 2 s; the wait that would outlast the allowance times out.
    meter = TransferMeter(FLOOR)
    waited_s = 0.0
    while meter.allowance_s() >= 2.0:
        meter.spent(2.0, 1)
        waited_s += 2.0
    waited_s += meter.allowance_s()
    assert waited_s == pytest.approx(10.0 + 5 / FLOOR.min_bytes_per_s)


def test_a_send_may_also_wait_the_time_its_bytes_earn() -> None:
    meter = TransferMeter(FLOOR)
    assert meter.allowance_s(5000) == pytest.approx(15.0)
    meter.spent(15.0, 5000)
    assert meter.credit_s == pytest.approx(0.0)


def test_without_a_floor_every_wait_after_bytes_may_last_a_window() -> None:
    meter = TransferMeter(RateFloor(0, 10.0))
    meter.spent(9.0, 1)
    assert meter.allowance_s() == 10.0
    assert meter.allowance_s(1 << 30) == 10.0  # a send is a stall timeout too
    meter.spent(10.0, 0)
    assert meter.exhausted


def test_pieces_hold_a_window_of_bytes_at_the_floor_and_at_least_16_kib() -> None:
    assert RateFloor(4096, 20).piece_bytes == 80 * 1024
    assert RateFloor(10, 20).piece_bytes == 16 * 1024
    assert RateFloor(0, 20).piece_bytes is None


@given(waits=WAITS)
def test_a_client_never_waits_longer_than_a_window_plus_what_its_bytes_earn(
    waits: list[tuple[float, int]],
) -> None:
    # The floor's promise, over any history: the total waited stays within
    # window + bytes / floor, and the credit within [.., window].
    meter = TransferMeter(FLOOR)
    waited_s = 0.0
    moved = 0
    for wait_s, nbytes in waits:
        if wait_s >= meter.allowance_s():
            wait_s, nbytes = meter.allowance_s(), 0  # timed out: the transfer ends
        meter.spent(wait_s, nbytes)
        waited_s += wait_s
        moved += nbytes
        assert meter.credit_s <= FLOOR.window_s
        if nbytes == 0 and meter.exhausted:
            break
        assert waited_s <= FLOOR.window_s + moved / FLOOR.min_bytes_per_s + 1e-6


@given(waits=WAITS)
def test_a_client_that_keeps_up_with_the_floor_never_runs_out(
    waits: list[tuple[float, int]],
) -> None:
    meter = TransferMeter(FLOOR)
    for wait_s, extra in waits:
        meter.spent(wait_s, int(wait_s * FLOOR.min_bytes_per_s) + 1 + extra)
        assert meter.credit_s == pytest.approx(FLOOR.window_s)
