"""Mutation testing of hamster/storage, hamster/s3 and hamster/auth with mutmut.

``make mutate`` runs this. Each package is mutated with the tests of that package
only (``tests/<package>``), in its own scratch copy of the tree under
``build/mutate/<package>/`` so the three runs keep separate caches. ``--fresh``
(what ``make mutate`` passes) starts from an empty cache; without it a rerun tests
the mutants whose function changed and, again, every mutant that was not killed
(mutmut would keep their cached verdicts even when new tests kill them), after
tracing every test again (mutmut alone re-traces only new tests, so a function
added since the last run would have none). Per package it prints the score

    killed / (mutants - equivalent)

where timeouts count as killed (the mutant made the tests hang) and "equivalent"
are the surviving mutants listed in docs/testing.md, each with a line on why it
cannot change behaviour. It lists every other survivor (a missing test) and exits
1 when a package scores under 90 %, or when docs/testing.md lists a mutant as
equivalent that the run killed or that no longer exists (a stale entry).

    python bench/mutate.py [storage] [s3] [auth] [--fresh] [--max-children N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "s3", "auth")
THRESHOLD = 0.90
# What the tests of every package need beside the package itself.
COPIED = ("hamster", "sim", "tests", "schema", "pyproject.toml")
EQUIVALENT_LINE = re.compile(r"^\s*[-*]\s+`(hamster\.[A-Za-z0-9_.ǁ]+__mutmut_\d+)`")
RESULT_LINE = re.compile(r"^\s*(hamster\.\S+__mutmut_\d+): (.+)$")


def mutmut_section(package: str) -> str:
    return f"""

[tool.mutmut]
source_paths = ["hamster"]
only_mutate = ["hamster/{package}/*"]
do_not_mutate = ["hamster/storage/pb/*"]
also_copy = ["sim", "schema"]
pytest_add_cli_args_test_selection = ["tests/{package}"]
pytest_add_cli_args = ["-p", "no:cacheprovider"]
# A mutant that loops forever is killed after 2 x 5 x (its tests' CPU time + 1 s)
# of CPU time instead of mutmut's 2 x 15 x: the loops are in tight parsers, and a
# timeout still counts as killed.
timeout_multiplier = 5.0
"""


def equivalent_mutants(doc: Path) -> set[str]:
    """The mutant names docs/testing.md lists as equivalent."""
    if not doc.exists():
        return set()
    names = set()
    for line in doc.read_text("utf-8").splitlines():
        m = EQUIVALENT_LINE.match(line)
        if m:
            names.add(m.group(1))
    return names


def prepare(package: str, work: Path) -> None:
    """Refresh the scratch copy (keeping mutmut's cache in work/mutants)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src, dst = ROOT / name, work / name
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if src.is_dir():
            shutil.copytree(
                src,
                dst,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"),
            )
        else:
            shutil.copy2(src, dst)
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text("utf-8") + mutmut_section(package), "utf-8")


@dataclass
class Outcome:
    package: str
    status: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def names(self, *statuses: str) -> list[str]:
        return sorted(n for n, s in self.status.items() if s in statuses)


def results(mutmut: str, work: Path) -> dict[str, str]:
    """Mutant name -> mutmut's verdict ("killed", "survived", "no tests", ...)."""
    listed = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    status = {}
    for line in listed.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            status[m.group(1)] = m.group(2).strip()
    return status


def run(package: str, mutmut: str, *, fresh: bool, max_children: int | None) -> Outcome:
    work = ROOT / "build" / "mutate" / package
    if fresh and (work / "mutants").exists():
        shutil.rmtree(work / "mutants")
    cached = (work / "mutants").exists()
    prepare(package, work)
    if cached:
        # mutmut keeps each unchanged function's verdicts (in the .meta files)
        # but re-traces only new tests: a function added or changed since the
        # last run would have no tests mapped to it ("no tests"). Dropping the
        # stats makes it trace the whole selection once more.
        (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    started = time.monotonic()
    cmd = [mutmut, "run"]
    if max_children:
        cmd += ["--max-children", str(max_children)]
    subprocess.run(cmd, cwd=work, check=True)
    if cached:
        again = [n for n, s in results(mutmut, work).items() if s in ("survived", "no tests")]
        if again:
            subprocess.run([*cmd, *again], cwd=work, check=True)
    return Outcome(package, results(mutmut, work), time.monotonic() - started)


def report(outcome: Outcome, equivalent: set[str]) -> tuple[bool, str]:
    """(passed, text) for one package."""
    mine = {n for n in equivalent if n.startswith(f"hamster.{outcome.package}.")}
    killed = outcome.names("killed", "timeout")
    surviving = outcome.names("survived", "no tests", "suspicious", "segfault")
    stale = sorted(n for n in mine if outcome.status.get(n) not in ("survived", "no tests"))
    missing = [n for n in surviving if n not in mine]
    total = len(outcome.status)
    counted = total - (len(mine) - len(stale))
    score = len(killed) / counted if counted else 1.0
    lines = [
        f"hamster/{outcome.package}: {len(killed)} killed of {counted} non-equivalent "
        f"mutants = {score:.1%} ({total} mutants, {len(mine) - len(stale)} equivalent, "
        f"{len(missing)} surviving, {outcome.seconds:.0f} s)"
    ]
    lines += [f"  survived (missing test): {n}" for n in missing]
    lines += [f"  stale equivalent entry (killed or gone): {n}" for n in stale]
    return score >= THRESHOLD and not stale, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", metavar="PACKAGE", help=" ".join(PACKAGES))
    parser.add_argument("--fresh", action="store_true", help="start from an empty cache")
    parser.add_argument("--max-children", type=int, default=None)
    args = parser.parse_args(argv)
    packages = args.packages or list(PACKAGES)
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        parser.error(f"unknown package {unknown[0]!r}: choose from {', '.join(PACKAGES)}")
    mutmut = shutil.which("mutmut", path=os.path.dirname(sys.executable)) or "mutmut"
    equivalent = equivalent_mutants(ROOT / "docs" / "testing.md")
    outcomes = [
        run(p, mutmut, fresh=args.fresh, max_children=args.max_children) for p in packages
    ]
    ok = True
    print()
    for outcome in outcomes:
        passed, text = report(outcome, equivalent)
        ok = ok and passed
        print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
