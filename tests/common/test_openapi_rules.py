"""The non-blank rule reads the same in every regex engine and is the services' own
check, and the limits of settings go into the OpenAPI documents."""

import sys
from typing import Annotated, Any

import pytest
from pydantic import StringConstraints, TypeAdapter, ValidationError

from service_common.openapi import complete_openapi
from service_common.text import NON_BLANK_PATTERN, is_blank

WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]
# The characters next to each run of whitespace, and U+FEFF (whitespace to ECMAScript's \s).
NEIGHBOURS = "\u0008\u000e\u001b\u0021\u0084\u0086\u009f\u00a1\u167f\u1681\u1fff\u200b"
NEIGHBOURS += "\u2027\u202a\u202e\u2030\u205e\u2060\u2fff\u3001\ufeff"


def test_blank_is_what_str_isspace_says_for_every_character() -> None:
    mismatches = [
        code
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF and is_blank(chr(code)) != chr(code).isspace()
    ]

    assert mismatches == []


def test_blank_pattern_reads_the_same_in_pydantics_rust_regex_engine() -> None:
    non_blank = TypeAdapter(Annotated[str, StringConstraints(pattern=NON_BLANK_PATTERN)])

    for character in WHITESPACE:
        with pytest.raises(ValidationError):
            non_blank.validate_python(character * 2)
    for character in NEIGHBOURS:
        assert non_blank.validate_python(f" {character}\u3000") == f" {character}\u3000"


@pytest.mark.parametrize("text", ["", " ", "\t\n", "\u001c\u0085\u3000", "\u2028\u00a0"])
def test_empty_or_whitespace_only_text_is_blank(text: str) -> None:
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", "  a  ", "\u3000cat\u3000", "\ufeff", "\u200b"])
def test_text_with_one_other_character_is_not_blank(text: str) -> None:
    assert not is_blank(text)


def test_limit_for_a_schema_the_document_lacks_is_an_error() -> None:
    document: dict[str, Any] = {
        "paths": {},
        "components": {"schemas": {"Known": {"properties": {}}}},
    }

    with pytest.raises(KeyError):
        complete_openapi(document, {"Renamed": {"data": {"maxLength": 5}}})
    with pytest.raises(KeyError):
        complete_openapi(document, {"Known": {"renamed": {"maxLength": 5}}})
