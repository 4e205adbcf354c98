"""Pure parts of the large-object, memory, listing and startup benchmarks:
parsing dd's report and /proc/PID/status, percentiles, MiB/s, the cells and
target verdicts of the tables, and replacing one generated section of
docs/benchmarks.md.

No I/O here beyond what the caller hands in, so tests/bench can check it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from bench.wrk import spread

MiB = 1 << 20

# "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.34567 s, 458 MB/s" (GNU dd, any locale
# that keeps the C number format; the rate is recomputed from bytes and seconds).
_DD = re.compile(r"^(\d+) bytes .*copied, ([0-9.]+(?:e[-+]?\d+)?) s,", re.M)


def parse_dd(stderr: str) -> tuple[int, float]:
    """(bytes copied, seconds) from GNU dd's final report line on stderr."""
    match = _DD.search(stderr)
    if match is None:
        raise ValueError("no 'bytes … copied, … s' line in dd's output:\n" + stderr)
    return int(match.group(1)), float(match.group(2))


def mib_per_s(nbytes: int, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"non-positive duration {seconds!r}")
    return nbytes / MiB / seconds


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation between the closest
    ranks (numpy's default), so p50 of an even count is the mean of the two
    middle values and p100 is the maximum."""
    if not values:
        raise ValueError("no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p!r} outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def status_kib(status_text: str, field: str) -> int:
    """A ``kB`` field (VmRSS, VmHWM, …) of /proc/PID/status, in KiB."""
    for line in status_text.splitlines():
        name, _, rest = line.partition(":")
        if name == field:
            value, unit = rest.split()
            if unit != "kB":
                raise ValueError(f"{field} in {unit!r}, not kB")
            return int(value)
    raise KeyError(field)


def fmt_spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """The median of the rounds, with the range (low–high) when they differ."""
    s = spread(values)
    if s.n == 1 or s.low == s.high:
        return f"{s.median:.{digits}f}{unit}"
    return f"{s.median:.{digits}f}{unit} ({s.low:.{digits}f}–{s.high:.{digits}f})"


def fmt_ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or reference == 0:
        return "—"
    return f"{value / reference:.2f}×"


def verdict(name: str, value: float | None, limit: float | None, *, at_most: bool = False) -> str:
    """One target check as it appears in a table: "name: met" or
    "name: **missed**", "name: —" when either side was not measured. The
    target is value ≥ limit (value ≤ limit with `at_most`)."""
    if value is None or limit is None or math.isnan(value) or math.isnan(limit):
        return f"{name}: —"
    ok = value <= limit if at_most else value >= limit
    return f"{name}: {'met' if ok else '**missed**'}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table (the lines, without a trailing blank)."""
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row of {len(row)} cells under {len(header)} columns: {row!r}")
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def replace_section(
    text: str, begin: str, end: str, section: str, after: Sequence[str] = ()
) -> str:
    """`text` with the lines from `begin` to `end` (both markers included)
    replaced by `section` (which carries its own markers). A document without
    the markers gets the section after the last of the `after` markers it
    holds (the generated sections that come before this one), else at its end."""
    at = text.find(begin)
    if at >= 0:
        stop = text.find(end, at)
        if stop < 0:
            raise ValueError(f"{begin!r} without its end marker {end!r}")
        return text[:at] + section.rstrip("\n") + text[stop + len(end) :]
    places = [text.find(m) + len(m) for m in after if m in text]
    if not places:
        return text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    cut = max(places)
    return text[:cut] + "\n\n" + section.rstrip("\n") + text[cut:]
