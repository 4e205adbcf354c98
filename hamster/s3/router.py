"""One routing table from an addressed request to the S3 operation it asks for.

A request is described by (method, target, sub-resource, required query
parameters, required header) where target is the service (``/``), a bucket or
an object, and the sub-resource is the one S3 keyword in the query
(``?uploads``, ``?acl``, ``?location`` …; other query parameters such as
``prefix`` or boto3's ``x-id`` are not keywords). `ROUTES` is read top to
bottom and the first matching row wins, so specific rows (UploadPartCopy)
come before general ones (PutObject).

Rows whose op is None are operations S3 has and Hamster v0.1 does not:
they answer 501 NotImplemented, an honest no. A method that no row of the
resource knows answers 405 MethodNotAllowed with an ``Allow`` header listing
the methods that resource does know. Versioned access is answered the way
S3 answers it on a bucket that has never had versioning (`hamster.s3.versions`):
a malformed ``versionId`` is 400 InvalidArgument here; a well-formed one other
than ``null`` is 404 NoSuchVersion, raised here for every operation but
those in `VERSION_ID_OPS`, whose handlers raise it once the bucket is found.

The table mirrors Garage's ``src/api/s3/router.rs`` and is tested against the
request lines of AWS's API reference examples.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hamster.s3 import versions
from hamster.s3.errors import S3Error
from hamster.s3.request import S3Request

__all__ = [
    "KEYWORDS",
    "ROUTES",
    "VERSION_ID_OPS",
    "Op",
    "Route",
    "Target",
    "allowed_methods",
    "route",
    "target_of",
]


class Op(enum.Enum):
    """The S3 operations of Hamster v0.1; values are AWS's operation names."""

    ListBuckets = "ListBuckets"
    CreateBucket = "CreateBucket"
    DeleteBucket = "DeleteBucket"
    HeadBucket = "HeadBucket"
    GetBucketLocation = "GetBucketLocation"
    GetBucketVersioning = "GetBucketVersioning"
    GetBucketAcl = "GetBucketAcl"
    ListObjects = "ListObjects"
    ListObjectsV2 = "ListObjectsV2"
    ListObjectVersions = "ListObjectVersions"
    PutObject = "PutObject"
    GetObject = "GetObject"
    HeadObject = "HeadObject"
    DeleteObject = "DeleteObject"
    DeleteObjects = "DeleteObjects"
    CopyObject = "CopyObject"
    GetObjectAcl = "GetObjectAcl"
    GetObjectTagging = "GetObjectTagging"
    CreateMultipartUpload = "CreateMultipartUpload"
    UploadPart = "UploadPart"
    UploadPartCopy = "UploadPartCopy"
    CompleteMultipartUpload = "CompleteMultipartUpload"
    AbortMultipartUpload = "AbortMultipartUpload"
    ListMultipartUploads = "ListMultipartUploads"
    ListParts = "ListParts"


class Target(enum.Enum):
    """What a request addresses; values are S3's ResourceType words."""

    SERVICE = "SERVICE"
    BUCKET = "BUCKET"
    OBJECT = "OBJECT"


# Query parameters that select a sub-resource (S3's "keywords"). At most one
# may be present; every other parameter is an argument of the operation.
KEYWORDS = frozenset(
    {
        "abac",
        "accelerate",
        "acl",
        "analytics",
        "attributes",
        "cors",
        "delete",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "location",
        "logging",
        "metadataConfiguration",
        "metadataInventoryTable",
        "metadataJournalTable",
        "metadataTable",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "renameObject",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "session",
        "tagging",
        "torrent",
        "uploads",
        "versioning",
        "versions",
        "website",
    }
)


@dataclass(frozen=True)
class Route:
    """One row of the routing table.

    Attributes:
      method: the HTTP method.
      target: service, bucket or object.
      keyword: the sub-resource keyword, None for none.
      op: the operation, None for an S3 operation Hamster does not implement.
      requires: query parameters that must be present.
      header: a header that must be present (``x-amz-copy-source``).
      absent: query parameters that must not be present.
      unimplemented: AWS's name of the operation when `op` is None.
    """

    method: str
    target: Target
    keyword: str | None
    op: Op | None
    requires: tuple[str, ...] = ()
    header: str | None = None
    absent: tuple[str, ...] = ()
    unimplemented: str = ""

    @property
    def name(self) -> str:
        """AWS's operation name (for NotImplemented messages and tests)."""
        return self.op.value if self.op is not None else self.unimplemented


_S, _B, _O = Target.SERVICE, Target.BUCKET, Target.OBJECT
_COPY = "x-amz-copy-source"
_MULTIPART = ("partNumber", "uploadId")

