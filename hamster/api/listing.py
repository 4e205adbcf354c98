"""Listing operations: ListObjects (v1), ListObjectsV2, ListObjectVersions
(a never-versioned bucket: every object is its only version, ``null``) and
ListBuckets with S3's 2024 pagination.

The rules are `hamster.s3.listing.Lister`'s; this module owns the scan. It
restarts the storage scan past each common prefix the lister reports
(`Store.iter_objects` with ``skip_under``), so a delimiter page costs the
entries on it, not the keys rolled up under them.

Consistency under concurrent writes: a page is one ordered scan (never a
key twice), each page starts strictly after the previous page's last entry,
and the scan covers every key range it does not seek past; so a listing
never repeats a key or common prefix, and never misses a key that existed
from its first page to its last.
"""

from __future__ import annotations

from contextlib import aclosing

from hamster.api.context import RequestContext, owner_id, xml_response
from hamster.http.messages import Response
from hamster.s3 import etag as etags
from hamster.s3 import versions
from hamster.s3.errors import S3Error
from hamster.s3.listing import (
    Action,
    Lister,
    Page,
    Start,
    clamp_max_keys,
    decode_token,
    encode_token,
    encoder,
    parse_encoding_type,
    parse_max_keys,
)
from hamster.s3.xml import (
    ListedObject,
    list_buckets_xml,
    list_object_versions_xml,
    list_objects_v2_xml,
    list_objects_xml,
)
from hamster.storage.records import ObjectSummary

MAX_BUCKETS_MAX = 10000


async def object_page(ctx: RequestContext, lister: Lister[ObjectSummary]) -> Page[ObjectSummary]:
    """Feed `lister` the bucket's objects from its start, seeking past each
    common prefix it reports; its finished page."""
    start: Start | None = lister.start
    first = True
    while start is not None and not lister.done:
        scan = ctx.store.iter_summaries(
            ctx.bucket,
            lister.prefix,
            start.after,
            skip_under=start.skip_under,
            check_bucket=first,
        )
        seeking_past = start.after if start.skip_under else None
        start, first = None, False
        async with aclosing(scan) as objects:
            async for info in objects:
                # a scan restarted past a prefix must not give its keys again
                # (else the listing would seek there forever)
                assert seeking_past is None or not info.key.startswith(seeking_past)
                step = lister.feed(info.key, info)
                if step.action is Action.SEEK:
                    start = Start(step.prefix, skip_under=True)
                    break
                if step.action is Action.STOP:
                    break
    return lister.finish()


def _listed(info: ObjectSummary, key: str) -> ListedObject:
    checksum = info.checksum
    return ListedObject(
        key=key,
        last_modified_ns=info.last_modified_ns,
        etag=etags.quote(info.etag),
        size=info.size,
        checksum_algorithm=checksum.algorithm if checksum is not None else None,
        checksum_type=checksum.type if checksum is not None else None,
    )


class _Args:
    """The query arguments every object listing shares."""

    def __init__(self, ctx: RequestContext) -> None:
        q = ctx.request.q
        self.encoding_type = parse_encoding_type(q("encoding-type"))
        self.encode = encoder(self.encoding_type)
        self.prefix = q("prefix") or ""
        self.delimiter = q("delimiter") or None
        self.max_keys = clamp_max_keys(parse_max_keys(q("max-keys")))

    def lister(self, marker: str) -> Lister[ObjectSummary]:
        return Lister(
            prefix=self.prefix, delimiter=self.delimiter, marker=marker, max_keys=self.max_keys
        )

    def delimiter_text(self) -> str | None:
        return self.encode(self.delimiter) if self.delimiter is not None else None


