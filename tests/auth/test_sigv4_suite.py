"""Conformance: every case of AWS's published SigV4 test suite, plus S3's streaming examples.

Each of the suite's 34 vectors is a request signed for service ``service`` in
us-east-1 at 20150830T123600Z by AKIDEXAMPLE. Every one of them goes through
`authenticate` -- the function the server calls for each request, with S3's
canonicalisation -- with the vector's service name, region and date, and a
user table holding the suite's key (and another user). What the server does
with each is pinned in `VECTORS`:

* ``ACCEPTED``: verified; the signature is the one in ``.authz``, and with the
  signature changed the refusal's CanonicalRequest and StringToSign are
  exactly ``.creq`` and ``.sts``; any change to a signed part is refused.
* ``S3_PATH``: the suite normalises the path (generic SigV4), S3 never does
  (``a``, ``/a`` and ``//a`` are three keys), so the vector's signature does
  not match: SignatureDoesNotMatch, and the CanonicalRequest is ``.creq`` with
  the path as sent.
* ``SESSION_TOKEN``: temporary credentials are refused on purpose
  (InvalidAccessKeyId) before any signature is computed.
* ``BODY_WITHOUT_HASH``: a body with no ``x-amz-content-sha256`` is refused on
  purpose (InvalidRequest): the server never waits for a body to learn its hash.

`test_vector_canonical_forms` checks the same files against the sigv4
primitives in the suite's own (generic) mode, which production never uses.
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import json
import time
from typing import Any

import pytest

from hamster.auth import AuthResult, authenticate, sigv4
from hamster.config import User, UserDirectory
from hamster.s3.errors import S3Error
from tests.auth import suite

CASES = suite.case_dirs()
CASE_BY_NAME = {case.name: case for case in CASES}


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    S3_PATH = "S3 signs the path as sent"
    SESSION_TOKEN = "session tokens refused"
    BODY_WITHOUT_HASH = "a body needs x-amz-content-sha256"


# vector name -> what authenticate() does with it; for S3_PATH, the canonical URI S3 signs.
VECTORS: dict[str, tuple[Outcome, str]] = {
    "get-header-key-duplicate": (Outcome.ACCEPTED, ""),
    "get-header-value-multiline": (Outcome.ACCEPTED, ""),
    "get-header-value-order": (Outcome.ACCEPTED, ""),
    "get-header-value-trim": (Outcome.ACCEPTED, ""),
    "get-unreserved": (Outcome.ACCEPTED, ""),
    "get-utf8": (Outcome.ACCEPTED, ""),
    "get-vanilla": (Outcome.ACCEPTED, ""),
    "get-vanilla-empty-query-key": (Outcome.ACCEPTED, ""),
    "get-vanilla-query": (Outcome.ACCEPTED, ""),
    "get-vanilla-query-order-encoded": (Outcome.ACCEPTED, ""),
    "get-vanilla-query-order-key": (Outcome.ACCEPTED, ""),
    "get-vanilla-query-order-key-case": (Outcome.ACCEPTED, ""),
    "get-vanilla-query-order-value": (Outcome.ACCEPTED, ""),
    "get-vanilla-query-unreserved": (Outcome.ACCEPTED, ""),
    "get-vanilla-utf8-query": (Outcome.ACCEPTED, ""),
    "get-vanilla-with-session-token": (Outcome.SESSION_TOKEN, ""),
    "get-relative": (Outcome.S3_PATH, "/example/.."),
    "get-relative-relative": (Outcome.S3_PATH, "/example1/example2/../.."),
    "get-slash": (Outcome.S3_PATH, "//"),
    "get-slash-dot-slash": (Outcome.S3_PATH, "/./"),
    "get-slash-pointless-dot": (Outcome.S3_PATH, "/./example"),
    "get-slashes": (Outcome.S3_PATH, "//example//"),
    "get-space": (Outcome.ACCEPTED, ""),
    "get-special-character": (Outcome.ACCEPTED, ""),
    "post-header-key-case": (Outcome.ACCEPTED, ""),
    "post-header-key-sort": (Outcome.ACCEPTED, ""),
    "post-header-value-case": (Outcome.ACCEPTED, ""),
    "post-sts-header-after": (Outcome.SESSION_TOKEN, ""),
    "post-sts-header-before": (Outcome.SESSION_TOKEN, ""),
    "post-vanilla": (Outcome.ACCEPTED, ""),
    "post-vanilla-empty-query-value": (Outcome.ACCEPTED, ""),
    "post-vanilla-query": (Outcome.ACCEPTED, ""),
    "post-x-www-form-urlencoded": (Outcome.BODY_WITHOUT_HASH, ""),
    "post-x-www-form-urlencoded-parameters": (Outcome.BODY_WITHOUT_HASH, ""),
}
NAMES = sorted(VECTORS)

# The suite's user, and another whose secret must not verify the suite's signatures.
USERS = UserDirectory(
    [
        User(suite.ACCESS_KEY, suite.SECRET_KEY, "suite"),
        User("AKIDOTHER", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYOTHERKEY", "other"),
    ]
)
SCOPE = sigv4.credential_scope(suite.AMZ_DATE[:8], suite.REGION, suite.SERVICE)

# In this case the `.sreq` carries a placeholder signature (the session token
# rotated); its `.authz` has the real one.
SREQ_PLACEHOLDER_SIGNATURE = {"get-vanilla-with-session-token"}


def _epoch_ns(amz_date: str) -> int:
    return calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) * 1_000_000_000


def test_suite_has_the_34_vectors() -> None:
    assert (suite.SUITE_DIR / "LICENSE").is_file()
    names = [case.name for case in CASES]
    assert len(names) == 34
    assert sorted(names) == NAMES
    assert len(CASE_BY_NAME) == 34  # names are unique across the suite's folders


def _parse_authorization(value: str) -> dict[str, str]:
    scheme, _, rest = value.partition(" ")
    assert scheme == sigv4.ALGORITHM
    return dict(part.strip().split("=", 1) for part in rest.split(","))


def _text(name: str, suffix: str) -> str:
    return suite.case_file(CASE_BY_NAME[name], suffix).decode("utf-8")


def _wire_request(name: str) -> suite.RawRequest:
    """The vector's `.sreq` as the server would receive it.

    The files carry no framing: a vector with a body gets the ``Content-Length``
    an HTTP/1.1 request needs (it is not signed, as in every AWS SDK).
    """
    signed = suite.parse_request(suite.case_file(CASE_BY_NAME[name], ".sreq"))
    assert not any(n == "content-length" for n, _ in signed.headers)
    if signed.body:
        headers = (*signed.headers, ("content-length", str(len(signed.body))))
        return suite.RawRequest(signed.method, signed.raw_path, signed.raw_query, headers, b"")
    return signed


def _authenticate(request: suite.RawRequest) -> AuthResult:
    return authenticate(
        method=request.method,
        raw_path=request.raw_path,
        raw_query=request.raw_query,
        headers=request.headers,
        lookup_secret=USERS.secret_for,
        now_ns=_epoch_ns(suite.AMZ_DATE),
        region=suite.REGION,
        service=suite.SERVICE,
    )


def _refusal(request: suite.RawRequest) -> S3Error:
    with pytest.raises(S3Error) as info:
        _authenticate(request)
    return info.value


def _mismatch(request: suite.RawRequest) -> dict[str, str]:
    """The extra elements of the SignatureDoesNotMatch (403) that `request` gets."""
    error = _refusal(request)
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert error.extra is not None
    return dict(error.extra)


def _with_header(request: suite.RawRequest, name: str, value: str) -> suite.RawRequest:
    headers = tuple((n, value if n == name else v) for n, v in request.headers)
    return suite.RawRequest(
        request.method, request.raw_path, request.raw_query, headers, request.body
    )


def _tamperings(request: suite.RawRequest) -> dict[str, suite.RawRequest]:
    """One change to each signed part of the request (none of them changes the scope)."""
    authorization = next(v for n, v in request.headers if n == "authorization")
    signed_names = _parse_authorization(authorization)["SignedHeaders"].split(";")
    out: dict[str, suite.RawRequest] = {}
    for name in signed_names:
        value = next(v for n, v in request.headers if n == name)
        # A second later is still the scope's date, within the skew, and another request.
        new = "20150830T123601Z" if name == "x-amz-date" else f"{value}x"
        out[f"header {name}"] = _with_header(request, name, new)
    other_method = "POST" if request.method == "GET" else "GET"
    out["method"] = suite.RawRequest(
        other_method, request.raw_path, request.raw_query, request.headers, request.body
    )
    out["path"] = suite.RawRequest(
        request.method, f"{request.raw_path}x", request.raw_query, request.headers, request.body
    )
    query = f"{request.raw_query}&Param9=value9" if request.raw_query else "Param9=value9"
    out["query"] = suite.RawRequest(
        request.method, request.raw_path, query, request.headers, request.body
    )
    return out


@pytest.mark.parametrize("name", NAMES)
def test_vector_through_authenticate(name: str) -> None:
    outcome, s3_uri = VECTORS[name]
    request = _wire_request(name)
    authorization = next(v for n, v in request.headers if n == "authorization")
    provided = _parse_authorization(authorization)["Signature"]
    creq, sts = _text(name, ".creq"), _text(name, ".sts")

    if outcome is Outcome.SESSION_TOKEN:
        error = _refusal(request)
        assert (error.status, error.code) == (403, "InvalidAccessKeyId")
        assert "x-amz-security-token" in error.text
        assert error.extra == {"AWSAccessKeyId": suite.ACCESS_KEY}
        return
    if outcome is Outcome.BODY_WITHOUT_HASH:
        error = _refusal(request)
        assert (error.status, error.code) == (400, "InvalidRequest")
        assert error.text == "Missing required header for this request: x-amz-content-sha256"
        return
    if outcome is Outcome.S3_PATH:
        extra = _mismatch(request)
        generic_lines = creq.split("\n")
        assert generic_lines[1] != s3_uri
        s3_creq = "\n".join([generic_lines[0], s3_uri, *generic_lines[2:]])
        assert extra["CanonicalRequest"] == s3_creq
        assert extra["StringToSign"] == sigv4.string_to_sign(
            amz_date=suite.AMZ_DATE, scope=SCOPE, canonical_request_bytes=s3_creq.encode()
        )
        assert extra["SignatureProvided"] == provided
        return

    assert outcome is Outcome.ACCEPTED
    assert authorization == _text(name, ".authz")
    result = _authenticate(request)
    assert result.access_key == suite.ACCESS_KEY
    assert result.seed_signature == provided
    assert (result.scope, result.amz_date) == (SCOPE, suite.AMZ_DATE)
    assert result.payload == sigv4.EMPTY_SHA256 == creq.rsplit("\n", 1)[1]
    assert result.signing_key == sigv4.signing_key(
        suite.SECRET_KEY, suite.AMZ_DATE[:8], suite.REGION, suite.SERVICE
    )
    assert result.presigned is False

    # The refusal of a wrong signature shows what the server signed: the suite's files.
    wrong = authorization.replace(provided, sigv4.EMPTY_SHA256)
    extra = _mismatch(_with_header(request, "authorization", wrong))
    assert extra["CanonicalRequest"] == creq
    assert extra["StringToSign"] == sts
    assert extra["SignatureProvided"] == sigv4.EMPTY_SHA256

    # Another user's secret does not verify it.
    other = authorization.replace(f"Credential={suite.ACCESS_KEY}/", "Credential=AKIDOTHER/")
    assert _mismatch(_with_header(request, "authorization", other))["AWSAccessKeyId"] == "AKIDOTHER"

    for what, tampered in _tamperings(request).items():
        assert _mismatch(tampered)["SignatureProvided"] == provided, what


def test_vectors_are_refused_as_s3() -> None:
    """The suite's scopes name ``service``: the server itself (``s3``) refuses every one."""
    for name in NAMES:
        request = _wire_request(name)
        with pytest.raises(S3Error) as info:
            authenticate(
                method=request.method,
                raw_path=request.raw_path,
                raw_query=request.raw_query,
                headers=request.headers,
                lookup_secret=USERS.secret_for,
                now_ns=_epoch_ns(suite.AMZ_DATE),
                region=suite.REGION,
            )
        assert (info.value.status, info.value.code) == (400, "AuthorizationHeaderMalformed"), name
        assert 'incorrect service "service". This endpoint belongs to "s3".' in info.value.text


