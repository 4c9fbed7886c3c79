"""The log lines themselves: JSON fields, the request id on every record, the text form for the demo."""

import io
import json
import logging
from datetime import datetime

import pytest

from portal.config_errors import ConfigurationError
from portal.structured_logs import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    accepted_request_id,
    configure_logging,
    current_request_id,
    formatter_for,
)


@pytest.fixture(autouse=True)
def outside_any_request():
    """No request id left over from a test client's response nobody closed."""
    current_request_id.set(None)


def emitted(formatter: logging.Formatter, emit) -> list[str]:
    """The lines `emit(logger)` writes through a handler like the portal's."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.structured_logs")
    # Its own level: run alone, the root logger's WARNING would drop the INFO lines under test.
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue().splitlines()


def test_a_json_line_has_time_in_utc_level_logger_message_and_the_request_id():
    token = current_request_id.set("req-42")
    try:
        [line] = emitted(JsonFormatter(), lambda log: log.warning("Invoice %s is late", "F-1"))
    finally:
        current_request_id.reset(token)

    entry = json.loads(line)
    assert {key: entry[key] for key in ("level", "logger", "message", "request_id")} == {
        "level": "WARNING", "logger": "tests.structured_logs", "message": "Invoice F-1 is late", "request_id": "req-42"}
    assert entry["time"].endswith("Z")
    assert abs((datetime.fromisoformat(entry["time"]) - datetime.now().astimezone()).total_seconds()) < 60


def test_outside_a_request_the_id_is_null_and_extra_fields_and_exceptions_are_kept():
    def emit(log):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("Job failed", extra={"job": "reminders", "attempt": 2})

    [line] = emitted(JsonFormatter(), emit)

    entry = json.loads(line)
    assert (entry["request_id"], entry["job"], entry["attempt"]) == (None, "reminders", 2)
    assert "RuntimeError: boom" in entry["exception"]


def test_a_multi_line_message_stays_one_json_line():
    lines = emitted(JsonFormatter(), lambda log: log.info("first\nsecond \"quoted\""))
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "first\nsecond \"quoted\""


def test_the_text_form_shows_the_request_id_during_a_request():
    token = current_request_id.set("abc123")
    try:
        [inside] = emitted(TextFormatter(), lambda log: log.info("inside"))
    finally:
        current_request_id.reset(token)
    [outside] = emitted(TextFormatter(), lambda log: log.info("outside"))

    assert inside.endswith(" INFO tests.structured_logs [abc123]: inside")
    assert outside.endswith(" INFO tests.structured_logs: outside")


@pytest.mark.parametrize("offered", ["3f2c9a0e-8d1b-4c59-9c4e-2f0b1a7d6e55", "a" * 128, "Root=1-67891233-abcdef",
                                     "0123456789abcdef0123456789abcdef"])
def test_a_proxys_plain_request_id_is_kept(offered):
    assert accepted_request_id(offered) == offered


@pytest.mark.parametrize("offered", [None, "", "a" * 129, "abc\ndef", "abc def", '"quoted"', "id<script>", "é"])
def test_a_request_id_that_is_not_a_plain_short_token_is_not_kept(offered):
    assert accepted_request_id(offered) is None


def test_an_unknown_log_format_is_refused_with_the_setting_named():
    with pytest.raises(ConfigurationError, match="ACQUIT_LOG_FORMAT must be one of json, text"):
        formatter_for("xml")


def test_configuring_again_replaces_the_portals_handler_and_keeps_others():
    root = logging.getLogger()
    others = [handler for handler in root.handlers if not isinstance(handler.formatter, JsonFormatter | TextFormatter)]

    configure_logging("json")
    configure_logging("text")

    portals = [handler for handler in root.handlers if handler not in others]
    assert len(portals) == 1 and isinstance(portals[0].formatter, TextFormatter)
    assert all(handler in root.handlers for handler in others)
    configure_logging("json")
