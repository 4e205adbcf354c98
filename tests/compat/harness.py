"""What every compat scenario shares: the clients, their environment, test data.

A scenario runs a real client (a program installed by `.ci/run`, or boto3 from
the venv) against the real daemon and checks the bytes end to end. A client
that fails puts its own command line, exit status, stdout and stderr, and the
daemon's warnings, into the assertion message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.daemon import Daemon

ACCESS_KEY = "AKIDCOMPAT0000EXAMPLE"
SECRET_KEY = "compat-secret-key-000000000000000000000000"
REGION = "us-east-1"
CLIENT_TIMEOUT_S = 300.0

MiB = 1 << 20

# -- the clients -----------------------------------------------------------------

# Debian 12's aws CLI v2 is the one under test; another `aws` (a pip-installed
# v1, say) may come first on PATH, so the Debian one is named explicitly.
DEBIAN_AWS = Path("/usr/bin/aws")


def aws_binary() -> str:
    """The aws CLI v2 to drive: Debian's /usr/bin/aws when present, else a v2 on PATH."""
    if DEBIAN_AWS.exists():
        return str(DEBIAN_AWS)
    found = shutil.which("aws")
    assert found is not None, "no aws CLI: .ci/run installs Debian's awscli package"
    return found


def binary(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed: .ci/run installs it with apt"
    return found


def version_of(argv: Sequence[str], pattern: str = r"\S+") -> str:
    """The first line of a client's version output (or why there is none)."""
    try:
        out = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=60, env=clean_env(Path("/tmp"))
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else f"unavailable (exit {out.returncode})"


# -- running a client ----------------------------------------------------------------


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A client's environment: nothing of the developer's configuration leaks in.

    HOME is the scenario's own directory, so no ~/.aws, ~/.s3cfg, rclone.conf or
    restic cache of the machine is read.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(home),
    }
    env.update(extra or {})
    return env


@dataclass
class Client:
    """A command-line client bound to a daemon, an environment and a directory."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path
    daemon: Daemon
    log: list[str] = field(default_factory=list)

    def run(
        self, *args: str, ok: bool = True, timeout_s: float = CLIENT_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run the client; unless ok=False, a non-zero exit fails the test with its output."""
        __tracebackhide__ = True
        cmd = [*self.argv, *args]
        try:
            proc = subprocess.run(
                cmd,
                env=self.env,
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"{self.name} timed out after {timeout_s}s:\n"
                + report(cmd, None, _text(exc.stdout), _text(exc.stderr), self.daemon)
            ) from None
        self.log.append(f"$ {' '.join(cmd)} -> {proc.returncode}")
        if ok:
            assert proc.returncode == 0, f"{self.name} failed:\n" + report(
                cmd, proc.returncode, proc.stdout, proc.stderr, self.daemon
            )
        return proc

    def fails(self, proc: subprocess.CompletedProcess[str]) -> str:
        """An assertion message showing `proc`'s output (for checks on its result)."""
        return report(proc.args, proc.returncode, proc.stdout, proc.stderr, self.daemon)


def s3api(aws: Client, *args: str) -> Any:
    """An `aws s3api` call's JSON answer."""
    out = aws.run("s3api", *args, "--output", "json")
    return json.loads(out.stdout) if out.stdout.strip() else {}


def moved(verb: str, out: str, bucket: str) -> list[str]:
    """The keys named by `verb:` lines (upload/download/delete/copy) of an `aws s3` command."""
    keys = []
    for line in out.splitlines():
        if line.startswith(f"{verb}: "):
            match = re.search(rf"s3://{re.escape(bucket)}/(.*?)(?: to |$)", line)
            assert match, f"unexpected line {line!r}"
            keys.append(match.group(1))
    return sorted(keys)


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def report(
    cmd: Sequence[str], status: int | None, stdout: str, stderr: str, daemon: Daemon | None
) -> str:
    def tail(text: str, lines: int = 60) -> str:
        kept = text.rstrip("\n").splitlines()
        cut = len(kept) - lines
        return "\n".join(([f"[... {cut} lines ...]"] if cut > 0 else []) + kept[-lines:])

    parts = [
        f"command: {' '.join(str(c) for c in cmd)}",
        f"exit status: {status}",
        "--- stdout ---",
        tail(stdout),
        "--- stderr ---",
        tail(stderr),
    ]
    if daemon is not None:
        warnings = [x for x in daemon.stderr_lines if " DEBUG " not in x]
        parts += ["--- daemon log (warnings and up) ---", tail("\n".join(warnings), 30)]
    return "\n".join(parts)


