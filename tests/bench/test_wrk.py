"""The pure parts of the small-object benchmark (bench/wrk.py): reading wrk's
report, CPU per request from /proc/PID/stat, median and spread. No timing."""

from __future__ import annotations

import math

import pytest

from bench.wrk import cpu_ms_per_request, cpu_ticks, parse_hey, parse_wrk, spread

# A real wrk 4.1.0 report with LUA_SCRIPT's done() lines (16 connections, GET).
CLEAN = """\
Running 2s test @ http://127.0.0.1:40123
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.80ms    5.01ms  41.07ms   74.12%
    Req/Sec   626.60     80.11   787.00     70.00%
  Latency Distribution
     50%   11.58ms
     75%   14.71ms
     90%   18.93ms
     99%   30.24ms
  2500 requests in 2.01s, 11.84MB read
Requests/sec:   1246.00
Transfer/sec:      5.90MB
BENCH-SUMMARY requests=2500 duration_us=2006415 status=0 connect=0 read=0 write=0 timeout=0
BENCH-PERCENTILE p50_us=11575
BENCH-PERCENTILE p99_us=30237
"""


def test_clean_report():
    r = parse_wrk(CLEAN)
    assert r.requests == 2500
    assert r.duration_s == pytest.approx(2.006415)
    assert r.ops_per_s == pytest.approx(2500 / 2.006415)
    assert r.p50_ms == pytest.approx(11.575)
    assert r.p99_ms == pytest.approx(30.237)
    assert r.errors == 0


def test_errors_make_the_result_count_them():
    bad = CLEAN.replace("Requests/sec:", "  Non-2xx or 3xx responses: 7\nRequests/sec:").replace(
        "status=0 connect=0 read=0 write=0 timeout=0",
        "status=7 connect=1 read=2 write=3 timeout=4",
    )
    r = parse_wrk(bad)
    assert (r.non_2xx, r.socket_errors, r.errors) == (7, 10, 17)


def test_wrks_own_non_2xx_line_is_not_lost():
    """If the Lua summary says 0 but wrk printed a count, the count wins."""
    r = parse_wrk(CLEAN.replace("Requests/sec:", "  Non-2xx or 3xx responses: 3\nRequests/sec:"))
    assert r.non_2xx == 3


def test_missing_lines_are_an_error_not_zero():
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    with pytest.raises(ValueError):
        parse_wrk(CLEAN.replace("BENCH-PERCENTILE p99_us=30237\n", ""))


# hey 0.1.4's report (HEAD, 16 connections), trimmed of its histogram.
HEY = """
Summary:
  Total:	2.0153 secs
  Slowest:	0.0497 secs
  Fastest:	0.0044 secs
  Average:	0.0157 secs
  Requests/sec:	1012.7326

  Total data:	8359936 bytes
  Size/request:	4096 bytes

Response time histogram:
  0.004 [1]	|
  0.009 [54]	|■■

Latency distribution:
  10% in 0.0109 secs
  50% in 0.0146 secs
  99% in 0.0363 secs

Status code distribution:
  [200]	2041 responses
"""


def test_hey_report():
    r = parse_hey(HEY)
    assert (r.requests, r.errors) == (2041, 0)
    assert r.duration_s == pytest.approx(2.0153)
    assert r.p50_ms == pytest.approx(14.6)
    assert r.p99_ms == pytest.approx(36.3)


def test_hey_non_2xx_and_errors():
    bad = HEY.replace(
        "  [200]\t2041 responses\n",
        "  [200]\t2000 responses\n  [403]\t41 responses\n\n"
        "Error distribution:\n"
        '  [3]\tHead "http://127.0.0.1:1/b/k": read: connection reset by peer\n'
        '  [2]\tHead "http://127.0.0.1:1/b/k": context deadline exceeded\n',
    )
    r = parse_hey(bad)
    assert (r.requests, r.non_2xx, r.socket_errors) == (2041, 41, 5)
    with pytest.raises(ValueError):
        parse_hey("hey: unknown flag\n")


def test_cpu_ticks_counts_after_the_last_parenthesis():
    # Field 2 is the command in parentheses and may hold ") " itself; utime
    # (field 14) = 1234 and stime (field 15) = 567 here.
    fields = ["S", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "1234", "567", "11", "12"]
    line = "4242 (weird) (name 9 9) " + " ".join(fields) + " 20 0 8 0\n"
    assert cpu_ticks(line) == 1234 + 567


def test_cpu_ms_per_request():
    # 250 ticks at 100 ticks/s is 2.5 s of CPU over 1000 requests: 2.5 ms each.
    assert cpu_ms_per_request(1000, 1250, 1000, 100) == pytest.approx(2.5)
    assert math.isnan(cpu_ms_per_request(5, 9, 0, 100))


def test_spread():
    s = spread([3.0, 1.0, 10.0])
    assert (s.median, s.low, s.high, s.n) == (3.0, 1.0, 10.0, 3)
    assert spread([4.0, 2.0]).median == 3.0
    with pytest.raises(ValueError):
        spread([])
