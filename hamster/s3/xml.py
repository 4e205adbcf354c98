"""S3's XML: rendering responses and safely parsing request bodies (pure, no I/O).

Rendering: a tiny element tree (`Element`, built with `el`) rendered by
`render` with S3's prolog ``<?xml version="1.0" encoding="UTF-8"?>``; the
entries of a listing page (up to 1,000 of them) are written as text directly
(`Markup` in the tree), exactly as their elements would render
(`listed_object_element` is the reference the tests hold them to). Text is
escaped for XML 1.0; a character XML 1.0 cannot carry (C0 controls other than
tab/newline/CR, U+FFFE, U+FFFF, lone surrogates) is written as a numeric
character reference ``&#xN;`` exactly as S3 writes it, so nothing is lost
(strict parsers reject those documents; clients that list such keys ask for
``encoding-type=url``). CR is written ``&#xD;`` so it survives parsing.

Parsing: `parse_xml` reads request bodies (CreateBucketConfiguration, Delete,
CompleteMultipartUpload) with expat, refusing any DTD, entity declaration or
external entity (billion laughs, XXE), bounding size and depth, and strips
S3's namespace from element names. Anything wrong is S3Error("MalformedXML").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from xml.parsers import expat

from hamster.s3.errors import S3Error
from hamster.s3.httpdate import format_iso8601

__all__ = [
    "PROLOG",
    "S3_NS",
    "XSI_NS",
    "CompletedPart",
    "Element",
    "Markup",
    "acl_xml",
    "el",
    "error_xml",
    "escape_text",
    "list_buckets_xml",
    "location_xml",
    "parse_complete_multipart_upload",
    "parse_create_bucket_configuration",
    "parse_xml",
    "render",
    "versioning_xml",
]

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n'
XML_BODY_MAX_BYTES = 1 << 20
XML_DEPTH_MAX = 32
US_EAST_1 = "us-east-1"

# Characters that need escaping in text or attribute values: markup, quotes, CR,
# and everything outside XML 1.0's Char production.
_NEEDS_ESCAPE = re.compile('[&<>"\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _replace(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    return named if named is not None else f"&#x{ord(c):X};"


def escape_text(text: str) -> str:
    """`text` escaped for XML 1.0 element content or a double-quoted attribute."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text  # most text: nothing to replace
    return _NEEDS_ESCAPE.sub(_replace, text)


# -- rendering ------------------------------------------------------------------


@dataclass(frozen=True)
class Markup:
    """XML text already rendered (escaped, well-formed), written as it is."""

    text: str