# Plain data: the rows are Route values, no helper function runs to build them.
ROUTES: tuple[Route, ...] = (
    # -- the service ----------------------------------------------------------
    Route("GET", _S, None, Op.ListBuckets),
    # -- buckets --------------------------------------------------------------
    Route("PUT", _B, None, Op.CreateBucket),
    Route("DELETE", _B, None, Op.DeleteBucket),
    Route("HEAD", _B, None, Op.HeadBucket),
    Route("GET", _B, None, Op.ListObjectsV2, requires=("list-type",)),
    Route("GET", _B, None, Op.ListObjects),
    Route("GET", _B, "location", Op.GetBucketLocation),
    Route("GET", _B, "versioning", Op.GetBucketVersioning),
    Route("GET", _B, "acl", Op.GetBucketAcl),
    Route("GET", _B, "versions", Op.ListObjectVersions),
    Route("GET", _B, "uploads", Op.ListMultipartUploads),
    Route("POST", _B, "delete", Op.DeleteObjects),
    # -- objects --------------------------------------------------------------
    Route("PUT", _O, None, Op.UploadPartCopy, requires=_MULTIPART, header=_COPY),
    Route("PUT", _O, None, Op.UploadPart, requires=_MULTIPART),
    Route("PUT", _O, None, Op.CopyObject, header=_COPY, absent=_MULTIPART),
    Route("PUT", _O, None, Op.PutObject, absent=_MULTIPART),
    Route("GET", _O, None, Op.ListParts, requires=("uploadId",)),
    Route("GET", _O, None, Op.GetObject),
    Route("HEAD", _O, None, Op.HeadObject, absent=("uploadId",)),
    Route("DELETE", _O, None, Op.AbortMultipartUpload, requires=("uploadId",)),
    Route("DELETE", _O, None, Op.DeleteObject),
    Route("POST", _O, None, Op.CompleteMultipartUpload, requires=("uploadId",)),
    Route("POST", _O, "uploads", Op.CreateMultipartUpload),
    Route("GET", _O, "acl", Op.GetObjectAcl),
    Route("GET", _O, "tagging", Op.GetObjectTagging),
    # -- S3 has these; Hamster v0.1 answers 501 NotImplemented ----------------
    Route("POST", _B, None, None, unimplemented="PostObject"),
    Route("OPTIONS", _B, None, None, unimplemented="OptionsPreflight"),
    Route("OPTIONS", _O, None, None, unimplemented="OptionsPreflight"),
    Route("PUT", _B, "acl", None, unimplemented="PutBucketAcl"),
    Route("PUT", _O, "acl", None, unimplemented="PutObjectAcl"),
    Route("PUT", _B, "versioning", None, unimplemented="PutBucketVersioning"),
    Route("GET", _O, "attributes", None, unimplemented="GetObjectAttributes"),
    Route("POST", _O, "restore", None, unimplemented="RestoreObject"),
    Route("POST", _O, "select", None, unimplemented="SelectObjectContent"),
    Route("PUT", _O, "renameObject", None, unimplemented="RenameObject"),
    Route("GET", _O, "torrent", None, unimplemented="GetObjectTorrent"),
    Route("GET", _B, "session", None, unimplemented="CreateSession"),
    Route("GET", _B, "policyStatus", None, unimplemented="GetBucketPolicyStatus"),
    *(
        Route(method, _O, keyword, None, unimplemented=f"{verb}Object{name}")
        for keyword, name in (
            ("tagging", "Tagging"),
            ("legal-hold", "LegalHold"),
            ("retention", "Retention"),
        )
        for method, verb in (("GET", "Get"), ("PUT", "Put"), ("DELETE", "Delete"))
        if not (method == "DELETE" and keyword != "tagging")
        and (method, keyword) != ("GET", "tagging")  # GetObjectTagging: always empty
    ),
    *(
        Route(method, _B, keyword, None, unimplemented=f"{verb}{name}")
        for keyword, name, methods in (
            ("accelerate", "BucketAccelerateConfiguration", "GP"),
            ("analytics", "BucketAnalyticsConfiguration", "GPD"),
            ("cors", "BucketCors", "GPD"),
            ("encryption", "BucketEncryption", "GPD"),
            ("intelligent-tiering", "BucketIntelligentTieringConfiguration", "GPD"),
            ("inventory", "BucketInventoryConfiguration", "GPD"),
            ("lifecycle", "BucketLifecycleConfiguration", "GPD"),
            ("logging", "BucketLogging", "GP"),
            ("metrics", "BucketMetricsConfiguration", "GPD"),
            ("notification", "BucketNotificationConfiguration", "GP"),
            ("object-lock", "ObjectLockConfiguration", "GP"),
            ("ownershipControls", "BucketOwnershipControls", "GPD"),
            ("policy", "BucketPolicy", "GPD"),
            ("publicAccessBlock", "PublicAccessBlock", "GPD"),
            ("replication", "BucketReplication", "GPD"),
            ("requestPayment", "BucketRequestPayment", "GP"),
            ("tagging", "BucketTagging", "GPD"),
            ("website", "BucketWebsite", "GPD"),
            ("metadataTable", "BucketMetadataTableConfiguration", "GPD"),
            ("metadataConfiguration", "BucketMetadataConfiguration", "GPD"),
            ("abac", "BucketAbac", "GP"),
        )
        for letter, method, verb in (
            ("G", "GET", "Get"),
            ("P", "PUT", "Put"),
            ("D", "DELETE", "Delete"),
        )
        if letter in methods
    ),
)

