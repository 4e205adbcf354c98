"""The transfer-rate floor: how long the connection loop may wait on a client.

A request body must arrive, and a response must be read, at no less than
``min_bytes_per_s`` on average, with ``window_s`` of grace. The meter keeps a
credit of waiting time, at most ``window_s``: every wait on the client spends
what it lasted, every byte moved earns ``1 / min_bytes_per_s`` seconds back.
A client that keeps up with the floor never runs out; one that trickles far
below it runs out about ``window_s`` after it began (its few bytes earn almost
nothing), and one that stops altogether after a fast start runs out at most
``window_s`` after its last byte. Only time spent waiting on the client counts,
never time the server spends elsewhere (hashing, writing to disk), so a slow
disk never times a client out.

With ``min_bytes_per_s == 0`` there is no floor: every wait may last
``window_s``, however few bytes came before (a per-read stall timeout).

Sans-I/O: the connection loop measures the waits on trio's clock and reports
them here (`TransferMeter.spent`); nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["RateFloor", "TransferMeter"]

# The smallest piece a response is sent in (see `RateFloor.piece_bytes`).
_MIN_PIECE_BYTES: Final = 16 * 1024


@dataclass(frozen=True)
class RateFloor:
    """A minimum average transfer rate, and the grace window it is measured over.

    Attributes:
      min_bytes_per_s: the floor; 0 turns it off (only stalls are bounded).
      window_s: the grace at the start, and the longest a client may stall.
    """

    min_bytes_per_s: float
    window_s: float

    def __post_init__(self) -> None:
        assert self.min_bytes_per_s >= 0, self.min_bytes_per_s
        assert self.window_s > 0, self.window_s

    @property
    def piece_bytes(self) -> int | None:
        """The most bytes one send may carry, None for no bound.

        A send of ``n`` bytes may wait its credit plus the ``n / min_bytes_per_s``
        seconds those bytes earn; pieces of at most a window's worth of bytes at
        the floor keep that under two windows, so a client that reads nothing is
        let go within two windows of filling its socket buffers.
        """
        if self.min_bytes_per_s == 0:
            return None
        return max(_MIN_PIECE_BYTES, int(self.min_bytes_per_s * self.window_s))


class TransferMeter:
    """The waiting credit of one transfer (one request body, or one response)."""

    def __init__(self, floor: RateFloor) -> None:
        self._floor = floor
        self._credit_s = floor.window_s

    @property
    def credit_s(self) -> float:
        """Waiting time left before a receive would be too slow (0 once exhausted)."""
        return self._credit_s

    @property
    def exhausted(self) -> bool:
        return self._credit_s <= 0

    def allowance_s(self, sending_bytes: int = 0) -> float:
        """How long the next wait may last: a receive has its credit; a send of
        `sending_bytes` also has the time those bytes earn at the floor."""
        assert sending_bytes >= 0, sending_bytes
        return max(0.0, self._credit_s) + self._earned_s(sending_bytes)

    def spent(self, waited_s: float, moved_bytes: int) -> None:
        """Record a wait of `waited_s` that moved `moved_bytes` (0 if it timed out)."""
        assert waited_s >= 0, waited_s
        assert moved_bytes >= 0, moved_bytes
        if self._floor.min_bytes_per_s == 0:
            self._credit_s = self._floor.window_s if moved_bytes else self._credit_s - waited_s
            return
        credit_s = self._credit_s - waited_s + self._earned_s(moved_bytes)
        self._credit_s = min(self._floor.window_s, credit_s)

    def _earned_s(self, moved_bytes: int) -> float:
        if self._floor.min_bytes_per_s == 0:
            return 0.0  # no floor: a send may stall for its credit, a window
        return moved_bytes / self._floor.min_bytes_per_s
