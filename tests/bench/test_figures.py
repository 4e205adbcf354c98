"""The pure parts of the large-object, memory, listing and startup benchmarks
(bench/figures.py, bench/transfer.py's encodings): dd's report,
/proc/PID/status, percentiles, target verdicts, tables, replacing a generated
section of docs/benchmarks.md. No servers, no timing."""

from __future__ import annotations

import hashlib

import pytest

from bench import figures, transfer

DD = (
    "1024+0 records in\n1024+0 records out\n"
    "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 4.29154 s, 250 MB/s\n"
)


def test_parse_dd():
    nbytes, seconds = figures.parse_dd(DD)
    assert (nbytes, seconds) == (1073741824, 4.29154)
    # MiB/s from bytes and seconds, not dd's rounded decimal MB/s.
    assert figures.mib_per_s(*figures.parse_dd(DD)) == pytest.approx(1024 / 4.29154)
    small = (
        "1+0 records in\n1+0 records out\n1048576 bytes (1.0 MB, 1.0 MiB) copied, 0.5 s, 2.1 MB/s\n"
    )
    assert figures.parse_dd(small) == (1048576, 0.5)
    with pytest.raises(ValueError):
        figures.parse_dd("dd: failed to open 'x': Permission denied\n")


def test_mib_per_s_refuses_no_time():
    with pytest.raises(ValueError):
        figures.mib_per_s(1, 0.0)


def test_percentile_interpolates_between_ranks():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert figures.percentile(values, 50) == 3.0
    assert figures.percentile(values, 0) == 1.0
    assert figures.percentile(values, 100) == 5.0
    assert figures.percentile(values, 25) == 2.0
    assert figures.percentile([1.0, 2.0], 50) == 1.5
    # p99 of 1..100: between the 99th and 100th values.
    assert figures.percentile([float(i) for i in range(1, 101)], 99) == pytest.approx(99.01)
    assert figures.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        figures.percentile([], 50)
    with pytest.raises(ValueError):
        figures.percentile([1.0], 101)


STATUS = """Name:\tpython3
VmPeak:\t  412344 kB
VmHWM:\t   61234 kB
VmRSS:\t   45012 kB
Threads:\t5
"""


def test_status_kib():
    assert figures.status_kib(STATUS, "VmRSS") == 45012
    assert figures.status_kib(STATUS, "VmHWM") == 61234
    with pytest.raises(KeyError):
        figures.status_kib(STATUS, "VmSwap")
    # A field name that is a prefix of another is not mistaken for it.
    with pytest.raises(KeyError):
        figures.status_kib(STATUS, "VmR")


def test_fmt_spread_and_ratio():
    assert figures.fmt_spread([3.0], 1, " MiB/s") == "3.0 MiB/s"
    assert figures.fmt_spread([3.0, 1.0, 10.0], 0) == "3 (1–10)"
    assert figures.fmt_spread([2.0, 2.0], 0) == "2"
    assert figures.fmt_ratio(50.0, 200.0) == "0.25×"
    assert figures.fmt_ratio(None, 2.0) == "—"
    assert figures.fmt_ratio(1.0, 0.0) == "—"


def test_verdict():
    assert figures.verdict("≥ SeaweedFS", 10.0, 9.0) == "≥ SeaweedFS: met"
    assert figures.verdict("≥ SeaweedFS", 9.0, 9.0) == "≥ SeaweedFS: met"
    assert figures.verdict("≥ SeaweedFS", 8.9, 9.0) == "≥ SeaweedFS: **missed**"
    assert figures.verdict("≤ 8 MiB", 8.0, 8.0, at_most=True) == "≤ 8 MiB: met"
    assert figures.verdict("≤ 8 MiB", 8.1, 8.0, at_most=True) == "≤ 8 MiB: **missed**"
    assert figures.verdict("x", None, 1.0) == "x: —"
    assert figures.verdict("x", float("nan"), 1.0) == "x: —"


