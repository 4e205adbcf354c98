"""route(): request lines from AWS's API reference examples, NotImplemented and 405."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.http.messages import HttpRequest
from hamster.s3.errors import S3Error
from hamster.s3.request import S3Request, parse_request
from hamster.s3.router import KEYWORDS, ROUTES, Op, Target, allowed_methods, route

COPY = (("x-amz-copy-source", "/source-bucket/source-key"),)


def req(
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    virtual: bool = False,
) -> S3Request:
    """`path` is relative to the bucket (as in AWS's examples), e.g. ``/my-image.jpg?acl``."""
    if virtual:
        host, target = "examplebucket.s3.example.com", path
    else:
        host, target = "localhost", "/examplebucket" + path
    http = HttpRequest(method=method, target=target.encode(), headers=(("host", host), *headers))
    return parse_request(http, ["s3.example.com"])


# Request lines of the examples in AWS's S3 API reference (Garage's router tests
# carry the same list), restricted to the v0.1 surface.
AWS_EXAMPLES: list[tuple[str, str, Op]] = [
    (
        "DELETE",
        "/example-object?uploadId=VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ",
        Op.AbortMultipartUpload,
    ),
    ("DELETE", "/Key+?uploadId=UploadId", Op.AbortMultipartUpload),
    (
        "POST",
        "/example-object?uploadId=AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA",
        Op.CompleteMultipartUpload,
    ),
    ("POST", "/Key+?uploadId=UploadId", Op.CompleteMultipartUpload),
    ("PUT", "/", Op.CreateBucket),
    ("POST", "/example-object?uploads", Op.CreateMultipartUpload),
    ("POST", "/{Key+}?uploads", Op.CreateMultipartUpload),
    ("DELETE", "/", Op.DeleteBucket),
    ("DELETE", "/my-second-image.jpg", Op.DeleteObject),
    ("DELETE", "/Key+?versionId=null", Op.DeleteObject),
    ("POST", "/?delete", Op.DeleteObjects),
    ("GET", "/?acl", Op.GetBucketAcl),
    ("GET", "/?location", Op.GetBucketLocation),
    ("GET", "/?versioning", Op.GetBucketVersioning),
    ("GET", "/?versions", Op.ListObjectVersions),
    ("GET", "/?versions&prefix=photos/2006/&delimiter=/", Op.ListObjectVersions),
    ("GET", "/my-image.jpg", Op.GetObject),
    ("GET", "/example-object?tagging", Op.GetObjectTagging),
    (
        "GET",
        "/Junk3.txt?response-cache-control=No-cache&response-content-disposition=attachment"
        "%3B%20filename%3Dtesting.txt&response-content-encoding=x-gzip&response-content-language="
        "mi%2C%20en&response-expires=Thu%2C%2001%20Dec%201994%2016:00:00%20GMT",
        Op.GetObject,
    ),
    (
        "GET",
        "/Key+?partNumber=1&response-cache-control=ResponseCacheControl"
        "&response-content-type=ResponseContentType",
        Op.GetObject,
    ),
    ("GET", "/my-image.jpg?acl", Op.GetObjectAcl),
    ("GET", "/{Key+}?acl&versionId=null", Op.GetObjectAcl),
    ("HEAD", "/", Op.HeadBucket),
    ("HEAD", "/my-image.jpg", Op.HeadObject),
    ("HEAD", "/Key+?partNumber=3", Op.HeadObject),
    ("GET", "/?uploads&max-uploads=3", Op.ListMultipartUploads),
    ("GET", "/?uploads&delimiter=/", Op.ListMultipartUploads),
    ("GET", "/?uploads&delimiter=/&prefix=photos/2006/", Op.ListMultipartUploads),
    (
        "GET",
        "/?uploads&delimiter=D&encoding-type=EncodingType&key-marker=KeyMarker"
        "&max-uploads=1&prefix=Prefix&upload-id-marker=UploadIdMarker",
        Op.ListMultipartUploads,
    ),
    ("GET", "/", Op.ListObjects),
    ("GET", "/?prefix=N&marker=Ned&max-keys=40", Op.ListObjects),
    ("GET", "/?delimiter=/", Op.ListObjects),
    ("GET", "/?prefix=photos/2006/&delimiter=/", Op.ListObjects),
    (
        "GET",
        "/?delimiter=D&encoding-type=EncodingType&marker=Marker&max-keys=1&prefix=Prefix",
        Op.ListObjects,
    ),
    ("GET", "/?list-type=2", Op.ListObjectsV2),
    ("GET", "/?list-type=2&max-keys=3&prefix=E&start-after=ExampleGuide.pdf", Op.ListObjectsV2),
    ("GET", "/?list-type=2&delimiter=/", Op.ListObjectsV2),
    ("GET", "/?list-type=2&prefix=photos/2006/&delimiter=/", Op.ListObjectsV2),
    (
        "GET",
        "/?list-type=2&continuation-token=1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
        Op.ListObjectsV2,
    ),
    (
        "GET",
        "/?list-type=2&continuation-token=ContinuationToken&delimiter=D&encoding-type="
        "EncodingType&fetch-owner=true&max-keys=1&prefix=Prefix&start-after=StartAfter",
        Op.ListObjectsV2,
    ),
    (
        "GET",
        "/example-object?uploadId=XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA"
        "&max-parts=2&part-number-marker=1",
        Op.ListParts,
    ),
    ("GET", "/Key+?max-parts=2&part-number-marker=2&uploadId=UploadId", Op.ListParts),
    ("PUT", "/my-image.jpg", Op.PutObject),
    ("PUT", "/Key+", Op.PutObject),
    (
        "PUT",
        "/my-movie.m2ts?partNumber=1&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR",
        Op.UploadPart,
    ),
    ("PUT", "/Key+?partNumber=2&uploadId=UploadId", Op.UploadPart),
    # boto3 adds x-id to many requests; it must not disturb routing.
    ("PUT", "/k?x-id=PutObject", Op.PutObject),
    ("GET", "/k?x-id=GetObject", Op.GetObject),
    ("POST", "/?delete&x-id=DeleteObjects", Op.DeleteObjects),
]

COPY_EXAMPLES: list[tuple[str, str, Op]] = [
    ("PUT", "/my-second-image.jpg", Op.CopyObject),
    ("PUT", "/{Key+}", Op.CopyObject),
    (
        "PUT",
        "/newobject?partNumber=2&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIRRwbG9hZA",
        Op.UploadPartCopy,
    ),
    ("PUT", "/{Key+}?partNumber=1&uploadId=UploadId", Op.UploadPartCopy),
]


@pytest.mark.parametrize("virtual", [False, True])
@pytest.mark.parametrize(("method", "path", "op"), AWS_EXAMPLES)
def test_aws_examples(method: str, path: str, op: Op, virtual: bool) -> None:
    assert route(req(method, path, virtual=virtual)) is op


@pytest.mark.parametrize("virtual", [False, True])
@pytest.mark.parametrize(("method", "path", "op"), COPY_EXAMPLES)
def test_aws_copy_examples(method: str, path: str, op: Op, virtual: bool) -> None:
    assert route(req(method, path, COPY, virtual=virtual)) is op


def test_list_buckets() -> None:
    http = HttpRequest(method="GET", target=b"/", headers=(("host", "localhost"),))
    assert route(parse_request(http, [])) is Op.ListBuckets
    http = HttpRequest(method="GET", target=b"/?max-buckets=10&x-id=ListBuckets", headers=())
    assert route(parse_request(http, [])) is Op.ListBuckets


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "HEAD", "PATCH"])
def test_service_other_methods_are_405(method: str) -> None:
    http = HttpRequest(method=method, target=b"/", headers=())
    with pytest.raises(S3Error) as info:
        route(parse_request(http, []))
    assert info.value.code == "MethodNotAllowed" and info.value.status == 405
    assert info.value.headers == {"Allow": "GET"}
    assert info.value.extra == {"Method": method, "ResourceType": "SERVICE"}


