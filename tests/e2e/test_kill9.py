"""Real crashes: the real daemon (plyvel, real files) is killed with SIGKILL
under concurrent load, restarted on the same data directory, and checked.

`WORKERS` client threads each own a few keys (per-key ownership: one client
writes a key, so its expected state is well defined) and run PUT, overwrite,
GET, DELETE, DeleteObjects, CopyObject (to another key, or onto itself with
REPLACE), CreateMultipartUpload, UploadPart (some of 5 MiB, S3's minimum
for a part that is not the last: `hamster serve` has no knob to lower it),
UploadPartCopy, CompleteMultipartUpload and AbortMultipartUpload over
hand-signed HTTP (`RawS3`), so the kill can land at a chosen request or byte:
- "body": when the bytes of request bodies sent reach a threshold (mid-body);
- "request": right after the N-th request is on the wire (and 0-30 ms more),
  while the server is working on it;
- "response": right after the N-th response arrives (others in flight);
- "timer": after a random delay of load.
All of it is drawn from one seed (`HAMSTER_KILL9_SEED`; printed, and noted on
a failure). Where the kill lands still depends on timing, so a seed
reproduces the schedule, not the exact run. `HAMSTER_KILL9_KILLS` (default
20) sets the number of kills.

Bodies identify their write: SHAKE-256 of a label naming the worker, the write
and the key, so a byte out of place or another object's bytes show.

A request whose response does not arrive is uncertain: after the restart the
worker's state must be exactly the state before it or after it (one world or
the other, for all its keys and uploads together: a Complete that happened
made the object AND ended the upload). A worker stops at its first lost
response, so it has at most one uncertain operation per crash; the checks
after the restart decide it. A connection error while no kill was under way
fails the test, and so does any unexpected answer.

After every kill the daemon is started on the same directory (recovery runs)
and boto3 checks every worker's keys (GET: bytes and ETag), ListObjectsV2
(exactly the keys GET finds, same ETags and sizes), ListMultipartUploads and
ListParts (every acknowledged upload not completed or aborted, with its
acknowledged parts). Then that daemon is killed idle and, with nothing
running, tmp/ must be empty and the files under blobs/ must be exactly the
blobs the records point to (`referenced_blob_ids` on a copy of meta/ opened
with `LevelDBMetaStore`). A third start serves the next round of load. No
daemon may log an ERROR or a traceback. The run ends with a graceful stop
and the file checks again.

Planted bugs (each planted by hand, the test run with 20 kills, removed):
- recovery keeps orphan blobs (no removal in blobs/): caught at the first
  kill ("blob files no record points to");
- recovery leaves tmp/ alone: caught at the first kill ("temp files left");
- acknowledging before the commit: (a) `Core.transaction` returning while a
  system task writes the batch 5 ms later is caught at once by the load
  itself (an upload or a GET right after the answer finds nothing), before
  any kill; (b) a write-back meta store that reads see at once and that
  reaches LevelDB 20 ms later (only a crash can tell) is caught within the
  first two kills: acknowledged writes lost after the restart (the store
  shows an older state), or the blob an overwrite replaced already removed
  (GET InternalError, recovery logs the record's missing blob);
- a commit that points to a blob not yet renamed (BlobStore.write leaves the
  blob in tmp/, `Core.transaction` renames it after the metadata write):
  caught within a few kills (recovery removes the temp file, the record's
  data is missing: GET InternalError);
- an overwrite that removes the old blob before the record swap: caught at
  the first kills (GET InternalError);
- `Core.transaction` with sync=False, and BlobStore.write without its fsync:
  NOT caught (20 kills pass), and no SIGKILL test can catch them: the kernel
  keeps a killed process's writes (the page cache; LevelDB hands every batch
  to the kernel before it returns). They need power loss, which the
  simulator (sim/) models.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import os
import random
import re
import shutil
import signal
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from botocore.exceptions import ClientError

from hamster.storage.meta import LevelDBMetaStore
from hamster.storage.recovery import referenced_blob_ids
from tests.daemon import Daemon
from tests.e2e.conftest import ALICE, make_client
from tests.e2e.rawhttp import sign

ENV = {"HAMSTER_ACCESS_KEY": ALICE[0], "HAMSTER_SECRET_KEY": ALICE[1]}
BUCKET = "kill9"
WORKERS = 4
KEYS_PER_WORKER = 5
UPLOADS_PER_WORKER_MAX = 3
PART_NUMBER_MAX = 3
MIB = 1 << 20
PART_MIN_BYTES = 5 * MIB  # S3's smallest part but the last
SEND_CHUNK_BYTES = 64 * 1024
# Body sizes: (weight, smallest, largest).
SIZE_BANDS = [
    (5, 0, 0),
    (30, 1, 4096),
    (35, 4097, 256 * 1024),
    (25, 256 * 1024 + 1, 3 * MIB // 2),
    (5, 3 * MIB // 2 + 1, 4 * MIB),
]
SOCKET_TIMEOUT_S = 60.0
# Liveness bounds, not timing assertions: load that makes no progress for
# this long, or a worker that does not stop after the kill, is a hang.
EPOCH_MAX_S = 120.0
JOIN_MAX_S = 60.0

EMPTY_MD5 = hashlib.md5(b"").hexdigest()
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CONNECTION_ERRORS = (OSError, http.client.HTTPException)
RECOVERY_LINE = re.compile(
    r"recovery: placed (\d+) committed blobs, removed (\d+) unreferenced blobs and (\d+) "
    r"temp files; (\d+) records miss"
)


# --- bodies that name their write ------------------------------------------------


def body_bytes(wid: str, start: int, length: int) -> bytes:
    """Bytes [start, start+length) of write `wid`'s body (SHAKE-256 of its
    label: every byte depends on the write and its position)."""
    return hashlib.shake_256(wid.encode()).digest(start + length)[start:]


@dataclass(frozen=True)
class Segment:
    wid: str
    start: int
    length: int


@dataclass(frozen=True)
class Content:
    """An object's or a part's bytes, as segments of write bodies."""

    segments: tuple[Segment, ...]
    size: int
    md5: str
    sha256: str

    def data(self) -> bytes:
        return b"".join(body_bytes(s.wid, s.start, s.length) for s in self.segments)

    def slice(self, start: int, length: int) -> tuple[Segment, ...]:
        out: list[Segment] = []
        offset = 0
        for seg in self.segments:
            lo, hi = max(start, offset), min(start + length, offset + seg.length)
            if lo < hi:
                out.append(Segment(seg.wid, seg.start + lo - offset, hi - lo))
            offset += seg.length
        return tuple(out)


class Registry:
    """Which write made which bytes (sha256 and md5 -> label), for messages."""

    def __init__(self) -> None:
        self._labels: dict[str, list[str]] = {}

    def content(self, segments: tuple[Segment, ...], label: str) -> tuple[Content, bytes]:
        data = b"".join(body_bytes(s.wid, s.start, s.length) for s in segments)
        content = Content(
            segments,
            len(data),
            hashlib.md5(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
        self._labels.setdefault(content.sha256, []).append(label)
        self._labels.setdefault(content.md5, []).append(label)
        return content, data

    def name(self, digest: str) -> str:
        labels = self._labels.get(digest, [])
        if digest in (EMPTY_MD5, EMPTY_SHA256):
            return "empty"
        if not labels:
            return "bytes of no write"
        more = f" (and {len(labels) - 1} more writes of these bytes)" if len(labels) > 1 else ""
        return labels[0] + more


# --- the reference model -----------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    content: Content
    etag: str
    label: str


@dataclass(frozen=True)
class Part:
    content: Content
    label: str


@dataclass
class Upload:
    key: str
    parts: dict[int, Part] = field(default_factory=dict)


# Stands for the id of an upload whose CreateMultipartUpload answer was lost.
UNKNOWN_UPLOAD = "<id of an upload whose create was not answered>"


@dataclass
class Model:
    """One worker's keys and uploads as the acknowledged operations left them."""

    objects: dict[str, Obj | None]
    uploads: dict[str, Upload]

    def clone(self) -> Model:
        return Model(
            dict(self.objects),
            {uid: Upload(u.key, dict(u.parts)) for uid, u in self.uploads.items()},
        )


