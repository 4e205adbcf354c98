"""x-amz-checksum-* on the wire: request parsing, trailers, refusals, response headers."""

from __future__ import annotations

import base64

import pytest

from hamster.integrity import ChecksumValue
from hamster.s3 import checksums
from hamster.s3.checksums import ChecksumRequest
from hamster.s3.errors import S3Error
from tests.test_integrity import CHECK_VALUES  # each algorithm's digest of b"123456789"


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def refusal(
    headers: list[tuple[str, str]], *, trailers_allowed: bool = False
) -> tuple[str, str]:
    with pytest.raises(S3Error) as e:
        checksums.parse_request(headers, trailers_allowed=trailers_allowed)
    return e.value.code, e.value.text


def test_response_headers() -> None:
    value = ChecksumValue("CRC32", bytes.fromhex("cbf43926"))
    assert checksums.response_headers(value) == [
        ("x-amz-checksum-crc32", "y/Q5Jg=="),
        ("x-amz-checksum-type", "FULL_OBJECT"),
    ]


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


def test_empty_trailer_list_items_are_skipped() -> None:
    """x-amz-trailer is a list header: empty elements are allowed (RFC 9110 §5.6.1)."""
    for value in (", x-amz-checksum-crc32", "x-amz-checksum-crc32,", " ,, x-amz-checksum-crc32"):
        wanted = checksums.parse_request([("x-amz-trailer", value)], trailers_allowed=True)
        assert wanted == ChecksumRequest("CRC32", trailer="x-amz-checksum-crc32")
    assert checksums.parse_request([("x-amz-trailer", " , ")], trailers_allowed=True) is None


def test_trailer_on_a_body_without_trailers() -> None:
    headers = [("x-amz-trailer", "x-amz-checksum-crc32")]
    assert refusal(headers) == (
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform "
        "to our published schema.",
    )


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
        with pytest.raises(S3Error) as e:
            checksums.expected_from_trailers(wanted, [CRC32])
        assert (e.value.code, e.value.status) == ("MalformedTrailerError", 400)
        assert e.value.text == checksums.MALFORMED_TRAILER_MESSAGE
        assert checksums.expected_from_trailers(wanted, [("x-other", "v")]) is None
        assert checksums.expected_from_trailers(wanted, []) is None


# --- mode ----------------------------------------------------------------


def test_mode_enabled() -> None:
    assert checksums.mode_enabled([("x-amz-checksum-mode", "ENABLED")])
    assert checksums.mode_enabled([("x-amz-checksum-mode", " enabled ")])
    assert not checksums.mode_enabled([("x-amz-checksum-mode", "DISABLED")])
    assert not checksums.mode_enabled([])


# --- CreateMultipartUpload's algorithm and type ------------------------------------

ALGORITHM = "x-amz-checksum-algorithm"
TYPE = "x-amz-checksum-type"


def upload_refusal(headers: list[tuple[str, str]]) -> tuple[str, int, str]:
    with pytest.raises(S3Error) as e:
        checksums.parse_upload_checksum(headers)
    return e.value.code, e.value.status, e.value.text


@pytest.mark.parametrize(
    ("algorithm", "default", "other"),
    [
        ("CRC32", "COMPOSITE", "FULL_OBJECT"),
        ("CRC32C", "COMPOSITE", "FULL_OBJECT"),
        ("CRC64NVME", "FULL_OBJECT", None),
        ("SHA1", "COMPOSITE", None),
        ("SHA256", "COMPOSITE", None),
    ],
)
def test_upload_checksum_types(algorithm: str, default: str, other: str | None) -> None:
    """The default type is COMPOSITE but for CRC64NVME; both names read in any case."""
    parse = checksums.parse_upload_checksum
    assert parse([(ALGORITHM, algorithm)]) == (algorithm, default)
    assert parse([(ALGORITHM, f" {algorithm.lower()} ")]) == (algorithm, default)
    assert parse([(TYPE, default.lower()), (ALGORITHM, algorithm)]) == (algorithm, default)
    if other is not None:
        assert parse([(ALGORITHM, algorithm), (TYPE, f" {other.lower()}\t")]) == (algorithm, other)
    else:
        refused = "COMPOSITE" if default == "FULL_OBJECT" else "FULL_OBJECT"
        assert upload_refusal([(ALGORITHM, algorithm), (TYPE, refused)]) == (
            "InvalidRequest",
            400,
            f"The {refused} checksum type cannot be used with the "
            f"{algorithm.lower()} checksum algorithm.",
        )


def test_upload_without_checksum() -> None:
    assert checksums.parse_upload_checksum([]) is None
    assert checksums.parse_upload_checksum([("x-amz-checksum-crc32", "AAAAAA==")]) is None
    assert checksums.parse_upload_checksum([("content-type", "CRC32")]) is None


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            [(ALGORITHM, "MD5")],
            "Checksum algorithm provided is unsupported. Please try again with any of the "
            "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        ),
        (
            [(ALGORITHM, "XXHASH64")],
            "Checksum algorithm provided is unsupported. Please try again with any of the "
            "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        ),
        (
            [(TYPE, "FULL_OBJECT")],
            "The x-amz-checksum-type header can only be used with the "
            "x-amz-checksum-algorithm header.",
        ),
        (
            [(ALGORITHM, "CRC32"), (TYPE, "PARTIAL")],
            "Value for x-amz-checksum-type header is invalid.",
        ),
        ([(TYPE, "")], "Value for x-amz-checksum-type header is invalid."),
    ],
)
def test_upload_checksum_refusals(headers: list[tuple[str, str]], message: str) -> None:
    assert upload_refusal(headers) == ("InvalidRequest", 400, message)
