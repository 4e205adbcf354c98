"""The `hamster` command: `hamster serve`, `hamster version`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import trio

from hamster import __version__
from hamster.config import ConfigError, load_users
from hamster.http.descriptors import budget_descriptors
from hamster.http.server import Server, ServerLimits, open_listeners
from hamster.node import open_local_storage, open_node
from hamster.runtime import Runtime
from hamster.storage.space import DEFAULT_MIN_FREE, MinFree, parse_min_free

log = logging.getLogger("hamster")

DEFAULT_LISTEN = "127.0.0.1:9000"
DEFAULT_DATA = "./data"
DEFAULT_REGION = "us-east-1"


def git_commit() -> str:
    """The git commit this code was installed from, or "unknown"."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hamster",
        description=(
            "Hamster: a single-node, S3-compatible object store. One command, one data "
            "directory, any S3 client."
        ),
        epilog="Run 'hamster serve --help' for the server's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the S3 server",
        description=(
            "Serve the S3 API from a data directory. Keys come from --credentials, from "
            "--access-key/--secret-key (or HAMSTER_ACCESS_KEY/HAMSTER_SECRET_KEY), or are "
            "generated on first start and kept in DATA/credentials.toml (mode 0600)."
        ),
    )
    serve.add_argument(
        "--data",
        default=DEFAULT_DATA,
        metavar="DIR",
        help=f"data directory (default {DEFAULT_DATA})",
    )
    serve.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        type=parse_listen,
        metavar="HOST:PORT",
        help=f"address to listen on; port 0 picks a free port (default {DEFAULT_LISTEN})",
    )
    serve.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="domain for virtual-hosted addressing (BUCKET.DOMAIN); may be repeated",
    )
    serve.add_argument(
        "--region",
        default=DEFAULT_REGION,
        help=f"region clients sign for (default {DEFAULT_REGION})",
    )
    serve.add_argument(
        "--access-key",
        default=os.environ.get("HAMSTER_ACCESS_KEY"),
        help="access key of the single user (default $HAMSTER_ACCESS_KEY)",
    )
    serve.add_argument(
        "--secret-key",
        default=os.environ.get("HAMSTER_SECRET_KEY"),
        help="secret key of the single user (default $HAMSTER_SECRET_KEY)",
    )
    serve.add_argument(
        "--credentials",
        metavar="FILE",
        help="TOML file of [[users]] tables with access_key, secret_key and optional name",
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert (PEM)")
    serve.add_argument(
        "--max-connections", type=int, default=ServerLimits.max_connections, help="connection cap"
    )
    _add_connection_arguments(serve)
    serve.add_argument(
        "--min-free",
        type=_min_free,
        default=DEFAULT_MIN_FREE,
        metavar="SIZE|PCT%",
        help=(
            "free disk space new writes must leave, e.g. 2GiB, 5%%, 0 (off); below it they "
            "are refused with 507 XHamsterStorageFull (default: 1GiB or 1%% of the "
            "filesystem, whichever is smaller)"
        ),
    )
    serve.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="shut down gracefully when stdin is closed (for supervisors and test harnesses)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub.add_parser("version", help="print the version and git commit")
    return parser


def _min_free(value: str) -> MinFree:
    try:
        return parse_min_free(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_connection_arguments(serve: argparse.ArgumentParser) -> None:
    """The connection layer's limits and timeouts (docs/operations.md)."""
    d = ServerLimits()
    group = serve.add_argument_group("connections and timeouts (see docs/operations.md)")
    add = group.add_argument
    add(
        "--max-connections-per-client",
        type=_positive_int,
        default=None,
        metavar="N",
        help="connections one client address may hold; behind a reverse proxy set it to "
        "--max-connections (default: a quarter of --max-connections)",
    )
    add(
        "--max-header-bytes",
        type=_positive_int,
        default=d.max_header_bytes,
        metavar="BYTES",
        help=f"largest request head: request line and headers (default {d.max_header_bytes})",
    )
    add(
        "--header-timeout",
        type=_seconds,
        default=d.header_timeout_s,
        metavar="SECONDS",
        help="time for a request head: from a new connection's start (TLS handshake "
        "included), or from a keep-alive request's first byte (default %(default)s)",
    )
    add(
        "--idle-timeout",
        type=_seconds,
        default=d.idle_timeout_s,
        metavar="SECONDS",
        help="keep-alive time between requests, then a silent close (default %(default)s)",
    )
    add(
        "--min-transfer-rate",
        type=_rate,
        default=d.min_transfer_bytes_per_s,
        metavar="BYTES_PER_S",
        help="floor on the average rate a request body arrives and a "
        "response is read at; slower gets 400 RequestTimeout (a body) or a close; 0: no floor "
        "(default %(default)s)",
    )
    add(
        "--transfer-window",
        type=_seconds,
        default=d.transfer_window_s,
        metavar="SECONDS",
        help="grace before --min-transfer-rate applies, and the longest stall of a body or "
        "response (default %(default)s)",
    )
    add(
        "--drain-limit",
        type=_bytes,
        default=d.drain_limit_bytes,
        metavar="BYTES",
        help="unread request body read and discarded to keep a connection; more closes it "
        "(default %(default)s)",
    )
    add(
        "--linger-timeout",
        type=_seconds,
        default=d.linger_timeout_s,
        metavar="SECONDS",
        help="after our last response, how long a closing connection reads what the client "
        "still sends (default %(default)s)",
    )
    add(
        "--shutdown-grace",
        type=_seconds,
        default=d.shutdown_grace_s,
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may finish (default %(default)s)",
    )


def _connection_limits(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        max_connections_per_client=args.max_connections_per_client,
        max_header_bytes=args.max_header_bytes,
        header_timeout_s=args.header_timeout,
        idle_timeout_s=args.idle_timeout,
        min_transfer_bytes_per_s=args.min_transfer_rate,
        transfer_window_s=args.transfer_window,
        drain_limit_bytes=args.drain_limit,
        linger_timeout_s=args.linger_timeout,
        shutdown_grace_s=args.shutdown_grace,
    )


def _number(value: str, kind: type[int] | type[float], positive: bool) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if number < 0 or (positive and number == 0) or number != number or number == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a {'positive' if positive else 'non-negative'} number, got {value!r}"
        )
    return number


def _seconds(value: str) -> float:
    return _number(value, float, positive=True)


def _rate(value: str) -> float:
    return _number(value, float, positive=False)


def _bytes(value: str) -> int:
    return int(_number(value, int, positive=False))


def _positive_int(value: str) -> int:
    return int(_number(value, int, positive=True))


@dataclass(frozen=True)
class ServeOptions:
    data_dir: str
    host: str
    port: int
    domains: tuple[str, ...]
    region: str
    access_key: str | None
    secret_key: str | None
    credentials: str | None
    max_connections: int
    exit_on_stdin_eof: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    min_free: MinFree = DEFAULT_MIN_FREE
    limits: ServerLimits = field(default_factory=ServerLimits)  # all but max_connections


class StoreFailed(Exception):
    """The store stopped after a failed metadata write: exit 1, so a
    supervisor restarts the server (and recovery runs)."""


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate/key: {exc}") from exc
    return context


async def serve(opts: ServeOptions) -> None:
    runtime = Runtime()
    ssl_context = tls_context(opts.tls_cert, opts.tls_key)
    scheme = "https" if ssl_context is not None else "http"
    os.makedirs(opts.data_dir, exist_ok=True)
    loaded = load_users(
        data_dir=opts.data_dir,
        credentials_file=opts.credentials,
        access_key=opts.access_key,
        secret_key=opts.secret_key,
        runtime=runtime,
    )
    # The connection cap that leaves every connection its files (descriptors.py).
    budget = budget_descriptors(opts.max_connections)
    fs, meta = await open_local_storage(
        opts.data_dir, runtime, max_open_files=budget.metadata_files
    )
    node = await open_node(
        fs=fs,
        meta=meta,
        runtime=runtime,
        users=loaded.users,
        data_dir=opts.data_dir,
        limits=replace(opts.limits, max_connections=budget.max_connections),
        region=opts.region,
        domains=opts.domains,
        ssl_context=ssl_context,
        min_free=opts.min_free,
    )
    try:
        server = node.server
        listeners = await open_listeners(opts.host, opts.port)
        host, port = listeners[0].socket.getsockname()[:2]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_signals, server)
            if opts.exit_on_stdin_eof:
                nursery.start_soon(_watch_stdin, server)
            await nursery.start(_serve_then_stop, server, listeners, nursery.cancel_scope)
            where = f"{scheme}://{host}:{port}"
            lines = []
            if loaded.generated is not None:
                lines += [
                    "Generated credentials (shown once; kept in "
                    f"{os.path.join(opts.data_dir, 'credentials.toml')}):",
                    f"  access key: {loaded.generated.access_key}",
                    f"  secret key: {loaded.generated.secret_key}",
                ]
            else:
                lines.append(f"Credentials: {loaded.source} ({len(loaded.users)} user(s))")
            # The ready line comes last: whoever waits for it has the whole banner.
            lines.append(f"Hamster {__version__} listening on {where} (data: {opts.data_dir})")
            print("\n".join(lines), flush=True)
    finally:
        await node.store.close()
        log.info("store closed; bye")
    if node.store.core.failed is not None:
        raise StoreFailed(
            f"a metadata write failed ({node.store.core.failed}); stopped so that a restart "
            "recovers (systemd restarts it)"
        )


