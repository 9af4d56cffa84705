"""The model versions on disk: `v1`, `v2`, ... folders, each an artifact and its metadata.

Publishing claims the next free version by an atomic rename, so versions are immutable
and readers never see a half-written one. Finding, listing and publishing versions all
live here; loading one for serving is `predictor.model`'s job.
"""

import errno
import hashlib
import json
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

    def version_dir(self, version: str | None) -> Path:
        """The folder of the requested version, or of the newest one when `version` is None."""
        if version is not None:
            candidate = self.root / version
            if not (candidate / METADATA_NAME).is_file():
                listed = ", ".join(self.published_versions()) or "none"
                raise ModelLoadError(f"no version {version} in {self.root} (published: {listed})")
            return candidate
        published = self.published_versions()
        if not published:
            raise NoModelVersion(f"No model version in {self.root}")
        return self.root / published[-1]

    def publish(self, pipeline: Pipeline, metadata: dict[str, Any]) -> PublishedModel:
        """Write the artifact and metadata to a private folder, then claim the next version.

        Claiming is an atomic rename onto `v<N>`: it fails if `v<N>` exists, so concurrent
        trainings get distinct versions and readers never see a half-written one.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        staging.chmod(0o755)  # mkdtemp makes it private; a published version is for every reader
        try:
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
