"""Store multipart: the exact answers (codes, messages, error details) of
CompleteMultipartUpload, UploadPart and the listings, and what the object a
Complete makes carries over from its upload and parts."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.runtime import Runtime
from hamster.s3.conditional import WriteConditions
from hamster.s3.errors import S3Error
from hamster.storage import Store
from hamster.storage.multipart import CompleteRequest, PartRequest
from hamster.storage.parts import CompletedPart
from hamster.storage.records import PartInfo, UploadInfo

from .bodies import BytesBody
from .conftest import FixedClock
from .test_multipart import MIN_PART, OWNER, blob_count, complete, create, part, read

UPLOAD_TEXT = (
    "The specified upload does not exist. The upload ID may be invalid, or the upload "
    "may have been aborted or completed."
)


def piece(label: str, size: int) -> bytes:
    """Position-dependent bytes, distinct per label."""
    return hashlib.shake_256(label.encode()).digest(size)


PIECES = [piece("one", MIN_PART + 3), piece("two", MIN_PART), piece("three", 5)]
DATA = b"".join(PIECES)


class HashEntropy:
    """Deterministic ids that look random: half of them start with a-f."""

    def __init__(self) -> None:
        self._n = 0

    def token_bytes(self, n: int) -> bytes:
        self._n += 1
        return hashlib.sha256(b"%d" % self._n).digest()[:n]


@pytest.fixture
async def mp(tmp_path: Path) -> AsyncIterator[Store]:
    runtime = Runtime(clock=FixedClock(), entropy=HashEntropy())
    s = await Store.open(str(tmp_path / "data"), runtime, min_part_bytes=MIN_PART)
    await s.create_bucket("bk", OWNER, "us-east-1")
    try:
        yield s
    finally:
        await s.close()


def answer(excinfo: pytest.ExceptionInfo[S3Error]) -> tuple[str, int, str, list[tuple[str, str]]]:
    e = excinfo.value
    return e.code, e.status, e.text, list((e.extra or {}).items())


async def refusal(coro: object) -> tuple[str, int, str, list[tuple[str, str]]]:
    with pytest.raises(S3Error) as e:
        await coro  # type: ignore[misc]
    return answer(e)


async def uploaded(store: Store, key: str = "k", **kw: object) -> tuple[UploadInfo, list[PartInfo]]:
    upload = await create(store, key, **kw)
    return upload, [await part(store, upload, i + 1, d) for i, d in enumerate(PIECES)]


async def still_there(store: Store, upload: UploadInfo, key: str = "k") -> None:
    """A refused Complete changed nothing: the upload and its parts are
    there, no object at the key."""
    assert await store.uploads.get("bk", key, upload.upload_id) == upload
    assert len(await store.uploads.list_parts(upload.upload_id)) == len(PIECES)
    assert await store.get_object_info("bk", key) is None


# --- CompleteMultipartUpload refusals -------------------------------------------


async def test_complete_of_a_missing_bucket_or_upload(mp: Store) -> None:
    upload, parts = await uploaded(mp)
    req = CompleteRequest("nobucket", "k", upload.upload_id, (CompletedPart(1, parts[0].etag),))
    assert await refusal(mp.uploads.complete(req)) == (
        "NoSuchBucket",
        404,
        "The specified bucket does not exist",
        [("BucketName", "nobucket")],
    )
    other = "f" * 32
    req = CompleteRequest("bk", "k", other, (CompletedPart(1, parts[0].etag),))
    assert await refusal(mp.uploads.complete(req)) == (
        "NoSuchUpload",
        404,
        UPLOAD_TEXT,
        [("UploadId", other)],
    )
    await still_there(mp, upload)


async def test_complete_checksum_mode_must_be_the_uploads(mp: Store) -> None:
    plain, plain_parts = await uploaded(mp, "plain")
    assert await refusal(complete(mp, plain, plain_parts, checksum_type="COMPOSITE")) == (
        "InvalidRequest",
        400,
        "The upload was created using the null checksum mode. The complete request must "
        "use the same checksum mode.",
        [],
    )
    full, full_parts = await uploaded(
        mp, "full", checksum_algorithm="CRC32C", checksum_type="FULL_OBJECT"
    )
    assert await refusal(complete(mp, full, full_parts, checksum_type="COMPOSITE")) == (
        "InvalidRequest",
        400,
        "The upload was created using the FULL_OBJECT checksum mode. The complete request "
        "must use the same checksum mode.",
        [],
    )
    await still_there(mp, plain, "plain")
    await still_there(mp, full, "full")
    # The same mode named again is fine.
    info = await complete(mp, full, full_parts, checksum_type="FULL_OBJECT")
    assert info.checksum == ChecksumValue("CRC32C", integrity.compute("CRC32C", DATA))


async def test_complete_object_size_must_match(mp: Store) -> None:
    upload, parts = await uploaded(mp)
    assert await refusal(complete(mp, upload, parts, object_size=len(DATA) + 1)) == (
        "InvalidRequest",
        400,
        f"The provided 'x-amz-mp-object-size' header value {len(DATA) + 1} does not match "
        f"what was computed: {len(DATA)}",
        [],
    )
    await still_there(mp, upload)
    assert (await complete(mp, upload, parts, object_size=len(DATA))).size == len(DATA)


async def test_complete_names_its_upload_in_part_refusals(mp: Store) -> None:
    upload, parts = await uploaded(mp)
    wrong = PartInfo(2, parts[1].blob_id, parts[1].size, "0" * 32)
    assert await refusal(complete(mp, upload, [parts[0], wrong])) == (
        "InvalidPart",
        400,
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
        [("UploadId", upload.upload_id), ("PartNumber", "2"), ("ETag", "0" * 32)],
    )
    assert await refusal(complete(mp, upload, [parts[1], parts[0]])) == (
        "InvalidPartOrder",
        400,
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
        [("UploadId", upload.upload_id)],
    )
    await still_there(mp, upload)


async def test_complete_whole_object_checksum_answers(mp: Store) -> None:
    upload, parts = await uploaded(mp, checksum_algorithm="CRC32", checksum_type="COMPOSITE")
    composite = integrity.composite("CRC32", [integrity.compute("CRC32", d) for d in PIECES])
    assert composite.text.endswith("-3")
    # Another algorithm than the upload's.
    sha1 = ChecksumValue("SHA1", hashlib.sha1(DATA).digest()).b64
    assert await refusal(complete(mp, upload, parts, checksum_value=("SHA1", sha1))) == (
        "InvalidRequest",
        400,
        "Checksum Type mismatch occurred, expected checksum Type: CRC32, actual checksum "
        "Type: SHA1",
        [],
    )
    # The right algorithm, the wrong value.
    wrong = ChecksumValue("CRC32", b"\x00\x00\x00\x01").b64 + "-3"
    assert await refusal(complete(mp, upload, parts, checksum_value=("CRC32", wrong))) == (
        "BadDigest",
        400,
        "The CRC32 you specified did not match the calculated checksum.",
        [],
    )
    # The part count after "-" must be the number of parts.
    two = composite.b64 + "-2"
    assert await refusal(complete(mp, upload, parts, checksum_value=("CRC32", two))) == (
        "InvalidRequest",
        400,
        "Value for x-amz-checksum-crc32 header is invalid.",
        [],
    )
    await still_there(mp, upload)
    info = await complete(mp, upload, parts, checksum_value=("CRC32", composite.text))
    assert info.checksum == composite


async def test_complete_default_checksum_is_crc64nvme(mp: Store) -> None:
    upload, parts = await uploaded(mp)
    crc32 = ChecksumValue("CRC32", integrity.compute("CRC32", DATA)).b64
    assert await refusal(complete(mp, upload, parts, checksum_value=("CRC32", crc32))) == (
        "InvalidRequest",
        400,
        "Checksum Type mismatch occurred, expected checksum Type: CRC64NVME, actual "
        "checksum Type: CRC32",
        [],
    )
    right = ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", DATA)).b64
    info = await complete(mp, upload, parts, checksum_value=("CRC64NVME", right))
    assert info.checksum == ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", DATA))


async def test_complete_if_match_on_a_missing_key(mp: Store) -> None:
    upload, parts = await uploaded(mp, "fresh")
    conditions = WriteConditions(if_match="*")
    assert await refusal(complete(mp, upload, parts, conditions=conditions)) == (
        "NoSuchKey",
        404,
        "The specified key does not exist.",
        [("Key", "fresh")],
    )
    await still_there(mp, upload, "fresh")


# --- what the object carries ----------------------------------------------------


async def test_the_object_carries_the_uploads_headers_and_the_parts_checksums(
    mp: Store,
) -> None:
    headers = {
        "content_type": "text/csv",
        "content_encoding": "gzip",
        "content_disposition": 'attachment; filename="a.csv"',
        "content_language": "de-CH",
        "cache_control": "max-age=60",
        "expires": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    upload, parts = await uploaded(
        mp,
        user_metadata=(("color", "blue"), ("shape", "round")),
        checksum_algorithm="SHA256",
        checksum_type="COMPOSITE",
        **headers,
    )
    info = await complete(mp, upload, parts)
    for name, value in headers.items():
        assert getattr(info, name) == value, name
    assert info.user_metadata == (("color", "blue"), ("shape", "round"))
    sha256 = [hashlib.sha256(d).digest() for d in PIECES]
    assert info.parts == tuple(
        PartInfo(
            n + 1,
            p.blob_id,
            len(d),
            hashlib.md5(d).hexdigest(),
            0,
            ChecksumValue("SHA256", sha256[n]),
        )
        for n, (p, d) in enumerate(zip(parts, PIECES, strict=True))
    )
    assert info.checksum == integrity.composite("SHA256", sha256)
    assert await mp.head_object("bk", "k") == info
    assert await read(mp, "k") == DATA


# --- UploadPart -----------------------------------------------------------------


async def test_upload_part_to_a_missing_upload_or_bucket(mp: Store) -> None:
    upload = await create(mp)
    for upload_id in ("f" * 32, "not-an-id"):
        req = PartRequest("bk", "k", upload_id, 1)
        assert await refusal(mp.uploads.upload_part(req, BytesBody(PIECES[0]))) == (
            "NoSuchUpload",
            404,
            UPLOAD_TEXT,
            [("UploadId", upload_id)],
        )
    # The upload of another key is not this key's.
    req = PartRequest("bk", "other", upload.upload_id, 1)
    assert await refusal(mp.uploads.upload_part(req, BytesBody(PIECES[0]))) == (
        "NoSuchUpload",
        404,
        UPLOAD_TEXT,
        [("UploadId", upload.upload_id)],
    )
    for upload_id in (upload.upload_id, "not-an-id"):
        req = PartRequest("nobucket", "k", upload_id, 1)
        assert await refusal(mp.uploads.upload_part(req, BytesBody(PIECES[0]))) == (
            "NoSuchBucket",
            404,
            "The specified bucket does not exist",
            [("BucketName", "nobucket")],
        )
    assert blob_count(mp) == 0
    assert await mp.uploads.list_parts(upload.upload_id) == []


# --- listings -------------------------------------------------------------------


async def test_list_parts_after_and_limit(mp: Store) -> None:
    upload = await create(mp)
    for n in (1, 2, 5, 9):
        await part(mp, upload, n, piece(f"p{n}", n))

    async def numbers(**kw: int) -> list[int]:
        return [p.part_number for p in await mp.uploads.list_parts(upload.upload_id, **kw)]

    assert await numbers() == [1, 2, 5, 9]
    assert await numbers(after=1) == [2, 5, 9]
    assert await numbers(after=2) == [5, 9]
    assert await numbers(limit=1) == [1]
    assert await numbers(after=1, limit=2) == [2, 5]
    assert await numbers(after=9) == []


async def test_iter_uploads_markers_at_their_edges(mp: Store) -> None:
    keys = ["k", "k", "0", "A", "k", "a", "a/b", "aZ", "b", "k", "k/x", "kk"]
    made = [await create(mp, key) for key in keys]
    order = sorted((u.key, u.upload_id) for u in made)
    # Upload ids of "k" on both sides of "X" (0x58): digits and a-f.
    assert {u.upload_id[0] in "abcdef" for u in made if u.key == "k"} == {True, False}

    async def listed(**kw: object) -> list[tuple[str, str]]:
        out = []
        async for u in mp.uploads.iter_uploads("bk", **kw):  # type: ignore[arg-type]
            assert u.bucket == "bk"
            assert u == next(m for m in made if m.upload_id == u.upload_id)
            out.append((u.key, u.upload_id))
        return out

    assert await listed() == order
    # Without an upload id marker: keys after the marker only (no upload of "k").
    assert await listed(key_marker="k") == [x for x in order if x[0] > "k"]
    # Rolled up under a common prefix: no key that starts with the marker.
    assert await listed(key_marker="a", skip_under=True) == [
        x for x in order if x[0] > "a" and not x[0].startswith("a")
    ]
    assert await listed(key_marker="k/", skip_under=True) == [("kk", order[-1][1])]
    # With an upload id marker: that key's later ids, then greater keys.
    ks = [x for x in order if x[0] == "k"]
    assert await listed(key_marker="k", upload_id_marker=ks[1][1]) == [
        x for x in order if x > ks[1]
    ]
    assert await listed(prefix="a") == [x for x in order if x[0].startswith("a")]
    assert await listed(prefix="k", key_marker="k") == [x for x in order if x[0] in ("k/x", "kk")]


# --- CreateMultipartUpload and UploadPart ---------------------------------------


async def test_create_stores_what_the_upload_was_created_with(mp: Store) -> None:
    fields: dict[str, Any] = {
        "content_type": "text/csv",
        "content_encoding": "gzip",
        "content_disposition": "inline",
        "content_language": "fr",
        "cache_control": "no-cache",
        "expires": "Thu, 01 Jan 2037 00:00:00 GMT",
        "user_metadata": (("a", "1"),),
        "checksum_algorithm": "CRC32",
        "checksum_type": "FULL_OBJECT",
    }
    before = mp.runtime.now_ns()
    upload = await create(mp, **fields)
    after = mp.runtime.now_ns()
    assert before < upload.initiated_ns < after
    assert upload == UploadInfo(
        bucket="bk",
        key="k",
        upload_id=upload.upload_id,
        initiated_ns=upload.initiated_ns,
        initiator=OWNER,
        **fields,
    )
    assert await mp.uploads.get("bk", "k", upload.upload_id) == upload
    assert [u async for u in mp.uploads.iter_uploads("bk")] == [upload]


async def test_upload_part_answers_and_stores(mp: Store) -> None:
    data = PIECES[0]
    crc64 = ChecksumValue("CRC64NVME", integrity.compute("CRC64NVME", data))
    # No algorithm anywhere: the part keeps a CRC64NVME, the answer names none.
    plain = await create(mp, "plain")
    before = mp.runtime.now_ns()
    info, answer = await mp.uploads.upload_part(
        PartRequest("bk", "plain", plain.upload_id, 3), BytesBody(data)
    )
    assert answer is None
    assert info == PartInfo(
        3, info.blob_id, len(data), hashlib.md5(data).hexdigest(), info.last_modified_ns, crc64
    )
    assert info.last_modified_ns > before
    assert await mp.uploads.list_parts(plain.upload_id) == [info]
    # A FULL_OBJECT upload takes a part without a checksum and answers its own.
    full = await create(mp, "full", checksum_algorithm="CRC32", checksum_type="FULL_OBJECT")
    info, answer = await mp.uploads.upload_part(
        PartRequest("bk", "full", full.upload_id, 1), BytesBody(data)
    )
    assert answer == info.checksum == ChecksumValue("CRC32", integrity.compute("CRC32", data))
    # A COMPOSITE one does not.
    composite = await create(mp, "comp", checksum_algorithm="CRC32C", checksum_type="COMPOSITE")
    req = PartRequest("bk", "comp", composite.upload_id, 1)
    assert await refusal(mp.uploads.upload_part(req, BytesBody(data))) == (
        "InvalidRequest",
        400,
        "Checksum Type mismatch occurred, expected checksum Type: CRC32C, actual checksum "
        "Type: null",
        [],
    )
    assert await mp.uploads.list_parts(composite.upload_id) == []


async def test_upload_part_checks_a_trailing_checksum_and_the_length(mp: Store) -> None:
    upload = await create(mp, checksum_algorithm="SHA1", checksum_type="COMPOSITE")
    data = PIECES[1]
    blobs = blob_count(mp)
    req = PartRequest("bk", "k", upload.upload_id, 1, checksum_algorithm="SHA1")
    wrong = hashlib.sha1(data[:-1]).digest()
    with pytest.raises(S3Error) as e:
        await mp.uploads.upload_part(req, BytesBody(data), checksum_at_end=lambda: wrong)
    assert answer(e) == (
        "BadDigest",
        400,
        "The SHA1 you specified did not match the calculated checksum.",
        [],
    )
    short = PartRequest(
        "bk",
        "k",
        upload.upload_id,
        1,
        content_length=len(data) + 1,
        checksum_algorithm="SHA1",
        checksum_expected=hashlib.sha1(data).digest(),
    )
    assert (await refusal(mp.uploads.upload_part(short, BytesBody(data))))[:2] == (
        "IncompleteBody",
        400,
    )
    assert blob_count(mp) == blobs
    assert await mp.uploads.list_parts(upload.upload_id) == []
    right = hashlib.sha1(data).digest()
    info, answered = await mp.uploads.upload_part(
        req, BytesBody(data), checksum_at_end=lambda: right
    )
    assert answered == info.checksum == ChecksumValue("SHA1", right)
    # A header value needs its algorithm named.
    plain = await create(mp, "plain")
    bare = PartRequest("bk", "plain", plain.upload_id, 1, checksum_expected=right)
    with pytest.raises(AssertionError):
        await mp.uploads.upload_part(bare, BytesBody(data))


async def test_a_retried_complete_must_be_of_the_upload_that_made_the_object(
    mp: Store,
) -> None:
    first, parts = await uploaded(mp)
    made = await complete(mp, first, parts)
    # Another upload of the same key and the same bytes (same part ETags),
    # aborted: its Complete is NoSuchUpload, not the first upload's object.
    second, second_parts = await uploaded(mp)
    assert [p.etag for p in second_parts] == [p.etag for p in parts]
    await mp.uploads.abort("bk", "k", second.upload_id)
    assert await refusal(complete(mp, second, second_parts)) == (
        "NoSuchUpload",
        404,
        UPLOAD_TEXT,
        [("UploadId", second.upload_id)],
    )
    check = mp.uploads.check_completable("bk", "k", second.upload_id)
    assert (await refusal(check))[0] == "NoSuchUpload"
    assert await complete(mp, first, parts) == made
