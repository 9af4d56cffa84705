"""The rule for the text both services accept: it must hold a character that is not
whitespace. One pattern is both the check and what the OpenAPI documents say.

Whitespace is what Python's `str.isspace` calls whitespace (so `str.strip()` agrees),
spelled out as a character class: `\\s` means something else in each regex engine
(ECMAScript's, which JSON Schema patterns use, counts U+FEFF and not U+001C-U+001F; Rust's,
which pydantic and schema validators use, counts neither), while this class reads the
same in all of them.
"""

import re
from typing import Final

WHITESPACE_CLASS: Final = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character `str.isspace` is true for, as the inside of a regex class."""

NON_BLANK_PATTERN: Final = f"[^{WHITESPACE_CLASS}]"
"""Matches (somewhere in it, as a JSON Schema `pattern` does) a text that is not blank."""

_NON_BLANK = re.compile(NON_BLANK_PATTERN)


def is_blank(text: str) -> bool:
    """Whether `text` is empty or only whitespace (the opposite of NON_BLANK_PATTERN)."""
    return _NON_BLANK.search(text) is None
