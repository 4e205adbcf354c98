"""The full cross-check's report and log (`recover_by_scan`: the last
recovery of a store of format 1, at its first start by this version; fsck's
check): what it counts and says for temp files, orphans, stray files,
unexpected entries and records that miss their blob, and that an entry gone
by the time it is removed is no error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hamster.runtime import Runtime
from hamster.storage import PutRequest, Store, records
from hamster.storage.blobs import blob_path
from hamster.storage.fs import RealFileSystem
from tests.patterns import pattern

from .bodies import BytesBody
from .test_write_order import RecordingFS


async def populated(data_dir: Path, runtime: Runtime, keys: tuple[str, ...]) -> dict[str, str]:
    """A store with one object per key, closed; returns key -> blob id."""
    store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    await store.create_bucket("bk", "owner", "us-east-1")
    ids = {}
    for key in keys:
        info = await store.put_object(PutRequest("bk", key), BytesBody(pattern(40, key)))
        ids[key] = info.blob_id
    # As the previous version left it: format 1, so the next start scans.
    old = records.encode_store_info(1, version=records.STORE_FORMAT_SCANNED)
    await store.meta.write([(records.STORE_INFO_KEY, old)], [], sync=True)
    await store.close()
    return ids


UPGRADED = (
    logging.WARNING,
    "data directory upgraded from format 1 to 2 (an older Hamster refuses it from now on)",
)


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


async def test_recovery_counts_and_says_what_it_did(
    tmp_path: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime, ("keep", "lost"))
    for name in ("a" * 32, "b" * 32):
        (data_dir / "tmp" / name).write_bytes(b"half")
    # An entry of blobs/ that is no blob directory: left alone, with what is in it.
    (data_dir / "blobs" / "0").mkdir()
    (data_dir / "blobs" / "0" / "x").write_bytes(b"?")
    # Orphans in two directories (sorting after "0"), and a stray file.
    orphans = ["ab" + "1" * 30, "ab" + "2" * 30, "cd" + "3" * 30]
    for orphan in orphans:
        (data_dir / blob_path(orphan)).parent.mkdir(exist_ok=True)
        (data_dir / blob_path(orphan)).write_bytes(b"orphan")
    (data_dir / "blobs" / "ab" / "junk.txt").write_bytes(b"?")
    (data_dir / blob_path(ids["lost"])).unlink()

    with caplog.at_level(logging.WARNING, logger="hamster.storage"):
        store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    try:
        report = store.recovery
        assert (report.tmp_removed, report.orphans_removed, report.blobs_kept) == (2, 4, 1)
        assert report.missing == [(b"o/bk\x00lost", ids["lost"])]
        assert messages(caplog) == [
            (logging.WARNING, "recovery: unexpected entry blobs/0 left alone"),
            (logging.WARNING, "recovery: removing stray file blobs/ab/junk.txt"),
            (
                logging.ERROR,
                f"recovery: record {b'o/bk' + bytes(1) + b'lost'!r} points to missing blob "
                f"{ids['lost']}; it will be refused with InternalError, not served",
            ),
            (
                logging.WARNING,
                "recovery: removed 2 temp files and 4 orphan blobs; 1 records miss their blob",
            ),
            UPGRADED,
        ]
        assert (data_dir / "blobs" / "0" / "x").exists()
        assert not any((data_dir / blob_path(o)).exists() for o in orphans)
        assert (data_dir / blob_path(ids["keep"])).exists()
    finally:
        await store.close()


@pytest.mark.parametrize("left", ["tmp", "orphan"])
async def test_recovery_reports_any_one_kind_of_leftover(
    tmp_path: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture, left: str
) -> None:
    data_dir = tmp_path / "d"
    await populated(data_dir, runtime, ("k",))
    if left == "tmp":
        (data_dir / "tmp" / ("a" * 32)).write_bytes(b"half")
    else:
        orphan = "ef" + "4" * 30
        (data_dir / "blobs" / "ef").mkdir()
        (data_dir / blob_path(orphan)).write_bytes(b"orphan")
    with caplog.at_level(logging.WARNING, logger="hamster.storage"):
        store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    await store.close()
    counts = (1, 0) if left == "tmp" else (0, 1)
    assert messages(caplog) == [
        (
            logging.WARNING,
            f"recovery: removed {counts[0]} temp files and {counts[1]} orphan blobs; "
            "0 records miss their blob",
        ),
        UPGRADED,
    ]


async def test_a_clean_store_recovers_silently(
    tmp_path: Path, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "d"
    await populated(data_dir, runtime, ("k1", "k2"))
    with caplog.at_level(logging.DEBUG, logger="hamster.storage"):
        store = await Store.open(str(data_dir), runtime, inline_max_bytes=0)
    await store.close()
    assert messages(caplog) == [UPGRADED]
    assert (store.recovery.tmp_removed, store.recovery.orphans_removed) == (0, 0)
    assert (store.recovery.blobs_kept, store.recovery.missing) == (2, [])


class PhantomFS(RecordingFS):
    """Lists an entry that is gone by the time it is removed (in tmp/ and in
    a blob directory), as if something else removed it in between."""

    def __init__(self, root: Path, phantoms: dict[str, str]) -> None:
        super().__init__(RealFileSystem(str(root)), [])
        self.phantoms = phantoms

    async def listdir(self, path: str) -> list[str]:
        names = await self.inner.listdir(path)
        if path in self.phantoms:
            names = sorted([*names, self.phantoms[path]])
        return names


async def test_an_entry_gone_before_its_removal_is_no_error(
    tmp_path: Path, runtime: Runtime
) -> None:
    data_dir = tmp_path / "d"
    ids = await populated(data_dir, runtime, ("k",))
    sub = ids["k"][:2]
    fs = PhantomFS(data_dir, {"tmp": "c" * 32, f"blobs/{sub}": sub + "9" * 30})
    store = await Store.open(str(data_dir), runtime, fs=fs, inline_max_bytes=0)
    try:
        assert (store.recovery.tmp_removed, store.recovery.orphans_removed) == (1, 1)
        async with await store.open_object("bk", "k") as reader:
            assert b"".join([c async for c in reader.stream(0, 40)]) == pattern(40, "k")
    finally:
        await store.close()
