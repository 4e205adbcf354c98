"""Blob removal: pins held by readers defer it (counted per reader), it is
shielded from cancellation, a blob already gone is fine, and a removal that
fails is logged (the blob is an orphan for recovery), never raised."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from hamster.storage.blobs import blob_path
from hamster.storage.core import Core
from hamster.storage.fs import RealFileSystem
from hamster.storage.meta import LevelDBMetaStore

from .bodies import BytesBody
from .conftest import make_runtime
from .test_write_order import RecordingFS


class FlakyFS(RecordingFS):
    """Logs every call like RecordingFS; removals of `refused` paths fail."""

    def __init__(self, root: Path) -> None:
        super().__init__(RealFileSystem(str(root)), [])
        self.refused: set[str] = set()

    async def remove(self, path: str, *, missing_ok: bool = False) -> None:
        if path in self.refused:
            raise PermissionError(13, "Permission denied", path)
        await super().remove(path, missing_ok=missing_ok)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    fs = FlakyFS(tmp_path)
    await fs.makedirs("blobs")
    await fs.makedirs("tmp")
    meta = await LevelDBMetaStore.open(str(tmp_path / "meta"))
    try:
        yield Core(fs, meta, make_runtime())
    finally:
        await meta.close()


def flaky(core: Core) -> FlakyFS:
    assert isinstance(core.fs, FlakyFS)
    return core.fs


async def new_blob(core: Core, label: str) -> str:
    blob_id = core.runtime.new_id()
    body = hashlib.shake_256(label.encode()).digest(100)
    await core.blobs.write(
        blob_id, BytesBody(body), content_length=len(body), max_size_bytes=1 << 20, content_md5=None
    )
    # Committed (a record of a test-only kind points to it) and placed.
    async with core.transaction(new_blobs=[blob_id]) as batch:
        batch.put(b"x/" + blob_id.encode(), b"")
    await core.blobs.settle()
    flaky(core).log.clear()
    return blob_id


async def exists(core: Core, blob_id: str) -> bool:
    return await core.fs.exists(blob_path(blob_id))


def removals(core: Core) -> list[str]:
    return [line for line in flaky(core).log if line.startswith("remove ")]


async def test_two_readers_pin_a_blob_twice(core: Core) -> None:
    blob = await new_blob(core, "pinned")
    core.blobs.pin([blob])
    core.blobs.pin([blob])
    await core.discard_blob(blob)
    assert await exists(core, blob)  # deferred: pinned
    await core.blobs.unpin([blob])
    assert await exists(core, blob)  # the other reader still reads it
    await core.blobs.unpin([blob])
    assert not await exists(core, blob)
    assert removals(core) == [f"remove {blob_path(blob)}"]
    # Done with: pinned and unpinned again, it is not removed a second time.
    core.blobs.pin([blob])
    await core.blobs.unpin([blob])
    assert removals(core) == [f"remove {blob_path(blob)}"]


async def test_unpin_without_a_pin_is_a_programming_error(core: Core) -> None:
    blob = await new_blob(core, "unpinned")
    with pytest.raises(AssertionError):
        await core.blobs.unpin([blob])


async def test_removals_are_shielded_from_cancellation(core: Core) -> None:
    pinned, plain = await new_blob(core, "a"), await new_blob(core, "b")
    core.blobs.pin([pinned])
    await core.discard_blob(pinned)
    with trio.CancelScope() as scope:
        scope.cancel()
        await core.blobs.unpin([pinned])  # a reader closed by a cancelled request
        await core.discard_blob(plain)
    assert not await exists(core, pinned)
    assert not await exists(core, plain)


async def test_a_blob_already_gone_is_removed_quietly(
    core: Core, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pinned, plain = await new_blob(core, "c"), await new_blob(core, "d")
    core.blobs.pin([pinned])
    await core.discard_blob(pinned)
    for blob in (pinned, plain):
        (tmp_path / blob_path(blob)).unlink()
    with caplog.at_level(logging.DEBUG, logger="hamster.storage"):
        await core.blobs.unpin([pinned])
        await core.discard_blob(plain)
    assert caplog.records == []


async def test_a_removal_that_fails_is_logged_not_raised(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    pinned, plain = await new_blob(core, "e"), await new_blob(core, "f")
    flaky(core).refused = {blob_path(pinned), blob_path(plain)}
    core.blobs.pin([pinned])
    await core.discard_blob(pinned)
    with caplog.at_level(logging.ERROR, logger="hamster.storage"):
        await core.blobs.unpin([pinned])
        await core.discard_blob(plain)
    assert [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        (logging.ERROR, f"could not remove unreferenced blob {blob}; recovery will", True)
        for blob in (pinned, plain)
    ]
    assert await exists(core, pinned) and await exists(core, plain)
