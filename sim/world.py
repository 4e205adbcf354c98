"""One seed of the simulation: the real server on a simulated disk, crashed
and rebooted while simulated clients work, checked against the model.

The run of a seed:
1. Boot a server instance (`hamster.node.open_node`: the real Store, S3App
   and connection loop) on a `SimDisk` mount and a `SimMetaDisk` view, under
   `trio.testing.MockClock` with trio's deterministic scheduling seeded.
2. Clients run the workload (`sim.workload`) over in-memory streams.
3. At a seed-chosen filesystem or metadata operation (of the workload, of
   recovery, of anything) the instance crashes: the disk and the metadata
   model resolve their volatile state adversarially, every later operation of
   the dead instance raises `SimCrash`, its tasks are cancelled and its
   connections dropped. A fresh instance boots on what survived and runs
   recovery; before clients may reconnect, the checks run (below).
4. After the last crash, the workload finishes; then a final phase without
   faults or crashes in which every client request must be answered without
   a server error (liveness), and the checks run a last time.

The checks (after every recovery and at the end):
- recovery found no record whose blob is missing, and left no temp file, no
  marker and no blob file that no record points to (at the end, before the
  last restart: every temp file has a placing marker, every unreferenced
  blob a removal marker);
- every key GETs as one of the states the model allows (same bytes, same
  ETag), and the key then has that state;
- ListObjectsV2 and ListObjects (paginated) and ListObjectVersions list
  exactly the keys GET found;
- every upload acknowledged and not ended is listed, with parts the model
  allows; no upload is listed that no client could have created.

Determinism: everything random comes from `random.Random`s seeded from the
seed (the disk, the metadata model, the runtime's entropy, each client, the
crash schedule, trio's scheduler); the clock is the MockClock. The same seed
gives the same trace.
"""

from __future__ import annotations

import logging
import math
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import trio
import trio.testing

from hamster.config import User, UserDirectory
from hamster.http.connection import ServerLimits
from hamster.node import Node, open_node
from hamster.runtime import InlineOffload, Runtime
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR
from hamster.storage.records import PLACING_PREFIX, REMOVING_PREFIX, marker_blob_id
from hamster.storage.recovery import referenced_blob_ids
from sim.client import Credentials, Lost, S3Client, encode_key
from sim.errors import SimCrash
from sim.fs import Faults, SimDisk
from sim.meta import MetaFaults, SimMetaDisk
from sim.model import Model
from sim.workload import BUCKET, MIN_PART_BYTES, Failure, Workload, xml_records, xml_texts

__all__ = ["SeedResult", "SimOptions", "run_seed"]

# The simulated wall clock starts here (2026-01-01T00:00:00Z) at trio time 0.
EPOCH_NS = 1_767_225_600 * 1_000_000_000
CREDS = Credentials("simaccess", "simsecret0")
# A start failing this often on injected faults alone is a failure.
MAX_BOOT_FAILURES = 20


# A synced metadata write's fsync takes up to this much mock time.
META_SYNC_MAX_S = 0.004


@dataclass(frozen=True)
class SimOptions:
    seed: int
    crashes: int = 4
    ops: int = 100  # client operations in the workload (all clients together)
    clients: int = 4
    breaks: frozenset[str] = frozenset()
    faults: bool | None = None  # None: the seed decides
    trace_io: bool = False  # every filesystem and metadata operation in the trace


@dataclass
class SeedResult:
    seed: int
    failure: str | None
    trace: list[str]
    crashes: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None


class SimClock:
    def now_ns(self) -> int:
        return EPOCH_NS + int(trio.current_time() * 1_000_000_000)


class SeededEntropy:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


class SimListener(trio.abc.Listener[trio.abc.Stream]):
    """In-memory connections to one instance; `kill` drops them all at once."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](math.inf)
        # The server's end of every connection.
        self._streams: list[
            trio.StapledStream[trio.testing.MemorySendStream, trio.testing.MemoryReceiveStream]
        ] = []
        # The clients' ends, by id (looked up, never iterated).
        self._clients: dict[int, trio.abc.Stream] = {}

    def owns(self, stream: trio.abc.Stream) -> bool:
        """Whether `stream` is a live connection to this listener's instance."""
        return self._clients.get(id(stream)) is stream

    def connect(self) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        self._streams.append(server)
        self._clients[id(client)] = client
        self._send.send_nowait(server)
        return client

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio.ClosedResourceError("listener closed") from None

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()

    def kill(self) -> None:
        """The server's side of every connection is gone: clients see EOF."""
        self._receive.close()
        for stream in self._streams:
            stream.send_stream.close()  # memory streams close at once
            stream.receive_stream.close()
        self._streams.clear()
        self._clients.clear()


