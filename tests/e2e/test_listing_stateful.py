"""A stateful property test: random sequences of PutObject, DeleteObject,
CopyObject and listings (ListObjects v1 and v2, ListObjectVersions, with a
random prefix, delimiter and page size) through boto3 against the real daemon,
checked page by page against an in-memory model of the bucket.

The machine is meant to grow: a new write operation is one more @rule that
changes the daemon and `self.model` alike (see `copy` for the pattern); every
listing rule then checks it.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

ALPHABET = "ab/+ %é\U0001f600"
keys = st.text(ALPHABET, min_size=1, max_size=5)
prefixes = st.text(ALPHABET, max_size=2)
delimiters = st.sampled_from([None, "/", "+", " ", "é", "ab", "\U0001f600"])
page_sizes = st.integers(1, 4)
_buckets = itertools.count()


def common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    """What `key` rolls up into, the obvious way (not hamster.s3.listing's, so
    that a bug there cannot hide in the model): up to and including the first
    delimiter after the prefix."""
    if delimiter is None:
        return None
    rest = key[len(prefix) :]
    if delimiter not in rest:
        return None
    return prefix + rest.split(delimiter, 1)[0] + delimiter


def expected_pages(
    model: dict[str, tuple[str, int]], prefix: str, delimiter: str | None, page_size: int
) -> list[tuple[list[str], list[str]]]:
    """The (keys, common prefixes) of each page, the obvious way."""
    entries = sorted(
        {common_prefix(k, prefix, delimiter) or k for k in model if k.startswith(prefix)},
        key=lambda e: e.encode(),
    )
    pages = [entries[i : i + page_size] for i in range(0, len(entries), page_size)] or [[]]
    return [
        (
            [e for e in page if common_prefix(e, prefix, delimiter) is None],
            [e for e in page if common_prefix(e, prefix, delimiter) is not None],
        )
        for page in pages
    ]


def test_listings_match_a_model(s3: Any) -> None:
    class Listings(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, tuple[str, int]] = {}  # key -> (ETag, size)
            self.writes = 0

        @initialize()
        def make_bucket(self) -> None:
            self.bucket = f"stateful-{next(_buckets)}"
            s3.create_bucket(Bucket=self.bucket)

        @rule(key=keys)
        def put(self, key: str) -> None:
            self.writes += 1
            body = hashlib.sha256(f"{key}\x00{self.writes}".encode()).digest()[: self.writes % 33]
            etag = s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"]
            self.model[key] = (etag, len(body))

        @rule(key=keys)
        def delete(self, key: str) -> None:
            s3.delete_object(Bucket=self.bucket, Key=key)
            self.model.pop(key, None)

        @rule(data=st.data(), dst=keys)
        def copy(self, data: st.DataObject, dst: str) -> None:
            if not self.model:
                return
            src = data.draw(st.sampled_from(sorted(self.model)))
            if src == dst:
                return  # a copy onto itself needs REPLACE; not what this models
            s3.copy_object(
                Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src}
            )
            self.model[dst] = self.model[src]

        def check_page(
            self,
            expected: tuple[list[str], list[str]],
            contents: list[dict[str, Any]],
            common: list[dict[str, Any]],
        ) -> None:
            assert [c["Key"] for c in contents] == expected[0]
            assert [p["Prefix"] for p in common] == expected[1]
            for c in contents:
                assert (c["ETag"], c["Size"]) == self.model[c["Key"]]

        @rule(prefix=prefixes, delimiter=delimiters, page_size=page_sizes)
        def list_v2(self, prefix: str, delimiter: str | None, page_size: int) -> None:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if delimiter is not None:
                kwargs["Delimiter"] = delimiter
            for i, expected in enumerate(
                pages := expected_pages(self.model, prefix, delimiter, page_size)
            ):
                page = s3.list_objects_v2(**kwargs)
                self.check_page(expected, page.get("Contents", []), page.get("CommonPrefixes", []))
                assert page["KeyCount"] == len(expected[0]) + len(expected[1])
                assert page["IsTruncated"] is (i < len(pages) - 1)
                if page["IsTruncated"]:
                    kwargs["ContinuationToken"] = page["NextContinuationToken"]

        @rule(prefix=prefixes, delimiter=delimiters, page_size=page_sizes)
        def list_v1(self, prefix: str, delimiter: str | None, page_size: int) -> None:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if delimiter is not None:
                kwargs["Delimiter"] = delimiter
            for i, expected in enumerate(
                pages := expected_pages(self.model, prefix, delimiter, page_size)
            ):
                page = s3.list_objects(**kwargs)
                self.check_page(expected, page.get("Contents", []), page.get("CommonPrefixes", []))
                assert page["IsTruncated"] is (i < len(pages) - 1)
                if page["IsTruncated"]:
                    # NextMarker with a delimiter; the last key without one, as S3 has it
                    if delimiter is not None:
                        kwargs["Marker"] = page["NextMarker"]
                    else:
                        assert "NextMarker" not in page
                        kwargs["Marker"] = page["Contents"][-1]["Key"]

        @rule(prefix=prefixes, delimiter=delimiters, page_size=page_sizes)
        def list_versions(self, prefix: str, delimiter: str | None, page_size: int) -> None:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": page_size}
            if delimiter is not None:
                kwargs["Delimiter"] = delimiter
            for i, expected in enumerate(
                pages := expected_pages(self.model, prefix, delimiter, page_size)
            ):
                page = s3.list_object_versions(**kwargs)
                versions = page.get("Versions", [])
                self.check_page(expected, versions, page.get("CommonPrefixes", []))
                assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)
                assert page["IsTruncated"] is (i < len(pages) - 1)
                if page["IsTruncated"]:
                    kwargs["KeyMarker"] = page["NextKeyMarker"]
                    if "NextVersionIdMarker" in page:
                        kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]
                    else:
                        kwargs.pop("VersionIdMarker", None)

    run_state_machine_as_test(
        Listings,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
