"""Reading AWS's SigV4 test suite (`../shared/sigv4-testsuite/`) in place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "sigv4-testsuite"

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
