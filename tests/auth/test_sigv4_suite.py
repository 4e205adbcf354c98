"""Conformance: every case of AWS's published SigV4 test suite, plus S3's streaming examples.

The suite is generic SigV4 (service ``service``, paths normalised, payload
hashed), so its canonical requests are built in `Mode.GENERIC`; S3's own
canonicalisation is exercised by the streaming examples and the round-trip tests.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from hamster.auth import authenticate, sigv4
from tests.auth import suite

CASES = suite.case_dirs()

# In this case the `.sreq` carries a placeholder signature (the session token
# rotated); its `.authz` has the real one, which is what we check against.
SREQ_PLACEHOLDER_SIGNATURE = {"get-vanilla-with-session-token"}


def _case_id(case: Path) -> str:
    return str(case.relative_to(suite.SUITE_DIR))


def test_suite_is_present() -> None:
    assert (suite.SUITE_DIR / "LICENSE").is_file()
    assert len(CASES) >= 30


def _parse_authorization(value: str) -> dict[str, str]:
    scheme, _, rest = value.partition(" ")
    assert scheme == sigv4.ALGORITHM
    return dict(part.strip().split("=", 1) for part in rest.split(","))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_suite_case(case: Path) -> None:
    signed = suite.parse_request(suite.case_file(case, ".sreq"))
    authorization = next(v for n, v in signed.headers if n == "authorization")
    headers = tuple((n, v) for n, v in signed.headers if n != "authorization")
    fields = _parse_authorization(authorization)
    signed_headers = fields["SignedHeaders"]

    creq = sigv4.canonical_request(
        method=signed.method,
        uri=sigv4.canonical_uri(signed.raw_path, sigv4.Mode.GENERIC),
        query=sigv4.canonical_query(sigv4.query_pairs(signed.raw_query)),
        headers_block=sigv4.canonical_headers(headers, signed_headers.split(";")),
        signed_headers=signed_headers,
        payload=hashlib.sha256(signed.body).hexdigest(),
    )
    assert creq == suite.case_file(case, ".creq").decode("utf-8")

    scope = sigv4.credential_scope(suite.AMZ_DATE[:8], suite.REGION, suite.SERVICE)
    sts = sigv4.string_to_sign(
        amz_date=suite.AMZ_DATE, scope=scope, canonical_request_bytes=sigv4.wire_bytes(creq)
    )
    assert sts == suite.case_file(case, ".sts").decode("utf-8")

    key = sigv4.signing_key(suite.SECRET_KEY, suite.AMZ_DATE[:8], suite.REGION, suite.SERVICE)
    authz = (
        f"{sigv4.ALGORITHM} Credential={suite.ACCESS_KEY}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={sigv4.signature(key, sts)}"
    )
    assert authz == suite.case_file(case, ".authz").decode("utf-8")
    if case.name not in SREQ_PLACEHOLDER_SIGNATURE:
        assert authz == authorization


def test_unsigned_request_matches_signed_one() -> None:
    """The `.req` files parse to the `.sreq` requests minus what signing added."""
    for case in CASES:
        raw = suite.parse_request(suite.case_file(case, ".req"))
        signed = suite.parse_request(suite.case_file(case, ".sreq"))
        assert (raw.method, raw.raw_path, raw.raw_query) == (
            signed.method,
            signed.raw_path,
            signed.raw_query,
        ), case
        assert set(raw.headers) <= set(signed.headers), case


# --- S3 streaming examples (AWS documentation, aws-chunked) -------------------------------

EXAMPLES: dict[str, Any] = json.loads(
    (suite.SUITE_DIR / "streaming-examples.json").read_text("utf-8")
)
COMMON = EXAMPLES["common"]


def _epoch_ns(amz_date: str) -> int:
    return calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) * 1_000_000_000


def _lookup(access_key: str) -> str | None:
    return COMMON["secret_access_key"] if access_key == COMMON["access_key_id"] else None


@pytest.mark.parametrize("name", ["streaming_payload", "streaming_payload_trailer"])
def test_streaming_example_seed_and_chunks(name: str) -> None:
    example = EXAMPLES[name]
    scope = COMMON["credential_scope"]
    authorization = (
        f"{sigv4.ALGORITHM} Credential={COMMON['access_key_id']}/{scope}, "
        f"SignedHeaders={example['signed_headers']}, Signature={example['seed_signature']}"
    )
    if "authorization" in example:
        assert authorization == example["authorization"]
    headers = [(n.lower(), v) for n, v in example["request_headers"].items()]
    headers.append(("authorization", authorization))

    result = authenticate(
        method=COMMON["method"],
        raw_path=COMMON["path"],
        raw_query="",
        headers=headers,
        lookup_secret=_lookup,
        now_ns=_epoch_ns(COMMON["x_amz_date"]),
        region=COMMON["region"],
    )
    assert result.access_key == COMMON["access_key_id"]
    assert result.payload == example["x_amz_content_sha256"]
    assert result.seed_signature == example["seed_signature"]
    assert result.scope == scope
    assert result.amz_date == COMMON["x_amz_date"]

    previous = result.seed_signature
    for chunk in example["chunk_signatures"]:
        sts = sigv4.chunk_string_to_sign(
            amz_date=result.amz_date,
            scope=result.scope,
            previous_signature=previous,
            chunk_sha256=hashlib.sha256(b"a" * chunk["size"]).hexdigest(),
        )
        previous = sigv4.signature(result.signing_key, sts)
        assert previous == chunk["signature"]

    if "trailer_signature" in example:
        trailer_sts = sigv4.trailer_string_to_sign(
            amz_date=result.amz_date,
            scope=result.scope,
            previous_signature=previous,
            trailer_sha256=hashlib.sha256(example["canonical_trailer"].encode()).hexdigest(),
        )
        assert trailer_sts == example["trailer_string_to_sign"]
        assert sigv4.signature(result.signing_key, trailer_sts) == example["trailer_signature"]


def test_streaming_example_canonical_request() -> None:
    for name in ("streaming_payload", "streaming_payload_trailer"):
        example = EXAMPLES[name]
        headers = [(n.lower(), v) for n, v in example["request_headers"].items()]
        signed = example["signed_headers"]
        creq = sigv4.canonical_request(
            method=COMMON["method"],
            uri=sigv4.canonical_uri(COMMON["path"]),
            query="",
            headers_block=sigv4.canonical_headers(headers, signed.split(";")),
            signed_headers=signed,
            payload=example["x_amz_content_sha256"],
        )
        assert creq == example["canonical_request"]
        sts = sigv4.string_to_sign(
            amz_date=COMMON["x_amz_date"],
            scope=COMMON["credential_scope"],
            canonical_request_bytes=creq.encode(),
        )
        assert sts == example["string_to_sign"]


def test_trailing_headers_extra() -> None:
    extra = EXAMPLES["trailing_headers_extra"]
    key = sigv4.signing_key(COMMON["secret_access_key"], "20130524", "us-east-1", "s3")
    previous = EXAMPLES["streaming_payload"]["chunk_signatures"][-1]["signature"]
    sts = sigv4.trailer_string_to_sign(
        amz_date=COMMON["x_amz_date"],
        scope=COMMON["credential_scope"],
        previous_signature=previous,
        trailer_sha256=hashlib.sha256(extra["canonical_trailer"].encode()).hexdigest(),
    )
    assert sigv4.signature(key, sts) == extra["trailer_signature"]


def test_vendored_copy_matches_the_shared_suite() -> None:
    """The copy CI reads is byte-identical to the workplace's suite, where that exists."""
    from tests.auth.suite import _REPO

    vendored = _REPO / "tests" / "vectors" / "sigv4-testsuite"
    shared = _REPO.parent / "shared" / "sigv4-testsuite"
    files = sorted(p.relative_to(vendored) for p in vendored.rglob("*") if p.is_file())
    assert len(files) > 100
    if shared.is_dir():
        shared_files = sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
        assert files == shared_files
        for rel in files:
            assert (vendored / rel).read_bytes() == (shared / rel).read_bytes(), rel
