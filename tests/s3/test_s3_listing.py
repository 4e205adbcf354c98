"""The listing state machine (hamster/s3/listing.py) against a naive reference:
filter by prefix, roll up, sort, drop entries at or before the marker, cut a page."""

from __future__ import annotations

import bisect
from urllib.parse import unquote, unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.s3.listing import (
    Action,
    Lister,
    Page,
    Start,
    clamp_max_keys,
    common_prefix,
    decode_token,
    encode_token,
    parse_encoding_type,
    parse_max_keys,
    seek_bytes,
    url_encode,
)

# Characters chosen to make order, roll-up and encoding bugs visible: the
# delimiter candidates, URL-special characters, and code points of 1, 2, 3
# and 4 UTF-8 bytes on both sides of the surrogate block.
ALPHABET = "ab/-+% é\x00\x7f\ud7ff\ue000\U00010000"
keys_st = st.lists(st.text(ALPHABET, min_size=1, max_size=6), max_size=40, unique=True)
prefix_st = st.text(ALPHABET, max_size=2)
delimiter_st = st.none() | st.sampled_from(["", "/", "//", "a", "ab", "é", "\U00010000"])


def _markers_for(keys: list[str]) -> st.SearchStrategy[str]:
    """A marker that is often one of `keys` or a prefix of one (a marker inside
    a common prefix is the interesting case)."""
    anywhere = st.text(ALPHABET, max_size=4)
    if not keys:
        return anywhere
    inside = st.sampled_from(keys).flatmap(
        lambda k: st.sampled_from([k[:i] for i in range(len(k) + 1)])
    )
    return inside | anywhere


keys_and_marker = keys_st.flatmap(lambda keys: st.tuples(st.just(keys), _markers_for(keys)))


def naive_common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    """What `key` rolls up into, written out apart from the module under test:
    up to and including the first delimiter after the prefix (an empty
    delimiter is none)."""
    if not delimiter or delimiter not in key[len(prefix) :]:
        return None
    return prefix + key[len(prefix) :].split(delimiter, 1)[0] + delimiter


def reference(
    keys: list[str], prefix: str, delimiter: str | None, marker: str, max_keys: int | None
) -> tuple[list[str], list[str], bool]:
    """(keys, common prefixes, truncated): the obvious implementation."""
    entries = sorted(
        {naive_common_prefix(k, prefix, delimiter) or k for k in keys if k.startswith(prefix)}
    )
    entries = [e for e in entries if e > marker]
    cut = entries if max_keys is None else entries[:max_keys]
    listed = [e for e in cut if naive_common_prefix(e, prefix, delimiter) is None]
    rolled = [e for e in cut if naive_common_prefix(e, prefix, delimiter) is not None]
    # max-keys 0 is an empty page that is not truncated, whatever follows
    return listed, rolled, max_keys is not None and 0 < max_keys < len(entries)


class Scan:
    """A sorted key space scanned like LevelDB: by UTF-8 bytes, from a start."""

    def __init__(self, keys: list[str]) -> None:
        self.raw = sorted(k.encode() for k in keys)
        self.fed = 0

    def run(self, lister: Lister[str], *, seek: bool = True) -> Page[str]:
        """Feed `lister`; with seek=False, ignore its SEEKs and start right after
        the marker (a caller that knows nothing of common prefixes)."""
        start: Start = lister.start if seek else Start(lister.marker)
        after = seek_bytes(start.after) if start.skip_under else start.after.encode()
        i = bisect.bisect_right(self.raw, after)
        while i < len(self.raw) and not lister.done:
            key = self.raw[i].decode()
            if not key.startswith(lister.prefix):
                if key > lister.prefix:
                    break
                i += 1
                continue
            self.fed += 1
            step = lister.feed(key, key)
            if step.action is Action.STOP:
                break
            if step.action is Action.SEEK and seek:
                i = bisect.bisect_right(self.raw, seek_bytes(step.prefix))
            else:
                i += 1
        return lister.finish()


def page_of(keys: list[str], **kw: object) -> Page[str]:
    return Scan(keys).run(Lister(**kw))  # type: ignore[arg-type]


# -- examples -------------------------------------------------------------------


def test_delimiter_rolls_up_and_counts_against_max_keys() -> None:
    keys = ["asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"]
    page = page_of(keys, delimiter="/", max_keys=2)
    assert (page.contents, page.common_prefixes, page.is_truncated) == (["asdf"], ["boo/"], True)
    assert page.next_marker == "boo/" and page.last_is_prefix
    # the common prefix is the marker of the next page, and is not repeated
    page = page_of(keys, delimiter="/", max_keys=2, marker="boo/")
    assert (page.contents, page.common_prefixes, page.is_truncated) == ([], ["cquux/"], False)


