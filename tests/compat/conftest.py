"""Fixtures of the compat suite: a fresh daemon per scenario, the clients, the report.

Every scenario gets its own daemon on a random port with a fresh data
directory, run at debug log level so that its access log tells which S3
operations the client called. At the end of the run the terminal summary
(shown by `make test` and `make compat`, also under -q) lists the version of
every client used and the operations each scenario made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest

from tests.compat import harness
from tests.compat.harness import ACCESS_KEY, REGION, SECRET_KEY, Client, clean_env
from tests.daemon import Daemon

# Filled while the session runs, printed by pytest_terminal_summary.
VERSIONS: dict[str, str] = {}
OPERATIONS: dict[str, Counter[str]] = {}


def _versions() -> dict[str, str]:
    aws = harness.aws_binary()
    return {
        "aws CLI": f"{harness.version_of([aws, '--version'])} ({aws})",
        "rclone": harness.version_of(["rclone", "version"]),
        "restic": harness.version_of(["restic", "version"]),
        "s3cmd": harness.version_of(["s3cmd", "--version"]),
        "curl": harness.version_of(["curl", "--version"]),
        "boto3": f"boto3 {boto3.__version__}, botocore {botocore.__version__}",
    }


@pytest.fixture(scope="session", autouse=True)
def client_versions() -> dict[str, str]:
    if not VERSIONS:
        VERSIONS.update(_versions())
    return VERSIONS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not VERSIONS:
        return
    terminalreporter.section("compat: clients")
    for name, version in VERSIONS.items():
        terminalreporter.write_line(f"{name}: {version}")
    if OPERATIONS:
        terminalreporter.section("compat: S3 operations per scenario (from the daemon's log)")
        for scenario, ops in OPERATIONS.items():
            listed = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))
            terminalreporter.write_line(f"{scenario}: {listed}")


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """The real daemon, fresh data directory, random port, one user."""
    d = Daemon(
        tmp_path / "data",
        args=["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--log-level", "debug"],
    ).start()
    try:
        yield d
    finally:
        status = d.stop()
        OPERATIONS[request.node.nodeid.split("::", 1)[-1]] = harness.operations(d)
    tracebacks = [x for x in d.stderr_lines if "Traceback" in x]
    assert status == 0 and not tracebacks, "\n".join(d.stderr_lines[-200:])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The clients' HOME (and working directory) in this scenario."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def bucket_for(request: pytest.FixtureRequest) -> str:
    raw = "compat-" + request.node.name.lower()
    return "".join(c if c.isalnum() else "-" for c in raw)[:63].strip("-")


@pytest.fixture
def bucket_name(request: pytest.FixtureRequest) -> str:
    """A bucket name for this scenario (the scenario creates it with its client)."""
    return bucket_for(request)


def aws_env(home: Path) -> dict[str, str]:
    return clean_env(
        home,
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )


@pytest.fixture
def aws(server: Daemon, home: Path) -> Client:
    """Debian's aws CLI v2, pointed at the daemon."""
    return Client(
        "aws CLI",
        [harness.aws_binary(), "--endpoint-url", server.endpoint],
        aws_env(home),
        home,
        server,
    )


@pytest.fixture
def s3cmd(server: Daemon, home: Path) -> Client:
    config = home / "s3cfg"
    hostport = f"{server.host}:{server.port}"
    config.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"
        f"host_base = {hostport}\n"
        # No %(bucket)s in host_bucket: path-style addressing.
        f"host_bucket = {hostport}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "multipart_chunk_size_mb = 15\n"
    )
    return Client(
        "s3cmd", [harness.binary("s3cmd"), "-c", str(config)], clean_env(home), home, server
    )


@pytest.fixture
def curl(server: Daemon, home: Path) -> Client:
    """curl with `--aws-sigv4` credentials for the daemon (URLs are given per call)."""
    return Client(
        "curl",
        [
            harness.binary("curl"),
            "-sS",
            "--aws-sigv4",
            f"aws:amz:{REGION}:s3",
            "--user",
            f"{ACCESS_KEY}:{SECRET_KEY}",
        ],
        clean_env(home),
        home,
        server,
    )


@pytest.fixture(params=sorted(harness.BOTO3_CONFIGS))
def s3(server: Daemon, request: pytest.FixtureRequest) -> Any:
    """boto3 against the daemon, once per configuration of BOTO3_CONFIGS."""
    return harness.boto3_client(
        server, max_pool_connections=harness.THREADS, **harness.BOTO3_CONFIGS[request.param]
    )
