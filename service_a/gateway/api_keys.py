"""The gateway's API keys: which key a request carries, checked in constant time, and the
short id that names it in logs."""

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.datastructures import Headers

from gateway.errors import Unauthenticated

KEY_ID_CHARS = 12
"""Hex characters of a key's id: enough to tell keys apart, far too few to recover one."""

BEARER_SCHEME = "bearer"
API_KEY_HEADER = "X-API-Key"


def key_id(digest: bytes) -> str:
    """The name a key goes by in logs: the start of its SHA-256 `digest` (keys are at least
    16 characters, so the digest cannot be reversed by trying them)."""
    return digest.hex()[:KEY_ID_CHARS]


def presented_key(headers: Headers) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>`, or, without an
    Authorization header, `X-API-Key: <key>`. An Authorization header of another scheme
    carries no key: a credential that was sent and is wrong is never passed over for
    another one."""
    authorization = headers.get("authorization")
    if authorization is None:
        key = headers.get(API_KEY_HEADER)
        return key.strip() if key is not None else None
    scheme, _, credentials = authorization.partition(" ")
    return credentials.strip() if scheme.lower() == BEARER_SCHEME else None


class ApiKeys:
    """The accepted keys, held as SHA-256 digests.

    A sent key is digested once and compared with every accepted digest by
    `hmac.compare_digest`, with no early exit: how long a check takes says nothing about
    how much of a key was right, nor which key matched.
    """

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        digests = (hashlib.sha256(key.get_secret_value().encode()).digest() for key in keys)
        self._keys = tuple((digest, key_id(digest)) for digest in digests)

    def identify(self, headers: Headers) -> str:
        """The id of the key the request carries; Unauthenticated if it has none accepted."""
        key = presented_key(headers)
        # No key digests like any other wrong one (no accepted key is empty).
        sent = hashlib.sha256((key or "").encode()).digest()
        matched = None
        for digest, name in self._keys:
            if hmac.compare_digest(digest, sent) and matched is None:
                matched = name
        if matched is None:
            raise Unauthenticated()
        return matched


SECURITY_SCHEMES = {
    "ApiKeyBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of API_KEYS (or API_KEYS_FILE) as "
        "`Authorization: Bearer <key>`.",
    },
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": f"An API key of API_KEYS (or API_KEYS_FILE) as `{API_KEY_HEADER}: <key>`.",
    },
}
"""Either scheme will do: each is one alternative of the operation's `security`."""


def document_api_keys(app: FastAPI, path: str) -> None:
    """Say in the app's OpenAPI document that `path` needs a key; Swagger UI then shows its
    Authorize button, and sends the key it is given."""
    build_openapi = app.openapi

    def openapi_with_keys() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_openapi()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for operation in schema["paths"][path].values():
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        return app.openapi_schema or build_openapi()

    app.openapi = openapi_with_keys  # type: ignore[method-assign]
