"""x-amz-checksum-*: algorithms, incremental hashing, request parsing and refusals."""

from __future__ import annotations

import base64
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.auth import checksums
from hamster.auth.checksums import ChecksumRequest, ChecksumValue
from hamster.s3.errors import S3Error

# The check values of the algorithms: each digest of b"123456789".
CHECK = b"123456789"
CHECK_VALUES = {
    "CRC32": "cbf43926",
    "CRC32C": "e3069283",
    "CRC64NVME": "ae8b14860a799888",
    "SHA1": "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
    "SHA256": "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
}
# The digests of the empty string.
EMPTY_VALUES = {
    "CRC32": "00000000",
    "CRC32C": "00000000",
    "CRC64NVME": "0000000000000000",
    "SHA1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "SHA256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def refusal(
    headers: list[tuple[str, str]], *, trailers_allowed: bool = False
) -> tuple[str, str]:
    with pytest.raises(S3Error) as e:
        checksums.parse_request(headers, trailers_allowed=trailers_allowed)
    return e.value.code, e.value.text


# --- algorithms ------------------------------------------------------------------


def test_algorithms_are_s3s() -> None:
    assert checksums.ALGORITHMS == ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
    assert checksums.DEFAULT_ALGORITHM == "CRC64NVME"


@pytest.mark.parametrize("algorithm", sorted(CHECK_VALUES))
def test_check_values(algorithm: str) -> None:
    assert checksums.compute(algorithm, CHECK).hex() == CHECK_VALUES[algorithm]
    assert checksums.compute(algorithm, b"").hex() == EMPTY_VALUES[algorithm]
    assert len(checksums.compute(algorithm, CHECK)) == checksums.DIGEST_BYTES[algorithm]


@pytest.mark.parametrize("algorithm", sorted(CHECK_VALUES))
def test_large_buffer_matches_pieces(algorithm: str) -> None:
    data = bytes(range(256)) * 8192 + b"tail"  # 2 MiB + 4: the C paths for big buffers
    hasher = checksums.new_hasher(algorithm)
    for start in range(0, len(data), 1 << 20):
        hasher.update(data[start : start + (1 << 20)])
    assert hasher.digest() == checksums.compute(algorithm, data)


def test_unknown_algorithm_has_no_hasher() -> None:
    with pytest.raises(ValueError):
        checksums.new_hasher("MD4")


@given(
    algorithm=st.sampled_from(checksums.ALGORITHMS),
    data=st.binary(max_size=4096),
    cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=8),
)
def test_incremental_equals_one_shot(algorithm: str, data: bytes, cuts: list[int]) -> None:
    hasher = checksums.new_hasher(algorithm)
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        hasher.update(data[start:end])  # empty pieces included
    assert hasher.digest() == checksums.compute(algorithm, data)


def test_checksum_value() -> None:
    value = ChecksumValue("CRC32", bytes.fromhex("cbf43926"))
    assert value.type == "FULL_OBJECT"
    assert value.header_name == "x-amz-checksum-crc32"
    assert value.b64 == "y/Q5Jg=="
    assert checksums.response_headers(value) == [
        ("x-amz-checksum-crc32", "y/Q5Jg=="),
        ("x-amz-checksum-type", "FULL_OBJECT"),
    ]
    with pytest.raises(AssertionError):
        ChecksumValue("CRC32", b"\x00" * 8)
    with pytest.raises(AssertionError):
        ChecksumValue("MD5", b"\x00" * 16)


# --- parse_request ---------------------------------------------------------------


def test_no_checksum_asked() -> None:
    headers = [("content-type", "text/plain"), ("x-amz-checksum-mode", "ENABLED")]
    assert checksums.parse_request(headers, trailers_allowed=True) is None
    assert checksums.parse_request([], trailers_allowed=False) is None


@pytest.mark.parametrize("algorithm", sorted(CHECK_VALUES))
def test_header_value(algorithm: str) -> None:
    name = "x-amz-checksum-" + algorithm.lower()
    value = b64(CHECK_VALUES[algorithm])
    expected = ChecksumRequest(algorithm, expected=bytes.fromhex(CHECK_VALUES[algorithm]))
    assert checksums.parse_request([(name, value)], trailers_allowed=False) == expected
    # With the algorithm named too, as the SDKs send it (any case).
    sdk = [("x-amz-sdk-checksum-algorithm", algorithm.lower()), (name, " " + value + " ")]
    assert checksums.parse_request(sdk, trailers_allowed=False) == expected


@pytest.mark.parametrize("algorithm", sorted(CHECK_VALUES))
def test_trailer_declared(algorithm: str) -> None:
    name = "x-amz-checksum-" + algorithm.lower()
    headers = [("x-amz-sdk-checksum-algorithm", algorithm), ("x-amz-trailer", name.upper())]
    wanted = checksums.parse_request(headers, trailers_allowed=True)
    assert wanted == ChecksumRequest(algorithm, trailer=name)
    value = b64(CHECK_VALUES[algorithm])
    raw = bytes.fromhex(CHECK_VALUES[algorithm])
    assert checksums.expected_from_trailers(wanted, [(name, value)]) == raw
    # Trailers that are not checksums are no concern of ours.
    assert checksums.expected_from_trailers(wanted, [("x-other", "1"), (name, value)]) == raw


