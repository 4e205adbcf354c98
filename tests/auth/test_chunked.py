"""The aws-chunked decoder: AWS's documented examples, whole-buffer and byte-at-a-time."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from hamster.auth import AuthResult, sigv4
from hamster.auth.chunked import AwsChunkedDecoder
from hamster.auth.payload import AwsChunkedBody
from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from tests.auth.test_payload import FakeBody, _read_all, verified_body
from tests.auth.test_sigv4_suite import COMMON, EXAMPLES
from tests.offload import RecordingOffload

DATA = b"a" * 66560
SIZES = (65536, 1024)


def _auth(name: str, decoded_length: int | None = len(DATA)) -> AuthResult:
    example = EXAMPLES[name]
    return AuthResult(
        access_key=COMMON["access_key_id"],
        payload=example["x_amz_content_sha256"],
        amz_date=COMMON["x_amz_date"],
        scope=COMMON["credential_scope"],
        seed_signature=example["seed_signature"],
        signing_key=sigv4.signing_key(COMMON["secret_access_key"], "20130524", "us-east-1", "s3"),
        decoded_length=decoded_length,
    )


def _example_body(name: str) -> bytes:
    example = EXAMPLES[name]
    signatures = [c["signature"] for c in example["chunk_signatures"]]
    body = b""
    for size, signature in zip((*SIZES, 0), signatures, strict=True):
        body += f"{size:x};chunk-signature={signature}\r\n".encode() + b"a" * size + b"\r\n"
    if "trailer" in example:
        body = body[:-2]  # the final chunk's CRLF ends its header line only
        body += example["trailer"].encode() + b"\r\n"
        body += f"x-amz-trailer-signature:{example['trailer_signature']}\r\n\r\n".encode()
    return body


CASES = ["streaming_payload", "streaming_payload_trailer"]


def test_documented_example_decodes_to_its_decoded_length() -> None:
    """AWS's example: Content-Length 66824 on the wire, x-amz-decoded-content-length
    66560 decoded, in chunks of 65536 and 1024 bytes."""
    body = _example_body("streaming_payload")
    assert len(body) == 66824  # the fixture is the documented body
    decoder = AwsChunkedDecoder(_auth("streaming_payload", decoded_length=66560))
    first_end = body.index(b"\r\n400;") + 2
    released = [decoder.feed(body[:first_end]), decoder.feed(body[first_end:])]
    assert [len(piece) for piece in released] == [65536, 1024]
    assert b"".join(released) == DATA
    assert decoder.decoded_bytes == 66560
    decoder.finish()
    assert decoder.done


def _decode_bytewise(decoder: AwsChunkedDecoder, body: bytes) -> list[tuple[int, int]]:
    """Feed one byte at a time; return (bytes fed, bytes released) at each release."""
    releases = []
    released = 0
    for index in range(len(body)):
        out = decoder.feed(body[index : index + 1])
        if out:
            released += len(out)
            releases.append((index + 1, released))
    return releases


@pytest.mark.parametrize("name", CASES)
def test_whole_buffer(name: str) -> None:
    decoder = AwsChunkedDecoder(_auth(name))
    assert decoder.feed(_example_body(name)) == DATA
    decoder.finish()
    assert decoder.done
    expected = [("x-amz-checksum-crc32c", "sOO8/Q==")] if "trailer" in EXAMPLES[name] else []
    assert decoder.trailers == expected


@pytest.mark.parametrize("name", CASES)
def test_byte_at_a_time_releases_whole_verified_chunks(name: str) -> None:
    body = _example_body(name)
    decoder = AwsChunkedDecoder(_auth(name))
    releases = _decode_bytewise(decoder, body)
    header_1 = len(f"10000;chunk-signature={'0' * 64}\r\n")
    header_2 = len(f"400;chunk-signature={'0' * 64}\r\n")
    first_end = header_1 + 65536 + 2
    assert releases == [(first_end, 65536), (first_end + header_2 + 1024 + 2, 66560)]
    decoder.finish()
    assert decoder.done


@pytest.mark.parametrize("split", [1, 2, 100, 65536 + 80, 66823])
def test_split_anywhere(split: int) -> None:
    body = _example_body("streaming_payload_trailer")
    decoder = AwsChunkedDecoder(_auth("streaming_payload_trailer"))
    assert decoder.feed(body[:split]) + decoder.feed(body[split:]) == DATA
    decoder.finish()


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("piece_bytes", [None, 1, 4099])
async def test_through_verified_body(name: str, piece_bytes: int | None) -> None:
    body = verified_body(FakeBody(_example_body(name), piece_bytes), _auth(name))
    assert isinstance(body, AwsChunkedBody)
    assert body.content_length == len(DATA)
    assert await _read_all(body, 1000) == DATA
    assert await body.read(10) == b""
    assert len(body.trailers) == (1 if "trailer" in EXAMPLES[name] else 0)


async def test_big_reads_decode_through_the_offload() -> None:
    """Raw reads over the runtime's cut-off are decoded (hashed, verified)
    through its offload; smaller ones inline."""
    name = "streaming_payload_trailer"
    raw = _example_body(name)
    offload = RecordingOffload()
    runtime = Runtime(offload=offload, hash_inline_max_bytes=4098)
    body = AwsChunkedBody(FakeBody(raw, 4099), _auth(name), runtime)
    assert await _read_all(body, 1000) == DATA
    sizes = [len(call.args[0]) for call in offload.calls]
    assert sizes == [4099] * (len(raw) // 4099)


def _flip(body: bytes, offset: int) -> bytes:
    return body[:offset] + bytes([body[offset] ^ 1]) + body[offset + 1 :]


@pytest.mark.parametrize("name", CASES)
def test_tampered_data_is_never_released(name: str) -> None:
    body = _flip(_example_body(name), 100)  # inside the first chunk's data
    decoder = AwsChunkedDecoder(_auth(name))
    with pytest.raises(S3Error) as info:
        _decode_bytewise(decoder, body)
    assert info.value.code == "SignatureDoesNotMatch"
    assert decoder.decoded_bytes == 0
    for later in (lambda: decoder.feed(b""), decoder.finish):  # a failed decoder stays failed
        with pytest.raises(S3Error) as again:
            later()
        assert again.value is info.value


def test_tampered_second_chunk_releases_only_the_first() -> None:
    body = _example_body("streaming_payload")
    offset = body.index(b"\r\n400;") + 200
    decoder = AwsChunkedDecoder(_auth("streaming_payload"))
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        _decode_bytewise(decoder, _flip(body, offset))
    assert decoder.decoded_bytes == 65536


def test_chunks_cannot_be_reordered_or_replayed() -> None:
    """The chain: the final chunk's signature is only valid after the others."""
    example = EXAMPLES["streaming_payload"]
    final = example["chunk_signatures"][-1]["signature"]
    decoder = AwsChunkedDecoder(_auth("streaming_payload", decoded_length=0))
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        decoder.feed(f"0;chunk-signature={final}\r\n\r\n".encode())


