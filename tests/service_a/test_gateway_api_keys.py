"""API keys on POST /process (API_KEYS, API_KEYS_FILE): the 401 and what it carries, the
two ways to send a key, the settings and their one-line refusals, the comparison of keys
in constant time, keys kept out of the logs, and the routes and docs that stay open."""

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from gateway.config import Settings
from gateway.main import create_app
from service_common.settings import load_settings
from tests.support.asgi import serve
from tests.support.gateway import (
    PREDICTION,
    PREDICTOR_BASE_URL,
    make_settings,
    start_up_refusal,
)
from tests.support.logs import captured_log

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"
KEY_C = "key-c-0a1b2c3d4e5f6a7b"
KEYS = (KEY_A, KEY_B, KEY_C)
WRONG_KEY = "key-x-0000000000000000"

UNAUTHENTICATED = {"detail": "Missing or invalid API key"}
FORWARD = {"data": "cat image data", "forward_to_model": True}
LOGGED_ONLY = {"data": "cat image data", "forward_to_model": False}
READY_BODY = {"status": "ready", "model_version": "v1"}
OPEN_WARNING = "POST /process is open to anyone"


def expected_key_id(key: str) -> str:
    """How the README says a key is named in logs: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Gateway:
    client: httpx.AsyncClient
    predict: respx.Route
    """The predictor's /predict: answers with PREDICTION; a test may check it was not called."""


@asynccontextmanager
async def gateway_from(settings: Settings) -> AsyncIterator[Gateway]:
    """The gateway of `settings` in front of a predictor that answers every input."""
    router = respx.Router(base_url=PREDICTOR_BASE_URL, assert_all_called=False)
    predict = router.post("/predict").respond(200, json=PREDICTION)
    router.get("/ready").respond(200, json=READY_BODY)
    app = create_app(settings, transport=httpx.MockTransport(router.async_handler))
    async with serve(app) as client:
        yield Gateway(client, predict)


@pytest.fixture
async def keyed() -> AsyncIterator[Gateway]:
    """The gateway with three API keys."""
    async with gateway_from(make_settings(API_KEYS=",".join(KEYS))) as gateway:
        yield gateway


# --- The answer to a request without a valid key -------------------------------------

REFUSED_HEADERS = {
    "no key": {},
    "wrong key as bearer": bearer(WRONG_KEY),
    "wrong key as X-API-Key": {"X-API-Key": WRONG_KEY},
    "empty X-API-Key": {"X-API-Key": ""},
    "Bearer without a key": {"Authorization": "Bearer"},
    "Bearer and a space": {"Authorization": "Bearer "},
    "a key under another scheme": {"Authorization": f"Basic {KEY_A}"},
    "a key without a scheme": {"Authorization": KEY_A},
    "a key cut short": bearer(KEY_A[:-1]),
    "a key with one more character": bearer(KEY_A + "0"),
    "a key in another case": bearer(KEY_A.upper()),
    "two keys in one header": bearer(f"{KEY_A},{KEY_B}"),
    "a wrong bearer beside a right X-API-Key": bearer(WRONG_KEY) | {"X-API-Key": KEY_A},
    # An Authorization header is the credential when there is one: a right X-API-Key does
    # not make up for a wrong one.
    "another scheme beside a right X-API-Key": {
        "Authorization": "Basic Zm9vOmJhcg==",
        "X-API-Key": KEY_A,
    },
}


@pytest.mark.parametrize("headers", REFUSED_HEADERS.values(), ids=REFUSED_HEADERS.keys())
async def test_request_without_a_valid_key_is_401_with_www_authenticate(
    keyed: Gateway, headers: dict[str, str]
) -> None:
    response = await keyed.client.post("/process", json=LOGGED_ONLY, headers=headers)

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response.headers["www-authenticate"] == "Bearer"


async def test_request_without_a_key_is_refused_before_its_body_is_validated(
    keyed: Gateway,
) -> None:
    response = await keyed.client.post("/process", json={"data": 3})

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


