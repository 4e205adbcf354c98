"""The one error root of the S3 surface, and the table of S3 error codes.

Every refusal a client sees is an `S3Error`: a code from `ERRORS` (which fixes
the HTTP status and the default message, as AWS S3 has them), an optional
message override and extra XML elements (``extra``) such as ``BucketName`` or
``StringToSign``. Library exceptions are mapped to S3Error at the edges;
anything unexpected becomes ``InternalError`` with the request id logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# code -> (HTTP status, default message). Messages are AWS's own wording.
ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (
        400,
        "Error parsing the X-Amz-Credential parameter.",
    ),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyExists": (
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all "
        "users of the system. Please select a different name and try again.",
    ),
    "BucketAlreadyOwnedByYou": (
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
    ),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size"),
    "EntityTooSmall": (
        400,
        "Your proposed upload is smaller than the minimum allowed object size.",
    ),
    "IncompleteBody": (
        400,
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
    ),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (
        403,
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidLocationConstraint": (400, "The specified location-constraint is not valid"),
    "InvalidPart": (
        400,
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
    ),
    "InvalidPartNumber": (416, "The requested partnumber is not satisfiable"),
    "InvalidPartOrder": (
        400,
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
    ),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our "
        "published schema",
    ),
    "MalformedTrailerError": (
        400,
        "The request contained trailing data that was not well-formed or did not conform "
        "to our published schema.",
    ),
    "MaxMessageLengthExceeded": (400, "Your request was too big."),
    "MetadataTooLarge": (
        400,
        "Your metadata headers exceed the maximum allowed metadata size.",
    ),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingRequestBodyError": (400, "Request Body is empty"),
    "MissingSecurityHeader": (400, "Your request is missing a required header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (
        404,
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
    ),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (
        501,
        "A header you provided implies functionality that is not implemented",
    ),
    "NotModified": (304, "Not Modified"),
    "PreconditionFailed": (
        412,
        "At least one of the pre-conditions you specified did not hold",
    ),
    "RequestHeaderSectionTooLarge": (
        400,
        "Your request header section exceeds the maximum allowed size.",
    ),
    "RequestTimeout": (
        400,
        "Your socket connection to the server was not read from or written to within "
        "the timeout period.",
    ),
    "RequestTimeTooSkewed": (
        403,
        "The difference between the request time and the current time is too large.",
    ),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "SlowDown": (503, "Please reduce your request rate."),
    "XAmzContentSHA256Mismatch": (
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    # Hamster's own, after MinIO's XMinioStorageFull: 507 Insufficient Storage,
    # which SDKs do not retry (a 500 they would, for nothing).
    "XHamsterStorageFull": (
        507,
        "Storage is full: the disk has no room left for this write (or less than the "
        "server's minimum free space). Delete some objects or free disk space to proceed.",
    ),
}


@dataclass(eq=False)
class S3Error(Exception):
    """An S3 refusal: `code` names a row of `ERRORS`.

    Args:
      code: the S3 error code (a key of `ERRORS`).
      message: overrides the table's default message when given.
      extra: further XML elements of the error body, in order
        (e.g. ``{"BucketName": "photos"}``).
      headers: extra response headers (e.g. ``Allow`` for 405).
    """

    code: str
    message: str | None = None
    extra: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        assert self.code in ERRORS, f"unknown S3 error code {self.code!r}"
        super().__init__(self.code, self.text)

    @property
    def status(self) -> int:
        return ERRORS[self.code][0]

    @property
    def text(self) -> str:
        return self.message if self.message is not None else ERRORS[self.code][1]