def boto3_client(daemon: Daemon, **config: Any) -> Any:
    """boto3 for the compat user against `daemon` (no retries: a failure shows at once)."""
    return boto3.client(
        "s3",
        endpoint_url=daemon.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, **config),
    )


# boto3 as configured by default, and with checksums only when an operation requires
# them (what many S3-compatible deployments set since boto3 1.36 made CRC32 the default).
BOTO3_CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "when_required": {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    },
}
THREADS = 8


def parallel(fn: Callable[[str], Any], keys: Iterable[str]) -> list[Any]:
    """`fn` over `keys` on THREADS threads, results in order."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, keys))


def body_of(key: str) -> bytes:
    """A small body that depends on its key (sizes 16 to 215 bytes)."""
    return pseudo_random(f"body:{key}", 16 + len(key) * 7 % 200)


def put_all(s3: Any, bucket: str, keys: Iterable[str]) -> None:
    """PUT body_of(key) at every key, in parallel."""
    parallel(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body_of(k)), keys)


# -- what the daemon was asked ---------------------------------------------------------

_OP = re.compile(r"request (\w+): op (\w+)")
_STATUS = re.compile(r"request (\w+): status (\d+)")
_UNBUILT = re.compile(r"request (\w+): NotImplemented (\w+) is not implemented")


def operations(daemon: Daemon) -> Counter[str]:
    """S3 operations the daemon routed, from its debug access log: ``Op`` or ``Op (status)``.

    Successful answers count under the operation's name; error answers under
    ``Name (status)``; operations Hamster does not have as ``Name (501)``.
    """
    ops: dict[str, str] = {}
    status: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for line in daemon.stderr_lines:
        if m := _OP.search(line):
            ops[m.group(1)] = m.group(2)
        elif m := _STATUS.search(line):
            status[m.group(1)] = int(m.group(2))
        elif m := _UNBUILT.search(line):
            ops[m.group(1)] = m.group(2)
    for request_id, code in status.items():
        op = ops.get(request_id, "unrouted")
        seen[op if code < 400 else f"{op} ({code})"] += 1
    return seen


# -- test data -------------------------------------------------------------------------


def pseudo_random(seed: str, size: int, offset: int = 0) -> bytes:
    """`size` bytes of a stream that depends on `seed` and on the position.

    Block i of 64 KiB is SHAKE-256 of (seed, i): every file differs from every
    other, and a byte moved within a file (a misplaced part, a shifted range)
    shows.
    """
    block = 1 << 16
    out = bytearray()
    first, last = offset // block, (offset + size + block - 1) // block
    for i in range(first, last):
        out += hashlib.shake_256(f"{seed}/{i}".encode()).digest(block)
    start = offset - first * block
    return bytes(out[start : start + size])


def write_file(path: Path, seed: str, size: int) -> str:
    """Write `size` pseudo-random bytes (seeded by `seed`) to `path`; return their sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for offset in range(0, size, 8 * MiB):
            data = pseudo_random(seed, min(8 * MiB, size - offset), offset)
            digest.update(data)
            f.write(data)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digests(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every regular file under `root`."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def make_tree(root: Path, files: Mapping[str, int], seed: str) -> dict[str, str]:
    """Write each {relative path: size} under `root`; return tree_digests-like digests."""
    return {rel: write_file(root / rel, f"{seed}:{rel}", size) for rel, size in files.items()}