# Examples of operations S3 has and Hamster v0.1 does not.
NOT_IMPLEMENTED: list[tuple[str, str]] = [
    ("DELETE", "/?analytics&id=list1"),
    ("DELETE", "/?cors"),
    ("DELETE", "/?encryption"),
    ("DELETE", "/?lifecycle"),
    ("DELETE", "/?policy"),
    ("DELETE", "/?tagging"),
    ("DELETE", "/?website"),
    ("DELETE", "/exampleobject?tagging"),
    ("DELETE", "/?publicAccessBlock"),
    ("GET", "/?accelerate"),
    ("GET", "/?cors"),
    ("GET", "/?encryption"),
    ("GET", "/?lifecycle"),
    ("GET", "/?logging"),
    ("GET", "/?notification"),
    ("GET", "/?object-lock"),
    ("GET", "/?ownershipControls"),
    ("GET", "/?policy"),
    ("GET", "/?policyStatus"),
    ("GET", "/?replication"),
    ("GET", "/?requestPayment"),
    ("GET", "/?tagging"),
    ("GET", "/?website"),
    ("GET", "/?metrics&id=Documents"),
    ("GET", "/?inventory"),
    ("GET", "/?intelligent-tiering"),
    ("GET", "/?session"),
    ("GET", "/{Key+}?legal-hold&versionId=VersionId"),
    ("GET", "/{Key+}?retention"),
    ("GET", "/quotes/Nelson?torrent"),
    ("GET", "/k?attributes"),
    ("PUT", "/?acl"),
    ("PUT", "/?versioning"),
    ("PUT", "/?cors"),
    ("PUT", "/?lifecycle"),
    ("PUT", "/?policy"),
    ("PUT", "/?tagging"),
    ("PUT", "/?website"),
    ("PUT", "/?object-lock"),
    ("PUT", "/?encryption"),
    ("PUT", "/?publicAccessBlock"),
    ("PUT", "/my-image.jpg?acl"),
    ("PUT", "/object-key?tagging"),
    ("PUT", "/{Key+}?retention"),
    ("PUT", "/{Key+}?legal-hold"),
    ("POST", "/object-one.csv?restore"),
    ("POST", "/{Key+}?select&select-type=2"),
    ("POST", "/"),  # browser-form PostObject
    ("OPTIONS", "/"),
    ("OPTIONS", "/k"),
    ("HEAD", "/k?uploadId=abc"),  # ?uploadId on a method without such an operation
    ("PUT", "/k?uploadId=abc"),  # no partNumber
    ("PUT", "/k?partNumber=1"),  # no uploadId
    ("GET", "/?acl&tagging"),  # two sub-resources
    ("GET", "/k?location"),  # bucket sub-resource on an object
]


