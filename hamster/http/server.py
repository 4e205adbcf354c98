"""The accept loop: listeners in, one `serve_connection` task per connection out.

`Server.serve` runs under the caller's nursery (``await nursery.start(server.serve,
listeners)``) and returns once every connection has ended after `Server.shutdown`.
Connections live in the server's own nursery, each holding a slot of the
server's `Admission` (hamster/http/admission.py): at most
``limits.max_connections`` at once, and ``limits.client_cap`` from one client
address. At a cap, a new connection is admitted by shedding the connection
that has waited longest for its next (or first) request (never one with a
request in flight); when nothing can be shed it is answered ``503 SlowDown``
with ``Retry-After`` and closed at once, instead of waiting in the kernel's
listen backlog. Refusals are logged once per burst.

When accept() itself fails for want of descriptors or memory (EMFILE, ENFILE,
ENOMEM, ENOBUFS), the loop sheds the longest-idle connection (freeing a
descriptor), backs off on trio's clock (doubling from
``_ACCEPT_BACKOFF_MIN_S`` to ``_ACCEPT_BACKOFF_MAX_S``) and logs the failure
once per burst, with a summary when accepting works again.

Graceful shutdown: `Server.shutdown` stops accepting (listeners are closed),
closes connections idle between requests, lets in-flight requests finish with
``Connection: close`` for up to ``limits.shutdown_grace_s``, then cancels what
is left.
"""

from __future__ import annotations

import errno
import logging
import ssl
from collections.abc import Sequence
from typing import Final

import trio

from hamster.http.admission import Admission, Slot
from hamster.http.connection import (
    ServerLimits,
    ShutdownSignal,
    refuse_connection,
    serve_connection,
)
from hamster.http.messages import App
from hamster.s3.errors import S3Error

logger = logging.getLogger("hamster.http")

__all__ = ["Server", "ServerLimits", "listener_address", "open_listeners"]

# accept() errors that mean "out of resources right now": wait and retry (as trio's
# serve_listeners does) rather than crash the server.
_ACCEPT_CAPACITY_ERRNOS: Final = frozenset(
    code
    for code in (
        getattr(errno, "EMFILE", None),
        getattr(errno, "ENFILE", None),
        getattr(errno, "ENOMEM", None),
        getattr(errno, "ENOBUFS", None),
    )
    if code is not None
)
_ACCEPT_BACKOFF_MIN_S: Final = 0.05
_ACCEPT_BACKOFF_MAX_S: Final = 1.0
# A connection may be shed once it has waited this long for a request (a
# burst of new connections must not shed each other before their first read).
_SHED_MIN_WAIT_S: Final = 1.0
# A refused connection is told when to come back (seconds).
_RETRY_AFTER_S: Final = 1
# Refusals being answered at once: a quarter of the cap, at most this many.
# Each holds a descriptor (beyond the cap) for up to linger_timeout_s; while
# all are in use, accepting pauses (the rest wait in the listen backlog).
_REFUSALS_IN_FLIGHT_MAX: Final = 64


async def open_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """Listen on `host`:`port` (port 0 picks a free port; see `listener_address`)."""
    return await trio.open_tcp_listeners(port, host=host)


def listener_address(listener: trio.SocketListener) -> tuple[str, int]:
    """The (host, port) a listener is bound to, e.g. to print the port picked for 0."""
    sockname = listener.socket.getsockname()
    return str(sockname[0]), int(sockname[1])


