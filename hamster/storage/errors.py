"""The store's own errors for a disk that cannot do what was asked.

The filesystem interface raises the builtin OSError family (fs.py); at the
storage edge (blob writes, blob opens and reads, the metadata store) the
errno's that mean "the machine is out of something" or "the disk failed" are
turned into these, each naming the path and what was being done, so that the
api layer can answer each with its own S3 error (hamster/api/storage_errors.py)
instead of a retry-inviting 500 with a traceback:

- `StorageFull`: ENOSPC / EDQUOT, or free space below ``--min-free``
  (`SpaceGuard`, space.py): 507 XHamsterStorageFull.
- `OutOfDescriptors`: EMFILE / ENFILE: 503 SlowDown (it passes once
  connections end).
- `DiskFault`: EIO (and any other errno of a read or write): 500
  InternalError, logged once with the path and the error.

FileNotFoundError and the other errors the store handles itself are left as
they are (`classify` returns None for them).
"""

from __future__ import annotations

import errno

__all__ = [
    "DiskFault",
    "OutOfDescriptors",
    "StorageError",
    "StorageFull",
    "classify",
]

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DESCRIPTOR_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})
FAULT_ERRNOS = frozenset({errno.EIO})


class StorageError(Exception):
    """The disk under the store refused an operation.

    Attributes:
      op: what was being done ("write", "open", "read", "metadata write", ...).
      path: the path under the data directory it was done on ("" if none).
      detail: the OS's words (e.g. "[Errno 28] No space left on device").
    """

    def __init__(self, op: str, path: str, detail: str) -> None:
        self.op = op
        self.path = path
        self.detail = detail
        super().__init__(f"{op} {path}: {detail}" if path else f"{op}: {detail}")


class StorageFull(StorageError):
    """No room for the write: ENOSPC / EDQUOT, or below the minimum free space."""


class OutOfDescriptors(StorageError):
    """The process or the system has no file descriptor left (EMFILE / ENFILE)."""


class DiskFault(StorageError):
    """The disk failed a read or a write (EIO)."""


def classify(exc: OSError, op: str, path: str) -> StorageError | None:
    """The `StorageError` `exc` stands for, or None if the store handles it itself."""
    kind: type[StorageError]
    if exc.errno in FULL_ERRNOS:
        kind = StorageFull
    elif exc.errno in DESCRIPTOR_ERRNOS:
        kind = OutOfDescriptors
    elif exc.errno in FAULT_ERRNOS:
        kind = DiskFault
    else:
        return None
    detail = f"[Errno {exc.errno}] {exc.strerror or errno.errorcode.get(exc.errno or 0, '')}"
    return kind(op, path, detail)
