"""Inline objects through the whole in-process server: the same requests
against a node that keeps every object in blob files (inline_max_bytes=0)
and one with the default threshold get the same answers (listings, GET,
HEAD, ranges, copies, conditional reads), byte for byte, but for the ids
every answer carries. Only the data directory differs."""

from __future__ import annotations

from pathlib import Path

import trio
from trio.testing import MockClock

from hamster.http.testing import ReceivedResponse
from hamster.storage.store import INLINE_MAX_BYTES
from tests.api.harness import Harness, running_node
from tests.patterns import pattern

# Sizes on both sides of the threshold, the empty object included.
OBJECTS = {
    "a/empty": 0,
    "a/small": 300,
    "a/edge": INLINE_MAX_BYTES,
    "b/over": INLINE_MAX_BYTES + 1,
    "b/mid": 4096,
    "c": 70_000,
}
ANSWER_IDS = ("x-amz-request-id", "x-amz-id-2", "date")


def comparable(response: ReceivedResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers if k not in ANSWER_IDS]
    return response.status, headers, response.body


async def scenario(node: Harness) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    await node.create_bucket("bkt")
    await node.create_bucket("other")
    answers = []

    async def ask(method: str, path: str, **kw: object) -> None:
        answers.append(comparable(await node.request(method, path, **kw)))  # type: ignore[arg-type]

    for key, size in OBJECTS.items():
        meta = [("content-type", "text/x-test"), ("x-amz-meta-origin", key.encode().hex())]
        await ask("PUT", f"/bkt/{key}", body=pattern(size, key), headers=meta)
    await ask("PUT", "/other/copy", headers=[("x-amz-copy-source", "/bkt/a/small")])
    await ask(
        "PUT",
        "/bkt/a/small",
        headers=[
            ("x-amz-copy-source", "/bkt/a/small"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("content-type", "text/replaced"),
        ],
    )
    await ask("PUT", "/bkt/c-copy", headers=[("x-amz-copy-source", "/bkt/c")])
    for key in [*OBJECTS, "c-copy"]:
        await ask("GET", f"/bkt/{key}")
        await ask("HEAD", f"/bkt/{key}", headers=[("x-amz-checksum-mode", "ENABLED")])
        await ask("GET", f"/bkt/{key}", headers=[("range", "bytes=1-100")])
        await ask("GET", f"/bkt/{key}", headers=[("range", "bytes=-5")])
    etag = (await node.request("HEAD", "/bkt/a/edge")).header("etag") or ""
    await ask("GET", "/bkt/a/edge", headers=[("if-none-match", etag)])
    await ask("GET", "/other/copy")
    for query in (
        "list-type=2",
        "list-type=2&delimiter=/",
        "list-type=2&fetch-owner=true&max-keys=2",
        "prefix=a/",
        "versions",
    ):
        await ask("GET", "/bkt", query=query)
    await ask("DELETE", "/bkt/a/small")
    await ask("GET", "/bkt", query="list-type=2")
    return answers


async def test_inline_and_blob_objects_answer_alike(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    results = {}
    for name, limit in (("blobs", 0), ("inline", INLINE_MAX_BYTES)):
        async with running_node(tmp_path / name, inline_max_bytes=limit) as node:
            # Both runs start at the same (mock) time: the same Last-Modified.
            results[name] = await scenario(node)
        blob_files = [p for p in (tmp_path / name / "blobs").rglob("*") if p.is_file()]
        # Inline: only the objects over the threshold have blobs (b/over, c,
        # c-copy); every object (and copy) has one otherwise.
        assert len(blob_files) == (3 if limit else 7), (name, blob_files)
        await trio.sleep(0)
    assert len(results["blobs"]) == len(results["inline"])
    for blob_answer, inline_answer in zip(results["blobs"], results["inline"], strict=True):
        assert inline_answer == blob_answer
