"""Debian's aws CLI v2 (`/usr/bin/aws`, 2.9) against the real daemon.

Its bundled botocore predates 1.40.21: it sends ``Expect: 100-continue`` for
a body from a file and recognises only ``HTTP/1.1 100 Continue`` (botocore
#3455), so this is the client that catches a missing reason phrase.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE

AWS = "/usr/bin/aws"  # Debian's aws-cli 2.x; the `aws` on PATH may be another


def aws(daemon: Daemon, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": ALICE[0],
        "AWS_SECRET_ACCESS_KEY": ALICE[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [AWS, "--endpoint-url", daemon.endpoint, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_aws_cli_copies_a_file_up_and_down(
    daemon: Daemon, s3: Any, bucket: str, tmp_path: Path
) -> None:
    version = subprocess.run([AWS, "--version"], capture_output=True, text=True, check=True)
    print(version.stdout.strip())
    source = tmp_path / "one-mib.bin"
    source.write_bytes(b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(1 << 15)))
    up = aws(daemon, tmp_path, "s3", "cp", str(source), f"s3://{bucket}/dir/one-mib.bin")
    assert up.returncode == 0, up.stdout + up.stderr
    stored = s3.get_object(Bucket=bucket, Key="dir/one-mib.bin")["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(source.read_bytes()).digest()
    back = tmp_path / "back.bin"
    down = aws(daemon, tmp_path, "s3", "cp", f"s3://{bucket}/dir/one-mib.bin", str(back))
    assert down.returncode == 0, down.stdout + down.stderr
    assert back.read_bytes() == source.read_bytes()


def test_aws_cli_mb_of_a_bucket_you_own_succeeds(daemon: Daemon, tmp_path: Path) -> None:
    """`aws s3 mb` twice in us-east-1: the second answers 200, as AWS does there."""
    for _ in range(2):
        made = aws(daemon, tmp_path, "s3", "mb", "s3://cli-made-twice")
        assert made.returncode == 0, made.stdout + made.stderr
        assert "make_bucket: cli-made-twice" in made.stdout
