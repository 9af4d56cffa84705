"""Reading the access settings (API_KEYS, API_KEYS_FILE, RATE_LIMIT) into what the gateway
checks; each refusal names the setting and never shows a key."""

import re
from collections.abc import Iterable
from pathlib import Path

import limits
from limits import RateLimitItem
from pydantic import SecretStr

MIN_KEY_CHARS = 16
"""As the predictor's ADMIN_TOKEN: short keys can be guessed."""

SENDABLE_KEY = re.compile(r"[\x21-\x7e]+")
"""HTTP trims spaces around a header value and carries other text as latin-1: a key with
either could never be sent as it is set."""

ZERO_WINDOW = re.compile(r"(?:/|\bper)\s*0+\s*[a-z]", re.IGNORECASE)
"""`1/0 second`, which `limits` would silently read as `1/1 second`."""

RATE_LIMIT_EXAMPLE = "such as 100/second or 6000/minute;200/second"


def parse_api_keys(keys: Iterable[str], setting: str) -> tuple[SecretStr, ...]:
    """The keys, each stripped; ValueError, naming `setting` and the key's position (never
    the key), for a short, unsendable or repeated key, or for none at all."""
    parsed: list[str] = []
    for position, raw in enumerate(keys, start=1):
        key = raw.strip()
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(
                f"{setting}: key {position} is shorter than {MIN_KEY_CHARS} characters"
            )
        if not SENDABLE_KEY.fullmatch(key):
            raise ValueError(
                f"{setting}: key {position} must be printable ASCII characters without spaces"
            )
        if key in parsed:
            raise ValueError(f"{setting}: key {position} repeats key {parsed.index(key) + 1}")
        parsed.append(key)
    if not parsed:
        raise ValueError(f"{setting}: holds no key")
    return tuple(SecretStr(key) for key in parsed)


def read_api_key_file(path: Path) -> tuple[SecretStr, ...]:
    """The keys of an API_KEYS_FILE: one a line; blank lines and `#` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ValueError(f"API_KEYS_FILE {str(path)!r} cannot be read: {reason}") from None
    lines = (
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    return parse_api_keys(lines, f"API_KEYS_FILE {str(path)!r}")


def parse_rate_limit(text: str) -> tuple[RateLimitItem, ...]:
    """RATE_LIMIT's limits; ValueError for text `limits` cannot read, or a limit of 0."""
    try:
        items = limits.parse_many(text)
    except ValueError:
        raise ValueError(f"RATE_LIMIT={text!r} is not a rate limit {RATE_LIMIT_EXAMPLE}") from None
    if ZERO_WINDOW.search(text):
        raise ValueError(f"RATE_LIMIT={text!r}: a window must be at least 1 of its unit")
    if any(item.amount < 1 for item in items):
        raise ValueError(f"RATE_LIMIT={text!r}: each limit must allow at least 1 request")
    return tuple(items)
