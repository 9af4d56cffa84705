"""The model versions on disk: `v1`, `v2`, ... folders, each an artifact and its metadata.

Publishing claims the next free version by an atomic rename, so versions are immutable
and readers never see a half-written one. The version to serve is recorded in
`active.json`, replaced atomically, so every process sharing the folder reads either the
old record or the new one. Finding, listing and publishing versions all live here;
loading one for serving is `predictor.model`'s job.
"""

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import skops.io
from sklearn.pipeline import Pipeline

from predictor.errors import ModelLoadError, NoModelVersion

ARTIFACT_NAME = "model.skops"
METADATA_NAME = "metadata.json"
EXAMPLES_NAME = "examples.csv"
ACTIVE_NAME = "active.json"
VERSION_DIR_PATTERN = re.compile(r"^v([1-9][0-9]*)$")


@dataclass(frozen=True)
class PublishedModel:
    version: str
    directory: Path
    metadata: dict[str, Any]


class ModelStore:
    """The folder of model versions."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def version_numbers(self) -> list[int]:
        """Numbers of the folders named like a version, published or not, in order."""
        if not self.root.is_dir():
            return []
        return sorted(
            int(match.group(1))
            for entry in self.root.iterdir()
            if (match := VERSION_DIR_PATTERN.match(entry.name)) and entry.is_dir()
        )

    def published_versions(self) -> list[str]:
        """Versions with their metadata written, oldest first.

        A version folder without metadata is a crashed training's leftover, not a version.
        """
        return [
            f"v{number}"
            for number in self.version_numbers()
            if (self.root / f"v{number}" / METADATA_NAME).is_file()
        ]

    def has_version(self, version: str) -> bool:
        if VERSION_DIR_PATTERN.match(version) is None:
            return False
        try:
            return (self.root / version / METADATA_NAME).is_file()
        except OSError:  # a name the file system cannot hold (ENAMETOOLONG): not a version
            return False

    def signature(self, version: str) -> tuple[int, ...] | None:
        """Changes when the version's metadata or artifact is written; None if unreadable."""
        try:
            stats = [(self.root / version / name).stat() for name in (METADATA_NAME, ARTIFACT_NAME)]
        except OSError:
            return None
        return tuple(value for stat in stats for value in (stat.st_mtime_ns, stat.st_size))

    def metadata(self, version: str) -> dict[str, Any]:
        """A published version's metadata as written (ModelLoadError if unreadable)."""
        return read_metadata_file(self.root / version)

    def active_version(self) -> str | None:
        """The version recorded as active, or None when none was ever activated.

        Raises ModelLoadError for a record that cannot be read or names no version.
        """
        path = self.root / ACTIVE_NAME
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"Unreadable {path}: {error}") from None
        version = record.get("version") if isinstance(record, dict) else None
        if not isinstance(version, str) or not VERSION_DIR_PATTERN.match(version):
            raise ModelLoadError(f"Invalid {path}: no version named")
        return version

    def record_active(self, version: str) -> None:
        """Record `version` as the one to serve: written aside, then renamed over the record."""
        record = {"version": version, "activated_at": datetime.now(UTC).isoformat()}
        write_atomically(self.root / ACTIVE_NAME, json.dumps(record) + "\n")

    def served_version_dir(self, pinned: str | None) -> Path:
        """The folder to serve: the pinned version, else the active one, else the newest."""
        return self.version_dir(pinned or self.active_version())

    def version_dir(self, version: str | None) -> Path:
        """The folder of the requested version, or of the newest one when `version` is None."""
        if version is not None:
            candidate = self.root / version
            if not self.has_version(version):
                listed = ", ".join(self.published_versions()) or "none"
                raise ModelLoadError(f"no version {version} in {self.root} (published: {listed})")
            return candidate
        published = self.published_versions()
        if not published:
            raise NoModelVersion(f"No model version in {self.root}")
        return self.root / published[-1]

    def publish(
        self, pipeline: Pipeline, metadata: dict[str, Any], examples_csv: bytes | None = None
    ) -> PublishedModel:
        """Write the artifact, metadata (and the extra examples trained on, if any) to a
        private folder, then claim the next version.

        Claiming is an atomic rename onto `v<N>`: it fails if `v<N>` exists, so concurrent
        trainings get distinct versions and readers never see a half-written one.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        staging.chmod(0o755)  # mkdtemp makes it private; a published version is for every reader
        try:
            if examples_csv is not None:
                (staging / EXAMPLES_NAME).write_bytes(examples_csv)
            artifact = staging / ARTIFACT_NAME
            skops.io.dump(pipeline, artifact)
            contents = {**metadata, "artifact_sha256": sha256_of(artifact)}
            while True:
                version = f"v{max(self.version_numbers(), default=0) + 1}"
                created_at = datetime.now(UTC).isoformat()
                record = {"version": version, "created_at": created_at, **contents}
                (staging / METADATA_NAME).write_text(json.dumps(record, indent=2) + "\n")
                try:
                    # Renaming a folder onto an existing, non-empty one fails: someone else
                    # claimed this version first, so try the next one.
                    staging.rename(self.root / version)
                except OSError as error:
                    if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                    continue
                return PublishedModel(version, self.root / version, record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as artifact:
        for chunk in iter(lambda: artifact.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: readers see the old file or the new one, never a part."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_metadata_file(version_dir: Path) -> dict[str, Any]:
    """The JSON object in a version's metadata file (ModelLoadError if it is not one)."""
    path = version_dir / METADATA_NAME
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"Unreadable metadata {path}: {error}") from None
    if not isinstance(record, dict):
        raise ModelLoadError(f"Invalid metadata {path}: not a JSON object")
    return record
