"""From an HTTP request head to an `S3Request`: bucket, key and query (pure, no I/O).

Addressing:
- path-style: ``/bucket/key``; ``/`` is the service (ListBuckets), ``/bucket``
  and ``/bucket/`` are the bucket itself.
- virtual-hosted: ``Host: bucket.DOMAIN[:port]`` for each configured DOMAIN
  (case-insensitive, port ignored, longest domain wins); the whole path after
  the first ``/`` is the key. A Host equal to a domain itself, or matching no
  domain, is path-style.

Keys are percent-decoded exactly once and kept byte-exact: ``a``, ``/a`` and
``//a`` are three keys (``/bucket//a`` is key ``/a``), ``+`` in a path is a
literal plus, nothing is unicode-normalised or dot-segment-collapsed.
Query names and values are form-decoded (``+`` is a space, as S3 reads
them). A malformed percent escape or bytes that are not UTF-8 after decoding
are refused with 400 InvalidURI, as S3 does.

`raw_path` and `raw_query` keep the target exactly as sent, for SigV4.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hamster.http.messages import HttpRequest
from hamster.s3.errors import S3Error

__all__ = ["S3Request", "normalize_host", "parse_query", "parse_request", "percent_decode"]

_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_ABSOLUTE_FORM = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.ASCII | re.DOTALL)


@dataclass(frozen=True)
class S3Request:
    """One request, addressed.

    Attributes:
      method: upper-case HTTP method.
      bucket: the bucket name (percent-decoded), None for the service (``/``).
        Not validated here.
      key: the object key (percent-decoded once, byte-exact), None when the
        request names a bucket or the service.
      query: decoded (name, value) pairs in arrival order; a valueless
        parameter such as ``?uploads`` gives ``("uploads", "")``.
      raw_path: the path exactly as sent (``/bucket/a%20b``), for SigV4.
      raw_query: the query exactly as sent, without the ``?`` (``""`` if none).
      headers: (lower-case name, latin-1 value) pairs, as in `HttpRequest`.
      virtual_host: True when the bucket came from the Host header.
      host: the Host (or absolute-form authority), lower-cased, port removed.
    """

    method: str
    bucket: str | None
    key: str | None
    query: tuple[tuple[str, str], ...]
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...]
    virtual_host: bool = False
    host: str = ""

    def q(self, name: str) -> str | None:
        """The first value of query parameter `name`, None if absent."""
        for k, v in self.query:
            if k == name:
                return v
        return None

    def has_q(self, name: str) -> bool:
        """True when query parameter `name` is present (with or without a value)."""
        return any(k == name for k, _ in self.query)

    def header(self, name: str) -> str | None:
        """The value of header `name` (lower-case), repeated ones joined by ``","``."""
        values = [v for k, v in self.headers if k == name]
        if not values:
            return None
        return ",".join(values)


def parse_request(req: HttpRequest, domains: Sequence[str]) -> S3Request:
    """Address `req`: bucket and key from path-style or virtual-hosted form.

    Args:
      req: the parsed request head.
      domains: the configured ``--domain`` values (``s3.example.com``); may be empty.

    Raises:
      S3Error("InvalidURI"): a target that is not origin- or absolute-form, a
        malformed percent escape, or a name that is not UTF-8 once decoded.
    """
    target = req.target.decode("latin-1")
    authority: str | None = None
    if target.startswith("/"):
        rest = target
    else:
        m = _ABSOLUTE_FORM.fullmatch(target)
        if m is None:
            raise S3Error("InvalidURI")
        authority = m[2]
        rest = m[3]
        if not rest.startswith("/"):
            rest = "/" + rest  # "http://host?x" has the empty path "/"
    raw_path, sep, raw_query = rest.partition("?")
    if not sep:
        raw_query = ""

    host_value = authority if authority is not None else (req.header("host") or "")
    host = normalize_host(host_value)
    vhost_bucket = _virtual_host_bucket(host, domains)

    bucket: str | None
    key: str | None
    path = raw_path[1:]
    if vhost_bucket is not None:
        bucket = vhost_bucket
        key = percent_decode(path) if path else None
    elif path == "":
        bucket, key = None, None
    else:
        bucket_raw, slash, key_raw = path.partition("/")
        bucket = percent_decode(bucket_raw)
        if bucket == "":
            raise S3Error("InvalidURI")
        key = percent_decode(key_raw) if slash and key_raw else None

    return S3Request(
        method=req.method,
        bucket=bucket,
        key=key,
        query=parse_query(raw_query),
        raw_path=raw_path,
        raw_query=raw_query,
        headers=req.headers,
        virtual_host=vhost_bucket is not None,
        host=host,
    )


def normalize_host(value: str) -> str:
    """`value` (a Host header or authority) lower-cased, without port, userinfo or final dot."""
    host = value.strip().lower()
    host = host.rpartition("@")[2]
    if host.startswith("["):
        literal, close, _ = host.partition("]")  # an IPv6 literal ends at its first "]"
        return literal + close
    name, colon, port = host.rpartition(":")
    if colon and (port == "" or port.isdigit()):
        host = name
    return host.rstrip(".")


def _virtual_host_bucket(host: str, domains: Sequence[str]) -> str | None:
    """The bucket named by `host` under the longest matching domain, or None."""
    matching = [
        d
        for d in map(normalize_host, domains)
        if d and host.endswith("." + d) and len(host) > len(d) + 1
    ]
    if not matching:
        return None
    return host[: -(len(max(matching, key=len)) + 1)]


def percent_decode(raw: str, *, plus_is_space: bool = False) -> str:
    """Decode ``%XX`` escapes in `raw` exactly once, then UTF-8.

    Characters of `raw` stand for their latin-1 bytes (a target is bytes), so
    unescaped UTF-8 bytes in a target decode to the text they encode.

    Raises:
      S3Error("InvalidURI"): a ``%`` not followed by two hex digits, or bytes
        that are not valid UTF-8.
    """
    if plus_is_space:
        raw = raw.replace("+", " ")
    if "%" not in raw and raw.isascii():
        return raw  # ASCII is UTF-8 already: nothing to decode
    data = _latin1(raw)
    if b"%" in data:
        parts = data.split(b"%")
        out = bytearray(parts[0])
        for part in parts[1:]:
            if len(part) < 2 or part[0] not in _HEX_DIGITS or part[1] not in _HEX_DIGITS:
                raise S3Error("InvalidURI")
            out.append(int(part[:2], 16))
            out += part[2:]
        data = bytes(out)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise S3Error("InvalidURI") from None


def _latin1(raw: str) -> bytes:
    try:
        return raw.encode("latin-1")
    except UnicodeEncodeError:
        # Not from a wire target; treat the text as already decoded characters
        # (UTF-8; a lone surrogate passes, to be refused as not UTF-8).
        return raw.encode(errors="surrogatepass")


def parse_query(raw_query: str) -> tuple[tuple[str, str], ...]:
    """Decoded (name, value) pairs of `raw_query` in order; empty members skipped.

    ``uploads`` and ``uploads=`` both give ``("uploads", "")``; ``+`` is a space.

    Raises:
      S3Error("InvalidURI"): as `percent_decode`.
    """
    pairs: list[tuple[str, str]] = []
    for member in raw_query.split("&"):
        if not member:
            continue
        name, _, value = member.partition("=")
        pairs.append(
            (percent_decode(name, plus_is_space=True), percent_decode(value, plus_is_space=True))
        )
    return tuple(pairs)