def test_tampered_trailer_value_or_signature() -> None:
    body = _example_body("streaming_payload_trailer")
    for bad in (body.replace(b"sOO8/Q==", b"sOO8/Q=="[::-1]), _flip(body, len(body) - 10)):
        decoder = AwsChunkedDecoder(_auth("streaming_payload_trailer"))
        with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
            decoder.feed(bad)
        assert not decoder.done


def test_missing_trailer_signature() -> None:
    body = _example_body("streaming_payload_trailer")
    start = body.index(b"x-amz-trailer-signature")
    decoder = AwsChunkedDecoder(_auth("streaming_payload_trailer"))
    with pytest.raises(S3Error, match="InvalidRequest"):
        decoder.feed(body[:start] + b"\r\n")


@pytest.mark.parametrize("name", CASES)
def test_final_crlf_is_optional(name: str) -> None:
    decoder = AwsChunkedDecoder(_auth(name))
    assert decoder.feed(_example_body(name)[:-2]) == DATA
    decoder.finish()
    assert decoder.done


@pytest.mark.parametrize("cut", [1, 100, 65536 + 90, 66700])
def test_truncated_body_is_incomplete(cut: int) -> None:
    decoder = AwsChunkedDecoder(_auth("streaming_payload"))
    decoder.feed(_example_body("streaming_payload")[:cut])
    with pytest.raises(S3Error) as info:
        decoder.finish()
    assert info.value.code == "IncompleteBody"


