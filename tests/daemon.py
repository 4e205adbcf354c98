"""Start the real `hamster serve` daemon in a subprocess on a random port.

The daemon is started with ``--exit-on-stdin-eof``: if the test process dies,
its stdin closes and the daemon shuts itself down.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY = re.compile(r"listening on (https?)://([0-9.]+):(\d+)")
STARTUP_TIMEOUT_S = 60.0


@dataclass
class Daemon:
    data_dir: Path
    args: Sequence[str] = ()
    # Run before the interpreter, e.g. ["prlimit", "--nofile=256:256", "--"].
    command_prefix: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    host: str = ""
    port: int = 0
    banner: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    _stderr_changed: threading.Condition = field(default_factory=threading.Condition)
    _stderr_closed: bool = False

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> Daemon:
        cmd = [
            *self.command_prefix,
            sys.executable,
            "-m",
            "hamster.cli",
            "serve",
            "--data",
            str(self.data_dir),
            "--listen",
            "127.0.0.1:0",
            "--exit-on-stdin-eof",
            *self.args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        ready = threading.Event()

        def read_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.banner.append(line.rstrip("\n"))
                match = READY.search(line)
                if match:
                    self.scheme = match.group(1)
                    self.host, self.port = match.group(2), int(match.group(3))
                    ready.set()
            ready.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT_S) or not self.port:
            self.stop()
            raise RuntimeError(
                "daemon did not start:\n" + "\n".join(self.banner + self.stderr_lines)
            )
        return self

    def _pump_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._stderr_changed:
                self.stderr_lines.append(line.rstrip("\n"))
                self._stderr_changed.notify_all()
        with self._stderr_changed:
            self._stderr_closed = True
            self._stderr_changed.notify_all()

    def wait_for_log(self, needle: str, timeout_s: float = STARTUP_TIMEOUT_S) -> str:
        """Block until a line containing `needle` appears on the daemon's stderr."""
        with self._stderr_changed:
            found = self._stderr_changed.wait_for(
                lambda: self._stderr_closed or any(needle in x for x in self.stderr_lines),
                timeout_s,
            )
            lines = [x for x in self.stderr_lines if needle in x]
        if not found or not lines:
            raise AssertionError(f"{needle!r} never logged:\n" + "\n".join(self.stderr_lines))
        return lines[0]

    def kill(self, timeout_s: float = 30.0) -> int:
        """SIGKILL (no shutdown, no cleanup: a crash), then reap it; returns the
        exit status (-9, or what it died of first if something else killed it).
        Once it returns, everything the daemon wrote to stderr is in
        `stderr_lines`."""
        assert self.proc is not None
        self.proc.kill()  # a no-op if it has already been reaped
        self.proc.wait(timeout_s)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with self._stderr_changed:
            self._stderr_changed.wait_for(lambda: self._stderr_closed, timeout_s)
        return self.proc.returncode

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        return self.proc.returncode
