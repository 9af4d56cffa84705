"""The lock files (`make lock`): each is hash-locked, pins every direct dependency of the
list it is compiled from (its .in) at that list's version, and agrees with the locks that
list includes (-r) or is constrained by (-c), so the dev lock cannot drift from the
services' locks."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every list of direct dependencies: at the root and in each service's folder.
SOURCES = sorted([*REPO_ROOT.glob("requirements*.in"), *REPO_ROOT.glob("*/requirements*.in")])
# What `make lock` compiles (its lock_sources).
LOCK_FILES_SCRIPT = REPO_ROOT / "scripts" / "lock_files.sh"
COMMENT = re.compile(r"(^|\s)#.*")
REQUIREMENT = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?P<spec>[^;\s]*)")
HASH_OPTION = "--hash=sha256:"


@dataclass(frozen=True)
class Requirement:
    name: str
    """Normalized as PyPI does (PEP 503): prometheus_client and prometheus-client are one."""
    version: str | None
    """The version of an exact pin (==), else None."""
    hashes: int


@dataclass(frozen=True)
class RequirementsFile:
    requirements: list[Requirement]
    includes: list[Path]
    """Files named by -r lines."""
    constraints: list[Path]
    """Files named by -c lines."""
    options: list[str]
    """Any other option line (an index, find-links, an editable ...)."""

    def pins(self) -> dict[str, str | None]:
        return {requirement.name: requirement.version for requirement in self.requirements}


def lock_of(source: Path) -> Path:
    return source.with_suffix(".txt")


def label(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(path: Path) -> list[str]:
    """Lines without comments, each continued line (ending in a backslash) joined to the next."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = COMMENT.sub("", raw).strip()
        if line.endswith("\\"):
            pending += line.removesuffix("\\") + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    return lines


@cache
def parsed(path: Path) -> RequirementsFile:
    requirements: list[Requirement] = []
    includes: list[Path] = []
    constraints: list[Path] = []
    options: list[str] = []
    for line in logical_lines(path):
        option, _, argument = line.partition(" ")
        if option in ("-r", "-c"):
            # pip reads a nested file's path relative to the file that names it.
            (includes if option == "-r" else constraints).append(
                (path.parent / argument.strip()).resolve()
            )
        elif line.startswith("-"):
            options.append(line)
        else:
            match = REQUIREMENT.match(line)
            assert match is not None, f"{label(path)}: cannot read {line!r}"
            spec = match["spec"]
            requirements.append(
                Requirement(
                    name=normalized(match["name"]),
                    version=spec.removeprefix("==") if spec.startswith("==") else None,
                    hashes=line.count(HASH_OPTION),
                )
            )
    return RequirementsFile(requirements, includes, constraints, options)


def direct_dependencies(source: Path) -> list[Requirement]:
    """The requirements of a .in and of the .in files it includes (-r)."""
    listed = parsed(source)
    return [
        *listed.requirements,
        *(
            requirement
            for include in listed.includes
            for requirement in direct_dependencies(include)
        ),
    ]


def ids(paths: list[Path]) -> list[str]:
    return [label(path) for path in paths]


INCLUDED = [(source, include) for source in SOURCES for include in parsed(source).includes]
CONSTRAINED = [(source, lock) for source in SOURCES for lock in parsed(source).constraints]


def test_make_lock_compiles_every_list_of_direct_dependencies() -> None:
    compiled = LOCK_FILES_SCRIPT.read_text()
    assert SOURCES
    assert [label(source) for source in SOURCES if label(source) not in compiled] == []


@pytest.mark.parametrize("source", SOURCES, ids=ids(SOURCES))
def test_every_requirement_of_a_lock_is_pinned_exactly_with_hashes(source: Path) -> None:
    requirements = parsed(lock_of(source)).requirements
    assert requirements
    assert [r for r in requirements if r.version is None or r.hashes == 0] == []


@pytest.mark.parametrize("source", SOURCES, ids=ids(SOURCES))
def test_a_lock_names_no_index_no_link_and_no_other_file(source: Path) -> None:
    # A machine's mirror or find-links leaking into a lock would send installs elsewhere.
    lock = parsed(lock_of(source))
    assert (lock.options, lock.includes, lock.constraints) == ([], [], [])


@pytest.mark.parametrize("source", SOURCES, ids=ids(SOURCES))
def test_direct_dependencies_are_pinned_exactly(source: Path) -> None:
    assert [r.name for r in direct_dependencies(source) if r.version is None] == []


@pytest.mark.parametrize("source", SOURCES, ids=ids(SOURCES))
def test_a_lock_pins_each_direct_dependency_at_its_listed_version(source: Path) -> None:
    # Pairs, not a dict: two included lists pinning one package differently both count.
    locked = parsed(lock_of(source)).pins()
    listed = [(r.name, r.version) for r in direct_dependencies(source)]
    assert [(name, locked.get(name)) for name, _ in listed] == listed


@pytest.mark.parametrize(
    ("source", "include"), INCLUDED, ids=[f"{label(s)}:{label(i)}" for s, i in INCLUDED]
)
def test_a_lock_holds_every_pin_of_the_lock_of_an_included_list(
    source: Path, include: Path
) -> None:
    locked = parsed(lock_of(source)).pins()
    included = parsed(lock_of(include)).pins()
    assert {name: locked.get(name) for name in included} == included


@pytest.mark.parametrize(
    ("source", "constraint"), CONSTRAINED, ids=[f"{label(s)}:{label(c)}" for s, c in CONSTRAINED]
)
def test_a_lock_pins_what_it_shares_with_its_constraints_identically(
    source: Path, constraint: Path
) -> None:
    locked = parsed(lock_of(source)).pins()
    constraining = parsed(constraint).pins()
    shared = locked.keys() & constraining.keys()
    assert shared
    assert {name: locked[name] for name in shared} == {name: constraining[name] for name in shared}
