"""Authentication: SigV4 verification (header and presigned) and payload checks.

Public face:
  - `authenticate(...) -> AuthResult`: the authenticate stage (`verify.py`).
  - `verified_body(body, auth) -> RequestBody`: the body, checked as it streams
    (`payload.py`).
  - `sigv4`: canonicalisation and signing primitives (`sigv4.py`).
"""

from hamster.auth import sigv4
from hamster.auth.payload import verified_body
from hamster.auth.verify import AuthResult, authenticate

__all__ = ["AuthResult", "authenticate", "sigv4", "verified_body"]
