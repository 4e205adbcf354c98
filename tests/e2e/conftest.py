from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
from botocore.config import Config
from botocore.exceptions import ClientError

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


def object_keys(s3: Any, bucket: str) -> list[str]:
    """Every key ListObjectsV2 shows in `bucket`, in order."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def stored_files(daemon: Daemon) -> set[str]:
    """The daemon's blob and temporary files (paths under its data directory)."""
    root = daemon.data_dir
    return {
        str(path.relative_to(root))
        for top in ("blobs", "tmp")
        for path in (root / top).rglob("*")
        if path.is_file()
    }


def assert_no_such_key(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key=key)
    assert error_code(info) == (404, "NoSuchKey")


@contextmanager
def nothing_stored(daemon: Daemon, s3: Any, bucket: str, key: str) -> Iterator[None]:
    """The block stores nothing: afterwards GET `key` is 404 NoSuchKey, the
    bucket lists the same keys, and no blob or temporary file is left."""
    keys, files = object_keys(s3, bucket), stored_files(daemon)
    yield
    assert_no_such_key(s3, bucket, key)
    assert object_keys(s3, bucket) == keys
    assert stored_files(daemon) == files


# -- HTTPS: one TLS daemon for the session (test_tls.py, test_multipart.py) ----


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate chain, server key) files."""
    root = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = root / "ca.pem", root / "cert.pem", root / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return ca_path, cert_path, key_path


@pytest.fixture(scope="session")
def tls_daemon(
    tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[Path, Path, Path]
) -> Iterator[Daemon]:
    _, cert, key = tls_files
    env = {"HAMSTER_ACCESS_KEY": ALICE[0], "HAMSTER_SECRET_KEY": ALICE[1]}
    d = Daemon(
        tmp_path_factory.mktemp("tls-data"),
        args=["--tls-cert", str(cert), "--tls-key", str(key)],
        env=env,
    ).start()
    yield d
    assert d.stop() == 0, "\n".join(d.stderr_lines)


def tls_client(daemon: Daemon, ca: Path, **config: Any) -> Any:
    """A boto3 client for alice against the TLS daemon, trusting `ca`."""
    return boto3.client(
        "s3",
        endpoint_url=daemon.endpoint,
        aws_access_key_id=ALICE[0],
        aws_secret_access_key=ALICE[1],
        region_name="us-east-1",
        verify=str(ca),
        config=Config(retries={"max_attempts": 1}, **config),
    )