# What the store shows of one worker's state: key -> (etag, size, sha256) or
# None; upload id -> (key, part number -> (etag, size)).
ObjView = tuple[str, int, str] | None
UploadView = tuple[str, dict[int, tuple[str, int]]]


@dataclass
class View:
    objects: dict[str, ObjView]
    uploads: dict[str, UploadView]


def view_of(model: Model) -> View:
    return View(
        {
            key: None if obj is None else (obj.etag, obj.content.size, obj.content.sha256)
            for key, obj in model.objects.items()
        },
        {
            uid: (u.key, {n: (p.content.md5, p.content.size) for n, p in u.parts.items()})
            for uid, u in model.uploads.items()
        },
    )


def matches(model: Model, seen: View) -> Model | None:
    """`model` with UNKNOWN_UPLOAD given its id if the store shows exactly it, else None."""
    expected = view_of(model)
    if UNKNOWN_UPLOAD in expected.uploads:
        key, parts = expected.uploads.pop(UNKNOWN_UPLOAD)
        extra = [uid for uid in seen.uploads if uid not in expected.uploads]
        if len(extra) != 1 or seen.uploads[extra[0]] != (key, parts):
            return None
        expected.uploads[extra[0]] = (key, parts)
        model = model.clone()
        model.uploads[extra[0]] = model.uploads.pop(UNKNOWN_UPLOAD)
    return model if expected == seen else None


