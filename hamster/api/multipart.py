"""Multipart operations: CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.

Every operation needs the bucket's owner. Parts stream into blobs exactly
like PutObject bodies (Content-MD5, x-amz-checksum-* in a header or an
aws-chunked trailer); CompleteMultipartUpload reads only its XML (at most
4 MiB: 10000 parts with SHA256 checksums take 1.7 MB) and the part
records, and copies no byte (see storage/multipart.py).

Checksums as S3 has them: CreateMultipartUpload names an algorithm and a
type (COMPOSITE by default, CRC64NVME always FULL_OBJECT); every part must
then carry that algorithm (a COMPOSITE upload refuses a part without it);
the object's checksum is the checksum of the part checksums (``…-N``) or
the CRC of the whole object combined from the parts' CRCs. An upload that
names no algorithm keeps CRC64NVME per part and gives the object a
CRC64NVME FULL_OBJECT checksum, S3's default since 2025.
"""

from __future__ import annotations

from contextlib import aclosing
from urllib.parse import quote

from hamster import integrity
from hamster.api.context import RequestContext, owner_id, xml_response
from hamster.api.objects import (
    refuse_unsupported_write_headers,
    requested_checksum,
    standard_headers,
    user_metadata,
    write_conditions,
)
from hamster.http.messages import Response
from hamster.s3 import checksums
from hamster.s3 import etag as etags
from hamster.s3.errors import S3Error
from hamster.s3.listing import Action, Lister, encoder, parse_encoding_type
from hamster.s3.names import validate_key
from hamster.s3.required_integrity import parse_content_md5
from hamster.s3.xml import (
    COMPLETE_XML_MAX_BYTES,
    ListedPart,
    ListedUpload,
    complete_multipart_upload_xml,
    initiate_multipart_upload_xml,
    list_multipart_uploads_xml,
    list_parts_xml,
    parse_complete_multipart_upload,
)
from hamster.storage.multipart import CompleteRequest, NewUpload, PartRequest
from hamster.storage.parts import PART_NUMBER_MAX, CompletedPart, parse_part_number
from hamster.storage.records import UploadInfo

LIST_MAX = 1000
INT32_MAX = 2**31 - 1
MP_OBJECT_SIZE_HEADER = "x-amz-mp-object-size"


def _upload_id(ctx: RequestContext) -> str:
    upload_id = ctx.request.q("uploadId")
    assert upload_id is not None, "routed to a multipart operation without uploadId"
    return upload_id


def _int_argument(ctx: RequestContext, name: str, default: int, message: str) -> int:
    """A non-negative integer query parameter (InvalidArgument with S3's message)."""
    text = ctx.request.q(name)
    if text is None:
        return default
    text = text.strip()
    if not text.isascii() or not text.isdigit() or int(text) > INT32_MAX:
        raise S3Error(
            "InvalidArgument", message, extra={"ArgumentName": name, "ArgumentValue": text}
        )
    return int(text)