@pytest.mark.parametrize(("method", "path"), NOT_IMPLEMENTED)
def test_not_implemented(method: str, path: str) -> None:
    with pytest.raises(S3Error) as info:
        route(req(method, path))
    assert info.value.code == "NotImplemented"
    assert info.value.status == 501


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("POST", "/", "PostObject is not implemented by this server"),
        ("OPTIONS", "/", "OptionsPreflight is not implemented by this server"),
        ("OPTIONS", "/k", "OptionsPreflight is not implemented by this server"),
        ("GET", "/?cors", "GetBucketCors is not implemented by this server"),
        ("DELETE", "/?website", "DeleteBucketWebsite is not implemented by this server"),
        ("PUT", "/?acl", "PutBucketAcl is not implemented by this server"),
        ("PUT", "/?tagging", "PutBucketTagging is not implemented by this server"),
        (
            "DELETE",
            "/exampleobject?tagging",
            "DeleteObjectTagging is not implemented by this server",
        ),
        ("PUT", "/k?legal-hold", "PutObjectLegalHold is not implemented by this server"),
        ("GET", "/k?retention", "GetObjectRetention is not implemented by this server"),
        ("PUT", "/k?acl", "PutObjectAcl is not implemented by this server"),
        (
            "POST",
            "/k?select&select-type=2",
            "SelectObjectContent is not implemented by this server",
        ),
        (
            "HEAD",
            "/k?uploadId=abc",
            "HEAD with these query parameters is not implemented by this server",
        ),
        (
            "PUT",
            "/k?uploadId=abc",
            "PUT with these query parameters is not implemented by this server",
        ),
        (
            "OPTIONS",
            "/?location",
            "OPTIONS with these query parameters is not implemented by this server",
        ),
        (
            "GET",
            "/?tagging&acl&tagging",
            "A request may name only one sub-resource; got acl, tagging",
        ),
        ("GET", "/k?location", "The ?location sub-resource is not implemented on this resource"),
    ],
)
def test_not_implemented_says_what(method: str, path: str, message: str) -> None:
    with pytest.raises(S3Error) as info:
        route(req(method, path))
    assert (info.value.code, info.value.status, info.value.text) == (
        "NotImplemented",
        501,
        message,
    )


