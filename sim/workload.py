"""Simulated S3 clients: the operations they run and what each answer means
for the reference model (`sim.model`).

Each client owns a seeded `random.Random` and runs its operations one after
another; clients run concurrently. An operation takes the locks of the keys it
touches (sorted, so clients never deadlock), so the model of each key is
well defined. Bodies are SHAKE-256 of the write's tag: position-dependent and
naming the write, so misplaced, torn or foreign bytes never compare equal.
"""

from __future__ import annotations

import hashlib
import random
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import trio

from sim.client import REPLY_TIMEOUT_S, Lost, Payload, Reply, S3Client, encode_key
from sim.model import Model, Part, Version, md5_etag, multipart_etag

__all__ = ["BUCKET", "KEYS", "Failure", "Workload", "body_for", "xml_texts"]

BUCKET = "sim"
KEYS = tuple([f"k{i}" for i in range(6)] + [f"dir/k{i}" for i in range(4)] + ["dir/sub/x"])
MIN_PART_BYTES = 5 * 1024


class Failure(Exception):
    """The store broke a promise (the seed fails with this message)."""


def body_for(tag: str, size: int) -> bytes:
    return hashlib.shake_256(tag.encode()).digest(size) if size else b""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_texts(body: bytes, name: str) -> list[str]:
    """The text of every element called `name` (namespace ignored)."""
    root = ET.fromstring(body)
    return [el.text or "" for el in root.iter() if _local(el.tag) == name]


def xml_records(body: bytes, name: str) -> list[dict[str, str]]:
    """Each element called `name` as {child name: text}."""
    root = ET.fromstring(body)
    return [
        {_local(child.tag): child.text or "" for child in el}
        for el in root.iter()
        if _local(el.tag) == name
    ]


def _is_server_error(reply: Reply) -> bool:
    return reply.status >= 500


@dataclass
class Stats:
    ops: int = 0
    acked: int = 0
    lost: int = 0
    refused: int = 0
    server_errors: int = 0
    by_op: dict[str, int] = field(default_factory=dict)


