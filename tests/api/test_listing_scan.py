"""The listing handler's scan (hamster.api.listing.object_page) against a real
store: what it reads from the metadata store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from hamster.api.context import RequestContext
from hamster.api.listing import object_page
from hamster.s3.listing import Lister
from hamster.storage import Store, records
from hamster.storage.meta import LevelDBMetaStore, MetaStore
from hamster.storage.records import ObjectInfo
from hamster.storage.store import LIST_FIRST_BATCH
from tests.storage.conftest import make_runtime
from tests.storage.test_write_order import MetaWrapper

OWNER = "AKIDOWNER"


class CountingMeta(MetaWrapper):
    """A MetaStore wrapper counting the entries scans yield."""

    def __init__(self, inner: MetaStore) -> None:
        super().__init__(inner)
        self.entries = 0

    async def scan(
        self, prefix: bytes, start_after: bytes | None = None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, bytes]]:
        async for kv in self.inner.scan(prefix, start_after, limit):
            self.entries += 1
            yield kv


async def test_a_delimiter_page_reads_a_few_entries_per_prefix(tmp_path: Path) -> None:
    """The listing handler seeks past each common prefix: the entries it reads
    grow with the page, not with the keys under the prefixes."""
    (tmp_path / "meta").mkdir()
    meta = CountingMeta(await LevelDBMetaStore.open(str(tmp_path / "meta")))
    store = await Store.open(str(tmp_path), make_runtime(), meta=meta)
    try:
        await store.create_bucket("bk", OWNER, "us-east-1")
        keys = [f"p{p:02d}/k{k:03d}" for p in range(30) for k in range(300)]
        puts = []
        for i, key in enumerate(keys):
            info = ObjectInfo(
                "bk", key, i, f"{i:032x}", i, None, None, None, None, None, None, (), f"{i:032x}"
            )
            puts.append((records.object_key("bk", key), records.encode_object(info)))
        await store.meta.write(puts, [], sync=True)
        ctx = cast(RequestContext, SimpleNamespace(store=store, bucket="bk"))
        meta.entries = 0
        page = await object_page(ctx, Lister(delimiter="/", max_keys=10))
        assert page.common_prefixes == [f"p{p:02d}/" for p in range(10)] and page.is_truncated
        assert meta.entries <= 11 * LIST_FIRST_BATCH
        meta.entries = 0
        page = await object_page(ctx, Lister(delimiter="/", marker="p09/"))
        assert page.common_prefixes == [f"p{p:02d}/" for p in range(10, 30)]
        assert not page.is_truncated
        assert meta.entries <= 21 * LIST_FIRST_BATCH
    finally:
        await store.close()
