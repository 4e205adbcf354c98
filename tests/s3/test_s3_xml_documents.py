"""Every XML document Hamster renders, compared whole to the bytes S3 sends.

Each test fills every field with a distinct value (so a field written in the
wrong element, dropped or swapped shows), once with every optional element
present and once with all of them absent, and compares the entire document:
element names, namespaces, order, booleans, numbers and timestamps.
"""

from __future__ import annotations

import re

from hamster.s3.xml import (
    PROLOG,
    ListedObject,
    ListedPart,
    ListedUpload,
    acl_xml,
    complete_multipart_upload_xml,
    copy_object_result_xml,
    copy_part_result_xml,
    empty_tagging_xml,
    initiate_multipart_upload_xml,
    list_multipart_uploads_xml,
    list_object_versions_xml,
    list_objects_v2_xml,
    list_objects_xml,
    list_parts_xml,
    location_xml,
    versioning_xml,
)

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
# 2023-11-14T22:13:20.123456789Z; each field below uses its own millisecond.
T0 = 1_700_000_000_123_456_789
MS = 1_000_000
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
OWNER_NAME = "alice"
OWNER = f"<Owner><ID>{OWNER_ID}</ID><DisplayName>alice</DisplayName></Owner>"
INITIATOR = f"<Initiator><ID>{OWNER_ID}</ID><DisplayName>alice</DisplayName></Initiator>"


def document(text: str) -> bytes:
    """`text` (indented for reading) as the bytes of an S3 document: the prolog,
    then the elements with no whitespace between tags."""
    return PROLOG + re.sub(r">\s+<", "><", text.strip()).encode("utf-8")


# -- small documents --------------------------------------------------------------


def test_location() -> None:
    assert location_xml("eu-west-1") == document(
        f"<LocationConstraint {NS}>eu-west-1</LocationConstraint>"
    )
    assert location_xml("us-east-1") == document(f"<LocationConstraint {NS}/>")
    assert location_xml("") == document(f"<LocationConstraint {NS}/>")


def test_versioning_never_enabled() -> None:
    assert versioning_xml() == document(f"<VersioningConfiguration {NS}/>")


def test_empty_tagging() -> None:
    assert empty_tagging_xml() == document(f"<Tagging {NS}><TagSet></TagSet></Tagging>")


def test_acl_owner_full_control() -> None:
    assert acl_xml(OWNER_ID, "Ms & Mr <Owner>") == document(
        f"""
        <AccessControlPolicy {NS}>
          <Owner><ID>{OWNER_ID}</ID><DisplayName>Ms &amp; Mr &lt;Owner&gt;</DisplayName></Owner>
          <AccessControlList>
            <Grant>
              <Grantee {XSI} xsi:type="CanonicalUser">
                <ID>{OWNER_ID}</ID><DisplayName>Ms &amp; Mr &lt;Owner&gt;</DisplayName>
              </Grantee>
              <Permission>FULL_CONTROL</Permission>
            </Grant>
          </AccessControlList>
        </AccessControlPolicy>
        """
    )


# -- multipart ----------------------------------------------------------------------


def test_initiate_multipart_upload() -> None:
    assert initiate_multipart_upload_xml("photos", "2024/a&b.jpg", "VXBsb2FkSUQ") == document(
        f"""
        <InitiateMultipartUploadResult {NS}>
          <Bucket>photos</Bucket><Key>2024/a&amp;b.jpg</Key><UploadId>VXBsb2FkSUQ</UploadId>
        </InitiateMultipartUploadResult>
        """
    )


def test_complete_multipart_upload_with_checksum() -> None:
    body = complete_multipart_upload_xml(
        location="http://photos.s3.example/2024/a.jpg",
        bucket="photos",
        key="2024/a.jpg",
        etag='"3858f62230ac3c915f300c664312c11f-2"',
        checksum=("SHA256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=-2"),
        checksum_type="COMPOSITE",
    )
    assert body == document(
        f"""
        <CompleteMultipartUploadResult {NS}>
          <Location>http://photos.s3.example/2024/a.jpg</Location>
          <Bucket>photos</Bucket>
          <Key>2024/a.jpg</Key>
          <ETag>&quot;3858f62230ac3c915f300c664312c11f-2&quot;</ETag>
          <ChecksumSHA256>n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=-2</ChecksumSHA256>
          <ChecksumType>COMPOSITE</ChecksumType>
        </CompleteMultipartUploadResult>
        """
    )


