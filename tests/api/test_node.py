"""S3 handlers through the whole in-process server (hamster.node): signed
requests over in-memory connections, h11 parsing up, no port."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from hamster.http.messages import HttpRequest
from hamster.http.server import ServerLimits
from hamster.s3.errors import S3Error
from tests.api.harness import (
    HOST,
    Harness,
    error_fields,
    harness_runtime,
    running_node,
    signed_request_bytes,
)
from tests.offload import RecordingOffload, no_threads

MiB = 1 << 20


def body_of(size: int, label: str = "body") -> bytes:
    """Position-dependent bytes: a misplaced or repeated chunk shows."""
    return hashlib.shake_256(label.encode()).digest(size)


async def test_put_get_head_delete(node: Harness, autojump_clock: MockClock) -> None:
    await node.create_bucket("bkt")
    data = body_of(2 * MiB + 5)
    put = await node.request("PUT", "/bkt/dir/key", body=data)
    assert put.status == 200, put
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert put.header("etag") == etag

    get = await node.request("GET", "/bkt/dir/key")
    assert (get.status, get.body, get.header("etag")) == (200, data, etag)
    ranged = await node.request("GET", "/bkt/dir/key", headers=[("Range", "bytes=1048570-1048585")])
    assert (ranged.status, ranged.body) == (206, data[1048570:1048586])

    head = await node.request("HEAD", "/bkt/dir/key")
    assert head.status == 200 and head.body == b""
    assert head.header("content-length") == str(len(data))
    assert head.header("etag") == etag

    delete = await node.request("DELETE", "/bkt/dir/key")
    assert delete.status == 204
    gone = await node.request("GET", "/bkt/dir/key")
    assert gone.status == 404
    assert error_fields(gone)["Code"] == "NoSuchKey"


async def test_overwrite_serves_the_new_bytes(node: Harness, autojump_clock: MockClock) -> None:
    await node.create_bucket("bkt")
    for label in ("first", "second"):
        data = body_of(300_000, label)
        assert (await node.request("PUT", "/bkt/k", body=data)).status == 200
        assert (await node.request("GET", "/bkt/k")).body == data


async def test_error_answer_is_s3_xml(node: Harness, autojump_clock: MockClock) -> None:
    response = await node.request("GET", "/missing-bucket/some/key")
    assert response.status == 404
    fields = error_fields(response)
    assert fields["Code"] == "NoSuchBucket"
    assert fields["BucketName"] == "missing-bucket"
    assert fields["Resource"] == "/missing-bucket/some/key"
    assert fields["RequestId"] == response.header("x-amz-request-id")


async def test_bad_signature_is_refused(node: Harness, autojump_clock: MockClock) -> None:
    response = await node.request("GET", "/", secret="not-the-secret")
    assert response.status == 403
    assert error_fields(response)["Code"] == "SignatureDoesNotMatch"


async def test_head_error_has_no_body(node: Harness, autojump_clock: MockClock) -> None:
    """The application gives a HEAD error no body (the status tells), and on
    the wire nothing follows its head: the next answer on the connection
    parses whole, and a closing connection sends no byte after it."""
    await node.create_bucket("bkt")
    data = body_of(1000, "after-head")
    assert (await node.request("PUT", "/bkt/k", body=data)).status == 200
    missing = await node.request("HEAD", "/bkt/nope")
    assert (missing.status, missing.body) == (404, b"")
    assert missing.header("x-amz-request-id") is not None
    assert (await node.request("GET", "/bkt/k")).body == data  # same connection

    conn = node.connect()
    head = signed_request_bytes(
        node.runtime, "HEAD", "/bkt/nope", headers=[("Connection", "close")]
    )
    assert (await conn.exchange("HEAD", head)).status == 404
    assert await conn.raw.read_to_eof() == b""

    request = HttpRequest("HEAD", b"/bkt/nope", (("host", HOST),))
    assert node.node.app.error_response(S3Error("NoSuchKey"), request).body == b""


async def test_header_timeout_closes_the_connection(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    limits = ServerLimits(header_timeout_s=10.0)
    async with running_node(tmp_path / "data", limits=limits) as harness:
        conn = harness.connect()
        start = trio.current_time()
        await conn.raw.send(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        response = await conn.raw.read_response()
        assert trio.current_time() - start == pytest.approx(10.0)
        assert response.status == 400
        assert error_fields(response)["Code"] == "RequestTimeout"
        assert response.header("connection") == "close"
        assert await conn.raw.read_to_eof() == b""


async def test_aws_chunked_put(node: Harness, autojump_clock: MockClock) -> None:
    await node.create_bucket("bkt")
    data = body_of(3 * 64 * 1024 + 11, "chunked")
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    response = await node.put_aws_chunked("/bkt/chunked", chunks)
    assert response.status == 200, response
    assert (await node.request("GET", "/bkt/chunked")).body == data


async def test_nothing_leaves_the_trio_thread_with_inline_offload(
    node: Harness, autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request path (auth, hashing, blobs, LevelDB) hops to no thread:
    everything goes through the runtime's InlineOffload."""
    data = body_of(3 * MiB + 7, "inline")
    with no_threads(monkeypatch):
        await node.create_bucket("bkt")
        assert (await node.request("PUT", "/bkt/signed", body=data)).status == 200
        chunks = [data[i : i + MiB] for i in range(0, len(data), MiB)]
        assert (await node.put_aws_chunked("/bkt/chunked", chunks)).status == 200
        for key in ("signed", "chunked"):
            assert (await node.request("GET", f"/bkt/{key}")).body == data
        assert (await node.request("DELETE", "/bkt/signed")).status == 204


async def test_thread_offload_is_used_above_the_cut_off(tmp_path: Path) -> None:
    """With the default offload big pieces go to worker threads, through the
    runtime (real clock: a thread and an autojumping clock do not mix)."""
    offload = RecordingOffload()
    async with running_node(tmp_path / "data", runtime=harness_runtime(offload)) as harness:
        await harness.create_bucket("bkt")
        offload.calls.clear()
        data = body_of(2 * MiB, "threads")
        assert (await harness.request("PUT", "/bkt/k", body=data)).status == 200
    # The store hashes its 1 MiB chunks through the offload, each on a worker
    # thread; the body check's reads (at most 256 KiB) stay inline.
    hashed = [call for call in offload.calls if getattr(call.fn, "__name__", "") == "update"]
    assert [bytes(call.args[0]) for call in hashed] == [data[:MiB], data[MiB:]]
    assert all(call.thread != threading.get_ident() for call in offload.calls)


async def test_a_node_recovers_on_open(tmp_path: Path, autojump_clock: MockClock) -> None:
    """open_node opens the store, so recovery runs before anything is served:
    what a crash left in tmp/ is gone, the objects stay."""
    data_dir = tmp_path / "data"
    data = body_of(5000, "survivor")
    async with running_node(data_dir) as harness:
        await harness.create_bucket("bkt")
        assert (await harness.request("PUT", "/bkt/k", body=data)).status == 200
    (data_dir / "tmp" / ("e" * 32)).write_bytes(b"half a write")
    async with running_node(data_dir) as harness:
        report = harness.node.store.recovery
        assert report.tmp_removed == 1
        assert list((data_dir / "tmp").iterdir()) == []
        assert (await harness.request("GET", "/bkt/k")).body == data
