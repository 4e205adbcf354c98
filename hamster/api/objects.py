"""Object operations: PutObject, GetObject, HeadObject, DeleteObject.

Checksums (x-amz-checksum-*): PutObject computes one while streaming (the
client's algorithm, or CRC64NVME), checks the value the client sent in a
header or an aws-chunked trailer, stores it and answers it; GetObject and
HeadObject answer it when asked (x-amz-checksum-mode: ENABLED) for the
whole object, never for a range.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from hamster.api.context import RequestContext, owner_id, xml_response
from hamster.auth.payload import AwsChunkedBody
from hamster.http.messages import FileBody, Response
from hamster.s3 import checksums
from hamster.s3 import etag as etags
from hamster.s3.checksums import ChecksumRequest
from hamster.s3.conditional import WriteConditions, check_read_conditions
from hamster.s3.errors import S3Error
from hamster.s3.headers import header_value, stored_content_encoding
from hamster.s3.httpdate import format_http_date
from hamster.s3.names import validate_key
from hamster.s3.ranges import content_range, parse_range, part_span
from hamster.s3.required_integrity import parse_content_md5
from hamster.s3.versions import check_version_id
from hamster.s3.xml import acl_xml, empty_tagging_xml
from hamster.storage.parts import parse_part_number
from hamster.storage.records import StandardHeaders
from hamster.storage.store import ObjectInfo, ObjectReader, PutRequest

META_PREFIX = "x-amz-meta-"
# S3's limit on user-defined metadata: the UTF-8 bytes of all names and values.
MAX_USER_METADATA_BYTES = 2048
DEFAULT_CONTENT_TYPE = "binary/octet-stream"

# Headers that ask for functionality v0.1 does not have: an honest 501.
UNSUPPORTED_WRITE_HEADERS = (
    "x-amz-tagging",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
)
# Canned ACLs that say nothing beyond "the owner has full control".
HARMLESS_CANNED_ACLS = ("private", "bucket-owner-full-control")

# GetObject's response-* query parameters and the header each overrides.
RESPONSE_OVERRIDES = (
    ("response-content-type", "Content-Type"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-content-encoding", "Content-Encoding"),
)


def refuse_unsupported_write_headers(ctx: RequestContext) -> None:
    req = ctx.request
    for name in UNSUPPORTED_WRITE_HEADERS:
        if req.header(name) is not None:
            raise S3Error(
                "NotImplemented",
                message=f"The {name} header is not supported by this server.",
                extra={"Header": name},
            )
    acl = req.header("x-amz-acl")
    if acl is not None and acl.strip() not in HARMLESS_CANNED_ACLS:
        raise S3Error(
            "NotImplemented",
            message="Canned ACLs other than private are not supported by this server.",
            extra={"Header": "x-amz-acl"},
        )
    storage_class = req.header("x-amz-storage-class")
    if storage_class is not None and storage_class.strip() != "STANDARD":
        raise S3Error(
            "NotImplemented",
            message="Only the STANDARD storage class is supported by this server.",
            extra={"Header": "x-amz-storage-class"},
        )


def user_metadata(ctx: RequestContext) -> tuple[tuple[str, str], ...]:
    """The x-amz-meta-* headers, names without the prefix, in arrival order."""
    pairs: list[tuple[str, str]] = []
    size = 0
    for name, value in ctx.request.headers:
        if name.startswith(META_PREFIX):
            short = name[len(META_PREFIX) :]
            pairs.append((short, value))
            size += len(short.encode("utf-8")) + len(value.encode("latin-1"))
    if size > MAX_USER_METADATA_BYTES:
        raise S3Error(
            "MetadataTooLarge",
            extra={"Size": str(size), "MaxSizeAllowed": str(MAX_USER_METADATA_BYTES)},
        )
    return tuple(pairs)


def _expected_at_end(wanted: ChecksumRequest | None, body: AwsChunkedBody) -> bytes | None:
    """Once an aws-chunked body has ended: the checksum value to verify, from
    its trailer or (already known) its header; the trailers are checked either way."""
    from_trailer = checksums.expected_from_trailers(wanted, body.trailers)
    if wanted is not None and wanted.expected is not None:
        return wanted.expected
    return from_trailer


def write_conditions(ctx: RequestContext) -> WriteConditions:
    """A write's If-Match and If-None-Match (checked by storage at commit time)."""
    return WriteConditions(
        if_match=ctx.request.header("if-match"),
        if_none_match=ctx.request.header("if-none-match"),
    )


