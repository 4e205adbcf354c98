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
    Step,
    clamp_max_keys,
    common_prefix,
    decode_token,
    encode_token,
    encoder,
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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("7", 7),
        (" 7 ", 7),
        ("+7", 7),
        ("-0", 0),
        ("0007", 7),
        ("1000", 1000),
        ("5000", 5000),  # capped later, by clamp_max_keys
        ("2147483647", 2147483647),
        ("000002147483647", 2147483647),
    ],
)
def test_parse_max_keys(text: str, value: int) -> None:
    assert parse_max_keys(text) == value


NOT_AN_INTEGER = "Provided max-keys not an integer or within integer range"
NEGATIVE = "Argument maxKeys must be an integer between 0 and 2147483647"


@pytest.mark.parametrize(
    ("text", "message", "argument"),
    [
        ("", NOT_AN_INTEGER, "max-keys"),
        ("x", NOT_AN_INTEGER, "max-keys"),
        ("1.5", NOT_AN_INTEGER, "max-keys"),
        ("1e3", NOT_AN_INTEGER, "max-keys"),
        ("--1", NOT_AN_INTEGER, "max-keys"),
        ("+-1", NOT_AN_INTEGER, "max-keys"),
        ("\xb2", NOT_AN_INTEGER, "max-keys"),  # superscript two: isdigit(), not a digit
        ("\u0663", NOT_AN_INTEGER, "max-keys"),  # ARABIC-INDIC THREE
        ("2147483648", NOT_AN_INTEGER, "max-keys"),  # beyond int32: not "within integer range"
        ("9999999999", NOT_AN_INTEGER, "max-keys"),
        ("10000000000", NOT_AN_INTEGER, "max-keys"),
        ("9" * 19, NOT_AN_INTEGER, "max-keys"),
        ("9" * 30, NOT_AN_INTEGER, "max-keys"),
        ("-2147483649", NOT_AN_INTEGER, "max-keys"),
        ("-1", NEGATIVE, "maxKeys"),
        ("-01", NEGATIVE, "maxKeys"),
        ("-2147483648", NEGATIVE, "maxKeys"),
    ],
)
def test_parse_max_keys_refusals(text: str, message: str, argument: str) -> None:
    with pytest.raises(S3Error) as e:
        parse_max_keys(text)
    assert (e.value.code, e.value.status, e.value.text) == ("InvalidArgument", 400, message)
    assert e.value.extra == {"ArgumentName": argument, "ArgumentValue": text}


def test_parse_max_keys_names_its_parameter() -> None:
    assert parse_max_keys(None, default=50) == 50
    with pytest.raises(S3Error) as e:
        parse_max_keys("x", name="max-uploads", argument_name="maxUploads")
    assert e.value.text == "Provided max-uploads not an integer or within integer range"
    assert e.value.extra == {"ArgumentName": "max-uploads", "ArgumentValue": "x"}
    with pytest.raises(S3Error) as e:
        parse_max_keys("-3", name="max-uploads", argument_name="maxUploads")
    assert e.value.text == "Argument maxUploads must be an integer between 0 and 2147483647"
    assert e.value.extra == {"ArgumentName": "maxUploads", "ArgumentValue": "-3"}


def test_encoding_type() -> None:
    assert parse_encoding_type(None) is None
    assert parse_encoding_type("url") == "url"
    for bad in ("URL", "", "url ", "base64"):
        with pytest.raises(S3Error) as e:
            parse_encoding_type(bad)
        assert (e.value.code, e.value.status) == ("InvalidArgument", 400)
        assert e.value.text == "Invalid Encoding Method specified in Request"
        assert e.value.extra == {"ArgumentName": "encoding-type", "ArgumentValue": bad}


def test_encoder() -> None:
    assert encoder("url")("a b/é") == "a%20b/%C3%A9"
    assert encoder(None)("a b/é") == "a b/é"


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


@pytest.mark.parametrize(
    ("marker", "token"),
    [
        ("", "Adr7UKY"),
        ("a", "AdSU0kdh"),
        ("é/", "AdveSq3DqS8"),
        ("photos/2024/", "AX-cC_9waG90b3MvMjAyNC8"),
        ("p/0W", "ATRS-d5wLzBX"),  # ends in X, needs no padding
    ],
)
def test_tokens_are_stable(marker: str, token: str) -> None:
    """Tokens outlive the server that issued them (a client pages on across a
    restart or an upgrade): the format is pinned, version byte, check and all."""
    assert encode_token(marker) == token
    assert decode_token(token) == marker


