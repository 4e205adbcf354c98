"""XML rendering (escaping, S3's documents) and safe parsing of request bodies."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.s3.xml import (
    PROLOG,
    S3_NS,
    acl_xml,
    el,
    error_xml,
    escape_text,
    list_buckets_xml,
    location_xml,
    parse_create_bucket_configuration,
    parse_xml,
    render,
    s3_root,
    versioning_xml,
)

NS = "{" + S3_NS + "}"


def test_error_xml_layout() -> None:
    body = error_xml(
        "NoSuchBucket",
        "The specified bucket does not exist",
        "/photos",
        "4442587FB7D0A2F9",
        {"BucketName": "photos"},
    )
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>"
        b"<BucketName>photos</BucketName><Resource>/photos</Resource>"
        b"<RequestId>4442587FB7D0A2F9</RequestId><HostId></HostId></Error>"
    )
    root = ET.fromstring(body)
    assert root.tag == "Error"  # no namespace, like S3
    assert [c.tag for c in root] == [
        "Code",
        "Message",
        "BucketName",
        "Resource",
        "RequestId",
        "HostId",
    ]


def test_error_xml_without_resource_and_with_host_id() -> None:
    root = ET.fromstring(error_xml("AccessDenied", "Access Denied", "", "R", {}, host_id="H"))
    assert [c.tag for c in root] == ["Code", "Message", "RequestId", "HostId"]
    assert root.findtext("HostId") == "H"


def test_error_xml_escapes_everything() -> None:
    key = "a<b>&\"c'\r\n\t"
    root = ET.fromstring(error_xml("NoSuchKey", "m & m", "/b/" + key, "R", {"Key": key}))
    assert root.findtext("Key") == key
    assert root.findtext("Resource") == "/b/" + key
    assert root.findtext("Message") == "m & m"


def test_list_buckets_xml() -> None:
    body = list_buckets_xml(
        "owner-id", "me", [("alpha", 1255369830 * 10**9 + 123_456_789), ("beta", 0)]
    )
    assert body.startswith(PROLOG)
    root = ET.fromstring(body)
    assert root.tag == NS + "ListAllMyBucketsResult"
    assert root.findtext(f"{NS}Owner/{NS}ID") == "owner-id"
    assert root.findtext(f"{NS}Owner/{NS}DisplayName") == "me"
    buckets = root.findall(f"{NS}Buckets/{NS}Bucket")
    assert [(b.findtext(NS + "Name"), b.findtext(NS + "CreationDate")) for b in buckets] == [
        ("alpha", "2009-10-12T17:50:30.123Z"),
        ("beta", "1970-01-01T00:00:00.000Z"),
    ]
    assert buckets[0].find(NS + "BucketRegion") is None


def test_list_buckets_xml_empty_and_with_region() -> None:
    root = ET.fromstring(list_buckets_xml("i", "n", []))
    buckets = root.find(NS + "Buckets")
    assert buckets is not None and len(buckets) == 0
    root = ET.fromstring(list_buckets_xml("i", "n", [("b", 0)], region="us-east-1"))
    assert root.findtext(f"{NS}Buckets/{NS}Bucket/{NS}BucketRegion") == "us-east-1"


def test_location_xml() -> None:
    assert location_xml("us-east-1") == PROLOG + (
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
    )
    assert location_xml("") == location_xml("us-east-1")
    root = ET.fromstring(location_xml("eu-west-1"))
    assert root.tag == NS + "LocationConstraint" and root.text == "eu-west-1"


def test_versioning_and_acl_xml() -> None:
    root = ET.fromstring(versioning_xml())
    assert root.tag == NS + "VersioningConfiguration" and len(root) == 0
    root = ET.fromstring(acl_xml("oid", "me"))
    assert root.tag == NS + "AccessControlPolicy"
    grant = root.find(f"{NS}AccessControlList/{NS}Grant")
    assert grant is not None
    assert grant.findtext(NS + "Permission") == "FULL_CONTROL"
    grantee = grant.find(NS + "Grantee")
    assert grantee is not None
    assert grantee.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "CanonicalUser"
    assert grantee.findtext(NS + "ID") == "oid"


def test_builder() -> None:
    doc = render(s3_root("R", el("A", "x"), None, el("B"), el("C", el("D", "1"), "t")))
    assert doc == PROLOG + (
        b'<R xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><A>x</A><B></B><C><D>1</D>t</C></R>'
    )


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("a&b<c>d", "a&amp;b&lt;c&gt;d"),
        ('"', "&quot;"),
        ("'", "'"),
        ("\t\n", "\t\n"),
        ("\r", "&#xD;"),
        ("\x00\x01\x1f", "&#x0;&#x1;&#x1F;"),  # as S3 writes them
        ("\ufffe\uffff", "&#xFFFE;&#xFFFF;"),
        ("\ud800", "&#xD800;"),
        ("é\U0001f439", "é\U0001f439"),
    ],
)
def test_escape_text(text: str, escaped: str) -> None:
    assert escape_text(text) == escaped


xml_chars = st.characters(
    exclude_categories=["Cs"],
    exclude_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"
    "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff",
)


@given(st.text(xml_chars))
def test_any_xml_text_round_trips(text: str) -> None:
    doc = render(s3_root("R", el("Key", text)))
    assert (ET.fromstring(doc).findtext(NS + "Key") or "") == text
    parsed = parse_xml(doc).findtext("Key")
    assert (parsed or "") == text


@given(st.text())
def test_any_text_renders_to_utf8_without_raw_invalid_chars(text: str) -> None:
    doc = render(el("K", text))
    body = doc.decode("utf-8")
    for bad in ("\x00", "\x01", "\x1f", "\ufffe", "\r"):
        assert bad not in body


# -- parsing ----------------------------------------------------------------------


def test_parse_strips_s3_namespace() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>"
        b"<Object><Key>sample2.txt</Key><VersionId>null</VersionId></Object></Delete>"
    )
    root = parse_xml(body)
    assert root.tag == "Delete"
    assert root.findtext("Quiet") == "true"
    assert [o.findtext("Key") for o in root.findall("Object")] == ["a&b", "sample2.txt"]


def test_parse_without_namespace_and_keeps_others() -> None:
    root = parse_xml(b'<Delete><x:Other xmlns:x="urn:x">1</x:Other></Delete>')
    assert root.tag == "Delete"
    assert root[0].tag == "{urn:x}Other"


def test_parse_keeps_whitespace_in_text() -> None:
    root = parse_xml(b"<Delete><Object><Key> a\tb </Key></Object></Delete>")
    assert root.findtext("Object/Key") == " a\tb "


def test_parse_character_references() -> None:
    root = parse_xml(b"<K>&#xE9;&#233;&#xD;</K>")
    assert root.text == "éé\r"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Delete><Object><Key>&lol3;</Key></Object></Delete>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CreateBucketConfiguration><LocationConstraint>&xxe;</LocationConstraint></CreateBucketConfiguration>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE foo SYSTEM "http://example.com/evil.dtd">
<Delete/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://example.com/p.dtd"> %p;]>
<Delete/>"""


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"not xml",
        b"<Delete>",
        b"<Delete></Other>",
        b"<a/><b/>",
        b"<K>&undefined;</K>",
        b"<K>&#x1;</K>",
        b"<K>\xff</K>",
        BILLION_LAUGHS,
        XXE,
        EXTERNAL_DTD,
        PARAMETER_ENTITY,
        b"<!DOCTYPE Delete><Delete/>",
        b"<a>" * 40 + b"</a>" * 40,  # too deep
    ],
)
def test_parse_refuses(body: bytes) -> None:
    with pytest.raises(S3Error) as info:
        parse_xml(body)
    assert info.value.code == "MalformedXML"
    assert info.value.status == 400