@pytest.mark.parametrize("declared", [0, 65536, 66559, 66561])
def test_decoded_length_must_match(declared: int) -> None:
    decoder = AwsChunkedDecoder(_auth("streaming_payload", decoded_length=declared))
    with pytest.raises(S3Error) as info:
        decoder.feed(_example_body("streaming_payload"))
        decoder.finish()
    assert info.value.code == "IncompleteBody"


# --- unsigned chunks with trailers (what the SDKs send over TLS) ------------------------------


def _unsigned_auth(decoded_length: int) -> AuthResult:
    return AuthResult(
        access_key="AKIA",
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        decoded_length=decoded_length,
        trailer_names=("x-amz-checksum-crc32",),
    )


def _unsigned_body(data: bytes, chunk_bytes: int = 1000) -> bytes:
    body = b""
    for start in range(0, len(data), chunk_bytes):
        chunk = data[start : start + chunk_bytes]
        body += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    return body + b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 4321])
def test_unsigned_trailer_whole_and_bytewise(size: int) -> None:
    data = hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1)
    data = data[:size]
    body = _unsigned_body(data)
    whole = AwsChunkedDecoder(_unsigned_auth(size))
    assert whole.feed(body) == data
    whole.finish()
    assert whole.trailers == [("x-amz-checksum-crc32", "AAAAAA==")]

    bytewise = AwsChunkedDecoder(_unsigned_auth(size))
    out = b"".join(bytewise.feed(body[i : i + 1]) for i in range(len(body)))
    assert out == data
    bytewise.finish()
    assert bytewise.trailers == whole.trailers


def test_unsigned_chunks_are_released_as_they_arrive() -> None:
    decoder = AwsChunkedDecoder(_unsigned_auth(1000))
    assert decoder.feed(b"3e8\r\nabc") == b"abc"


def test_signed_zero_byte_body() -> None:
    auth = replace(_auth("streaming_payload"), decoded_length=0)
    sts = sigv4.chunk_string_to_sign(
        amz_date=auth.amz_date,
        scope=auth.scope,
        previous_signature=auth.seed_signature,
        chunk_sha256=sigv4.EMPTY_SHA256,
    )
    signature = sigv4.signature(auth.signing_key, sts)
    decoder = AwsChunkedDecoder(auth)
    assert decoder.feed(f"0;chunk-signature={signature}\r\n\r\n".encode()) == b""
    decoder.finish()
    assert decoder.done


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nab\r\n0\r\n\r\n",  # size not hex
        b"2\r\nabXX0\r\n\r\n",  # no CRLF after the data
        b"2\r\nab\r\n0\r\n\r\njunk",  # data after the end
        b"2" * 5000,  # an endless size line
        b"2\r\nab\r\n0\r\nno-colon\r\n\r\n",  # a malformed trailer
    ],
)
def test_malformed_unsigned(body: bytes) -> None:
    decoder = AwsChunkedDecoder(_unsigned_auth(2))
    with pytest.raises(S3Error) as info:
        decoder.feed(body)
        decoder.finish()
    assert info.value.code in ("InvalidRequest", "IncompleteBody")


def test_signed_chunk_without_signature_is_malformed() -> None:
    decoder = AwsChunkedDecoder(_auth("streaming_payload"))
    with pytest.raises(S3Error, match="InvalidRequest"):
        decoder.feed(b"400\r\n")


def test_trailers_refused_when_none_declared() -> None:
    example = EXAMPLES["streaming_payload"]
    body = _example_body("streaming_payload")[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert example["x_amz_content_sha256"] == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    decoder = AwsChunkedDecoder(_auth("streaming_payload"))
    with pytest.raises(S3Error, match="InvalidRequest"):
        decoder.feed(body)
