"""curl --aws-sigv4 (Debian 12: curl 7.88) against the real daemon.

curl signs bodyless requests with the empty-payload hash and sends no
`x-amz-content-sha256`; an upload carries the header the user gives it (as
against AWS, which requires it on every header-signed request).
"""

from __future__ import annotations

from pathlib import Path

from tests.compat.harness import Client, MiB, sha256_file, write_file
from tests.daemon import Daemon

UNSIGNED = ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def status_of(curl: Client, *args: str) -> str:
    out = curl.run("-o", "/dev/null", "-w", "%{http_code}", *args)
    return out.stdout


def test_curl_put_get_head_delete(
    server: Daemon, curl: Client, home: Path, bucket_name: str
) -> None:
    base = f"{server.endpoint}/{bucket_name}"
    curl.run("--fail-with-body", "-X", "PUT", base)
    sent = home / "sent.bin"
    digest = write_file(sent, "curl-object", 3 * MiB + 17)
    # curl 7.88 signs the path as written, so it must be written canonically: every
    # byte but A-Z a-z 0-9 -._~ percent-encoded ('+' as %2B), as AWS requires too.
    url = f"{base}/dir/by%20curl%2B%C3%A9.bin"
    curl.run("--fail-with-body", *UNSIGNED, "-T", str(sent), url)

    got = home / "got.bin"
    curl.run("--fail-with-body", "-o", str(got), url)
    assert sha256_file(got) == digest

    part = home / "range.bin"
    curl.run("--fail-with-body", "-r", "1000000-1999999", "-o", str(part), url)
    assert part.read_bytes() == sent.read_bytes()[1_000_000:2_000_000]

    head = curl.run("--fail-with-body", "-I", url)
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(":") for line in head.stdout.splitlines()[1:] if ":" in line)
    }
    assert headers["content-length"] == str(3 * MiB + 17), curl.fails(head)
    assert head.stdout.startswith("HTTP/1.1 200 OK"), curl.fails(head)

    curl.run("--fail-with-body", "-X", "DELETE", url)
    assert status_of(curl, url) == "404"
    assert status_of(curl, "-I", url) == "404"
    curl.run("--fail-with-body", "-X", "DELETE", base)
    assert status_of(curl, "-I", base) == "404"
