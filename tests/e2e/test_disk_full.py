"""A full disk against the real daemon (issue 10, finding 4), on a small tmpfs
mounted for the test, so that the OS itself says ENOSPC and statvfs tells
the free space: 507 XHamsterStorageFull, which boto3 does not retry (in its
legacy and standard retry modes), nothing partial left, old objects readable,
deletes working, one log line and no traceback, writes working again when
space returns. (The in-process cases, with injected faults, are in
tests/api/test_disk_errors.py.)"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, stored_files
from tests.patterns import pattern

MiB = 1 << 20
TMPFS_BYTES = 24 * MiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of TMPFS_BYTES mounted at tmp_path/disk for the test (needs
    CAP_SYS_ADMIN: the suite runs as root here)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs for the test: {done.stderr}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(path: Path, leave_bytes: int) -> None:
    """Write `path` until the filesystem is full, then give back
    `leave_bytes` (so that about that much is free)."""
    block = b"\xa5" * (64 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        size = os.fstat(fd).st_size
        os.ftruncate(fd, max(0, size - leave_bytes))
    finally:
        os.close(fd)


def counting_client(endpoint: str, mode: str, sent: list[str]) -> Any:
    """A boto3 client with `mode`'s default retries (no max_attempts of
    ours) that records every HTTP attempt in `sent`."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ALICE[0],
        aws_secret_access_key=ALICE[1],
        region_name="us-east-1",
        config=Config(retries={"mode": mode}),
    )

    def record(request: Any, **_: Any) -> None:
        sent.append(f"{request.method} {request.url}")

    client.meta.events.register("before-send.s3", record)
    return client


def start(data_dir: Path, *args: str) -> Daemon:
    creds = data_dir.parent / "users.toml"
    creds.write_text(
        f'[[users]]\nname = "alice"\naccess_key = "{ALICE[0]}"\nsecret_key = "{ALICE[1]}"\n'
    )
    return Daemon(data_dir, args=["--credentials", str(creds), *args]).start()


def disk_lines(daemon: Daemon) -> list[str]:
    return [line for line in daemon.stderr_lines if "disk" in line]


def test_enospc_answers_507_not_retried_nothing_partial(small_disk: Path) -> None:
    daemon = start(small_disk / "data", "--min-free", "0")
    try:
        sent: list[str] = []
        legacy = counting_client(daemon.endpoint, "legacy", sent)
        standard = counting_client(daemon.endpoint, "standard", sent)
        legacy.create_bucket(Bucket="bkt")
        old = pattern(MiB + 7, "old")
        legacy.put_object(Bucket="bkt", Key="old", Body=old)
        legacy.put_object(Bucket="bkt", Key="doomed", Body=pattern(5000, "doomed"))
        before = stored_files(daemon)
        # Someone else fills the disk; 512 KiB stay free.
        fill(small_disk / "filler", leave_bytes=512 * 1024)

        for client in (legacy, standard, legacy):
            sent.clear()
            with pytest.raises(ClientError) as info:
                client.put_object(Bucket="bkt", Key="new", Body=pattern(3 * MiB, "new"))
            assert error_code(info) == (507, "XHamsterStorageFull")
            assert "Storage is full" in info.value.response["Error"]["Message"]
            # botocore does not retry a 507 (a retry means an attempt got a 5xx
            # or a connection error: the daemon's log says which).
            assert len(sent) == 1, (sent, daemon.stderr_lines[-20:])
        # Nothing partial, nothing new.
        assert stored_files(daemon) == before
        assert not any(path.startswith("tmp/") for path in stored_files(daemon))
        with pytest.raises(ClientError) as info:
            legacy.head_object(Bucket="bkt", Key="new")
        assert error_code(info)[0] == 404
        # Old objects stay readable; deletes work.
        assert legacy.get_object(Bucket="bkt", Key="old")["Body"].read() == old
        legacy.delete_object(Bucket="bkt", Key="doomed")
        with pytest.raises(ClientError) as info:
            legacy.head_object(Bucket="bkt", Key="doomed")
        assert error_code(info)[0] == 404

        # Space comes back: writes work again.
        (small_disk / "filler").unlink()
        legacy.put_object(Bucket="bkt", Key="new", Body=pattern(3 * MiB, "new"))
        assert legacy.get_object(Bucket="bkt", Key="new")["Body"].read() == pattern(3 * MiB, "new")
        daemon.wait_for_log("disk space is back")
    finally:
        assert daemon.stop() == 0, "\n".join(daemon.stderr_lines)
    lines = disk_lines(daemon)
    assert len(lines) == 2, lines
    assert "disk full (blob write tmp/" in lines[0] and "No space left on device" in lines[0]
    assert "disk space is back: writes accepted again (3 refused while full)" in lines[1]
    assert not [line for line in daemon.stderr_lines if "Traceback" in line]
    assert not [line for line in daemon.stderr_lines if "XHamsterStorageFull Storage" in line]


def test_min_free_refuses_writes_before_the_disk_fills(small_disk: Path) -> None:
    daemon = start(small_disk / "data", "--min-free", "8MiB")
    try:
        sent: list[str] = []
        s3 = counting_client(daemon.endpoint, "standard", sent)
        s3.create_bucket(Bucket="bkt")
        old = pattern(2 * MiB, "old")
        s3.put_object(Bucket="bkt", Key="old", Body=old)
        s3.put_object(Bucket="bkt", Key="doomed", Body=pattern(5000, "doomed"))
        upload = s3.create_multipart_upload(Bucket="bkt", Key="mp")["UploadId"]
        before = stored_files(daemon)
        fill(small_disk / "filler", leave_bytes=6 * MiB)  # below --min-free

        refusals = [
            lambda: s3.put_object(Bucket="bkt", Key="new", Body=b"tiny"),
            lambda: s3.upload_part(
                Bucket="bkt", Key="mp", UploadId=upload, PartNumber=1, Body=b"part"
            ),
            lambda: s3.copy_object(Bucket="bkt", Key="copy", CopySource="bkt/old"),
        ]
        for refused in refusals:
            sent.clear()
            with pytest.raises(ClientError) as info:
                refused()
            assert error_code(info) == (507, "XHamsterStorageFull")
            assert len(sent) == 1, sent
        assert stored_files(daemon) == before
        # Deletes and reads go on; they never ask for space.
        s3.delete_object(Bucket="bkt", Key="doomed")
        s3.abort_multipart_upload(Bucket="bkt", Key="mp", UploadId=upload)
        assert s3.get_object(Bucket="bkt", Key="old")["Body"].read() == old
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket="bkt")["Contents"]]
        assert keys == ["old"]

        (small_disk / "filler").unlink()
        s3.put_object(Bucket="bkt", Key="new", Body=pattern(MiB, "new"))
        assert s3.get_object(Bucket="bkt", Key="new")["Body"].read() == pattern(MiB, "new")
    finally:
        assert daemon.stop() == 0, "\n".join(daemon.stderr_lines)
    lines = disk_lines(daemon)
    assert len(lines) == 2, lines
    assert "--min-free keeps 8388608" in lines[0]
    assert "writes accepted again (3 refused while full)" in lines[1]
    assert not [line for line in daemon.stderr_lines if "Traceback" in line]
