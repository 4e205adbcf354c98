"""boto3: CopyObject, UploadPartCopy and the managed (multipart) copy."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from tests.compat import harness
from tests.compat.harness import MiB


def test_boto3_copy_object_and_upload_part_copy(s3: Any, home: Path, bucket_name: str) -> None:
    s3.create_bucket(Bucket=bucket_name)
    other = bucket_name[:55] + "-other"
    s3.create_bucket(Bucket=other)
    source = harness.pseudo_random("boto3-copy-source", 12 * MiB + 11)
    s3.put_object(Bucket=bucket_name, Key="src/ä + b%.bin", Body=source, Metadata={"k": "v"})
    copy_source = {"Bucket": bucket_name, "Key": "src/ä + b%.bin"}

    s3.copy_object(CopySource=copy_source, Bucket=other, Key="copied é.bin")
    got = s3.get_object(Bucket=other, Key="copied é.bin")
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(source).digest()
    assert got["Metadata"] == {"k": "v"}

    s3.copy_object(
        CopySource=copy_source,
        Bucket=bucket_name,
        Key="src/ä + b%.bin",
        MetadataDirective="REPLACE",
        Metadata={"k": "replaced"},
    )
    head = s3.head_object(Bucket=bucket_name, Key="src/ä + b%.bin")
    assert head["Metadata"] == {"k": "replaced"}

    # UploadPartCopy by hand: two ranges of the source and one uploaded part.
    upload = s3.create_multipart_upload(Bucket=other, Key="assembled")["UploadId"]
    cut = 5 * MiB
    tail = harness.pseudo_random("boto3-copy-tail", MiB)
    parts = []
    for number, byte_range in ((1, f"bytes=0-{cut - 1}"), (2, f"bytes={cut}-{len(source) - 1}")):
        result = s3.upload_part_copy(
            Bucket=other,
            Key="assembled",
            UploadId=upload,
            PartNumber=number,
            CopySource=copy_source,
            CopySourceRange=byte_range,
        )
        parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
    etag = s3.upload_part(Bucket=other, Key="assembled", UploadId=upload, PartNumber=3, Body=tail)
    parts.append({"PartNumber": 3, "ETag": etag["ETag"]})
    s3.complete_multipart_upload(
        Bucket=other, Key="assembled", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    got = s3.get_object(Bucket=other, Key="assembled")
    assert got["ETag"].endswith('-3"')
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(source + tail).digest()

    # The managed copy: over the multipart threshold it is UploadPartCopy in parallel.
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=5 * MiB)
    s3.copy(copy_source, other, "managed copy", Config=config)
    got = s3.get_object(Bucket=other, Key="managed copy")
    assert got["ETag"].endswith('-3"')
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(source).digest()
