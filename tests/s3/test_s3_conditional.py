"""ETag matching, HTTP dates, and conditional reads / writes."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.conditional import (
    WriteConditions,
    check_copy_source_conditions,
    check_read_conditions,
    check_write_conditions,
)
from hamster.s3.errors import S3Error
from hamster.s3.etag import etag_matches, parse_etag_list, quote, unquote
from hamster.s3.httpdate import (
    format_http_date,
    format_iso8601,
    parse_amz_date,
    parse_http_date,
    parse_iso8601,
)

S = 1_000_000_000

# -- etag -------------------------------------------------------------------------

E = "9b2cf535f27731c974343645a3985328"


def test_quote_unquote() -> None:
    assert quote(E) == f'"{E}"'
    assert quote(f'"{E}"') == f'"{E}"'
    assert unquote(f'"{E}"') == E
    assert unquote(E) == E
    assert unquote(f'W/"{E}"') == E


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        (f'"{E}"', E, True),
        (f'"{E}"', f'"{E}"', True),
        (E, f'"{E}"', True),
        (E, E, True),
        (f'W/"{E}"', E, True),
        ("*", E, True),
        (" * ", E, True),
        (f'"other", "{E}"', E, True),
        (f'"other",{E}', E, True),
        (f'other , W/"{E}" ', E, True),
        ('"other"', E, False),
        ("", E, False),
        (f'"{E}x"', E, False),
        ('"abc-3"', '"abc-3"', True),
        ('"a,b", "c"', "a,b", True),  # a comma inside a quoted tag
        ('"a,b", "c"', "a", False),
    ],
)
def test_etag_matches(header: str, etag: str, expected: bool) -> None:
    assert etag_matches(header, etag) is expected


def test_parse_etag_list() -> None:
    assert parse_etag_list('"a", W/"b", c, *, ,"d') == ["a", "b", "c", "*", "d"]


@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='",')))
def test_any_etag_matches_itself_in_every_form(value: str) -> None:
    if value in ("", "*") or value.startswith("W/"):
        return
    for form in (value, f'"{value}"', f'W/"{value}"', f'"x", "{value}"'):
        assert etag_matches(form, value)
        assert etag_matches(form, quote(value))


# -- dates ------------------------------------------------------------------------

T = 1445412480 * S  # Wed, 21 Oct 2015 07:28:00 GMT


def test_format_http_date() -> None:
    assert format_http_date(T) == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert format_http_date(T + 999_999_999) == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert format_http_date(784111777 * S) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
        "Mon, 06 Nov 1994 08:49:37 GMT",  # wrong weekday: ignored, as RFC 9110 allows
    ],
)
def test_parse_http_date_forms(value: str) -> None:
    assert parse_http_date(value) == 784111777 * S


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, ٠٦ Nov 1994 08:49:37 GMT",  # non-ASCII digits
    ],
)
def test_parse_http_date_refuses(value: str) -> None:
    assert parse_http_date(value) is None


def test_rfc850_two_digit_years() -> None:
    assert parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0
    assert parse_http_date("Sunday, 01-Jan-34 00:00:00 GMT") == parse_http_date(
        "Sun, 01 Jan 2034 00:00:00 GMT"
    )


instants = st.integers(min_value=-(10**18) * 30, max_value=253402300799 * S)


@given(instants)
def test_http_date_round_trips_at_second_resolution(ns: int) -> None:
    if ns < -62135596800 * S:  # before year 1
        return
    assert parse_http_date(format_http_date(ns)) == ns // S * S


@given(instants)
def test_iso8601_round_trips_at_millisecond_resolution(ns: int) -> None:
    if ns < -62135596800 * S:
        return
    text = format_iso8601(ns)
    assert len(text) == 24 and text.endswith("Z")
    assert parse_iso8601(text) == ns // 1_000_000 * 1_000_000


def test_format_iso8601() -> None:
    assert format_iso8601(1255369830 * S) == "2009-10-12T17:50:30.000Z"
    assert format_iso8601(1255369830 * S + 123_999_999) == "2009-10-12T17:50:30.123Z"


def test_civil_dates_around_every_kind_of_leap_year_boundary() -> None:
    """Every day of the years around the 4-, 100- and 400-year boundaries of the
    Gregorian era 1600-03-01..2000-02-29 (and both era boundaries) formats as
    datetime has it: each month end, each leap day, each kind of year."""
    got, want = [], []
    for start, end in ((1599, 1605), (1696, 1705), (1796, 1805), (1896, 1905), (1995, 2002)):
        date = datetime.date(start, 1, 1)
        days = (date - datetime.date(1970, 1, 1)).days
        while date < datetime.date(end, 1, 1):
            got.append(format_iso8601(days * 86_400 * S + 86_399_999_999_999)[:23])
            want.append(date.isoformat() + "T23:59:59.999")
            date += datetime.timedelta(days=1)
            days += 1
    assert got == want
    for days in range(-3, 10):  # the weekday, around the epoch and around a leap day
        for n in (days, days + 11_016):
            date = datetime.date(1970, 1, 1) + datetime.timedelta(days=n)
            want_http = date.strftime("%a, %d %b %Y 00:00:00 GMT")
            assert format_http_date(n * 86_400 * S) == want_http


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("Mon, 01 Jan 0001 00:00:00 GMT", -62135596800 * S),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799 * S),
        ("Sun, 06 Nov 1994 08:49:60 GMT", 784111799 * S),  # a leap second: :59
        ("Sun, 06 Nov 1994 23:59:59 GMT", 784166399 * S),
        ("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 * S),
    ],
)
def test_http_date_edges(text: str, ns: int) -> None:
    assert parse_http_date(text) == ns


@pytest.mark.parametrize(
    "text",
    [
        "Sat, 01 Jan 0000 00:00:00 GMT",  # there is no year 0
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Thu, 29 Feb 2023 00:00:00 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
    ],
)
def test_http_dates_out_of_range(text: str) -> None:
    assert parse_http_date(text) is None


def test_parse_iso8601_fractions() -> None:
    base = 1255369830 * S
    assert parse_iso8601("2009-10-12T17:50:30Z") == base
    assert parse_iso8601("2009-10-12T17:50:30.5Z") == base + 500_000_000
    assert parse_iso8601("2009-10-12T17:50:30.000Z") == base
    assert parse_iso8601("2009-10-12T17:50:30.123456789Z") == base + 123_456_789
    assert parse_iso8601("2009-10-12T17:50:60.25Z") == base + 29 * S + 250_000_000  # leap second
    for bad in ("2009-10-12T17:50:30", "2009-10-12T17:50:30.Z", "2009-13-12T17:50:30Z", "x"):
        assert parse_iso8601(bad) is None


def test_parse_amz_date() -> None:
    assert parse_amz_date("20150830T123600Z") == 1440938160 * S
    for bad in ("20150830T123600", "2015-08-30T12:36:00Z", "20151330T123600Z", "", "x"):
        assert parse_amz_date(bad) is None


# -- conditional reads ------------------------------------------------------------

LM = T + 500_000_000  # Last-Modified with a sub-second part
BEFORE = "Wed, 21 Oct 2015 07:27:59 GMT"
SAME = "Wed, 21 Oct 2015 07:28:00 GMT"
AFTER = "Wed, 21 Oct 2015 07:28:01 GMT"


def read(
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
) -> int | None:
    return check_read_conditions(
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
        etag=f'"{E}"',
        last_modified_ns=LM,
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, None),
        ({"if_match": f'"{E}"'}, None),
        ({"if_match": E}, None),
        ({"if_match": "*"}, None),
        ({"if_match": '"nope"'}, 412),
        ({"if_none_match": f'"{E}"'}, 304),
        ({"if_none_match": "*"}, 304),
        ({"if_none_match": '"nope"'}, None),
        ({"if_modified_since": BEFORE}, None),
        ({"if_modified_since": SAME}, 304),  # one-second resolution
        ({"if_modified_since": AFTER}, 304),
        ({"if_unmodified_since": BEFORE}, 412),
        ({"if_unmodified_since": SAME}, None),
        ({"if_unmodified_since": AFTER}, None),
        ({"if_modified_since": "garbage"}, None),  # unparseable dates are ignored
        ({"if_unmodified_since": "garbage"}, None),
        # S3's documented pairs
        ({"if_match": E, "if_unmodified_since": BEFORE}, None),
        ({"if_none_match": E, "if_modified_since": BEFORE}, 304),
        # the other combinations, RFC 9110 order
        ({"if_match": "nope", "if_unmodified_since": AFTER}, 412),
        ({"if_none_match": "nope", "if_modified_since": AFTER}, None),
        ({"if_match": "nope", "if_none_match": E}, 412),  # 412 is checked first
        ({"if_unmodified_since": BEFORE, "if_modified_since": AFTER}, 412),
        ({"if_match": E, "if_none_match": E}, 304),
        ({"if_match": E, "if_modified_since": AFTER}, 304),
    ],
)
def test_read_conditions(kwargs: dict[str, str], expected: int | None) -> None:
    assert read(**kwargs) == expected


@given(st.integers(min_value=0, max_value=4 * 10**9 * S), st.integers(-5, 5))
def test_dates_compare_at_one_second(lm_ns: int, delta_s: int) -> None:
    date = format_http_date(lm_ns + delta_s * S)
    ims = check_read_conditions(
        if_match=None,
        if_none_match=None,
        if_modified_since=date,
        if_unmodified_since=None,
        etag=E,
        last_modified_ns=lm_ns,
    )
    ius = check_read_conditions(
        if_match=None,
        if_none_match=None,
        if_modified_since=None,
        if_unmodified_since=date,
        etag=E,
        last_modified_ns=lm_ns,
    )
    assert ims == (304 if delta_s >= 0 else None)
    assert ius == (412 if delta_s < 0 else None)


def test_copy_source_conditions() -> None:
    check_copy_source_conditions(
        if_match=E,
        if_none_match=None,
        if_modified_since=None,
        if_unmodified_since=BEFORE,
        etag=E,
        last_modified_ns=LM,
    )
    with pytest.raises(S3Error) as info:
        check_copy_source_conditions(
            if_match=None,
            if_none_match=E,
            if_modified_since=BEFORE,
            if_unmodified_since=None,
            etag=E,
            last_modified_ns=LM,
        )
    assert info.value.code == "PreconditionFailed" and info.value.status == 412
    with pytest.raises(S3Error) as info:
        check_copy_source_conditions(
            if_match=None,
            if_none_match=None,
            if_modified_since=AFTER,
            if_unmodified_since=None,
            etag=E,
            last_modified_ns=LM,
        )
    assert info.value.status == 412


def copy_source(
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
) -> None:
    check_copy_source_conditions(
        if_match=if_match,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        if_unmodified_since=if_unmodified_since,
        etag=f'"{E}"',
        last_modified_ns=LM,
    )


@pytest.mark.parametrize(
    ("kwargs", "condition"),
    [
        ({"if_match": '"nope"'}, "x-amz-copy-source-If-Match"),
        ({"if_match": '"nope"', "if_unmodified_since": AFTER}, "x-amz-copy-source-If-Match"),
        ({"if_unmodified_since": BEFORE}, "x-amz-copy-source-If-Unmodified-Since"),
        ({"if_none_match": E}, "x-amz-copy-source-If-None-Match"),
        ({"if_none_match": "*", "if_modified_since": BEFORE}, "x-amz-copy-source-If-None-Match"),
        ({"if_modified_since": SAME}, "x-amz-copy-source-If-Modified-Since"),
        ({"if_match": E, "if_modified_since": AFTER}, "x-amz-copy-source-If-Modified-Since"),
        ({"if_match": E, "if_none_match": E}, "x-amz-copy-source-If-None-Match"),
        (
            {"if_unmodified_since": BEFORE, "if_none_match": E},
            "x-amz-copy-source-If-Unmodified-Since",
        ),
    ],
)
def test_copy_source_condition_named(kwargs: dict[str, str], condition: str) -> None:
    """Every copy-source failure is 412 PreconditionFailed naming the header that failed."""
    with pytest.raises(S3Error) as info:
        copy_source(**kwargs)
    assert (info.value.code, info.value.status) == ("PreconditionFailed", 412)
    assert info.value.extra == {"Condition": condition}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"if_match": E, "if_unmodified_since": BEFORE},
        {"if_none_match": '"nope"', "if_modified_since": AFTER},
        {"if_modified_since": BEFORE, "if_unmodified_since": SAME},
    ],
)
def test_copy_source_conditions_that_hold(kwargs: dict[str, str]) -> None:
    copy_source(**kwargs)


# -- conditional writes -----------------------------------------------------------

F = "0123456789abcdef0123456789abcdef-2"


def write_outcome(
    if_match: str | None, if_none_match: str | None, current: str | None
) -> tuple[str, dict[str, str]] | None:
    conditions = WriteConditions(if_match=if_match, if_none_match=if_none_match)
    try:
        check_write_conditions(conditions, current, key="k/ey")
    except S3Error as e:
        return e.code, dict(e.extra or {})
    return None


IF_MATCH_FAILED = ("PreconditionFailed", {"Condition": "If-Match"})
IF_NONE_MATCH_FAILED = ("PreconditionFailed", {"Condition": "If-None-Match"})
NO_SUCH_KEY = ("NoSuchKey", {"Key": "k/ey"})


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "current", "outcome"),
    [
        (None, None, None, None),
        (None, None, E, None),
        # If-None-Match: "*" names any object; a list names its members.
        (None, "*", None, None),
        (None, "*", E, IF_NONE_MATCH_FAILED),
        (None, '"*"', E, IF_NONE_MATCH_FAILED),
        (None, E, E, IF_NONE_MATCH_FAILED),
        (None, f'"{E}"', E, IF_NONE_MATCH_FAILED),
        (None, f'"{F}", "{E}"', E, IF_NONE_MATCH_FAILED),
        (None, f"{F},{E}", f'"{E}"', IF_NONE_MATCH_FAILED),
        (None, F, E, None),  # another ETag: a normal write
        (None, f'"{F}", W/"x"', E, None),
        (None, E, None, None),
        # If-Match: "*" or a list; a missing key is NoSuchKey whatever it names.
        (E, None, E, None),
        (f'"{E}"', None, E, None),
        (E, None, f'"{E}"', None),
        (f'"{F}", "{E}"', None, E, None),
        (f"{F} , {E}", None, E, None),
        (f'"{F}", "*"', None, E, None),
        ("*", None, E, None),
        ("other", None, E, IF_MATCH_FAILED),
        (f'"{F}", "other"', None, E, IF_MATCH_FAILED),
        ("", None, E, IF_MATCH_FAILED),
        (E, None, None, NO_SUCH_KEY),
        ("*", None, None, NO_SUCH_KEY),
        # Both: If-None-Match is looked at first.
        (E, E, E, IF_NONE_MATCH_FAILED),
        (E, F, E, None),
        (F, "*", None, NO_SUCH_KEY),
    ],
)
def test_write_conditions(
    if_match: str | None,
    if_none_match: str | None,
    current: str | None,
    outcome: tuple[str, dict[str, str]] | None,
) -> None:
    assert write_outcome(if_match, if_none_match, current) == outcome


etag_values = st.text(alphabet="0123456789abcdef", min_size=1, max_size=6)


def header_of(members: list[str], quoted: list[bool]) -> str:
    return ", ".join(f'"{m}"' if q else m for m, q in zip(members, quoted, strict=False))


@given(
    members=st.lists(etag_values | st.just("*"), min_size=1, max_size=5),
    quoted=st.lists(st.booleans(), min_size=5, max_size=5),
    current=st.none() | etag_values,
    which=st.sampled_from(["if_match", "if_none_match"]),
)
def test_write_conditions_against_the_rules(
    members: list[str], quoted: list[bool], current: str | None, which: str
) -> None:
    """If-Match passes iff the key exists and the list names it (or has *);
    If-None-Match fails iff the key exists and the list names it (or has *)."""
    header = header_of(members, quoted)
    names_current = current is not None and ("*" in members or current in members)
    if which == "if_match":
        expected = None if names_current else (NO_SUCH_KEY if current is None else IF_MATCH_FAILED)
        assert write_outcome(header, None, current) == expected
    else:
        expected = IF_NONE_MATCH_FAILED if names_current else None
        assert write_outcome(None, header, current) == expected