class _TraceHandler(logging.Handler):
    def __init__(self, trace: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._trace = trace

    def emit(self, record: logging.LogRecord) -> None:
        self._trace(f"log {record.levelname} {record.name}: {record.getMessage()}")


class World:
    def __init__(self, opts: SimOptions) -> None:
        self.opts = opts
        seed = opts.seed

        def rng(name: str) -> random.Random:
            return random.Random(f"hamster-sim/{seed}/{name}")

        self.rng = rng("schedule")
        self.trace_lines: list[str] = []
        with_faults = opts.faults if opts.faults is not None else self.rng.random() < 0.5
        # Fault rates scale per seed: rare faults test long runs between
        # them, frequent ones the paths right after one.
        scale = self.rng.choice([0.5, 1.0, 4.0])
        self.faults = (
            Faults(
                eio_read=0.002 * scale,
                eio_write=0.002 * scale,
                eio_fsync=0.01 * scale,
                enospc=0.002 * scale,
                slow=0.02,
                slow_max_s=2.0,
            )
            if with_faults
            else None
        )
        io_trace = self.trace if opts.trace_io else None
        self.disk = SimDisk(rng("disk"), faults=self.faults, trace=io_trace)
        self.meta_faults = MetaFaults(write_eio=0.003 * scale) if with_faults else None
        # A synced metadata write takes up to META_SYNC_MAX_S of mock time (an
        # fsync of LevelDB's log), so commits overlap and form groups.
        self.metadisk = SimMetaDisk(
            rng("meta"), faults=self.meta_faults, trace=io_trace, sync_max_s=META_SYNC_MAX_S
        )
        self.disk.before_op = self._before_fs_op
        self.metadisk.before_op = self._before_meta_op
        self.runtime = Runtime(
            clock=SimClock(),
            entropy=SeededEntropy(rng("entropy")),
            offload=InlineOffload(),
            breaks=opts.breaks,
        )
        self.client_rngs = [rng(f"client{i}") for i in range(opts.clients)]
        self.model = Model()
        self.workload = Workload(
            self.model, trace=self.trace, now=trio.current_time, faults=with_faults
        )
        self.users = UserDirectory([User(CREDS.access_key, CREDS.secret_key, "sim")])
        self.op_count = 0
        self.boot_failures = 0
        self.crash_at: int | None = None
        self.crashes = 0
        self.up = trio.Event()
        self.listener: SimListener | None = None
        self.stop_instance = trio.Event()

    # --- tracing and the crash hook -------------------------------------------

    def trace(self, line: str) -> None:
        self.trace_lines.append(line)

    def _before_fs_op(self, op: str, path: str) -> None:
        self._tick(f"fs {op} {path}")

    def _before_meta_op(self, op: str, key: bytes) -> None:
        self._tick(f"meta {op} {key[:40]!r}")

    def _tick(self, what: str) -> None:
        self.op_count += 1
        if self.crash_at is not None and self.op_count >= self.crash_at:
            self.crash_at = None
            self.crashes += 1
            self.trace(
                f"{trio.current_time():.6f} CRASH #{self.crashes} at op {self.op_count}: {what}"
            )
            self.disk.crash()
            self.metadisk.crash()
            self._down()  # clients wait for the next instance
            self.stop_instance.set()
            raise SimCrash(what)

    def _arm(self) -> None:
        window = max(20, 15 * self.opts.ops // (self.opts.crashes + 1))
        self.crash_at = self.op_count + self.rng.randint(1, window)

    # --- the run -----------------------------------------------------------------

    async def run(self) -> None:
        crashes_left = self.opts.crashes
        workload_done = trio.Event()
        first = True
        recovered = False
        node: Node | None = None
        async with trio.open_nursery() as top:
            while True:
                if not first and crashes_left > 0:
                    self._arm()
                node = await self._boot(top)
                if node is None:  # crashed during recovery
                    crashes_left -= 1
                    continue
                if first:  # setup, before any fault
                    faults_were = self._set_faults(False)
                    await self._create_bucket(node)
                    self._set_faults(faults_were)
                await self._check(node, "after recovery" if recovered else "at start")
                recovered = True
                if first:
                    top.start_soon(self._run_workload, workload_done)
                    first = False
                    if crashes_left > 0:
                        self._arm()
                self.up.set()
                await self._wait_any(self.stop_instance, workload_done, self._instance_done)
                if self.stop_instance.is_set():  # crashed
                    await self._bury()
                    crashes_left -= 1
                    continue
                if self._instance_done.is_set() or node.store.core.failed is not None:
                    # The server stopped itself (a failed metadata write):
                    # its supervisor starts it again, on the same disk.
                    self._down()
                    await self._instance_done.wait()
                    await self._bury()
                    self.trace(f"{trio.current_time():.6f} server stopped itself: restart")
                    continue
                break
            assert node is not None
            # The workload is done: the final phase, without faults or crashes.
            self.crash_at = None
            self._set_faults(False)
            self.trace(f"{trio.current_time():.6f} final phase")
            self.workload.liveness = True
            await self._run_clients(max(2, self.opts.ops // 10), phase="f")
            await self._check(node, "at the end", leftovers=self.faults is not None)
            # A clean restart: recovery runs once more, then the checks.
            await self._stop(node)
            self._down()
            node = await self._boot(top)
            assert node is not None, "a clean restart cannot crash"
            await self._check(node, "after the last restart")
            await self._stop(node)
            top.cancel_scope.cancel()

    async def _stop(self, node: Node) -> None:
        node.server.shutdown()
        await self._instance_done.wait()
        await node.store.close()
        assert self.listener is not None
        self.listener.kill()

    def _set_faults(self, enabled: bool) -> bool:
        """Switch the injected faults on or off; returns whether they were on."""
        were = False
        for faults in (self.faults, self.meta_faults):
            if faults is not None:
                were = were or faults.enabled
                faults.enabled = enabled
        return were

    async def _wait_any(self, *events: trio.Event) -> None:
        async with trio.open_nursery() as nursery:

            async def wait(event: trio.Event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            for event in events:
                nursery.start_soon(wait, event)

    async def _boot(self, top: trio.Nursery) -> Node | None:
        """Start an instance; None if it crashed before it was serving."""
        while True:
            failures = self.boot_failures
            node = await self._boot_once(top)
            if self.boot_failures == failures:
                return node
            if self.boot_failures > MAX_BOOT_FAILURES:
                raise Failure(f"the server failed to start {self.boot_failures} times")

    async def _boot_once(self, top: trio.Nursery) -> Node | None:
        self.stop_instance = trio.Event()
        self._instance_done = trio.Event()
        self.listener = SimListener()
        self.trace(f"{trio.current_time():.6f} boot")
        booted: list[Node] = []
        serving = trio.Event()
        top.start_soon(self._instance, booted, serving)
        await self._wait_any(serving, self._instance_done)
        if not booted or self.stop_instance.is_set():
            await self._bury()
            return None
        return booted[0]

    async def _instance(self, booted: list[Node], serving: trio.Event) -> None:
        """One server instance, from boot (recovery) until a crash or the end."""
        listener = self.listener
        stop = self.stop_instance
        assert listener is not None
        try:
            async with trio.open_nursery() as inst:
                inst.start_soon(self._cancel_when_stopped, stop, inst.cancel_scope)
                try:
                    node = await open_node(
                        fs=self.disk.mount(),
                        meta=self.metadisk.open(),
                        runtime=self.runtime,
                        users=self.users,
                        limits=ServerLimits(),
                        min_part_bytes=MIN_PART_BYTES,
                    )
                except OSError as exc:
                    # An injected disk fault failed the start (recovery's
                    # I/O): the server exits with an error and is started
                    # again, on the same disk (no crash: nothing is lost).
                    self.trace(f"{trio.current_time():.6f} boot failed: {exc!r}")
                    self.boot_failures += 1
                    inst.cancel_scope.cancel()
                    return
                booted.append(node)
                await inst.start(self._serve, node, listener, inst.cancel_scope)
                serving.set()
        except BaseExceptionGroup as group:
            _, rest = group.split((SimCrash, trio.Cancelled))
            if rest is not None:
                raise rest from None
        except SimCrash:
            pass
        finally:
            self._instance_done.set()

    @staticmethod
    async def _cancel_when_stopped(stop: trio.Event, scope: trio.CancelScope) -> None:
        await stop.wait()
        scope.cancel()

    @staticmethod
    async def _serve(
        node: Node,
        listener: SimListener,
        scope: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await node.server.serve([listener], task_status=task_status)
        scope.cancel()  # shut down at the end: the instance is done

    async def _bury(self) -> None:
        """After a crash: the dead instance's tasks end, its connections drop."""
        await self._instance_done.wait()
        assert self.listener is not None
        self.listener.kill()
        self.trace(f"{trio.current_time():.6f} instance dead")

    async def _run_workload(self, done: trio.Event) -> None:
        await self._run_clients(self.opts.ops)
        done.set()

    async def _run_clients(self, ops: int, phase: str = "c") -> None:
        """`phase` prefixes the clients' names, so every write's tag is unique."""
        per = [
            ops // self.opts.clients + (i < ops % self.opts.clients)
            for i in range(self.opts.clients)
        ]
        async with trio.open_nursery() as nursery:
            for i, n in enumerate(per):
                client = S3Client(
                    self._connect, CREDS, now_ns=self.runtime.now_ns, usable=self._usable
                )
                nursery.start_soon(self._client, client, f"{phase}{i}", self.client_rngs[i], n)

    async def _client(self, client: S3Client, who: str, rng: random.Random, ops: int) -> None:
        try:
            await self.workload.run_client(client, who, rng, ops)
        finally:
            await client.close()

    def _down(self) -> None:
        """No instance serves clients until `up` is set again. A new event
        only if the old one was set: clients already waiting keep waiting on
        the one that will be set."""
        if self.up.is_set():
            self.up = trio.Event()

    def _usable(self, stream: trio.abc.Stream) -> bool:
        return self.listener is not None and self.listener.owns(stream)

    async def _connect(self) -> trio.abc.Stream:
        while True:
            up = self.up
            await up.wait()
            if up is self.up and self.listener is not None:
                return self.listener.connect()

    # --- setup and checks -------------------------------------------------------

    def _checker(self) -> S3Client:
        listener = self.listener
        assert listener is not None

        async def connect() -> trio.abc.Stream:
            await trio.lowlevel.checkpoint()
            return listener.connect()

        return S3Client(connect, CREDS, now_ns=self.runtime.now_ns)

    async def _create_bucket(self, node: Node) -> None:
        """Create the bucket, retrying server errors (faults are on)."""
        client = self._checker()
        try:
            for _ in range(MAX_BOOT_FAILURES):
                reply = await client.request("PUT", f"/{BUCKET}")
                self.trace(f"{trio.current_time():.6f} CreateBucket -> {reply.status}")
                if reply.status == 200:
                    return
                if reply.status < 500:
                    break
        finally:
            await client.close()
        raise Failure(f"CreateBucket: {reply.status} {reply.body[:200]!r}")

    async def _check(self, node: Node, when: str, *, leftovers: bool = False) -> None:
        """The checks of the module docstring, with crashes and faults off.

        `leftovers`: temp files and orphan blobs are allowed (only at the end
        of a seed with faults: a removal that failed leaves an orphan for
        the next recovery). Without faults, the store must leave none even
        without a recovery."""
        remaining = None if self.crash_at is None else self.crash_at - self.op_count
        self.crash_at = None
        faults_were = self._set_faults(False)
        self.trace(f"{trio.current_time():.6f} checks {when}")
        if when != "at the end":
            self.model.recovered()
        try:
            await self._check_disk(node, when, leftovers=leftovers)
            client = self._checker()
            try:
                await self._check_objects(client, when)
                await self._check_uploads(client, when)
            except Lost as exc:
                raise Failure(f"checks {when}: a request got no answer ({exc})") from exc
            finally:
                await client.close()
        finally:
            self._set_faults(faults_were)
            if remaining is not None:
                self.crash_at = self.op_count + max(1, remaining)

    async def _check_disk(self, node: Node, when: str, *, leftovers: bool) -> None:
        """After a recovery: no temp file, no marker, blobs/ holds exactly the
        blobs the records point to. At the end (no recovery since the
        workload), the markers account for the rest: a temp file is a
        committed blob (placing marker), a blob no record points to is owed a
        removal (removal marker), and a record's blob is in blobs/ or, with a
        placing marker, in tmp/."""
        report = node.store.recovery
        if report.missing:
            raise Failure(f"{when}: records point to missing blobs: {report.missing[:3]}")
        meta = node.store.meta
        placing = {marker_blob_id(k) async for k, _ in meta.scan(PLACING_PREFIX)}
        removing = {marker_blob_id(k) async for k, _ in meta.scan(REMOVING_PREFIX)}
        recovered = when != "at the end"
        if recovered and (placing or removing):
            raise Failure(f"{when}: recovery left markers {sorted(placing | removing)[:3]}")
        files = sorted(self.disk.files())
        tmp = {p.rsplit("/", 1)[-1] for p in files if p.startswith(TMP_DIR + "/")}
        unowned = sorted(tmp - placing)
        if unowned and not leftovers:
            raise Failure(f"{when}: temp files no placing marker owns {unowned[:3]}")
        refs = await referenced_blob_ids(meta)
        blobs = {p.rsplit("/", 1)[-1] for p in files if p.startswith(BLOBS_DIR + "/")}
        orphans = sorted(blobs - refs - removing)
        if orphans and not leftovers:
            raise Failure(f"{when}: blob files no record points to: {orphans[:3]}")
        missing = sorted(refs - blobs - (tmp & placing))
        if missing:
            raise Failure(f"{when}: records point to blobs not on disk: {missing[:3]}")

    async def _check_objects(self, client: S3Client, when: str) -> None:
        found: set[str] = set()
        for key in sorted(self.model.keys):
            reply = await client.request("GET", f"/{BUCKET}/{encode_key(key)}")
            if reply.status not in (200, 404):
                raise Failure(f"checks {when}: GET {key} answered {reply.status}")
            violation = self.model.check_read(key, reply.status, reply.body, reply.etag)
            if violation:
                raise Failure(f"checks {when}: {violation}")
            if reply.status == 200:
                found.add(key)
        expected = sorted(found)
        for name, listed in (
            ("ListObjectsV2", await self._list_v2(client, when)),
            ("ListObjects", await self._list_v1(client, when)),
            ("ListObjectVersions", await self._list_versions(client, when)),
        ):
            if listed != expected:
                raise Failure(
                    f"checks {when}: {name} lists {sorted(set(listed) ^ found)} "
                    f"differently from GET (listed {listed}, GET found {expected})"
                )

    async def _list(self, client: S3Client, when: str, query: list[tuple[str, str]]) -> bytes:
        reply = await client.request("GET", f"/{BUCKET}", query)
        if reply.status != 200:
            raise Failure(f"checks {when}: listing {query} answered {reply.status}")
        return reply.body

    async def _list_v2(self, client: S3Client, when: str) -> list[str]:
        """Every key, in pages of 7 (continuation tokens)."""
        listed: list[str] = []
        token: str | None = None
        while True:
            query = [("list-type", "2"), ("max-keys", "7")]
            if token is not None:
                query.append(("continuation-token", token))
            body = await self._list(client, when, query)
            listed += xml_texts(body, "Key")
            tokens = xml_texts(body, "NextContinuationToken")
            if not tokens:
                return listed
            token = tokens[0]

    async def _list_v1(self, client: S3Client, when: str) -> list[str]:
        """Every key, in pages of 5 (markers)."""
        listed: list[str] = []
        marker = ""
        while True:
            body = await self._list(client, when, [("marker", marker), ("max-keys", "5")])
            keys = xml_texts(body, "Key")
            listed += keys
            if xml_texts(body, "IsTruncated") != ["true"]:
                return listed
            marker = keys[-1]

    async def _list_versions(self, client: S3Client, when: str) -> list[str]:
        """Every key's one version ("null"), in one page."""
        body = await self._list(client, when, [("versions", "")])
        return [v["Key"] for v in xml_records(body, "Version")]

    async def _check_uploads(self, client: S3Client, when: str) -> None:
        reply = await client.request("GET", f"/{BUCKET}", [("uploads", "")])
        if reply.status != 200:
            raise Failure(f"checks {when}: ListMultipartUploads answered {reply.status}")
        listed = {(u["Key"], u["UploadId"]) for u in xml_records(reply.body, "Upload")}
        listed_ids = {uid for _, uid in listed}
        unknown: dict[str, int] = {}
        for key, uid in sorted(listed):
            upload = self.model.uploads.get(uid)
            if upload is None:
                unknown[key] = unknown.get(key, 0) + 1
            elif upload.key != key:
                raise Failure(f"checks {when}: upload {uid} listed under {key}, not {upload.key}")
        for key, n in unknown.items():
            if n > self.model.unknown_creates.get(key, 0):
                raise Failure(f"checks {when}: {n} uploads of {key} no client created")
        for uid, upload in sorted(self.model.uploads.items()):
            if uid in listed_ids:
                if upload.status == "gone":
                    raise Failure(f"checks {when}: upload {uid} of {upload.key} ended but listed")
                upload.status = "open"
                await self._check_parts(client, when, upload.key, uid)
            elif upload.status == "open":
                raise Failure(f"checks {when}: upload {uid} of {upload.key} lost")
            else:
                upload.status = "gone"

    async def _check_parts(self, client: S3Client, when: str, key: str, uid: str) -> None:
        reply = await client.request("GET", f"/{BUCKET}/{encode_key(key)}", [("uploadId", uid)])
        if reply.status != 200:
            raise Failure(f"checks {when}: ListParts {key} answered {reply.status}")
        listed = {int(p["PartNumber"]): p["ETag"] for p in xml_records(reply.body, "Part")}
        upload = self.model.uploads[uid]
        for number in sorted(set(listed) | set(upload.parts)):
            states = upload.parts.get(number, [None])
            etag = listed.get(number)
            match = [
                s
                for s in states
                if (s is None and etag is None) or (s is not None and s.etag == etag)
            ]
            if not match:
                raise Failure(
                    f"checks {when}: part {number} of {key} ({uid}) is {etag}, not one of {states}"
                )
            upload.parts[number] = [match[0]]


def run_seed(opts: SimOptions) -> SeedResult:
    """Run one seed to the end; never raises for a failing store."""
    world = World(opts)
    run = trio._core._run  # the hook trio gives Hypothesis: seeded scheduling
    was_deterministic = run._ALLOW_DETERMINISTIC_SCHEDULING
    scheduler_state = run._r.getstate()
    setattr(run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)  # noqa: B010
    run._r.seed(f"hamster-sim/{opts.seed}/scheduler")
    handler = _TraceHandler(world.trace)
    hamster_log = logging.getLogger("hamster")
    hamster_log.addHandler(handler)
    propagate = hamster_log.propagate
    hamster_log.propagate = False
    failure: str | None = None
    try:
        trio.run(world.run, clock=trio.testing.MockClock(autojump_threshold=0))
    except Failure as exc:
        failure = str(exc)
    except BaseExceptionGroup as group:
        failures = group.subgroup(lambda e: isinstance(e, Failure))
        if failures is not None:
            failure = str(_first_leaf(failures))
        else:
            failure = "simulator error:\n" + "".join(traceback.format_exception(group))
    except Exception as exc:
        failure = "simulator error:\n" + "".join(traceback.format_exception(exc))
    finally:
        hamster_log.removeHandler(handler)
        hamster_log.propagate = propagate
        setattr(run, "_ALLOW_DETERMINISTIC_SCHEDULING", was_deterministic)  # noqa: B010
        run._r.setstate(scheduler_state)
    if failure is not None:
        world.trace(f"FAILED: {failure}")
    stats = world.workload.stats
    return SeedResult(
        seed=opts.seed,
        failure=failure,
        trace=world.trace_lines,
        crashes=world.crashes,
        stats={
            "ops": stats.ops,
            "acked": stats.acked,
            "lost": stats.lost,
            "server_errors": stats.server_errors,
            "fs_meta_ops": world.op_count,
        },
    )


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
