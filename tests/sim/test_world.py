"""The simulator (sim.world, sim.cli) on the real store: seeds pass, a seed
replays byte for byte, and every bug planted with --break is found."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hamster.runtime import BREAKS
from sim.world import SimOptions, run_seed

HAMSTER_SIM = str(Path(sys.executable).with_name("hamster-sim"))


def test_seeds_pass_with_crashes_and_faults() -> None:
    results = [run_seed(SimOptions(seed=seed)) for seed in range(6)]
    for result in results:
        assert result.ok, f"seed {result.seed}: {result.failure}"
    # The seeds really crash, and the workload really writes.
    assert sum(r.crashes for r in results) >= 12
    assert all(r.stats["acked"] >= 20 for r in results)


def test_a_seed_replays_the_same_trace() -> None:
    first = run_seed(SimOptions(seed=11))
    again = run_seed(SimOptions(seed=11))
    other = run_seed(SimOptions(seed=12))
    assert first.trace == again.trace
    assert first.trace != other.trace
    assert any("CRASH" in line for line in first.trace)


def test_a_seed_replays_the_same_in_fresh_processes() -> None:
    """Across processes with different hash seeds (nothing may depend on the
    order of a set of strings, on addresses or on threads)."""
    outputs = []
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [HAMSTER_SIM, "--seed", "7", "--trace"],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert "CRASH" in outputs[0]


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_every_planted_bug_is_found(name: str) -> None:
    done = subprocess.run(
        [HAMSTER_SIM, "--seeds", "200", "--break", name, "--stop-on-failure", "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    found = re.search(r"seed (\d+) FAILED", done.stdout)
    assert found is not None, done.stdout
    assert f"--break {name}" in done.stdout  # the replay command names the bug
    # The same seed without the planted bug passes: the bug made it fail.
    assert run_seed(SimOptions(seed=int(found.group(1)))).ok
