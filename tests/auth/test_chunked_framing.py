"""aws-chunked framing at its boundaries: chunk sizes, line lengths, chunk and
trailer signatures, trailers, the declared length and the end, each refusal with
its code and text. Bodies are signed here with hmac directly, not with the
decoder's helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

import pytest

from hamster.auth import AuthResult, sigv4
from hamster.auth.chunked import CHUNK_BYTES_MAX, LINE_BYTES_MAX, TRAILERS_MAX, AwsChunkedDecoder
from hamster.auth.verify import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
)
from hamster.s3.errors import S3Error
from tests.auth import suite
from tests.patterns import pattern

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20260101T000000Z"
SCOPE = "20260101/us-east-1/s3/aws4_request"
SEED = hashlib.sha256(b"seed").hexdigest()
EMPTY = hashlib.sha256(b"").hexdigest()


def _key() -> bytes:
    key = b"AWS4" + SECRET.encode()
    for part in ("20260101", "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _auth(payload: str, decoded_length: int | None) -> AuthResult:
    return AuthResult(
        access_key="AKIDEXAMPLE",
        payload=payload,
        amz_date=AMZ_DATE,
        scope=SCOPE,
        seed_signature=SEED,
        signing_key=sigv4.signing_key(SECRET, "20260101", "us-east-1", "s3"),
        decoded_length=decoded_length,
    )


def _data(size: int, tag: bytes = b"") -> bytes:
    """Position-dependent bytes of object ``chunked-framing<tag>`` (tests/patterns)."""
    return pattern(size, b"chunked-framing" + tag)


def _chunk_signatures(chunks: Sequence[bytes]) -> list[str]:
    """The chained signatures of `chunks` and of the final empty chunk."""
    key, previous, out = _key(), SEED, []
    for chunk in [*chunks, b""]:
        sts = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{previous}\n{EMPTY}\n"
            f"{hashlib.sha256(chunk).hexdigest()}"
        )
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(previous)
    return out


def _trailer_signature(previous: str, canonical: bytes) -> str:
    sts = (
        f"AWS4-HMAC-SHA256-TRAILER\n{AMZ_DATE}\n{SCOPE}\n{previous}\n"
        f"{hashlib.sha256(canonical).hexdigest()}"
    )
    return hmac.new(_key(), sts.encode(), hashlib.sha256).hexdigest()


def _signed(chunks: Sequence[bytes], trailers: Sequence[tuple[str, str]] | None = None) -> bytes:
    """A signed body; with `trailers` (name, value as sent), signed trailers follow."""
    signatures = _chunk_signatures(chunks)
    out = [
        f"{len(c):x};chunk-signature={s}\r\n".encode() + c + b"\r\n"
        for c, s in zip(chunks, signatures, strict=False)
    ]
    out.append(f"0;chunk-signature={signatures[-1]}\r\n".encode())
    if trailers is None:
        return b"".join(out) + b"\r\n"
    canonical = "".join(f"{n}:{v}\n" for n, v in trailers).encode()
    out += [f"{n}:{v}\r\n".encode() for n, v in trailers]
    out.append(
        f"x-amz-trailer-signature:{_trailer_signature(signatures[-1], canonical)}\r\n\r\n".encode()
    )
    return b"".join(out)


def _unsigned(chunks: Sequence[bytes], trailer_lines: Sequence[bytes] = ()) -> bytes:
    out = [f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks]
    return b"".join(out) + b"0\r\n" + b"".join(line + b"\r\n" for line in trailer_lines) + b"\r\n"


def _decode(auth: AuthResult, body: bytes) -> tuple[bytes, AwsChunkedDecoder]:
    decoder = AwsChunkedDecoder(auth)
    out = decoder.feed(body)
    decoder.finish()
    assert decoder.done
    return out, decoder


def _refusal(
    auth: AuthResult, *pieces: bytes, finish: bool = True
) -> tuple[S3Error, AwsChunkedDecoder]:
    decoder = AwsChunkedDecoder(auth)
    with pytest.raises(S3Error) as info:
        for piece in pieces:
            decoder.feed(piece)
        if finish:
            decoder.finish()
    return info.value, decoder


def _malformed(detail: str) -> tuple[str, int, str]:
    return ("InvalidRequest", 400, f"Malformed aws-chunked body: {detail}.")


def _what(error: S3Error) -> tuple[str, int, str]:
    return (error.code, error.status, error.text)


INCOMPLETE_5 = (
    "IncompleteBody",
    400,
    "You did not provide the number of bytes specified by the "
    "x-amz-decoded-content-length HTTP header (5).",
)

# --- chunk sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("size_line", [b"", b"zz", b"-1", b" 5", b"0x5", b"1" * 17, b"+5"])
def test_chunk_size_not_hexadecimal(size_line: bytes) -> None:
    error, decoder = _refusal(_auth(STREAMING_UNSIGNED_TRAILER, 5), size_line + b"\r\n")
    assert _what(error) == _malformed("a chunk size is not hexadecimal")
    assert decoder.decoded_bytes == 0


def test_chunk_size_of_sixteen_hex_digits_in_either_case() -> None:
    data = _data(0x1F)
    body = b"000000000000001F\r\n" + data[:0x1F] + b"\r\n0\r\n\r\n"
    assert _decode(_auth(STREAMING_UNSIGNED_TRAILER, 0x1F), body)[0] == data
    body = b"1f\r\n" + data + b"\r\n0\r\n\r\n"
    assert _decode(_auth(STREAMING_UNSIGNED_TRAILER, 0x1F), body)[0] == data


def test_chunk_size_limit() -> None:
    auth = _auth(STREAMING_UNSIGNED_TRAILER, 2 * CHUNK_BYTES_MAX)
    assert CHUNK_BYTES_MAX == 8 * 1024 * 1024
    decoder = AwsChunkedDecoder(auth)
    assert decoder.feed(f"{CHUNK_BYTES_MAX:x}\r\n".encode() + b"\x01") == b"\x01"
    error, _ = _refusal(auth, f"{CHUNK_BYTES_MAX + 1:x}\r\n".encode(), finish=False)
    assert _what(error) == _malformed("a chunk is larger than 8388608 bytes")


def test_chunks_beyond_the_declared_length_are_refused_before_their_data() -> None:
    auth = _auth(STREAMING_UNSIGNED_TRAILER, 5)
    data = _data(6)
    assert _decode(auth, _unsigned([data[:3], data[3:5]]))[0] == data[:5]
    error, decoder = _refusal(auth, b"3\r\n" + data[:3] + b"\r\n3\r\n", finish=False)
    assert _what(error) == INCOMPLETE_5
    assert decoder.decoded_bytes == 3
    signed_header = f"6;chunk-signature={'0' * 64}\r\n".encode()
    error, decoder = _refusal(_auth(STREAMING_SIGNED, 5), signed_header, finish=False)
    assert _what(error) == INCOMPLETE_5


@pytest.mark.parametrize("declared", [0, 1, 299, 301, 600])
def test_decoded_length_must_be_exact(declared: int) -> None:
    chunks = [_data(100, b"a"), _data(200, b"b")]
    body = _signed(chunks)
    error, _ = _refusal(_auth(STREAMING_SIGNED, declared), body)
    assert _what(error) == (
        "IncompleteBody",
        400,
        "You did not provide the number of bytes specified by the "
        f"x-amz-decoded-content-length HTTP header ({declared}).",
    )
    assert _decode(_auth(STREAMING_SIGNED, 300), body)[0] == b"".join(chunks)


# --- lines -----------------------------------------------------------------------------------


def _trailer_of_line_bytes(total: int) -> bytes:
    name = b"x-amz-meta-long:"
    return name + _data(total - len(name)).hex().encode()[: total - len(name)]


def test_line_length_limit() -> None:
    auth = _auth(STREAMING_UNSIGNED_TRAILER, 0)
    longest = _trailer_of_line_bytes(LINE_BYTES_MAX)
    assert LINE_BYTES_MAX == 4096
    _, decoder = _decode(auth, b"0\r\n" + longest + b"\r\n\r\n")
    assert decoder.trailers == [("x-amz-meta-long", longest.partition(b":")[2].decode())]
    decoder = AwsChunkedDecoder(auth)
    assert decoder.feed(b"0\r\n" + longest) == b""  # still waiting for its CRLF
    too_long = _trailer_of_line_bytes(LINE_BYTES_MAX + 1)
    for pieces in ((b"0\r\n" + too_long + b"\r\n",), (b"0\r\n" + too_long,), (b"0\r\n", too_long)):
        error, _ = _refusal(auth, *pieces, finish=False)
        assert _what(error) == _malformed("a chunk header or trailer line is too long")


def test_chunk_data_must_end_with_crlf() -> None:
    for tail in (b"XX", b"\r\r", b"\n\n", b"\rX"):
        error, decoder = _refusal(
            _auth(STREAMING_UNSIGNED_TRAILER, 2), b"2\r\nab" + tail, finish=False
        )
        assert _what(error) == _malformed("chunk data is not followed by CRLF")
        assert decoder.decoded_bytes == 2  # unsigned bytes go out as they come


def test_crlf_split_across_feeds() -> None:
    decoder = AwsChunkedDecoder(_auth(STREAMING_UNSIGNED_TRAILER, 2))
    assert [decoder.feed(p) for p in (b"2\r", b"\nab\r", b"\n0\r", b"\n\r", b"\n")] == [
        b"",
        b"ab",
        b"",
        b"",
        b"",
    ]
    decoder.finish()
    assert decoder.done


def test_data_after_the_end() -> None:
    auth = _auth(STREAMING_UNSIGNED_TRAILER, 2)
    body = _unsigned([b"ab"])
    assert _decode(auth, body + b"\r\n\r\n")[0] == b"ab"  # stray CRLFs after the end: tolerated
    decoder = AwsChunkedDecoder(auth)
    assert decoder.done is False
    assert [decoder.feed(piece) for piece in (body, b"\r\n", b"", b"\n\r")] == [
        b"ab",
        b"",
        b"",
        b"",
    ]
    decoder.finish()
    assert decoder.done is True
    for junk in (b"x", b"X", b"\r\n0\r\n", b" ", b"\t"):
        error, _ = _refusal(auth, body, junk, finish=False)
        assert _what(error) == _malformed("data after the end of the aws-chunked body")


# --- chunk signatures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extension",
    [
        b"",
        b";",
        b";chunk-signature",
        b";chunk-signature=",
        b";chunk-signature=" + b"0" * 63,
        b";chunk-signature=" + b"0" * 65,
        b";chunk-signature=" + b"A" * 64,
        b";chunk-signaturf=" + b"0" * 64,
        b";Chunk-Signature=" + b"0" * 64,
    ],
)
def test_signed_chunk_header_needs_a_chunk_signature(extension: bytes) -> None:
    error, _ = _refusal(_auth(STREAMING_SIGNED, 3), b"3" + extension + b"\r\n", finish=False)
    assert _what(error) == _malformed("a chunk header lacks a valid chunk-signature")


def test_chunk_signature_mismatch_names_the_string_to_sign() -> None:
    chunks = [_data(10, b"x"), _data(7, b"y")]
    signatures = _chunk_signatures(chunks)
    wrong = signatures[1][::-1]
    body = _signed(chunks).replace(signatures[1].encode(), wrong.encode())
    error, decoder = _refusal(_auth(STREAMING_SIGNED, 17), body, finish=False)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.text == (
        "The chunk signature we calculated does not match the signature you provided."
    )
    assert error.extra == {
        "AWSAccessKeyId": "AKIDEXAMPLE",
        "StringToSign": (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{signatures[0]}\n{EMPTY}\n"
            f"{hashlib.sha256(chunks[1]).hexdigest()}"
        ),
        "SignatureProvided": wrong,
    }
    assert decoder.decoded_bytes == 10  # the first chunk, verified, went out


def test_final_chunk_signature_is_checked() -> None:
    chunks = [_data(10)]
    signatures = _chunk_signatures(chunks)
    body = _signed(chunks).replace(signatures[1].encode(), signatures[0].encode())
    error, _ = _refusal(_auth(STREAMING_SIGNED, 10), body, finish=False)
    assert error.code == "SignatureDoesNotMatch"
    assert error.extra is not None
    assert error.extra["StringToSign"].endswith(f"\n{signatures[0]}\n{EMPTY}\n{EMPTY}")


# --- trailers --------------------------------------------------------------------------------


def test_unsigned_trailers_are_parsed_lower_cased_and_trimmed() -> None:
    lines = [
        b"X-Amz-Checksum-CRC32 :  sOO8/Q==  ",
        b"x-amz-meta-time:12:00:01",
        b"x-amz-meta-spaces: a \t  b ",
    ]
    _, decoder = _decode(_auth(STREAMING_UNSIGNED_TRAILER, 0), _unsigned([], lines))
    assert decoder.trailers == [
        ("x-amz-checksum-crc32", "sOO8/Q=="),
        ("x-amz-meta-time", "12:00:01"),
        ("x-amz-meta-spaces", "a b"),
    ]


def test_trailer_count_limit() -> None:
    assert TRAILERS_MAX == 16
    auth = _auth(STREAMING_UNSIGNED_TRAILER, 0)
    lines = [f"x-amz-meta-t{i}:{i}".encode() for i in range(TRAILERS_MAX + 1)]
    _, decoder = _decode(auth, _unsigned([], lines[:TRAILERS_MAX]))
    assert len(decoder.trailers) == TRAILERS_MAX
    error, _ = _refusal(auth, _unsigned([], lines))
    assert _what(error) == _malformed("a trailer line is malformed")


@pytest.mark.parametrize("line", [b"no-colon", b":value", b" :value", b"\t: x"])
def test_malformed_trailer_line(line: bytes) -> None:
    error, _ = _refusal(_auth(STREAMING_UNSIGNED_TRAILER, 0), _unsigned([], [line]))
    assert _what(error) == _malformed("a trailer line is malformed")


def test_trailers_when_none_were_declared() -> None:
    body = _signed([_data(4)])[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    error, _ = _refusal(_auth(STREAMING_SIGNED, 4), body)
    assert _what(error) == _malformed("trailers were sent, but x-amz-content-sha256 declares none")


def test_trailer_signature_in_unsigned_mode_is_unexpected() -> None:
    body = _unsigned(
        [], [b"x-amz-checksum-crc32:AAAAAA==", b"x-amz-trailer-signature:" + b"0" * 64]
    )
    error, _ = _refusal(_auth(STREAMING_UNSIGNED_TRAILER, 0), body)
    assert _what(error) == _malformed("unexpected x-amz-trailer-signature")


def test_trailer_signature_given_twice_is_unexpected() -> None:
    body = _signed([_data(4)], [("x-amz-checksum-crc32", "AAAAAA==")])
    signature_line = body[body.index(b"x-amz-trailer-signature") :][:-2]
    error, _ = _refusal(_auth(STREAMING_SIGNED_TRAILER, 4), body[:-2] + signature_line + b"\r\n")
    assert _what(error) == _malformed("unexpected x-amz-trailer-signature")


def test_signed_trailers_verify_and_are_returned() -> None:
    chunks = [_data(5)]
    trailers = [("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-meta-b", "2"), ("x-amz-meta-a", "1")]
    out, decoder = _decode(_auth(STREAMING_SIGNED_TRAILER, 5), _signed(chunks, trailers))
    assert out == chunks[0]
    assert decoder.trailers == trailers  # in the order sent, without the signature


def test_signed_trailer_canonical_form_is_one_line_per_trailer() -> None:
    """aws-c-auth's three trailers ``first:1st``, ``second:2nd``, ``third:3rd`` after
    AWS's documented streaming example (seed and chunks), with its trailer signature."""
    examples = json.loads((suite.SUITE_DIR / "streaming-examples.json").read_text("utf-8"))
    common, example = examples["common"], examples["streaming_payload"]
    extra = examples["trailing_headers_extra"]
    auth = AuthResult(
        access_key=common["access_key_id"],
        payload=STREAMING_SIGNED_TRAILER,
        amz_date=common["x_amz_date"],
        scope=common["credential_scope"],
        seed_signature=example["seed_signature"],
        signing_key=sigv4.signing_key(common["secret_access_key"], "20130524", "us-east-1", "s3"),
        decoded_length=66560,
    )
    body = b""
    for size, chunk in zip((65536, 1024, 0), example["chunk_signatures"], strict=True):
        body += f"{size:x};chunk-signature={chunk['signature']}\r\n".encode() + b"a" * size
        body += b"\r\n" if size else b""
    lines = extra["canonical_trailer"].encode().replace(b"\n", b"\r\n")
    body += lines + f"x-amz-trailer-signature:{extra['trailer_signature']}\r\n\r\n".encode()
    out, decoder = _decode(auth, body)
    assert out == b"a" * 66560
    assert decoder.trailers == [("first", "1st"), ("second", "2nd"), ("third", "3rd")]
    # The same trailers joined any other way do not verify.
    swapped = body.replace(b"first:1st\r\nsecond:2nd", b"second:2nd\r\nfirst:1st")
    error, _ = _refusal(auth, swapped)
    assert error.code == "SignatureDoesNotMatch"


