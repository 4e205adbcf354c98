"""Debian's aws CLI v2 copying and moving between keys and buckets on the server
(`aws s3 cp s3://… s3://…`, `aws s3 mv`): CopyObject below its 8 MiB multipart
threshold; above it HeadObject, GetObjectTagging, CreateMultipartUpload,
UploadPartCopy and CompleteMultipartUpload."""

from __future__ import annotations

import re
from pathlib import Path

from tests.compat import harness
from tests.compat.harness import Client, MiB, s3api


def test_aws_cp_and_mv_on_the_server(aws: Client, home: Path, bucket_name: str) -> None:
    url = f"s3://{bucket_name}"
    other = f"s3://{bucket_name[:50]}-other"
    aws.run("s3", "mb", url)
    aws.run("s3", "mb", other)
    small, large = home / "small.bin", home / "large.bin"
    small_digest = harness.write_file(small, "aws-copy-small", MiB + 3)
    large_digest = harness.write_file(large, "aws-copy-large", 20 * MiB + 5)
    aws.run("s3", "cp", "--no-progress", str(small), f"{url}/src/small file+1.bin")
    aws.run(
        "s3", "cp", "--no-progress", "--content-type", "application/x-large", str(large),
        f"{url}/src/large.bin",
    )  # fmt: skip
    small_etag = s3api(
        aws, "head-object", "--bucket", bucket_name, "--key", "src/small file+1.bin"
    )["ETag"]

    copied = "dst/cöpy of small+1.bin"
    aws.run("s3", "cp", "--no-progress", f"{url}/src/small file+1.bin", f"{url}/{copied}")
    head = s3api(aws, "head-object", "--bucket", bucket_name, "--key", copied)
    assert (head["ContentLength"], head["ETag"]) == (MiB + 3, small_etag), head

    aws.run("s3", "cp", "--no-progress", f"{url}/src/large.bin", f"{url}/dst/large.bin")
    head = s3api(aws, "head-object", "--bucket", bucket_name, "--key", "dst/large.bin")
    assert head["ContentLength"] == 20 * MiB + 5, head
    # Copied in 8 MiB UploadPartCopy parts, with the source's Content-Type.
    assert re.fullmatch(r'"[0-9a-f]{32}-3"', head["ETag"]), head
    assert head["ContentType"] == "application/x-large", head

    # mv to another bucket: a copy, then the source is gone.
    aws.run("s3", "mv", "--no-progress", f"{url}/src/large.bin", f"{other}/moved.bin")
    gone = aws.run(
        "s3api", "head-object", "--bucket", bucket_name, "--key", "src/large.bin", ok=False
    )
    assert gone.returncode != 0 and "404" in gone.stderr, aws.fails(gone)

    for source, local, digest in (
        (f"{url}/{copied}", "small.back", small_digest),
        (f"{url}/dst/large.bin", "large.back", large_digest),
        (f"{other}/moved.bin", "moved.back", large_digest),
    ):
        aws.run("s3", "cp", "--no-progress", source, str(home / local))
        assert harness.sha256_file(home / local) == digest, source
