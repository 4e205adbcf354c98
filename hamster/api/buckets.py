"""Bucket operations: CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation,
and the trivially truthful GetBucketVersioning / GetBucketAcl (ListBuckets is
in listing.py)."""

from __future__ import annotations

from hamster.api.context import RequestContext, owner_id, xml_response
from hamster.http.messages import Response
from hamster.s3.buckets import recreate_owned_bucket
from hamster.s3.errors import S3Error
from hamster.s3.names import validate_bucket_name
from hamster.s3.xml import (
    acl_xml,
    location_xml,
    parse_create_bucket_configuration,
    versioning_xml,
)


async def create_bucket(ctx: RequestContext) -> Response:
    validate_bucket_name(ctx.bucket)
    body = await ctx.read_small_body()
    location = parse_create_bucket_configuration(body) or ctx.region
    if location == "US":  # the legacy spelling of us-east-1
        location = "us-east-1"
    try:
        await ctx.store.create_bucket(ctx.bucket, ctx.user.access_key, location)
    except S3Error as error:
        if error.code != "BucketAlreadyOwnedByYou":
            raise
        existing = await ctx.store.get_bucket(ctx.bucket)
        if existing is None:
            raise  # deleted meanwhile: the answer of the moment it was checked
        recreate_owned_bucket(
            ctx.bucket,
            server_region=ctx.region,
            bucket_location=existing.location,
            requested_location=location,
        )
    return Response(200, [("Location", "/" + ctx.bucket)])


async def delete_bucket(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    await ctx.store.delete_bucket(ctx.bucket)
    return Response(204)


async def head_bucket(ctx: RequestContext) -> Response:
    info = await ctx.owned_bucket()
    return Response(
        200,
        [("x-amz-bucket-region", info.location), ("x-amz-access-point-alias", "false")],
    )


async def get_bucket_location(ctx: RequestContext) -> Response:
    info = await ctx.owned_bucket()
    return xml_response(location_xml(info.location))


async def get_bucket_versioning(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    # Versioning is never enabled in v0.1: S3 answers an empty configuration.
    return xml_response(versioning_xml())


async def get_bucket_acl(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    return xml_response(acl_xml(owner_id(ctx.user), ctx.user.name))