async def _serve_then_stop(
    server: Server,
    listeners: list[trio.SocketListener],
    cancel_scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the server; once it has shut down, stop the watchers beside it."""
    await server.serve(listeners, task_status=task_status)
    cancel_scope.cancel()


async def _watch_stdin(server: Server) -> None:
    """Shut down when stdin reaches end of file (the supervising process went away)."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stream:
        while await stream.receive_some(4096):
            pass
    log.info("stdin closed: shutting down")
    server.shutdown()


async def _watch_signals(server: Server) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            server.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"hamster {__version__} (commit {git_commit()})")
        return 0
    if args.command != "serve":
        parser.print_help()
        return 2
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    host, port = args.listen
    opts = ServeOptions(
        data_dir=args.data,
        host=host,
        port=port,
        domains=tuple(args.domain),
        region=args.region,
        access_key=args.access_key,
        secret_key=args.secret_key,
        credentials=args.credentials,
        max_connections=args.max_connections,
        exit_on_stdin_eof=args.exit_on_stdin_eof,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        min_free=args.min_free,
        limits=_connection_limits(args),
    )
    try:
        trio.run(serve, opts)
    except ConfigError as exc:
        print(f"hamster: {exc}", file=sys.stderr)
        return 2
    except (OSError, StoreFailed) as exc:
        print(f"hamster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
