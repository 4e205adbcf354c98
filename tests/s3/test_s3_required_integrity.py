"""Bodies that need Content-MD5 or an x-amz-checksum-* value (DeleteObjects)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster import integrity
from hamster.s3.errors import S3Error
from hamster.s3.required_integrity import MISSING_MESSAGE, parse_content_md5, required_integrity

BODY = b"<Delete><Object><Key>k</Key></Object></Delete>"


def md5_header(body: bytes) -> tuple[str, str]:
    return ("content-md5", base64.b64encode(hashlib.md5(body).digest()).decode())


def checksum_header(algorithm: str, body: bytes) -> tuple[str, str]:
    value = base64.b64encode(integrity.compute(algorithm, body)).decode()
    return (integrity.header_name(algorithm), value)


def refused(headers: list[tuple[str, str]], body: bytes = BODY, **kw: object) -> S3Error:
    with pytest.raises(S3Error) as e:
        required_integrity(headers, trailers_allowed=bool(kw.get("trailers_allowed"))).verify_body(
            body,
            kw.get("trailers", ()),  # type: ignore[arg-type]
        )
    return e.value


def test_neither_header_is_s3s_invalid_request() -> None:
    error = refused([("content-type", "application/xml")])
    assert (error.code, error.status, error.text) == ("InvalidRequest", 400, MISSING_MESSAGE)
    # The algorithm alone names no value: S3's own message for that.
    error = refused([("x-amz-sdk-checksum-algorithm", "CRC32")])
    assert error.code == "InvalidRequest" and "no corresponding" in error.text


def test_content_md5() -> None:
    required_integrity([md5_header(BODY)], trailers_allowed=False).verify_body(BODY)
    error = refused([md5_header(BODY + b" ")])
    assert (error.code, error.text) == (
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        assert refused([("content-md5", bad)]).code == "InvalidDigest"


MD5 = hashlib.md5(BODY).digest()
MD5_B64 = base64.b64encode(MD5).decode()


def test_parse_content_md5() -> None:
    assert parse_content_md5(None) is None
    assert parse_content_md5(MD5_B64) == MD5
    assert parse_content_md5(f" {MD5_B64}\t") == MD5


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        "",
        base64.b64encode(MD5[:15]).decode(),
        base64.b64encode(MD5 + b"\x00").decode(),
        MD5.hex(),  # hex, not base64
        MD5_B64[:4] + "!" + MD5_B64[4:],  # a character outside base64, dropped by a lax decoder
        MD5_B64[:4] + " " + MD5_B64[4:],
        MD5_B64.rstrip("="),  # unpadded
    ],
)
def test_content_md5_that_is_not_base64_of_16_bytes(value: str) -> None:
    with pytest.raises(S3Error) as e:
        parse_content_md5(value)
    assert (e.value.code, e.value.status, e.value.text) == (
        "InvalidDigest",
        400,
        "The Content-MD5 you specified is not valid.",
    )
    assert e.value.extra == {"Content-MD5": value}


@pytest.mark.parametrize("algorithm", integrity.ALGORITHMS)
def test_each_checksum_as_boto3_sends_it(algorithm: str) -> None:
    headers = [checksum_header(algorithm, BODY), ("x-amz-sdk-checksum-algorithm", algorithm)]
    required_integrity(headers, trailers_allowed=False).verify_body(BODY)
    error = refused(
        [checksum_header(algorithm, BODY[:-1]), ("x-amz-sdk-checksum-algorithm", algorithm)]
    )
    assert (error.code, error.text) == (
        "BadDigest",
        f"The {algorithm} you specified did not match the calculated checksum.",
    )


def test_both_given_both_checked() -> None:
    good = [md5_header(BODY), checksum_header("CRC32", BODY)]
    required_integrity(good, trailers_allowed=False).verify_body(BODY)
    assert refused([md5_header(b"x"), checksum_header("CRC32", BODY)]).code == "BadDigest"
    assert refused([md5_header(BODY), checksum_header("CRC32", b"x")]).code == "BadDigest"


def test_checksum_in_a_trailer() -> None:
    name, value = checksum_header("CRC32C", BODY)
    headers = [("x-amz-trailer", name)]
    wanted = required_integrity(headers, trailers_allowed=True)
    wanted.verify_body(BODY, [(name, value)])
    assert (
        refused(headers, trailers_allowed=True, trailers=[(name, "AAAAAA==")]).code == "BadDigest"
    )
    assert refused(headers, trailers_allowed=True, trailers=[]).code == "MalformedTrailerError"
    # A trailer on a body that cannot carry one.
    assert refused(headers).code == "MalformedTrailerError"


@given(st.binary(max_size=300), st.sampled_from(integrity.ALGORITHMS), st.data())
def test_any_changed_byte_is_caught(body: bytes, algorithm: str, data: st.DataObject) -> None:
    for headers in ([md5_header(body)], [checksum_header(algorithm, body)]):
        wanted = required_integrity(headers, trailers_allowed=False)
        wanted.verify_body(body)
        if body:
            at = data.draw(st.integers(0, len(body) - 1))
            flip = data.draw(st.integers(1, 255))
            changed = body[:at] + bytes([body[at] ^ flip]) + body[at + 1 :]
            with pytest.raises(S3Error) as e:
                wanted.verify_body(changed)
            assert e.value.code == "BadDigest"
