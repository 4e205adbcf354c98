"""Start and stop the stores the benchmarks compare, each on loopback with its
own temporary directory: the Hamster daemon, moto's server and SeaweedFS
(``weed server -s3``, one process). Plus the S3 chores around them: a boto3
client, a bucket, N position-dependent objects, presigned URLs.

Not a test: used by bench/small_objects.py (``make bench``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.daemon import Daemon

ACCESS_KEY = "BENCHACCESSKEY000001"
SECRET_KEY = "bench-secret-key-000000000000000000000001"
REGION = "us-east-1"
BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together while chosen)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def object_body(index: int, size: int) -> bytes:
    """`size` bytes that depend on `index` and on the position in the body."""
    out = bytearray()
    block = 0
    while len(out) < size:
        out += hashlib.sha256(f"{index}:{block}".encode()).digest()
        block += 1
    return bytes(out[:size])


class Store(ABC):
    """One S3 server under test, on 127.0.0.1, started and stopped by us."""

    name: str
    durable: bool

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"hamster-bench-{self.name.lower()}-"))
        self.endpoint = ""

    @property
    @abstractmethod
    def pid(self) -> int: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def _terminate(self) -> None: ...

    def stop(self) -> None:
        try:
            self._terminate()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
                signature_version="s3v4",
            ),
        )

    def wait_ready(self, bucket: str) -> None:
        """Create `bucket`, retrying until the server answers (SeaweedFS takes a
        few seconds to elect its master and grow volumes), then prove one PUT
        and GET round-trip."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        s3 = self.client()
        body = object_body(-1, 4096)
        while True:
            try:
                with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                    s3.create_bucket(Bucket=bucket)
                s3.put_object(Bucket=bucket, Key="ready", Body=body)
                if s3.get_object(Bucket=bucket, Key="ready")["Body"].read() == body:
                    return
            except Exception as exc:  # any failure means "not yet"
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} never became ready: {exc!r}") from exc
            time.sleep(0.25)


class HamsterStore(Store):
    name = "Hamster"
    durable = True

    def __init__(self) -> None:
        super().__init__()
        self.daemon = Daemon(
            self.root / "data",
            env={"HAMSTER_ACCESS_KEY": ACCESS_KEY, "HAMSTER_SECRET_KEY": SECRET_KEY},
        )

    @property
    def pid(self) -> int:
        assert self.daemon.proc is not None
        return self.daemon.proc.pid

    def start(self) -> None:
        self.daemon.start()
        self.endpoint = f"http://127.0.0.1:{self.daemon.port}"

    def _terminate(self) -> None:
        if self.daemon.proc is not None:
            self.daemon.stop()


class ProcessStore(Store):
    """A server we run as one child process (its own session, logs to a file)."""

    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _spawn(self, cmd: list[str]) -> None:
        log = (self.root / "server.log").open("wb")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )
        log.close()

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # Its data is thrown away: a few seconds of grace (weed can take 30 s), then kill.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class MotoStore(ProcessStore):
    """moto's standalone server (Flask/werkzeug, threaded, in-memory)."""

    name = "moto"
    durable = False

    def start(self) -> None:
        port = free_port()
        self._spawn([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
        self.endpoint = f"http://127.0.0.1:{port}"


class SeaweedStore(ProcessStore):
    """SeaweedFS: master, volume, filer and S3 gateway in one `weed server`
    process, signatures checked against one identity (like the others)."""

    name = "SeaweedFS"
    durable = False  # does not fsync a PUT before answering

    def start(self) -> None:
        (self.root / "data").mkdir()
        config = self.root / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "bench",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        ports = free_ports(8)
        master, master_g, volume, volume_g, filer, filer_g, s3, s3_g = ports
        self._spawn(
            [
                str(BIN / "weed"),
                "server",
                f"-dir={self.root / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={master}",
                f"-master.port.grpc={master_g}",
                "-master.volumeSizeLimitMB=32",
                "-master.telemetry=false",
                f"-volume.port={volume}",
                f"-volume.port.grpc={volume_g}",
                "-volume.max=500",
                f"-filer.port={filer}",
                f"-filer.port.grpc={filer_g}",
                "-s3",
                f"-s3.port={s3}",
                f"-s3.port.grpc={s3_g}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={config}",
            ]
        )
        self.endpoint = f"http://127.0.0.1:{s3}"

    def wait_ready(self, bucket: str) -> None:
        try:
            super().wait_ready(bucket)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log_tail()}") from exc


def version_of_weed() -> str:
    out = subprocess.run(
        [str(BIN / "weed"), "version"], capture_output=True, text=True, check=False
    ).stdout
    words = out.split()
    return words[2] if len(words) > 2 else out.strip()


def populate(store: Store, bucket: str, keys: list[str], size: int) -> None:
    """PUT one object per key (4 KiB, position-dependent) with boto3."""
    s3 = store.client()
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=object_body(i, size))


def presigned_targets(store: Store, method: str, bucket: str, keys: list[str]) -> list[str]:
    """One "METHOD /path?query" line per key: presigned SigV4 URLs (an hour)
    for the store's own endpoint, the host wrk will send."""
    operation = {"GET": "get_object", "HEAD": "head_object", "PUT": "put_object"}[method]
    s3 = store.client()
    prefix = store.endpoint
    lines = []
    for key in keys:
        url: str = s3.generate_presigned_url(
            operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
        )
        assert url.startswith(prefix), (url, prefix)
        lines.append(f"{method} {url[len(prefix) :]}")
    return lines


def cpu_stat(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text()


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")
