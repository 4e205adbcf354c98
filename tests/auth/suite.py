"""Reading AWS's SigV4 test suite in place.

The suite lives beside the repository in the workplace (`../shared/sigv4-testsuite/`);
a clone elsewhere (CI) reads the identical copy kept in `tests/vectors/sigv4-testsuite/`
(Apache-2.0, LICENSE and NOTICE included). `HAMSTER_SIGV4_TESTSUITE` names another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def _suite_dir() -> Path:
    candidates = [
        Path(os.environ["HAMSTER_SIGV4_TESTSUITE"])
        if "HAMSTER_SIGV4_TESTSUITE" in os.environ
        else None,
        _REPO.parent / "shared" / "sigv4-testsuite",
        _REPO / "tests" / "vectors" / "sigv4-testsuite",
    ]
    for candidate in candidates:
        if candidate is not None and (candidate / "streaming-examples.json").is_file():
            return candidate
    raise FileNotFoundError("the SigV4 test suite is missing: see tests/auth/suite.py")


SUITE_DIR = _suite_dir()

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20150830T123600Z"
REGION = "us-east-1"
SERVICE = "service"


@dataclass(frozen=True)
class RawRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), arrival order
    body: bytes


def parse_request(data: bytes) -> RawRequest:
    """Parse a suite `.req`/`.sreq` file (LF line ends, obs-fold continuations)."""
    head, _, body = data.partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    method, _, rest = lines[0].partition(" ")
    target, _, _version = rest.rpartition(" ")
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue  # a trailing newline at the end of the file
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")  # obs-fold: one SP
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip(" \t")))
    return RawRequest(method, path, query, tuple(headers), body)


def case_dirs() -> list[Path]:
    """Every case folder (one holding a `.sreq`), sorted by relative name."""
    return sorted(p.parent for p in SUITE_DIR.rglob("*.sreq"))


def case_file(case: Path, suffix: str) -> bytes:
    return (case / f"{case.name}{suffix}").read_bytes()
