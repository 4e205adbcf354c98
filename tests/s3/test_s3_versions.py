"""Version ids on never-versioned buckets: null, malformed, well-formed."""

from __future__ import annotations

import pytest

from hamster.s3.errors import S3Error
from hamster.s3.versions import check_version_id, is_well_formed, refuse_malformed


def test_null_and_none_are_the_current_object() -> None:
    check_version_id("k", None)
    check_version_id("k", "null")


@pytest.mark.parametrize(
    "version_id",
    [
        "",
        "Null",
        "abc",
        "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrH",
        "Ud4N8aQsNiIl9Izeas5gxgEq9ZBzj.I",
        "é" * 32,
    ],
)
def test_malformed_is_invalid_argument(version_id: str) -> None:
    assert not is_well_formed(version_id)
    with pytest.raises(S3Error) as e:
        check_version_id("k", version_id)
    assert (e.value.code, e.value.status) == ("InvalidArgument", 400)
    assert e.value.text == "Invalid version id specified"
    assert e.value.extra == {"ArgumentName": "versionId", "ArgumentValue": version_id}


@pytest.mark.parametrize(
    "version_id", ["Ud4N8aQsNiIl9Izeas5gxgEq9ZBzj.Ic", "36jjeSq7OlGnNPRQK4VxLvy_TZ1iJddq"]
)
def test_well_formed_is_no_such_version(version_id: str) -> None:
    refuse_malformed(version_id)
    with pytest.raises(S3Error) as e:
        check_version_id("photos/a b", version_id)
    assert (e.value.code, e.value.status) == ("NoSuchVersion", 404)
    assert e.value.extra == {"Key": "photos/a b", "VersionId": version_id}
