"""Server-side copy rules (CopyObject, UploadPartCopy), sans-I/O.

What this file holds, each with S3's codes and messages:
- `parse_copy_source`: the ``x-amz-copy-source`` header, ``bucket/key`` or
  ``/bucket/key``, URL-encoded, optionally ``?versionId=...``. The path part
  is percent-decoded once and ``+`` stands for a space (S3 form-decodes this
  header: an unencoded ``+`` in a key is a classic NoSuchKey, aws-cli #614),
  so clients encode the key (botocore: ``quote(key, safe="/~")``). The first
  ``/`` after the bucket separates it from the key; the rest of the key is
  byte-exact (``a//b`` stays ``a//b``).
- `check_source_version`: no bucket is ever versioned, so only ``null`` (the
  current object) names a version that exists; others are refused as
  `hamster.s3.versions` has it (malformed: InvalidArgument, well-formed:
  NoSuchVersion once the source bucket's access is checked).
- `parse_copy_source_range` / `check_copy_range`: UploadPartCopy's
  ``x-amz-copy-source-range: bytes=first-last`` (both inclusive): a malformed
  value, and then a range outside the source, are InvalidArgument (what AWS
  answers; some servers say InvalidRange).
- `parse_directive`: ``x-amz-metadata-directive`` / ``x-amz-tagging-directive``.
- `check_copy_source_size` (5 GiB) and `check_not_copy_to_itself`.
- `parse_checksum_algorithm`: the algorithm a copy's checksum is computed with.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from hamster.integrity import DIGEST_BYTES
from hamster.s3 import versions
from hamster.s3.checksums import UNSUPPORTED_MESSAGE
from hamster.s3.errors import S3Error
from hamster.s3.request import parse_query, percent_decode

__all__ = [
    "COPY_SOURCE_HEADER",
    "COPY_SOURCE_MAX_BYTES",
    "RANGE_HEADER",
    "CopySource",
    "Directive",
    "check_copy_range",
    "check_copy_source_size",
    "check_not_copy_to_itself",
    "check_source_version",
    "parse_checksum_algorithm",
    "parse_copy_source",
    "parse_copy_source_range",
    "parse_directive",
]

COPY_SOURCE_HEADER = "x-amz-copy-source"
RANGE_HEADER = "x-amz-copy-source-range"
METADATA_DIRECTIVE_HEADER = "x-amz-metadata-directive"
TAGGING_DIRECTIVE_HEADER = "x-amz-tagging-directive"
# The largest object CopyObject copies (and UploadPartCopy copies without a range).
COPY_SOURCE_MAX_BYTES = 5 * 1024**3

RANGE_FORM_MESSAGE = (
    "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
    "and last are the zero-based offsets of the first and last bytes to copy"
)
COPY_TO_ITSELF_MESSAGE = (
    "This copy request is illegal because it is trying to copy an object to itself without "
    "changing the object's metadata, storage class, website redirect location or "
    "encryption attributes."
)

_RANGE = re.compile(r"bytes=([0-9]+)-([0-9]+)\Z", re.ASCII)


class Directive(enum.Enum):
    """Where a copy's metadata (or tags) come from: the source, or the request."""

    COPY = "COPY"
    REPLACE = "REPLACE"


@dataclass(frozen=True)
class CopySource:
    """A parsed ``x-amz-copy-source``.

    Attributes:
      bucket: the source bucket (decoded).
      key: the source key (decoded, byte-exact, never empty).
      version_id: the ``versionId`` asked for, None when none was given.
    """

    bucket: str
    key: str
    version_id: str | None = None


def _argument(message: str, value: str, name: str = COPY_SOURCE_HEADER) -> S3Error:
    return S3Error("InvalidArgument", message, extra={"ArgumentName": name, "ArgumentValue": value})


def parse_copy_source(value: str) -> CopySource:
    """The bucket, key and version an ``x-amz-copy-source`` header names.

    Raises:
      S3Error("InvalidArgument"): a malformed percent escape or bytes that
        are not UTF-8 ("Invalid copy source encoding"), no bucket ("Invalid
        copy source bucket name"), no key ("Invalid copy source object key");
        ArgumentName ``x-amz-copy-source``.
    """
    raw = value.strip()
    path, _, query = raw.partition("?")
    if path.startswith("/"):
        path = path[1:]
    try:
        decoded = percent_decode(path, plus_is_space=True)
        params = parse_query(query)  # "" (no "?") has no parameters
    except S3Error:
        raise _argument("Invalid copy source encoding", value) from None
    bucket, _, key = decoded.partition("/")
    if not bucket:
        raise _argument("Invalid copy source bucket name", value)
    if not key:
        raise _argument("Invalid copy source object key", value)
    version_id: str | None = None
    for name, param in params:
        if name == "versionId":
            version_id = param
            break
    return CopySource(bucket, key, version_id)


