"""The connection loop in front of the real `S3App` (tests/http drives it with a
fake app): raw request bytes over an in-memory connection to a whole node.

What is checked is what a client sees on the wire: keep-alive after errors,
HEAD answers without a body byte (success and error), ``Expect:
100-continue`` refused before the body is asked for (bad signature, unknown
key, another user's bucket, a missing bucket, a 501 route), and pipelined
requests answered in order. Every refused write is checked to have stored
nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
import trio
from trio.testing import MockClock

from hamster.http.testing import RawClient, ReceivedResponse
from tests.api.harness import (
    ACCESS_KEY,
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    SECRET_KEY,
    Harness,
    error_fields,
    signed_request_bytes,
)


def body_of(size: int, label: str) -> bytes:
    """Position-dependent bytes: a misplaced or repeated chunk shows."""
    return hashlib.shake_256(label.encode()).digest(size)


DATA = body_of(70_000, "connection-loop")  # more than one receive of the client


def signed(
    node: Harness,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
) -> bytes:
    """One request's bytes, signed by botocore at the node's time."""
    return signed_request_bytes(
        node.runtime,
        method,
        path,
        query=query,
        headers=headers,
        body=body,
        access_key=access_key,
        secret=secret,
    )


async def read_to_eof(stream: trio.abc.Stream) -> bytes:
    """Every byte the server sends until it closes the connection."""
    data = bytearray()
    while chunk := await stream.receive_some(65536):
        data += chunk
    return bytes(data)


def split_head(raw: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """(status line, headers by lower-case name, the bytes after the head)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, raw
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line.encode("latin-1"), headers, rest


async def stored_keys(node: Harness, bucket: str) -> list[str]:
    listing = await node.connect().request("GET", f"/{bucket}", query="list-type=2")
    assert listing.status == 200, listing
    return [part.split(b"</Key>")[0].decode() for part in listing.body.split(b"<Key>")[1:]]


async def test_keep_alive_after_errors(node: Harness, autojump_clock: MockClock) -> None:
    """Refusals before, during and after the body leave the connection serving."""
    await node.create_bucket("bkt")
    conn = node.connect()
    assert (await conn.request("PUT", "/bkt/k", body=DATA)).status == 200
    small = body_of(900, "refused")  # within the drain limit: drained, not a close
    refusals: list[tuple[str, bytes, int, str]] = [
        ("GET", signed(node, "GET", "/bkt/missing"), 404, "NoSuchKey"),
        ("GET", signed(node, "GET", "/no-such-bucket/k"), 404, "NoSuchBucket"),
        (
            "PUT",
            signed(node, "PUT", "/bkt/bad-sig", body=small, secret="not-the-secret"),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "PUT",
            signed(
                node,
                "PUT",
                "/bkt/bad-md5",
                body=small,
                headers=[("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")],  # MD5 of b""
            ),
            400,
            "BadDigest",
        ),
        (
            "PUT",
            signed(
                node,
                "PUT",
                "/bkt/other",
                body=small,
                access_key=OTHER_ACCESS_KEY,
                secret=OTHER_SECRET_KEY,
            ),
            403,
            "AccessDenied",
        ),
        ("PUT", signed(node, "PUT", "/bkt", query="lifecycle", body=small), 501, "NotImplemented"),
    ]
    for method, data, status, code in refusals:
        response = await conn.exchange(method, data)
        assert (response.status, error_fields(response)["Code"]) == (status, code), code
        assert response.header("connection") is None, code
        get = await conn.request("GET", "/bkt/k")
        assert (get.status, get.body) == (200, DATA), code
    assert await stored_keys(node, "bkt") == ["k"]