class Server:
    """Serves an `App` on listeners with the given limits.

    Args:
      app: answers every request.
      limits: timeouts, size bounds and the connection cap.
      ssl_context: when given, every accepted stream is wrapped in TLS
        (``trio.SSLStream``) and requests carry ``scheme="https"``.
    """

    def __init__(
        self,
        app: App,
        limits: ServerLimits | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._app = app
        self._limits = limits if limits is not None else ServerLimits()
        self._ssl_context = ssl_context
        self._scheme = "https" if ssl_context is not None else "http"
        self._signal = ShutdownSignal()
        self._admission = Admission(
            self._limits.max_connections,
            self._limits.client_cap,
            min_wait_s=_SHED_MIN_WAIT_S,
            clock=trio.current_time,
        )
        self._refusal_slots = trio.Semaphore(
            max(1, min(_REFUSALS_IN_FLIGHT_MAX, self._limits.max_connections // 4))
        )
        self._refused_connections = 0
        self._shed_connections = 0
        self._refusal_burst: tuple[float, int] | None = None  # (began, refused so far)
        self._accept_scope = trio.CancelScope()
        self._connections_scope: trio.CancelScope | None = None
        self._active_connections = 0
        self._accepted_connections = 0
        self._serving = False

    @property
    def active_connections(self) -> int:
        """Connections being served right now."""
        return self._active_connections

    @property
    def accepted_connections(self) -> int:
        """Connections admitted since `serve` began."""
        return self._accepted_connections

    @property
    def refused_connections(self) -> int:
        """Connections refused at a cap (503 SlowDown) since `serve` began."""
        return self._refused_connections

    @property
    def shed_connections(self) -> int:
        """Waiting connections closed to make room since `serve` began."""
        return self._shed_connections

    @property
    def shutting_down(self) -> bool:
        return self._signal.is_set

    async def serve(
        self,
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections until `shutdown` has run its course.

        Reports started once every listener is accepting. Call at most once.

        Resource handling:
          Closes every listener before returning (also when cancelled).
        """
        assert not self._serving, "Server.serve may run only once"
        self._serving = True
        try:
            async with trio.open_nursery() as connections:
                self._connections_scope = connections.cancel_scope
                if self._signal.is_set:
                    self._start_grace_period()
                with self._accept_scope:
                    async with trio.open_nursery() as acceptors:
                        for listener in listeners:
                            acceptors.start_soon(self._accept_loop, listener, connections)
                        task_status.started()
                # Not accepting any more (shutdown, or every listener failed).
                await _close_listeners(listeners)
        finally:
            await _close_listeners(listeners)
        logger.info("server stopped")

    def shutdown(self) -> None:
        """Begin a graceful shutdown (idempotent; call from any task of the run)."""
        if self._signal.is_set:
            return
        logger.info(
            "shutting down: %d connection(s) open, grace %ss",
            self._active_connections,
            self._limits.shutdown_grace_s,
        )
        self._signal.set()
        self._accept_scope.cancel()
        if self._connections_scope is not None:
            self._start_grace_period()

    def _start_grace_period(self) -> None:
        assert self._connections_scope is not None
        self._connections_scope.deadline = min(
            self._connections_scope.deadline,
            trio.current_time() + self._limits.shutdown_grace_s,
        )

    async def _accept_loop(
        self, listener: trio.abc.Listener[trio.abc.Stream], connections: trio.Nursery
    ) -> None:
        failures = _AcceptFailures()
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:
                if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                    raise
                # Out of descriptors (or memory): an idle connection costs its
                # client nothing to reopen, a new client waits in the backlog.
                victim = self._admission.oldest_waiting()
                if victim is not None:
                    victim.shed()
                    self._shed_connections += 1
                await failures.back_off(exc)
                continue
            failures.recovered()
            await self._admit(stream, connections)

    async def _admit(self, stream: trio.abc.Stream, connections: trio.Nursery) -> None:
        peer = _peer_host(stream)
        slot, victim = self._admission.admit(peer)
        if slot is None:
            self._log_refusal(peer)
            try:
                await self._refusal_slots.acquire()
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            connections.start_soon(self._run_refusal, stream)
            return
        if victim is not None:
            self._shed_connections += 1
            logger.debug(
                "shed a waiting connection from %s to admit one from %s", victim.peer, peer
            )
        if self._refusal_burst is not None:
            began, refused = self._refusal_burst
            logger.warning(
                "admitting connections again: %d refused at the cap over %.1fs",
                refused,
                trio.current_time() - began,
            )
            self._refusal_burst = None
        self._accepted_connections += 1
        self._active_connections += 1
        connections.start_soon(self._run_connection, stream, slot)

    def _log_refusal(self, peer: str | None) -> None:
        self._refused_connections += 1
        if self._refusal_burst is None:
            self._refusal_burst = (trio.current_time(), 0)
            admission = self._admission
            if peer is not None and admission.live_for(peer) >= admission.max_per_client:
                where = f"the cap of {admission.max_per_client} connections per client ({peer})"
            else:
                where = f"the cap of {admission.max_connections} connections"
            logger.warning(
                "at %s, every one busy with a request: refusing new connections with "
                "503 SlowDown (logged once until one is admitted again)",
                where,
            )
        began, refused = self._refusal_burst
        self._refusal_burst = (began, refused + 1)

    async def _run_refusal(self, stream: trio.abc.Stream) -> None:
        error = S3Error("SlowDown", headers={"Retry-After": str(_RETRY_AFTER_S)})
        try:
            with trio.move_on_after(self._limits.linger_timeout_s):
                if self._ssl_context is not None:
                    stream = trio.SSLStream(
                        stream, self._ssl_context, server_side=True, https_compatible=True
                    )
                await refuse_connection(stream, self._app, self._limits, error)
        except Exception:
            logger.exception("refusing a connection failed")
        finally:
            self._refusal_slots.release()
            await trio.aclose_forcefully(stream)

    async def _run_connection(self, stream: trio.abc.Stream, slot: Slot) -> None:
        try:
            if self._ssl_context is not None:
                stream = trio.SSLStream(
                    stream, self._ssl_context, server_side=True, https_compatible=True
                )
            await serve_connection(
                stream,
                self._app,
                self._limits,
                scheme=self._scheme,
                shutdown=self._signal,
                slot=slot,
            )
        except Exception:
            logger.exception("connection task failed")
        finally:
            self._active_connections -= 1
            self._admission.release(slot)


class _AcceptFailures:
    """accept() failing for want of resources: back off, and log once per burst."""

    def __init__(self) -> None:
        self._backoff_s = _ACCEPT_BACKOFF_MIN_S
        self._began: float | None = None
        self._failures = 0

    async def back_off(self, exc: OSError) -> None:
        if self._began is None:
            self._began = trio.current_time()
            logger.error(
                "accept failed (%s); backing off up to %ss between attempts "
                "(logged once until accepting works again)",
                exc,
                _ACCEPT_BACKOFF_MAX_S,
            )
        self._failures += 1
        await trio.sleep(self._backoff_s)
        self._backoff_s = min(_ACCEPT_BACKOFF_MAX_S, self._backoff_s * 2)

    def recovered(self) -> None:
        if self._began is None:
            return
        logger.warning(
            "accepting again after %d failed accept(s) over %.1fs",
            self._failures,
            trio.current_time() - self._began,
        )
        self._began = None
        self._failures = 0
        self._backoff_s = _ACCEPT_BACKOFF_MIN_S


def _peer_host(stream: trio.abc.Stream) -> str | None:
    """The client's address (host only), None when unknown.

    A memory stream from `hamster.http.testing.MemoryListener` carries the
    address its test gave it as ``peer_host``.
    """
    if isinstance(stream, trio.SocketStream):
        try:
            name = stream.socket.getpeername()
        except OSError:
            return None
        return str(name[0]) if isinstance(name, tuple) else None
    peer = getattr(stream, "peer_host", None)
    return peer if isinstance(peer, str) else None


async def _close_listeners(listeners: Sequence[trio.abc.Listener[trio.abc.Stream]]) -> None:
    with trio.CancelScope(shield=True):
        for listener in listeners:
            try:
                await listener.aclose()
            except Exception:
                logger.exception("closing a listener failed")
