"""Conditional requests as S3 evaluates them (pure, no I/O, no clock).

Reads (GetObject / HeadObject) follow RFC 9110 §13.2.2's order, which gives
S3's documented outcomes:

1. If-Match present: false → 412. (True: If-Unmodified-Since is not looked at,
   so "If-Match true + If-Unmodified-Since false" proceeds, as S3 documents.)
2. Else If-Unmodified-Since (a valid date): modified since → 412.
3. If-None-Match present: false (the ETag matches) → 304. (So "If-None-Match
   false + If-Modified-Since true" is 304, as S3 documents; when If-None-Match
   is present If-Modified-Since is not looked at.)
4. Else If-Modified-Since (a valid date): not modified since → 304.

Unparseable dates are ignored. Last-Modified is compared at one-second
resolution (HTTP dates carry whole seconds).

Writes (PutObject, CompleteMultipartUpload, CopyObject destination) have S3's
conditional writes with the whole of HTTP's rules (`check_write_conditions`,
called by storage at commit time, under the commit lock): If-Match and
If-None-Match each take ``*`` or a list of ETags, quoted or not. If-None-Match
naming the current object (``*`` names any) is 412, naming another is a
normal write; If-Match on a missing key is 404 NoSuchKey, naming another
ETag is 412.

CopyObject's ``x-amz-copy-source-if-*`` headers are the read conditions on the
source object, except that every failure is 412 (S3 never answers 304 to a copy).
"""

from __future__ import annotations

from dataclasses import dataclass

from hamster.s3.errors import S3Error
from hamster.s3.etag import etag_matches
from hamster.s3.httpdate import NS_PER_S, parse_http_date

__all__ = [
    "NO_CONDITIONS",
    "WriteConditions",
    "check_copy_source_conditions",
    "check_read_conditions",
    "check_write_conditions",
]

NOT_MODIFIED = 304
PRECONDITION_FAILED = 412


def check_read_conditions(
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified_ns: int,
) -> int | None:
    """None to proceed, or the status to answer instead: 304 or 412.

    Args:
      if_match, if_none_match, if_modified_since, if_unmodified_since: the raw
        request header values (None when absent).
      etag: the object's ETag, quoted or not.
      last_modified_ns: the object's Last-Modified in nanoseconds.
    """
    # HTTP dates carry whole seconds: Last-Modified is compared truncated to its second.
    last_modified = last_modified_ns - last_modified_ns % NS_PER_S
    if if_match is not None:
        if not etag_matches(if_match, etag):
            return PRECONDITION_FAILED
    elif if_unmodified_since is not None:
        since_ns = parse_http_date(if_unmodified_since)
        if since_ns is not None and last_modified > since_ns:
            return PRECONDITION_FAILED
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            return NOT_MODIFIED
    elif if_modified_since is not None:
        since_ns = parse_http_date(if_modified_since)
        if since_ns is not None and last_modified <= since_ns:
            return NOT_MODIFIED
    return None


def check_copy_source_conditions(
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified_ns: int,
) -> None:
    """Raise S3Error("PreconditionFailed") unless the copy source's conditions hold.

    Takes the ``x-amz-copy-source-if-*`` header values. S3's documented pairs
    hold: if-match true + if-unmodified-since false → copy; if-none-match false
    + if-modified-since true → 412.
    """
    status = check_read_conditions(
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
        etag=etag,
        last_modified_ns=last_modified_ns,
    )
    if status is None:
        return
    if status == NOT_MODIFIED:
        header = (
            "x-amz-copy-source-If-None-Match"
            if if_none_match is not None
            else ("x-amz-copy-source-If-Modified-Since")
        )
    else:
        header = (
            "x-amz-copy-source-If-Match"
            if if_match is not None
            else ("x-amz-copy-source-If-Unmodified-Since")
        )
    raise S3Error("PreconditionFailed", extra={"Condition": header})


@dataclass(frozen=True)
class WriteConditions:
    """A write's If-Match and If-None-Match: the raw header values (None when absent)."""

    if_match: str | None = None
    if_none_match: str | None = None

    @property
    def present(self) -> bool:
        return self.if_match is not None or self.if_none_match is not None


NO_CONDITIONS = WriteConditions()


def check_write_conditions(
    conditions: WriteConditions, current_etag: str | None, *, key: str
) -> None:
    """Raise unless a conditional write may replace the current object.

    Call it under the same lock / transaction as the commit, so that check and
    write are atomic.

    Args:
      conditions: the request's If-Match / If-None-Match.
      current_etag: the ETag of the object now at the key (quoted or not),
        None if there is none.
      key: the object key (for NoSuchKey's details).

    Raises:
      S3Error("PreconditionFailed"): If-None-Match names the current object
        (``*``, or a list with its ETag), or If-Match names none of it.
      S3Error("NoSuchKey"): If-Match and the key does not exist.
    """
    if_match, if_none_match = conditions.if_match, conditions.if_none_match
    if if_none_match is not None and current_etag is not None:
        if etag_matches(if_none_match, current_etag):
            raise S3Error("PreconditionFailed", extra={"Condition": "If-None-Match"})
    if if_match is not None:
        if current_etag is None:
            raise S3Error("NoSuchKey", extra={"Key": key})
        if not etag_matches(if_match, current_etag):
            raise S3Error("PreconditionFailed", extra={"Condition": "If-Match"})