_METHOD_ORDER = ("GET", "HEAD", "PUT", "POST", "DELETE")


def _rows_by_key() -> dict[tuple[Target, str | None, str], tuple[Route, ...]]:
    """`ROUTES` by (target, keyword, method), each in the table's order."""
    rows: dict[tuple[Target, str | None, str], list[Route]] = {}
    for r in ROUTES:
        rows.setdefault((r.target, r.keyword, r.method), []).append(r)
    return {key: tuple(value) for key, value in rows.items()}


_ROWS_BY_KEY = _rows_by_key()


def target_of(req: S3Request) -> Target:
    """Whether `req` addresses the service, a bucket or an object."""
    if req.bucket is None:
        return Target.SERVICE
    if req.key is None:
        return Target.BUCKET
    return Target.OBJECT


def allowed_methods(target: Target, keyword: str | None) -> tuple[str, ...]:
    """The methods (target, keyword) answers without further parameters, in a fixed order.

    A row that needs a query parameter or header (CompleteMultipartUpload's
    ``uploadId``) does not make its method allowed; OPTIONS is never listed.
    """
    known = {
        r.method
        for r in ROUTES
        if r.target is target and r.keyword == keyword and not r.requires and r.header is None
    }
    return tuple(m for m in _METHOD_ORDER if m in known)


def route(req: S3Request) -> Op:
    """The operation `req` asks for.

    Raises:
      S3Error("NotImplemented"): an S3 operation Hamster v0.1 does not have,
        several sub-resource keywords at once, or parameters no operation of
        this method takes together (``HEAD ?uploadId``).
      S3Error("MethodNotAllowed"): the resource has no such method; the
        error carries ``Allow`` and S3's ``Method`` / ``ResourceType`` elements.
      S3Error("InvalidArgument"): a malformed ``versionId``, or
        ``list-type`` other than 2.
      S3Error("NoSuchVersion"): a well-formed ``versionId`` other than
        ``null`` for an operation not in `VERSION_ID_OPS`.
    """
    target = target_of(req)
    if target is Target.SERVICE:
        if req.method == "GET":
            return Op.ListBuckets
        raise _method_not_allowed(req.method, target, ("GET",))

    keywords = [k for k, _ in req.query if k in KEYWORDS]
    if len(set(keywords)) > 1:
        raise S3Error(
            "NotImplemented",
            "A request may name only one sub-resource; got " + ", ".join(sorted(set(keywords))),
        )
    keyword = keywords[0] if keywords else None

    copy_source = req.header(_COPY) is not None
    # The rows of this method whose required parameters and header are present.
    candidates = [
        r
        for r in _ROWS_BY_KEY.get((target, keyword, req.method), ())
        if all(req.has_q(p) for p in r.requires) and (r.header is None or copy_source)
    ]
    usable = [r for r in candidates if not any(req.has_q(p) for p in r.absent)]
    if usable:
        first = usable[0]  # the table's order decides (UploadPartCopy before UploadPart)
        if first.op is None:
            raise S3Error("NotImplemented", f"{first.name} is not implemented by this server")
        _check_arguments(req, first.op)
        return first.op

    # Every candidate refused a parameter that is present (HEAD ?uploadId).
    if candidates or req.method == "OPTIONS":
        raise S3Error(
            "NotImplemented",
            f"{req.method} with these query parameters is not implemented by this server",
        )
    allowed = allowed_methods(target, keyword)
    if not allowed:
        raise S3Error(
            "NotImplemented", f"The ?{keyword} sub-resource is not implemented on this resource"
        )
    raise _method_not_allowed(req.method, target, allowed)


# Operations whose handlers answer a well-formed versionId (NoSuchVersion
# after the bucket checks; ``null`` is the current object).
VERSION_ID_OPS = frozenset(
    {Op.GetObject, Op.HeadObject, Op.DeleteObject, Op.GetObjectAcl, Op.GetObjectTagging}
)


def _check_arguments(req: S3Request, op: Op) -> None:
    version_id = req.q("versionId")
    versions.refuse_malformed(version_id)
    if version_id is not None and version_id != versions.NULL_VERSION:
        if op not in VERSION_ID_OPS:
            raise S3Error("NoSuchVersion", extra={"Key": req.key or "", "VersionId": version_id})
    if op is Op.ListObjectsV2:
        list_type = req.q("list-type")
        if list_type != "2":
            raise S3Error(
                "InvalidArgument",
                "Invalid List Type specified",
                extra={"ArgumentName": "list-type", "ArgumentValue": list_type or ""},
            )


def _method_not_allowed(method: str, target: Target, allowed: tuple[str, ...]) -> S3Error:
    return S3Error(
        "MethodNotAllowed",
        extra={"Method": method, "ResourceType": target.value},
        headers={"Allow": ", ".join(allowed)},
    )
