"""SigV4 canonicalisation and signing: pure functions, standard library only.

Two canonicalisation modes:

* ``S3`` (what the server verifies): the path is not normalised and is encoded
  once — the raw path is percent-decoded to bytes and re-encoded with AWS's
  rules (unreserved ``A-Za-z0-9-._~`` and ``/`` kept), so ``a``, ``/a`` and
  ``//a`` stay distinct.
* ``GENERIC`` (every other AWS service, and the published test suite): dot
  segments and empty segments are removed and the path, as sent, is encoded
  again ("double encoding": ``%20`` becomes ``%2520``).

Strings that come off the wire (paths, queries, header values) are ``str``
holding the wire bytes one character per byte (latin-1, as
`hamster.http.messages.HttpRequest` has them); the canonical request is signed
over those same bytes, as S3 does. A character above U+00FF can only come from
a caller, not from the wire, and is taken as UTF-8.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

SIGNING_KEY_CACHE_ENTRIES_MAX = 128

_SPACES = re.compile(r"[ \t]+")
# Text that AWS's encoding leaves as it is (unreserved characters; with "/" for paths).
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]*")
_UNRESERVED_OR_SLASH = re.compile(r"[A-Za-z0-9\-._~/]*")


class Mode(enum.Enum):
    S3 = "s3"
    GENERIC = "generic"


def wire_bytes(text: str) -> bytes:
    """The bytes a wire string stands for (latin-1; UTF-8 beyond U+00FF)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def uri_encode(data: bytes, *, keep_slash: bool) -> str:
    """Percent-encode `data` per AWS: unreserved kept, everything else ``%XX``."""
    return quote(data, safe="/" if keep_slash else "")


def _encode_wire(text: str, *, keep_slash: bool) -> str:
    """`uri_encode` of the bytes of a wire string (most need no encoding at all)."""
    if (_UNRESERVED_OR_SLASH if keep_slash else _UNRESERVED).fullmatch(text):
        return text
    return _encode_wire_bytes(text, keep_slash)


# The values that do need encoding repeat from request to request (a presigned
# URL's X-Amz-Credential and X-Amz-SignedHeaders): a few are remembered.
@functools.lru_cache(maxsize=256)
def _encode_wire_bytes(text: str, keep_slash: bool) -> str:
    return uri_encode(wire_bytes(text), keep_slash=keep_slash)


def _decode_wire(text: str) -> str:
    """A wire string percent-decoded once, as a wire string."""
    if "%" not in text and text.isascii():
        return text
    return unquote_to_bytes(wire_bytes(text)).decode("latin-1")


def normalize_path(path: str) -> str:
    """Remove dot segments and empty segments (generic SigV4 only, never S3)."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_uri(raw_path: str, mode: Mode = Mode.S3) -> str:
    """The canonical URI of `raw_path` (the path exactly as on the request line)."""
    if mode is Mode.S3:
        if not raw_path:
            return "/"
        if _UNRESERVED_OR_SLASH.fullmatch(raw_path):
            return raw_path  # nothing to decode, nothing to encode
        return uri_encode(unquote_to_bytes(wire_bytes(raw_path)), keep_slash=True)
    return uri_encode(wire_bytes(normalize_path(raw_path)), keep_slash=True)


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The decoded (name, value) pairs of a raw query, in order.

    Names and values are percent-decoded once (``+`` stays a plus) and kept as
    wire strings (one character per byte). ``?acl`` gives ``("acl", "")``.
    """
    pairs: list[tuple[str, str]] = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        pairs.append((_decode_wire(name), _decode_wire(value)))
    return pairs


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    """Encode each decoded (name, value) per AWS, sort by name then value, join."""
    encoded = sorted(
        [(_encode_wire(n, keep_slash=False), _encode_wire(v, keep_slash=False)) for n, v in pairs]
    )
    return "&".join(f"{n}={v}" for n, v in encoded)


def trim_value(value: str) -> str:
    """Trim a header value and collapse internal runs of spaces/tabs to one space."""
    value = value.strip(" \t")
    if "  " in value or "\t" in value:
        return _SPACES.sub(" ", value)
    return value


def canonical_headers(headers: Sequence[tuple[str, str]], signed_names: Sequence[str]) -> str:
    """The canonical headers block (each line ends with a newline).

    Args:
      headers: (lower-case name, value) pairs in arrival order.
      signed_names: the lower-case names to include (any order; sorted here).
        A signed name the request lacks gives an empty value, which can only
        fail verification.
    """
    wanted = set(signed_names)
    values: dict[str, list[str]] = {name: [] for name in wanted}
    for name, value in headers:
        if name in wanted:
            values[name].append(trim_value(value))
    return "".join(f"{name}:{','.join(values[name])}\n" for name in sorted(wanted))


def canonical_request(
    *,
    method: str,
    uri: str,
    query: str,
    headers_block: str,
    signed_headers: str,
    payload: str,
) -> str:
    """Join the six parts of a canonical request."""
    return f"{method}\n{uri}\n{query}\n{headers_block}\n{signed_headers}\n{payload}"


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/{TERMINATOR}"


def string_to_sign(*, amz_date: str, scope: str, canonical_request_bytes: bytes) -> str:
    digest = hashlib.sha256(canonical_request_bytes).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


# hmac.new, not hmac.digest: the one-shot C path releases the GIL on every
# call, and taking it back on an event loop shared with busy worker threads
# cost more than the whole HMAC (py-spy: 7 % of the loop under 4 KiB GETs).
def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key for (secret, YYYYMMDD, region, service); cached, bounded."""
    cache_key = (secret, date, region, service)
    key = _signing_keys.get(cache_key)
    if key is None:
        k = _hmac(f"AWS4{secret}".encode(), date)
        k = _hmac(k, region)
        k = _hmac(k, service)
        key = _hmac(k, TERMINATOR)
        if len(_signing_keys) >= SIGNING_KEY_CACHE_ENTRIES_MAX:
            del _signing_keys[next(iter(_signing_keys))]  # oldest insertion first
        _signing_keys[cache_key] = key
    return key


def signature(key: bytes, string_to_sign_text: str) -> str:
    """Hex HMAC-SHA256 of a string to sign under a derived signing key."""
    return hmac.new(key, string_to_sign_text.encode("utf-8"), hashlib.sha256).hexdigest()


def chunk_string_to_sign(
    *, amz_date: str, scope: str, previous_signature: str, chunk_sha256: str
) -> str:
    """The string to sign of one aws-chunked chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    return (
        f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature}\n"
        f"{EMPTY_SHA256}\n{chunk_sha256}"
    )


def trailer_string_to_sign(
    *, amz_date: str, scope: str, previous_signature: str, trailer_sha256: str
) -> str:
    """The string to sign of aws-chunked trailers (…-PAYLOAD-TRAILER)."""
    return f"{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n{previous_signature}\n{trailer_sha256}"
