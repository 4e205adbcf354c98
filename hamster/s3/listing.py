"""S3's listing rules as one small state machine (pure, no I/O).

Every S3 listing (ListObjects v1 and v2, ListObjectVersions,
ListMultipartUploads, ListBuckets) is the same walk: keys in UTF-8 binary
order, filtered by a prefix, keys with the delimiter after the prefix rolled
up into common prefixes, a page of at most max-keys entries (keys and common
prefixes together) that starts after a marker. `Lister` holds those rules;
the caller owns the scan and feeds it keys in order:

    lister = Lister(prefix=..., delimiter=..., marker=..., max_keys=...)
    start = lister.start               # where the storage scan begins
    for key, item in scan(start):      # keys in order, each starting with prefix
        step = lister.feed(key, item)
        if step.action is Action.STOP:     # the page is full: there is more
            break
        if step.action is Action.SEEK:     # every key under step.prefix is done
            restart the scan after every key that starts with step.prefix
    page = lister.finish()

Seeking is what keeps a delimiter listing cheap: once a common prefix is
listed (or found already listed), none of the keys under it matter, so the
caller restarts its scan after them instead of reading them. Valid UTF-8
never contains the byte 0xff, so in bytes "every key starting with P" ends
before ``P + b"\\xff"`` (`seek_bytes`). A caller that does not seek still gets
the same page (the machine answers SEEK again for each key it should have
skipped), only slower.

The rules, as S3 has them:
- Order: Python compares str by code point, which is UTF-8 byte order for
  the valid Unicode text keys are (no lone surrogates), so keys are str here.
- Roll-up: a key rolls up into ``key[:i + len(delimiter)]`` where i is the
  first occurrence of the delimiter at or after ``len(prefix)``; any
  delimiter string works, not only ``/``. An empty delimiter is none.
- Entries: a page lists entries, each a key or a common prefix, in order;
  a common prefix counts once against max-keys and sorts where the prefix
  string sorts (before every key under it).
- Marker: an entry is listed only if it sorts after the marker. For keys,
  that is where the scan starts; a common prefix at or before the marker was
  listed on an earlier page (or the marker is inside it), so it is skipped,
  never repeated. The same rule serves v1's marker, v2's start-after and
  continuation token, ListObjectVersions' key-marker and ListBuckets' token.
- max-keys: 0 gives an empty page that is not truncated; more than 1000 is
  capped at 1000 (`clamp_max_keys`). A page is truncated only when another
  entry really follows, found by reading one entry past the page.
- Next marker: the page's last entry (`Page.next_marker`), key or common
  prefix; listing from it gives exactly the rest.

Markers and tokens: v2's continuation token is opaque to clients; here it
is the next marker with a version byte and a 4-byte check, in unpadded
URL-safe base64 (`encode_token` / `decode_token`). It carries no secret: a
forged one is merely a start-after.

URL encoding (``encoding-type=url``): `url_encode` percent-encodes every
byte of the UTF-8 form except unreserved characters and ``/`` (a space
is ``%20``, ``+`` is ``%2B``, ``%`` is ``%25``), so ``unquote`` and
``unquote_plus`` (botocore, minio-go's QueryUnescape) both give the key
back exactly.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import quote

from hamster.s3.errors import S3Error

__all__ = [
    "INT32_MAX",
    "MAX_KEYS_DEFAULT",
    "MAX_KEYS_MAX",
    "Action",
    "Lister",
    "Page",
    "Start",
    "Step",
    "clamp_max_keys",
    "common_prefix",
    "decode_token",
    "encode_token",
    "encoder",
    "parse_encoding_type",
    "parse_max_keys",
    "seek_bytes",
    "url_encode",
]

MAX_KEYS_DEFAULT = 1000
MAX_KEYS_MAX = 1000
INT32_MAX = 2**31 - 1

T = TypeVar("T")


class Action(enum.Enum):
    """What the caller does after feeding a key."""

    TAKE = "take"  # the key is listed (the machine kept its item)
    SEEK = "seek"  # skip every key that starts with Step.prefix
    STOP = "stop"  # the page is full and this key begins the next one


@dataclass(frozen=True)
class Step:
    action: Action
    prefix: str = ""  # SEEK: the common prefix whose keys are all done


_TAKE = Step(Action.TAKE)
_STOP = Step(Action.STOP)


@dataclass(frozen=True)
class Start:
    """Where the scan begins: after `after`, and, when `skip_under`, also after
    every key that starts with `after` (the marker lies inside a common prefix)."""

    after: str
    skip_under: bool = False


@dataclass
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
      contents: the items fed with the listed keys, in order.
      common_prefixes: the common prefixes listed, in order.
      is_truncated: another entry follows this page.
      next_marker: the page's last entry (key or common prefix), None if empty.
      last_is_prefix: whether that last entry is a common prefix.
    """

    contents: list[T] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_marker: str | None = None
    last_is_prefix: bool = False

    @property
    def count(self) -> int:
        """Entries on the page (S3's KeyCount): keys plus common prefixes."""
        return len(self.contents) + len(self.common_prefixes)


