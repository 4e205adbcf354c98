"""`header_lines`: the response header fields the connection loop writes next
to h11's output must be exactly those h11 itself would write, and refused
exactly when h11 would refuse them."""

from __future__ import annotations

import h11
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hamster.http.connection import header_lines

# Latin-1 wire strings, weighted towards the bytes that matter to the grammar.
_SPECIAL = "\x00\t\n\x0b\x0c\r \x01\x7f\x85\xa0:é"
_wire_text = st.text(
    alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters(max_codepoint=0xFF)), max_size=12
)
# Mostly valid names (tokens), so that the values get tested too.
_names = st.one_of(
    st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefXYZ", min_size=1, max_size=8), _wire_text
)
_FRAMING = {"content-length", "transfer-encoding", "connection"}


def _h11_accepts(name: str, value: str) -> bytes | None:
    """The line h11 writes for the header (name, value), None if it refuses it."""
    try:
        event = h11.Response(
            status_code=200, headers=[(name.encode("latin-1"), value.encode("latin-1"))]
        )
    except h11.LocalProtocolError:
        return None
    ((raw_name, _, raw_value),) = event.headers._full_items
    return b"%s: %s\r\n" % (raw_name, raw_value)


@given(name=_names, value=_wire_text)
@example(name="X-Thing", value="a\r\nX-Injected: 1")
@example(name="X-Thing", value=" a")
@example(name="X-Thing", value="a\xa0b\x01")
@example(name="X-Thing", value="")
def test_a_field_is_accepted_exactly_when_h11_accepts_it(name: str, value: str) -> None:
    if name.lower() in _FRAMING:
        return  # those go to h11 itself
    expected = _h11_accepts(name, value)
    if expected is None:
        with pytest.raises(h11.LocalProtocolError):
            header_lines([(name, value)])
    else:
        assert header_lines([(name, value)]) == expected


@given(st.lists(st.tuples(_names, _wire_text), max_size=5))
def test_several_fields_are_accepted_only_if_each_is(headers: list[tuple[str, str]]) -> None:
    headers = [(n, v) for n, v in headers if n.lower() not in _FRAMING]
    lines = [_h11_accepts(n, v) for n, v in headers]
    if None in lines:
        with pytest.raises(h11.LocalProtocolError):
            header_lines(headers)
    else:
        assert header_lines(headers) == b"".join(line for line in lines if line is not None)


def test_a_character_beyond_latin_1_is_not_a_wire_string() -> None:
    with pytest.raises(UnicodeEncodeError):
        header_lines([("X-Thing", "€")])