def test_trailer_signature_mismatch_names_the_string_to_sign() -> None:
    chunks = [_data(4)]
    trailers = [("x-amz-checksum-crc32", "AAAAAA==")]
    body = _signed(chunks, trailers).replace(b"AAAAAA==", b"AAAAAB==")
    error, _ = _refusal(_auth(STREAMING_SIGNED_TRAILER, 4), body)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.text == (
        "The trailer signature we calculated does not match the signature you provided."
    )
    final = _chunk_signatures(chunks)[-1]
    provided = body.rsplit(b"x-amz-trailer-signature:", 1)[1][:64].decode()
    assert error.extra == {
        "AWSAccessKeyId": "AKIDEXAMPLE",
        "StringToSign": (
            f"AWS4-HMAC-SHA256-TRAILER\n{AMZ_DATE}\n{SCOPE}\n{final}\n"
            + hashlib.sha256(b"x-amz-checksum-crc32:AAAAAB==\n").hexdigest()
        ),
        "SignatureProvided": provided,
    }


def test_missing_trailer_signature() -> None:
    body = _signed([_data(4)], [("x-amz-checksum-crc32", "AAAAAA==")])
    body = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    error, _ = _refusal(_auth(STREAMING_SIGNED_TRAILER, 4), body)
    assert _what(error) == (
        "InvalidRequest",
        400,
        "The x-amz-trailer-signature trailer is missing.",
    )


