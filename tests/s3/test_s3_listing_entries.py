"""The entries of a listing page (Contents, Version, CommonPrefixes), written
as text directly for speed: the same bytes as their elements rendered by the
element tree (`listed_object_element`, `listed_version_element`), whatever
the key, ETag, size, time, checksum and owner."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.xml import (
    ListedObject,
    el,
    list_object_versions_xml,
    list_objects_v2_xml,
    list_objects_xml,
    listed_object_element,
    listed_version_element,
    render,
    s3_root,
)

# Any character: markup, quotes, CR, controls and lone surrogates included
# (the ones XML cannot carry become character references).
TEXT = st.text(st.characters(codec=None), max_size=12)
OBJECTS = st.builds(
    ListedObject,
    key=TEXT,
    last_modified_ns=st.integers(min_value=0, max_value=2**62),
    etag=TEXT,
    size=st.integers(min_value=0, max_value=5 * 1024**4),
    checksum_algorithm=st.none() | TEXT,
    checksum_type=st.none() | TEXT,
)
OWNERS = st.tuples(TEXT, TEXT)


def owner_element(owner: tuple[str, str]) -> object:
    return el("Owner", el("ID", owner[0]), el("DisplayName", owner[1]))


def fields(**extra: object) -> dict[str, object]:
    return {
        "bucket": "bk",
        "prefix": "",
        "max_keys": 1000,
        "delimiter": None,
        "is_truncated": False,
        "encoding_type": None,
        **extra,
    }


@given(st.lists(OBJECTS, max_size=4), st.lists(TEXT, max_size=3), st.none() | OWNERS)
def test_v2_entries_are_their_elements_rendered(
    objects: list[ListedObject], prefixes: list[str], owner: tuple[str, str] | None
) -> None:
    body = list_objects_v2_xml(
        **fields(  # type: ignore[arg-type]
            continuation_token=None,
            next_continuation_token=None,
            key_count=len(objects) + len(prefixes),
            start_after=None,
            contents=objects,
            common_prefixes=prefixes,
            owner=owner,
        )
    )
    owner_el = owner_element(owner) if owner is not None else None
    expected = render(
        s3_root(
            "ListBucketResult",
            el("Name", "bk"),
            el("Prefix", ""),
            el("KeyCount", str(len(objects) + len(prefixes))),
            el("MaxKeys", "1000"),
            el("IsTruncated", "false"),
            *(listed_object_element(o, owner_el) for o in objects),  # type: ignore[arg-type]
            *(el("CommonPrefixes", el("Prefix", p)) for p in prefixes),
        )
    )
    assert body == expected


@given(st.lists(OBJECTS, max_size=4), st.lists(TEXT, max_size=3), OWNERS)
def test_v1_entries_are_their_elements_rendered(
    objects: list[ListedObject], prefixes: list[str], owner: tuple[str, str]
) -> None:
    body = list_objects_xml(
        **fields(  # type: ignore[arg-type]
            marker="", next_marker=None, contents=objects, common_prefixes=prefixes, owner=owner
        )
    )
    owner_el = owner_element(owner)
    expected = render(
        s3_root(
            "ListBucketResult",
            el("Name", "bk"),
            el("Prefix", ""),
            el("Marker", ""),
            el("MaxKeys", "1000"),
            el("IsTruncated", "false"),
            *(listed_object_element(o, owner_el) for o in objects),  # type: ignore[arg-type]
            *(el("CommonPrefixes", el("Prefix", p)) for p in prefixes),
        )
    )
    assert body == expected


@given(st.lists(OBJECTS, max_size=4), st.lists(TEXT, max_size=3), OWNERS)
def test_version_entries_are_their_elements_rendered(
    objects: list[ListedObject], prefixes: list[str], owner: tuple[str, str]
) -> None:
    body = list_object_versions_xml(
        **fields(  # type: ignore[arg-type]
            key_marker="",
            version_id_marker="",
            next_key_marker=None,
            next_version_id_marker=None,
            versions=objects,
            common_prefixes=prefixes,
            owner=owner,
        )
    )
    owner_el = owner_element(owner)
    expected = render(
        s3_root(
            "ListVersionsResult",
            el("Name", "bk"),
            el("Prefix", ""),
            el("KeyMarker", ""),
            el("VersionIdMarker", ""),
            el("MaxKeys", "1000"),
            el("IsTruncated", "false"),
            *(listed_version_element(o, owner_el) for o in objects),  # type: ignore[arg-type]
            *(el("CommonPrefixes", el("Prefix", p)) for p in prefixes),
        )
    )
    assert body == expected
