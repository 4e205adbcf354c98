"""Object operations through boto3 (default settings) against the real daemon."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, nothing_stored, object_keys
from tests.e2e.rawhttp import connect, read_response, request_bytes, sign
from tests.patterns import PatternStream, assert_pattern, pattern

MiB = 1 << 20


@pytest.mark.parametrize("size", [0, 1024])
def test_put_get_head_delete(s3: Any, bucket: str, size: int) -> None:
    body = pattern(size, "put-get-head-delete")
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == size
    assert got["ContentType"] == "binary/octet-stream"
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == size
    assert head["ETag"] == put["ETag"]
    assert head["LastModified"] == got["LastModified"]
    delete = s3.delete_object(Bucket=bucket, Key="obj")
    assert delete["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="obj")
    assert error_code(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="obj")
    assert error_code(exc)[0] == 404
    # Deleting again is not an error.
    assert s3.delete_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_100_mib_round_trip(s3: Any, bucket: str) -> None:
    """Every 8 bytes of the body name their offset (tests/patterns.py): a chunk
    swapped, repeated or dropped on the way in or out changes the ETag and
    the bytes read back."""
    size = 100 * MiB
    put = s3.put_object(Bucket=bucket, Key="big", Body=PatternStream(size, "big"))
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentLength"] == size
    h, offset = hashlib.md5(), 0
    for chunk in got["Body"].iter_chunks(MiB):
        assert_pattern(chunk, "big", offset)
        h.update(chunk)
        offset += len(chunk)
    assert offset == size
    # The same bytes as were sent: so the ETag is their MD5, as the server computed it.
    assert put["ETag"] == got["ETag"] == f'"{h.hexdigest()}"'
    s3.delete_object(Bucket=bucket, Key="big")


def test_overwrite_replaces(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_ranges(s3: Any, bucket: str) -> None:
    """boto3's ranged GET and HEAD: the exact bytes (position-dependent, so an
    offset off by any amount shows), Content-Range, and 416 with the size."""
    body = pattern(1024, "ranges")
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    for header, first, last in [
        ("bytes=0-9", 0, 9),
        ("bytes=513-515", 513, 515),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=-5000", 0, 1023),  # a suffix longer than the object: all of it
        ("bytes=10-5000", 10, 1023),
    ]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {first}-{last}/1024"
        assert got["ContentLength"] == last - first + 1
        assert got["Body"].read() == body[first : last + 1]
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=100-109")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert (head["ContentRange"], head["ContentLength"]) == ("bytes 100-109/1024", 10)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=2000-")
    assert error_code(exc) == (416, "InvalidRange")
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */1024"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="r", Range="bytes=1024-")
    assert error_code(exc)[0] == 416
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */1024"
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert error_code(exc) == (416, "InvalidRange")
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */0"
    whole = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-1,5-6")
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert whole["Body"].read() == body


def test_metadata_and_standard_headers(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket,
        Key="m",
        Body=b"{}",
        ContentType="application/json",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="m.json"',
        ContentLanguage="en",
        CacheControl="max-age=60",
        Expires="Wed, 21 Oct 2037 07:28:00 GMT",
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
    )
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["ContentType"] == "application/json"
    assert head["ContentEncoding"] == "identity"
    assert head["ContentDisposition"] == 'attachment; filename="m.json"'
    assert head["ContentLanguage"] == "en"
    assert head["CacheControl"] == "max-age=60"
    assert head["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 21 Oct 2037 07:28:00 GMT"
    assert head["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
    got = s3.get_object(
        Bucket=bucket,
        Key="m",
        ResponseContentType="text/plain",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
    )
    assert got["ContentType"] == "text/plain"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["Body"].read() == b"{}"


def test_content_md5(daemon: Daemon, s3: Any, bucket: str) -> None:
    good = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=b"hello", ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with nothing_stored(daemon, s3, bucket, "md5-bad"), pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=b"hello", ContentMD5=wrong)
    assert error_code(exc) == (400, "BadDigest")
    with nothing_stored(daemon, s3, bucket, "md5-bad"), pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=b"hello", ContentMD5="bm90IG1kNQ==")
    assert error_code(exc) == (400, "InvalidDigest")


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    last_modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag.strip('"'))["ETag"] == etag
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_code(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert error_code(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=last_modified)
    assert error_code(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert error_code(exc)[0] == 304
    # If-Match true wins over a false If-Unmodified-Since (S3's precedence).
    got = s3.get_object(
        Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince="Mon, 01 Jan 2001 00:00:00 GMT"
    )
    assert got["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince="Mon, 01 Jan 2001 00:00:00 GMT")
    assert error_code(exc) == (412, "PreconditionFailed")


def test_conditional_writes(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="w", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfNoneMatch="*")
    assert error_code(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch='"deadbeef"')
    assert error_code(exc) == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"two"
    etag2 = s3.head_object(Bucket=bucket, Key="w")["ETag"]
    s3.put_object(Bucket=bucket, Key="w", Body=b"three", IfMatch=etag2.strip('"'))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=etag)
    assert error_code(exc) == (404, "NoSuchKey")


def body_of(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest() * 3


def test_conditional_put_takes_etag_lists_and_star(s3: Any, bucket: str) -> None:
    """If-Match / If-None-Match with `*` or a list of ETags, quoted or not."""
    etag = s3.put_object(Bucket=bucket, Key="l", Body=body_of("one"))["ETag"]
    bare = etag.strip('"')
    other = '"0123456789abcdef0123456789abcdef"'

    def put(name: str, **conditions: str) -> str:
        return str(s3.put_object(Bucket=bucket, Key="l", Body=body_of(name), **conditions)["ETag"])

    def refused(name: str, **conditions: str) -> tuple[int, str]:
        with pytest.raises(ClientError) as exc:
            put(name, **conditions)
        return error_code(exc)

    # If-Match: a list naming the current ETag, quoted or not, or "*".
    etag = put("two", IfMatch=f"{other}, {etag}")
    etag = put("three", IfMatch=f"{other},{etag.strip(chr(34))}")
    etag = put("four", IfMatch="*")
    assert refused("x", IfMatch=f"{other}, {bare}") == (412, "PreconditionFailed")
    assert refused("x", IfMatch=f'{other}, "deadbeef"') == (412, "PreconditionFailed")
    # If-None-Match: naming the current ETag (alone, in a list, unquoted) is 412...
    assert refused("x", IfNoneMatch=etag) == (412, "PreconditionFailed")
    assert refused("x", IfNoneMatch=etag.strip('"')) == (412, "PreconditionFailed")
    assert refused("x", IfNoneMatch=f"{other}, {etag}") == (412, "PreconditionFailed")
    assert refused("x", IfNoneMatch="*") == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="l")["Body"].read() == body_of("four")
    # ...naming another is a normal write.
    etag = put("five", IfNoneMatch=f'{other}, "deadbeef"')
    assert s3.get_object(Bucket=bucket, Key="l")["Body"].read() == body_of("five")
    assert s3.head_object(Bucket=bucket, Key="l")["ETag"] == etag
    # A missing key: If-Match (even "*") is 404, If-None-Match with an ETag writes.
    for value in ("*", etag, f"{other}, {etag}"):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="new", Body=body_of("n"), IfMatch=value)
        assert error_code(exc) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="new", Body=body_of("n"), IfNoneMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == body_of("n")


def test_racing_if_none_match_puts(daemon: Any, bucket: str) -> None:
    from tests.e2e.conftest import ALICE, make_client

    clients = [make_client(daemon.endpoint, ALICE) for _ in range(8)]

    def attempt(i: int) -> str:
        try:
            clients[i].put_object(
                Bucket=bucket, Key="race", Body=pattern(256 * 1024, i), IfNoneMatch="*"
            )
            return "won"
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count("won") == 1, results
    assert results.count("PreconditionFailed") == 7, results
    # What is stored is the winner's body, whole: no loser's bytes.
    stored = clients[0].get_object(Bucket=bucket, Key="race")["Body"].read()
    assert_pattern(stored, results.index("won"), size=256 * 1024)


KEYS = [
    "plain",
    "a",
    "/a",
    "//a",
    "a/",
    "with space",
    "plus+sign",
    "amp&ersand",
    "percent%20literal",
    "é-accent",
    'quote"mark',
    "../dots/..",
    "punct!$'()*,;=:@[]~",
    "e\u0301-decomposed",
    "日本語/キー",
    "x" * 1024,
    "é" * 512,
]


def test_keys_round_trip_byte_exact(s3: Any, bucket: str) -> None:
    for i, key in enumerate(KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(KEYS):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == str(i).encode(), key
    # "é" precomposed and decomposed are different keys.
    s3.put_object(Bucket=bucket, Key="\u00e9", Body=b"pre")
    s3.put_object(Bucket=bucket, Key="e\u0301", Body=b"de")
    assert s3.get_object(Bucket=bucket, Key="\u00e9")["Body"].read() == b"pre"
    assert s3.get_object(Bucket=bucket, Key="e\u0301")["Body"].read() == b"de"


def test_key_too_long(daemon: Daemon, s3: Any, bucket: str) -> None:
    with nothing_stored(daemon, s3, bucket, "x" * 1024), pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x" * 1025, Body=b"x")
    assert error_code(exc) == (400, "KeyTooLongError")
    assert object_keys(s3, bucket) == []


def test_metadata_too_large(daemon: Daemon, s3: Any, bucket: str) -> None:
    with nothing_stored(daemon, s3, bucket, "meta"), pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="meta", Body=b"", Metadata={"big": "v" * 3000})
    assert error_code(exc) == (400, "MetadataTooLarge")


def test_a_large_get_outlives_a_delete_and_a_client_gone_midway(
    daemon: Daemon, s3: Any, bucket: str
) -> None:
    """A GET over plain HTTP sends a large object from its blob file with
    sendfile: deleted after the first MiB, it still sends the old bytes
    whole (the reader pins the blob); a client that closes midway costs
    the daemon nothing (the next requests are served)."""
    size = 24 * MiB + 5
    s3.put_object(Bucket=bucket, Key="big", Body=PatternStream(size, "sendfile"))
    host = f"{daemon.host}:{daemon.port}"

    def get_request(key: str) -> bytes:
        return request_bytes(
            "GET",
            f"/{bucket}/{key}",
            sign("GET", daemon.endpoint, f"/{bucket}/{key}", ALICE, {"Host": host}),
        )

    with connect(daemon.host, daemon.port) as gone:
        gone.sendall(get_request("big"))
        assert gone.recv(65536).startswith(b"HTTP/1.1 200 ")
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(get_request("big"))
        received = b""
        while len(received.partition(b"\r\n\r\n")[2]) < MiB + 1:
            received += sock.recv(MiB)
        s3.delete_object(Bucket=bucket, Key="big")
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert f"\r\ncontent-length: {size}\r\n".encode() in head.lower()
        while len(body) < size:
            chunk = sock.recv(MiB)
            assert chunk, "the daemon closed midway"
            body += chunk
        assert_pattern(body, "sendfile", size=size)
        # The same connection carries on.
        sock.sendall(get_request("big"))
        assert read_response(sock).status == 404
