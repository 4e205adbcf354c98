"""Dates on the S3 wire (pure: no clock; every instant is nanoseconds since the epoch, UTC).

- HTTP dates (RFC 9110 §5.6.7): we always send IMF-fixdate
  (``Wed, 21 Oct 2015 07:28:00 GMT``) and accept the two obsolete forms too,
  RFC 850 (``Wednesday, 21-Oct-15 07:28:00 GMT``) and asctime
  (``Wed Oct 21 07:28:00 2015``).
- ISO 8601 with milliseconds, as S3 writes ``LastModified`` and
  ``CreationDate`` in XML: ``2009-10-12T17:50:30.000Z``.
- The SigV4 basic format of ``X-Amz-Date``: ``20150830T123600Z``.

Parsers answer None for anything they cannot read; callers decide whether that
is an error (SigV4) or a header to ignore (If-Modified-Since).
"""

from __future__ import annotations

import calendar
import functools
import re

__all__ = [
    "format_http_date",
    "format_iso8601",
    "parse_amz_date",
    "parse_http_date",
    "parse_iso8601",
]

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAYS_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(_MONTHS)}

_DAY = "(?:" + "|".join(_DAYS) + ")"
_DAY_LONG = "(?:" + "|".join(_DAYS_LONG) + ")"
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"(\d\d):(\d\d):(\d\d)"

# Sun, 06 Nov 1994 08:49:37 GMT
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} GMT", re.ASCII)
# Sunday, 06-Nov-94 08:49:37 GMT
_RFC850 = re.compile(rf"{_DAY_LONG}, (\d\d)-{_MONTH}-(\d\d) {_TIME} GMT", re.ASCII)
# Sun Nov  6 08:49:37 1994
_ASCTIME = re.compile(rf"{_DAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})", re.ASCII)
# 20150830T123600Z
_AMZ_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", re.ASCII)
# 2009-10-12T17:50:30.000Z (fraction optional, 1-9 digits)
_ISO8601 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", re.ASCII)


def _civil(ns: int) -> tuple[int, int, int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second, weekday 0=Mon, millisecond) of `ns`."""
    seconds, rest_ns = divmod(ns, NS_PER_S)
    days, second_of_day = divmod(seconds, 86_400)
    year, month, day = _civil_from_days(days)
    hour, rem = divmod(second_of_day, 3600)
    minute, second = divmod(rem, 60)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (3 with Monday = 0)
    return year, month, day, hour, minute, second, weekday, rest_ns // NS_PER_MS


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.

    Howard Hinnant's algorithm: exact for any integer, no datetime range limits.
    """
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _to_ns(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int | None:
    """Nanoseconds of a UTC civil time, None if any field is out of range."""
    # Every form has four-digit years: at most 9999. Year 0 is none (datetime's MINYEAR is 1).
    if not (year >= 1 and 1 <= month <= 12):
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 60):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    second = min(second, 59)  # a leap second reads as the last second of its minute
    epoch_s = calendar.timegm((year, month, day, hour, minute, second))
    return epoch_s * NS_PER_S


def format_http_date(ns: int) -> str:
    """IMF-fixdate of `ns` (sub-second part dropped): ``Wed, 21 Oct 2015 07:28:00 GMT``."""
    return _http_date_of_second(ns // NS_PER_S)


# Every response's Date (and a popular object's Last-Modified) names the same
# second again and again: a few recent seconds are remembered.
@functools.lru_cache(maxsize=64)
def _http_date_of_second(seconds: int) -> str:
    year, month, day, hour, minute, second, weekday, _ = _civil(seconds * NS_PER_S)
    return (
        f"{_DAYS[weekday]}, {day:02d} {_MONTHS[month - 1]} {year:04d} "
        f"{hour:02d}:{minute:02d}:{second:02d} GMT"
    )


def parse_http_date(value: str) -> int | None:
    """Nanoseconds of an HTTP date in any of the three RFC 9110 forms, else None.

    Surrounding whitespace is ignored; the weekday name must be a valid name but
    is not checked against the date (RFC 9110 lets recipients ignore it).
    Two-digit RFC 850 years 70-99 are 1970-1999 and 00-69 are 2000-2069 (a fixed
    pivot: this module has no clock to apply RFC 9110's fifty-year rule).
    """
    text = value.strip()
    m = _IMF_FIXDATE.fullmatch(text)
    if m:
        day, month, year = int(m[1]), _MONTH_NUMBER[m[2]], int(m[3])
        return _to_ns(year, month, day, int(m[4]), int(m[5]), int(m[6]))
    m = _RFC850.fullmatch(text)
    if m:
        yy = int(m[3])
        year = 1900 + yy if yy >= 70 else 2000 + yy
        return _to_ns(year, _MONTH_NUMBER[m[2]], int(m[1]), int(m[4]), int(m[5]), int(m[6]))
    m = _ASCTIME.fullmatch(text)
    if m:
        day_text = m[2].strip()
        if not day_text:
            return None
        return _to_ns(
            int(m[6]), _MONTH_NUMBER[m[1]], int(day_text), int(m[3]), int(m[4]), int(m[5])
        )
    return None


def format_iso8601(ns: int) -> str:
    """S3's XML timestamp of `ns`, milliseconds truncated: ``2009-10-12T17:50:30.000Z``."""
    seconds, rest_ns = divmod(ns, NS_PER_S)
    return f"{_iso8601_of_second(seconds)}.{rest_ns // NS_PER_MS:03d}Z"


# A listing page writes up to 1,000 of these, mostly of objects written in
# the same few seconds: the date and time of a second are remembered.
@functools.lru_cache(maxsize=1024)
def _iso8601_of_second(seconds: int) -> str:
    year, month, day, hour, minute, second, _, _ = _civil(seconds * NS_PER_S)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def parse_iso8601(value: str) -> int | None:
    """Nanoseconds of ``YYYY-MM-DDTHH:MM:SS[.fraction]Z``, else None."""
    m = _ISO8601.fullmatch(value.strip())
    if not m:
        return None
    base = _to_ns(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
    if base is None:
        return None
    fraction = m[7] or ""
    return base + int(fraction.ljust(9, "0"))  # no fraction: "000000000"


def parse_amz_date(value: str) -> int | None:
    """Nanoseconds of an ``X-Amz-Date`` (``20150830T123600Z``), else None."""
    m = _AMZ_DATE.fullmatch(value)
    if not m:
        return None
    return _to_ns(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
