"""S3Error: the code fixes the status and the default message; a message overrides it."""

from __future__ import annotations

import pytest

from hamster.s3.errors import ERRORS, S3Error


def test_default_message_and_status() -> None:
    e = S3Error("NoSuchKey")
    assert (e.status, e.text) == (404, "The specified key does not exist.")
    # What logs and tracebacks show: the code and the message a client gets.
    assert e.args == ("NoSuchKey", "The specified key does not exist.")
    assert str(e) == "('NoSuchKey', 'The specified key does not exist.')"


def test_message_overrides_the_default() -> None:
    e = S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
    assert e.status == 400
    assert e.text == "Part number must be an integer between 1 and 10000, inclusive"
    assert e.args == ("InvalidArgument", e.text)
    # An empty message is a message, not the default.
    assert S3Error("InvalidRequest", "").text == ""


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(AssertionError, match="unknown S3 error code 'NoSuchThing'"):
        S3Error("NoSuchThing")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),
        ("InvalidRange", 416),
        ("MethodNotAllowed", 405),
        ("MissingContentLength", 411),
        ("NotImplemented", 501),
        ("NotModified", 304),
        ("PreconditionFailed", 412),
        ("InternalError", 500),
        ("SlowDown", 503),
        ("BucketNotEmpty", 409),
    ],
)
def test_statuses(code: str, status: int) -> None:
    assert S3Error(code).status == status == ERRORS[code][0]