def test_complete_multipart_upload_each_checksum_element() -> None:
    for algorithm, element in [
        ("CRC32", "ChecksumCRC32"),
        ("CRC32C", "ChecksumCRC32C"),
        ("CRC64NVME", "ChecksumCRC64NVME"),
        ("SHA1", "ChecksumSHA1"),
        ("SHA256", "ChecksumSHA256"),
    ]:
        body = complete_multipart_upload_xml(
            location="/b/k",
            bucket="b",
            key="k",
            etag='"e-3"',
            checksum=(algorithm, "AAAA"),
            checksum_type="FULL_OBJECT",
        )
        assert f"<ETag>&quot;e-3&quot;</ETag><{element}>AAAA</{element}>".encode() in body


def test_complete_multipart_upload_without_checksum() -> None:
    body = complete_multipart_upload_xml(
        location="/photos/k",
        bucket="photos",
        key="k",
        etag='"e-1"',
        checksum=None,
        checksum_type=None,
    )
    assert body == document(
        f"""
        <CompleteMultipartUploadResult {NS}>
          <Location>/photos/k</Location><Bucket>photos</Bucket><Key>k</Key>
          <ETag>&quot;e-1&quot;</ETag>
        </CompleteMultipartUploadResult>
        """
    )
    empty_type = complete_multipart_upload_xml(
        location="/photos/k",
        bucket="photos",
        key="k",
        etag='"e-1"',
        checksum=None,
        checksum_type="",
    )
    assert empty_type == body


def test_list_parts_truncated_with_checksums() -> None:
    body = list_parts_xml(
        bucket="photos",
        key="big.bin",
        upload_id="VXBsb2Fk",
        part_number_marker=3,
        next_part_number_marker=9,
        max_parts=2,
        is_truncated=True,
        parts=[
            ListedPart(5, T0 + 1 * MS, '"e5"', 5_242_880, ("CRC32C", "yZRlqg==")),
            ListedPart(9, T0 + 2 * MS, '"e9"', 1_048_577),
        ],
        owner_id=OWNER_ID,
        owner_display_name=OWNER_NAME,
        checksum_algorithm="CRC32C",
        checksum_type="COMPOSITE",
    )
    assert body == document(
        f"""
        <ListPartsResult {NS}>
          <Bucket>photos</Bucket>
          <Key>big.bin</Key>
          <UploadId>VXBsb2Fk</UploadId>
          <PartNumberMarker>3</PartNumberMarker>
          <NextPartNumberMarker>9</NextPartNumberMarker>
          <MaxParts>2</MaxParts>
          <IsTruncated>true</IsTruncated>
          <Part>
            <PartNumber>5</PartNumber>
            <LastModified>2023-11-14T22:13:20.124Z</LastModified>
            <ETag>&quot;e5&quot;</ETag>
            <Size>5242880</Size>
            <ChecksumCRC32C>yZRlqg==</ChecksumCRC32C>
          </Part>
          <Part>
            <PartNumber>9</PartNumber>
            <LastModified>2023-11-14T22:13:20.125Z</LastModified>
            <ETag>&quot;e9&quot;</ETag>
            <Size>1048577</Size>
          </Part>
          {INITIATOR}
          {OWNER}
          <StorageClass>STANDARD</StorageClass>
          <ChecksumAlgorithm>CRC32C</ChecksumAlgorithm>
          <ChecksumType>COMPOSITE</ChecksumType>
        </ListPartsResult>
        """
    )


def test_list_parts_last_page_without_checksums() -> None:
    body = list_parts_xml(
        bucket="photos",
        key="big.bin",
        upload_id="VXBsb2Fk",
        part_number_marker=0,
        next_part_number_marker=None,
        max_parts=1000,
        is_truncated=False,
        parts=[],
        owner_id=OWNER_ID,
        owner_display_name=OWNER_NAME,
        checksum_algorithm=None,
        checksum_type=None,
    )
    assert body == document(
        f"""
        <ListPartsResult {NS}>
          <Bucket>photos</Bucket><Key>big.bin</Key><UploadId>VXBsb2Fk</UploadId>
          <PartNumberMarker>0</PartNumberMarker>
          <MaxParts>1000</MaxParts>
          <IsTruncated>false</IsTruncated>
          {INITIATOR}
          {OWNER}
          <StorageClass>STANDARD</StorageClass>
        </ListPartsResult>
        """
    )
    empty = list_parts_xml(
        bucket="photos",
        key="big.bin",
        upload_id="VXBsb2Fk",
        part_number_marker=0,
        next_part_number_marker=None,
        max_parts=1000,
        is_truncated=False,
        parts=[],
        owner_id=OWNER_ID,
        owner_display_name=OWNER_NAME,
        checksum_algorithm="",
        checksum_type="",
    )
    assert empty == body