async def test_refused_request_is_not_logged_nor_forwarded(
    keyed: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    response = await keyed.client.post("/process", json=FORWARD, headers=bearer(WRONG_KEY))

    assert response.status_code == 401
    assert [r for r in caplog.records if r.name == "gateway.inputs"] == []
    assert not keyed.predict.called


# --- The ways to send a key ------------------------------------------------------------

ACCEPTED_FORMS: dict[str, Callable[[str], dict[str, str]]] = {
    "Bearer": bearer,
    "bearer": lambda key: {"Authorization": f"bearer {key}"},
    "BEARER": lambda key: {"Authorization": f"BEARER {key}"},
    "X-API-Key": lambda key: {"X-API-Key": key},
    "Bearer beside a wrong X-API-Key": lambda key: bearer(key) | {"X-API-Key": WRONG_KEY},
}


@pytest.mark.parametrize("form", ACCEPTED_FORMS.values(), ids=ACCEPTED_FORMS.keys())
@pytest.mark.parametrize("key", KEYS, ids=["first key", "second key", "third key"])
async def test_each_key_is_accepted_in_each_form(
    keyed: Gateway, key: str, form: Callable[[str], dict[str, str]]
) -> None:
    response = await keyed.client.post("/process", json=FORWARD, headers=form(key))

    assert response.status_code == 200
    assert response.json()["model_prediction"] == PREDICTION
    assert keyed.predict.call_count == 1


async def test_without_keys_the_gateway_is_open() -> None:
    async with gateway_from(make_settings()) as gateway:
        response = await gateway.client.post("/process", json=LOGGED_ONLY)

    assert response.status_code == 200


# --- Keys from the environment and from a file -----------------------------------------


async def test_keys_are_read_from_api_keys_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_KEYS", f"{KEY_A}, {KEY_B}")  # a space after the comma is fine
    settings = load_settings(Settings)

    async with gateway_from(settings) as gateway:
        statuses = [
            (
                await gateway.client.post("/process", json=LOGGED_ONLY, headers=bearer(key))
            ).status_code
            for key in (KEY_A, KEY_B, KEY_C)
        ]

    assert statuses == [200, 200, 401]


async def test_empty_api_keys_leaves_the_gateway_open(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-compose passes `API_KEYS: ${API_KEYS:-}` as "" when the shell leaves it unset.
    monkeypatch.setenv("API_KEYS", "")
    settings = load_settings(Settings)

    async with gateway_from(settings) as gateway:
        response = await gateway.client.post("/process", json=LOGGED_ONLY)

    assert response.status_code == 200


async def test_keys_are_read_from_api_keys_file_skipping_comments_and_blank_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commented_out = "# retired-key-00000000000"
    key_file = tmp_path / "api_keys"
    key_file.write_text(f"# keys of the gateway\n\n{KEY_A}\n   \n  {commented_out}\n  {KEY_B}  \n")
    monkeypatch.setenv("API_KEYS_FILE", str(key_file))
    settings = load_settings(Settings)

    async with gateway_from(settings) as gateway:
        statuses = {
            key: (
                await gateway.client.post("/process", json=LOGGED_ONLY, headers=bearer(key))
            ).status_code
            for key in (KEY_A, KEY_B, commented_out, "retired-key-00000000000", KEY_C)
        }

    assert statuses == {
        KEY_A: 200,
        KEY_B: 200,
        commented_out: 401,
        "retired-key-00000000000": 401,
        KEY_C: 401,
    }


SECRET = "secret-that-must-not-show"  # long enough: refused for its space-free fault only


@pytest.mark.parametrize(
    "value, reason",
    [
        ("short-secret-1", "API_KEYS: key 1 is shorter than 16 characters"),
        (f"{KEY_A},{SECRET[:15]}", "API_KEYS: key 2 is shorter than 16 characters"),
        (f"{SECRET} with spaces", "API_KEYS: key 1 must be printable ASCII characters"),
        (f"{SECRET}-\u00e9t\u00e9", "API_KEYS: key 1 must be printable ASCII characters"),
        (f"{SECRET},{KEY_A},{SECRET}", "API_KEYS: key 3 repeats key 1"),
        (",", "API_KEYS: key 1 is empty"),
        (f"{KEY_A},,{KEY_B}", "API_KEYS: key 2 is empty"),
    ],
    ids=[
        "short",
        "second key short",
        "space",
        "not ASCII",
        "repeated",
        "only a comma",
        "two commas",
    ],
)
def test_bad_api_keys_are_refused_in_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    message = start_up_refusal(monkeypatch, API_KEYS=value)

    assert reason in message
    for secret in [*filter(None, value.split(",")), SECRET, SECRET[:15], KEY_A]:
        assert secret not in message


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "holds no key"),
        (b"# only a comment\n\n   \n", "holds no key"),
        (f"{KEY_A}\nshort-secret-1\n".encode(), "key 2 is shorter than 16 characters"),
        (f"{SECRET} with spaces\n".encode(), "key 1 must be printable ASCII characters"),
        (f"{SECRET}\n# a comment\n{SECRET}\n".encode(), "key 2 repeats key 1"),
        (b"\xff\xfe" + SECRET.encode(), "cannot be read: not UTF-8 text"),
    ],
    ids=["empty", "only comments", "short key", "space", "repeated key", "not UTF-8"],
)
def test_bad_api_keys_file_is_refused_in_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes, reason: str
) -> None:
    key_file = tmp_path / "api_keys"
    key_file.write_bytes(content)

    message = start_up_refusal(monkeypatch, API_KEYS_FILE=str(key_file))

    assert "API_KEYS_FILE" in message and str(key_file) in message
    assert reason in message
    for secret in (SECRET, "short-secret-1", KEY_A):
        assert secret not in message


