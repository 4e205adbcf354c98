"""BlobStore.write's buffering: whatever the read sizes, the blob holds the
body's bytes and its digests, and the file is written in whole chunks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hamster import integrity
from hamster.storage.blobs import BLOBS_DIR, TMP_DIR, BlobStore, blob_path
from hamster.storage.fs import RealFile, RealFileSystem

from .bodies import BytesBody
from .conftest import make_runtime

CHUNK_BYTES = 1000
BLOB_ID = "ab" + "0" * 30


class RecordingFs(RealFileSystem):
    """Records the size of every write to a file opened for writing."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.write_sizes: list[int] = []

    async def open_write(self, path: str) -> RealFile:
        f = await super().open_write(path)
        inner = f.write

        async def write(data: bytes | bytearray | memoryview) -> None:
            self.write_sizes.append(len(data))
            await inner(data)

        f.write = write  # type: ignore[method-assign]
        return f


@pytest.mark.parametrize("piece_bytes", [1, 7, CHUNK_BYTES - 1, CHUNK_BYTES, 100_000])
@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, 3 * CHUNK_BYTES, 3 * CHUNK_BYTES + 17])
async def test_write_keeps_bytes_and_digests_whatever_the_read_sizes(
    tmp_path: Path, piece_bytes: int, size: int
) -> None:
    fs = RecordingFs(str(tmp_path))
    for path in (TMP_DIR, BLOBS_DIR):
        await fs.makedirs(path)
    data = bytes(i * 7 % 251 for i in range(size))
    written = await BlobStore(fs, make_runtime(), chunk_bytes=CHUNK_BYTES).write(
        BLOB_ID,
        BytesBody(data, piece_bytes),
        content_length=size,
        max_size_bytes=size,
        content_md5=hashlib.md5(data).digest(),
        checksum_algorithm="CRC64NVME",
        expected_checksum=lambda: integrity.compute("CRC64NVME", data),
        extra_checksum_algorithm="SHA256",
    )
    assert (written.size, written.md5) == (size, hashlib.md5(data).digest())
    assert written.extra_checksum == hashlib.sha256(data).digest()
    assert (tmp_path / blob_path(BLOB_ID)).read_bytes() == data
    # Whole chunks, then what is left.
    full, rest = divmod(size, CHUNK_BYTES)
    assert fs.write_sizes == [CHUNK_BYTES] * full + ([rest] if rest else [])