def test_route_names() -> None:
    names = {(r.method, r.target, r.keyword, r.requires, r.header): r.name for r in ROUTES}
    assert names["GET", Target.SERVICE, None, (), None] == "ListBuckets"
    multipart = ("partNumber", "uploadId")
    assert names["PUT", Target.OBJECT, None, multipart, "x-amz-copy-source"] == "UploadPartCopy"
    assert names["POST", Target.BUCKET, None, (), None] == "PostObject"
    assert names["GET", Target.BUCKET, "cors", (), None] == "GetBucketCors"
    assert names["PUT", Target.OBJECT, "retention", (), None] == "PutObjectRetention"
    for r in ROUTES:
        assert r.name == (r.op.value if r.op is not None else r.unimplemented) != ""


@pytest.mark.parametrize(
    ("method", "path", "headers", "op"),
    [
        ("PUT", "/k?partNumber=2&uploadId=u", COPY, Op.UploadPartCopy),
        ("PUT", "/k?partNumber=2&uploadId=u", (), Op.UploadPart),
        ("PUT", "/k", COPY, Op.CopyObject),
        ("PUT", "/k", (), Op.PutObject),
        ("GET", "/k?uploadId=u", (), Op.ListParts),
        ("GET", "/k?partNumber=2", (), Op.GetObject),
        ("DELETE", "/k?uploadId=u", (), Op.AbortMultipartUpload),
        ("POST", "/k?uploadId=u", (), Op.CompleteMultipartUpload),
        ("GET", "/?list-type=2", (), Op.ListObjectsV2),
        ("GET", "/?acl&acl", (), Op.GetBucketAcl),  # one keyword, twice
    ],
)
def test_rows_are_read_in_order(
    method: str, path: str, headers: tuple[tuple[str, str], ...], op: Op
) -> None:
    assert route(req(method, path, headers)) is op


@pytest.mark.parametrize(
    ("method", "path", "allow", "resource_type"),
    [
        ("PATCH", "/k", "GET, HEAD, PUT, DELETE", "OBJECT"),
        ("POST", "/k", "GET, HEAD, PUT, DELETE", "OBJECT"),
        ("PATCH", "/", "GET, HEAD, PUT, POST, DELETE", "BUCKET"),
        ("PUT", "/?location", "GET", "BUCKET"),
        ("DELETE", "/?uploads", "GET", "BUCKET"),
        ("GET", "/?delete", "POST", "BUCKET"),
        ("GET", "/k?uploads", "POST", "OBJECT"),
        ("HEAD", "/?acl", "GET, PUT", "BUCKET"),
        ("PATCH", "/k?tagging", "GET, PUT, DELETE", "OBJECT"),
    ],
)
def test_method_not_allowed(method: str, path: str, allow: str, resource_type: str) -> None:
    with pytest.raises(S3Error) as info:
        route(req(method, path))
    err = info.value
    assert err.code == "MethodNotAllowed" and err.status == 405
    assert err.headers == {"Allow": allow}
    assert err.extra == {"Method": method, "ResourceType": resource_type}


