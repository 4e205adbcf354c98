"""Free space: refusing writes before the disk is full, and saying so once.

``--min-free`` (`MinFree`) is the free space a write must leave: below it,
new writes (PutObject, UploadPart, CompleteMultipartUpload, CopyObject,
UploadPartCopy) are refused early with `StorageFull` (507
XHamsterStorageFull) instead of filling the disk to the last byte. Deletes
never ask: the headroom is what lets the metadata store commit them (LevelDB
appends to its log for a delete too, and a metadata write that fails stops the
server: core.py). The default is the smaller of 1 GiB and 1 % of the
filesystem's size. Free space is what the filesystem interface reports
(`FileSystem.disk_space`: statvfs's space available to the server's user);
where it is unknown (None), nothing is refused early and ENOSPC from the disk
itself is the only signal.

Logging: a run of refusals (early, or ENOSPC from the disk) is one warning
line when it starts, at most one summary line per `REPORT_INTERVAL_NS` while
it lasts, and one line when a blob write succeeds again (`FullBurst`): never
a line, let alone a traceback, per request.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from hamster.runtime import Runtime
from hamster.storage.errors import StorageFull
from hamster.storage.fs import FileSystem

log = logging.getLogger("hamster.storage")

__all__ = [
    "DEFAULT_MIN_FREE",
    "FullBurst",
    "MinFree",
    "SpaceGuard",
    "parse_min_free",
]

GIB = 1024**3
REPORT_INTERVAL_NS = 60 * 1_000_000_000

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}
_SIZE_RE = re.compile(r"(\d+)\s*([a-z]*)\Z")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*%\Z")


@dataclass(frozen=True)
class MinFree:
    """The free space writes must leave: `size_bytes`, `percent` of the
    filesystem's size, or (both given) the smaller of the two; neither: 0."""

    size_bytes: int | None = None
    percent: float | None = None

    def __post_init__(self) -> None:
        assert self.size_bytes is None or self.size_bytes >= 0
        assert self.percent is None or 0 <= self.percent <= 100

    def threshold_bytes(self, total_bytes: int) -> int:
        """The bytes to keep free on a filesystem of `total_bytes`."""
        candidates = []
        if self.size_bytes is not None:
            candidates.append(self.size_bytes)
        if self.percent is not None:
            candidates.append(int(total_bytes * self.percent / 100))
        return min(candidates, default=0)

    def __str__(self) -> str:
        parts = []
        if self.size_bytes is not None:
            parts.append(f"{self.size_bytes} bytes")
        if self.percent is not None:
            parts.append(f"{self.percent:g}%")
        return " or ".join(parts) if parts else "0"


DEFAULT_MIN_FREE = MinFree(size_bytes=GIB, percent=1.0)


def parse_min_free(text: str) -> MinFree:
    """``--min-free``'s value: a size (``0``, ``4096``, ``512MiB``, ``2G``,
    ``10GB``: K/M/G/T and KiB/... are powers of 1024, KB/... of 1000), a
    percentage of the filesystem (``5%``), or one of each joined by a comma
    (the smaller applies). ValueError for anything else."""
    size: int | None = None
    percent: float | None = None
    items = [item.strip().lower() for item in text.split(",")]
    if not 1 <= len(items) <= 2:
        raise ValueError(f"expected SIZE, PERCENT% or SIZE,PERCENT%, got {text!r}")
    for item in items:
        if (match := _PERCENT_RE.match(item)) is not None:
            if percent is not None or float(match.group(1)) > 100:
                raise ValueError(f"bad percentage in {text!r}")
            percent = float(match.group(1))
        elif (match := _SIZE_RE.match(item)) is not None and match.group(2) in _UNITS:
            if size is not None:
                raise ValueError(f"two sizes in {text!r}")
            size = int(match.group(1)) * _UNITS[match.group(2)]
        else:
            raise ValueError(f"expected SIZE, PERCENT% or SIZE,PERCENT%, got {text!r}")
    return MinFree(size_bytes=size, percent=percent)


class FullBurst:
    """When to log a run of disk-full refusals (times in ns from any clock)."""

    def __init__(self, interval_ns: int = REPORT_INTERVAL_NS) -> None:
        assert interval_ns > 0
        self.interval_ns = interval_ns
        self.active = False
        self.total = 0  # refusals since the run began
        self._since_report = 0  # refusals since the last line
        self._reported_ns = 0

    def refused(self, now_ns: int) -> int | None:
        """One more refusal. Returns 0 when it starts a run (log that), the
        refusals since the last line when a summary is due, else None."""
        self.total += 1
        if not self.active:
            self.active = True
            self._since_report = 0
            self._reported_ns = now_ns
            return 0
        self._since_report += 1
        if now_ns - self._reported_ns >= self.interval_ns:
            count, self._since_report = self._since_report, 0
            self._reported_ns = now_ns
            return count
        return None

    def accepted(self) -> int | None:
        """A write went through: the refusals of the run it ends, if one was on."""
        if not self.active:
            return None
        total, self.active, self.total = self.total, False, 0
        return total


class SpaceGuard:
    """The minimum-free-space check of every new write, and the one log of
    disk-full refusals (see the module docstring)."""

    def __init__(self, fs: FileSystem, runtime: Runtime, min_free: MinFree) -> None:
        self.fs = fs
        self.runtime = runtime
        self.min_free = min_free
        self.burst = FullBurst()

    async def require(self, incoming_bytes: int = 0) -> None:
        """StorageFull unless `incoming_bytes` more would leave the minimum
        free space (nothing is refused where free space is unknown)."""
        assert incoming_bytes >= 0
        space = await self.fs.disk_space()
        if space is None:
            return
        keep = self.min_free.threshold_bytes(space.total_bytes)
        if keep and space.free_bytes - incoming_bytes < keep:
            error = StorageFull(
                "write",
                "",
                f"{space.free_bytes} bytes free, {incoming_bytes} to write, "
                f"--min-free keeps {keep}",
            )
            self.refused(error)
            raise error

    def refused(self, error: StorageFull) -> None:
        """Count a refusal for a full disk (early or ENOSPC); log per burst."""
        count = self.burst.refused(self.runtime.now_ns())
        if count == 0:
            log.warning(
                "disk full (%s): refusing writes with 507 XHamsterStorageFull until space "
                "returns; reads and deletes go on",
                error,
            )
        elif count is not None:
            log.warning("disk still full (%s): %d more write(s) refused", error, count)

    def accepted(self) -> None:
        """A blob write succeeded: a run of refusals, if any, is over."""
        total = self.burst.accepted()
        if total is not None:
            log.info("disk space is back: writes accepted again (%d refused while full)", total)
