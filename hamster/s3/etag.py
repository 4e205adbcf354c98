"""Entity tags as S3 clients send them back to us (pure, no I/O).

S3 ETags are always strong and quoted on the wire (``"9b2cf535f27731c974343645a3985328"``,
``"…-3"`` for multipart). Clients are sloppy about echoing them: some strip the
quotes, some send ``W/`` weak tags, some send lists (``"a", "b"``) or ``*``.
`etag_matches` accepts all of those; the comparison itself is on the opaque
value without quotes and without the ``W/`` prefix (S3 has no weak tags, so
weak and strong comparison coincide).
"""

from __future__ import annotations

__all__ = ["etag_matches", "parse_etag_list", "quote", "unquote"]


def quote(etag: str) -> str:
    """`etag` in its quoted wire form; an already quoted value is kept as is."""
    if len(etag) >= 2 and etag[0] == '"' and etag[-1] == '"':
        return etag
    return f'"{etag}"'


def unquote(etag: str) -> str:
    """The opaque value of `etag`: surrounding quotes and a ``W/`` prefix removed."""
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return value


def parse_etag_list(header_value: str) -> list[str]:
    """The members of an If-Match / If-None-Match list, unquoted, ``*`` kept as ``*``.

    Quoted members may contain commas (RFC 9110 allows them inside an
    entity-tag); unquoted members end at the next comma. Empty members are
    skipped.
    """
    items: list[str] = []
    i = 0
    n = len(header_value)
    while True:
        while i < n and header_value[i] in " \t,":
            i += 1
        if i >= n:
            return items
        start = i
        if header_value.startswith("W/", i):
            i += 2
        if header_value.startswith('"', i):
            close = header_value.find('"', i + 1)
            if close == -1:
                # Unterminated quote: take the rest as an unquoted member.
                items.append(unquote(header_value[start:].strip() + '"'))
                return items
            items.append(header_value[i + 1 : close])
            i = close + 1
            # Skip anything up to the next separator (malformed trailing text).
            while i < n and header_value[i] != ",":
                i += 1
        else:
            comma = header_value.find(",", i)
            end = n if comma == -1 else comma
            member = header_value[start:end].strip()
            if member:
                items.append(unquote(member))
            i = end


def etag_matches(header_value: str, etag: str) -> bool:
    """True when `header_value` (an If-Match / If-None-Match value) names `etag`.

    ``*`` matches any existing object. Quoted and unquoted forms, ``W/``
    prefixes and comma-separated lists are all accepted.
    """
    target = unquote(etag)
    for member in parse_etag_list(header_value):
        if member == "*" or member == target:
            return True
    return False