def common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    """The common prefix `key` rolls up into, None if it is listed as itself."""
    if not delimiter:
        return None
    cut = key.find(delimiter, len(prefix))
    if cut < 0:
        return None
    return key[: cut + len(delimiter)]


def seek_bytes(prefix: str) -> bytes:
    """The UTF-8 bytes a scan starts after to skip every key starting with `prefix`.

    No valid UTF-8 key contains 0xff, so every key that starts with `prefix`
    sorts before ``prefix + b"\\xff"`` and every other key after `prefix`
    sorts after it.
    """
    return prefix.encode() + b"\xff"


class Lister(Generic[T]):
    """One page of a listing, fed key by key; see the module docstring.

    Args:
      prefix: only keys starting with it are fed (asserted).
      delimiter: roll-up string; None or "" for none.
      marker: entries sorting at or before it are not listed.
      max_keys: the page size, already clamped to 0..1000.

    Keys must be fed in non-decreasing order (equal keys are allowed for
    listings with several entries per key, such as uploads); filtering keys
    at or before the marker is the scan's job (`start`).
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        marker: str = "",
        max_keys: int = MAX_KEYS_DEFAULT,
    ) -> None:
        assert max_keys >= 0
        self.prefix = prefix
        self.delimiter = delimiter or None
        self.marker = marker
        self.max_keys = max_keys
        self._page: Page[T] = Page()
        self._last_fed = ""  # every key sorts at or after the empty one
        self._done = max_keys == 0

    @property
    def start(self) -> Start:
        """Where the scan should begin for this page."""
        if self.marker.startswith(self.prefix):
            group = common_prefix(self.marker, self.prefix, self.delimiter)
            if group is not None:
                return Start(group, skip_under=True)
        return Start(self.marker)

    @property
    def done(self) -> bool:
        """True once the page is complete: feed no more keys, call `finish`."""
        return self._done

    def feed(self, key: str, item: T) -> Step:
        """Offer the next key of the scan, with the item to list for it."""
        assert not self._done, "fed a key after the page was complete"
        assert key.startswith(self.prefix), (key, self.prefix)
        assert key >= self._last_fed, (key, self._last_fed)
        self._last_fed = key
        page = self._page
        group = common_prefix(key, self.prefix, self.delimiter)
        if group is not None:
            if group <= self.marker or (page.last_is_prefix and page.next_marker == group):
                return Step(Action.SEEK, group)
            if page.count >= self.max_keys:
                return self._stop()
            page.common_prefixes.append(group)
            page.next_marker, page.last_is_prefix = group, True
            return Step(Action.SEEK, group)
        if page.count >= self.max_keys:
            return self._stop()
        page.contents.append(item)
        page.next_marker, page.last_is_prefix = key, False
        return _TAKE

    def _stop(self) -> Step:
        self._done = True
        self._page.is_truncated = True
        return _STOP

    def finish(self) -> Page[T]:
        """The page; call once the scan has ended or answered STOP."""
        self._done = True
        return self._page


# -- request parameters ---------------------------------------------------------


def clamp_max_keys(requested: int) -> int:
    """The page size S3 uses for a requested max-keys (at most 1000)."""
    return min(requested, MAX_KEYS_MAX)


# A decimal integer with at most int32's 10 significant digits (sign and leading
# zeros allowed): what int() may read before the range is judged.
_INT32_TEXT = re.compile(r"[-+]?0*[0-9]{1,10}")


def parse_max_keys(
    text: str | None,
    *,
    name: str = "max-keys",
    argument_name: str = "maxKeys",
    default: int = MAX_KEYS_DEFAULT,
) -> int:
    """max-keys (or max-uploads …) as given, 0..2**31-1, before capping.

    S3 reads it as a 32-bit integer: what is not one is "not an integer or
    within integer range", a negative one is outside 0..2147483647.

    Raises:
      S3Error("InvalidArgument"): not a decimal integer, or one outside
        -2**31..2**31-1 (S3: "Provided max-keys not an integer or within
        integer range"), or negative ("Argument maxKeys must be an integer
        between 0 and 2147483647").
    """
    if text is None:
        return default
    stripped = text.strip()
    value = int(stripped) if _INT32_TEXT.fullmatch(stripped) else None
    if value is None or not -INT32_MAX - 1 <= value <= INT32_MAX:
        raise S3Error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            extra={"ArgumentName": name, "ArgumentValue": text},
        )
    if value < 0:
        raise S3Error(
            "InvalidArgument",
            f"Argument {argument_name} must be an integer between 0 and {INT32_MAX}",
            extra={"ArgumentName": argument_name, "ArgumentValue": text},
        )
    return value


def parse_encoding_type(text: str | None) -> str | None:
    """``url`` or None; anything else is InvalidArgument, as S3 answers."""
    if text is None or text == "url":
        return text
    raise S3Error(
        "InvalidArgument",
        "Invalid Encoding Method specified in Request",
        extra={"ArgumentName": "encoding-type", "ArgumentValue": text},
    )


def url_encode(text: str) -> str:
    """`text` as S3 writes it under ``encoding-type=url`` (see the module docstring)."""
    return quote(text)  # quote's default safe is "/", which stays as it is


def _identity(text: str) -> str:
    return text


def encoder(encoding_type: str | None) -> Callable[[str], str]:
    """The function that writes keys, prefixes and markers for `encoding_type`."""
    return url_encode if encoding_type == "url" else _identity


# -- continuation tokens --------------------------------------------------------

_TOKEN_VERSION = b"\x01"
_TOKEN_CHECK_BYTES = 4


def _check(marker: bytes) -> bytes:
    return hashlib.sha256(b"hamster-list-token\x00" + marker).digest()[:_TOKEN_CHECK_BYTES]


def encode_token(marker: str) -> str:
    """An opaque continuation token for resuming after `marker`.

    URL-safe characters only, so it survives a client's URL encoding (or
    none) unchanged.
    """
    raw = marker.encode()
    blob = _TOKEN_VERSION + _check(raw) + raw
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


def decode_token(token: str) -> str:
    """The marker a token from `encode_token` resumes after.

    Raises:
      S3Error("InvalidArgument"): anything `encode_token` did not make, with
        S3's message "The continuation token provided is incorrect".
    """
    error = S3Error(
        "InvalidArgument",
        "The continuation token provided is incorrect",
        extra={"ArgumentName": "continuation-token"},
    )
    try:
        # Padding beyond what is missing is ignored; a str that is not
        # ASCII is a ValueError.
        blob = base64.urlsafe_b64decode(token + "==")
    except (binascii.Error, ValueError):
        raise error from None
    head = len(_TOKEN_VERSION) + _TOKEN_CHECK_BYTES
    raw = blob[head:]
    if blob[:head] != _TOKEN_VERSION + _check(raw):
        raise error
    try:
        marker = raw.decode()
    except UnicodeDecodeError:
        raise error from None
    # One spelling per token: no padding, no other base64 of the same bytes.
    if encode_token(marker) != token:
        raise error
    return marker
