"""S3's naming rules for new buckets and for object keys (pure, no I/O).

Bucket names follow AWS's rules for general purpose buckets (userguide
"Bucket naming rules"); they apply when a bucket is created. Requests that name
an existing bucket are not validated against them (a name that fails simply
does not exist).

Keys: any UTF-8 string of 1..1024 bytes. Nothing is normalised; ``a``, ``/a``
and ``//a`` are distinct keys.
"""

from __future__ import annotations

import re

from hamster.s3.errors import S3Error

__all__ = [
    "BUCKET_NAME_MAX_CHARS",
    "BUCKET_NAME_MIN_CHARS",
    "KEY_MAX_BYTES",
    "bucket_name_problem",
    "validate_bucket_name",
    "validate_key",
]

BUCKET_NAME_MIN_CHARS = 3
BUCKET_NAME_MAX_CHARS = 63
KEY_MAX_BYTES = 1024

_BUCKET_CHARS = re.compile(r"[a-z0-9.-]+", re.ASCII)
_IPV4_SHAPED = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", re.ASCII)

# Reserved by AWS for other namespaces (access point aliases, Object Lambda,
# Multi-Region Access Points, directory buckets, table buckets, ...).
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` cannot be a new bucket's name, or None if it can."""
    if not BUCKET_NAME_MIN_CHARS <= len(name) <= BUCKET_NAME_MAX_CHARS:
        return "Bucket name must be between 3 and 63 characters long"
    if not _BUCKET_CHARS.fullmatch(name):
        return "Bucket name can only contain lowercase letters, numbers, periods and hyphens"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "Bucket name must begin and end with a letter or number"
    if ".." in name:
        return "Bucket name must not contain two adjacent periods"
    if ".-" in name or "-." in name:
        return "Bucket name must not contain a period next to a hyphen"
    if _IPV4_SHAPED.fullmatch(name):
        return "Bucket name must not be formatted as an IP address"
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"Bucket name must not start with {prefix!r}"
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"Bucket name must not end with {suffix!r}"
    return None


def validate_bucket_name(name: str) -> None:
    """Raise S3Error("InvalidBucketName") unless `name` is valid for a new bucket."""
    if bucket_name_problem(name) is not None:
        raise S3Error("InvalidBucketName", extra={"BucketName": name})


def validate_key(key: str) -> None:
    """Raise unless `key` is a storable object key.

    Raises:
      S3Error("KeyTooLongError"): more than 1024 bytes of UTF-8, with ``Size``
        and ``MaxSizeAllowed`` as S3 reports them.
      S3Error("InvalidArgument"): the empty key.
      S3Error("InvalidURI"): a key that is not valid Unicode text (a lone
        surrogate; `parse_request` never produces one).
    """
    if key == "":
        raise S3Error(
            "InvalidArgument",
            "Object key must not be empty",
            extra={"ArgumentName": "key", "ArgumentValue": ""},
        )
    try:
        size_bytes = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise S3Error("InvalidURI") from None
    if size_bytes > KEY_MAX_BYTES:
        raise S3Error(
            "KeyTooLongError",
            extra={"Size": str(size_bytes), "MaxSizeAllowed": str(KEY_MAX_BYTES)},
        )
