"""README.md's quick start, run exactly as written (the test breaks if the README drifts).

The blocks are read from README.md's "Quick start" section: the console block
is the banner a first start prints; the `sh` block runs in bash with Debian's
aws CLI as `aws`; the `python` block runs in the venv's Python. Only the
address (the daemon listens on a random port, not 9000) and the generated key
pair the banner printed are substituted, as a user would.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat import harness
from tests.compat.conftest import aws_env
from tests.compat.harness import Client
from tests.daemon import Daemon

README = Path(__file__).resolve().parents[2] / "README.md"
README_ENDPOINT = "http://127.0.0.1:9000"


def quick_start_blocks() -> dict[str, str]:
    """{fence language: block text} of the README's quick-start section."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start.*?$(.*?)^## ", text, re.M | re.S)
    assert section, "README.md has no '## Quick start' section"
    blocks = dict(re.findall(r"^```(\w+)\n(.*?)^```", section.group(1), re.M | re.S))
    assert set(blocks) == {"console", "sh", "python"}, f"quick start blocks: {sorted(blocks)}"
    return blocks


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[tuple[Daemon, str, str]]:
    """A daemon started as the quick start does: no credentials, so it generates a pair."""
    d = Daemon(tmp_path / "data").start()
    yield (d, *generated_keys(d))
    assert d.stop() == 0, "\n".join(d.stderr_lines)


def generated_keys(d: Daemon) -> tuple[str, str]:
    banner = "\n".join(d.banner)
    access = re.search(r"^  access key: (\S+)$", banner, re.M)
    secret = re.search(r"^  secret key: (\S+)$", banner, re.M)
    assert access and secret, banner
    return access.group(1), secret.group(1)


def test_readme_banner_is_what_a_first_start_prints(first_start: tuple[Daemon, str, str]) -> None:
    d, _, _ = first_start
    expected = quick_start_blocks()["console"].splitlines()
    assert expected[0] == "$ make run"
    printed = [
        line.replace(d.endpoint, README_ENDPOINT).replace(str(d.data_dir), "./data")
        for line in d.banner
    ]
    assert len(printed) == len(expected) - 1, printed
    for want, got in zip(expected[1:], printed, strict=True):
        # "8GQ1M2..." stands for the generated key; the rest is literal.
        if want.endswith("..."):
            assert got.startswith(want.removesuffix("...").rsplit(" ", 1)[0]), (want, got)
        else:
            assert re.sub(r"Hamster \S+ ", "Hamster X ", got) == re.sub(
                r"Hamster \S+ ", "Hamster X ", want
            ), (want, got)


def as_written(block: str, d: Daemon, access_key: str, secret_key: str) -> str:
    """A README block with the real address and the generated key pair put in."""
    assert README_ENDPOINT in block and "<access key>" in block and "<secret key>" in block
    return (
        block.replace(README_ENDPOINT, d.endpoint)
        .replace("<access key>", access_key)
        .replace("<secret key>", secret_key)
    )


def readme_env(home: Path) -> dict[str, str]:
    """A user's shell: `aws` is the aws CLI v2 (Debian's, whatever else is on PATH)."""
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "aws").symlink_to(harness.aws_binary())
    env = aws_env(home)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        del env[name]  # the README's own `export` sets them
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def test_readme_quick_start_aws_cli(first_start: tuple[Daemon, str, str], home: Path) -> None:
    d, access_key, secret_key = first_start
    digest = harness.write_file(home / "cat.jpg", "readme-cat", 300_000)
    script = as_written(quick_start_blocks()["sh"], d, access_key, secret_key)
    shell = Client("README (sh)", ["bash", "-euo", "pipefail", "-c"], readme_env(home), home, d)
    shell.run(script)
    assert harness.sha256_file(home / "copy.jpg") == digest


def test_readme_quick_start_boto3(first_start: tuple[Daemon, str, str], home: Path) -> None:
    d, access_key, secret_key = first_start
    script = as_written(quick_start_blocks()["python"], d, access_key, secret_key)
    python = Client("README (python)", [sys.executable, "-c"], readme_env(home), home, d)
    out = python.run(script)
    assert out.stdout == "b'hello'\n", python.fails(out)
