"""hamster.s3.headers: wire strings and the stored Content-Encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.headers import header_value, stored_content_encoding


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("deflate, gzip, aws-chunked", "deflate, gzip"),
        ("gzip,aws-chunked", "gzip"),
        ("aws-chunked, gzip", "gzip"),
        ("gzip, aws-chunked, br", "gzip, br"),
        ("gzip,  AWS-Chunked ,br", "gzip,br"),
        ("deflate, gzip", "deflate, gzip"),
        ("x-custom;q=1 ,  gzip", "x-custom;q=1 ,  gzip"),
        ("aws-chunked", None),
        ("aws-chunked,aws-chunked", None),
        ("", None),
        (None, None),
    ],
)
def test_stored_content_encoding(sent: str | None, stored: str | None) -> None:
    assert stored_content_encoding(sent) == stored


CODINGS = st.sampled_from(
    ["gzip", "deflate", "br", "identity", "x-zz", "aws-chunked", "AWS-CHUNKED"]
)
SPACES = st.sampled_from(["", " ", "  ", "\t"])


@given(st.lists(st.tuples(SPACES, CODINGS, SPACES), min_size=1, max_size=6))
def test_stored_content_encoding_drops_only_aws_chunked(
    members: list[tuple[str, str, str]],
) -> None:
    value = ",".join(f"{before}{coding}{after}" for before, coding, after in members)
    stored = stored_content_encoding(value)
    kept = [coding for _, coding, _ in members if coding.lower() != "aws-chunked"]
    if not kept:
        assert stored is None
        return
    assert stored is not None
    assert [m.strip() for m in stored.split(",")] == kept
    if len(kept) == len(members):
        assert stored == value  # nothing to remove: exactly as the client wrote it
    else:
        # The other members as written, spacing included; only the ends trimmed.
        raw_kept = [f"{b}{c}{a}" for b, c, a in members if c.lower() != "aws-chunked"]
        assert stored == ",".join(raw_kept).strip()


@pytest.mark.parametrize(
    ("text", "wire_bytes"),
    [
        ("plain", b"plain"),
        ("\xe9", b"\xc3\xa9"),
        ('attachment; filename="\u4e2d\u6587.txt"', 'attachment; filename="中文.txt"'.encode()),
        ("\U0001f600", b"\xf0\x9f\x98\x80"),
    ],
)
def test_header_value_is_the_utf8_bytes_one_character_each(text: str, wire_bytes: bytes) -> None:
    assert header_value(text).encode("latin-1") == wire_bytes


@given(st.text())
def test_header_value_round_trips_any_text(text: str) -> None:
    wire = header_value(text)
    assert all(ord(c) < 256 for c in wire)
    assert wire.encode("latin-1").decode("utf-8", errors="surrogatepass") == text
