"""One Hamster server in one process: the store, the S3 application and the
connection loop, on a given `FileSystem`, `MetaStore` and `Runtime`.

`hamster serve` builds its server here (`open_local_storage` + `open_node`),
and so do the in-process tests (tests/api) and the simulator, on other
filesystems, metadata stores and runtimes: one construction path.

Use::

    node = await open_node(fs=fs, meta=meta, runtime=runtime, users=users)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.server.serve, listeners)
            ...  # node.server.shutdown() ends it
    finally:
        await node.store.close()

`listeners` are TCP listeners (`hamster.http.server.open_listeners`) or a
`hamster.http.testing.MemoryListener`, whose clients are in-memory streams:
either way each connection goes through the same h11 parsing, limits and
application.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from hamster.app import S3App
from hamster.config import UserDirectory
from hamster.http.server import Server, ServerLimits
from hamster.runtime import Runtime
from hamster.storage.fs import FileSystem, RealFileSystem
from hamster.storage.meta import LevelDBMetaStore, MetaStore
from hamster.storage.parts import MIN_PART_BYTES
from hamster.storage.space import DEFAULT_MIN_FREE, MinFree
from hamster.storage.store import INLINE_MAX_BYTES, META_DIR, Store

__all__ = ["Node", "open_local_storage", "open_node"]


@dataclass
class Node:
    """A server instance: its store (close it when done), the application
    and the connection loop (`server.serve` under a nursery)."""

    store: Store
    app: S3App
    server: Server


async def open_local_storage(
    data_dir: str, runtime: Runtime, *, max_open_files: int | None = None
) -> tuple[RealFileSystem, LevelDBMetaStore]:
    """The host's filesystem under `data_dir` and LevelDB in `data_dir`/meta
    (created if missing), both hopping through `runtime.offload`: what
    `hamster serve` runs on. The caller owns the metadata store until it
    hands it to `open_node`. `max_open_files`: LevelDB's share of the
    process's file descriptors (hamster/http/descriptors.py)."""
    fs = RealFileSystem(data_dir, offload=runtime.offload)
    await fs.makedirs(META_DIR)
    meta = await LevelDBMetaStore.open(
        os.path.join(data_dir, META_DIR), offload=runtime.offload, max_open_files=max_open_files
    )
    return fs, meta


async def open_node(
    *,
    fs: FileSystem,
    meta: MetaStore,
    runtime: Runtime,
    users: UserDirectory,
    data_dir: str = "",
    limits: ServerLimits | None = None,
    region: str = "us-east-1",
    domains: Sequence[str] = (),
    min_part_bytes: int = MIN_PART_BYTES,
    ssl_context: ssl.SSLContext | None = None,
    min_free: MinFree = DEFAULT_MIN_FREE,
    inline_max_bytes: int = INLINE_MAX_BYTES,
) -> Node:
    """Open the store on `fs` and `meta` (recovery runs: `Store.open`) and
    build the application and the server on it; nothing is served yet.

    Args:
      meta: owned by the node's store from here on (closed by
        `node.store.close()`, or here if opening fails).
      data_dir: passed on to `Store.open`, which needs it only when it opens
        the filesystem and metadata itself (never here).
      limits: the HTTP edge's bounds (default `ServerLimits()`).
      region, domains: what clients sign for; virtual-host domains.
      min_part_bytes: the smallest multipart part but the last.
      ssl_context: serve TLS on every connection (`hamster serve --tls-*`).
      min_free: the free space new writes must leave (`hamster serve --min-free`).
      inline_max_bytes: the largest object stored inside its record (tests).
    """
    store = await Store.open(
        data_dir,
        runtime,
        fs=fs,
        meta=meta,
        min_part_bytes=min_part_bytes,
        min_free=min_free,
        inline_max_bytes=inline_max_bytes,
    )
    app = S3App(store=store, users=users, runtime=runtime, region=region, domains=domains)
    server = Server(app, limits, ssl_context=ssl_context)
    # A failed metadata write stops the server (storage/core.py): a restart
    # replays the metadata log and recovery resolves what the failure left.
    store.core.on_failure = lambda _exc: server.shutdown()
    return Node(store=store, app=app, server=server)