@pytest.mark.parametrize(
    "token",
    [
        "Adr7UKY=",  # padded
        "Adr7UKY==",
        "Adr7UKZ",  # the same bytes, other unused low bits
        "Adr7UK",  # one byte short
        "Adr7",
        "A",
        "Bdr7UKY",  # another version byte
        "AX-cC_9waG90b3MvMjAyNC9",  # marker changed, check not
        "AX+cC/9waG90b3MvMjAyNC8",  # standard base64 alphabet
        "Adr7UKY\u00e9",
        "Ad r7UKY",
    ],
)
def test_tokens_we_did_not_make(token: str) -> None:
    with pytest.raises(S3Error) as e:
        decode_token(token)
    assert (e.value.code, e.value.text) == (
        "InvalidArgument",
        "The continuation token provided is incorrect",
    )


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


def test_lister_without_marker_lists_from_the_first_key() -> None:
    lister: Lister[str] = Lister(delimiter="/")
    assert lister.start == Start("")
    assert lister.feed("A/x", "A/x") == Step(Action.SEEK, "A/")
    assert lister.feed("B", "B") == Step(Action.TAKE)
    page = lister.finish()
    assert (page.contents, page.common_prefixes) == (["B"], ["A/"])
    assert (page.next_marker, page.last_is_prefix, page.is_truncated) == ("B", False, False)


def test_lister_marks_the_last_entry() -> None:
    def last(keys: list[str]) -> tuple[str | None, bool]:
        lister: Lister[str] = Lister(delimiter="/", max_keys=5)
        for key in keys:
            lister.feed(key, key)
        page = lister.finish()
        return page.next_marker, page.last_is_prefix

    assert last([]) == (None, False)
    assert last(["a"]) == ("a", False)
    assert last(["a", "b/1"]) == ("b/", True)
    # A later key of the same common prefix (a caller that did not seek) adds nothing.
    assert last(["a", "b/1", "b/2"]) == ("b/", True)
    assert last(["a", "b/1", "b/2", "c"]) == ("c", False)


def test_a_common_prefix_at_the_marker_was_listed_before() -> None:
    """v1's NextMarker is the last common prefix: the next page starts after all of it,
    and a caller that feeds its keys anyway gets SEEK, not the prefix again."""
    lister: Lister[str] = Lister(delimiter="/", marker="a/")
    assert lister.start == Start("a/", skip_under=True)
    assert lister.feed("a/x", "a/x") == Step(Action.SEEK, "a/")
    assert lister.feed("a/y", "a/y") == Step(Action.SEEK, "a/")
    assert lister.feed("b/z", "b/z") == Step(Action.SEEK, "b/")
    page = lister.finish()
    assert (page.contents, page.common_prefixes) == ([], ["b/"])
    # A marker inside a common prefix: that prefix is done too.
    inside: Lister[str] = Lister(delimiter="/", marker="a/m")
    assert inside.start == Start("a/", skip_under=True)
    assert inside.feed("a/x", "a/x") == Step(Action.SEEK, "a/")
    assert inside.finish().common_prefixes == []


def test_lister_is_done_after_stop_and_after_finish() -> None:
    lister: Lister[str] = Lister(max_keys=1)
    assert lister.done is False
    assert lister.feed("a", "a") == Step(Action.TAKE)
    assert lister.done is False
    assert lister.feed("b", "b") == Step(Action.STOP)
    assert lister.done is True
    with pytest.raises(AssertionError, match=r"^fed a key after the page was complete$"):
        lister.feed("c", "c")
    page = lister.finish()
    assert (page.contents, page.is_truncated, page.next_marker) == (["a"], True, "a")
    finished: Lister[str] = Lister()
    finished.feed("a", "a")
    assert finished.finish().contents == ["a"]
    assert finished.done is True
    with pytest.raises(AssertionError, match=r"^fed a key after the page was complete$"):
        finished.feed("b", "b")
    assert Lister(max_keys=0).done is True


def test_lister_refuses_keys_out_of_order() -> None:
    lister: Lister[str] = Lister()
    lister.feed("A", "A")  # before any lower-case letter: the first key may be anything
    lister.feed("b", "b")
    lister.feed("b", "b")  # equal keys are allowed
    with pytest.raises(AssertionError):
        lister.feed("a", "a")
    outside: Lister[str] = Lister(prefix="p")
    with pytest.raises(AssertionError):
        outside.feed("q", "q")