@dataclass(frozen=True)
class Element:
    """An XML element: name, attributes in order, and children (elements,
    text, or markup)."""

    name: str
    children: tuple[Element | str | Markup, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()


def el(
    name: str,
    *children: Element | str | Markup | None,
    attrs: Mapping[str, str] | None = None,
) -> Element:
    """Build an element; None children are dropped (optional elements).

    ``el("Owner", el("ID", owner_id), el("DisplayName", name))``.
    """
    kept = tuple(c for c in children if c is not None)
    return Element(name, kept, tuple(attrs.items()) if attrs else ())


def _write(node: Element, out: list[str]) -> None:
    out.append("<" + node.name)
    for k, v in node.attrs:
        out.append(f' {k}="{escape_text(v)}"')
    if not node.children:
        out.append("/>" if node.attrs else "></" + node.name + ">")
        return
    out.append(">")
    for child in node.children:
        if isinstance(child, str):
            out.append(escape_text(child))
        elif isinstance(child, Markup):
            out.append(child.text)
        else:
            _write(child, out)
    out.append("</" + node.name + ">")


def render(root: Element) -> bytes:
    """The UTF-8 document of `root`, with S3's XML prolog."""
    out: list[str] = []
    _write(root, out)
    # escape_text leaves no surrogate in the text: every string encodes strictly.
    return PROLOG + "".join(out).encode()


def render_fragment(node: Element) -> str:
    """`node` as XML text (no prolog), as `render` writes it inside a document."""
    out: list[str] = []
    _write(node, out)
    return "".join(out)


def s3_root(name: str, *children: Element | str | Markup | None) -> Element:
    """A root element in S3's namespace (``xmlns="http://s3.amazonaws.com/doc/2006-03-01/"``)."""
    return el(name, *children, attrs={"xmlns": S3_NS})


def error_xml(
    code: str,
    message: str,
    resource: str,
    request_id: str,
    extra: Mapping[str, str] | None = None,
    *,
    host_id: str = "",
) -> bytes:
    """An S3 error body: Code, Message, the extra elements, Resource, RequestId, HostId.

    Like S3, the Error element has no namespace. Resource is omitted when empty.
    """
    children: list[Element | str | None] = [el("Code", code), el("Message", message)]
    for name, value in (extra or {}).items():
        children.append(el(name, value))
    children.append(el("Resource", resource) if resource else None)
    children.append(el("RequestId", request_id))
    children.append(el("HostId", host_id))
    return render(el("Error", *children))


def _owner(owner_id: str, owner_display_name: str) -> Element:
    return el("Owner", el("ID", owner_id), el("DisplayName", owner_display_name))


def list_buckets_xml(
    owner_id: str,
    owner_display_name: str,
    buckets: Sequence[tuple[str, int]],
    *,
    region: str | None = None,
    continuation_token: str | None = None,
    prefix: str | None = None,
) -> bytes:
    """ListAllMyBucketsResult for (name, created_ns) pairs, in the order given.

    `region`, when given, is written as each bucket's BucketRegion (newer SDKs read it).
    `continuation_token` (the next page's, when there is one) and `prefix`
    (as requested) are ListBuckets pagination's elements.
    """
    entries = [
        el(
            "Bucket",
            el("Name", name),
            el("CreationDate", format_iso8601(created_ns)),
            el("BucketRegion", region) if region is not None else None,
        )
        for name, created_ns in buckets
    ]
    return render(
        s3_root(
            "ListAllMyBucketsResult",
            _owner(owner_id, owner_display_name),
            el("Buckets", *entries),
            el("ContinuationToken", continuation_token) if continuation_token else None,
            el("Prefix", prefix) if prefix is not None else None,
        )
    )


def location_xml(location: str) -> bytes:
    """GetBucketLocation's answer; us-east-1 is the empty LocationConstraint, as S3 has it."""
    value = None if location in ("", US_EAST_1) else location
    return render(el("LocationConstraint", value, attrs={"xmlns": S3_NS}))


def versioning_xml() -> bytes:
    """GetBucketVersioning for a bucket whose versioning was never enabled (no Status)."""
    return render(el("VersioningConfiguration", attrs={"xmlns": S3_NS}))


def acl_xml(owner_id: str, owner_display_name: str) -> bytes:
    """An AccessControlPolicy granting the owner FULL_CONTROL (GetBucketAcl, GetObjectAcl)."""
    grantee = el(
        "Grantee",
        el("ID", owner_id),
        el("DisplayName", owner_display_name),
        attrs={"xmlns:xsi": XSI_NS, "xsi:type": "CanonicalUser"},
    )
    return render(
        s3_root(
            "AccessControlPolicy",
            _owner(owner_id, owner_display_name),
            el("AccessControlList", el("Grant", grantee, el("Permission", "FULL_CONTROL"))),
        )
    )


# -- parsing --------------------------------------------------------------------


class _Refused(Exception):
    """Raised from expat handlers to abort on a forbidden construct."""


def _refuse(*_args: object) -> None:
    raise _Refused


def parse_xml(body: bytes, *, max_bytes: int = XML_BODY_MAX_BYTES) -> ET.Element:
    """Parse a request body safely; element names lose S3's namespace.

    ``<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`` and
    ``<Delete>`` both give an element named ``Delete``; names in other
    namespaces read ``{uri}local``. Text and tail are as ElementTree has them.

    Raises:
      S3Error("MalformedXML"): empty, larger than `max_bytes`, not well-formed,
        nested deeper than 32, or containing a DTD, an entity declaration or
        an external entity reference.
    """
    if len(body) > max_bytes or not body.strip():
        raise S3Error("MalformedXML")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    depth = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > XML_DEPTH_MAX:
            raise _Refused
        builder.start(_name(name), {_name(k): v for k, v in attrs.items()})

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(_name(name))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(body, True)
        root = builder.close()
    except (_Refused, expat.ExpatError, ValueError, AssertionError, SyntaxError):
        raise S3Error("MalformedXML") from None
    return root


def _name(expat_name: str) -> str:
    """ElementTree's ``{uri}local`` form of expat's ``uri}local``, S3's namespace dropped."""
    uri, sep, local = expat_name.rpartition("}")
    if not sep or uri == S3_NS:
        return local
    return "{" + uri + "}" + local


def child_text(parent: ET.Element, name: str) -> str | None:
    """The text of `parent`'s first child `name` ("" if empty), None if there is none."""
    child = parent.find(name)
    if child is None:
        return None
    return child.text or ""


def children_named(parent: ET.Element, name: str) -> Iterable[ET.Element]:
    """`parent`'s direct children called `name`, in order."""
    return (c for c in parent if c.tag == name)


def parse_create_bucket_configuration(body: bytes) -> str | None:
    """The LocationConstraint of a CreateBucket body; None for an empty body or none given.

    An empty ``<LocationConstraint/>`` gives ``""``.

    Raises:
      S3Error("MalformedXML"): as `parse_xml`, or a root other than
        CreateBucketConfiguration.
    """
    if not body.strip():
        return None
    root = parse_xml(body)
    if root.tag != "CreateBucketConfiguration":
        raise S3Error("MalformedXML")
    value = child_text(root, "LocationConstraint")
    return value.strip() if value is not None else None


# -- multipart ------------------------------------------------------------------

# The part checksum elements of CompleteMultipartUpload / ListParts, by algorithm.
CHECKSUM_ELEMENTS = {
    "CRC32": "ChecksumCRC32",
    "CRC32C": "ChecksumCRC32C",
    "CRC64NVME": "ChecksumCRC64NVME",
    "SHA1": "ChecksumSHA1",
    "SHA256": "ChecksumSHA256",
}
# Checksum elements botocore knows that Hamster has no algorithm for.
UNSUPPORTED_CHECKSUM_ELEMENTS = (
    "ChecksumSHA512",
    "ChecksumMD5",
    "ChecksumXXHASH64",
    "ChecksumXXHASH3",
    "ChecksumXXHASH128",
)
PART_NUMBER_DIGITS_MAX = 9
# A decimal integer as S3's xs:int PartNumber (range checks are the caller's).
_PART_NUMBER = re.compile(rf"-?[0-9]{{1,{PART_NUMBER_DIGITS_MAX}}}")


@dataclass(frozen=True)
class CompletedPart:
    """One ``<Part>`` of a CompleteMultipartUpload body.

    Attributes:
      part_number: as sent (range checks are the caller's).
      etag: unquoted ("" when the element is missing).
      checksums: (algorithm, base64 text) of the part's Checksum* elements, in order.
    """

    part_number: int
    etag: str
    checksums: tuple[tuple[str, str], ...] = ()


# A CompleteMultipartUpload of 10000 parts with SHA256 part checksums is
# about 1.7 MB as boto3 writes it: more than other XML bodies may be.
COMPLETE_XML_MAX_BYTES = 4 << 20


def parse_complete_multipart_upload(
    body: bytes, *, max_bytes: int = COMPLETE_XML_MAX_BYTES
) -> list[CompletedPart]:
    """The parts of a CompleteMultipartUpload body, in the order sent.

    Raises:
      S3Error("MalformedXML"): as `parse_xml`, another root, a Part without a
        PartNumber or with one that is not a decimal integer, or no Part.
      S3Error("InvalidRequest"): a checksum element of an algorithm this
        server does not have.
    """
    root = parse_xml(body, max_bytes=max_bytes)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    parts: list[CompletedPart] = []
    for part in children_named(root, "Part"):
        number_text = (child_text(part, "PartNumber") or "").strip()
        if not _PART_NUMBER.fullmatch(number_text):
            raise S3Error("MalformedXML")
        etag = (child_text(part, "ETag") or "").strip()
        if len(etag) >= 2 and etag[0] == '"' and etag[-1] == '"':
            etag = etag[1:-1]
        sums: list[tuple[str, str]] = []
        for child in part:
            if child.tag in UNSUPPORTED_CHECKSUM_ELEMENTS:
                raise S3Error(
                    "InvalidRequest", f"The {child.tag} part checksum is not supported."
                )
            for algorithm, name in CHECKSUM_ELEMENTS.items():
                if child.tag == name:
                    sums.append((algorithm, (child.text or "").strip()))
        parts.append(CompletedPart(int(number_text), etag, tuple(sums)))
    if not parts:
        raise S3Error("MalformedXML")
    return parts


def initiate_multipart_upload_xml(bucket: str, key: str, upload_id: str) -> bytes:
    return render(
        s3_root(
            "InitiateMultipartUploadResult",
            el("Bucket", bucket),
            el("Key", key),
            el("UploadId", upload_id),
        )
    )


def _checksum_elements(checksum: tuple[str, str] | None) -> Element | None:
    """``<ChecksumCRC32>value</ChecksumCRC32>`` for (algorithm, text), if any."""
    if checksum is None:
        return None
    return el(CHECKSUM_ELEMENTS[checksum[0]], checksum[1])


def complete_multipart_upload_xml(
    *,
    location: str,
    bucket: str,
    key: str,
    etag: str,
    checksum: tuple[str, str] | None,
    checksum_type: str | None,
) -> bytes:
    """CompleteMultipartUploadResult; `etag` quoted, `checksum` (algorithm, text)."""
    return render(
        s3_root(
            "CompleteMultipartUploadResult",
            el("Location", location),
            el("Bucket", bucket),
            el("Key", key),
            el("ETag", etag),
            _checksum_elements(checksum),
            el("ChecksumType", checksum_type) if checksum_type else None,
        )
    )


@dataclass(frozen=True)
class ListedPart:
    part_number: int
    last_modified_ns: int
    etag: str  # quoted
    size: int
    checksum: tuple[str, str] | None = None  # (algorithm, base64)


def list_parts_xml(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    part_number_marker: int,
    next_part_number_marker: int | None,
    max_parts: int,
    is_truncated: bool,
    parts: Sequence[ListedPart],
    owner_id: str,
    owner_display_name: str,
    checksum_algorithm: str | None,
    checksum_type: str | None,
) -> bytes:
    """ListPartsResult, elements in botocore's order."""
    entries = [
        el(
            "Part",
            el("PartNumber", str(p.part_number)),
            el("LastModified", format_iso8601(p.last_modified_ns)),
            el("ETag", p.etag),
            el("Size", str(p.size)),
            _checksum_elements(p.checksum),
        )
        for p in parts
    ]
    return render(
        s3_root(
            "ListPartsResult",
            el("Bucket", bucket),
            el("Key", key),
            el("UploadId", upload_id),
            el("PartNumberMarker", str(part_number_marker)),
            el("NextPartNumberMarker", str(next_part_number_marker))
            if next_part_number_marker is not None
            else None,
            el("MaxParts", str(max_parts)),
            el("IsTruncated", "true" if is_truncated else "false"),
            *entries,
            el("Initiator", el("ID", owner_id), el("DisplayName", owner_display_name)),
            _owner(owner_id, owner_display_name),
            el("StorageClass", "STANDARD"),
            el("ChecksumAlgorithm", checksum_algorithm) if checksum_algorithm else None,
            el("ChecksumType", checksum_type) if checksum_type else None,
        )
    )


@dataclass(frozen=True)
class ListedUpload:
    key: str  # as it goes on the wire (already URL-encoded if asked)
    upload_id: str
    initiated_ns: int
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


def list_multipart_uploads_xml(
    *,
    bucket: str,
    key_marker: str,
    upload_id_marker: str,
    next_key_marker: str | None,
    next_upload_id_marker: str | None,
    prefix: str,
    delimiter: str | None,
    max_uploads: int,
    is_truncated: bool,
    uploads: Sequence[ListedUpload],
    common_prefixes: Sequence[str],
    owner_id: str,
    owner_display_name: str,
    encoding_type: str | None,
) -> bytes:
    """ListMultipartUploadsResult, elements in botocore's order (strings given
    already URL-encoded when `encoding_type` is "url")."""
    entries = [
        el(
            "Upload",
            el("Key", u.key),
            el("UploadId", u.upload_id),
            el("Initiator", el("ID", owner_id), el("DisplayName", owner_display_name)),
            _owner(owner_id, owner_display_name),
            el("StorageClass", "STANDARD"),
            el("Initiated", format_iso8601(u.initiated_ns)),
            el("ChecksumAlgorithm", u.checksum_algorithm) if u.checksum_algorithm else None,
            el("ChecksumType", u.checksum_type) if u.checksum_type else None,
        )
        for u in uploads
    ]
    return render(
        s3_root(
            "ListMultipartUploadsResult",
            el("Bucket", bucket),
            el("KeyMarker", key_marker),
            el("UploadIdMarker", upload_id_marker),
            el("NextKeyMarker", next_key_marker) if next_key_marker is not None else None,
            el("NextUploadIdMarker", next_upload_id_marker)
            if next_upload_id_marker is not None
            else None,
            el("Prefix", prefix),
            el("Delimiter", delimiter) if delimiter is not None else None,
            el("MaxUploads", str(max_uploads)),
            el("IsTruncated", "true" if is_truncated else "false"),
            *entries,
            *(el("CommonPrefixes", el("Prefix", p)) for p in common_prefixes),
            el("EncodingType", encoding_type) if encoding_type else None,
        )
    )


# -- server-side copy -----------------------------------------------------------


def _copy_result(
    root: str,
    *,
    etag: str,
    last_modified_ns: int,
    checksum: tuple[str, str] | None,
    checksum_type: str | None,
) -> bytes:
    return render(
        s3_root(
            root,
            el("ETag", etag),
            el("LastModified", format_iso8601(last_modified_ns)),
            el("ChecksumType", checksum_type) if checksum_type else None,
            _checksum_elements(checksum),
        )
    )


def copy_object_result_xml(
    *,
    etag: str,
    last_modified_ns: int,
    checksum: tuple[str, str] | None,
    checksum_type: str | None,
) -> bytes:
    """CopyObjectResult; `etag` quoted, `checksum` (algorithm, text) of the new object."""
    return _copy_result(
        "CopyObjectResult",
        etag=etag,
        last_modified_ns=last_modified_ns,
        checksum=checksum,
        checksum_type=checksum_type,
    )


def copy_part_result_xml(
    *, etag: str, last_modified_ns: int, checksum: tuple[str, str] | None
) -> bytes:
    """CopyPartResult (UploadPartCopy); `etag` quoted, `checksum` (algorithm, text)
    of the part (S3's CopyPartResult has no ChecksumType)."""
    return _copy_result(
        "CopyPartResult",
        etag=etag,
        last_modified_ns=last_modified_ns,
        checksum=checksum,
        checksum_type=None,
    )


# -- batch delete (DeleteObjects) ------------------------------------------------

# S3's limit on the keys of one DeleteObjects request (more is MalformedXML).
DELETE_OBJECTS_KEYS_MAX = 1000
# 1000 keys of 1024 bytes must fit however a client escapes them: a byte
# written as ``&quot;`` takes 6, plus each Object's own markup and VersionId.
DELETE_XML_MAX_BYTES = 8 << 20
# Child elements of an ``<Object>`` that only S3 directory buckets act on.
DIRECTORY_BUCKET_CONDITIONS = ("LastModifiedTime", "Size")
_OBJECT_ELEMENTS = frozenset({"Key", "VersionId", "ETag", *DIRECTORY_BUCKET_CONDITIONS})
_XML_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class ObjectToDelete:
    """One ``<Object>`` of a DeleteObjects body.

    Attributes:
      key: the key exactly as sent (never stripped: spaces are key bytes).
      version_id: the VersionId text, None when the element is absent.
      etag: the ETag condition as sent (quotes and all; ``*`` is any), None
        when absent.
    """

    key: str
    version_id: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class DeleteObjectsRequest:
    """A parsed DeleteObjects body: the objects in order, and Quiet mode."""

    objects: tuple[ObjectToDelete, ...]
    quiet: bool = False


def _only_text(element: ET.Element) -> str:
    """The text of an element that may hold no child elements (MalformedXML otherwise)."""
    if len(element):
        raise S3Error("MalformedXML")
    return element.text or ""


def parse_delete_objects(
    body: bytes, *, max_bytes: int = DELETE_XML_MAX_BYTES
) -> DeleteObjectsRequest:
    """The objects and mode of a DeleteObjects (``POST /bucket?delete``) body.

    Key and VersionId are taken byte for byte; Quiet is an xs:boolean.

    Raises:
      S3Error("MalformedXML"): as `parse_xml`; another root; no Object or more
        than 1000; an Object with no Key, an empty Key, a repeated or unknown
        element; a Quiet that is not a boolean or is repeated; other elements
        under Delete.
      S3Error("NotImplemented"): an Object with LastModifiedTime or Size
        (conditions S3 has only for directory buckets).
    """
    root = parse_xml(body, max_bytes=max_bytes)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    objects: list[ObjectToDelete] = []
    quiet: bool | None = None
    for child in root:
        if child.tag == "Object":
            if len(objects) == DELETE_OBJECTS_KEYS_MAX:
                raise S3Error("MalformedXML")
            objects.append(_object_to_delete(child))
        elif child.tag == "Quiet" and quiet is None:
            value = _XML_BOOLEANS.get(_only_text(child).strip())
            if value is None:
                raise S3Error("MalformedXML")
            quiet = value
        else:
            raise S3Error("MalformedXML")
    if not objects:
        raise S3Error("MalformedXML")
    return DeleteObjectsRequest(tuple(objects), bool(quiet))


def _object_to_delete(element: ET.Element) -> ObjectToDelete:
    fields: dict[str, str] = {}
    for child in element:
        if child.tag not in _OBJECT_ELEMENTS or child.tag in fields:
            raise S3Error("MalformedXML")
        fields[child.tag] = _only_text(child)
    for name in DIRECTORY_BUCKET_CONDITIONS:
        if name in fields:
            raise S3Error(
                "NotImplemented",
                message=f"DeleteObjects with {name} is not supported by this server.",
            )
    key = fields.get("Key")
    if not key:
        raise S3Error("MalformedXML")
    return ObjectToDelete(key, fields.get("VersionId"), fields.get("ETag"))


@dataclass(frozen=True)
class DeletedObject:
    """A ``<Deleted>`` entry: the key, and the VersionId the request named (if any)."""

    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class DeleteFailure:
    """An ``<Error>`` entry of a DeleteResult: the key, the VersionId the
    request named (if any), S3's error code and message."""

    key: str
    version_id: str | None
    code: str
    message: str


def delete_result_xml(
    outcomes: Sequence[DeletedObject | DeleteFailure], *, quiet: bool
) -> bytes:
    """DeleteResult with one entry per outcome, in the order given; in Quiet
    mode only the failures (an all-successful Quiet request is an empty result)."""
    entries: list[Element] = []
    for outcome in outcomes:
        version = el("VersionId", outcome.version_id) if outcome.version_id is not None else None
        if isinstance(outcome, DeleteFailure):
            entries.append(
                el(
                    "Error",
                    el("Key", outcome.key),
                    version,
                    el("Code", outcome.code),
                    el("Message", outcome.message),
                )
            )
        elif not quiet:
            entries.append(el("Deleted", el("Key", outcome.key), version))
    return render(s3_root("DeleteResult", *entries))


# -- listing: ListObjects, ListObjectsV2, ListObjectVersions ---------------------
# Element order as S3 writes them (parsers look elements up by name). Every
# key, prefix and marker is given as it goes on the wire: already URL-encoded
# by the caller when the request asked for encoding-type=url.


class ListedObject(NamedTuple):
    """One object of a listing page (a named tuple: a page builds 1,000)."""

    key: str  # as on the wire
    last_modified_ns: int
    etag: str  # quoted
    size: int
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _optional(name: str, value: str | None) -> Element | None:
    return el(name, value) if value is not None else None


def _listed_checksum(o: ListedObject) -> tuple[Element | None, Element | None]:
    return _optional("ChecksumAlgorithm", o.checksum_algorithm), _optional(
        "ChecksumType", o.checksum_type
    )


def listed_object_element(o: ListedObject, owner: Element | None) -> Element:
    """One ``Contents`` entry of a listing as an element: the reference for
    `_contents` (which writes the same text directly, for speed)."""
    return el(
        "Contents",
        el("Key", o.key),
        el("LastModified", format_iso8601(o.last_modified_ns)),
        el("ETag", o.etag),
        *_listed_checksum(o),
        el("Size", str(o.size)),
        owner,
        el("StorageClass", "STANDARD"),
    )


def listed_version_element(o: ListedObject, owner: Element) -> Element:
    """One ``Version`` entry of ListObjectVersions as an element: the
    reference for `_versions`."""
    return el(
        "Version",
        el("Key", o.key),
        el("VersionId", "null"),
        el("IsLatest", "true"),
        el("LastModified", format_iso8601(o.last_modified_ns)),
        el("ETag", o.etag),
        *_listed_checksum(o),
        el("Size", str(o.size)),
        el("StorageClass", "STANDARD"),
        owner,
    )


def _checksum_text(o: ListedObject) -> str:
    text = ""
    if o.checksum_algorithm is not None:
        text = f"<ChecksumAlgorithm>{escape_text(o.checksum_algorithm)}</ChecksumAlgorithm>"
    if o.checksum_type is not None:
        text += f"<ChecksumType>{escape_text(o.checksum_type)}</ChecksumType>"
    return text


def _contents(objects: Sequence[ListedObject], owner: Element | None) -> Markup:
    """The ``Contents`` entries, as `listed_object_element` renders each."""
    owner_text = render_fragment(owner) if owner is not None else ""
    return Markup(
        "".join(
            [
                f"<Contents><Key>{escape_text(o.key)}</Key>"
                f"<LastModified>{format_iso8601(o.last_modified_ns)}</LastModified>"
                f"<ETag>{escape_text(o.etag)}</ETag>{_checksum_text(o)}"
                f"<Size>{o.size}</Size>{owner_text}<StorageClass>STANDARD</StorageClass>"
                "</Contents>"
                for o in objects
            ]
        )
    )


def _versions(objects: Sequence[ListedObject], owner: Element) -> Markup:
    """The ``Version`` entries, as `listed_version_element` renders each."""
    owner_text = render_fragment(owner)
    return Markup(
        "".join(
            [
                f"<Version><Key>{escape_text(o.key)}</Key><VersionId>null</VersionId>"
                "<IsLatest>true</IsLatest>"
                f"<LastModified>{format_iso8601(o.last_modified_ns)}</LastModified>"
                f"<ETag>{escape_text(o.etag)}</ETag>{_checksum_text(o)}"
                f"<Size>{o.size}</Size><StorageClass>STANDARD</StorageClass>{owner_text}"
                "</Version>"
                for o in objects
            ]
        )
    )


def _common_prefixes(prefixes: Sequence[str]) -> Markup:
    return Markup(
        "".join(
            [
                f"<CommonPrefixes><Prefix>{escape_text(p)}</Prefix></CommonPrefixes>"
                for p in prefixes
            ]
        )
    )


def list_objects_xml(
    *,
    bucket: str,
    prefix: str,
    marker: str,
    next_marker: str | None,
    max_keys: int,
    delimiter: str | None,
    is_truncated: bool,
    encoding_type: str | None,
    contents: Sequence[ListedObject],
    common_prefixes: Sequence[str],
    owner: tuple[str, str],
) -> bytes:
    """ListBucketResult of ListObjects (v1); every Contents has its Owner, as in S3."""
    owner_el = _owner(*owner)
    return render(
        s3_root(
            "ListBucketResult",
            el("Name", bucket),
            el("Prefix", prefix),
            el("Marker", marker),
            _optional("NextMarker", next_marker),
            el("MaxKeys", str(max_keys)),
            _optional("Delimiter", delimiter),
            _optional("EncodingType", encoding_type),
            el("IsTruncated", _bool(is_truncated)),
            _contents(contents, owner_el),
            _common_prefixes(common_prefixes),
        )
    )


def list_objects_v2_xml(
    *,
    bucket: str,
    prefix: str,
    continuation_token: str | None,
    next_continuation_token: str | None,
    key_count: int,
    max_keys: int,
    delimiter: str | None,
    start_after: str | None,
    is_truncated: bool,
    encoding_type: str | None,
    contents: Sequence[ListedObject],
    common_prefixes: Sequence[str],
    owner: tuple[str, str] | None,
) -> bytes:
    """ListBucketResult of ListObjectsV2; Owner in Contents only when given (fetch-owner)."""
    owner_el = _owner(*owner) if owner is not None else None
    return render(
        s3_root(
            "ListBucketResult",
            el("Name", bucket),
            el("Prefix", prefix),
            _optional("ContinuationToken", continuation_token),
            _optional("NextContinuationToken", next_continuation_token),
            el("KeyCount", str(key_count)),
            el("MaxKeys", str(max_keys)),
            _optional("Delimiter", delimiter),
            _optional("StartAfter", start_after),
            _optional("EncodingType", encoding_type),
            el("IsTruncated", _bool(is_truncated)),
            _contents(contents, owner_el),
            _common_prefixes(common_prefixes),
        )
    )


def list_object_versions_xml(
    *,
    bucket: str,
    prefix: str,
    key_marker: str,
    version_id_marker: str,
    next_key_marker: str | None,
    next_version_id_marker: str | None,
    max_keys: int,
    delimiter: str | None,
    is_truncated: bool,
    encoding_type: str | None,
    versions: Sequence[ListedObject],
    common_prefixes: Sequence[str],
    owner: tuple[str, str],
) -> bytes:
    """ListVersionsResult of a bucket that was never versioned: each object is
    its only version, VersionId ``null``, IsLatest true; no DeleteMarker."""
    owner_el = _owner(*owner)
    return render(
        s3_root(
            "ListVersionsResult",
            el("Name", bucket),
            el("Prefix", prefix),
            el("KeyMarker", key_marker),
            el("VersionIdMarker", version_id_marker),
            _optional("NextKeyMarker", next_key_marker),
            _optional("NextVersionIdMarker", next_version_id_marker),
            el("MaxKeys", str(max_keys)),
            _optional("Delimiter", delimiter),
            _optional("EncodingType", encoding_type),
            el("IsTruncated", _bool(is_truncated)),
            _versions(versions, owner_el),
            _common_prefixes(common_prefixes),
        )
    )


def empty_tagging_xml() -> bytes:
    """GetObjectTagging for an object without tags (objects here never have
    any: x-amz-tagging is refused). The aws CLI asks for the source's tags
    before every multipart copy (``aws s3 cp s3://b/k s3://b/k2`` of 8 MiB
    or more) and stops if it gets no answer."""
    return render(s3_root("Tagging", el("TagSet")))