# --- a hand-signed S3 client that reports its progress to the kill switch --------


@dataclass(frozen=True)
class KillPlan:
    kind: str  # "body", "request", "response" or "timer"
    threshold: int = 0  # bytes for "body", a count for "request" and "response"
    delay_s: float = 0.0  # for "request" and "timer"

    @staticmethod
    def draw(rng: random.Random) -> KillPlan:
        kind = rng.choices(["body", "request", "response", "timer"], [30, 35, 15, 20])[0]
        if kind == "body":
            return KillPlan(kind, threshold=rng.randrange(6 * MIB))
        if kind == "request":
            delay_s = rng.choice([0.0, rng.uniform(0, 0.003), rng.uniform(0, 0.03)])
            return KillPlan(kind, threshold=rng.randint(1, 60), delay_s=delay_s)
        if kind == "response":
            return KillPlan(kind, threshold=rng.randint(1, 60))
        return KillPlan(kind, delay_s=rng.uniform(0.0, 0.6))


class KillSwitch:
    """SIGKILLs the daemon once, when the plan's moment comes."""

    def __init__(self, pid: int, plan: KillPlan) -> None:
        self.pid = pid
        self.plan = plan
        self.fired = threading.Event()
        self.reason = ""
        self._lock = threading.Lock()
        self._killing = False
        self._body_bytes = 0
        self._requests = 0
        self._responses = 0

    @property
    def killing(self) -> bool:
        with self._lock:
            return self._killing

    def fire(self, reason: str, delay_s: float = 0.0) -> None:
        with self._lock:
            if self._killing:
                return
            self._killing = True
        if delay_s:
            time.sleep(delay_s)  # load generation: lets the server get further
        os.kill(self.pid, signal.SIGKILL)
        self.reason = reason
        self.fired.set()

    def body_sent(self, n: int) -> None:
        with self._lock:
            self._body_bytes += n
            due = self.plan.kind == "body" and self._body_bytes >= self.plan.threshold
        if due:
            self.fire(f"after {self.plan.threshold} body bytes")

    def request_sent(self) -> None:
        with self._lock:
            self._requests += 1
            due = self.plan.kind == "request" and self._requests == self.plan.threshold
        if due:
            self.fire(
                f"{self.plan.delay_s * 1000:.1f} ms after request {self.plan.threshold} was sent",
                self.plan.delay_s,
            )

    def response_read(self) -> None:
        with self._lock:
            self._responses += 1
            due = self.plan.kind == "response" and self._responses == self.plan.threshold
        if due:
            self.fire(f"after response {self.plan.threshold}")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def etag(self) -> str:
        return self.headers.get("etag", "").strip('"')

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


def xml_text(root: ET.Element, name: str) -> str:
    for element in root.iter():
        if element.tag == name or element.tag.endswith("}" + name):
            return element.text or ""
    raise AssertionError(f"no <{name}> in {ET.tostring(root)!r}")


def xml_texts(root: ET.Element, parent: str, name: str) -> list[str]:
    out = []
    for element in root.iter():
        if element.tag == parent or element.tag.endswith("}" + parent):
            out.append(xml_text(element, name))
    return out


class RawS3:
    """One keep-alive connection; each request tells the kill switch its progress."""

    def __init__(self, host: str, port: int, switch: KillSwitch) -> None:
        self.host, self.port = host, port
        self.endpoint = f"http://{host}:{port}"
        self.switch = switch
        self.conn = http.client.HTTPConnection(host, port, timeout=SOCKET_TIMEOUT_S)

    def close(self) -> None:
        self.conn.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        head = {"Host": f"{self.host}:{self.port}", "Content-Length": str(len(body))}
        head.update(headers or {})
        signed = sign(method, self.endpoint, path, ALICE, head)
        conn = self.conn
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in signed.items():
            conn.putheader(name, value)
        conn.endheaders()
        view = memoryview(body)
        for offset in range(0, len(body), SEND_CHUNK_BYTES):
            piece = view[offset : offset + SEND_CHUNK_BYTES]
            conn.send(piece)
            self.switch.body_sent(len(piece))
        self.switch.request_sent()
        response = conn.getresponse()
        data = response.read()
        self.switch.response_read()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