@pytest.mark.parametrize(
    "name, reason",
    [("missing", "cannot be read: No such file or directory"), ("", "is not a regular file")],
    ids=["missing file", "a folder"],
)
def test_unreadable_api_keys_file_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, reason: str
) -> None:
    path = tmp_path / name

    message = start_up_refusal(monkeypatch, API_KEYS_FILE=str(path))

    assert f"API_KEYS_FILE '{path}' {reason}" in message


def test_api_keys_and_api_keys_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "api_keys"
    key_file.write_text(f"{KEY_B}\n")

    message = start_up_refusal(monkeypatch, API_KEYS=KEY_A, API_KEYS_FILE=str(key_file))

    assert "set API_KEYS or API_KEYS_FILE, not both" in message
    assert KEY_A not in message and KEY_B not in message


# --- Constant-time comparison ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [bearer(KEY_A), {"X-API-Key": KEY_C}, bearer(WRONG_KEY), {}],
    ids=["first key", "last key", "wrong key", "no key"],
)
async def test_sent_key_is_compared_with_every_key_in_constant_time(
    keyed: Gateway, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> None:
    compared: list[tuple[int, int]] = []
    real_compare_digest = hmac.compare_digest

    def counting_compare_digest(a: Any, b: Any) -> bool:
        compared.append((len(a), len(b)))
        return real_compare_digest(a, b)

    monkeypatch.setattr("gateway.api_keys.hmac.compare_digest", counting_compare_digest)

    await keyed.client.post("/process", json=LOGGED_ONLY, headers=headers)

    # Once per accepted key, whichever matched (no early exit), on equal-length digests.
    assert len(compared) == len(KEYS)
    assert all(sent == accepted for sent, accepted in compared)


# --- No key in the logs ----------------------------------------------------------------


async def test_keys_never_appear_in_the_log_and_the_key_id_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    with captured_log("") as text_log, captured_log("", "json") as json_log:
        # The app is built inside the capture, so its start-up and shutdown lines count too.
        async with gateway_from(make_settings(API_KEYS=",".join(KEYS))) as gateway:
            for headers in (bearer(KEY_A), {"X-API-Key": KEY_B}, bearer(WRONG_KEY)):
                await gateway.client.post("/process", json=LOGGED_ONLY, headers=headers)

    everything = "\n".join(
        [text_log.getvalue(), json_log.getvalue(), caplog.text]
        + [repr(vars(record)) for record in caplog.records]
    )
    for key in (*KEYS, WRONG_KEY):
        assert key not in everything
    inputs = [r for r in caplog.records if r.name == "gateway.inputs"]
    assert [r.getMessage().rsplit(" ", 1)[-1] for r in inputs] == [
        f"api_key={expected_key_id(KEY_A)}",
        f"api_key={expected_key_id(KEY_B)}",
    ]
    json_inputs = [
        json.loads(line) for line in json_log.getvalue().splitlines() if '"gateway.inputs"' in line
    ]
    assert [line["api_key_id"] for line in json_inputs] == [
        expected_key_id(KEY_A),
        expected_key_id(KEY_B),
    ]


async def test_input_line_has_no_key_id_without_keys(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async with gateway_from(make_settings()) as gateway:
        await gateway.client.post("/process", json=LOGGED_ONLY)

    [line] = [r for r in caplog.records if r.name == "gateway.inputs"]
    assert "api_key" not in line.getMessage()
    assert not hasattr(line, "api_key_id")


# --- What stays open -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/health", "/ready", "/metrics", "/docs", "/redoc", "/openapi.json"]
)
async def test_service_routes_and_docs_answer_without_a_key(keyed: Gateway, path: str) -> None:
    response = await keyed.client.get(path)

    assert response.status_code == 200, response.text


async def test_openapi_documents_both_key_schemes_on_process_only_when_keys_are_set(
    keyed: Gateway,
) -> None:
    first = (await keyed.client.get("/openapi.json")).json()
    again = (await keyed.client.get("/openapi.json")).json()

    assert first == again
    schemes = first["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "description": "",
    }
    assert schemes["ApiKeyHeader"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "",
    }
    assert first["paths"]["/process"]["post"]["security"] == [
        {"ApiKeyBearer": []},
        {"ApiKeyHeader": []},
    ]
    secured = {
        (method, path)
        for path, operations in first["paths"].items()
        for method, operation in operations.items()
        if "security" in operation
    }
    assert secured == {("post", "/process")}


async def test_openapi_has_no_key_schemes_without_keys() -> None:
    async with gateway_from(make_settings()) as gateway:
        spec = (await gateway.client.get("/openapi.json")).json()

    assert "securitySchemes" not in spec.get("components", {})
    assert "security" not in spec
    assert "security" not in spec["paths"]["/process"]["post"]


# --- The start-up warning of an open gateway -------------------------------------------


def open_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if OPEN_WARNING in r.getMessage()]


