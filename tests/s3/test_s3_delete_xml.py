"""DeleteObjects XML: parsing the Delete body (as botocore writes it, and
malformed), and the DeleteResult document as botocore's parser reads it."""

from __future__ import annotations

import hashlib
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from hamster.s3.errors import S3Error
from hamster.s3.xml import (
    DELETE_OBJECTS_KEYS_MAX,
    DELETE_XML_MAX_BYTES,
    DeletedObject,
    DeleteFailure,
    DeleteObjectsRequest,
    ObjectToDelete,
    delete_result_xml,
    parse_delete_objects,
)

MODEL = botocore.session.get_session().get_service_model("s3")
SPECIAL_KEYS = ["a+b", "100%", "with space", "é/ü/日本", "&<>\"'", " lead and trail ", "a/b//c"]


def botocore_body(delete: dict[str, Any]) -> bytes:
    op = MODEL.operation_model("DeleteObjects")
    request = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "Delete": delete}, op
    )
    body: bytes = request["body"]
    return body


def botocore_parse(body: bytes) -> Any:
    op = MODEL.operation_model("DeleteObjects")
    return create_parser("rest-xml").parse(
        {"status_code": 200, "headers": {}, "body": body}, op.output_shape
    )


def key_of(n: int, size: int = 40) -> str:
    """A distinct key per n, its characters derived from n (no two alike)."""
    return (str(n) + "-" + hashlib.sha256(str(n).encode()).hexdigest() * 32)[:size]


def test_parses_what_botocore_sends() -> None:
    body = botocore_body(
        {
            "Objects": [{"Key": k} for k in SPECIAL_KEYS]
            + [{"Key": "v", "VersionId": "null"}, {"Key": "e", "ETag": '"abc"'}],
            "Quiet": True,
        }
    )
    assert parse_delete_objects(body) == DeleteObjectsRequest(
        (
            *(ObjectToDelete(k) for k in SPECIAL_KEYS),
            ObjectToDelete("v", version_id="null"),
            ObjectToDelete("e", etag='"abc"'),
        ),
        quiet=True,
    )


def test_quiet_defaults_to_false_and_reads_xs_boolean() -> None:
    assert not parse_delete_objects(botocore_body({"Objects": [{"Key": "k"}]})).quiet
    assert not parse_delete_objects(
        botocore_body({"Objects": [{"Key": "k"}], "Quiet": False})
    ).quiet
    for text, quiet in (("true", True), (" 1 ", True), ("false", False), ("0", False)):
        body = f"<Delete><Quiet>{text}</Quiet><Object><Key>k</Key></Object></Delete>".encode()
        assert parse_delete_objects(body).quiet is quiet


