"""Server-side copy in the store: what `Store.copy_object` and
`Store.upload_part_copy` are asked to do, and the source bytes as a body.

A copy reads its source through an `ObjectReader` (the source's blobs are
pinned while it reads, so a concurrent overwrite or delete of the source
cannot take the bytes away) and writes a new blob through the same
`BlobStore.write` as a PUT: bounded memory (1 MiB chunks, one in flight),
MD5 and checksum in the same pass, the blob synced and renamed before any
record points to it, and the record committed by `Core.transaction`.

A whole-object copy also checks what it read against the source's record
(the MD5 of a single-part source, a FULL_OBJECT checksum of the same
algorithm): a mismatch means the stored data is damaged, and the copy fails
with InternalError instead of spreading it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

from hamster import integrity
from hamster.s3.conditional import NO_CONDITIONS, WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage.blobs import CHUNK_BYTES
from hamster.storage.records import ObjectInfo, StandardHeaders

log = logging.getLogger("hamster.storage")

__all__ = ["CopyRequest", "NewMetadata", "PartCopyRequest", "SpanBody"]


@dataclass(frozen=True)
class NewMetadata:
    """The metadata a copy with ``x-amz-metadata-directive: REPLACE`` stores."""

    headers: StandardHeaders
    user_metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CopyRequest:
    """CopyObject: copy source_bucket/source_key to bucket/key.

    Attributes:
      metadata: the new object's metadata; None keeps the source's (COPY).
      checksum_algorithm: computed over the copy; None: the source's
        algorithm (CRC64NVME if it has none).
      conditions: the destination's If-Match / If-None-Match, as for
        `PutRequest`.
    """

    source_bucket: str
    source_key: str
    bucket: str
    key: str
    metadata: NewMetadata | None = None
    checksum_algorithm: str | None = None
    conditions: WriteConditions = NO_CONDITIONS

    @property
    def onto_itself(self) -> bool:
        return (self.source_bucket, self.source_key) == (self.bucket, self.key)


@dataclass(frozen=True)
class PartCopyRequest:
    """UploadPartCopy: part `part_number` of the upload is bytes of the source."""

    bucket: str
    key: str
    upload_id: str
    part_number: int
    source_bucket: str
    source_key: str


class _Stream(Protocol):
    """What `SpanBody` reads from (an `ObjectReader`)."""

    def stream(self, start: int, length: int, chunk_bytes: int) -> AsyncIterator[bytes]: ...


class SpanBody:
    """Bytes [start, start+length) of an open object as a `BodySource`.

    Chunks come from the reader as it reads them (`chunk_bytes` at a time)
    and go to the blob writer as they are when it asks for as much, so a
    copy holds no more than a chunk or two. Call `aclose` when done.
    """

    def __init__(
        self, reader: _Stream, start: int, length: int, *, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self._chunks = reader.stream(start, length, chunk_bytes)
        self._pending = memoryview(b"")

    async def read(self, max_bytes: int) -> bytes:
        assert max_bytes > 0
        if not self._pending:
            chunk = await anext(self._chunks, b"")
            if len(chunk) <= max_bytes:
                return chunk
            self._pending = memoryview(chunk)
        out = self._pending[:max_bytes]
        self._pending = self._pending[max_bytes:]
        return bytes(out)

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)  # an async generator's
        if aclose is not None:
            await aclose()


def source_md5(source: ObjectInfo, start: int, length: int) -> bytes | None:
    """The MD5 the bytes read must have, when the record knows it: a whole
    single-part source, whose ETag is the MD5 of its bytes."""
    if source.parts or (start, length) != (0, source.size) or len(source.etag) != 32:
        return None
    try:
        return bytes.fromhex(source.etag)
    except ValueError:
        return None


def source_checksum(source: ObjectInfo, start: int, length: int, algorithm: str) -> bytes | None:
    """The `algorithm` digest the bytes read must have, when the record knows
    it: a whole source whose checksum is FULL_OBJECT of that algorithm."""
    checksum = source.checksum
    if (
        checksum is None
        or checksum.algorithm != algorithm
        or checksum.type != integrity.FULL_OBJECT
        or (start, length) != (0, source.size)
    ):
        return None
    return checksum.value


@contextlib.contextmanager
def damaged_source(source: ObjectInfo) -> Iterator[None]:
    """A BadDigest while copying means the source's bytes are not those its
    record describes (nobody sent a digest): InternalError, logged."""
    try:
        yield
    except S3Error as error:
        if error.code != "BadDigest":
            raise
        log.error(
            "object %s/%s: its data does not match its record (%s); refusing to copy it",
            source.bucket,
            source.key,
            error.text,
        )
        raise S3Error(
            "InternalError", message=f"The data of object {source.key!r} is damaged."
        ) from None
