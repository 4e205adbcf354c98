"""Authentication: SigV4 and SigV2 verification (header and presigned) and payload checks.

Public face:
  - `authenticate(...) -> AuthResult`: the authenticate stage (`verify.py`).
  - `verified_body(body, auth, runtime) -> RequestBody`: the body, checked as it streams
    (`payload.py`); for STREAMING-* payloads an `AwsChunkedBody` (decoded
    bytes; `.trailers` once the end is read).
  - `AwsChunkedDecoder`: the sans-I/O aws-chunked state machine (`chunked.py`).
  - `sigv4`: canonicalisation and signing primitives (`sigv4.py`).
  - `sigv2`: SigV2 string to sign, signing and verification (`sigv2.py`),
    which `authenticate` dispatches to for ``AWS key:signature`` and
    ``?AWSAccessKeyId=…`` requests.
"""

from hamster.auth import sigv2, sigv4
from hamster.auth.chunked import AwsChunkedDecoder
from hamster.auth.payload import AwsChunkedBody, Sha256CheckedBody, verified_body
from hamster.auth.verify import AuthResult, authenticate

__all__ = [
    "AuthResult",
    "AwsChunkedBody",
    "AwsChunkedDecoder",
    "Sha256CheckedBody",
    "authenticate",
    "sigv2",
    "sigv4",
    "verified_body",
]
