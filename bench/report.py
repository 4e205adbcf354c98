"""Writing the benchmark families' sections of docs/benchmarks.md: the file,
the line that says when, where and how a section was run, process memory from
/proc. Not a test."""

from __future__ import annotations

import datetime
from pathlib import Path

from bench import figures

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DOCS = ROOT / "docs"


# The generated sections in the order they appear (a new one goes after those
# before it): their end markers.
SECTION_ENDS = (
    "<!-- end of make bench: small objects -->",
    "<!-- end of make bench: physical limits -->",
    "<!-- end of make bench: throughput -->",
    "<!-- end of make bench: memory -->",
    "<!-- end of make bench: listing -->",
    "<!-- end of make bench: startup -->",
)


def write_section(begin: str, end: str, section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    before = SECTION_ENDS[: SECTION_ENDS.index(end)] if end in SECTION_ENDS else SECTION_ENDS
    DOC.write_text(figures.replace_section(text, begin, end, section, before))


def machine_line() -> str:
    from bench.small_objects import machine  # its versions of every tool

    info = machine()
    return (
        f"{info['nproc']} cores ({info['cpu']}), Linux {info['kernel']}; Python {info['python']},"
        f" Hamster {info['hamster']}, moto {info['moto']}, SeaweedFS (weed) {info['weed']}"
    )


def run_line(quick: bool, rounds: int) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = (
        f"**This is a QUICK run** (`make bench QUICK=1`: {rounds} round, smaller sizes where"
        " said): a quick look, not the figures of record; the 2 cores were shared with other"
        " work, so expect noise."
        if quick
        else f"Median of {rounds} rounds, the range (low–high) in parentheses."
    )
    return f"Run {now} on {machine_line()}. {what}"


def brief_limits(r: dict[str, float | list[float]]) -> str:
    parts = [f"{k} {v:.0f} MiB/s" for k, v in r.items() if isinstance(v, float)]
    lat = r.get("fsync")
    if isinstance(lat, list):
        parts.append(
            f"fsync p50 {figures.percentile(lat, 50):.2f} ms"
            f" p99 {figures.percentile(lat, 99):.2f} ms"
        )
    return ", ".join(parts)


def proc_kib(pid: int, field: str) -> int:
    return figures.status_kib(Path(f"/proc/{pid}/status").read_text(), field)


def reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def exit_on_sigterm() -> None:
    """SIGTERM (a `timeout`, a killed make) unwinds like Ctrl-C, so the
    scripts' `finally` blocks stop the servers they started."""
    import signal
    import sys

    def handler(signum: int, frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