# --- the end ---------------------------------------------------------------------------------


def test_ending_after_a_whole_chunk_without_the_final_one_is_incomplete() -> None:
    """All the declared bytes came, verified, but the final chunk never did."""
    chunks = [_data(5)]
    body = _signed(chunks)
    cut = body.index(b"0;chunk-signature=")
    error, decoder = _refusal(_auth(STREAMING_SIGNED, 5), body[:cut])
    assert decoder.decoded_bytes == 5
    assert _what(error) == INCOMPLETE_5


def test_ending_inside_a_trailer_line_is_incomplete() -> None:
    auth = _auth(STREAMING_UNSIGNED_TRAILER, 0)
    error, _ = _refusal(auth, b"0\r\nx-amz-checksum-crc32:AAAA")
    assert error.code == "IncompleteBody"


def test_without_a_declared_length_the_end_must_still_come() -> None:
    auth = _auth(STREAMING_UNSIGNED_TRAILER, None)
    assert _decode(auth, _unsigned([b"abc"]))[0] == b"abc"
    error, _ = _refusal(auth, b"3\r\nabc\r\n")
    assert _what(error) == (
        "IncompleteBody",
        400,
        "The aws-chunked body ended before its final chunk.",
    )


def test_a_failed_finish_stays_failed() -> None:
    decoder = AwsChunkedDecoder(_auth(STREAMING_UNSIGNED_TRAILER, 5))
    decoder.feed(b"5\r\nab")
    with pytest.raises(S3Error) as info:
        decoder.finish()
    for again in (decoder.finish, lambda: decoder.feed(b"cde\r\n0\r\n\r\n")):
        with pytest.raises(S3Error) as later:
            again()
        assert later.value is info.value