class Workload:
    """The clients' operations against one model.

    Args:
      model: the reference model, shared with the checks.
      trace: one line per event.
      liveness: set by the world in the final, fault-free phase: then every
        request must be answered, and never with a server error.
    """

    def __init__(
        self,
        model: Model,
        *,
        trace: Callable[[str], None],
        now: Callable[[], float],
        faults: bool,
    ) -> None:
        self.model = model
        # Whether disk faults are injected in this seed: without them a
        # server error is a bug, not an injected EIO.
        self.faults = faults
        self.trace = trace
        self._now = now
        self.locks = {key: trio.Lock() for key in KEYS}
        # How often each key's lock was taken (a listing's window on writes).
        self.touched: dict[str, int] = {}
        self.stats = Stats()
        self.liveness = False
        self.races = 0

    # --- the request and its accounting -------------------------------------

    async def send(
        self,
        client: S3Client,
        who: str,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        payload: Payload = Payload.SIGNED,
    ) -> Reply | None:
        """The reply, or None when it was lost. In the liveness phase a lost
        answer or a server error is a failure."""
        q = "&".join(f"{k}={v}" if v else k for k, v in query)
        what = f"{method} {path}{'?' + q if q else ''}"
        try:
            reply = await client.request(
                method, path, query, headers, body, payload=payload, reuse=not self.liveness
            )
        except Lost as exc:
            self.stats.lost += 1
            self.trace(f"{self._now():.6f} {who} {what} -> lost ({exc})")
            if isinstance(exc.__cause__, trio.TooSlowError):
                # Only a crash ends a connection; a request that simply never
                # gets an answer is a hang.
                raise Failure(f"{what} got no answer in {REPLY_TIMEOUT_S:.0f} s: a hang") from exc
            if self.liveness:
                raise Failure(f"liveness: {what} got no answer in the fault-free phase") from exc
            return None
        code = ""
        if reply.status >= 300 and reply.body.startswith(b"<?xml"):
            codes = xml_texts(reply.body, "Code")
            code = codes[0] if codes else ""
        self.trace(f"{self._now():.6f} {who} {what} -> {reply.status} {code}".rstrip())
        if _is_server_error(reply):
            self.stats.server_errors += 1
            if not self.faults:
                raise Failure(f"{what} answered {reply.status} {code} in a seed without faults")
            if self.liveness:
                raise Failure(f"liveness: {what} answered {reply.status} {code} without faults")
        return reply

    # --- one client ----------------------------------------------------------

    async def run_client(self, client: S3Client, who: str, rng: random.Random, ops: int) -> None:
        for n in range(ops):
            op = rng.choices(OPS, weights=WEIGHTS)[0]
            self.stats.ops += 1
            self.stats.by_op[op.__name__] = self.stats.by_op.get(op.__name__, 0) + 1
            await op(self, client, f"{who}.{n}", rng)

    async def locked(self, keys: Sequence[str]) -> AsyncExitStack:
        stack = AsyncExitStack()
        for key in sorted(set(keys)):
            await stack.enter_async_context(self.locks[key])
            self.touched[key] = self.touched.get(key, 0) + 1
        return stack

    def _may_exist(self, key: str) -> bool:
        return self.locks[key].locked() or any(s is not None for s in self.model.possible(key))

    def _certain_version(self, key: str) -> Version | None:
        states = self.model.possible(key)
        if len(states) == 1 and states[0] is not None:
            return states[0]
        return None

    # --- writes --------------------------------------------------------------

    async def put(self, client: S3Client, tag: str, rng: random.Random) -> None:
        key = rng.choice(KEYS)
        body = body_for(tag, _size(rng))
        payload = rng.choice(list(Payload))
        headers: list[tuple[str, str]] = [("content-type", "application/octet-stream")]
        if rng.random() < 0.3:
            headers.append(("content-md5", _b64md5(body)))
        async with await self.locked([key]):
            new = Version(body, md5_etag(body), tag)
            current = self.model.possible(key)
            condition = rng.random()
            expect: str | None = None  # "ok" / "412" when the model knows the answer
            if condition < 0.15:
                headers.append(("if-none-match", "*"))
                if current == [None]:
                    expect = "ok"
                elif None not in current:
                    expect = "412"
            elif condition < 0.25 and (cur := self._certain_version(key)) is not None:
                if cur.etag is not None and rng.random() < 0.7:
                    headers.append(("if-match", cur.etag))
                    expect = "ok"
                else:
                    headers.append(("if-match", '"0123456789abcdef0123456789abcdef"'))
                    expect = "412"
            self.model.begin(key, new)
            reply = await self.send(
                client, tag, "PUT", _path(key), (), headers, body, payload=payload
            )
            if reply is None or _is_server_error(reply):
                self.model.lose(key, new)
                return
            if reply.status == 200:
                if expect == "412":
                    raise Failure(f"PUT {key} ({tag}) with a failing condition answered 200")
                if reply.etag != new.etag:
                    raise Failure(f"PUT {key} ({tag}): ETag {reply.etag}, expected {new.etag}")
                self.model.ack(key, new)
                self.stats.acked += 1
                return
            self.model.refuse(key, new)
            self.stats.refused += 1
            conditional = any(n.startswith("if-") for n, _ in headers)
            if expect == "ok" or reply.status != 412 or not conditional:
                raise Failure(f"PUT {key} ({tag}): {reply.status}, expected {expect or 200}")

    async def race(self, client: S3Client, tag: str, rng: random.Random) -> None:
        """Two conditional PUTs (If-None-Match: *) of a fresh key at once:
        never both win."""
        self.races += 1
        key = f"race/{tag}"
        bodies = [body_for(f"{tag}/{i}", rng.randrange(1, 20000)) for i in range(2)]
        versions = [Version(b, md5_etag(b), f"{tag}/{i}") for i, b in enumerate(bodies)]
        for v in versions:
            self.model.begin(key, v)
        replies: list[Reply | None] = [None, None]
        second = client.clone()

        async def one(i: int, c: S3Client) -> None:
            replies[i] = await self.send(
                c, f"{tag}/{i}", "PUT", _path(key), (), [("if-none-match", "*")], bodies[i]
            )

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(one, 0, client)
                nursery.start_soon(one, 1, second)
        finally:
            await second.close()
        won = [i for i, r in enumerate(replies) if r is not None and r.status == 200]
        if len(won) == 2:
            raise Failure(f"race {key}: both conditional PUTs answered 200")
        if won:
            self.model.ack(key, versions[won[0]])
            return
        if all(r is not None and not _is_server_error(r) for r in replies):
            raise Failure(f"race {key}: neither conditional PUT of a fresh key won")
        for i, r in enumerate(replies):
            if r is None or _is_server_error(r):
                self.model.lose(key, versions[i])
            else:
                self.model.refuse(key, versions[i])

    async def delete(self, client: S3Client, tag: str, rng: random.Random) -> None:
        key = rng.choice(KEYS)
        async with await self.locked([key]):
            self.model.begin(key, None)
            reply = await self.send(client, tag, "DELETE", _path(key))
            if reply is None or _is_server_error(reply):
                self.model.lose(key, None)
            elif reply.status == 204:
                self.model.ack(key, None)
                self.stats.acked += 1
            else:
                raise Failure(f"DELETE {key}: {reply.status}")

    async def delete_objects(self, client: S3Client, tag: str, rng: random.Random) -> None:
        keys = sorted(set(rng.sample(KEYS, rng.randint(1, 4))))
        entries = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
        xml = f"<Delete><Quiet>false</Quiet>{entries}</Delete>".encode()
        async with await self.locked(keys):
            for key in keys:
                self.model.begin(key, None)
            reply = await self.send(
                client,
                tag,
                "POST",
                f"/{BUCKET}",
                [("delete", "")],
                [("content-md5", _b64md5(xml)), ("content-type", "application/xml")],
                xml,
            )
            if reply is None or _is_server_error(reply):
                for key in keys:
                    self.model.lose(key, None)
                return
            if reply.status != 200:
                raise Failure(f"DeleteObjects {keys}: {reply.status}")
            errors = {r.get("Key", "") for r in xml_records(reply.body, "Error")}
            deleted = {r.get("Key", "") for r in xml_records(reply.body, "Deleted")}
            if set(keys) != deleted | errors:
                raise Failure(f"DeleteObjects {keys}: answered for {sorted(deleted | errors)}")
            if errors and not self.faults:
                raise Failure(f"DeleteObjects {keys}: per-key errors {sorted(errors)}")
            for key in keys:
                if key in deleted:
                    self.model.ack(key, None)
                else:
                    # A per-key error (the disk failed under it): unknown.
                    self.model.lose(key, None)
            self.stats.acked += 1

    async def copy(self, client: S3Client, tag: str, rng: random.Random) -> None:
        src, dst = rng.sample(KEYS, 2)
        async with await self.locked([src, dst]):
            source = self._certain_version(src)
            if source is None:
                return
            new = Version(source.body, None, tag)
            self.model.begin(dst, new)
            reply = await self.send(
                client,
                tag,
                "PUT",
                _path(dst),
                (),
                [("x-amz-copy-source", f"/{BUCKET}/{encode_key(src)}")],
            )
            if reply is None or _is_server_error(reply):
                self.model.lose(dst, new)
                return
            if reply.status != 200:
                raise Failure(f"CopyObject {src} -> {dst}: {reply.status} {reply.body[:200]!r}")
            etags = xml_texts(reply.body, "ETag")
            if etags != [md5_etag(source.body)]:
                raise Failure(
                    f"CopyObject {src} -> {dst}: ETag {etags}, expected {md5_etag(source.body)}"
                )
            self.model.ack(dst, Version(source.body, etags[0], tag))
            self.stats.acked += 1

    async def multipart(self, client: S3Client, tag: str, rng: random.Random) -> None:
        """Create, upload 1-3 parts (one perhaps copied), then complete (most
        often), abort, or leave the upload open."""
        key = rng.choice(KEYS)
        copy_src = rng.choice(KEYS) if rng.random() < 0.3 else None
        async with await self.locked([key] + ([copy_src] if copy_src else [])):
            self.model.begin_create(key)
            reply = await self.send(client, tag, "POST", _path(key), [("uploads", "")])
            if reply is None or _is_server_error(reply):
                return  # the create stays unknown
            if reply.status != 200:
                raise Failure(f"CreateMultipartUpload {key}: {reply.status}")
            upload_id = xml_texts(reply.body, "UploadId")[0]
            self.model.end_create(key, upload_id)
            self.stats.acked += 1
            nparts = rng.randint(1, 3)
            bodies: dict[int, bytes] = {}
            for n in range(1, nparts + 1):
                source = self._certain_version(copy_src) if copy_src else None
                if (
                    n == 1
                    and copy_src
                    and source is not None
                    and len(source.body) >= MIN_PART_BYTES
                ):
                    if await self._part(
                        client, f"{tag}.p{n}", key, upload_id, n, source.body, copy_from=copy_src
                    ):
                        bodies[n] = source.body
                    continue
                last = n == nparts
                size = rng.randrange(1, 3 * MIN_PART_BYTES) if last else _part_size(rng)
                part = body_for(f"{tag}.p{n}", size)
                payload = rng.choice(list(Payload))
                if await self._part(
                    client, f"{tag}.p{n}", key, upload_id, n, part, payload=payload
                ):
                    bodies[n] = part
            if len(bodies) != nparts or rng.random() < 0.1:
                # Leave it open (the checks expect it listed with its parts).
                return
            if rng.random() < 0.1:
                await self._abort(client, f"{tag}.abort", upload_id)
                return
            await self._complete(client, f"{tag}.complete", key, upload_id, bodies)

    async def _part(
        self,
        client: S3Client,
        tag: str,
        key: str,
        upload_id: str,
        number: int,
        body: bytes,
        *,
        payload: Payload = Payload.SIGNED,
        copy_from: str | None = None,
    ) -> bool:
        """UploadPart of `body`, or UploadPartCopy of the key `copy_from`
        (whose bytes are `body`); whether it was acknowledged."""
        part = Part(body, md5_etag(body), tag)
        self.model.begin_part(upload_id, number, part)
        what = "UploadPart" if copy_from is None else "UploadPartCopy"
        reply = await self.send(
            client,
            tag,
            "PUT",
            _path(key),
            [("partNumber", str(number)), ("uploadId", upload_id)],
            []
            if copy_from is None
            else [("x-amz-copy-source", f"/{BUCKET}/{encode_key(copy_from)}")],
            body if copy_from is None else b"",
            payload=payload,
        )
        if reply is None or _is_server_error(reply):
            self.model.begin_part(upload_id, number, part)  # lost: still possible
            return False
        if reply.status != 200:
            raise Failure(f"{what} {key} {number}: {reply.status} {reply.body[:200]!r}")
        # UploadPartCopy answers the ETag in its XML, UploadPart in a header.
        etags = [reply.etag] if copy_from is None else xml_texts(reply.body, "ETag")
        if etags != [part.etag]:
            raise Failure(f"{what} {key} {number}: ETag {etags}, expected {part.etag}")
        self.model.uploads[upload_id].parts[number] = [part]
        self.stats.acked += 1
        return True

    async def _abort(self, client: S3Client, tag: str, upload_id: str) -> None:
        upload = self.model.uploads[upload_id]
        upload.status = "ending"
        reply = await self.send(client, tag, "DELETE", _path(upload.key), [("uploadId", upload_id)])
        if reply is None or _is_server_error(reply):
            upload.status = "ending"  # lost: it may be gone (a check may have said open)
            return
        if reply.status != 204:
            raise Failure(f"AbortMultipartUpload {upload.key}: {reply.status}")
        upload.status = "gone"
        self.stats.acked += 1

    async def _complete(
        self, client: S3Client, tag: str, key: str, upload_id: str, bodies: dict[int, bytes]
    ) -> None:
        upload = self.model.uploads[upload_id]
        numbers = sorted(bodies)
        parts = [bodies[n] for n in numbers]
        new = Version(b"".join(parts), multipart_etag(parts), tag)
        xml = (
            "<CompleteMultipartUpload>"
            + "".join(
                f"<Part><PartNumber>{n}</PartNumber><ETag>{md5_etag(bodies[n])}</ETag></Part>"
                for n in numbers
            )
            + "</CompleteMultipartUpload>"
        ).encode()
        for attempt in range(3):
            self.model.begin(key, new)
            upload.status = "ending"
            reply = await self.send(
                client, f"{tag}#{attempt}", "POST", _path(key), [("uploadId", upload_id)], (), xml
            )
            if reply is None or _is_server_error(reply):
                # Lost: it may have happened (a check meanwhile may have said
                # otherwise: say it again). A repeated Complete gets the same
                # answer: retry.
                self.model.lose(key, new)
                upload.status = "ending"
                continue
            if reply.status == 200 and b"<Error>" not in reply.body:
                etag = xml_texts(reply.body, "ETag")
                if not etag or etag[0] != new.etag:
                    raise Failure(f"Complete {key}: ETag {etag}, expected {new.etag}")
                self.model.ack(key, new)
                upload.status = "gone"
                self.stats.acked += 1
                return
            raise Failure(f"Complete {key} ({tag}): {reply.status} {reply.body[:300]!r}")
        self.model.lose(key, new)

    # --- reads ---------------------------------------------------------------

    async def get(self, client: S3Client, tag: str, rng: random.Random) -> None:
        key = rng.choice(KEYS)
        async with await self.locked([key]):
            ranged = rng.random() < 0.3
            headers: list[tuple[str, str]] = []
            start = end = 0
            if ranged:
                start = rng.randrange(0, 70000)
                end = start + rng.randrange(0, 70000)
                headers.append(("range", f"bytes={start}-{end}"))
            reply = await self.send(client, tag, "GET", _path(key), (), headers)
            if reply is None or _is_server_error(reply):
                return
            if not ranged or reply.status in (200, 404):
                if reply.status not in (200, 404):
                    raise Failure(f"GET {key}: {reply.status}")
                violation = self.model.check_read(key, reply.status, reply.body, reply.etag)
                if violation:
                    raise Failure(violation)
                return
            states = self.model.possible(key)
            if reply.status == 416:
                if not any(s is not None and start >= len(s.body) for s in states):
                    raise Failure(f"GET {key} range {start}-{end}: 416 but {states}")
                return
            if reply.status != 206:
                raise Failure(f"GET {key} range {start}-{end}: {reply.status}")
            if not any(
                s is not None
                and s.body[start : end + 1] == reply.body
                and (s.etag is None or s.etag == reply.etag)
                for s in states
            ):
                raise Failure(f"GET {key} range {start}-{end}: bytes of none of {states}")

    async def head(self, client: S3Client, tag: str, rng: random.Random) -> None:
        key = rng.choice(KEYS)
        async with await self.locked([key]):
            reply = await self.send(client, tag, "HEAD", _path(key))
            if reply is None or _is_server_error(reply):
                return
            states = self.model.possible(key)
            if reply.status == 404:
                if None not in states:
                    raise Failure(f"HEAD {key}: 404 but it must be one of {states}")
                return
            size = int(reply.header("content-length") or -1)
            if not any(
                s is not None and len(s.body) == size and (s.etag is None or s.etag == reply.etag)
                for s in states
            ):
                raise Failure(f"HEAD {key}: {size} bytes, {reply.etag}; must be one of {states}")

    async def list(self, client: S3Client, tag: str, rng: random.Random) -> None:
        """A listing while others write: every key listed may have existed
        while the listing ran."""
        prefix = rng.choice(["", "dir/", "k"])
        touched = dict(self.touched)
        existed = {key for key in KEYS if self._may_exist(key)}
        reply = await self.send(
            client, tag, "GET", f"/{BUCKET}", [("list-type", "2"), ("prefix", prefix)]
        )
        if reply is None or _is_server_error(reply):
            return
        if reply.status != 200:
            raise Failure(f"ListObjectsV2: {reply.status}")
        for key in xml_texts(reply.body, "Key"):
            if not key.startswith(prefix):
                raise Failure(f"ListObjectsV2 prefix {prefix!r} listed {key!r}")
            if key.startswith("race/"):
                continue
            written = self.touched.get(key, 0) != touched.get(key, 0)
            if key not in existed and not written and not self._may_exist(key):
                raise Failure(f"ListObjectsV2 listed {key}, which cannot exist")


OPS: list[Callable[[Workload, S3Client, str, random.Random], Awaitable[None]]] = [
    Workload.put,
    Workload.get,
    Workload.head,
    Workload.delete,
    Workload.delete_objects,
    Workload.copy,
    Workload.multipart,
    Workload.list,
    Workload.race,
]
WEIGHTS = [30, 15, 5, 8, 4, 8, 8, 4, 2]


def _path(key: str) -> str:
    return f"/{BUCKET}/{encode_key(key)}"


def _b64md5(body: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.1:
        return 0
    if r < 0.5:
        return rng.randrange(1, 600)
    if r < 0.97:
        return rng.randrange(600, 70000)
    return rng.randrange(70000, 1_200_000)


def _part_size(rng: random.Random) -> int:
    return rng.randrange(MIN_PART_BYTES, 3 * MIN_PART_BYTES)