def nested(depth: int, *, before: bytes = b"") -> bytes:
    """`depth` elements, each inside the one before, after `before` in the first."""
    return b"<r>" + before + b"<a>" * (depth - 1) + b"</a>" * (depth - 1) + b"</r>"


def test_parse_depth_limit_is_32() -> None:
    assert parse_xml(nested(32)).tag == "r"
    with pytest.raises(S3Error) as info:
        parse_xml(nested(33))
    assert info.value.code == "MalformedXML"


def test_parse_depth_counts_closed_elements_out() -> None:
    """Depth is the nesting now, not the elements seen: siblings don't add up."""
    siblings = b"<s><t/></s>" * 40
    assert len(parse_xml(nested(32, before=siblings))) == 41
    with pytest.raises(S3Error):
        parse_xml(nested(33, before=siblings))
    # After <c/> closes inside <r><b>, the next element is at depth 3 again.
    assert parse_xml(b"<r><b><c/>" + b"<a>" * 30 + b"</a>" * 30 + b"</b></r>").tag == "r"
    with pytest.raises(S3Error):
        parse_xml(b"<r><b><c/>" + b"<a>" * 31 + b"</a>" * 31 + b"</b></r>")


def test_parse_attributes() -> None:
    root = parse_xml(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/" xmlns:x="urn:x" '
        b'a="1" x:b="2"><Object k="v"/></Delete>'
    )
    assert root.attrib == {"a": "1", "{urn:x}b": "2"}
    assert root[0].tag == "Object" and root[0].attrib == {"k": "v"}


def test_parse_refuses_too_large() -> None:
    body = b"<Delete>" + b" " * 100 + b"</Delete>"
    parse_xml(body, max_bytes=len(body))
    with pytest.raises(S3Error) as info:
        parse_xml(body, max_bytes=len(body) - 1)
    assert info.value.code == "MalformedXML"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b"  \r\n", None),
        (
            b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
            "eu-west-1",
        ),
        (
            b"<CreateBucketConfiguration><LocationConstraint> us-west-2 "
            b"</LocationConstraint></CreateBucketConfiguration>",
            "us-west-2",
        ),
        (b"<CreateBucketConfiguration/>", None),
        (b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>", ""),
    ],
)
def test_parse_create_bucket_configuration(body: bytes, expected: str | None) -> None:
    assert parse_create_bucket_configuration(body) == expected


@pytest.mark.parametrize("body", [b"<Delete/>", b"<CreateBucketConfiguration>", XXE])
def test_parse_create_bucket_configuration_refuses(body: bytes) -> None:
    with pytest.raises(S3Error) as info:
        parse_create_bucket_configuration(body)
    assert info.value.code == "MalformedXML"
