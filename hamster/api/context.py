"""What every operation handler receives, and the helpers they share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hamster.auth.payload import AwsChunkedBody
from hamster.auth.verify import STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER
from hamster.config import User
from hamster.http.messages import RequestBody, Response
from hamster.runtime import Runtime
from hamster.s3.errors import S3Error
from hamster.s3.request import S3Request
from hamster.storage.store import BucketInfo, Store

# XML request bodies (CreateBucket, DeleteObjects, CompleteMultipartUpload) are
# read whole, so they are bounded.
MAX_XML_BODY_BYTES = 1 << 20


@dataclass
class RequestContext:
    request: S3Request
    body: RequestBody  # already wrapped by payload verification
    user: User
    store: Store
    runtime: Runtime
    region: str
    request_id: str

    @property
    def bucket(self) -> str:
        assert self.request.bucket is not None, "routed to a bucket operation without a bucket"
        return self.request.bucket

    @property
    def key(self) -> str:
        assert self.request.key is not None, "routed to an object operation without a key"
        return self.request.key

    @property
    def trailers_allowed(self) -> bool:
        """Whether the body can carry trailers: aws-chunked in a *-TRAILER mode."""
        payload = (self.request.header("x-amz-content-sha256") or "").strip()
        return isinstance(self.body, AwsChunkedBody) and payload in (
            STREAMING_SIGNED_TRAILER,
            STREAMING_UNSIGNED_TRAILER,
        )

    async def owned_bucket(self) -> BucketInfo:
        """The request's bucket, if it exists and belongs to the caller.

        There are no ACLs or policies in v0.1: a bucket belongs to the user
        who created it and everybody else gets AccessDenied.
        """
        info = await self.store.get_bucket(self.bucket)
        if info is None:
            raise S3Error("NoSuchBucket", extra={"BucketName": self.bucket})
        if info.owner != self.user.access_key:
            raise S3Error("AccessDenied")
        return info

    async def read_small_body(self, max_bytes: int = MAX_XML_BODY_BYTES) -> bytes:
        """The whole request body, refusing one longer than `max_bytes`."""
        declared = self.body.content_length
        if declared is not None and declared > max_bytes:
            raise S3Error("MaxMessageLengthExceeded")
        parts: list[bytes] = []
        total = 0
        while True:
            chunk = await self.body.read(65536)
            if not chunk:
                return b"".join(parts)
            total += len(chunk)
            if total > max_bytes:
                raise S3Error("MaxMessageLengthExceeded")
            parts.append(chunk)


def owner_id(user: User) -> str:
    """A stable canonical-user-id-shaped id for a user (64 hex digits)."""
    return hashlib.sha256(b"hamster-user:" + user.access_key.encode()).hexdigest()


def xml_response(body: bytes, status: int = 200) -> Response:
    return Response(status, [("Content-Type", "application/xml")], body)
