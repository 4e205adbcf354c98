"""Header values as Hamster carries them: wire strings, one character per byte.

Every header value, from the request head to the stored record to the
response, is a *wire string*: the bytes the client sent, each as the character
of the same number (latin-1), so ``value.encode("latin-1")`` gives them back
whatever they were (UTF-8, latin-1, anything). The connection loop decodes and
encodes exactly this way, and records store metadata in this form, so a value
round-trips byte for byte.

Text that did not come from a header (a presigned URL's ``x-amz-meta-*`` or a
``response-content-disposition`` query parameter, which percent-decode to
Unicode text) becomes a header value through `header_value`: its UTF-8 bytes,
as a wire string. Mixing the two forms is what sends ``é`` back as ``Ã©`` (or
makes a character beyond U+00FF unencodable).
"""

from __future__ import annotations

__all__ = ["AWS_CHUNKED", "header_value", "stored_content_encoding"]

AWS_CHUNKED = "aws-chunked"


def header_value(text: str) -> str:
    """Decoded text (from a URL) as a wire string: its UTF-8 bytes, one character each."""
    # Decoded text holds no lone surrogate (percent_decode decodes strictly).
    return text.encode().decode("latin-1")


def stored_content_encoding(value: str | None) -> str | None:
    """Content-Encoding as stored: the value without its ``aws-chunked`` members.

    ``aws-chunked`` names how the body was framed on the wire, not how the
    object is encoded. Everything else stays as the client wrote it, spacing
    included (``deflate, gzip, aws-chunked`` stores ``deflate, gzip``); a value
    of nothing but ``aws-chunked`` stores none.
    """
    if value is None:
        return None
    members = value.split(",")
    kept = [m for m in members if m.strip().lower() != AWS_CHUNKED]
    if len(kept) == len(members):
        return value if value.strip() else None
    stored = ",".join(kept).strip()
    return stored or None
