"""The `hamster` command line: version, help, credentials, clean shutdown."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import error_code, make_client


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hamster.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    out = run_cli("version")
    assert out.returncode == 0
    assert out.stdout.startswith("hamster 0.1.0 (commit ")


def test_help_reads_well() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    assert "serve" in out.stdout and "version" in out.stdout
    serve_help = run_cli("serve", "--help").stdout
    for flag in ("--data", "--listen", "--domain", "--credentials", "--access-key"):
        assert flag in serve_help


def test_first_start_generates_and_prints_keys_once(tmp_path: Path) -> None:
    first = Daemon(tmp_path / "data").start()
    try:
        banner = "\n".join(first.banner)
        assert "access key:" in banner and "secret key:" in banner
        creds = tmp_path / "data" / "credentials.toml"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        access = next(line for line in first.banner if "access key:" in line).split()[-1]
        secret = next(line for line in first.banner if "secret key:" in line).split()[-1]
        s3 = make_client(first.endpoint, (access, secret))
        s3.create_bucket(Bucket="generated-keys")
        s3.put_object(Bucket="generated-keys", Key="k", Body=b"kept")
    finally:
        assert first.stop() == 0
    second = Daemon(tmp_path / "data").start()
    try:
        assert "secret key:" not in "\n".join(second.banner)
        s3 = make_client(second.endpoint, (access, secret))
        assert s3.get_object(Bucket="generated-keys", Key="k")["Body"].read() == b"kept"
    finally:
        assert second.stop() == 0


def test_keys_from_environment(tmp_path: Path) -> None:
    env = {"HAMSTER_ACCESS_KEY": "ENVKEY123", "HAMSTER_SECRET_KEY": "env-secret-123456"}
    d = Daemon(tmp_path / "data", env=env).start()
    try:
        s3 = make_client(d.endpoint, ("ENVKEY123", "env-secret-123456"))
        assert s3.list_buckets()["Buckets"] == []
        other = make_client(d.endpoint, ("ENVKEY123", "wrong-secret-123"))
        with pytest.raises(ClientError) as exc:
            other.list_buckets()
        assert error_code(exc) == (403, "SignatureDoesNotMatch")
    finally:
        assert d.stop() == 0
    assert not (tmp_path / "data" / "credentials.toml").exists()


def test_bad_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "users.toml"
    bad.write_text("[[users]]\naccess_key = 'only-key'\n")
    out = run_cli("serve", "--data", str(tmp_path / "d"), "--credentials", str(bad))
    assert out.returncode == 2
    assert "secret_key" in out.stderr
