"""Debian 12's aws CLI v2 (2.9.19, with its own older botocore) against the real daemon."""

from __future__ import annotations

import re
from pathlib import Path

from tests.compat import harness
from tests.compat.harness import Client, MiB, s3api


def test_aws_cp_single_and_multipart(aws: Client, home: Path, bucket_name: str) -> None:
    url = f"s3://{bucket_name}"
    aws.run("s3", "mb", url)
    one, hundred = home / "one.bin", home / "hundred.bin"
    one_digest = harness.write_file(one, "aws-one", MiB)
    hundred_digest = harness.write_file(hundred, "aws-hundred", 100 * MiB)

    aws.run("s3", "cp", "--no-progress", str(one), f"{url}/one.bin")
    aws.run("s3", "cp", "--no-progress", str(hundred), f"{url}/dir/hundred.bin")

    head = s3api(aws, "head-object", "--bucket", bucket_name, "--key", "dir/hundred.bin")
    assert head["ContentLength"] == 100 * MiB, head
    # The CLI uploads in 8 MiB parts: 13 of them, and S3's multipart ETag says so.
    assert re.fullmatch(r'"[0-9a-f]{32}-13"', head["ETag"]), head
    head = s3api(aws, "head-object", "--bucket", bucket_name, "--key", "one.bin")
    assert re.fullmatch(r'"[0-9a-f]{32}"', head["ETag"]), head

    aws.run("s3", "cp", "--no-progress", f"{url}/one.bin", str(home / "one.back"))
    aws.run("s3", "cp", "--no-progress", f"{url}/dir/hundred.bin", str(home / "hundred.back"))
    assert harness.sha256_file(home / "one.back") == one_digest
    assert harness.sha256_file(home / "hundred.back") == hundred_digest

    aws.run("s3", "rm", f"{url}/one.bin")
    aws.run("s3", "rm", f"{url}/dir/hundred.bin")
    aws.run("s3", "rb", url)
    gone = aws.run("s3api", "head-bucket", "--bucket", bucket_name, ok=False)
    assert gone.returncode != 0 and "404" in gone.stderr, aws.fails(gone)


def test_aws_presign_fetched_by_curl(aws: Client, home: Path, bucket_name: str) -> None:
    aws.run("s3", "mb", f"s3://{bucket_name}")
    body = home / "shared.bin"
    digest = harness.write_file(body, "aws-presign", 2 * MiB + 5)
    key = "shared dir/ünïcode + plus.bin"
    s3api(aws, "put-object", "--bucket", bucket_name, "--key", key, "--body", str(body))
    url = aws.run("s3", "presign", f"s3://{bucket_name}/{key}", "--expires-in", "300").stdout
    assert "X-Amz-Signature=" in url, url
    curl = Client("curl", [harness.binary("curl"), "-sS"], aws.env, home, aws.daemon)
    curl.run("--fail-with-body", "-o", str(home / "fetched.bin"), url.strip())
    assert harness.sha256_file(home / "fetched.bin") == digest