def test_marker_inside_a_common_prefix_skips_it() -> None:
    keys = ["a/1", "a/2", "a/3", "b"]
    lister: Lister[str] = Lister(delimiter="/", marker="a/1")
    assert lister.start == Start("a/", skip_under=True)
    scan = Scan(keys)
    page = scan.run(lister)
    assert (page.contents, page.common_prefixes) == (["b"], [])
    assert scan.fed == 1
    # a scan that starts right after the marker is told to skip the rest of a/
    lazy = Scan(keys)
    page = lazy.run(Lister(delimiter="/", marker="a/1"), seek=False)
    assert (page.contents, page.common_prefixes) == (["b"], [])
    assert lazy.fed == 3


def test_any_delimiter_string_and_the_prefix_itself() -> None:
    keys = ["x", "xABy", "xABzABw", "xA", "yAB"]
    page = page_of(keys, prefix="x", delimiter="AB")
    assert page.contents == ["x", "xA"]
    assert page.common_prefixes == ["xAB"]
    # the delimiter is looked for after the prefix only
    page = page_of(["a/b/c", "a/"], prefix="a/", delimiter="/")
    assert (page.contents, page.common_prefixes) == (["a/"], ["a/b/"])


def test_overlapping_delimiter_uses_the_first_occurrence() -> None:
    assert common_prefix("paaab", "p", "aa") == "paa"
    assert common_prefix("paaab", "pa", "aa") == "paaa"
    assert common_prefix("abc", "", "") is None
    assert common_prefix("abc", "", None) is None


def test_max_keys_zero_is_an_empty_untruncated_page() -> None:
    lister: Lister[str] = Lister(max_keys=0)
    assert lister.done
    page = lister.finish()
    assert (page.contents, page.common_prefixes, page.is_truncated) == ([], [], False)
    assert page.next_marker is None


def test_truncated_only_when_another_entry_follows() -> None:
    assert not page_of(["a", "b"], max_keys=2).is_truncated
    assert page_of(["a", "b", "c"], max_keys=2).is_truncated
    # keys under a prefix already listed are not another entry
    page = page_of(["a", "b/1", "b/2"], delimiter="/", max_keys=2)
    assert not page.is_truncated and page.common_prefixes == ["b/"]


def test_seek_bytes_skips_exactly_the_keys_under_a_prefix() -> None:
    under = ["a/", "a/\U0010ffff", "a/\x00", "a/é"]
    other = ["a0", "a.", "b", "a", "a/"[:1] + "\x7f"]
    bound = seek_bytes("a/")
    assert all(k.encode() < bound for k in under)
    assert all(k.encode() > bound for k in other if k > "a/")


def test_clamp_and_parse_max_keys() -> None:
    assert clamp_max_keys(5000) == 1000 and clamp_max_keys(0) == 0
    assert parse_max_keys(None) == 1000
    assert parse_max_keys(" 7 ") == 7
    assert parse_max_keys(str(2**31 - 1)) == 2**31 - 1
    with pytest.raises(S3Error) as e:
        parse_max_keys("-1")
    assert e.value.code == "InvalidArgument"
    assert e.value.extra == {"ArgumentName": "maxKeys", "ArgumentValue": "-1"}
    assert "between 0 and 2147483647" in e.value.text
    for bad in ("", "x", "1.5", "\xb2", "9" * 30):
        with pytest.raises(S3Error) as e:
            parse_max_keys(bad)
        assert (e.value.code, e.value.status) == ("InvalidArgument", 400)
        assert e.value.extra == {"ArgumentName": "max-keys", "ArgumentValue": bad}
        assert e.value.text == "Provided max-keys not an integer or within integer range"
    with pytest.raises(S3Error) as e:  # beyond int32: not "within integer range"
        parse_max_keys(str(2**31))
    assert (e.value.code, e.value.status) == ("InvalidArgument", 400)
    assert e.value.extra == {"ArgumentName": "max-keys", "ArgumentValue": str(2**31)}
    assert e.value.text == "Provided max-keys not an integer or within integer range"


def test_encoding_type() -> None:
    assert parse_encoding_type(None) is None
    assert parse_encoding_type("url") == "url"
    with pytest.raises(S3Error) as e:
        parse_encoding_type("URL")
    assert e.value.code == "InvalidArgument"


