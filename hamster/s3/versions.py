"""Version ids on a store whose buckets are never versioned (pure, no I/O).

Every object is its only version, whose id is ``null`` (S3's id for an
object written while versioning was off). A request naming another version
gets what S3 answers on a bucket that has never had versioning:

- a malformed id: 400 InvalidArgument "Invalid version id specified"
  (ArgumentName ``versionId``). S3's ids are 32 characters of letters,
  digits, ``.`` and ``_`` (``3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH``); anything
  else, the empty string included, is malformed.
- a well-formed id: 404 NoSuchVersion, with Key and VersionId, after the
  bucket is found and its access checked (a version that does not exist).
"""

from __future__ import annotations

import re

from hamster.s3.errors import S3Error

__all__ = ["NULL_VERSION", "check_version_id", "is_well_formed", "refuse_malformed"]

NULL_VERSION = "null"
_WELL_FORMED = re.compile(r"[0-9A-Za-z._]{32}", re.ASCII)


def is_well_formed(version_id: str) -> bool:
    """True for ``null`` and for ids shaped like S3's."""
    return version_id == NULL_VERSION or _WELL_FORMED.fullmatch(version_id) is not None


def refuse_malformed(version_id: str | None, *, argument_name: str = "versionId") -> None:
    """InvalidArgument for a malformed version id (None: none given)."""
    if version_id is not None and not is_well_formed(version_id):
        raise S3Error(
            "InvalidArgument",
            "Invalid version id specified",
            extra={"ArgumentName": argument_name, "ArgumentValue": version_id},
        )


def check_version_id(key: str, version_id: str | None) -> None:
    """Accept no version id or ``null`` (the current object); refuse any other.

    Raises:
      S3Error("InvalidArgument"): a malformed id.
      S3Error("NoSuchVersion"): a well-formed id other than ``null``.
    """
    if version_id is None or version_id == NULL_VERSION:
        return
    refuse_malformed(version_id)
    raise S3Error("NoSuchVersion", extra={"Key": key, "VersionId": version_id})