@pytest.mark.parametrize(
    "value",
    [
        "cbf43926",  # hex
        "y/Q5Jg",  # unpadded
        "y/Q5Jg=",  # short padding
        "y/Q5Jg==y/Q5Jg==",
        "y/Q5Jgaa",  # 6 bytes
        "AAAAAAAAAAA=",  # 8 bytes
        "",
        "y/Q5J!==",
        "y/Q5Jh==",  # non-canonical final bits
    ],
)
def test_invalid_header_values(value: str) -> None:
    assert refusal([("x-amz-checksum-crc32", value)]) == (
        "InvalidRequest",
        "Value for x-amz-checksum-crc32 header is invalid.",
    )


def test_invalid_trailer_value() -> None:
    wanted = ChecksumRequest("CRC32", trailer="x-amz-checksum-crc32")
    with pytest.raises(S3Error) as e:
        checksums.expected_from_trailers(wanted, [("x-amz-checksum-crc32", "y/Q5Jg")])
    assert (e.value.code, e.value.text) == (
        "InvalidRequest",
        "Value for x-amz-checksum-crc32 trailing header is invalid.",
    )


MULTIPLE = ("InvalidRequest", checksums.MULTIPLE_MESSAGE)
UNSUPPORTED = ("InvalidRequest", checksums.UNSUPPORTED_MESSAGE)
CRC32 = ("x-amz-checksum-crc32", "y/Q5Jg==")
CRC32C = ("x-amz-checksum-crc32c", "4waSgw==")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([CRC32, CRC32C], MULTIPLE),
        ([CRC32, CRC32], MULTIPLE),
        ([CRC32, ("x-amz-trailer", "x-amz-checksum-crc32c")], MULTIPLE),
        ([("x-amz-trailer", "x-amz-checksum-crc32, x-amz-checksum-sha1")], MULTIPLE),
        (
            [("x-amz-sdk-checksum-algorithm", "CRC32")],
            ("InvalidRequest", checksums.NO_VALUE_MESSAGE),
        ),
        ([("x-amz-sdk-checksum-algorithm", "MD4"), CRC32], UNSUPPORTED),
        ([("x-amz-sdk-checksum-algorithm", "MD4")], UNSUPPORTED),
        ([("x-amz-checksum-md5", "JfnnlDI7RTiF9RgfG2JNCw==")], UNSUPPORTED),
        (
            [("x-amz-sdk-checksum-algorithm", "SHA256"), CRC32],
            ("BadDigest", "The SHA256 you specified did not match the calculated checksum."),
        ),
        (
            [("x-amz-sdk-checksum-algorithm", "CRC32C"), ("x-amz-trailer", "x-amz-checksum-crc32")],
            ("BadDigest", "The CRC32C you specified did not match the calculated checksum."),
        ),
        (
            [("x-amz-trailer", "x-amz-meta-foo")],
            ("InvalidRequest", checksums.TRAILER_UNSUPPORTED_MESSAGE),
        ),
        (
            [("x-amz-trailer", "x-amz-checksum-xxhash64")],
            ("InvalidRequest", checksums.TRAILER_UNSUPPORTED_MESSAGE),
        ),
    ],
)
def test_refusals(headers: list[tuple[str, str]], expected: tuple[str, str]) -> None:
    assert refusal(headers, trailers_allowed=True) == expected


def test_trailer_on_a_body_without_trailers() -> None:
    headers = [("x-amz-trailer", "x-amz-checksum-crc32")]
    assert refusal(headers) == ("MalformedTrailerError", checksums.MALFORMED_TRAILER_MESSAGE)


def test_refusals_are_400() -> None:
    with pytest.raises(S3Error) as e:
        checksums.parse_request([CRC32, CRC32C], trailers_allowed=False)
    assert e.value.status == 400


# --- trailers once the body has ended --------------------------------------------


@pytest.mark.parametrize(
    "trailers",
    [
        [],  # declared, never sent
        [("x-amz-checksum-crc32", "y/Q5Jg=="), ("x-amz-checksum-crc32", "y/Q5Jg==")],
        [("x-amz-checksum-crc32c", "4waSgw==")],  # another one than declared
    ],
)
def test_declared_trailer_missing_or_wrong(trailers: list[tuple[str, str]]) -> None:
    wanted = ChecksumRequest("CRC32", trailer="x-amz-checksum-crc32")
    with pytest.raises(S3Error) as e:
        checksums.expected_from_trailers(wanted, trailers)
    assert e.value.code == "MalformedTrailerError"
    assert e.value.text == checksums.MALFORMED_TRAILER_MESSAGE


def test_undeclared_checksum_trailer_is_refused() -> None:
    for wanted in (None, ChecksumRequest("CRC32", expected=bytes.fromhex("cbf43926"))):
        with pytest.raises(S3Error):
            checksums.expected_from_trailers(wanted, [CRC32])
        assert checksums.expected_from_trailers(wanted, [("x-other", "v")]) is None
        assert checksums.expected_from_trailers(wanted, []) is None


# --- check and mode ----------------------------------------------------------------


def test_check() -> None:
    digest = checksums.compute("SHA1", CHECK)
    checksums.check("SHA1", digest, digest)
    with pytest.raises(S3Error) as e:
        checksums.check("SHA1", digest, checksums.compute("SHA1", b"other"))
    assert (e.value.code, e.value.status) == ("BadDigest", 400)
    assert e.value.text == "The SHA1 you specified did not match the calculated checksum."


def test_mode_enabled() -> None:
    assert checksums.mode_enabled([("x-amz-checksum-mode", "ENABLED")])
    assert checksums.mode_enabled([("x-amz-checksum-mode", " enabled ")])
    assert not checksums.mode_enabled([("x-amz-checksum-mode", "DISABLED")])
    assert not checksums.mode_enabled([])