def test_a_thousand_keys_of_1024_bytes_fit_even_fully_escaped() -> None:
    # Each key is 1024 bytes of '"', which a client may write as &quot; (6 bytes).
    objects = "".join(
        f"<Object><Key>{'&quot;' * 1020}{n:04d}</Key><VersionId>null</VersionId></Object>"
        for n in range(DELETE_OBJECTS_KEYS_MAX)
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>{objects}</Delete>'
    assert len(body) < DELETE_XML_MAX_BYTES
    parsed = parse_delete_objects(body.encode())
    assert len(parsed.objects) == DELETE_OBJECTS_KEYS_MAX
    assert parsed.objects[7].key == '"' * 1020 + "0007"
    assert all(len(o.key.encode()) == 1024 for o in parsed.objects)


def test_botocore_thousand_keys_of_1024_bytes() -> None:
    keys = [key_of(n, 1024) for n in range(DELETE_OBJECTS_KEYS_MAX)]
    parsed = parse_delete_objects(botocore_body({"Objects": [{"Key": k} for k in keys]}))
    assert [o.key for o in parsed.objects] == keys


def test_more_than_a_thousand_keys_is_malformed() -> None:
    body = botocore_body({"Objects": [{"Key": key_of(n)} for n in range(1001)]})
    with pytest.raises(S3Error) as e:
        parse_delete_objects(body)
    assert e.value.code == "MalformedXML"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  \n",
        b"<Delete>",
        b"not xml",
        b"<Delete></Delete>",
        b"<Delete><Quiet>true</Quiet></Delete>",
        b"<Other><Object><Key>k</Key></Object></Other>",
        b"<Delete><Object></Object></Delete>",
        b"<Delete><Object><Key></Key></Object></Delete>",
        b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
        b"<Delete><Object><Key>a<b/></Key></Object></Delete>",
        b"<Delete><Object><Key>a</Key><Colour>red</Colour></Object></Delete>",
        b"<Delete><Object><Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId>"
        b"</Object></Delete>",
        b"<Delete><Object><Key>a</Key></Object><Extra/></Delete>",
        b"<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>",
        b"<Delete><Quiet>true</Quiet><Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>",
        b"<Delete><Object><Key>a&#x1;</Key></Object></Delete>",
        b'<!DOCTYPE d [<!ENTITY x "y">]><Delete><Object><Key>&x;</Key></Object></Delete>',
        b'<Delete xmlns="http://example.com/other"><Object><Key>a</Key></Object></Delete>',
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(S3Error) as e:
        parse_delete_objects(body)
    assert e.value.code == "MalformedXML"


def test_too_large_is_malformed() -> None:
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    with pytest.raises(S3Error) as e:
        parse_delete_objects(body, max_bytes=len(body) - 1)
    assert e.value.code == "MalformedXML"
    assert parse_delete_objects(body, max_bytes=len(body)).objects == (ObjectToDelete("k"),)


@pytest.mark.parametrize("field", [{"Size": 3}, {"LastModifiedTime": "2020-01-01T00:00:00Z"}])
def test_directory_bucket_conditions_are_not_implemented(field: dict[str, Any]) -> None:
    body = botocore_body({"Objects": [{"Key": "k", **field}]})
    with pytest.raises(S3Error) as e:
        parse_delete_objects(body)
    assert e.value.code == "NotImplemented"
    [name] = field
    assert e.value.text == f"DeleteObjects with {name} is not supported by this server."


def test_keys_are_not_stripped_and_cdata_counts() -> None:
    body = b"<Delete>\n  <Object>\n    <Key>  k\t</Key>\n  </Object>\n" + (
        b"  <Object><Key><![CDATA[<&>]]></Key></Object></Delete>"
    )
    assert [o.key for o in parse_delete_objects(body).objects] == ["  k\t", "<&>"]


def test_result_read_by_botocore() -> None:
    outcomes: list[DeletedObject | DeleteFailure] = [
        DeletedObject("a&<>\"'"),
        DeleteFailure("v", "abc", "NoSuchVersion", "The specified version does not exist."),
        DeletedObject("n", "null"),
        DeletedObject("é 日本"),
    ]
    got = botocore_parse(delete_result_xml(outcomes, quiet=False))
    assert got["Deleted"] == [
        {"Key": "a&<>\"'"},
        {"Key": "n", "VersionId": "null"},
        {"Key": "é 日本"},
    ]
    assert got["Errors"] == [
        {
            "Key": "v",
            "VersionId": "abc",
            "Code": "NoSuchVersion",
            "Message": "The specified version does not exist.",
        }
    ]


def test_quiet_result_lists_only_failures() -> None:
    failure = DeleteFailure("k", None, "PreconditionFailed", "At least one ...")
    quiet = delete_result_xml([DeletedObject("a"), failure], quiet=True)
    got = botocore_parse(quiet)
    assert "Deleted" not in got
    assert got["Errors"] == [
        {"Key": "k", "Code": "PreconditionFailed", "Message": "At least one ..."}
    ]
    assert delete_result_xml([DeletedObject("a")], quiet=True) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
    )


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.sampled_from([None, "null", "v1"])),
        min_size=1,
        max_size=20,
    ),
    st.booleans(),
)
def test_round_trip_through_botocore(entries: list[tuple[str, str | None]], quiet: bool) -> None:
    objects = [{"Key": k} if v is None else {"Key": k, "VersionId": v} for k, v in entries]
    try:
        parsed = parse_delete_objects(botocore_body({"Objects": objects, "Quiet": quiet}))
    except S3Error as e:  # characters XML 1.0 cannot carry, sent raw by botocore
        assert e.code == "MalformedXML"
        return
    # XML parsers turn CR and CRLF into LF (S3's documented key caveat).
    sent = [(k.replace("\r\n", "\n").replace("\r", "\n"), v) for k, v in entries]
    assert [(o.key, o.version_id) for o in parsed.objects] == sent
    assert parsed.quiet is quiet
    # Whatever we parsed comes back to botocore exactly, CR included.
    outcomes = [DeletedObject(k, v) for k, v in entries]
    got = botocore_parse(delete_result_xml(outcomes, quiet=False))
    assert [(d["Key"], d.get("VersionId")) for d in got["Deleted"]] == entries
