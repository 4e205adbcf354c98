"""DeleteObjects (``POST /bucket?delete``): many keys in one request.

The order of refusals: the bucket (NoSuchBucket, AccessDenied); the
integrity headers (Content-MD5 or an x-amz-checksum-* value is required, as
S3 requires it); the body, read whole but bounded, checked against them
(BadDigest); its XML (MalformedXML: empty, over 1000 keys, invalid); each key
(KeyTooLongError for the whole request, as S3 answers it). Then every key
is deleted in ONE store transaction, and the answer lists per key what
happened: a missing key is Deleted (S3's rule); a VersionId other than
``null`` is a per-key NoSuchVersion, whatever its shape (buckets here are
never versioned, and ``null`` is the current object); an ETag condition that
fails is a per-key PreconditionFailed (NoSuchKey for a missing key). Quiet
mode lists only the errors.
"""

from __future__ import annotations

from hamster.api.context import RequestContext, xml_response
from hamster.auth.payload import AwsChunkedBody
from hamster.http.messages import Response
from hamster.s3.errors import S3Error
from hamster.s3.names import validate_key
from hamster.s3.required_integrity import required_integrity
from hamster.s3.versions import NULL_VERSION
from hamster.s3.xml import (
    DELETE_XML_MAX_BYTES,
    DeletedObject,
    DeleteFailure,
    ObjectToDelete,
    delete_result_xml,
    parse_delete_objects,
)
from hamster.storage.store import DeleteTarget


def _is_current(obj: ObjectToDelete) -> bool:
    """Whether `obj` names the current object (no VersionId, or ``null``)."""
    return obj.version_id is None or obj.version_id == NULL_VERSION


def _target(obj: ObjectToDelete) -> DeleteTarget:
    return DeleteTarget(obj.key, if_match=obj.etag)


async def delete_objects(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    wanted = required_integrity(ctx.request.headers, trailers_allowed=ctx.trailers_allowed)
    body = await ctx.read_small_body(DELETE_XML_MAX_BYTES)
    trailers = ctx.body.trailers if isinstance(ctx.body, AwsChunkedBody) else ()
    wanted.verify_body(body, trailers)
    request = parse_delete_objects(body)
    for obj in request.objects:
        validate_key(obj.key)
    current = [o for o in request.objects if _is_current(o)]
    results = iter(await ctx.store.delete_objects(ctx.bucket, [_target(o) for o in current]))
    outcomes: list[DeletedObject | DeleteFailure] = []
    for obj in request.objects:
        error = next(results) if _is_current(obj) else S3Error("NoSuchVersion")
        if error is None:
            outcomes.append(DeletedObject(obj.key, obj.version_id))
        else:
            outcomes.append(DeleteFailure(obj.key, obj.version_id, error.code, error.text))
    return xml_response(delete_result_xml(outcomes, quiet=request.quiet))
