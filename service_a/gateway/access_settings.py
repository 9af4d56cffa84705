"""Reading the access settings (API_KEYS, API_KEYS_FILE, RATE_LIMIT) into what the gateway
checks; each refusal names the setting and never shows a key."""

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import limits
from limits import RateLimitItem
from pydantic import SecretStr
from redis.connection import parse_url

MIN_KEY_CHARS = 16
"""As the predictor's ADMIN_TOKEN: short keys can be guessed."""

SENDABLE_KEY = re.compile(r"[\x21-\x7e]+")
"""HTTP trims spaces around a header value and carries other text as latin-1: a key with
either could never be sent as it is set."""

ZERO_WINDOW = re.compile(r"(?:/|\bper)\s*0+\s*[a-z]", re.IGNORECASE)
"""`1/0 second`, which `limits` would silently read as `1/1 second`."""

RATE_LIMIT_EXAMPLE = "such as 100/second or 6000/minute;200/second"

MAX_KEYS = 1_000
"""Each check compares the sent key with every accepted one (constant time), so their
number bounds the cost of every request; more clients than this want an identity
provider in front, not a key list."""

MAX_KEY_FILE_BYTES = 1_048_576
"""Far above MAX_KEYS keys; a bigger API_KEYS_FILE is a wrong file (a log, a disk image)."""

MAX_WINDOW_S = 366 * 86_400
"""The longest window of a limit: a year (a quota longer than that is no rate limit, and
Redis's key expiry overflows at about 68 years)."""

REDIS_DB = re.compile(r"/?\d*")
"""The path of a redis:// URL: nothing or a database number (redis-py ignores any other)."""


def parse_api_keys(keys: Iterable[str], setting: str) -> tuple[SecretStr, ...]:
    """The keys, each stripped; ValueError, naming `setting` and the key's position (never
    the key), for a short, unsendable or repeated key, or for none at all."""
    parsed: dict[str, int] = {}
    for position, raw in enumerate(keys, start=1):
        key = raw.strip()
        if not key:
            raise ValueError(f"{setting}: key {position} is empty")
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(
                f"{setting}: key {position} is shorter than {MIN_KEY_CHARS} characters"
            )
        if not SENDABLE_KEY.fullmatch(key):
            raise ValueError(
                f"{setting}: key {position} must be printable ASCII characters without spaces"
            )
        if key in parsed:
            raise ValueError(f"{setting}: key {position} repeats key {parsed[key]}")
        if len(parsed) == MAX_KEYS:
            raise ValueError(f"{setting}: holds more than {MAX_KEYS} keys")
        parsed[key] = position
    if not parsed:
        raise ValueError(f"{setting}: holds no key")
    return tuple(SecretStr(key) for key in parsed)


def read_api_key_file(path: Path) -> tuple[SecretStr, ...]:
    """The keys of an API_KEYS_FILE: one a line; blank lines and `#` comments are skipped.

    Only a regular file of at most MAX_KEY_FILE_BYTES is read (a FIFO would block the
    start for ever, /dev/zero fill the memory); a UTF-8 byte order mark is allowed.
    """
    where = f"API_KEYS_FILE {str(path)!r}"
    try:
        # Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise ValueError(f"{where} cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ValueError(f"{where} is not a regular file")
    with os.fdopen(descriptor, "rb") as file:
        try:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as error:
            raise ValueError(f"{where} cannot be read: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ValueError(f"{where} is larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{where} cannot be read: not UTF-8 text") from None
    lines = (
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    return parse_api_keys(lines, where)


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
    if any(item.get_expiry() > MAX_WINDOW_S for item in items):
        raise ValueError(f"RATE_LIMIT={text!r}: a window must be at most a year")
    return tuple(items)


def shown_url(url: str) -> str:
    """A storage URL for logs and refusals: scheme, host, port and path, without the user,
    the password or the query (which may hold a password too)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ":?"
    host = parts.hostname or ""
    return SplitResult(parts.scheme, host + port, parts.path, "", "").geturl()


def redis_py_url(url: str) -> str:
    """`url` as redis-py spells it: what `limits` calls redis+unix:// is its unix://."""
    return url.replace("redis+unix://", "unix://", 1)


def check_redis_url(url: str) -> None:
    """ValueError, the URL shown without secrets, if redis-py cannot use `url` as it is
    meant (a port or option it cannot read, a path that is no database number)."""
    parts = urlsplit(url)
    shown = shown_url(url)
    try:
        parse_url(redis_py_url(url))  # type: ignore[no-untyped-call]
        if parts.scheme != "redis+unix" and not REDIS_DB.fullmatch(parts.path):
            raise ValueError("the path must be a database number, such as /0")
    except ValueError as error:
        raise ValueError(f"RATE_LIMIT_STORAGE {shown} is not a usable Redis URL: {error}") from None