async def test_head_answers_carry_no_body(node: Harness, autojump_clock: MockClock) -> None:
    """HEAD of an object, of a missing key and of a missing bucket, pipelined
    with a GET: had any HEAD answer a body byte, the next answer would not parse."""
    await node.create_bucket("bkt")
    assert (await node.request("PUT", "/bkt/k", body=DATA)).status == 200
    conn = node.connect()
    await conn.raw.send(
        signed(node, "HEAD", "/bkt/k")
        + signed(node, "HEAD", "/bkt/missing")
        + signed(node, "HEAD", "/no-such-bucket/k")
        + signed(node, "GET", "/bkt/k", headers=[("Connection", "close")])
    )
    head = await conn.raw.read_response("HEAD")
    assert (head.status, head.body) == (200, b"")
    assert head.header("content-length") == str(len(DATA))
    assert head.header("etag") == f'"{hashlib.md5(DATA).hexdigest()}"'
    for _ in range(2):
        missing = await conn.raw.read_response("HEAD")
        assert (missing.status, missing.body) == (404, b"")
        assert missing.header("x-amz-request-id") is not None
    get = await conn.raw.read_response("GET")
    assert (get.status, get.body) == (200, DATA)
    assert await conn.raw.read_to_eof() == b""


@pytest.mark.parametrize("path", ["/bkt/k", "/bkt/missing"], ids=["found", "missing"])
async def test_head_bytes_end_with_the_head(
    node: Harness, autojump_clock: MockClock, path: str
) -> None:
    """The bytes on the wire: nothing after the blank line that ends the head."""
    await node.create_bucket("bkt")
    assert (await node.request("PUT", "/bkt/k", body=DATA)).status == 200
    stream = node.listener.connect()
    await stream.send_all(signed(node, "HEAD", path, headers=[("Connection", "close")]))
    status_line, headers, rest = split_head(await read_to_eof(stream))
    assert status_line == (b"HTTP/1.1 200 OK" if path == "/bkt/k" else b"HTTP/1.1 404 Not Found")
    assert rest == b""
    if path == "/bkt/k":
        assert headers["content-length"] == str(len(DATA))


PUT_BODY = body_of(5000, "held back")

# name -> (path, query, access key, secret, status, code)
EXPECT_REFUSALS: dict[str, tuple[str, str, str, str, int, str]] = {
    "bad-signature": ("/bkt/new", "", ACCESS_KEY, "not-the-secret", 403, "SignatureDoesNotMatch"),
    "unknown-key": (
        "/bkt/new",
        "",
        "AKIANOBODY0000000000",
        "whatever-secret",
        403,
        "InvalidAccessKeyId",
    ),
    "other-users-bucket": ("/bkt/new", "", OTHER_ACCESS_KEY, OTHER_SECRET_KEY, 403, "AccessDenied"),
    "no-such-bucket": ("/no-such-bucket/new", "", ACCESS_KEY, SECRET_KEY, 404, "NoSuchBucket"),
    "not-implemented-bucket": ("/bkt", "lifecycle", ACCESS_KEY, SECRET_KEY, 501, "NotImplemented"),
    "not-implemented-object": ("/bkt/k", "tagging", ACCESS_KEY, SECRET_KEY, 501, "NotImplemented"),
}


@pytest.mark.parametrize("case", sorted(EXPECT_REFUSALS))
async def test_expect_100_continue_refused_before_the_body(
    node: Harness, autojump_clock: MockClock, case: str
) -> None:
    """The client holds its body back for a ``100 Continue``: a refusal is
    the first and only answer, with ``Connection: close`` (the server cannot
    know whether the body follows), and the body is never read."""
    path, query, access_key, secret, status, code = EXPECT_REFUSALS[case]
    await node.create_bucket("bkt")
    assert (await node.request("PUT", "/bkt/k", body=DATA)).status == 200
    data = signed(
        node,
        "PUT",
        path,
        query=query,
        headers=[("Expect", "100-continue")],
        body=PUT_BODY,
        access_key=access_key,
        secret=secret,
    )
    assert data.endswith(PUT_BODY)
    stream = node.listener.connect()
    await stream.send_all(data[: -len(PUT_BODY)])  # the head alone
    raw = await read_to_eof(stream)
    assert not raw.startswith(b"HTTP/1.1 100"), raw[:100]
    status_line, headers, rest = split_head(raw)
    assert status_line.split(b" ", 2)[1] == str(status).encode()
    assert headers["connection"] == "close"
    assert f"<Code>{code}</Code>".encode() in rest
    assert len(rest) == int(headers["content-length"])  # one answer, then the close
    assert await stored_keys(node, "bkt") == ["k"]
    get = await node.request("GET", "/bkt/k")
    assert (get.status, get.body) == (200, DATA)  # the object (and its tags) untouched


