"""Pure parts of the small-object benchmark: wrk's Lua driver, parsing the
reports of wrk and of hey (HEAD: wrk 4.1.0 cannot drive it), CPU per request
from ``/proc/PID/stat``, median and spread.

No I/O here beyond what the caller hands in, so tests/bench can check it.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# wrk runs this in each of its threads. The URL file holds one request per line:
# "METHOD /path?presigned-query". Every request is formatted once in init(), so
# the generator's per-request work is a table lookup. Thread k of n starts k/n of
# the way into the list, so threads do not send the same URL at the same moment.
# PUT bodies are 4 KiB and depend on the line and on the position in the body (a
# misplaced byte would show), built once.
LUA_SCRIPT = r"""
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local function body_for(n, size)
  local parts = {}
  for j = 0, size - 1 do
    parts[j + 1] = string.char((n * 131 + j * 7 + math.floor(j / 251)) % 256)
  end
  return table.concat(parts)
end

function init(args)
  local path, size, nthreads = args[1], tonumber(args[2]), tonumber(args[3])
  requests = {}
  local n = 0
  for line in io.lines(path) do
    local method, target = line:match("^(%u+) (.+)$")
    local body = nil
    local headers = {}
    if method == "PUT" then
      body = body_for(n, size)
    end
    requests[#requests + 1] = wrk.format(method, target, headers, body)
    n = n + 1
  end
  index = math.floor(tid * #requests / nthreads) % #requests
end

function request()
  local r = requests[index + 1]
  index = (index + 1) % #requests
  return r
end

function done(summary, latency, requests)
  io.write("BENCH-SUMMARY requests=", summary.requests, " duration_us=", summary.duration,
           " status=", summary.errors.status, " connect=", summary.errors.connect,
           " read=", summary.errors.read, " write=", summary.errors.write,
           " timeout=", summary.errors.timeout, "\n")
  for _, p in ipairs({50, 99}) do
    io.write("BENCH-PERCENTILE p", p, "_us=", latency:percentile(p), "\n")
  end
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def ops_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_SUMMARY = re.compile(
    r"BENCH-SUMMARY requests=(\d+) duration_us=(\d+) status=(\d+) connect=(\d+) "
    r"read=(\d+) write=(\d+) timeout=(\d+)"
)
_PERCENTILE = re.compile(r"BENCH-PERCENTILE p(\d+)_us=([0-9.e+]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(output: str) -> WrkResult:
    """wrk's stdout with `LUA_SCRIPT`'s done() lines → the figures.

    The summary line of done() is exact (microsecond duration, request count,
    error counters); wrk's own "Non-2xx or 3xx responses" line is checked as
    well, and the larger count wins, so an error can never be parsed away.
    """
    summary = _SUMMARY.search(output)
    if summary is None:
        raise ValueError("no BENCH-SUMMARY line in wrk's output:\n" + output)
    requests, duration_us, status, connect, read, write, timeout = (
        int(x) for x in summary.groups()
    )
    percentiles = {int(p): float(us) for p, us in _PERCENTILE.findall(output)}
    if 50 not in percentiles or 99 not in percentiles:
        raise ValueError("no p50/p99 lines in wrk's output:\n" + output)
    shown = _NON_2XX.search(output)
    non_2xx = max(status, int(shown.group(1)) if shown else 0)
    return WrkResult(
        requests=requests,
        duration_s=duration_us / 1e6,
        non_2xx=non_2xx,
        socket_errors=connect + read + write + timeout,
        p50_ms=percentiles[50] / 1000.0,
        p99_ms=percentiles[99] / 1000.0,
    )


_HEY_TOTAL = re.compile(r"^\s*Total:\s+([0-9.]+) secs", re.M)
_HEY_PERCENTILE = re.compile(r"^\s*(\d+)% in ([0-9.]+) secs", re.M)
_HEY_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.M)
_HEY_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(?!\d+ responses)\S", re.M)


def parse_hey(output: str) -> WrkResult:
    """hey's report (``hey -z … -m HEAD URL``) → the same figures as wrk's.

    Requests are the responses of every status; any status outside 2xx counts
    as an error response, and every line under "Error distribution" (a
    connection reset, a timeout) as socket errors. Latencies are hey's, in
    seconds with four decimals (0.1 ms resolution)."""
    total = _HEY_TOTAL.search(output)
    if total is None:
        raise ValueError("no 'Total:' line in hey's output:\n" + output)
    statuses = [(int(code), int(n)) for code, n in _HEY_STATUS.findall(output)]
    percentiles = {int(p): float(sec) for p, sec in _HEY_PERCENTILE.findall(output)}
    requests = sum(n for _, n in statuses)
    if requests and (50 not in percentiles or 99 not in percentiles):
        raise ValueError("no p50/p99 lines in hey's output:\n" + output)
    errors = 0
    if "Error distribution:" in output:
        tail = output.split("Error distribution:", 1)[1]
        errors = sum(int(n) for n in _HEY_ERROR.findall(tail))
    return WrkResult(
        requests=requests,
        duration_s=float(total.group(1)),
        non_2xx=sum(n for code, n in statuses if not 200 <= code < 300),
        socket_errors=errors,
        p50_ms=percentiles.get(50, 0.0) * 1000.0,
        p99_ms=percentiles.get(99, 0.0) * 1000.0,
    )


def cpu_ticks(stat_line: str) -> int:
    """utime + stime (clock ticks, every thread of the process) from the one
    line of ``/proc/PID/stat``. The command name (field 2) is in parentheses
    and may itself hold spaces or parentheses: fields are counted after the
    last ')'."""
    rest = stat_line[stat_line.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def cpu_ms_per_request(before: int, after: int, requests: int, ticks_per_s: int) -> float:
    """Milliseconds of server CPU per request between two `cpu_ticks` readings."""
    if requests <= 0:
        return float("nan")
    return (after - before) * 1000.0 / ticks_per_s / requests


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    n: int


def spread(values: Sequence[float]) -> Spread:
    """Median of the rounds with their range (low, high)."""
    if not values:
        raise ValueError("no values")
    return Spread(statistics.median(values), min(values), max(values), len(values))
