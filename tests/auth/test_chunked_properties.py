"""Properties of the aws-chunked decoder over random bodies, chunkings and
read boundaries: it releases exactly the signed data, or refuses; never other bytes."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from hamster.auth import AuthResult, sigv4
from hamster.auth.chunked import AwsChunkedDecoder
from hamster.auth.verify import STREAMING_SIGNED
from hamster.s3.errors import S3Error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20260101T000000Z"
SCOPE = "20260101/us-east-1/s3/aws4_request"
SEED = "a" * 64
EMPTY = hashlib.sha256(b"").hexdigest()


def _key() -> bytes:
    key = b"AWS4" + SECRET.encode()
    for part in ("20260101", "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _auth(decoded_length: int) -> AuthResult:
    return AuthResult(
        access_key="AKIDEXAMPLE",
        payload=STREAMING_SIGNED,
        amz_date=AMZ_DATE,
        scope=SCOPE,
        seed_signature=SEED,
        signing_key=sigv4.signing_key(SECRET, "20260101", "us-east-1", "s3"),
        decoded_length=decoded_length,
    )


def _encode(chunks: list[bytes]) -> bytes:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, signed with hmac directly."""
    key, previous, out = _key(), SEED, []
    for chunk in [*chunks, b""]:
        sts = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{previous}\n{EMPTY}\n"
            f"{hashlib.sha256(chunk).hexdigest()}"
        )
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + b"\r\n")
    return b"".join(out)


def _decode(body: bytes, cuts: list[int], decoded_length: int) -> bytes:
    """Feed `body` split at `cuts`; the released bytes, or S3Error."""
    decoder = AwsChunkedDecoder(_auth(decoded_length))
    released = []
    start = 0
    for cut in [*sorted(set(cuts)), len(body)]:
        released.append(decoder.feed(body[start:cut]))
        start = cut
    decoder.finish()
    return b"".join(released)


CHUNKS = st.lists(st.binary(min_size=1, max_size=300), max_size=6)


@settings(max_examples=150, deadline=None)
@given(chunks=CHUNKS, data=st.data())
def test_any_chunking_and_any_read_boundaries_decode_the_data(
    chunks: list[bytes], data: st.DataObject
) -> None:
    body = _encode(chunks)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert _decode(body, cuts, sum(map(len, chunks))) == b"".join(chunks)


@settings(max_examples=300, deadline=None)
@given(chunks=CHUNKS, data=st.data())
def test_any_single_byte_change_is_refused_or_harmless(
    chunks: list[bytes], data: st.DataObject
) -> None:
    body = _encode(chunks)
    offset = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:offset] + bytes([body[offset] ^ flip]) + body[offset + 1 :]
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    try:
        released = _decode(tampered, cuts, sum(map(len, chunks)))
    except S3Error as error:
        assert error.code in {
            "SignatureDoesNotMatch",
            "InvalidRequest",
            "IncompleteBody",
            "AuthorizationHeaderMalformed",
        }, error.code
    else:
        # Only a change the encoding ignores can pass (a case flip in a hex
        # chunk size); what it released must still be exactly the signed data.
        assert released == b"".join(chunks)