async def test_expect_100_continue_refused_with_an_empty_body_keeps_the_connection(
    node: Harness, autojump_clock: MockClock
) -> None:
    """Nothing is held back when Content-Length is 0: the refusal keeps the connection."""
    await node.create_bucket("bkt")
    conn = node.connect()
    data = signed(
        node, "PUT", "/bkt/empty", headers=[("Expect", "100-continue")], secret="not-the-secret"
    )
    assert b"\r\nContent-Length: 0\r\n" in data
    response = await conn.exchange("PUT", data)
    assert (response.status, error_fields(response)["Code"]) == (403, "SignatureDoesNotMatch")
    assert response.header("connection") is None
    assert await stored_keys(node, "bkt") == []


async def test_expect_100_continue_accepted_asks_for_the_body(
    node: Harness, autojump_clock: MockClock
) -> None:
    await node.create_bucket("bkt")
    data = signed(node, "PUT", "/bkt/new", headers=[("Expect", "100-continue")], body=PUT_BODY)
    stream = node.listener.connect()
    await stream.send_all(data[: -len(PUT_BODY)])
    interim = b""
    while b"\r\n\r\n" not in interim:
        interim += await stream.receive_some(65536)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    await stream.send_all(PUT_BODY)
    client = RawClient(stream)
    put = await client.read_response("PUT")
    assert (put.status, put.header("connection")) == (200, None)
    await client.send(signed(node, "GET", "/bkt/new"))
    get = await client.read_response("GET")
    assert (get.status, get.body) == (200, PUT_BODY)


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_pipelined_requests_are_answered_in_order(
    node: Harness, autojump_clock: MockClock, bytewise: bool
) -> None:
    await node.create_bucket("bkt")
    first, second = body_of(3000, "first"), body_of(2000, "second")
    requests: list[tuple[str, bytes]] = [
        ("PUT", signed(node, "PUT", "/bkt/a", body=first)),
        ("PUT", signed(node, "PUT", "/bkt/b", body=second, secret="not-the-secret")),
        ("GET", signed(node, "GET", "/bkt/a")),
        ("HEAD", signed(node, "HEAD", "/bkt/a")),
        ("GET", signed(node, "GET", "/bkt/b")),
        ("PUT", signed(node, "PUT", "/bkt/b", body=second)),
        ("DELETE", signed(node, "DELETE", "/bkt/a")),
        ("GET", signed(node, "GET", "/bkt/b")),
        ("GET", signed(node, "GET", "/bkt/a")),
    ]
    client = node.connect().raw
    data = b"".join(d for _, d in requests)
    if bytewise:
        await client.send_bytewise(data)
    else:
        await client.send(data)
    answers: list[ReceivedResponse] = [await client.read_response(m) for m, _ in requests]
    assert [a.status for a in answers] == [200, 403, 200, 200, 404, 200, 204, 200, 404]
    assert answers[2].body == first
    assert answers[3].header("content-length") == str(len(first))
    assert answers[7].body == second
    assert error_fields(answers[1])["Code"] == "SignatureDoesNotMatch"
    assert error_fields(answers[4])["Code"] == error_fields(answers[8])["Code"] == "NoSuchKey"
    assert await stored_keys(node, "bkt") == ["b"]