def test_list_multipart_uploads_truncated() -> None:
    body = list_multipart_uploads_xml(
        bucket="photos",
        key_marker="a/0",
        upload_id_marker="VXAx",
        next_key_marker="a/2",
        next_upload_id_marker="VXAz",
        prefix="a/",
        delimiter="/",
        max_uploads=3,
        is_truncated=True,
        uploads=[
            ListedUpload("a/1", "VXAy", T0 + 1 * MS, "SHA1", "COMPOSITE"),
            ListedUpload("a/2", "VXAz", T0 + 2 * MS),
        ],
        common_prefixes=["a/b/", "a/c/"],
        owner_id=OWNER_ID,
        owner_display_name=OWNER_NAME,
        encoding_type="url",
    )
    assert body == document(
        f"""
        <ListMultipartUploadsResult {NS}>
          <Bucket>photos</Bucket>
          <KeyMarker>a/0</KeyMarker>
          <UploadIdMarker>VXAx</UploadIdMarker>
          <NextKeyMarker>a/2</NextKeyMarker>
          <NextUploadIdMarker>VXAz</NextUploadIdMarker>
          <Prefix>a/</Prefix>
          <Delimiter>/</Delimiter>
          <MaxUploads>3</MaxUploads>
          <IsTruncated>true</IsTruncated>
          <Upload>
            <Key>a/1</Key>
            <UploadId>VXAy</UploadId>
            {INITIATOR}
            {OWNER}
            <StorageClass>STANDARD</StorageClass>
            <Initiated>2023-11-14T22:13:20.124Z</Initiated>
            <ChecksumAlgorithm>SHA1</ChecksumAlgorithm>
            <ChecksumType>COMPOSITE</ChecksumType>
          </Upload>
          <Upload>
            <Key>a/2</Key>
            <UploadId>VXAz</UploadId>
            {INITIATOR}
            {OWNER}
            <StorageClass>STANDARD</StorageClass>
            <Initiated>2023-11-14T22:13:20.125Z</Initiated>
          </Upload>
          <CommonPrefixes><Prefix>a/b/</Prefix></CommonPrefixes>
          <CommonPrefixes><Prefix>a/c/</Prefix></CommonPrefixes>
          <EncodingType>url</EncodingType>
        </ListMultipartUploadsResult>
        """
    )


def test_list_multipart_uploads_last_page() -> None:
    body = list_multipart_uploads_xml(
        bucket="photos",
        key_marker="",
        upload_id_marker="",
        next_key_marker=None,
        next_upload_id_marker=None,
        prefix="",
        delimiter=None,
        max_uploads=1000,
        is_truncated=False,
        uploads=[ListedUpload("k", "VXAy", T0, "", "")],
        common_prefixes=[],
        owner_id=OWNER_ID,
        owner_display_name=OWNER_NAME,
        encoding_type=None,
    )
    assert body == document(
        f"""
        <ListMultipartUploadsResult {NS}>
          <Bucket>photos</Bucket>
          <KeyMarker></KeyMarker>
          <UploadIdMarker></UploadIdMarker>
          <Prefix></Prefix>
          <MaxUploads>1000</MaxUploads>
          <IsTruncated>false</IsTruncated>
          <Upload>
            <Key>k</Key>
            <UploadId>VXAy</UploadId>
            {INITIATOR}
            {OWNER}
            <StorageClass>STANDARD</StorageClass>
            <Initiated>2023-11-14T22:13:20.123Z</Initiated>
          </Upload>
        </ListMultipartUploadsResult>
        """
    )
    # An empty delimiter or encoding type is sent as asked (""), not dropped.
    assert b"<Delimiter></Delimiter>" in list_multipart_uploads_xml(
        bucket="photos",
        key_marker="",
        upload_id_marker="",
        next_key_marker="",
        next_upload_id_marker="",
        prefix="",
        delimiter="",
        max_uploads=0,
        is_truncated=False,
        uploads=[],
        common_prefixes=[],
        owner_id=OWNER_ID,
        owner_display_name=OWNER_NAME,
        encoding_type="",
    )


