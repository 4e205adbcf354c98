"""tests/patterns.py: the position-dependent data every package's tests use."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.patterns import (
    PatternStream,
    assert_pattern,
    chunks,
    decode,
    object_id,
    pattern,
    split,
    where,
)

MiB = 1 << 20
offsets = st.integers(0, 3 * MiB)
objects = st.one_of(st.integers(0, (1 << 24) - 1), st.text(max_size=8))


@given(obj=objects, start=offsets, size=st.integers(0, 5000), data=st.data())
def test_slices_agree(obj: int | str, start: int, size: int, data: st.DataObject) -> None:
    whole = pattern(size, obj, start)
    assert len(whole) == size
    i = data.draw(st.integers(0, size))
    j = data.draw(st.integers(i, size))
    assert whole[i:j] == pattern(j - i, obj, start + i)


@given(a=st.tuples(objects, offsets), b=st.tuples(objects, offsets), size=st.integers(16, 64))
def test_windows_of_16_bytes_are_unique(
    a: tuple[int | str, int], b: tuple[int | str, int], size: int
) -> None:
    """Bytes from another offset or another object never compare equal."""
    if object_id(a[0]) == object_id(b[0]) and a[1] == b[1]:
        return
    assert pattern(size, *a) != pattern(size, *b)


@given(start=st.integers(0, 3 * MiB), shift=st.integers(1, 64))
def test_a_shift_of_a_few_bytes_shows_in_8_bytes(start: int, shift: int) -> None:
    assert pattern(8, "k", start) != pattern(8, "k", start + shift)


def test_no_repeat_per_mib_or_per_block() -> None:
    first = pattern(MiB, "k")
    assert first != pattern(MiB, "k", MiB)
    words = {first[i : i + 8] for i in range(0, MiB, 8)}
    assert len(words) == MiB // 8
    assert b"\x00" * 4 not in pattern(4096, 0)  # small offsets are not runs of zeros


@given(obj=st.integers(0, (1 << 24) - 1), word=st.integers(0, (1 << 30) - 1))
def test_a_word_decodes_to_its_object_and_offset(obj: int, word: int) -> None:
    assert decode(pattern(8, obj, 8 * word)) == (obj, 8 * word)


@given(obj=objects, start=offsets)
def test_where_names_any_unaligned_start(obj: int | str, start: int) -> None:
    assert where(pattern(23, obj, start)) == f"object {object_id(obj):#08x} offset {start}"


def test_where_needs_two_words() -> None:
    assert where(pattern(22, "k", 1)) == "no pattern's bytes"
    assert where(hashlib.sha256(b"not a pattern").digest()) == "no pattern's bytes"


def test_assert_pattern_names_the_misplaced_bytes() -> None:
    assert_pattern(pattern(100, "k", 7), "k", 7)
    # Bytes 40.. read from offset 0 instead of 40.
    wrong = pattern(40, "k") + pattern(60, "k")
    with pytest.raises(AssertionError) as e:
        assert_pattern(wrong, "k")
    assert "first difference at byte 40 (offset 40), where the bytes are object " in str(e.value)
    assert str(e.value).endswith(f"{object_id('k'):#08x} offset 0")
    with pytest.raises(AssertionError, match="99 bytes where 100"):
        assert_pattern(pattern(99, "k"), "k", size=100)


def test_chunks_and_split() -> None:
    assert b"".join(chunks(3 * MiB + 5, "c", chunk_bytes=MiB, start=3)) == pattern(
        3 * MiB + 5, "c", 3
    )
    assert [len(c) for c in chunks(2 * MiB + 1, "c")] == [MiB, MiB, 1]
    assert split(pattern(10, "s"), [3, 0, 7]) == [pattern(3, "s"), b"", pattern(7, "s", 3)]


def test_pattern_stream() -> None:
    stream = PatternStream(3 * MiB + 11, "stream")
    whole = pattern(3 * MiB + 11, "stream")
    assert stream.read(5) == whole[:5]
    assert stream.tell() == 5
    assert len(stream.read()) == MiB  # at most 1 MiB per read
    assert stream.seek(-11, 2) == 3 * MiB
    assert stream.read(100) == whole[-11:] and stream.read(1) == b""
    assert stream.seek(7) == 7 and stream.seek(3, 1) == 10 and stream.read(3) == whole[10:13]
    assert stream.md5() == hashlib.md5(whole).hexdigest()
