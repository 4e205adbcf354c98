"""The runtime context: the clock and the randomness the request path may use.

Nothing in the request path reads the wall clock or `random` directly; it asks
the `Runtime` it was given, so the simulator can substitute a deterministic
clock and seeded randomness.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, nanoseconds since the Unix epoch."""
        ...


class Entropy(Protocol):
    def token_bytes(self, n: int) -> bytes:
        """n unpredictable bytes (ids, request ids, generated keys)."""
        ...


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()


class SystemEntropy:
    def token_bytes(self, n: int) -> bytes:
        return os.urandom(n)


@dataclass
class Runtime:
    clock: Clock = field(default_factory=SystemClock)
    entropy: Entropy = field(default_factory=SystemEntropy)

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def new_id(self) -> str:
        """A fresh 128-bit internal id, as 32 lowercase hex digits."""
        return self.entropy.token_bytes(16).hex()

    def request_id(self) -> str:
        """A fresh request id in S3's style (16 uppercase hex digits)."""
        return self.entropy.token_bytes(8).hex().upper()
