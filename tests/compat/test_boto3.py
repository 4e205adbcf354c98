"""Current boto3 against the real daemon: the transfer manager (multipart upload,
parallel ranged download), with each configuration of harness.BOTO3_CONFIGS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from tests.compat import harness
from tests.compat.harness import MiB


def test_boto3_transfer_manager(s3: Any, home: Path, bucket_name: str) -> None:
    s3.create_bucket(Bucket=bucket_name)
    src = home / "big.bin"
    digest = harness.write_file(src, "boto3-upload-file", 64 * MiB)
    config = TransferConfig(multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket_name, "big/ü + file.bin", Config=config)
    head = s3.head_object(Bucket=bucket_name, Key="big/ü + file.bin")
    assert head["ContentLength"] == 64 * MiB
    assert head["ETag"].endswith('-8"'), head["ETag"]

    # The transfer manager downloads in ranged GETs, in parallel.
    dst = home / "big.back"
    s3.download_file(bucket_name, "big/ü + file.bin", str(dst), Config=config)
    assert harness.sha256_file(dst) == digest
    with (home / "big.fileobj").open("wb") as f:
        s3.download_fileobj(bucket_name, "big/ü + file.bin", f, Config=config)
    assert harness.sha256_file(home / "big.fileobj") == digest
