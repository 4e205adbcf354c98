"""s3cmd (Debian 12: 2.3) against the real daemon: path-style, SigV4, no SSL."""

from __future__ import annotations

from pathlib import Path

from tests.compat import harness
from tests.compat.harness import (
    Client,
    MiB,
    boto3_client,
)
from tests.daemon import Daemon


def test_s3cmd_put_get_info_del(
    server: Daemon, s3cmd: Client, home: Path, bucket_name: str
) -> None:
    url = f"s3://{bucket_name}"
    s3cmd.run("mb", url)
    small = home / "small file.bin"
    big = home / "big.bin"
    small_digest = harness.write_file(small, "s3cmd-small", MiB + 3)
    big_digest = harness.write_file(big, "s3cmd-big", 40 * MiB)

    s3cmd.run("put", str(small), f"{url}/dir/small file.bin")
    s3cmd.run("put", str(big), f"{url}/big.bin")
    # 40 MiB in 15 MiB chunks: a multipart upload of three parts.
    etag = boto3_client(server).head_object(Bucket=bucket_name, Key="big.bin")["ETag"]
    assert etag.endswith('-3"'), etag

    s3cmd.run("get", f"{url}/dir/small file.bin", str(home / "small.back"))
    s3cmd.run("get", f"{url}/big.bin", str(home / "big.back"))
    assert harness.sha256_file(home / "small.back") == small_digest
    assert harness.sha256_file(home / "big.back") == big_digest

    info = s3cmd.run("info", f"{url}/big.bin")
    assert f"File size: {40 * MiB}" in info.stdout, s3cmd.fails(info)
    # s3cmd keeps the file's MD5 in its own metadata and shows it for multipart objects.
    assert "MD5 sum:" in info.stdout, s3cmd.fails(info)

    s3cmd.run("del", f"{url}/dir/small file.bin", f"{url}/big.bin")
    gone = s3cmd.run("info", f"{url}/big.bin", ok=False)
    assert gone.returncode != 0 and "404" in gone.stderr, s3cmd.fails(gone)
    s3cmd.run("rb", url)
    gone = s3cmd.run("info", url, ok=False)
    assert gone.returncode != 0 and "NoSuchBucket" in gone.stderr, s3cmd.fails(gone)
