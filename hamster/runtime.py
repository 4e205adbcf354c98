"""The runtime context: the clock, the randomness and the thread hops the
request path may use, and the simulator's fault switches.

Nothing in the request path reads the wall clock, `random` or hops to a worker
thread directly: it asks the `Runtime` it was given, so the simulator can
substitute a deterministic clock, seeded randomness and inline "threads"
(`InlineOffload`: the same seed then gives the same completion order).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import trio

T = TypeVar("T")
D = TypeVar("D", bound=Sized)

# Data up to this size is hashed on the event loop, larger data through the
# offload (a worker thread: hashlib, hmac, zlib and awscrt release the GIL on
# big buffers). One trio.to_thread hop costs 50-150 us on this machine (2
# cores, Python 3.11), as much as SHA-256 of 256 KiB (~150 us). The HTTP edge
# hands the body over in reads of up to 256 KiB (ServerLimits.receive_bytes),
# so body verification (x-amz-content-sha256, aws-chunked) stays inline and
# the store's 1 MiB chunks (MD5 + checksum, ~1.5 ms) go to a thread. With 64 KiB
# (the store's old cut-off) every 64-256 KiB read of an aws-chunked body took
# a hop: bench/streaming_auth.py (512 MiB, tmpfs) ran 244-307 MiB/s at
# 4.5-5.4 s/GiB of server CPU, against 322-337 MiB/s at 4.2-4.5 s/GiB here.
HASH_INLINE_MAX_BYTES = 256 * 1024

# Request ids drawn from the entropy at once (`Runtime.request_id`): os.urandom
# is a system call that releases the GIL, costly on a busy event loop.
REQUEST_IDS_PER_DRAW = 64

# The fault switches (`Runtime.breaks`): each plants a known durability bug
# in the store, so that the simulator can show its checks catch it
# (`hamster-sim --break NAME`). Only the simulator sets them, and the unit
# tests that show each one works (tests/storage/test_breaks.py); `hamster
# serve` never does.
BREAKS: tuple[str, ...] = (
    # BlobStore.write renames a blob into blobs/ without fsyncing it first.
    "skip-blob-fsync",
    # Core.transaction writes the metadata batch with sync=False: the client
    # is answered before the record is durable.
    "ack-before-sync",
    # No fsync of tmp/ after a blob is written there, nor of blobs/xx after
    # a committed blob is linked into it (nor of blobs/ after blobs/xx is
    # created).
    "skip-dir-fsync",
    # Core.transaction removes the blobs a batch unreferences (an overwritten
    # or deleted object's) before writing the batch instead of after.
    "delete-before-swap",
    # BlobStore.write logs an OSError from the blob's fsync and carries on:
    # the write is acknowledged although its data may be lost.
    "ignore-fsync-error",
    # Core.transaction (group commit) acknowledges a batch once the metadata
    # write it waited for returns, although that write was an earlier
    # group's and its own batch is not yet written.
    "ack-on-earlier-write",
    # Recovery removes every temp file, as before markers: also a committed
    # blob still in tmp/ whose placing marker says a record points to it.
    "recovery-drops-placed",
    # BlobStore.settle removes a placed blob's tmp/ name (and its placing
    # marker goes) before the new name in blobs/xx is synced.
    "unlink-tmp-before-sync",
    # Core.transaction writes no removal marker for the blobs a batch
    # unreferences: a crash before their removal is durable leaves orphans.
    "unrecorded-removal",
    # Core.transaction writes the batch of an inline object (its bytes in its
    # record, storage/store.py) with sync=False, as if an object with no blob
    # had nothing to make durable: the PUT is acknowledged before its bytes
    # are durable, and so is every batch of a group that it writes.
    "inline-unsynced",
)


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, nanoseconds since the Unix epoch."""
        ...


class Entropy(Protocol):
    def token_bytes(self, n: int) -> bytes:
        """n unpredictable bytes (ids, request ids, generated keys)."""
        ...


class Offload(Protocol):
    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, run where it does not block the event loop; its result
        or exception. Not cancellable once `fn` has started."""
        ...


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()


class SystemEntropy:
    def token_bytes(self, n: int) -> bytes:
        return os.urandom(n)


class ThreadOffload:
    """Each call is one hop to a trio worker thread (the default)."""

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, *args)


class InlineOffload:
    """Each call runs on the trio thread, after a checkpoint (a cancel and
    schedule point, as a thread hop has): deterministic, for the simulator."""

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint()
        return fn(*args)


@dataclass
class Runtime:
    clock: Clock = field(default_factory=SystemClock)
    entropy: Entropy = field(default_factory=SystemEntropy)
    offload: Offload = field(default_factory=ThreadOffload)
    # The one inline-hashing cut-off (see HASH_INLINE_MAX_BYTES).
    hash_inline_max_bytes: int = HASH_INLINE_MAX_BYTES
    # The fault switches that are on (names from BREAKS; others: ValueError).
    breaks: frozenset[str] = frozenset()
    # Request ids drawn but not handed out yet (`request_id`), last first.
    _request_ids: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert self.hash_inline_max_bytes >= 0
        self.breaks = frozenset(self.breaks)
        unknown = sorted(self.breaks.difference(BREAKS))
        if unknown:
            raise ValueError(
                f"unknown fault switch {', '.join(unknown)} (known: {', '.join(BREAKS)})"
            )

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def new_id(self) -> str:
        """A fresh 128-bit internal id, as 32 lowercase hex digits."""
        return self.entropy.token_bytes(16).hex()

    def request_id(self) -> str:
        """A fresh request id in S3's style (16 uppercase hex digits).

        Ids are drawn from the entropy `REQUEST_IDS_PER_DRAW` at a time (one
        ``getrandom`` per draw, not per request), in the order of its bytes.
        """
        if not self._request_ids:
            text = self.entropy.token_bytes(8 * REQUEST_IDS_PER_DRAW).hex().upper()
            # Reversed, so that pop() hands them out in the order of the bytes.
            self._request_ids = [text[i : i + 16] for i in range(len(text) - 16, -1, -16)]
        return self._request_ids.pop()

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking work (`fn(*args)`) through the offload."""
        return await self.offload.run_sync(fn, *args)

    async def hash(self, fn: Callable[[D], T], data: D) -> T:
        """`fn(data)` for hashing work over `data`: inline up to
        `hash_inline_max_bytes` (no checkpoint), through the offload above."""
        if len(data) <= self.hash_inline_max_bytes:
            return fn(data)
        return await self.offload.run_sync(fn, data)

    def broken(self, name: str) -> bool:
        """Whether the fault switch `name` (one of BREAKS) is on: the store
        asks at each place where one of them plants its bug."""
        assert name in BREAKS, name
        return name in self.breaks
