"""Log lines: one INFO line per input, escaped previews, request ids, JSON lines."""

import json
import logging
import re
import unicodedata

import httpx
import pytest
import respx

from service_common.logging_setup import escape_control_chars, preview
from tests.support.gateway import PREDICTION
from tests.support.logs import captured_log

FORGED = "cat\n2026-01-01 00:00:00,000 INFO gateway.inputs [admin] forged\r\x1b[31m\tend"


def input_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.inputs"]


async def test_each_input_gets_exactly_one_info_line(
    client: httpx.AsyncClient, predictor: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    predictor.post("/predict").respond(200, json=PREDICTION)
    caplog.set_level(logging.INFO)

    await client.post("/process", json={"data": "first", "forward_to_model": False})
    await client.post("/process", json={"data": "second input", "forward_to_model": True})

    info_lines = [r for r in caplog.records if r.name.startswith("gateway")]
    assert [r.levelno for r in info_lines] == [logging.INFO, logging.INFO]
    assert [(r.forward_to_model, r.input_length) for r in info_lines] == [  # type: ignore[attr-defined]
        (False, 5),
        (True, 12),
    ]


async def test_rejected_input_gets_no_input_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    await client.post("/process", json={"data": 3})

    assert input_records(caplog) == []


async def test_input_line_has_request_id_flag_length_and_preview(
    client: httpx.AsyncClient,
) -> None:
    with captured_log("gateway") as log:
        await client.post(
            "/process",
            json={"data": "cat image data", "forward_to_model": False},
            headers={"X-Request-ID": "line-1"},
        )

    line = log.getvalue()
    # The request id, then the id of the request's trace.
    assert re.search(r"INFO gateway\.inputs \[line-1 [0-9a-f]{32}\] ", line)
    assert 'forward_to_model=false length=14 preview="cat image data"' in line


async def test_newline_in_input_cannot_forge_a_log_line(client: httpx.AsyncClient) -> None:
    settings_preview_chars = 20

    with captured_log("gateway") as log:
        await client.post("/process", json={"data": FORGED, "forward_to_model": False})

    lines = log.getvalue().splitlines()
    assert len(lines) == 1
    assert f'preview="{preview(FORGED, settings_preview_chars)}"' in lines[0]
    assert 'preview="cat\\n2026-01-01 00:00...' in lines[0]


async def test_preview_is_truncated_to_configured_length(client: httpx.AsyncClient) -> None:
    with captured_log("gateway") as log:
        await client.post("/process", json={"data": "x" * 30 + "TAIL", "forward_to_model": False})

    assert 'length=34 preview="' + "x" * 20 + '..."' in log.getvalue()
    assert "TAIL" not in log.getvalue()


def test_preview_escapes_control_characters_backslashes_and_quotes() -> None:
    text = 'a\nb\rc\td\x1be\x00f\x7fg\u2028h\\i"j'

    assert preview(text, 100) == 'a\\nb\\rc\\td\\x1be\\x00f\\x7fg\\u2028h\\\\i\\"j'


def test_log_messages_have_control_characters_escaped() -> None:
    assert escape_control_chars("GET /x\nINFO forged") == "GET /x\\nINFO forged"


async def test_upstream_failure_is_logged_with_its_cause_and_request_id(
    client: httpx.AsyncClient, predictor: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    predictor.post("/predict").mock(side_effect=httpx.ConnectError("[Errno 111] refused"))

    with captured_log("gateway") as log:
        await client.post("/process", json={"data": "cat"}, headers={"X-Request-ID": "fail-1"})

    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert all(re.search(r"\[fail-1 [0-9a-f]{32}\]", line) for line in lines)
    assert "ConnectError: [Errno 111] refused" in lines[1]


async def test_json_log_format_writes_one_json_object_per_line(client: httpx.AsyncClient) -> None:
    with captured_log("gateway", "json") as log:
        await client.post(
            "/process",
            json={"data": FORGED, "forward_to_model": False},
            headers={"X-Request-ID": "json-1"},
        )

    lines = log.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "INFO"
    assert entry["logger"] == "gateway.inputs"
    assert entry["request_id"] == "json-1"
    assert entry["forward_to_model"] is False
    assert entry["input_length"] == len(FORGED)
    assert entry["preview"] == preview(FORGED, 20)
    assert entry["message"].startswith("Input received")
    assert entry["time"]


@pytest.mark.parametrize(
    ("char", "escape"),
    [
        ("\u202e", "\\u202e"),  # right-to-left override: would show the rest reversed
        ("\u200b", "\\u200b"),  # zero-width space
        ("\u2066", "\\u2066"),  # left-to-right isolate
        ("\ufeff", "\\ufeff"),  # zero-width no-break space (byte order mark)
        ("\u00ad", "\\xad"),  # soft hyphen
        ("\U000e0041", "\\U000e0041"),  # tag latin capital letter A
    ],
    ids=["RLO", "ZWSP", "LRI", "BOM", "SHY", "TAG"],
)
def test_preview_escapes_unicode_format_characters(char: str, escape: str) -> None:
    assert preview(f"admin{char}user", 100) == f"admin{escape}user"


def test_every_format_character_is_escaped() -> None:
    format_chars = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]

    shown = preview("".join(format_chars), len(format_chars))

    assert all(unicodedata.category(char) != "Cf" for char in shown)
    assert shown.isascii()
