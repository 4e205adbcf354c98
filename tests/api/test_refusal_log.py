"""The server's 503 SlowDown for a connection refused at a cap is logged by the
server once per burst (hamster/http/server.py), not by the app once per
refused connection: a flood of connections must not become a flood of lines."""

from __future__ import annotations

import logging

import pytest
from trio.testing import MockClock

from hamster.s3.errors import S3Error
from tests.api.harness import Harness


async def test_a_connection_refusal_is_answered_in_s3_xml_without_a_log_line(
    autojump_clock: MockClock, node: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="hamster.app"):
        for _ in range(3):
            response = node.node.app.error_response(
                S3Error("SlowDown", headers={"Retry-After": "1"}), None
            )
            assert response.status == 503
            assert ("Retry-After", "1") in response.headers
            assert isinstance(response.body, bytes)
            assert b"<Code>SlowDown</Code>" in response.body
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_other_server_errors_of_the_loop_are_still_logged(
    autojump_clock: MockClock, node: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="hamster.app"):
        node.node.app.error_response(S3Error("InternalError"), None)
    assert [r.levelno for r in caplog.records if r.levelno >= logging.WARNING] == [
        logging.WARNING
    ]