def standard_headers(ctx: RequestContext) -> StandardHeaders:
    """The standard headers a write stores with the object."""
    req = ctx.request
    return StandardHeaders(
        content_type=req.header("content-type"),
        content_encoding=stored_content_encoding(req.header("content-encoding")),
        content_disposition=req.header("content-disposition"),
        content_language=req.header("content-language"),
        cache_control=req.header("cache-control"),
        expires=req.header("expires"),
    )


def requested_checksum(
    ctx: RequestContext,
) -> tuple[ChecksumRequest | None, Callable[[], bytes | None] | None]:
    """The checksum a write asks for (header or declared trailer), and for an
    aws-chunked body the callback that gives its value once the body has ended."""
    wanted = checksums.parse_request(ctx.request.headers, trailers_allowed=ctx.trailers_allowed)
    if not isinstance(ctx.body, AwsChunkedBody):
        return wanted, None
    return wanted, functools.partial(_expected_at_end, wanted, ctx.body)


async def put_object(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    req = ctx.request
    refuse_unsupported_write_headers(ctx)
    content_length = ctx.body.content_length
    if content_length is None:
        raise S3Error("MissingContentLength")
    wanted, at_end = requested_checksum(ctx)
    put = PutRequest(
        bucket=ctx.bucket,
        key=ctx.key,
        **standard_headers(ctx),
        user_metadata=user_metadata(ctx),
        content_length=content_length,
        content_md5=parse_content_md5(req.header("content-md5")),
        conditions=write_conditions(ctx),
        checksum_algorithm=wanted.algorithm if wanted is not None else None,
        checksum_expected=wanted.expected if wanted is not None and at_end is None else None,
    )
    info = await ctx.store.put_object(put, ctx.body, checksum_at_end=at_end)
    headers = [("ETag", etags.quote(info.etag))]
    if info.checksum is not None:
        headers.extend(checksums.response_headers(info.checksum))
    return Response(200, headers)


def object_headers(info: ObjectInfo) -> list[tuple[str, str]]:
    """The headers GET and HEAD answer for a stored object (before overrides)."""
    headers = [
        ("Last-Modified", format_http_date(info.last_modified_ns)),
        ("ETag", etags.quote(info.etag)),
        ("Accept-Ranges", "bytes"),
        ("Content-Type", info.content_type or DEFAULT_CONTENT_TYPE),
    ]
    for name, value in (
        ("Content-Encoding", info.content_encoding),
        ("Content-Disposition", info.content_disposition),
        ("Content-Language", info.content_language),
        ("Cache-Control", info.cache_control),
        ("Expires", info.expires),
    ):
        if value is not None:
            headers.append((name, value))
    headers.extend((META_PREFIX + name, value) for name, value in info.user_metadata)
    return headers


def _apply_overrides(ctx: RequestContext, headers: list[tuple[str, str]]) -> None:
    for param, header in RESPONSE_OVERRIDES:
        value = ctx.request.q(param)
        if value is not None:
            lower = header.lower()
            headers[:] = [(k, v) for k, v in headers if k.lower() != lower]
            headers.append((header, header_value(value)))


def _read_response(ctx: RequestContext, info: ObjectInfo) -> tuple[Response, int, int]:
    """Status and headers for GET/HEAD of `info`, and the byte span to send.

    Raises the S3 error a failed precondition or bad range calls for.
    """
    req = ctx.request
    verdict = check_read_conditions(
        if_match=req.header("if-match"),
        if_none_match=req.header("if-none-match"),
        if_modified_since=req.header("if-modified-since"),
        if_unmodified_since=req.header("if-unmodified-since"),
        etag=info.etag,
        last_modified_ns=info.last_modified_ns,
    )
    if verdict == 412:
        raise S3Error("PreconditionFailed", extra={"Condition": _failed_condition(ctx)})
    if verdict == 304:
        headers = [
            ("Last-Modified", format_http_date(info.last_modified_ns)),
            ("ETag", etags.quote(info.etag)),
        ]
        return Response(304, headers), 0, 0
    headers = object_headers(info)
    part_number = requested_part(ctx)
    if part_number is not None:
        sizes = [p.size for p in info.parts] if info.parts else [info.size]
        start, length = part_span(sizes, part_number)
        if info.parts:
            headers.append(("x-amz-mp-parts-count", str(len(info.parts))))
        status = 200
        if length > 0:  # an empty part has no byte range to name
            status = 206
            headers.append(("Content-Range", content_range(start, start + length - 1, info.size)))
        headers.append(("Content-Length", str(length)))
        _apply_overrides(ctx, headers)
        return Response(status, headers), start, length
    span = parse_range(req.header("range"), info.size)
    if span is None:
        status, start, length = 200, 0, info.size
        # The checksum is of the whole object: only a whole-object answer has it.
        if info.checksum is not None and checksums.mode_enabled(req.headers):
            headers.extend(checksums.response_headers(info.checksum))
    else:
        first, last = span
        status, start, length = 206, first, last - first + 1
        headers.append(("Content-Range", content_range(first, last, info.size)))
    headers.append(("Content-Length", str(length)))
    _apply_overrides(ctx, headers)
    return Response(status, headers), start, length


def requested_part(ctx: RequestContext) -> int | None:
    """GetObject/HeadObject's ``partNumber`` (1..10000), None when not asked for.

    Raises:
      S3Error: InvalidArgument for a number out of 1..10000; InvalidRequest
        with a Range header too (S3 takes one or the other).
    """
    if not ctx.request.has_q("partNumber"):
        return None
    number = parse_part_number(ctx.request.q("partNumber"))
    if ctx.request.header("range") is not None:
        raise S3Error(
            "InvalidRequest", "Cannot specify both Range header and partNumber query parameter"
        )
    return number


def _failed_condition(ctx: RequestContext) -> str:
    if ctx.request.header("if-match") is not None:
        return "If-Match"
    return "If-Unmodified-Since"


async def head_object(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    requested_part(ctx)
    await ctx.owned_bucket()
    check_version_id(ctx.key, ctx.request.q("versionId"))
    info = await ctx.store.head_object(ctx.bucket, ctx.key)
    response, _, _ = _read_response(ctx, info)
    return response


async def get_object(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    requested_part(ctx)
    await ctx.owned_bucket()
    check_version_id(ctx.key, ctx.request.q("versionId"))
    reader = await ctx.store.open_object(ctx.bucket, ctx.key)
    try:
        response, start, length = _read_response(ctx, reader.info)
    except BaseException:
        await reader.aclose()
        raise
    if response.status == 304 or length == 0:
        await reader.aclose()
        return response
    # The first chunk is read here, so that a disk error on it (EIO, EMFILE
    # opening a part) is answered with its own status rather than aborted.
    chunks = reader.stream(start, length)
    try:
        first = await anext(chunks)
    except BaseException:
        await chunks.aclose()
        await reader.aclose()
        raise
    if len(first) == length:
        # The whole span came in one read (every small object): the loop sends
        # it with the head in one write, with no iterator to drive and close.
        await chunks.aclose()
        response.body = first
    elif reader.can_send:
        # The rest goes from the blob file(s) to the socket in the kernel.
        await chunks.aclose()
        response.body = _ObjectBody(reader, first, start + len(first), length - len(first))
    else:
        response.body = _stream(first, chunks)
    response.on_close = reader.aclose
    return response


class _ObjectBody(FileBody):
    """The rest of a GetObject span after its first chunk: bytes
    [offset, offset + rest_bytes) of `reader`, sent with `ObjectReader.send_to`
    (or read with `ObjectReader.stream` for a stream that is not a socket)."""

    def __init__(self, reader: ObjectReader, first: bytes, offset: int, rest_bytes: int) -> None:
        super().__init__(first, rest_bytes)
        self._reader = reader
        self._offset = offset
        self._end = offset + rest_bytes

    async def send_to(self, fd: int, max_bytes: int) -> int:
        size = min(max_bytes, self._end - self._offset)
        sent = await self._reader.send_to(fd, self._offset, size)
        self._offset += sent
        return sent

    def chunks(self) -> AsyncIterator[bytes]:
        return _stream(self.first, self._reader.stream(self._offset, self._end - self._offset))


async def _stream(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


async def delete_object(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    check_version_id(ctx.key, ctx.request.q("versionId"))
    await ctx.store.delete_object(ctx.bucket, ctx.key)
    return Response(204)


async def get_object_acl(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    check_version_id(ctx.key, ctx.request.q("versionId"))
    await ctx.store.head_object(ctx.bucket, ctx.key)
    return xml_response(acl_xml(owner_id(ctx.user), ctx.user.name))


async def get_object_tagging(ctx: RequestContext) -> Response:
    """The object's tags: always none (see `empty_tagging_xml`)."""
    validate_key(ctx.key)
    await ctx.owned_bucket()
    check_version_id(ctx.key, ctx.request.q("versionId"))
    await ctx.store.head_object(ctx.bucket, ctx.key)
    return xml_response(empty_tagging_xml())