# -- copy -----------------------------------------------------------------------------


def test_copy_object_result() -> None:
    assert copy_object_result_xml(
        etag='"9b2cf535f27731c974343645a3985328"',
        last_modified_ns=T0 + 7 * MS,
        checksum=("CRC64NVME", "AAAAAAAAAAA="),
        checksum_type="FULL_OBJECT",
    ) == document(
        f"""
        <CopyObjectResult {NS}>
          <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>
          <LastModified>2023-11-14T22:13:20.130Z</LastModified>
          <ChecksumType>FULL_OBJECT</ChecksumType>
          <ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME>
        </CopyObjectResult>
        """
    )
    assert copy_object_result_xml(
        etag='"e"', last_modified_ns=0, checksum=None, checksum_type=None
    ) == document(
        f"""
        <CopyObjectResult {NS}>
          <ETag>&quot;e&quot;</ETag><LastModified>1970-01-01T00:00:00.000Z</LastModified>
        </CopyObjectResult>
        """
    )


def test_copy_part_result() -> None:
    assert copy_part_result_xml(
        etag='"e2"', last_modified_ns=T0, checksum=("CRC32", "NhCmhg==")
    ) == document(
        f"""
        <CopyPartResult {NS}>
          <ETag>&quot;e2&quot;</ETag>
          <LastModified>2023-11-14T22:13:20.123Z</LastModified>
          <ChecksumCRC32>NhCmhg==</ChecksumCRC32>
        </CopyPartResult>
        """
    )


# -- listings -----------------------------------------------------------------------


def listed(key: str, ms: int, size: int, *, checksum: bool = True) -> ListedObject:
    return ListedObject(
        key=key,
        last_modified_ns=T0 + ms * MS,
        etag=f'"etag-of-{key}"',
        size=size,
        checksum_algorithm="CRC32" if checksum else None,
        checksum_type="FULL_OBJECT" if checksum else None,
    )


