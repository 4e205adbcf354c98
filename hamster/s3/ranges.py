"""The Range header of GetObject / HeadObject, as S3 applies it (pure, no I/O).

S3 serves a single byte range; it does not do multipart/byteranges. What it
does with each kind of header value:

==========================  =====================================================
``bytes=a-b``               bytes a..min(b, size-1); 416 if a >= size
``bytes=a-``                bytes a..size-1; 416 if a >= size
``bytes=-n``                the last n bytes (all of them if n >= size);
                            416 if n == 0; on an empty object the whole (empty)
                            object with 200
syntactically invalid       ignored: 200 with the whole object
(``bytes=5-3``, ``foo``…)
several ranges              ignored: 200 with the whole object
==========================  =====================================================

A 0-byte object has no satisfiable ``a-b`` or ``a-`` range (RFC 9110 §14.1.1,
and S3 answers 416 InvalidRange to ``bytes=0-`` on it).

A 416 answer (GET or HEAD) carries ``Content-Range: bytes */size`` (RFC 9110
§15.5.17), as S3 sends it: the error's `S3Error.headers`.

``?partNumber=N`` is the other way to ask for a range (the SDKs' transfer
managers download in parallel with it): the bytes of part N, see `part_span`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hamster.s3.errors import S3Error

__all__ = ["content_range", "parse_range", "part_span", "unsatisfied_content_range"]

# RFC 9110: ranges-specifier = range-unit "=" range-set; bytes unit is
# case-insensitive; optional whitespace around the single range.
_SINGLE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.ASCII | re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range (first, last) to serve of an object of `size` bytes.

    Returns None when the whole object is to be served with 200: no header,
    a header S3 ignores (syntactically invalid, or more than one range), or a
    suffix range on an empty object.

    Raises:
      S3Error("InvalidRange") (416) for an unsatisfiable range, with
        ``RangeRequested`` and ``ActualObjectSize`` as S3 reports them.
    """
    assert size >= 0
    if header is None:
        return None
    m = _SINGLE.fullmatch(header)
    if m is None:
        return None
    first_text, last_text = m[1], m[2]
    if first_text == "" and last_text == "":
        return None  # "bytes=-" is not a range
    if first_text == "":
        suffix_bytes = int(last_text)
        if suffix_bytes == 0:
            raise _invalid_range(header, size)
        if size == 0:
            return None
        return max(0, size - suffix_bytes), size - 1
    first = int(first_text)
    if last_text == "":
        last = size - 1
    else:
        last = int(last_text)
        if last < first:
            return None  # invalid syntax per RFC 9110: ignored, whole object
        last = min(last, size - 1)
    if first >= size:
        raise _invalid_range(header, size)
    return first, last


def content_range(first: int, last: int, size: int) -> str:
    """The Content-Range value of a 206 answer: ``bytes 0-99/1234``."""
    assert 0 <= first <= last < size
    return f"bytes {first}-{last}/{size}"


def part_span(part_sizes: Sequence[int], part_number: int) -> tuple[int, int]:
    """(first byte, length) of part `part_number` of an object made of parts of
    `part_sizes`, in order. A single PUT's object is one part: its whole size.

    Raises:
      S3Error("InvalidPartNumber") (416) for a part past the last, with
        ``PartNumberRequested`` and ``ActualPartCount`` as S3 reports them.
    """
    assert part_number >= 1, part_number
    assert all(size >= 0 for size in part_sizes)
    if part_number > len(part_sizes):
        raise S3Error(
            "InvalidPartNumber",
            extra={
                "PartNumberRequested": str(part_number),
                "ActualPartCount": str(len(part_sizes)),
            },
        )
    return sum(part_sizes[: part_number - 1]), part_sizes[part_number - 1]


def unsatisfied_content_range(size: int) -> str:
    """The Content-Range value of a 416 answer: ``bytes */1234``."""
    return f"bytes */{size}"


def _invalid_range(header: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        extra={"RangeRequested": header, "ActualObjectSize": str(size)},
        headers={"Content-Range": unsatisfied_content_range(size)},
    )
