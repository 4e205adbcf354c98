"""Multipart uploads in the store (`Store.uploads`).

Records (see records.py for the keys): an UploadRecord per upload in
progress, a PartRecord per uploaded part, each part's bytes in its own blob.

Write paths, each one `Core.transaction` for its check-and-commit (core.py:
blob durable, then the record with sync=True, then what the record no
longer points to is removed):
- UploadPart streams the body into a new blob exactly like a PUT (MD5 and
  checksums in the same pass, verified before the blob is made durable),
  then commits the PartRecord if the upload still exists; the blob of the
  part it replaces is removed after that commit.
- CompleteMultipartUpload copies no byte: one batch writes the ObjectRecord,
  whose `parts` point at the chosen part blobs (and `upload_id` names the
  upload), and deletes the upload and all its part records. Then the blobs of
  unused parts and of the object it replaced are removed. The same Complete
  repeated (an SDK retrying after a lost response) finds no upload but the
  object it made, and answers it again; a different part list, or a key
  written since, is NoSuchUpload.
- AbortMultipartUpload (and DeleteBucket) delete the records in one batch,
  then the blobs.
A crash between a commit and the removals leaves orphan blobs, which
recovery removes; recovery keeps every blob a PartRecord or an
ObjectRecord's parts point to.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.s3.conditional import NO_CONDITIONS, WriteConditions, check_write_conditions
from hamster.s3.errors import S3Error
from hamster.storage import parts as partlib
from hamster.storage import records
from hamster.storage.blobs import BodySource
from hamster.storage.core import Core
from hamster.storage.parts import CompletedPart
from hamster.storage.records import ObjectInfo, PartInfo, UploadInfo

log = logging.getLogger("hamster.storage")

MAX_PART_BYTES = 5 * 1024**3
UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}\Z")


@dataclass(frozen=True)
class NewUpload:
    """What CreateMultipartUpload stores for the object to be."""

    bucket: str
    key: str
    initiator: str
    content_type: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    user_metadata: tuple[tuple[str, str], ...] = ()
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class PartRequest:
    bucket: str
    key: str
    upload_id: str
    part_number: int
    content_length: int | None = None
    content_md5: bytes | None = None
    # The client's checksum (x-amz-checksum-* header or trailer), if any.
    checksum_algorithm: str | None = None
    checksum_expected: bytes | None = None  # raw, from a header
    max_size_bytes: int = MAX_PART_BYTES


@dataclass(frozen=True)
class CompleteRequest:
    bucket: str
    key: str
    upload_id: str
    parts: tuple[CompletedPart, ...]
    conditions: WriteConditions = NO_CONDITIONS  # If-Match / If-None-Match
    checksum_type: str | None = None  # x-amz-checksum-type
    checksum_value: tuple[str, str] | None = None  # (algorithm, header text)
    object_size: int | None = None  # x-amz-mp-object-size


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error("NoSuchUpload", extra={"UploadId": upload_id})


def _type_mismatch(expected: str, actual: str) -> S3Error:
    return S3Error(
        "InvalidRequest",
        f"Checksum Type mismatch occurred, expected checksum Type: {expected}, "
        f"actual checksum Type: {actual}",
    )


class Uploads:
    """The multipart operations of one `Store`; see the module docstring."""

    def __init__(self, core: Core, *, min_part_bytes: int) -> None:
        assert min_part_bytes >= 0
        self._core = core
        self.min_part_bytes = min_part_bytes

    # --- reading -------------------------------------------------------------

    async def get(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        """The upload, or NoSuchUpload (NoSuchBucket if the bucket is gone)."""
        if UPLOAD_ID_RE.match(upload_id) is None:
            await self._core.require_bucket(bucket)
            raise no_such_upload(upload_id)
        value = await self._core.read(records.upload_key(bucket, key, upload_id))
        if value is None:
            await self._core.require_bucket(bucket)
            raise no_such_upload(upload_id)
        return records.decode_upload(bucket, value)

    async def list_parts(
        self, upload_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[PartInfo]:
        """The upload's parts numbered above `after`, in order (at most `limit`)."""
        if after >= partlib.PART_NUMBER_MAX:
            return []
        start = records.part_key(upload_id, after) if after > 0 else None
        return [
            records.decode_part(value)
            async for _key, value in self._core.scan(
                records.part_prefix(upload_id), start_after=start, limit=limit
            )
        ]

    async def iter_uploads(
        self,
        bucket: str,
        prefix: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        *,
        skip_under: bool = False,
    ) -> AsyncGenerator[UploadInfo, None]:
        """Uploads of `bucket` whose key starts with `prefix`, by key then upload
        id, after the markers as S3 has them: with `upload_id_marker`, uploads of
        `key_marker` with a greater id and then greater keys; without it, keys
        greater than `key_marker` only. With `skip_under` (no upload id
        marker), keys that start with `key_marker` are skipped too (a listing
        seeking past a common prefix; see `Store.iter_objects`)."""
        assert not (skip_under and upload_id_marker)
        await self._core.require_bucket(bucket)
        base = records.upload_prefix(bucket)
        after: bytes | None = None
        if key_marker and skip_under:
            after = base + key_marker.encode() + b"\xff"
        elif key_marker:
            after = base + key_marker.encode() + b"\x00"
            after += upload_id_marker.encode() if upload_id_marker else b"\xff"
        async for meta_key, value in self._core.scan(
            base + prefix.encode(), start_after=after
        ):
            key, upload_id = records.split_upload_key(bucket, meta_key)
            assert key.startswith(prefix)
            info = records.decode_upload(bucket, value)
            assert (info.key, info.upload_id) == (key, upload_id)
            yield info

    # --- writing -------------------------------------------------------------

    async def create(self, new: NewUpload) -> UploadInfo:
        assert (new.checksum_algorithm is None) == (new.checksum_type is None)
        core = self._core
        info = UploadInfo(
            bucket=new.bucket,
            key=new.key,
            upload_id=core.runtime.new_id(),
            initiated_ns=core.runtime.now_ns(),
            initiator=new.initiator,
            content_type=new.content_type,
            content_encoding=new.content_encoding,
            content_disposition=new.content_disposition,
            content_language=new.content_language,
            cache_control=new.cache_control,
            expires=new.expires,
            user_metadata=new.user_metadata,
            checksum_algorithm=new.checksum_algorithm,
            checksum_type=new.checksum_type,
        )
        await core.space.require()
        async with core.transaction() as batch:
            await core.require_bucket(new.bucket)
            batch.put(
                records.upload_key(info.bucket, info.key, info.upload_id),
                records.encode_upload(info),
            )
        return info

    async def upload_part(
        self,
        req: PartRequest,
        body: BodySource,
        *,
        checksum_at_end: Callable[[], bytes | None] | None = None,
    ) -> tuple[PartInfo, ChecksumValue | None]:
        """Store one part; returns it and the checksum to answer (the client's
        algorithm if it sent one, else the upload's, else none).

        Args:
          checksum_at_end: as for `Store.put_object` (an aws-chunked trailer).

        Raises: NoSuchUpload; InvalidRequest when the client's checksum is of
        another algorithm than the upload's, or missing for a COMPOSITE
        upload; and every refusal of a PUT body (BadDigest, IncompleteBody,
        EntityTooLarge, ...). Nothing is left behind on failure.
        """
        assert partlib.PART_NUMBER_MIN <= req.part_number <= partlib.PART_NUMBER_MAX
        upload = await self.get(req.bucket, req.key, req.upload_id)
        client = req.checksum_algorithm
        wanted = upload.checksum_algorithm
        if wanted is not None:
            if client is not None and client != wanted:
                raise _type_mismatch(wanted, client)
            if client is None and upload.checksum_type == integrity.COMPOSITE:
                raise _type_mismatch(wanted, "null")
        stored_algorithm = wanted or integrity.DEFAULT_ALGORITHM
        computed = client or stored_algorithm
        expected_checksum = checksum_at_end
        if req.checksum_expected is not None:
            assert client is not None and checksum_at_end is None
            header_value = req.checksum_expected
            expected_checksum = lambda: header_value  # noqa: E731
        core = self._core
        await core.space.require(req.content_length or 0)
        blob_id = core.runtime.new_id()
        written = await core.blobs.write(
            blob_id,
            body,
            content_length=req.content_length,
            max_size_bytes=req.max_size_bytes,
            content_md5=req.content_md5,
            checksum_algorithm=computed,
            expected_checksum=expected_checksum,
            extra_checksum_algorithm=stored_algorithm if computed != stored_algorithm else None,
        )
        assert written.checksum is not None
        stored_digest = written.checksum if computed == stored_algorithm else written.extra_checksum
        assert stored_digest is not None
        part = PartInfo(
            part_number=req.part_number,
            blob_id=blob_id,
            size=written.size,
            etag=written.md5.hex(),
            last_modified_ns=core.runtime.now_ns(),
            checksum=ChecksumValue(stored_algorithm, stored_digest),
        )
        async with core.transaction(new_blobs=[blob_id]) as batch:
            await self.get(req.bucket, req.key, req.upload_id)  # not completed or aborted
            key = records.part_key(req.upload_id, req.part_number)
            previous = await core.read(key)
            batch.put(key, records.encode_part(part))
            if previous is not None:
                batch.discard_after([records.decode_part(previous).blob_id])
        answer: ChecksumValue | None = None
        if client is not None:
            answer = ChecksumValue(client, written.checksum)
        elif wanted is not None:
            answer = part.checksum
        return part, answer

    async def complete(self, req: CompleteRequest) -> ObjectInfo:
        """Make the object of the listed parts; see the module docstring.

        Raises: NoSuchUpload, NoSuchBucket, the refusals of
        `parts.select_parts`, InvalidRequest (checksum type or object size
        not the upload's), BadDigest (a whole-object checksum that differs),
        PreconditionFailed / NoSuchKey (If-None-Match / If-Match), StorageFull
        (below the minimum free space; not for a retry of a Complete that
        made its object, which writes nothing and gets the same answer).
        """
        core = self._core
        async with core.transaction() as batch:
            try:
                upload = await self.get(req.bucket, req.key, req.upload_id)
            except S3Error as error:
                done = None
                if error.code == "NoSuchUpload":
                    done = await self._completed_by(req)
                if done is None:
                    raise
                return done  # a retry of the Complete that made it: the same answer
            await core.space.require()
            if req.checksum_type is not None and req.checksum_type != upload.checksum_type:
                raise S3Error(
                    "InvalidRequest",
                    f"The upload was created using the {upload.checksum_type or 'null'} "
                    "checksum mode. The complete request must use the same checksum mode.",
                )
            uploaded = {p.part_number: p for p in await self.list_parts(req.upload_id)}
            chosen = partlib.select_parts(
                req.parts,
                uploaded,
                upload_id=req.upload_id,
                algorithm=upload.checksum_algorithm,
                min_part_bytes=self.min_part_bytes,
            )
            size = sum(p.size for p in chosen)
            if req.object_size is not None and req.object_size != size:
                raise S3Error(
                    "InvalidRequest",
                    f"The provided 'x-amz-mp-object-size' header value {req.object_size} "
                    f"does not match what was computed: {size}",
                )
            checksum = partlib.object_checksum(
                upload.checksum_algorithm, upload.checksum_type, chosen
            )
            if req.checksum_value is not None:
                algorithm, text = req.checksum_value
                if algorithm != checksum.algorithm:
                    raise _type_mismatch(checksum.algorithm, algorithm)
                sent = integrity.parse_object_value(algorithm, text, len(chosen))
                integrity.check(algorithm, sent, checksum.value)
            old = await core.get_object(req.bucket, req.key)
            check_write_conditions(
                req.conditions, None if old is None else old.etag, key=req.key
            )
            info = ObjectInfo(
                bucket=req.bucket,
                key=req.key,
                size=size,
                etag=partlib.multipart_etag([p.etag for p in chosen]),
                last_modified_ns=core.runtime.now_ns(),
                content_type=upload.content_type,
                content_encoding=upload.content_encoding,
                content_disposition=upload.content_disposition,
                content_language=upload.content_language,
                cache_control=upload.cache_control,
                expires=upload.expires,
                user_metadata=upload.user_metadata,
                blob_id="",
                checksum=checksum,
                parts=tuple(
                    PartInfo(p.part_number, p.blob_id, p.size, p.etag, 0, p.checksum)
                    for p in chosen
                ),
                upload_id=req.upload_id,
            )
            used = {p.blob_id for p in chosen}
            batch.put(records.object_key(req.bucket, req.key), records.encode_object(info))
            batch.delete(records.upload_key(req.bucket, req.key, req.upload_id))
            batch.deletes.extend(records.part_key(req.upload_id, n) for n in uploaded)
            batch.discard_after(p.blob_id for p in uploaded.values() if p.blob_id not in used)
            if old is not None:
                batch.discard_after(old.blob_ids)
        return info

    async def check_completable(self, bucket: str, key: str, upload_id: str) -> None:
        """NoSuchUpload (NoSuchBucket) unless `upload_id` is in progress at `key`
        or made the object there (a Complete repeated): the check before a
        Complete's body is read."""
        try:
            await self.get(bucket, key, upload_id)
        except S3Error as error:
            if error.code != "NoSuchUpload":
                raise
            current = await self._core.get_object(bucket, key)
            if current is None or not current.upload_id or current.upload_id != upload_id:
                raise

    async def _completed_by(self, req: CompleteRequest) -> ObjectInfo | None:
        """The object at the key if `req` repeats the Complete that made it: the
        same upload, the same part numbers and ETags in the same order. None
        otherwise (another list, or the key written since: NoSuchUpload)."""
        current = await self._core.get_object(req.bucket, req.key)
        if current is None or not current.upload_id or current.upload_id != req.upload_id:
            return None
        made_of = [(p.part_number, p.etag) for p in current.parts]
        if made_of != [(p.part_number, p.etag) for p in req.parts]:
            return None
        return current

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Delete the upload and its parts (NoSuchUpload if there is none)."""
        async with self._core.transaction() as batch:
            await self.get(bucket, key, upload_id)
            existing = await self.list_parts(upload_id)
            batch.delete(records.upload_key(bucket, key, upload_id))
            batch.deletes.extend(records.part_key(upload_id, p.part_number) for p in existing)
            batch.discard_after(p.blob_id for p in existing)

    async def bucket_upload_records(self, bucket: str) -> tuple[list[bytes], list[str]]:
        """The metadata keys of every upload and part of `bucket`, and the part
        blob ids (for `Store.delete_bucket`, under the commit lock)."""
        keys: list[bytes] = []
        blob_ids: list[str] = []
        async for meta_key, _value in self._core.scan(records.upload_prefix(bucket)):
            keys.append(meta_key)
            _key, upload_id = records.split_upload_key(bucket, meta_key)
            for part in await self.list_parts(upload_id):
                keys.append(records.part_key(upload_id, part.part_number))
                blob_ids.append(part.blob_id)
        return keys, blob_ids