def contents(key: str, ms: str, size: int, owner: str, *, checksum: bool = True) -> str:
    sums = (
        "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
        if checksum
        else ""
    )
    return (
        f"<Contents><Key>{key}</Key><LastModified>2023-11-14T22:13:20.{ms}Z</LastModified>"
        f"<ETag>&quot;etag-of-{key}&quot;</ETag>{sums}<Size>{size}</Size>{owner}"
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


def test_list_objects_v1_truncated() -> None:
    body = list_objects_xml(
        bucket="photos",
        prefix="p/",
        marker="p/a",
        next_marker="p/d/",
        max_keys=3,
        delimiter="/",
        is_truncated=True,
        encoding_type="url",
        contents=[listed("p/b", 1, 11), listed("p/c", 2, 22, checksum=False)],
        common_prefixes=["p/d/"],
        owner=(OWNER_ID, OWNER_NAME),
    )
    assert body == document(
        f"""
        <ListBucketResult {NS}>
          <Name>photos</Name>
          <Prefix>p/</Prefix>
          <Marker>p/a</Marker>
          <NextMarker>p/d/</NextMarker>
          <MaxKeys>3</MaxKeys>
          <Delimiter>/</Delimiter>
          <EncodingType>url</EncodingType>
          <IsTruncated>true</IsTruncated>
          {contents("p/b", "124", 11, OWNER)}
          {contents("p/c", "125", 22, OWNER, checksum=False)}
          <CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>
        </ListBucketResult>
        """
    )


def test_list_objects_v1_last_page() -> None:
    body = list_objects_xml(
        bucket="photos",
        prefix="",
        marker="",
        next_marker=None,
        max_keys=1000,
        delimiter=None,
        is_truncated=False,
        encoding_type=None,
        contents=[],
        common_prefixes=[],
        owner=(OWNER_ID, OWNER_NAME),
    )
    assert body == document(
        f"""
        <ListBucketResult {NS}>
          <Name>photos</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys>
          <IsTruncated>false</IsTruncated>
        </ListBucketResult>
        """
    )


def test_list_objects_v2_truncated() -> None:
    body = list_objects_v2_xml(
        bucket="photos",
        prefix="p/",
        continuation_token="dG9rMQ",
        next_continuation_token="dG9rMg",
        key_count=3,
        max_keys=3,
        delimiter="/",
        start_after="p/a",
        is_truncated=True,
        encoding_type="url",
        contents=[listed("p/b", 3, 33), listed("p/c", 4, 44)],
        common_prefixes=["p/d/"],
        owner=(OWNER_ID, OWNER_NAME),
    )
    assert body == document(
        f"""
        <ListBucketResult {NS}>
          <Name>photos</Name>
          <Prefix>p/</Prefix>
          <ContinuationToken>dG9rMQ</ContinuationToken>
          <NextContinuationToken>dG9rMg</NextContinuationToken>
          <KeyCount>3</KeyCount>
          <MaxKeys>3</MaxKeys>
          <Delimiter>/</Delimiter>
          <StartAfter>p/a</StartAfter>
          <EncodingType>url</EncodingType>
          <IsTruncated>true</IsTruncated>
          {contents("p/b", "126", 33, OWNER)}
          {contents("p/c", "127", 44, OWNER)}
          <CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>
        </ListBucketResult>
        """
    )


def test_list_objects_v2_last_page_without_owner() -> None:
    body = list_objects_v2_xml(
        bucket="photos",
        prefix="",
        continuation_token=None,
        next_continuation_token=None,
        key_count=1,
        max_keys=1000,
        delimiter=None,
        start_after=None,
        is_truncated=False,
        encoding_type=None,
        contents=[listed("k", 5, 0, checksum=False)],
        common_prefixes=[],
        owner=None,
    )
    assert body == document(
        f"""
        <ListBucketResult {NS}>
          <Name>photos</Name>
          <Prefix></Prefix>
          <KeyCount>1</KeyCount>
          <MaxKeys>1000</MaxKeys>
          <IsTruncated>false</IsTruncated>
          {contents("k", "128", 0, "", checksum=False)}
        </ListBucketResult>
        """
    )


def test_list_object_versions_truncated() -> None:
    body = list_object_versions_xml(
        bucket="photos",
        prefix="p/",
        key_marker="p/a",
        version_id_marker="null",
        next_key_marker="p/c",
        next_version_id_marker="null",
        max_keys=2,
        delimiter="/",
        is_truncated=True,
        encoding_type="url",
        versions=[listed("p/b", 6, 66), listed("p/c", 7, 77, checksum=False)],
        common_prefixes=["p/d/"],
        owner=(OWNER_ID, OWNER_NAME),
    )
    assert body == document(
        f"""
        <ListVersionsResult {NS}>
          <Name>photos</Name>
          <Prefix>p/</Prefix>
          <KeyMarker>p/a</KeyMarker>
          <VersionIdMarker>null</VersionIdMarker>
          <NextKeyMarker>p/c</NextKeyMarker>
          <NextVersionIdMarker>null</NextVersionIdMarker>
          <MaxKeys>2</MaxKeys>
          <Delimiter>/</Delimiter>
          <EncodingType>url</EncodingType>
          <IsTruncated>true</IsTruncated>
          <Version>
            <Key>p/b</Key>
            <VersionId>null</VersionId>
            <IsLatest>true</IsLatest>
            <LastModified>2023-11-14T22:13:20.129Z</LastModified>
            <ETag>&quot;etag-of-p/b&quot;</ETag>
            <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>
            <ChecksumType>FULL_OBJECT</ChecksumType>
            <Size>66</Size>
            <StorageClass>STANDARD</StorageClass>
            {OWNER}
          </Version>
          <Version>
            <Key>p/c</Key>
            <VersionId>null</VersionId>
            <IsLatest>true</IsLatest>
            <LastModified>2023-11-14T22:13:20.130Z</LastModified>
            <ETag>&quot;etag-of-p/c&quot;</ETag>
            <Size>77</Size>
            <StorageClass>STANDARD</StorageClass>
            {OWNER}
          </Version>
          <CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>
        </ListVersionsResult>
        """
    )


def test_list_object_versions_last_page() -> None:
    body = list_object_versions_xml(
        bucket="photos",
        prefix="",
        key_marker="",
        version_id_marker="",
        next_key_marker=None,
        next_version_id_marker=None,
        max_keys=1000,
        delimiter=None,
        is_truncated=False,
        encoding_type=None,
        versions=[],
        common_prefixes=[],
        owner=(OWNER_ID, OWNER_NAME),
    )
    assert body == document(
        f"""
        <ListVersionsResult {NS}>
          <Name>photos</Name><Prefix></Prefix><KeyMarker></KeyMarker>
          <VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys>
          <IsTruncated>false</IsTruncated>
        </ListVersionsResult>
        """
    )