def check_source_version(source: CopySource) -> None:
    """Refuse a source version other than ``null`` (call it once the source
    bucket is found and readable; `versions.refuse_malformed` may run earlier).

    Raises:
      S3Error("InvalidArgument"): a malformed version id.
      S3Error("NoSuchVersion"): a well-formed one other than ``null`` (Key and
        VersionId in the error, as S3 reports a version that does not exist).
    """
    versions.check_version_id(source.key, source.version_id)


def parse_copy_source_range(value: str | None) -> tuple[int, int] | None:
    """(first, last) of ``x-amz-copy-source-range`` (inclusive); None when absent.

    Only the form is checked here; `check_copy_range` checks it against the source.

    Raises:
      S3Error("InvalidArgument"): anything but ``bytes=first-last`` with
        decimal first <= last (no open ends, no lists, no suffix ranges).
    """
    if value is None:
        return None
    m = _RANGE.match(value.strip())
    if m is None or int(m[1]) > int(m[2]):
        raise _argument(RANGE_FORM_MESSAGE, value, RANGE_HEADER)
    return int(m[1]), int(m[2])


def check_copy_range(span: tuple[int, int] | None, size: int) -> tuple[int, int]:
    """(start, length) of the source bytes to copy: the range, or the whole source.

    Raises:
      S3Error("InvalidArgument"): a range that ends at or past the end of
        the source ("Range specified is not valid for source object of size: N").
      S3Error("InvalidRequest"): no range and a source over 5 GiB.
    """
    assert size >= 0
    if span is None:
        check_copy_source_size(size)
        return 0, size
    first, last = span
    assert 0 <= first <= last
    if last >= size:
        raise _argument(
            f"Range specified is not valid for source object of size: {size}",
            f"bytes={first}-{last}",
            RANGE_HEADER,
        )
    length = last - first + 1
    check_copy_source_size(length)
    return first, length


def check_copy_source_size(size: int) -> None:
    """InvalidRequest, S3's message, for a copy of more than 5 GiB."""
    if size > COPY_SOURCE_MAX_BYTES:
        raise S3Error(
            "InvalidRequest",
            "The specified copy source is larger than the maximum allowable size for a copy "
            f"source: {COPY_SOURCE_MAX_BYTES}",
        )


def parse_directive(value: str | None, header: str = METADATA_DIRECTIVE_HEADER) -> Directive:
    """A metadata or tagging directive: COPY (the default) or REPLACE, exactly.

    Raises:
      S3Error("InvalidArgument"): any other value ("Unknown metadata
        directive." / "Unknown tagging directive.").
    """
    if value is None:
        return Directive.COPY
    for directive in Directive:
        if value.strip() == directive.value:
            return directive
    what = "tagging" if header == TAGGING_DIRECTIVE_HEADER else "metadata"
    raise _argument(f"Unknown {what} directive.", value, header)


def check_not_copy_to_itself(
    source: CopySource, bucket: str, key: str, directive: Directive
) -> None:
    """InvalidRequest (S3's message) for a copy onto its own source that
    changes nothing: only REPLACE makes copying an object onto itself legal."""
    if (source.bucket, source.key) == (bucket, key) and directive is Directive.COPY:
        raise S3Error("InvalidRequest", COPY_TO_ITSELF_MESSAGE)


def parse_checksum_algorithm(value: str | None) -> str | None:
    """The ``x-amz-checksum-algorithm`` of a copy: the algorithm the new object's
    checksum is computed with (None: the source's).

    Raises:
      S3Error("InvalidRequest"): an algorithm S3 does not have (S3's message).
    """
    if value is None:
        return None
    algorithm = value.strip().upper()
    if algorithm not in DIGEST_BYTES:
        raise S3Error("InvalidRequest", UNSUPPORTED_MESSAGE)
    return algorithm
