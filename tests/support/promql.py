"""The series selectors of a PromQL expression: which metric names it reads, and from which
scrape job when it says so. Enough PromQL for the alerting rules in this repository, not a
parser: grouping clauses, ranges, numbers and function calls are set aside, and what is left
of each name (with its `{...}` matchers, if any) is a selector."""

import re
from dataclasses import dataclass

_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\boffset\s+\S+")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_:])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_NAME_AND_MATCHERS = re.compile(
    r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\s*(?P<matchers>\{[^}]*\})?\s*(?P<call>\()?"
)
_JOB_EQUALS = re.compile(r"\bjob\s*=\s*\"(?P<job>[^\"]*)\"")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "inf", "nan"})


@dataclass(frozen=True)
class Selector:
    metric: str
    job: str | None
    """The `job="..."` matcher's value; None when the selector names no single job."""


def selectors(expression: str) -> list[Selector]:
    text = expression
    for aside in (_GROUPING, _RANGE, _OFFSET, _NUMBER):
        text = aside.sub(" ", text)
    found = []
    for match in _NAME_AND_MATCHERS.finditer(text):
        name = match["name"]
        if match["call"] is not None or name.lower() in _KEYWORDS:
            continue  # a function or aggregation, or an operator
        job = _JOB_EQUALS.search(match["matchers"] or "")
        found.append(Selector(name, job["job"] if job else None))
    return found
