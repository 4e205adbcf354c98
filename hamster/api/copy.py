"""Server-side copy: CopyObject and UploadPartCopy.

Both read a source named by ``x-amz-copy-source`` (see `hamster.s3.copy`),
which needs access to the source bucket exactly as a GetObject would (its
owner; AccessDenied for anyone else's), and write the destination exactly as
PutObject / UploadPart would (its bucket's owner). The bytes stream from the
source's blob(s) into a new blob through the store's write path (bounded
memory, MD5 and checksum in the same pass, synced before the record points
to it; see `Store.copy_object`).

CopyObject: metadata and standard headers come from the source (directive
COPY, the default) or from the request (REPLACE); a copy onto itself is only
legal with REPLACE, and then, unless it asks for another checksum algorithm,
only the record changes (the object keeps its bytes, ETag and checksum, a
multipart object its parts and ``-N`` ETag). Any other copy writes new bytes:
its checksum is computed with the request's ``x-amz-checksum-algorithm``, else
the source's algorithm, else CRC64NVME, always FULL_OBJECT; its ETag is the MD5
of its bytes (a multipart source becomes a single-part object).
``x-amz-copy-source-if-*`` are checked against the source, If-Match /
If-None-Match against the destination.

UploadPartCopy: the part is the source's ``x-amz-copy-source-range`` (or the
whole source), stored exactly as an uploaded part (MD5 ETag, the upload's
checksum algorithm, or CRC64NVME).
"""

from __future__ import annotations

from hamster.api.context import RequestContext, xml_response
from hamster.api.objects import (
    refuse_unsupported_write_headers,
    standard_headers,
    user_metadata,
    write_conditions,
)
from hamster.http.messages import Response
from hamster.s3 import copy as copyrules
from hamster.s3 import etag as etags
from hamster.s3 import versions
from hamster.s3.conditional import check_copy_source_conditions
from hamster.s3.copy import CopySource, Directive
from hamster.s3.errors import S3Error
from hamster.s3.names import validate_key
from hamster.s3.xml import copy_object_result_xml, copy_part_result_xml
from hamster.storage.copy import CopyRequest, NewMetadata, PartCopyRequest
from hamster.storage.parts import parse_part_number
from hamster.storage.records import ObjectInfo

# Reading an SSE-C encrypted source: there is no encryption here to undo.
UNSUPPORTED_SOURCE_HEADERS = (
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key-md5",
)


def _copy_source(ctx: RequestContext) -> CopySource:
    header = ctx.request.header(copyrules.COPY_SOURCE_HEADER)
    assert header is not None, "routed to a copy without x-amz-copy-source"
    for name in UNSUPPORTED_SOURCE_HEADERS:
        if ctx.request.header(name) is not None:
            raise S3Error(
                "NotImplemented",
                message=f"The {name} header is not supported by this server.",
                extra={"Header": name},
            )
    source = copyrules.parse_copy_source(header)
    versions.refuse_malformed(source.version_id)
    return source


async def _check_source_access(ctx: RequestContext, source: CopySource) -> None:
    """The caller may read the source bucket (it exists and is theirs), and
    the version it names exists (``null``)."""
    info = await ctx.store.get_bucket(source.bucket)
    if info is None:
        raise S3Error("NoSuchBucket", extra={"BucketName": source.bucket})
    if info.owner != ctx.user.access_key:
        raise S3Error("AccessDenied")
    copyrules.check_source_version(source)


def _check_source_conditions(ctx: RequestContext, info: ObjectInfo) -> None:
    req = ctx.request
    check_copy_source_conditions(
        if_match=req.header("x-amz-copy-source-if-match"),
        if_none_match=req.header("x-amz-copy-source-if-none-match"),
        if_modified_since=req.header("x-amz-copy-source-if-modified-since"),
        if_unmodified_since=req.header("x-amz-copy-source-if-unmodified-since"),
        etag=info.etag,
        last_modified_ns=info.last_modified_ns,
    )


async def copy_object(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    refuse_unsupported_write_headers(ctx)
    req = ctx.request
    source = _copy_source(ctx)
    directive = copyrules.parse_directive(req.header(copyrules.METADATA_DIRECTIVE_HEADER))
    copyrules.parse_directive(
        req.header(copyrules.TAGGING_DIRECTIVE_HEADER), copyrules.TAGGING_DIRECTIVE_HEADER
    )
    algorithm = copyrules.parse_checksum_algorithm(req.header("x-amz-checksum-algorithm"))
    conditions = write_conditions(ctx)
    metadata = None
    if directive is Directive.REPLACE:
        metadata = NewMetadata(standard_headers(ctx), user_metadata(ctx))
    copyrules.check_not_copy_to_itself(source, ctx.bucket, ctx.key, directive)
    await _check_source_access(ctx, source)

    def check_source(info: ObjectInfo) -> None:
        _check_source_conditions(ctx, info)
        copyrules.check_copy_source_size(info.size)

    info = await ctx.store.copy_object(
        CopyRequest(
            source_bucket=source.bucket,
            source_key=source.key,
            bucket=ctx.bucket,
            key=ctx.key,
            metadata=metadata,
            checksum_algorithm=algorithm,
            conditions=conditions,
        ),
        check_source=check_source,
    )
    checksum = info.checksum
    return xml_response(
        copy_object_result_xml(
            etag=etags.quote(info.etag),
            last_modified_ns=info.last_modified_ns,
            checksum=(checksum.algorithm, checksum.text) if checksum is not None else None,
            checksum_type=checksum.type if checksum is not None else None,
        )
    )


async def upload_part_copy(ctx: RequestContext) -> Response:
    validate_key(ctx.key)
    await ctx.owned_bucket()
    req = ctx.request
    part_number = parse_part_number(req.q("partNumber"))
    upload_id = req.q("uploadId")
    assert upload_id is not None, "routed to UploadPartCopy without uploadId"
    source = _copy_source(ctx)
    span = copyrules.parse_copy_source_range(req.header(copyrules.RANGE_HEADER))
    await _check_source_access(ctx, source)

    def select(info: ObjectInfo) -> tuple[int, int]:
        _check_source_conditions(ctx, info)
        return copyrules.check_copy_range(span, info.size)

    part, answer = await ctx.store.upload_part_copy(
        PartCopyRequest(
            bucket=ctx.bucket,
            key=ctx.key,
            upload_id=upload_id,
            part_number=part_number,
            source_bucket=source.bucket,
            source_key=source.key,
        ),
        select=select,
    )
    return xml_response(
        copy_part_result_xml(
            etag=etags.quote(part.etag),
            last_modified_ns=part.last_modified_ns,
            checksum=(answer.algorithm, answer.text) if answer is not None else None,
        )
    )
