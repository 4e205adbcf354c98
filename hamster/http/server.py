"""The accept loop: listeners in, one `serve_connection` task per connection out.

`Server.serve` runs under the caller's nursery (``await nursery.start(server.serve,
listeners)``) and returns once every connection has ended after `Server.shutdown`.
Connections live in the server's own nursery; at most
``limits.max_connections`` at once (when full, accepting pauses until one ends,
so further clients wait in the kernel's listen backlog).

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

from hamster.http.connection import ServerLimits, ShutdownSignal, serve_connection
from hamster.http.messages import App

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
_ACCEPT_BACKOFF_S: Final = 0.1


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
        self._slots = trio.Semaphore(self._limits.max_connections)
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
        """Connections accepted since `serve` began."""
        return self._accepted_connections

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
        while True:
            await self._slots.acquire()
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                self._slots.release()
                return
            except OSError as exc:
                self._slots.release()
                if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                    raise
                logger.error("accept failed (%s); retrying in %ss", exc, _ACCEPT_BACKOFF_S)
                await trio.sleep(_ACCEPT_BACKOFF_S)
                continue
            except BaseException:
                self._slots.release()
                raise
            self._accepted_connections += 1
            self._active_connections += 1
            connections.start_soon(self._run_connection, stream)

    async def _run_connection(self, stream: trio.abc.Stream) -> None:
        try:
            if self._ssl_context is not None:
                stream = trio.SSLStream(
                    stream, self._ssl_context, server_side=True, https_compatible=True
                )
            await serve_connection(
                stream, self._app, self._limits, scheme=self._scheme, shutdown=self._signal
            )
        except Exception:
            logger.exception("connection task failed")
        finally:
            self._active_connections -= 1
            self._slots.release()


async def _close_listeners(listeners: Sequence[trio.abc.Listener[trio.abc.Stream]]) -> None:
    with trio.CancelScope(shield=True):
        for listener in listeners:
            try:
                await listener.aclose()
            except Exception:
                logger.exception("closing a listener failed")
