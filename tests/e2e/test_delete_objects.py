"""DeleteObjects through boto3 against the real daemon: 1000 keys, the limit,
Quiet mode, missing keys, special keys, VersionId and ETag per key, and the
integrity headers S3 requires (Content-MD5 or a CRC32 checksum, verified)."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from hamster.s3.required_integrity import MISSING_MESSAGE
from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, error_code, make_client
from tests.e2e.rawhttp import aws_chunked_request, connect, read_response, request_bytes

SPECIAL_KEYS = [
    "plus+sign",
    "100%25 percent %",
    "with space",
    "  leading and trailing  ",
    "é/ü/日本語/🐹",
    "xml &<>\"' chars",
    "a//b/",
    "tab\tand~tilde",
]


def data_of(key: str, size: int = 256) -> bytes:
    """Bytes that differ by position and by key."""
    blocks = []
    block = key.encode()
    for _ in range(-(-size // 32)):
        block = hashlib.sha256(block).digest()
        blocks.append(block)
    return b"".join(blocks)[:size]


def put_all(s3: Any, bucket: str, keys: list[str]) -> None:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=data_of(k)), keys))


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False
    return True


def existing(s3: Any, bucket: str, keys: list[str]) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda k: exists(s3, bucket, k), keys))
    return [k for k, there in zip(keys, found, strict=True) if there]


def objects(keys: list[str]) -> list[dict[str, str]]:
    return [{"Key": k} for k in keys]


def deleted_keys(response: dict[str, Any]) -> list[str]:
    return [d["Key"] for d in response.get("Deleted", [])]


@pytest.fixture
def sent() -> list[dict[str, str]]:
    """The headers of each DeleteObjects request a `watched` client sent."""
    return []


def watched(client: Any, sent: list[dict[str, str]]) -> Any:
    def record(request: AWSRequest, **_: Any) -> None:
        sent.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
        )

    client.meta.events.register("before-send.s3.DeleteObjects", record)
    return client


def rewrite_integrity(client: Any, change: Callable[[AWSRequest], None]) -> Any:
    """`client` with its DeleteObjects integrity headers replaced by `change`
    (before signing, so the signature still holds)."""

    def hook(request: AWSRequest, **_: Any) -> None:
        for name in ("x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm", "Content-MD5"):
            if name in request.headers:
                del request.headers[name]
        change(request)

    client.meta.events.register("before-sign.s3.DeleteObjects", hook)
    return client


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def plain(daemon: Daemon) -> Iterator[Any]:
    """A fresh alice client, so hooks registered on it stay in the test."""
    yield make_client(daemon.endpoint, ALICE)


# -- the batch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calculation", "count"), [("when_supported", 1000), ("when_required", 100)]
)
def test_a_thousand_keys_go_in_one_request(
    daemon: Daemon,
    s3: Any,
    bucket: str,
    calculation: str,
    count: int,
    sent: list[dict[str, str]],
) -> None:
    """boto3's default, and `when_required` (which SDKs document as sending a
    checksum only where the operation requires one, as DeleteObjects does)."""
    client = watched(
        make_client(daemon.endpoint, ALICE, request_checksum_calculation=calculation), sent
    )
    keys = [f"dir{n % 7}/key-{n:04d}" for n in range(count)]
    put_all(s3, bucket, [*keys, "survivor"])
    response = client.delete_objects(Bucket=bucket, Delete={"Objects": objects(keys)})
    assert sorted(deleted_keys(response)) == sorted(keys)
    assert "Errors" not in response
    assert existing(s3, bucket, keys) == []
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=keys[count // 2])
    assert error_code(e) == (404, "NoSuchKey")
    assert s3.get_object(Bucket=bucket, Key="survivor")["Body"].read() == data_of("survivor")
    # Current botocore sends CRC32 in both modes, never Content-MD5.
    assert len(sent) == 1
    assert "content-md5" not in sent[0]
    assert sent[0]["x-amz-sdk-checksum-algorithm"] == "CRC32"
    assert "x-amz-checksum-crc32" in sent[0]


def test_a_thousand_keys_of_1024_bytes(s3: Any, bucket: str) -> None:
    """The largest request S3 takes: 1000 keys of 1024 UTF-8 bytes each."""
    keys = [f"{n:04d}/" + "é日" * 203 + "x" * (1024 - 5 - 5 * 203) for n in range(1000)]
    assert {len(k.encode()) for k in keys} == {1024}
    put_all(s3, bucket, keys[::97])
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects(keys)})
    assert deleted_keys(response) == keys
    assert existing(s3, bucket, keys[::97]) == []


def test_more_than_a_thousand_keys_is_malformed_and_deletes_nothing(s3: Any, bucket: str) -> None:
    keys = [f"k{n}" for n in range(1001)]
    put_all(s3, bucket, keys[:3])
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objects(keys)})
    assert error_code(e) == (400, "MalformedXML")
    assert existing(s3, bucket, keys[:3]) == keys[:3]


def test_missing_keys_are_reported_deleted(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["here"])
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": objects(["never-was", "here", "never-was"])}
    )
    assert deleted_keys(response) == ["never-was", "here", "never-was"]
    assert not exists(s3, bucket, "here")


def test_quiet_lists_only_errors(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["a", "b", "versioned"])
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": objects(["a", "b", "missing"]), "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert existing(s3, bucket, ["a", "b"]) == []
    with_error = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "versioned", "VersionId": "v1"}, {"Key": "c"}], "Quiet": True},
    )
    assert "Deleted" not in with_error
    assert [(e["Key"], e["VersionId"], e["Code"]) for e in with_error["Errors"]] == [
        ("versioned", "v1", "NoSuchVersion")
    ]


def test_special_keys_byte_exact(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, [*SPECIAL_KEYS, "plus sign", "with+space"])
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects(SPECIAL_KEYS)})
    assert deleted_keys(response) == SPECIAL_KEYS
    assert existing(s3, bucket, SPECIAL_KEYS) == []
    # Their look-alikes stay: `+` is not a space, nothing was normalised.
    assert existing(s3, bucket, ["plus sign", "with+space"]) == ["plus sign", "with+space"]


def test_version_ids_null_is_current_others_are_no_such_version(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["n", "v"])
    response = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [{"Key": "n", "VersionId": "null"}, {"Key": "v", "VersionId": "3HL4kqtJ"}]
        },
    )
    assert response["Deleted"] == [{"Key": "n", "VersionId": "null"}]
    assert response["Errors"] == [
        {
            "Key": "v",
            "VersionId": "3HL4kqtJ",
            "Code": "NoSuchVersion",
            "Message": "The specified version does not exist.",
        }
    ]
    assert existing(s3, bucket, ["n", "v"]) == ["v"]


def test_etag_conditions_per_key(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["same", "changed"])
    etag = s3.head_object(Bucket=bucket, Key="same")["ETag"]
    response = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "same", "ETag": etag},
                {"Key": "changed", "ETag": etag},
                {"Key": "gone", "ETag": "*"},
            ]
        },
    )
    assert deleted_keys(response) == ["same"]
    assert [(e["Key"], e["Code"]) for e in response["Errors"]] == [
        ("changed", "PreconditionFailed"),
        ("gone", "NoSuchKey"),
    ]
    assert existing(s3, bucket, ["same", "changed"]) == ["changed"]


def test_a_key_too_long_refuses_the_request(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["ok"])
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objects(["ok", "k" * 1025])})
    assert error_code(e) == (400, "KeyTooLongError")
    assert exists(s3, bucket, "ok")
    # 1024 bytes (here 512 two-byte characters) is a valid key.
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects(["é" * 512])})
    assert deleted_keys(response) == ["é" * 512]


def test_bucket_errors(s3: Any, s3_bob: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket="no-such-bucket-here", Delete={"Objects": objects(["k"])})
    assert error_code(e) == (404, "NoSuchBucket")
    put_all(s3, bucket, ["k"])
    with pytest.raises(ClientError) as e:
        s3_bob.delete_objects(Bucket=bucket, Delete={"Objects": objects(["k"])})
    assert error_code(e) == (403, "AccessDenied")
    assert exists(s3, bucket, "k")


def test_an_open_download_keeps_its_bytes(s3: Any, bucket: str) -> None:
    size = 8 << 20
    body = b"".join(data_of(f"block{n}", 1 << 20) for n in range(8))
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    download = s3.get_object(Bucket=bucket, Key="big")["Body"]
    first = download.read(4096)
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects(["big"])})
    assert deleted_keys(response) == ["big"]
    assert not exists(s3, bucket, "big")
    rest = download.read()
    assert len(first) + len(rest) == size
    assert first + rest == body


# -- the integrity headers -----------------------------------------------------


def test_content_md5_alone_is_accepted(plain: Any, s3: Any, bucket: str) -> None:
    def md5(request: AWSRequest) -> None:
        request.headers["Content-MD5"] = b64(hashlib.md5(request.body).digest())

    put_all(s3, bucket, ["k"])
    response = rewrite_integrity(plain, md5).delete_objects(
        Bucket=bucket, Delete={"Objects": objects(["k"])}
    )
    assert deleted_keys(response) == ["k"]
    assert not exists(s3, bucket, "k")


def test_wrong_content_md5_is_bad_digest(plain: Any, s3: Any, bucket: str) -> None:
    def wrong_md5(request: AWSRequest) -> None:
        request.headers["Content-MD5"] = b64(hashlib.md5(request.body + b" ").digest())

    put_all(s3, bucket, ["k"])
    with pytest.raises(ClientError) as e:
        rewrite_integrity(plain, wrong_md5).delete_objects(
            Bucket=bucket, Delete={"Objects": objects(["k"])}
        )
    assert error_code(e) == (400, "BadDigest")
    assert exists(s3, bucket, "k")


def test_wrong_crc32_is_bad_digest(plain: Any, s3: Any, bucket: str) -> None:
    def wrong_crc32(request: AWSRequest) -> None:
        crc = zlib.crc32(request.body.replace(b"<Key>k</Key>", b"<Key>x</Key>"))
        request.headers["x-amz-checksum-crc32"] = b64(crc.to_bytes(4, "big"))
        request.headers["x-amz-sdk-checksum-algorithm"] = "CRC32"

    put_all(s3, bucket, ["k"])
    with pytest.raises(ClientError) as e:
        rewrite_integrity(plain, wrong_crc32).delete_objects(
            Bucket=bucket, Delete={"Objects": objects(["k"])}
        )
    assert error_code(e) == (400, "BadDigest")
    assert e.value.response["Error"]["Message"] == (
        "The CRC32 you specified did not match the calculated checksum."
    )
    assert exists(s3, bucket, "k")


def test_no_integrity_header_is_refused(plain: Any, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["k"])
    with pytest.raises(ClientError) as e:
        rewrite_integrity(plain, lambda request: None).delete_objects(
            Bucket=bucket, Delete={"Objects": objects(["k"])}
        )
    assert error_code(e) == (400, "InvalidRequest")
    assert e.value.response["Error"]["Message"] == MISSING_MESSAGE
    assert exists(s3, bucket, "k")


@pytest.mark.parametrize("right", [True, False])
def test_a_crc32_trailer_of_an_aws_chunked_body(
    daemon: Daemon, s3: Any, bucket: str, right: bool
) -> None:
    """The checksum at the end of a signed aws-chunked body, as SDKs stream over TLS."""
    put_all(s3, bucket, ["k"])
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>k</Key></Object></Delete>'
    crc = zlib.crc32(body if right else body + b" ")
    path = f"/{bucket}?delete"
    headers, encoded = aws_chunked_request(
        "POST",
        daemon.endpoint,
        path,
        ALICE,
        [body[:40], body[40:]],
        mode="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        headers={"Content-Encoding": "aws-chunked"},
        trailers=[("x-amz-checksum-crc32", b64(crc.to_bytes(4, "big")))],
    )
    headers["Content-Length"] = str(len(encoded))
    with connect(daemon.host, daemon.port) as sock:
        sock.sendall(request_bytes("POST", path, headers, encoded))
        response = read_response(sock)
    if right:
        assert response.status == 200, response.body
        assert b"<Deleted><Key>k</Key></Deleted>" in response.body
        assert not exists(s3, bucket, "k")
    else:
        assert (response.status, response.error_code) == (400, "BadDigest")
        assert exists(s3, bucket, "k")
