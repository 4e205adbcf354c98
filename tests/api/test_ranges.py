"""Ranged GetObject and HeadObject through the whole in-process server: the
exact bytes across multipart part boundaries, suffix ranges, empty objects,
416 with ``Content-Range: bytes */N``, and the same headers on HEAD.

The object's bytes are position-dependent (tests/patterns.py), so a range
served from a wrong offset, or from the wrong part, does not compare equal.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
import trio
from trio.testing import MockClock

from hamster.api import objects
from hamster.http.testing import ReceivedResponse
from hamster.s3.xml import S3_NS
from tests.api.harness import Harness, error_fields, running_node
from tests.patterns import pattern, split

PART = 1024
# Three parts of unequal sizes (the store's smallest part is PART here).
SIZES = [PART, PART + 3, 17]
DATA = pattern(sum(SIZES), "ranges")
PIECES = split(DATA, SIZES)
SIZE = len(DATA)
B1, B2 = SIZES[0], SIZES[0] + SIZES[1]  # the first bytes of parts 2 and 3
SINGLE = pattern(3000, "single")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Harness]:
    """A node whose smallest part is PART, with bucket bkt holding "mp" (DATA
    in the three parts), "single" (one PUT) and "empty" (0 bytes)."""
    assert isinstance(trio.lowlevel.current_clock(), MockClock)
    async with running_node(tmp_path / "data", min_part_bytes=PART) as harness:
        await harness.create_bucket("bkt")
        await put_multipart(harness, "/bkt/mp", PIECES)
        for key, body in (("single", SINGLE), ("empty", b"")):
            assert (await harness.request("PUT", f"/bkt/{key}", body=body)).status == 200
        yield harness


async def put_multipart(node: Harness, path: str, pieces: list[bytes]) -> None:
    created = await node.request("POST", path, query="uploads")
    assert created.status == 200, created
    upload_id = ElementTree.fromstring(created.body).findtext(f"{{{S3_NS}}}UploadId")
    assert upload_id
    listed = []
    for number, piece in enumerate(pieces, 1):
        query = f"partNumber={number}&uploadId={upload_id}"
        uploaded = await node.request("PUT", path, query=query, body=piece)
        assert uploaded.status == 200, uploaded
        listed.append(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{uploaded.header('etag')}</ETag></Part>"
        )
    xml = f"<CompleteMultipartUpload>{''.join(listed)}</CompleteMultipartUpload>"
    done = await node.request("POST", path, query=f"uploadId={upload_id}", body=xml.encode())
    assert done.status == 200 and b"<ETag>" in done.body, done


async def ranged(node: Harness, method: str, key: str, value: str) -> ReceivedResponse:
    return await node.request(method, f"/bkt/{key}", headers=[("Range", value)])


# (Range header, first, last) on DATA: parts are [0, B1), [B1, B2), [B2, SIZE).
MULTIPART_RANGES = [
    (f"bytes=0-{B1 - 1}", 0, B1 - 1),  # exactly part 1
    (f"bytes={B1}-{B2 - 1}", B1, B2 - 1),  # exactly part 2
    (f"bytes={B1 - 1}-{B1}", B1 - 1, B1),  # the last byte of part 1, the first of part 2
    (f"bytes={B1 + 5}-{B1 + 20}", B1 + 5, B1 + 20),  # inside part 2, not at its start
    (f"bytes={B2 - 3}-{B2 + 2}", B2 - 3, B2 + 2),  # across parts 2 and 3
    (f"bytes={B1 + 1}-{SIZE - 2}", B1 + 1, SIZE - 2),  # part 2 from byte 1 and most of 3
    (f"bytes=3-{SIZE - 1}", 3, SIZE - 1),  # all three parts
    (f"bytes={B2 + 4}-", B2 + 4, SIZE - 1),  # open-ended inside the last part
    (f"bytes={B1 + 7}-{SIZE + 5000}", B1 + 7, SIZE - 1),  # past the end: cut at the end
    ("bytes=-20", SIZE - 20, SIZE - 1),  # a suffix across parts 2 and 3
    (f"bytes=-{SIZE}", 0, SIZE - 1),  # a suffix of the whole object
    (f"bytes=-{SIZE + 100000}", 0, SIZE - 1),  # a suffix longer than the object
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # the last byte
]


@pytest.mark.parametrize(("value", "first", "last"), MULTIPART_RANGES)
async def test_range_of_a_multipart_object_is_the_exact_slice(
    node: Harness, autojump_clock: MockClock, value: str, first: int, last: int
) -> None:
    whole = await node.request("HEAD", "/bkt/mp")
    got = await ranged(node, "GET", "mp", value)
    assert got.status == 206, got
    assert got.body == DATA[first : last + 1]
    assert got.header("content-range") == f"bytes {first}-{last}/{SIZE}"
    assert got.header("content-length") == str(last - first + 1)
    assert got.header("etag") == whole.header("etag")  # the whole object's
    assert got.header("accept-ranges") == "bytes"
    head = await ranged(node, "HEAD", "mp", value)
    assert (head.status, head.body) == (206, b"")
    for name in ("content-range", "content-length", "etag", "last-modified"):
        assert head.header(name) == got.header(name), name


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=2999-", 2999, 2999),
        ("bytes=-1", 2999, 2999),
        ("bytes=-2999", 1, 2999),
        ("bytes=-5000", 0, 2999),
        ("bytes = 17 - 99", 17, 99),  # optional whitespace, as S3 takes it
        ("BYTES=5-6", 5, 6),  # the unit is case-insensitive
    ],
)
async def test_range_of_a_single_put_object(
    node: Harness, autojump_clock: MockClock, value: str, first: int, last: int
) -> None:
    got = await ranged(node, "GET", "single", value)
    assert (got.status, got.body) == (206, SINGLE[first : last + 1])
    assert got.header("content-range") == f"bytes {first}-{last}/{len(SINGLE)}"
    head = await ranged(node, "HEAD", "single", value)
    assert (head.status, head.body) == (206, b"")
    assert head.header("content-range") == got.header("content-range")
    assert head.header("content-length") == str(last - first + 1)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("mp", f"bytes={SIZE}-"),
        ("mp", f"bytes={SIZE}-{SIZE + 10}"),
        ("mp", "bytes=-0"),
        ("single", "bytes=3000-3000"),
        ("empty", "bytes=0-0"),
        ("empty", "bytes=0-"),
        ("empty", "bytes=-0"),
    ],
)
async def test_unsatisfiable_range_is_416_with_the_size(
    node: Harness, autojump_clock: MockClock, key: str, value: str
) -> None:
    size = {"mp": SIZE, "single": len(SINGLE), "empty": 0}[key]
    got = await ranged(node, "GET", key, value)
    assert got.status == 416, got
    assert got.header("content-range") == f"bytes */{size}"
    fields = error_fields(got)
    assert fields["Code"] == "InvalidRange"
    assert (fields["RangeRequested"], fields["ActualObjectSize"]) == (value, str(size))
    head = await ranged(node, "HEAD", key, value)
    assert (head.status, head.body) == (416, b"")
    assert head.header("content-range") == f"bytes */{size}"


async def test_suffix_range_of_an_empty_object_is_the_whole_empty_object(
    node: Harness, autojump_clock: MockClock
) -> None:
    """S3 answers ``bytes=-N`` on a 0-byte object with 200 and no bytes."""
    for method in ("GET", "HEAD"):
        got = await ranged(node, method, "empty", "bytes=-5")
        assert (got.status, got.body) == (200, b"")
        assert got.header("content-length") == "0"
        assert got.header("content-range") is None


@pytest.mark.parametrize(
    "value", ["bytes=20-10", "bytes=0-1,5-6", "bytes=", "items=0-1", "bytes=-"]
)
async def test_a_range_s3_ignores_answers_the_whole_object(
    node: Harness, autojump_clock: MockClock, value: str
) -> None:
    got = await ranged(node, "GET", "mp", value)
    assert (got.status, got.body) == (200, DATA)
    assert got.header("content-range") is None
    head = await ranged(node, "HEAD", "mp", value)
    assert (head.status, head.header("content-length")) == (200, str(SIZE))


async def test_a_span_read_whole_at_once_is_sent_as_bytes_and_a_longer_one_streamed(
    node: Harness, autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Within one part the span comes in one read: sent as bytes. Across parts
    # the first read holds only the first part's bytes: streamed.
    streamed: list[bytes] = []
    real = objects._stream

    def spy(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
        streamed.append(first)
        return real(first, rest)

    monkeypatch.setattr(objects, "_stream", spy)
    got = await node.request("GET", "/bkt/single")
    assert (got.status, got.body) == (200, SINGLE)
    got = await ranged(node, "GET", "mp", f"bytes=3-{B1 - 1}")
    assert (got.status, got.body) == (206, DATA[3:B1])
    assert streamed == []
    got = await ranged(node, "GET", "mp", f"bytes=3-{B1}")
    assert (got.status, got.body) == (206, DATA[3 : B1 + 1])
    assert streamed == [DATA[3:B1]]
