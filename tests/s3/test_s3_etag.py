"""Entity tags: quoting, and If-Match / If-None-Match lists as clients write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.etag import parse_etag_list, quote, unquote


@pytest.mark.parametrize(
    ("etag", "quoted"),
    [
        ("abc", '"abc"'),
        ('"abc"', '"abc"'),
        ("", '""'),
        ('""', '""'),
        ('"', '"""'),
        ('"abc', '""abc"'),
        ('abc"', '"abc""'),
        ("a", '"a"'),
    ],
)
def test_quote(etag: str, quoted: str) -> None:
    assert quote(etag) == quoted


@pytest.mark.parametrize(
    ("etag", "value"),
    [
        ('"abc"', "abc"),
        ("abc", "abc"),
        (' "abc"\t', "abc"),
        ('W/"abc"', "abc"),
        ("W/abc", "abc"),
        ('""', ""),
        ('"', '"'),
        ('"abc', '"abc'),
        ('abc"', 'abc"'),
        ('w/"abc"', 'w/"abc"'),  # the weak prefix is case-sensitive (RFC 9110 §8.8.3)
        ('""abc""', '"abc"'),
    ],
)
def test_unquote(etag: str, value: str) -> None:
    assert unquote(etag) == value


@pytest.mark.parametrize(
    ("header", "members"),
    [
        ("", []),
        (" \t", []),
        (",, ,", []),
        ("*", ["*"]),
        ('"a"', ["a"]),
        ("a", ["a"]),
        ('""', [""]),
        ("a,", ["a"]),
        ('"a",', ["a"]),
        ('"a" ', ["a"]),
        ("a ,\tb", ["a", "b"]),
        ('"a","b"', ["a", "b"]),
        ('"a" , "b",c', ["a", "b", "c"]),
        ('"a,b", c', ["a,b", "c"]),  # a comma inside a quoted tag is the tag's
        ('" a b "', [" a b "]),
        ('W/"a", W/"b"', ["a", "b"]),
        ('"a", W/"b"', ["a", "b"]),
        ('"x", "y", W/"z"', ["x", "y", "z"]),
        ("W/a, W/b", ["a", "b"]),
        ('w/"a"', ['w/"a"']),
        ('"a"junk, "b"', ["a", "b"]),  # text after a closing quote up to the comma is dropped
        ('"a"junk', ["a"]),
        ('"a"""b, c', ["a", "c"]),
        ('x"y, z', ['x"y', "z"]),
        ('"abc', ["abc"]),  # unterminated: the rest is one member
        ('"a", "b, c', ["a", "b, c"]),
        ('W/"abc', ["abc"]),
        ('"a", W/"bc', ["a", "bc"]),
        ('"a,", b', ["a,", "b"]),  # a quoted tag may end in a comma
        ('",", ","', [",", ","]),
        ("W/", [""]),  # a weak prefix without a tag reads as the empty tag
        ('"a", W/', ["a", ""]),
    ],
)
def test_parse_etag_list(header: str, members: list[str]) -> None:
    assert parse_etag_list(header) == members


OPAQUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"'))
BARE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='",'), min_size=1
).filter(lambda v: not v.startswith("W/"))
SEPARATOR = st.sampled_from([",", ", ", " ,", " , ", ",\t", ",,", ", ,", "\t,\t"])
EDGE = st.sampled_from(["", " ", "\t", ",", " , "])


@st.composite
def etag_lists(draw: st.DrawFn) -> tuple[str, list[str]]:
    """An If-Match value and the opaque values it lists (quoted, weak or bare)."""
    values: list[str] = []
    written: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        form = draw(st.sampled_from(["quoted", "weak", "bare"]))
        value = draw(BARE if form == "bare" else OPAQUE)
        values.append(value)
        written.append(
            value if form == "bare" else ('W/"' if form == "weak" else '"') + value + '"'
        )
    header = draw(EDGE)
    for n, member in enumerate(written):
        header += (draw(SEPARATOR) if n else "") + member
    return header + draw(EDGE), values


@given(etag_lists())
def test_any_list_parses_to_its_members(case: tuple[str, list[str]]) -> None:
    header, values = case
    assert parse_etag_list(header) == values