def test_table():
    assert figures.table(["a", "b"], [["1", "2"]]) == ["| a | b |", "| --- | --- |", "| 1 | 2 |"]
    with pytest.raises(ValueError):
        figures.table(["a", "b"], [["1"]])


DOC = "# Benchmarks\n\nintro\n\n<!-- A -->\nold a\n<!-- /A -->\n\n## hand-run\n"


def test_replace_section_in_place():
    out = figures.replace_section(
        DOC, "<!-- A -->", "<!-- /A -->", "<!-- A -->\nnew\n<!-- /A -->\n"
    )
    assert out == "# Benchmarks\n\nintro\n\n<!-- A -->\nnew\n<!-- /A -->\n\n## hand-run\n"


def test_new_section_goes_after_those_before_it():
    new = "<!-- B -->\nb\n<!-- /B -->\n"
    out = figures.replace_section(
        DOC, "<!-- B -->", "<!-- /B -->", new, ["<!-- /A -->", "<!-- /Z -->"]
    )
    assert out == (
        "# Benchmarks\n\nintro\n\n<!-- A -->\nold a\n<!-- /A -->\n\n<!-- B -->\nb\n<!-- /B -->"
        "\n\n## hand-run\n"
    )
    # No earlier section there: at the end.
    assert figures.replace_section("# B\n", "<!-- B -->", "<!-- /B -->", new, ["<!-- /A -->"]) == (
        "# B\n\n" + new
    )
    with pytest.raises(ValueError):
        figures.replace_section("<!-- B -->\n", "<!-- B -->", "<!-- /B -->", new)


def test_body_blocks_are_position_dependent_and_sliced_exactly():
    size = 3 * transfer.MiB + 12345
    pieces = list(transfer.blocks_of(size))
    assert sum(len(p) for p in pieces) == size
    assert len({transfer.block(i) for i in range(transfer.BLOCKS)}) == transfer.BLOCKS
    whole = b"".join(bytes(p) for p in pieces)
    assert whole[transfer.MiB : 2 * transfer.MiB] == transfer.block(1)
    # A range of the body is the same bytes as the slice of the whole.
    start, stop = transfer.MiB - 7, 2 * transfer.MiB + 9
    assert b"".join(bytes(p) for p in transfer.blocks_of(stop, start)) == whole[start:stop]
    assert transfer.expected_md5(size, start, stop) == hashlib.md5(whole[start:stop]).hexdigest()
    assert transfer.digests(size) == (
        hashlib.md5(whole).hexdigest(),
        hashlib.sha256(whole).hexdigest(),
    )


@pytest.mark.parametrize("size", [0, 1, transfer.STREAM_CHUNK, 3 * transfer.STREAM_CHUNK + 17])
def test_streaming_body_length_and_chunks(size):
    pieces = transfer.streaming_body(size, "20261201T120000Z", "0" * 64)
    encoded = b"".join(bytes(p) for p in pieces)
    assert len(encoded) == transfer.streaming_length(size)
    # Decoding the chunks gives the body back, and every chunk header is signed.
    body, rest = b"", encoded
    while True:
        line, rest = rest.split(b"\r\n", 1)
        length_hex, sig = line.split(b";chunk-signature=")
        assert len(sig) == 64
        length = int(length_hex, 16)
        body += rest[:length]
        assert rest[length : length + 2] == b"\r\n"
        rest = rest[length + 2 :]
        if length == 0:
            break
    assert rest == b""
    assert body == b"".join(bytes(p) for p in transfer.blocks_of(size))


def test_new_section_goes_after_the_last_earlier_one():
    doc = "<!-- A -->\na\n<!-- /A -->\n\n<!-- C -->\nc\n<!-- /C -->\n\n## hand-run\n"
    out = figures.replace_section(
        doc,
        "<!-- D -->",
        "<!-- /D -->",
        "<!-- D -->\n<!-- /D -->\n",
        ["<!-- /A -->", "<!-- /C -->"],
    )
    assert out.index("<!-- /C -->") < out.index("<!-- D -->") < out.index("## hand-run")