async def test_open_gateway_warns_once_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async with gateway_from(make_settings()) as gateway:
        await gateway.client.post("/process", json=LOGGED_ONLY)

    [warning] = open_warnings(caplog)
    assert warning.levelno == logging.WARNING
    assert "API_KEYS" in warning.getMessage()


async def test_gateway_with_keys_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async with gateway_from(make_settings(API_KEYS=KEY_A)) as gateway:
        await gateway.client.post("/process", json=LOGGED_ONLY, headers=bearer(KEY_A))

    assert open_warnings(caplog) == []
    assert [r for r in caplog.records if r.name == "gateway.admission"] == []


def test_key_file_with_a_byte_order_mark_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "api_keys"
    key_file.write_text(f"{KEY_A}\r\n{KEY_B}\r\n", encoding="utf-8-sig")  # as Notepad saves
    monkeypatch.setenv("API_KEYS_FILE", str(key_file))

    assert [key.get_secret_value() for key in load_settings(Settings).api_keys] == [KEY_A, KEY_B]


def test_more_keys_than_the_check_is_sized_for_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "api_keys"
    key_file.write_text("".join(f"generated-key-{n:08d}\n" for n in range(1_001)))

    message = start_up_refusal(monkeypatch, API_KEYS_FILE=str(key_file))

    assert "holds more than 1000 keys" in message
    assert "generated-key-" not in message