# --- the workers -------------------------------------------------------------------


class Lost(Exception):
    """The response did not arrive (the daemon died, or the connection broke)."""


class Worker:
    """A client thread's keys, model and operations (see the module docstring)."""

    def __init__(self, index: int, seed: int, registry: Registry) -> None:
        self.index = index
        self.rng = random.Random(f"{seed}:worker:{index}")
        self.registry = registry
        self.keys = [f"w{index}/k{j}" for j in range(KEYS_PER_WORKER)]
        self.model = Model({key: None for key in self.keys}, {})
        # The operation whose response was lost: (what, its effect on the model).
        self.pending: tuple[str, Callable[[Model], None]] | None = None
        self.writes = 0
        self.ops: dict[str, int] = {}
        self.error: str | None = None
        self.s3: RawS3 | None = None

    # The loop of one epoch: until the first lost response.
    def run(self, s3: RawS3) -> None:
        self.s3 = s3
        try:
            while True:
                self.step()
        except Lost as lost:
            if not s3.switch.killing:
                self.error = f"worker {self.index}: {lost} while no kill was under way"
        except BaseException:
            self.error = f"worker {self.index}:\n{traceback.format_exc()}"
        finally:
            s3.close()

    def send(
        self,
        what: str,
        effect: Callable[[Model], None] | None,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> Response:
        """One request; if its response is lost, `effect` (the change it makes
        if it happened) stays pending and Lost is raised."""
        assert self.s3 is not None and self.pending is None
        if effect is not None:
            self.pending = (what, effect)
        try:
            response = self.s3.request(method, path, **kwargs)
        except CONNECTION_ERRORS as error:
            raise Lost(f"{what}: {error!r}") from error
        self.pending = None
        self.ops[what.split()[0]] = self.ops.get(what.split()[0], 0) + 1
        return response

    def expect(self, what: str, response: Response, status: int) -> None:
        if response.status != status:
            body = response.body
            shown = body[:600].decode(errors="replace") if body.startswith(b"<") else ""
            raise AssertionError(
                f"{what}: HTTP {response.status}, expected {status}: {len(body)} bytes {shown}"
            )

    def new_write(self, op: str, key: str) -> str:
        self.writes += 1
        return f"w{self.index}#{self.writes} {op} {key}"

    def draw_size(self) -> int:
        _, lo, hi = self.rng.choices(SIZE_BANDS, [band[0] for band in SIZE_BANDS])[0]
        return self.rng.randint(lo, hi)

    def present(self) -> list[str]:
        return [key for key, obj in self.model.objects.items() if obj is not None]

    def step(self) -> None:
        rng, model = self.rng, self.model
        choices: list[tuple[Callable[[], None], int]] = [
            (self.op_put, 25),
            (self.op_get, 10),
            (self.op_delete, 6),
            (self.op_delete_objects, 5),
        ]
        if self.present():
            choices.append((self.op_copy, 8))
        if len(model.uploads) < UPLOADS_PER_WORKER_MAX:
            choices.append((self.op_create, 6))
        if model.uploads:
            choices += [(self.op_upload_part, 14), (self.op_abort, 3)]
            if self.present():
                choices.append((self.op_upload_part_copy, 4))
        if any(u.parts for u in model.uploads.values()):
            choices.append((self.op_complete, 7))
        ops, weights = zip(*choices, strict=True)
        rng.choices(ops, weights)[0]()

    def op_put(self) -> None:
        key = self.rng.choice(self.keys)
        label = self.new_write("put", key)
        content, data = self.registry.content((Segment(label, 0, self.draw_size()),), label)
        obj = Obj(content, content.md5, label)

        def effect(m: Model) -> None:
            m.objects[key] = obj

        r = self.send(f"PUT {label}", effect, "PUT", f"/{BUCKET}/{key}", body=data)
        self.expect(label, r, 200)
        assert r.etag() == content.md5, (label, r.etag(), content.md5)
        effect(self.model)

    def op_get(self) -> None:
        key = self.rng.choice(self.keys)
        obj = self.model.objects[key]
        r = self.send(f"GET {key}", None, "GET", f"/{BUCKET}/{key}")
        if obj is None:
            self.expect(f"GET {key} (deleted)", r, 404)
            return
        self.expect(f"GET {key} ({obj.label})", r, 200)
        got = hashlib.sha256(r.body).hexdigest()
        assert (r.etag(), len(r.body), got) == (obj.etag, obj.content.size, obj.content.sha256), (
            f"GET {key} during load: {self.registry.name(got)}, expected {obj.label}"
        )

    def op_delete(self) -> None:
        key = self.rng.choice(self.keys)

        def effect(m: Model) -> None:
            m.objects[key] = None

        r = self.send(f"DELETE {key}", effect, "DELETE", f"/{BUCKET}/{key}")
        self.expect(f"DELETE {key}", r, 204)
        effect(self.model)

    def op_delete_objects(self) -> None:
        keys = self.rng.sample(self.keys, self.rng.randint(1, 3))
        body = (
            "<Delete>" + "".join(f"<Object><Key>{key}</Key></Object>" for key in keys) + "</Delete>"
        ).encode()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()

        def effect(m: Model) -> None:
            for key in keys:
                m.objects[key] = None

        what = f"DeleteObjects {keys}"
        r = self.send(
            what, effect, "POST", f"/{BUCKET}?delete", headers={"Content-MD5": md5}, body=body
        )
        self.expect(what, r, 200)
        root = r.xml()
        assert sorted(xml_texts(root, "Deleted", "Key")) == sorted(keys), (what, r.body)
        assert not xml_texts(root, "Error", "Code"), (what, r.body)
        effect(self.model)

    def op_copy(self) -> None:
        src = self.rng.choice(self.present())
        source = self.model.objects[src]
        assert source is not None
        onto_itself = self.rng.random() < 0.25
        dst = src if onto_itself else self.rng.choice(self.keys)
        headers = {"x-amz-copy-source": f"/{BUCKET}/{src}"}
        label = self.new_write("copy", f"{src} -> {dst}")
        if dst == src:
            # A copy onto itself must change something: the metadata. It keeps
            # the object's blobs and ETag (a multipart one's too).
            headers["x-amz-metadata-directive"] = "REPLACE"
            headers["x-amz-meta-copy"] = label.split()[0]
            etag = source.etag
        else:
            etag = source.content.md5
        obj = Obj(source.content, etag, label)

        def effect(m: Model) -> None:
            m.objects[dst] = obj

        r = self.send(f"CopyObject {label}", effect, "PUT", f"/{BUCKET}/{dst}", headers=headers)
        self.expect(label, r, 200)
        assert xml_text(r.xml(), "ETag").strip('"') == etag, (label, r.body)
        effect(self.model)

    def op_create(self) -> None:
        key = self.rng.choice(self.keys)

        def effect(m: Model) -> None:
            m.uploads[UNKNOWN_UPLOAD] = Upload(key)

        what = f"CreateMultipartUpload {key}"
        r = self.send(what, effect, "POST", f"/{BUCKET}/{key}?uploads")
        self.expect(what, r, 200)
        upload_id = xml_text(r.xml(), "UploadId")
        assert upload_id and upload_id not in self.model.uploads, (what, r.body)
        self.model.uploads[upload_id] = Upload(key)

    def _part_target(self) -> tuple[str, Upload, int]:
        upload_id = self.rng.choice(sorted(self.model.uploads))
        return upload_id, self.model.uploads[upload_id], self.rng.randint(1, PART_NUMBER_MAX)

    def op_upload_part(self) -> None:
        upload_id, upload, number = self._part_target()
        if number == 1 and self.rng.random() < 0.25:
            size = PART_MIN_BYTES + self.rng.randrange(64 * 1024)
        else:
            size = min(self.draw_size(), MIB)
        label = self.new_write(f"part {number}", upload.key)
        content, data = self.registry.content((Segment(label, 0, size),), label)
        part = Part(content, label)

        def effect(m: Model) -> None:
            m.uploads[upload_id].parts[number] = part

        path = f"/{BUCKET}/{upload.key}?partNumber={number}&uploadId={upload_id}"
        r = self.send(f"UploadPart {label}", effect, "PUT", path, body=data)
        self.expect(label, r, 200)
        assert r.etag() == content.md5, (label, r.etag(), content.md5)
        effect(self.model)

    def op_upload_part_copy(self) -> None:
        upload_id, upload, number = self._part_target()
        src = self.rng.choice(self.present())
        source = self.model.objects[src]
        assert source is not None
        size = source.content.size
        headers = {"x-amz-copy-source": f"/{BUCKET}/{src}"}
        start, length = 0, size
        if size:
            start = self.rng.randrange(size)
            length = self.rng.randint(1, size - start)
            headers["x-amz-copy-source-range"] = f"bytes={start}-{start + length - 1}"
        label = self.new_write(f"part-copy {number}", f"{src}[{start}:+{length}] -> {upload.key}")
        content, _ = self.registry.content(source.content.slice(start, length), label)
        part = Part(content, label)

        def effect(m: Model) -> None:
            m.uploads[upload_id].parts[number] = part

        path = f"/{BUCKET}/{upload.key}?partNumber={number}&uploadId={upload_id}"
        r = self.send(f"UploadPartCopy {label}", effect, "PUT", path, headers=headers)
        self.expect(label, r, 200)
        assert xml_text(r.xml(), "ETag").strip('"') == content.md5, (label, r.body)
        effect(self.model)

    def op_complete(self) -> None:
        upload_id = self.rng.choice(sorted(u for u, up in self.model.uploads.items() if up.parts))
        upload = self.model.uploads[upload_id]
        numbers = sorted(upload.parts)
        first = upload.parts.get(1)
        if first is not None and first.content.size >= PART_MIN_BYTES and len(numbers) > 1:
            chosen = [1, self.rng.choice(numbers[1:])]
        else:
            chosen = [self.rng.choice(numbers)]
        parts = [upload.parts[n] for n in chosen]
        label = self.new_write("complete", f"{upload.key} parts {chosen}")
        segments = tuple(s for p in parts for s in p.content.segments)
        content, _ = self.registry.content(segments, label)
        joined = b"".join(bytes.fromhex(p.content.md5) for p in parts)
        etag = f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"
        obj = Obj(content, etag, label)
        key = upload.key

        def effect(m: Model) -> None:
            m.objects[key] = obj
            del m.uploads[upload_id]

        body = (
            "<CompleteMultipartUpload>"
            + "".join(
                f'<Part><PartNumber>{n}</PartNumber><ETag>"{p.content.md5}"</ETag></Part>'
                for n, p in zip(chosen, parts, strict=True)
            )
            + "</CompleteMultipartUpload>"
        ).encode()
        r = self.send(
            f"Complete {label}", effect, "POST", f"/{BUCKET}/{key}?uploadId={upload_id}", body=body
        )
        self.expect(label, r, 200)
        root = r.xml()
        assert root.tag.endswith("CompleteMultipartUploadResult"), (label, r.body)
        assert xml_text(root, "ETag").strip('"') == etag, (label, r.body)
        effect(self.model)

    def op_abort(self) -> None:
        upload_id = self.rng.choice(sorted(self.model.uploads))
        key = self.model.uploads[upload_id].key

        def effect(m: Model) -> None:
            del m.uploads[upload_id]

        what = f"Abort {key} {upload_id}"
        r = self.send(what, effect, "DELETE", f"/{BUCKET}/{key}?uploadId={upload_id}")
        self.expect(what, r, 204)
        effect(self.model)


# --- checks ------------------------------------------------------------------------


def store_views(daemon: Daemon, workers: list[Worker]) -> list[View]:
    """What the store shows of each worker's keys and uploads (boto3, no load),
    after checking that ListObjectsV2 lists exactly the keys GET finds."""
    s3 = make_client(daemon.endpoint, ALICE)
    views = [View({}, {}) for _ in workers]
    found: dict[str, tuple[str, int]] = {}
    for worker, view in zip(workers, views, strict=True):
        for key in worker.keys:
            try:
                got = s3.get_object(Bucket=BUCKET, Key=key)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code != "NoSuchKey":
                    raise AssertionError(f"GET {key} after the restart: {error}") from error
                view.objects[key] = None
                continue
            data = got["Body"].read()
            etag = got["ETag"].strip('"')
            view.objects[key] = (etag, len(data), hashlib.sha256(data).hexdigest())
            found[key] = (etag, len(data))
    listed: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, PaginationConfig={"PageSize": 7}
    ):
        for entry in page.get("Contents", []):
            assert entry["Key"] not in listed, f"ListObjectsV2 lists {entry['Key']} twice"
            listed[entry["Key"]] = (entry["ETag"].strip('"'), entry["Size"])
    assert listed == found, f"ListObjectsV2 {sorted(listed)} != the keys GET finds {sorted(found)}"
    owner = {key: view for worker, view in zip(workers, views, strict=True) for key in worker.keys}
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=BUCKET):
        for entry in page.get("Uploads", []):
            key, upload_id = entry["Key"], entry["UploadId"]
            assert key in owner, f"an upload on {key}, a key no worker writes"
            parts: dict[int, tuple[str, int]] = {}
            for part_page in s3.get_paginator("list_parts").paginate(
                Bucket=BUCKET, Key=key, UploadId=upload_id
            ):
                for part in part_page.get("Parts", []):
                    parts[part["PartNumber"]] = (part["ETag"].strip('"'), part["Size"])
            assert upload_id not in owner[key].uploads, f"upload {upload_id} listed twice"
            owner[key].uploads[upload_id] = (key, parts)
    return views