async def list_objects(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    args = _Args(ctx)
    marker = ctx.request.q("marker") or ""
    page = await object_page(ctx, args.lister(marker))
    # S3 gives NextMarker only with a delimiter; without one a client goes on
    # from the last key (and the last entry is then a key).
    next_marker = page.next_marker if page.is_truncated and args.delimiter else None
    enc = args.encode
    return xml_response(
        list_objects_xml(
            bucket=ctx.bucket,
            prefix=enc(args.prefix),
            marker=enc(marker),
            next_marker=enc(next_marker) if next_marker is not None else None,
            max_keys=args.max_keys,
            delimiter=args.delimiter_text(),
            is_truncated=page.is_truncated,
            encoding_type=args.encoding_type,
            contents=[_listed(o, enc(o.key)) for o in page.contents],
            common_prefixes=[enc(p) for p in page.common_prefixes],
            owner=(owner_id(ctx.user), ctx.user.name),
        )
    )


async def list_objects_v2(ctx: RequestContext) -> Response:
    await ctx.owned_bucket()
    args = _Args(ctx)
    q = ctx.request.q
    token = q("continuation-token") or None  # an empty one is none, as S3 takes it
    start_after = q("start-after")
    # A continuation token wins over start-after (which is still echoed).
    marker = decode_token(token) if token is not None else (start_after or "")
    fetch_owner = (q("fetch-owner") or "").strip().lower() == "true"
    page = await object_page(ctx, args.lister(marker))
    next_token = None
    if page.is_truncated:
        assert page.next_marker is not None
        next_token = encode_token(page.next_marker)
    enc = args.encode
    return xml_response(
        list_objects_v2_xml(
            bucket=ctx.bucket,
            prefix=enc(args.prefix),
            continuation_token=token,
            next_continuation_token=next_token,
            key_count=page.count,
            max_keys=args.max_keys,
            delimiter=args.delimiter_text(),
            start_after=enc(start_after) if start_after else None,
            is_truncated=page.is_truncated,
            encoding_type=args.encoding_type,
            contents=[_listed(o, enc(o.key)) for o in page.contents],
            common_prefixes=[enc(p) for p in page.common_prefixes],
            owner=(owner_id(ctx.user), ctx.user.name) if fetch_owner else None,
        )
    )


async def list_object_versions(ctx: RequestContext) -> Response:
    """Every object as its only version, ``null``, the latest; no delete markers.

    The position after (key-marker, version-id-marker) is after the key:
    ``null`` is each key's only version, and any other well-formed version id
    names none of its versions. A malformed one is InvalidArgument, and a
    version-id-marker needs a key-marker, as S3 has it.
    """
    await ctx.owned_bucket()
    args = _Args(ctx)
    q = ctx.request.q
    key_marker = q("key-marker") or ""
    version_id_marker = q("version-id-marker") or ""
    if version_id_marker and not key_marker:
        raise S3Error(
            "InvalidArgument",
            "A version-id marker cannot be specified without a key marker.",
            extra={"ArgumentName": "version-id-marker", "ArgumentValue": version_id_marker},
        )
    versions.refuse_malformed(version_id_marker or None, argument_name="version-id-marker")
    page = await object_page(ctx, args.lister(key_marker))
    next_key_marker = next_version_id_marker = None
    if page.is_truncated:
        assert page.next_marker is not None
        next_key_marker = page.next_marker
        if not page.last_is_prefix:
            next_version_id_marker = versions.NULL_VERSION
    enc = args.encode
    return xml_response(
        list_object_versions_xml(
            bucket=ctx.bucket,
            prefix=enc(args.prefix),
            key_marker=enc(key_marker),
            version_id_marker=version_id_marker,
            next_key_marker=enc(next_key_marker) if next_key_marker is not None else None,
            next_version_id_marker=next_version_id_marker,
            max_keys=args.max_keys,
            delimiter=args.delimiter_text(),
            is_truncated=page.is_truncated,
            encoding_type=args.encoding_type,
            versions=[_listed(o, enc(o.key)) for o in page.contents],
            common_prefixes=[enc(p) for p in page.common_prefixes],
            owner=(owner_id(ctx.user), ctx.user.name),
        )
    )


def _max_buckets(text: str | None) -> int:
    if text is None:
        return MAX_BUCKETS_MAX
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()) or not (
        1 <= int(stripped) <= MAX_BUCKETS_MAX
    ):
        raise S3Error(
            "InvalidArgument",
            f"Argument max-buckets must be an integer between 1 and {MAX_BUCKETS_MAX}",
            extra={"ArgumentName": "max-buckets", "ArgumentValue": text},
        )
    return int(stripped)


async def list_buckets(ctx: RequestContext) -> Response:
    """The caller's buckets by name; with S3's pagination (max-buckets 1..10000,
    an opaque continuation-token, prefix, bucket-region)."""
    q = ctx.request.q
    max_buckets = _max_buckets(q("max-buckets"))
    token = q("continuation-token")
    marker = decode_token(token) if token is not None else ""
    prefix = q("prefix")
    region = q("bucket-region") or None
    lister: Lister[tuple[str, int]] = Lister(
        prefix=prefix or "", marker=marker, max_keys=max_buckets
    )
    for info in await ctx.store.list_buckets():  # by name: the bucket record keys' order
        if lister.done:
            break
        if info.owner != ctx.user.access_key or not info.name.startswith(lister.prefix):
            continue
        if info.name <= marker or (region is not None and info.location != region):
            continue
        lister.feed(info.name, (info.name, info.created_ns))
    page = lister.finish()
    next_token = None
    if page.is_truncated:
        assert page.next_marker is not None
        next_token = encode_token(page.next_marker)
    return xml_response(
        list_buckets_xml(
            owner_id(ctx.user),
            ctx.user.name,
            page.contents,
            continuation_token=next_token,
            prefix=prefix,
        )
    )
