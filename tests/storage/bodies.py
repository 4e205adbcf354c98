"""Body sources for store tests."""

from __future__ import annotations

import trio

from hamster.s3.errors import S3Error


class BytesBody:
    """Serves `data` in pieces of at most `piece_bytes`; counts the largest read."""

    def __init__(self, data: bytes, piece_bytes: int = 100_000) -> None:
        self.data = data
        self.offset = 0
        self.piece_bytes = piece_bytes
        self.reads = 0

    async def read(self, max_bytes: int) -> bytes:
        assert max_bytes > 0
        await trio.lowlevel.checkpoint()
        self.reads += 1
        n = min(max_bytes, self.piece_bytes)
        out = self.data[self.offset : self.offset + n]
        self.offset += len(out)
        return out


class GatedBody:
    """Sends `first`, then waits for `gate` before sending `rest` (each <= max_bytes)."""

    def __init__(self, first: bytes, gate: trio.Event, rest: bytes = b"") -> None:
        assert len(first) <= 1 << 20 and len(rest) <= 1 << 20
        self.parts = [first, rest]
        self.gate = gate
        self.started = trio.Event()

    async def read(self, max_bytes: int) -> bytes:
        if len(self.parts) == 2:
            self.started.set()
            return self.parts.pop(0)
        await self.gate.wait()
        return self.parts.pop(0) if self.parts else b""


class FailingBody:
    """Sends `first`, then raises `error`."""

    def __init__(self, first: bytes, error: BaseException) -> None:
        self.first: bytes | None = first
        self.error = error

    async def read(self, max_bytes: int) -> bytes:
        if self.first:
            out, self.first = self.first[:max_bytes], self.first[max_bytes:]
            return out
        raise self.error


def checksum_mismatch() -> S3Error:
    return S3Error("BadDigest")
