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
import time
from collections.abc import Sequence

from bench import report

# In the order of docs/benchmarks.md.
FAMILIES = ("small_objects", "throughput", "memory")


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
    for name in chosen:
        started = time.monotonic()
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        rc = module.main(["--quick"] if args.quick else [])
        print(f"== bench.{name}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
