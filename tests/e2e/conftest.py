from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.daemon import Daemon

ALICE = ("AKIDALICE0000EXAMPLE", "alice-secret-key-0000000000000000000000")
BOB = ("AKIDBOB00000EXAMPLE", "bob-secret-key-00000000000000000000000000")


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("daemon")
    creds = root / "users.toml"
    creds.write_text(
        f'[[users]]\nname = "alice"\naccess_key = "{ALICE[0]}"\nsecret_key = "{ALICE[1]}"\n'
        f'[[users]]\nname = "bob"\naccess_key = "{BOB[0]}"\nsecret_key = "{BOB[1]}"\n'
    )
    d = Daemon(root / "data", args=["--credentials", str(creds)]).start()
    yield d
    assert d.stop() == 0, "\n".join(d.stderr_lines)


def make_client(endpoint: str, key: tuple[str, str], **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, **config),
    )


@pytest.fixture(scope="session")
def s3(daemon: Daemon) -> Any:
    return make_client(daemon.endpoint, ALICE)


@pytest.fixture(scope="session")
def s3_bob(daemon: Daemon) -> Any:
    return make_client(daemon.endpoint, BOB)


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket owned by alice, named after the test."""
    raw = "t-" + request.node.name.lower()
    name = "".join(c if c.isalnum() else "-" for c in raw)[:63].strip("-")
    s3.create_bucket(Bucket=name)
    return name


def error_code(excinfo: pytest.ExceptionInfo[Any]) -> tuple[int, str]:
    """(HTTP status, S3 error code) of a botocore ClientError."""
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]