def differences(model: Model, seen: View, registry: Registry) -> list[str]:
    """Where the store differs from `model`, one line per key or upload."""
    expected = view_of(model)

    def seen_obj(value: ObjView) -> str:
        return "absent" if value is None else f"{value[:2]} = {registry.name(value[2])}"

    def want_obj(value: Obj | None) -> str:
        return "absent" if value is None else f"{(value.etag, value.content.size)} = {value.label}"

    def seen_upload(value: UploadView | None) -> str:
        if value is None:
            return "nothing"
        key, parts = value
        named = {n: f"{etag} = {registry.name(etag)}" for n, (etag, _) in sorted(parts.items())}
        return f"an upload on {key}, parts {named}"

    def want_upload(value: Upload | None) -> str:
        if value is None:
            return "nothing"
        named = {n: f"{p.content.md5} = {p.label}" for n, p in sorted(value.parts.items())}
        return f"an upload on {value.key}, parts {named}"

    lines = [
        f"  {key}: the store has {seen_obj(seen.objects.get(key))}, "
        f"expected {want_obj(model.objects[key])}"
        for key, want in sorted(expected.objects.items())
        if seen.objects.get(key) != want
    ]
    for uid in sorted(expected.uploads.keys() | seen.uploads.keys()):
        if expected.uploads.get(uid) != seen.uploads.get(uid):
            lines.append(
                f"  upload {uid}: the store has {seen_upload(seen.uploads.get(uid))}, "
                f"expected {want_upload(model.uploads.get(uid))}"
            )
    return lines