@pytest.mark.parametrize("name", NAMES)
def test_vector_canonical_forms(name: str) -> None:
    """``.creq``, ``.sts`` and ``.authz`` from the sigv4 primitives, in the suite's generic mode."""
    case = CASE_BY_NAME[name]
    signed = suite.parse_request(suite.case_file(case, ".sreq"))
    authorization = next(v for n, v in signed.headers if n == "authorization")
    headers = tuple((n, v) for n, v in signed.headers if n != "authorization")
    signed_headers = _parse_authorization(authorization)["SignedHeaders"]

    creq = sigv4.canonical_request(
        method=signed.method,
        uri=sigv4.canonical_uri(signed.raw_path, sigv4.Mode.GENERIC),
        query=sigv4.canonical_query(sigv4.query_pairs(signed.raw_query)),
        headers_block=sigv4.canonical_headers(headers, signed_headers.split(";")),
        signed_headers=signed_headers,
        payload=hashlib.sha256(signed.body).hexdigest(),
    )
    assert creq == _text(name, ".creq")
    assert (sigv4.canonical_uri(signed.raw_path) == creq.split("\n")[1]) is (
        VECTORS[name][0] is not Outcome.S3_PATH
    )

    sts = sigv4.string_to_sign(
        amz_date=suite.AMZ_DATE, scope=SCOPE, canonical_request_bytes=sigv4.wire_bytes(creq)
    )
    assert sts == _text(name, ".sts")

    key = sigv4.signing_key(suite.SECRET_KEY, suite.AMZ_DATE[:8], suite.REGION, suite.SERVICE)
    authz = (
        f"{sigv4.ALGORITHM} Credential={suite.ACCESS_KEY}/{SCOPE}, "
        f"SignedHeaders={signed_headers}, Signature={sigv4.signature(key, sts)}"
    )
    assert authz == _text(name, ".authz")
    if name not in SREQ_PLACEHOLDER_SIGNATURE:
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
