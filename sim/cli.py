"""`hamster-sim`: run seeds of the crash-and-fault simulation (`sim.world`).

    hamster-sim --seeds 1000            seeds 0..999, on every core
    hamster-sim --seed 17 --trace       one seed, with its full trace
    hamster-sim --seeds 200 --break skip-blob-fsync
                                        the same with a bug planted in the store:
                                        it must find a failing seed

Prints each failing seed with the command that replays it, and exits 1 if any
seed failed (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from hamster.runtime import BREAKS
from sim.world import SeedResult, SimOptions, run_seed

__all__ = ["main"]


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one seed (the trace stays behind)."""

    seed: int
    failure: str | None
    crashes: int
    seconds: float


def _run_one(opts: SimOptions) -> Outcome:
    started = time.monotonic()
    result = run_seed(opts)
    return Outcome(result.seed, result.failure, result.crashes, time.monotonic() - started)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hamster-sim",
        description="Deterministic crash-and-fault simulation of the Hamster server.",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    which.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--start", type=int, default=0, help="the first seed (default 0)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--crashes", type=int, default=4, help="crashes per seed (default 4)")
    p.add_argument("--ops", type=int, default=100, help="client operations per seed (default 100)")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    p.add_argument(
        "--faults",
        choices=("seed", "on", "off"),
        default="seed",
        help="inject disk faults: each seed decides (default), always, never",
    )
    p.add_argument(
        "--break",
        dest="breaks",
        action="append",
        default=[],
        choices=sorted(BREAKS),
        metavar="NAME",
        help=f"plant a bug in the store (one of {', '.join(sorted(BREAKS))}); repeatable",
    )
    p.add_argument("--trace", action="store_true", help="print the trace (with --seed)")
    p.add_argument(
        "--trace-io",
        action="store_true",
        help="put every filesystem and metadata operation in the trace (with --seed)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="start no new seed after this many seconds (a time box for CI)",
    )
    p.add_argument("--stop-on-failure", action="store_true", help="stop at the first failing seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _replay_command(args: argparse.Namespace, seed: int) -> str:
    parts = ["hamster-sim", "--seed", str(seed), "--trace"]
    if args.crashes != 4:
        parts += ["--crashes", str(args.crashes)]
    if args.ops != 100:
        parts += ["--ops", str(args.ops)]
    if args.clients != 4:
        parts += ["--clients", str(args.clients)]
    if args.faults != "seed":
        parts += ["--faults", args.faults]
    for name in args.breaks:
        parts += ["--break", name]
    return " ".join(parts)


class Progress:
    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2 and self.done < self.total:
            return
        self._last = now
        rate = self.done / max(now - self.started, 1e-9)
        width = 30
        filled = width * self.done // max(self.total, 1)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} seeds, "
            f"{self.failed} failed, {rate:.1f} seeds/s "
        )
        sys.stderr.flush()

    def line(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 78 + "\r")
        print(text, flush=True)
        self.update(force=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base = SimOptions(
        seed=0,
        crashes=args.crashes,
        ops=args.ops,
        clients=args.clients,
        breaks=frozenset(args.breaks),
        faults=None if args.faults == "seed" else args.faults == "on",
        trace_io=args.trace_io,
    )
    if args.crashes < 0 or args.ops < 1 or args.clients < 1 or args.jobs < 1:
        print("hamster-sim: --crashes >= 0, --ops, --clients and --jobs >= 1", file=sys.stderr)
        return 2
    if args.seed is not None:
        return _one(args, replace(base, seed=args.seed))
    seeds = range(args.start, args.start + args.seeds)
    return _many(args, base, seeds)


def _one(args: argparse.Namespace, opts: SimOptions) -> int:
    result: SeedResult = run_seed(opts)
    if args.trace:
        for line in result.trace:
            print(line)
    if result.ok:
        print(f"seed {opts.seed}: ok ({result.crashes} crashes, {result.stats})")
        return 0
    print(f"seed {opts.seed} FAILED: {result.failure}")
    return 1


def _many(args: argparse.Namespace, base: SimOptions, seeds: range) -> int:
    progress = Progress(len(seeds), enabled=not args.quiet and sys.stderr.isatty())
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    failures: list[Outcome] = []
    crashes = 0
    todo: Iterator[int] = iter(seeds)
    stopped = False
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        running: set[concurrent.futures.Future[Outcome]] = set()

        def fill() -> None:
            nonlocal stopped
            while not stopped and len(running) < 2 * args.jobs:
                if deadline is not None and time.monotonic() > deadline:
                    stopped = True
                    return
                seed = next(todo, None)
                if seed is None:
                    return
                running.add(pool.submit(_run_one, replace(base, seed=seed)))

        fill()
        while running:
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in sorted(done, key=lambda f: f.result().seed):
                running.discard(future)
                outcome = future.result()
                progress.done += 1
                crashes += outcome.crashes
                if outcome.failure is not None:
                    progress.failed += 1
                    failures.append(outcome)
                    first_line = outcome.failure.splitlines()[0] if outcome.failure else ""
                    progress.line(
                        f"seed {outcome.seed} FAILED: {first_line}\n"
                        f"  replay: {_replay_command(args, outcome.seed)}"
                    )
                    if args.stop_on_failure:
                        stopped = True
            fill()
            progress.update()
    progress.update(force=True)
    if progress.enabled:
        sys.stderr.write("\n")
    note = " (time box reached)" if deadline is not None and progress.done < len(seeds) else ""
    print(
        f"hamster-sim: {progress.done} seeds run{note}, {crashes} crashes, "
        f"{len(failures)} failed"
        + (
            f": {', '.join(str(f.seed) for f in sorted(failures, key=lambda f: f.seed))}"
            if failures
            else ""
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