def check_workers(daemon: Daemon, workers: list[Worker], registry: Registry) -> int:
    """Decide every worker's uncertain operation from what the store shows;
    returns how many had happened."""
    happened = 0
    for worker, seen in zip(workers, store_views(daemon, workers), strict=True):
        worlds = [("before", worker.model)]
        if worker.pending is not None:
            after = worker.model.clone()
            worker.pending[1](after)
            worlds.append((f"after {worker.pending[0]}", after))
        for name, world in worlds:
            resolved = matches(world, seen)
            if resolved is not None:
                happened += name != "before"
                worker.model = resolved
                break
        else:
            report = [f"worker {worker.index}: the store matches no possible state"]
            for name, world in worlds:
                report.append(f" {name}:")
                report += differences(world, seen, registry)
            raise AssertionError("\n".join(report))
        worker.pending = None
    return happened


async def _referenced(meta_dir: Path) -> set[str]:
    meta = await LevelDBMetaStore.open(str(meta_dir))
    try:
        return await referenced_blob_ids(meta)
    finally:
        await meta.close()


def check_files(data_dir: Path, scratch: Path) -> int:
    """With the daemon stopped: tmp/ is empty and blobs/ holds exactly the blobs
    the records point to. Returns their number."""
    left = sorted(p.name for p in (data_dir / "tmp").iterdir())
    assert not left, f"temp files left after recovery: {left}"
    files = {p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()}
    # Read a copy: opening the daemon's LevelDB would write to it.
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(data_dir / "meta", scratch)
    refs = trio.run(_referenced, scratch)
    orphans, missing = sorted(files - refs), sorted(refs - files)
    assert not orphans, f"blob files no record points to: {orphans}"
    assert not missing, f"records point to missing blobs: {missing}"
    return len(files)


