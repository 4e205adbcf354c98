"""What SigV4 and SigV2 verification share: key lookup, the session-token
refusal, and the request-time arithmetic (whole seconds since the epoch)."""

from __future__ import annotations

import calendar
import datetime
import email.utils
import re
from collections.abc import Callable

from hamster.s3.errors import S3Error

# ASCII digits only (\d would take any Unicode digit, which int() reads too).
_AMZ_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")


def lookup_secret_or_refuse(lookup_secret: Callable[[str], str | None], access_key: str) -> str:
    """The secret of `access_key`; InvalidAccessKeyId for a key nobody has."""
    secret = lookup_secret(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", extra={"AWSAccessKeyId": access_key})
    return secret


def refuse_session_token(access_key: str, present: bool) -> None:
    """Temporary credentials need a token service this server does not have."""
    if present:
        raise S3Error(
            "InvalidAccessKeyId",
            "Temporary security credentials (x-amz-security-token) are not supported by "
            "this server; sign with a long-term access key.",
            extra={"AWSAccessKeyId": access_key},
        )


def parse_amz_date_s(text: str) -> int | None:
    """Seconds since the epoch of ``YYYYMMDDTHHMMSSZ``, None if malformed."""
    match = _AMZ_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def parse_http_date_s(text: str) -> int | None:
    """Seconds since the epoch of a ``Date`` header as clients send it (RFC 1123,
    RFC 850, asctime; a numeric zone accepted as well as GMT), None if unreadable."""
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp())


def amz_date(seconds: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` of `seconds`."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def iso_seconds(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of `seconds` (the form of S3's ServerTime/Expires extras)."""
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return str(seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
