"""curl --aws-sigv4: ListObjectsV2 and ListObjects, read as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.compat.harness import Client, write_file
from tests.daemon import Daemon

UNSIGNED = ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def test_curl_list(server: Daemon, curl: Client, home: Path, bucket_name: str) -> None:
    base = f"{server.endpoint}/{bucket_name}"
    curl.run("--fail-with-body", "-X", "PUT", base)
    keys = ["a/one", "a/two", "b/three", "top"]
    for i, key in enumerate(keys):
        body = home / f"body{i}"
        write_file(body, f"curl-list:{key}", 1000 + i)
        curl.run("--fail-with-body", *UNSIGNED, "-T", str(body), f"{base}/{key}")

    # curl 7.88 signs the query as written: it must be in canonical form already
    # (parameters sorted, values percent-encoded), as AWS requires too.
    listing = curl.run("--fail-with-body", f"{base}?delimiter=%2F&list-type=2")
    root = ET.fromstring(listing.stdout)
    assert [e.text for e in root.iter(f"{NS}Key")] == ["top"], curl.fails(listing)
    assert [e.text for e in root.iter(f"{NS}Prefix") if e.text] == ["a/", "b/"], curl.fails(listing)

    listing = curl.run("--fail-with-body", f"{base}?prefix=a%2F")
    root = ET.fromstring(listing.stdout)
    assert [e.text for e in root.iter(f"{NS}Key")] == ["a/one", "a/two"], curl.fails(listing)
    sizes = [e.text for e in root.iter(f"{NS}Size")]
    assert sizes == ["1000", "1001"], curl.fails(listing)
