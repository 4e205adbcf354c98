"""What SigV4 and SigV2 verification share: key lookup, the session-token
refusal, and the request-time arithmetic (whole seconds since the epoch)."""

from __future__ import annotations

import calendar
import datetime
import functools
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


# Requests signed in the same second carry the same date: a few are remembered.
@functools.lru_cache(maxsize=64)
def parse_amz_date_s(text: str) -> int | None:
    """Seconds since the epoch of ``YYYYMMDDTHHMMSSZ``, None if malformed."""
    match = _AMZ_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    return _utc_seconds(year, month, day, hour, minute, second)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = f"(?P<month>{'|'.join(_MONTHS)})"
_CLOCK = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
# The three forms of RFC 9110 (RFC 2616) that S3 documents for Date, the first also
# with a numeric zone as S3 takes it: botocore sends "GMT", email.utils "-0000",
# s3cmd "+0000". Case, spacing and digits exactly so (email.utils' lenient parser
# took "x,Wed, 01 May 2024 12:00:00 GMT" and two Date headers joined by a comma).
_HTTP_DATES = (
    re.compile(
        rf"{_DAY_NAME}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_CLOCK} "
        "(?P<zone>GMT|[+-][0-9]{4})"
    ),
    re.compile(
        "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
        rf"(?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_CLOCK} GMT"
    ),
    re.compile(rf"{_DAY_NAME} {_MONTH} (?P<day> [0-9]|[0-9]{{2}}) {_CLOCK} (?P<year>[0-9]{{4}})"),
)


def parse_http_date_s(text: str) -> int | None:
    """Seconds since the epoch of a ``Date`` header: RFC 1123 (``GMT`` or a numeric
    zone), RFC 850 (a two-digit year is 1970-2069) or asctime; None otherwise."""
    for pattern in _HTTP_DATES:
        match = pattern.fullmatch(text)
        if match is not None:
            break
    else:
        return None
    fields = match.groupdict()
    year = int(fields["year"])
    if len(fields["year"]) == 2:
        year += 1900 if year >= 70 else 2000
    seconds = _utc_seconds(
        year,
        _MONTHS.index(fields["month"]) + 1,
        int(fields["day"]),
        int(fields["hour"]),
        int(fields["minute"]),
        int(fields["second"]),
    )
    zone = fields.get("zone", "GMT")  # RFC 850 says GMT, asctime means it
    if seconds is None or zone == "GMT":
        return seconds
    offset_s = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
    return seconds - offset_s if zone[0] == "+" else seconds + offset_s


def _utc_seconds(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> int | None:
    """Seconds since the epoch of a UTC calendar time, None if no such time exists."""
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


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
