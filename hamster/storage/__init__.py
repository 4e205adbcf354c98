"""The storage engine: blobs on a `FileSystem`, records in a `MetaStore`.

The S3 handlers use `Store` and the value types re-exported here.
"""

from hamster.storage.blobs import BodySource
from hamster.storage.fs import FileSystem, RealFileSystem
from hamster.storage.meta import LevelDBMetaStore, MetaStore
from hamster.storage.records import BucketInfo, ObjectInfo
from hamster.storage.store import ObjectReader, PutRequest, Store

__all__ = [
    "BodySource",
    "BucketInfo",
    "FileSystem",
    "LevelDBMetaStore",
    "MetaStore",
    "ObjectInfo",
    "ObjectReader",
    "PutRequest",
    "RealFileSystem",
    "Store",
]
