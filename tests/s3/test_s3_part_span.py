"""part_span: the bytes of ?partNumber=N, as pure math over the part sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.s3.ranges import part_span

MiB = 1 << 20


@pytest.mark.parametrize(
    ("sizes", "number", "span"),
    [
        ([5 * MiB, 5 * MiB, 17], 1, (0, 5 * MiB)),
        ([5 * MiB, 5 * MiB, 17], 2, (5 * MiB, 5 * MiB)),
        ([5 * MiB, 5 * MiB, 17], 3, (10 * MiB, 17)),
        ([6 * MiB, 5 * MiB], 2, (6 * MiB, 5 * MiB)),  # parts need not be equal
        ([10], 1, (0, 10)),  # a single PUT's object: part 1 is the whole object
        ([0], 1, (0, 0)),
    ],
)
def test_part_span(sizes: list[int], number: int, span: tuple[int, int]) -> None:
    assert part_span(sizes, number) == span


@pytest.mark.parametrize(("sizes", "number"), [([10], 2), ([5 * MiB, 3], 3), ([1] * 3, 10_000)])
def test_past_the_last_part_is_invalid_part_number(sizes: list[int], number: int) -> None:
    with pytest.raises(S3Error) as info:
        part_span(sizes, number)
    assert (info.value.code, info.value.status) == ("InvalidPartNumber", 416)
    assert info.value.extra == {
        "PartNumberRequested": str(number),
        "ActualPartCount": str(len(sizes)),
    }


@given(st.lists(st.integers(min_value=0, max_value=1 << 40), min_size=1, max_size=60))
def test_spans_tile_the_object_in_order(sizes: list[int]) -> None:
    offset = 0
    for number, size in enumerate(sizes, start=1):
        assert part_span(sizes, number) == (offset, size)
        offset += size
    assert offset == sum(sizes)
    with pytest.raises(S3Error) as info:
        part_span(sizes, len(sizes) + 1)
    assert (info.value.code, info.value.status) == ("InvalidPartNumber", 416)
