"""The S3 answer to each `StorageError` (hamster/storage/errors.py), and
its log line.

- `StorageFull` -> 507 XHamsterStorageFull. SDKs do not retry a 507 (they
  retry 500 and 503), so a full disk is not hammered; the store logs the run
  of refusals once (storage/space.py), so nothing is logged here.
- `OutOfDescriptors` -> 503 SlowDown with ``Retry-After: 1``: it passes once
  connections end, and SDKs back off and retry it. One warning when the first
  comes, then at most one summary line a minute.
- `DiskFault` (EIO) -> 500 InternalError, one error line naming the request,
  what the disk was doing, the path and the error (no traceback).
"""

from __future__ import annotations

import logging

from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.storage.errors import OutOfDescriptors, StorageError, StorageFull
from hamster.storage.space import FullBurst

log = logging.getLogger("hamster.app")

__all__ = ["StorageErrors"]

RETRY_AFTER_S = 1


class StorageErrors:
    """Maps storage errors to S3 errors and logs them (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.descriptors = FullBurst()

    def s3_error(self, exc: StorageError, request_id: str) -> S3Error:
        if isinstance(exc, StorageFull):
            return S3Error("XHamsterStorageFull")
        if isinstance(exc, OutOfDescriptors):
            count = self.descriptors.refused(self.runtime.now_ns())
            if count == 0:
                log.warning(
                    "out of file descriptors (%s): answering 503 SlowDown until some are free",
                    exc,
                )
            elif count is not None:
                log.warning("still out of file descriptors (%s): %d more answered 503", exc, count)
            return S3Error(
                "SlowDown",
                "The server is out of file descriptors; please reduce your request rate.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        log.error(
            "request %s: disk error (%s %s: %s); answered 500 InternalError",
            request_id,
            exc.op,
            exc.path,
            exc.detail,
        )
        return S3Error("InternalError")