def check_log(daemon: Daemon) -> tuple[int, int]:
    """No ERROR and no traceback in the daemon's log; returns what its
    recovery removed (temp files, orphan blobs)."""
    bad = [line for line in daemon.stderr_lines if " ERROR " in line or "Traceback" in line]
    assert not bad, "the daemon logged errors:\n" + "\n".join(daemon.stderr_lines)
    tmp = orphans = 0
    for line in daemon.stderr_lines:
        match = RECOVERY_LINE.search(line)
        if match:
            tmp, orphans = int(match.group(3)), int(match.group(2))
            assert match.group(4) == "0", line
    return tmp, orphans


# --- the run -----------------------------------------------------------------------


@dataclass
class Stats:
    kills: dict[str, int] = dataclasses.field(default_factory=dict)
    uncertain: int = 0
    happened: int = 0
    tmp_removed: int = 0
    orphans_removed: int = 0
    blobs: int = 0


class Run:
    def __init__(self, seed: int, root: Path) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.data = root / "data"
        self.scratch = root / "meta-copy"
        self.registry = Registry()
        self.workers = [Worker(i, seed, self.registry) for i in range(WORKERS)]
        self.stats = Stats()
        self.daemon: Daemon | None = None
        self.last_kill = "none yet"

    def start(self) -> Daemon:
        self.daemon = Daemon(self.data, env=ENV).start()
        return self.daemon

    def restart_and_check(self) -> Daemon:
        """Recovery, the store checks, then (stopped) the file checks on what
        recovery left; returns a daemon started again for the next load."""
        recovered = self.start()
        self.stats.happened += check_workers(recovered, self.workers, self.registry)
        recovered.kill()
        tmp, orphans = check_log(recovered)
        self.stats.tmp_removed += tmp
        self.stats.orphans_removed += orphans
        self.stats.blobs = check_files(self.data, self.scratch)
        return self.start()

    def epoch(self, daemon: Daemon) -> None:
        """Load until the kill; returns with the daemon dead and the workers stopped."""
        assert daemon.proc is not None
        plan = KillPlan.draw(self.rng)
        switch = KillSwitch(daemon.proc.pid, plan)
        threads = [
            threading.Thread(target=w.run, args=(RawS3(daemon.host, daemon.port, switch),))
            for w in self.workers
        ]
        for thread in threads:
            thread.start()
        if plan.kind == "timer":
            switch.fire(f"after {plan.delay_s * 1000:.0f} ms of load", plan.delay_s)
        deadline = time.monotonic() + EPOCH_MAX_S
        while not switch.fired.wait(0.05):
            if any(w.error for w in self.workers) or not any(t.is_alive() for t in threads):
                switch.fire("a worker failed")
            elif time.monotonic() > deadline:
                switch.fire("the load stalled")
                raise AssertionError(f"no kill within {EPOCH_MAX_S} s of load ({plan})")
        self.last_kill = f"{plan}, fired {switch.reason}"
        assert daemon.kill() == -signal.SIGKILL, "\n".join(daemon.stderr_lines)
        check_log(daemon)
        for thread in threads:
            thread.join(JOIN_MAX_S)
            assert not thread.is_alive(), "a worker did not stop after the kill"
        errors = [w.error for w in self.workers if w.error]
        assert not errors, "\n".join(errors)
        kind = plan.kind
        self.stats.kills[kind] = self.stats.kills.get(kind, 0) + 1
        self.stats.uncertain += sum(w.pending is not None for w in self.workers)

    def go(self, kills: int) -> None:
        daemon = self.start()
        make_client(daemon.endpoint, ALICE).create_bucket(Bucket=BUCKET)
        for n in range(1, kills + 1):
            try:
                self.epoch(daemon)
                daemon = self.restart_and_check()
            except BaseException as error:
                error.add_note(f"at kill {n} of {kills}: {self.last_kill}")
                raise
        assert daemon.stop() == 0, "\n".join(daemon.stderr_lines)
        check_log(daemon)
        self.stats.blobs = check_files(self.data, self.scratch)


@pytest.fixture
def kill9_seed() -> Iterator[int]:
    seed = int(os.environ.get("HAMSTER_KILL9_SEED") or random.SystemRandom().randrange(2**32))
    print(f"kill9 seed {seed}: rerun with HAMSTER_KILL9_SEED={seed}")
    yield seed


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path, kill9_seed: int) -> None:
    kills = int(os.environ.get("HAMSTER_KILL9_KILLS", "20"))
    run = Run(kill9_seed, tmp_path)
    try:
        run.go(kills)
    except BaseException as error:
        error.add_note(f"kill9 seed {kill9_seed}: rerun with HAMSTER_KILL9_SEED={kill9_seed}")
        raise
    finally:
        if run.daemon is not None and run.daemon.proc is not None:
            run.daemon.kill()
    ops: dict[str, int] = {}
    for worker in run.workers:
        for name, n in worker.ops.items():
            ops[name] = ops.get(name, 0) + n
    print(f"kill9: {run.stats}; operations answered: {ops}")