def test_version_id_other_than_null_is_refused() -> None:
    with pytest.raises(S3Error) as info:
        route(req("GET", "/myObject?versionId=3/L4kqtJlcpXroDTDmpUMLUo"))
    assert info.value.code == "InvalidArgument"
    assert info.value.extra == {
        "ArgumentName": "versionId",
        "ArgumentValue": "3/L4kqtJlcpXroDTDmpUMLUo",
    }
    assert route(req("GET", "/myObject?versionId=null")) is Op.GetObject
    with pytest.raises(S3Error) as info:
        route(req("GET", "/myObject?versionId="))
    assert info.value.code == "InvalidArgument"


def test_well_formed_version_id_is_no_such_version() -> None:
    """A well-formed id passes routing where the handler answers NoSuchVersion
    after its bucket checks, and is NoSuchVersion here everywhere else."""
    well_formed = "Ud4N8aQsNiIl9Izeas5gxgEq9ZBzj.Ic"
    for method, op in (("GET", Op.GetObject), ("HEAD", Op.HeadObject), ("DELETE", Op.DeleteObject)):
        assert route(req(method, "/myObject?versionId=" + well_formed)) is op
    with pytest.raises(S3Error) as info:
        route(req("PUT", "/myObject?versionId=" + well_formed))
    assert info.value.code == "NoSuchVersion" and info.value.status == 404
    assert info.value.extra == {"Key": "myObject", "VersionId": well_formed}
    # A bucket's operation names no key: Key is empty.
    with pytest.raises(S3Error) as info:
        route(req("GET", "/?versionId=" + well_formed))
    assert info.value.code == "NoSuchVersion"
    assert info.value.extra == {"Key": "", "VersionId": well_formed}


@pytest.mark.parametrize(
    ("query", "value"), [("list-type=3", "3"), ("list-type", ""), ("list-type=1", "1")]
)
def test_list_type_other_than_2_is_refused(query: str, value: str) -> None:
    with pytest.raises(S3Error) as info:
        route(req("GET", "/?" + query))
    assert (info.value.code, info.value.status, info.value.text) == (
        "InvalidArgument",
        400,
        "Invalid List Type specified",
    )
    assert info.value.extra == {"ArgumentName": "list-type", "ArgumentValue": value}


def test_copy_source_header_on_bucket_put_is_create_bucket() -> None:
    assert route(req("PUT", "/", COPY)) is Op.CreateBucket


def test_every_op_has_a_route() -> None:
    assert {r.op for r in ROUTES if r.op is not None} == set(Op)


def test_every_keyword_in_table_is_known() -> None:
    assert {r.keyword for r in ROUTES if r.keyword is not None} <= KEYWORDS


def test_allowed_methods() -> None:
    assert allowed_methods(Target.OBJECT, None) == ("GET", "HEAD", "PUT", "DELETE")
    assert allowed_methods(Target.OBJECT, "location") == ()


methods = st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "FOO"])
query_names = st.sampled_from(
    [*sorted(KEYWORDS), "uploadId", "partNumber", "list-type", "prefix", "x-id", "versionId"]
)


@given(
    methods,
    st.sampled_from(["/", "/k", "/a/b"]),
    st.lists(st.tuples(query_names, st.sampled_from(["", "1", "2", "null"])), max_size=3),
    st.booleans(),
)
def test_route_is_total(method: str, path: str, query: list[tuple[str, str]], copy: bool) -> None:
    """Every request either routes or raises an S3Error with a consistent status."""
    qs = "&".join(f"{k}={v}" if v else k for k, v in query)
    r = req(method, path + ("?" + qs if qs else ""), COPY if copy else ())
    try:
        op = route(r)
    except S3Error as err:
        assert err.code in {"NotImplemented", "MethodNotAllowed", "InvalidArgument"}
        if err.code == "MethodNotAllowed":
            assert err.headers is not None and method not in err.headers["Allow"].split(", ")
    else:
        assert isinstance(op, Op)
        assert method in {"GET", "HEAD", "PUT", "POST", "DELETE"}