def test_url_encoding_examples() -> None:
    assert url_encode("a b+c%d/é") == "a%20b%2Bc%25d/%C3%A9"
    assert url_encode("run books/x.txt") == "run%20books/x.txt"
    assert url_encode("\x00\r\n") == "%00%0D%0A"


@given(st.text())
def test_url_encoding_round_trips_through_both_decoders(text: str) -> None:
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    encoded = url_encode(text)
    assert encoded.isascii() and " " not in encoded and "+" not in encoded
    assert unquote(encoded) == text
    assert unquote_plus(encoded) == text


def test_token_examples() -> None:
    token = encode_token("photos/2024/é+ %.jpg")
    assert token.isascii() and all(c.isalnum() or c in "-_" for c in token)
    assert decode_token(token) == "photos/2024/é+ %.jpg"
    assert decode_token(encode_token("")) == ""
    for bad in ("", "x", "photos/2024", token[:-1], token + "A", token + "=", "é", token[1:]):
        with pytest.raises(S3Error) as e:
            decode_token(bad)
        assert e.value.code == "InvalidArgument"
        assert e.value.text == "The continuation token provided is incorrect"
        assert e.value.extra == {"ArgumentName": "continuation-token"}


@given(st.text())
def test_token_round_trip(marker: str) -> None:
    marker = marker.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert decode_token(encode_token(marker)) == marker


@given(st.text(st.characters(codec="ascii")))
def test_only_tokens_we_made_decode(token: str) -> None:
    try:
        marker = decode_token(token)
    except S3Error as e:
        assert e.code == "InvalidArgument"
    else:
        assert encode_token(marker) == token


# -- properties -----------------------------------------------------------------


@settings(max_examples=400)
@given(keys_and_marker, prefix_st, delimiter_st, st.integers(0, 8))
def test_one_page_matches_the_reference(
    keys_marker: tuple[list[str], str], prefix: str, delimiter: str | None, max_keys: int
) -> None:
    keys, marker = keys_marker
    scan = Scan(keys)
    page = scan.run(Lister(prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys))
    listed, rolled, truncated = reference(keys, prefix, delimiter, marker, max_keys)
    assert page.contents == listed
    assert page.common_prefixes == rolled
    assert page.is_truncated == truncated
    # seeking past listed prefixes, the scan reads each entry once, plus one
    # to learn that the page is truncated: its cost is the page, not the tree
    assert scan.fed == page.count + (1 if truncated else 0)
    # a caller that does not seek (nor start past the marker's prefix) gets the same page
    lazy = Scan(keys).run(
        Lister(prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys), seek=False
    )
    assert (lazy.contents, lazy.common_prefixes, lazy.is_truncated) == (listed, rolled, truncated)


@settings(max_examples=300)
@given(keys_st, prefix_st, delimiter_st, st.integers(1, 5), st.booleans())
def test_paging_through_reproduces_the_whole_listing(
    keys: list[str], prefix: str, delimiter: str | None, page_size: int, via_token: bool
) -> None:
    all_keys, all_prefixes, _ = reference(keys, prefix, delimiter, "", None)
    got_keys: list[str] = []
    got_prefixes: list[str] = []
    marker = ""
    for _ in range(len(keys) + 2):
        page = page_of(keys, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=page_size)
        assert page.count <= page_size
        # a common prefix of the last page is never repeated on this one
        assert not (set(page.common_prefixes) & set(got_prefixes))
        got_keys += page.contents
        got_prefixes += page.common_prefixes
        if not page.is_truncated:
            break
        assert page.count == page_size
        assert page.next_marker is not None  # IsTruncated always comes with a way on
        marker = decode_token(encode_token(page.next_marker)) if via_token else page.next_marker
    else:
        raise AssertionError("the listing did not end")
    assert got_keys == all_keys
    assert got_prefixes == all_prefixes
    assert len(set(got_keys)) == len(got_keys)


def test_equal_keys_are_separate_entries() -> None:
    """Uploads list several entries per key."""
    lister: Lister[tuple[str, int]] = Lister(delimiter="/", max_keys=2)
    assert lister.feed("k", ("k", 1)).action is Action.TAKE
    assert lister.feed("k", ("k", 2)).action is Action.TAKE
    assert lister.feed("k", ("k", 3)).action is Action.STOP
    page = lister.finish()
    assert page.contents == [("k", 1), ("k", 2)] and page.is_truncated
