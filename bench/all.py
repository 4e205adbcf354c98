"""`make bench`: every benchmark family, one after the other, each writing its
section of docs/benchmarks.md and its chart.

    .venv/bin/python -m bench.all [--quick] [--only small_objects,throughput]

Each family starts and stops its own servers and interleaves them round by
round; QUICK (``make bench QUICK=1``) runs one short round of each. Not a test.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import report

# In the order of docs/benchmarks.md.
FAMILIES = ("small_objects", "throughput", "memory", "list_objects", "startup")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short round of each family")
    parser.add_argument("--only", default="", help="comma-separated families (default: all)")
    args = parser.parse_args(argv)
    report.exit_on_sigterm()
    chosen = [f for f in args.only.split(",") if f] or list(FAMILIES)
    unknown = set(chosen) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    failed = []
    # startup builds a store of 1,000,000 objects; list_objects lists it, so
    # startup runs first and keeps it (the sections still go in FAMILIES order).
    if "startup" in chosen and "list_objects" in chosen:
        chosen.remove("startup")
        chosen.insert(chosen.index("list_objects"), "startup")
    with tempfile.TemporaryDirectory(prefix="hamster-bench-all-") as tmp:
        big = Path(tmp) / "big-store"
        for name in chosen:
            extra: list[str] = []
            if name == "startup" and "list_objects" in chosen:
                extra = ["--keep", str(big)]
            elif name == "list_objects" and big.exists():
                extra = ["--store", str(big)]
            if run(name, (["--quick"] if args.quick else []) + extra):
                failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


def run(name: str, argv: list[str]) -> int:
    started = time.monotonic()
    print(f"== bench.{name} {' '.join(argv)}", flush=True)
    module = importlib.import_module(f"bench.{name}")
    try:
        rc = int(module.main(argv))
    except Exception as exc:  # one family failing does not stop the others
        print(f"== bench.{name} failed: {exc!r}", flush=True)
        rc = 1
    print(f"== bench.{name}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