async def create_multipart_upload(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    refuse_unsupported_write_headers(ctx)
    req = ctx.request
    wanted = checksums.parse_upload_checksum(req.headers)
    upload = await ctx.store.uploads.create(
        NewUpload(
            bucket=ctx.bucket,
            key=ctx.key,
            initiator=ctx.user.access_key,
            **standard_headers(ctx),
            user_metadata=user_metadata(ctx),
            checksum_algorithm=wanted[0] if wanted is not None else None,
            checksum_type=wanted[1] if wanted is not None else None,
        )
    )
    response = xml_response(initiate_multipart_upload_xml(ctx.bucket, ctx.key, upload.upload_id))
    if wanted is not None:
        response.headers.append((checksums.ALGORITHM_HEADER, wanted[0]))
        response.headers.append((checksums.TYPE_HEADER, wanted[1]))
    return response


async def upload_part(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    req = ctx.request
    part_number = parse_part_number(req.q("partNumber"))
    content_length = ctx.body.content_length
    if content_length is None:
        raise S3Error("MissingContentLength")
    wanted, at_end = requested_checksum(ctx)
    part, answer = await ctx.store.uploads.upload_part(
        PartRequest(
            bucket=ctx.bucket,
            key=ctx.key,
            upload_id=_upload_id(ctx),
            part_number=part_number,
            content_length=content_length,
            content_md5=parse_content_md5(req.header("content-md5")),
            checksum_algorithm=wanted.algorithm if wanted is not None else None,
            checksum_expected=wanted.expected if wanted is not None and at_end is None else None,
        ),
        ctx.body,
        checksum_at_end=at_end,
    )
    headers = [("ETag", etags.quote(part.etag))]
    if answer is not None:
        headers.append((answer.header_name, answer.text))
    return Response(200, headers)


def _complete_checksum_header(ctx: RequestContext) -> tuple[str, str] | None:
    """(algorithm, text) of the whole-object x-amz-checksum-<alg> header, if any."""
    found: list[tuple[str, str]] = []
    for name, value in ctx.request.headers:
        if name.startswith(checksums.HEADER_PREFIX) and name not in checksums.NON_VALUE_HEADERS:
            algorithm = name[len(checksums.HEADER_PREFIX) :].upper()
            if algorithm not in integrity.DIGEST_BYTES:
                raise S3Error("InvalidRequest", checksums.UNSUPPORTED_MESSAGE)
            found.append((algorithm, value))
    if len(found) > 1:
        raise S3Error("InvalidRequest", checksums.MULTIPLE_MESSAGE)
    return found[0] if found else None


async def complete_multipart_upload(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    req = ctx.request
    conditions = write_conditions(ctx)
    checksum_type = req.header(checksums.TYPE_HEADER)
    if checksum_type is not None:
        checksum_type = checksum_type.strip().upper()
        if checksum_type not in integrity.CHECKSUM_TYPES:
            raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    size_text = req.header(MP_OBJECT_SIZE_HEADER)
    object_size = None
    if size_text is not None:
        if not (size_text.isascii() and size_text.strip().isdigit()):
            raise S3Error(
                "InvalidRequest", f"Value for {MP_OBJECT_SIZE_HEADER} header is invalid: "
                f"'{size_text}'"
            )
        object_size = int(size_text)
    checksum_value = _complete_checksum_header(ctx)
    upload_id = _upload_id(ctx)
    # The upload must exist (or have made the object: a retry) before its
    # body is worth reading.
    await ctx.store.uploads.check_completable(ctx.bucket, ctx.key, upload_id)
    body = await ctx.read_small_body(COMPLETE_XML_MAX_BYTES)
    if not body.strip():
        raise S3Error("MalformedXML")
    parts = parse_complete_multipart_upload(body)
    info = await ctx.store.uploads.complete(
        CompleteRequest(
            bucket=ctx.bucket,
            key=ctx.key,
            upload_id=upload_id,
            parts=tuple(CompletedPart(p.part_number, p.etag, p.checksums) for p in parts),
            conditions=conditions,
            checksum_type=checksum_type,
            checksum_value=checksum_value,
            object_size=object_size,
        )
    )
    checksum = info.checksum
    assert checksum is not None
    return xml_response(
        complete_multipart_upload_xml(
            location="/" + quote(ctx.bucket) + "/" + quote(ctx.key),
            bucket=ctx.bucket,
            key=ctx.key,
            etag=etags.quote(info.etag),
            checksum=(checksum.algorithm, checksum.text),
            checksum_type=checksum.type,
        )
    )


async def abort_multipart_upload(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    await ctx.store.uploads.abort(ctx.bucket, ctx.key, _upload_id(ctx))
    return Response(204)


async def list_parts(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    upload_id = _upload_id(ctx)
    max_parts = _int_argument(
        ctx, "max-parts", LIST_MAX, "Argument max-parts must be an integer between 0 and 2147483647"
    )
    marker = _int_argument(
        ctx,
        "part-number-marker",
        0,
        "Argument part-number-marker must be an integer between 0 and 2147483647",
    )
    upload = await ctx.store.uploads.get(ctx.bucket, ctx.key, upload_id)
    limit = min(max_parts, LIST_MAX)
    found = await ctx.store.uploads.list_parts(
        upload_id, after=min(marker, PART_NUMBER_MAX), limit=limit + 1
    )
    truncated = len(found) > limit
    page = found[:limit]
    listed = [
        ListedPart(
            part_number=p.part_number,
            last_modified_ns=p.last_modified_ns,
            etag=etags.quote(p.etag),
            size=p.size,
            checksum=(p.checksum.algorithm, p.checksum.b64) if p.checksum is not None else None,
        )
        for p in page
    ]
    return xml_response(
        list_parts_xml(
            bucket=ctx.bucket,
            key=ctx.key,
            upload_id=upload_id,
            part_number_marker=marker,
            next_part_number_marker=page[-1].part_number if page else None,
            max_parts=limit,
            is_truncated=truncated,
            parts=listed,
            owner_id=owner_id(ctx.user),
            owner_display_name=ctx.user.name,
            checksum_algorithm=upload.checksum_algorithm,
            checksum_type=upload.checksum_type,
        )
    )


async def list_multipart_uploads(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    req = ctx.request
    prefix = req.q("prefix") or ""
    delimiter = req.q("delimiter") or None
    key_marker = req.q("key-marker") or ""
    # S3 ignores upload-id-marker without key-marker.
    upload_id_marker = (req.q("upload-id-marker") or "") if key_marker else ""
    encoding_type = parse_encoding_type(req.q("encoding-type"))
    max_uploads = _int_argument(
        ctx,
        "max-uploads",
        LIST_MAX,
        "Argument max-uploads must be an integer between 0 and 2147483647",
    )
    limit = min(max_uploads, LIST_MAX)
    encode = encoder(encoding_type)

    # The listing rules are hamster.s3.listing's; the scan starts after
    # (key-marker, upload-id-marker) and seeks past each common prefix.
    lister: Lister[UploadInfo] = Lister(
        prefix=prefix, delimiter=delimiter, marker=key_marker, max_keys=limit
    )
    after, after_id, skip_under = key_marker, upload_id_marker, False
    if lister.start.skip_under:
        after, after_id, skip_under = lister.start.after, "", True
    while not lister.done:
        scan = ctx.store.uploads.iter_uploads(
            ctx.bucket, prefix, after, after_id, skip_under=skip_under
        )
        seek: str | None = None
        async with aclosing(scan) as uploads_found:
            async for upload in uploads_found:
                step = lister.feed(upload.key, upload)
                if step.action is Action.SEEK:
                    seek = step.prefix
                    break
                if step.action is Action.STOP:
                    break
        if seek is None:
            break
        after, after_id, skip_under = seek, "", True
    page = lister.finish()
    uploads = [
        ListedUpload(
            key=encode(u.key),
            upload_id=u.upload_id,
            initiated_ns=u.initiated_ns,
            checksum_algorithm=u.checksum_algorithm,
            checksum_type=u.checksum_type,
        )
        for u in page.contents
    ]
    prefixes = page.common_prefixes
    truncated = page.is_truncated
    next_key = page.next_marker
    next_id: str | None = None
    if next_key is not None:
        next_id = "" if page.last_is_prefix else page.contents[-1].upload_id
    return xml_response(
        list_multipart_uploads_xml(
            bucket=ctx.bucket,
            key_marker=encode(key_marker),
            upload_id_marker=upload_id_marker,
            next_key_marker=encode(next_key) if next_key is not None else None,
            next_upload_id_marker=next_id,
            prefix=encode(prefix),
            delimiter=encode(delimiter) if delimiter is not None else None,
            max_uploads=limit,
            is_truncated=truncated,
            uploads=uploads,
            common_prefixes=[encode(p) for p in prefixes],
            owner_id=owner_id(ctx.user),
            owner_display_name=ctx.user.name,
            encoding_type=encoding_type,
        )
    )

