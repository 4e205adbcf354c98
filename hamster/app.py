"""The S3 application: parse → authenticate → dispatch, for every request.

The connection loop hands each request here (see `hamster.http.messages.App`);
the stream stage is the loop writing the Response this returns. Errors of any
stage become S3 XML error responses; anything unexpected is logged with the
request id and answered as InternalError, never as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from hamster.api import buckets, copy, delete, listing, multipart, objects
from hamster.api.context import RequestContext
from hamster.api.storage_errors import StorageErrors
from hamster.auth.payload import verified_body
from hamster.auth.verify import authenticate
from hamster.config import UserDirectory
from hamster.http.messages import HttpRequest, RequestBody, Response
from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.s3.headers import header_value
from hamster.s3.httpdate import format_http_date
from hamster.s3.request import S3Request, parse_request
from hamster.s3.router import Op, route
from hamster.s3.xml import error_xml
from hamster.storage.errors import OutOfDescriptors, StorageError, classify
from hamster.storage.store import Store

log = logging.getLogger("hamster.app")

Handler = Callable[[RequestContext], Awaitable[Response]]

HANDLERS: dict[Op, Handler] = {
    Op.ListBuckets: listing.list_buckets,
    Op.CreateBucket: buckets.create_bucket,
    Op.DeleteBucket: buckets.delete_bucket,
    Op.HeadBucket: buckets.head_bucket,
    Op.GetBucketLocation: buckets.get_bucket_location,
    Op.GetBucketVersioning: buckets.get_bucket_versioning,
    Op.GetBucketAcl: buckets.get_bucket_acl,
    Op.ListObjects: listing.list_objects,
    Op.ListObjectsV2: listing.list_objects_v2,
    Op.ListObjectVersions: listing.list_object_versions,
    Op.PutObject: objects.put_object,
    Op.GetObject: objects.get_object,
    Op.HeadObject: objects.head_object,
    Op.DeleteObject: objects.delete_object,
    Op.DeleteObjects: delete.delete_objects,
    Op.GetObjectAcl: objects.get_object_acl,
    Op.GetObjectTagging: objects.get_object_tagging,
    Op.CopyObject: copy.copy_object,
    Op.UploadPartCopy: copy.upload_part_copy,
    Op.CreateMultipartUpload: multipart.create_multipart_upload,
    Op.UploadPart: multipart.upload_part,
    Op.CompleteMultipartUpload: multipart.complete_multipart_upload,
    Op.AbortMultipartUpload: multipart.abort_multipart_upload,
    Op.ListParts: multipart.list_parts,
    Op.ListMultipartUploads: multipart.list_multipart_uploads,
}

SERVER_NAME = "Hamster"


def with_hoisted_metadata(s3req: S3Request) -> S3Request:
    """A presigned request's ``x-amz-meta-*`` query parameters as headers.

    SDK presigners move metadata into the URL (and the signature covers it
    there); S3 stores it as if it had come as headers. A header the client did
    send wins over the query parameter of the same name. The decoded query
    text becomes a wire string like any header value (`hamster.s3.headers`).
    """
    sent = {name for name, _ in s3req.headers}
    hoisted = tuple(
        (name.lower(), header_value(value))
        for name, value in s3req.query
        if name.lower().startswith("x-amz-meta-") and name.lower() not in sent
    )
    if not hoisted:
        return s3req
    return replace(s3req, headers=s3req.headers + hoisted)


class S3App:
    """The application behind the connection loop."""

    def __init__(
        self,
        *,
        store: Store,
        users: UserDirectory,
        runtime: Runtime,
        region: str = "us-east-1",
        domains: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.users = users
        self.runtime = runtime
        self.region = region
        self.domains = tuple(d.lower().rstrip(".") for d in domains)
        self.storage_errors = StorageErrors(runtime)

    async def handle(self, request: HttpRequest, body: RequestBody) -> Response:
        request_id = self.runtime.request_id()
        try:
            response = await self._dispatch(request, body, request_id)
        except S3Error as error:
            response = self._error(error, request, request_id)
        except StorageError as exc:
            # Logged as its kind wants (api/storage_errors.py), not per response.
            mapped = self.storage_errors.s3_error(exc, request_id)
            response = self._error(mapped, request, request_id, logged=True)
        except Exception as exc:
            # No descriptor left, wherever in the request it shows, is
            # answered as at the storage edge (503 SlowDown); the rest is a bug.
            known = classify(exc, "request", "") if isinstance(exc, OSError) else None
            if isinstance(known, OutOfDescriptors):
                mapped = self.storage_errors.s3_error(known, request_id)
                response = self._error(mapped, request, request_id, logged=True)
            else:
                log.exception(
                    "request %s failed: %s %r", request_id, request.method, request.target
                )
                response = self._error(S3Error("InternalError"), request, request_id)
        return self._finish(response, request, request_id)

    async def _dispatch(self, request: HttpRequest, body: RequestBody, request_id: str) -> Response:
        s3req = parse_request(request, self.domains)
        auth = authenticate(
            method=s3req.method,
            raw_path=s3req.raw_path,
            raw_query=s3req.raw_query,
            headers=s3req.headers,
            lookup_secret=self.users.secret_for,
            now_ns=self.runtime.now_ns(),
            region=self.region,
            virtual_host_bucket=s3req.bucket if s3req.virtual_host else None,
        )
        if auth.presigned:
            s3req = with_hoisted_metadata(s3req)
        user = self.users.get(auth.access_key)
        assert user is not None, "authenticated with a key that has no user"
        op = route(s3req)
        # The access log (debug level): one line per routed request, joined to its
        # status line by the request id; tests/compat counts what real clients call.
        log.debug("request %s: op %s", request_id, op.value)
        handler = HANDLERS.get(op)
        if handler is None:
            raise S3Error(
                "NotImplemented",
                message=f"{op.value} is not implemented by this server yet.",
            )
        ctx = RequestContext(
            request=s3req,
            body=verified_body(body, auth, self.runtime),
            user=user,
            store=self.store,
            runtime=self.runtime,
            region=self.region,
            request_id=request_id,
        )
        return await handler(ctx)

    def error_response(self, error: S3Error, request: HttpRequest | None) -> Response:
        request_id = self.runtime.request_id()
        # A connection refused at a cap: the server logs those once per burst.
        logged = request is None and error.code == "SlowDown"
        response = self._error(error, request, request_id, logged=logged)
        return self._finish(response, request, request_id)

    def _error(
        self,
        error: S3Error,
        request: HttpRequest | None,
        request_id: str,
        *,
        logged: bool = False,
    ) -> Response:
        resource = ""
        if request is not None:
            resource = request.target.split(b"?", 1)[0].decode("latin-1")
        if not logged and (error.code == "InternalError" or error.status >= 500):
            log.warning("request %s: %s %s", request_id, error.code, error.text)
        headers: list[tuple[str, str]] = list((error.headers or {}).items())
        if request is not None and request.method == "HEAD":
            # HEAD answers carry no body; the status tells the error.
            return Response(error.status, headers)
        body = error_xml(error.code, error.text, resource, request_id, error.extra or {})
        headers.append(("Content-Type", "application/xml"))
        return Response(error.status, headers, body)

    def _finish(self, response: Response, request: HttpRequest | None, request_id: str) -> Response:
        log.debug("request %s: status %d", request_id, response.status)
        response.headers.extend(
            [
                ("x-amz-request-id", request_id),
                ("x-amz-id-2", request_id),
                ("Date", format_http_date(self.runtime.now_ns())),
                ("Server", SERVER_NAME),
            ]
        )
        return response
