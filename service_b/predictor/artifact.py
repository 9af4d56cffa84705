"""What a model artifact may contain, checked before anything in it is loaded.

skops' `trusted=` list only adds to skops' own defaults, which trust most of scikit-learn
(a StandardScaler, say): an artifact holding such a type would load, and then fail on
every prediction. The artifact's schema names the module and class of every object in
it; an artifact is read only if each one is in ALLOWED_TYPES, the exact set a trained
pipeline of this service is made of.
"""

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import skops.io

from predictor.errors import ModelLoadError

TRUSTED_TYPES = [
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.linear_model._logistic.LogisticRegression",
]
"""The scikit-learn types of a trained pipeline: given to skops as the types to trust."""

ALLOWED_TYPES = frozenset(
    [
        *TRUSTED_TYPES,
        *(f"builtins.{name}" for name in ("dict", "list", "tuple", "str", "int", "float", "bool")),
        "builtins.NoneType",
        *(f"numpy.{name}" for name in ("ndarray", "dtype", "float64", "int64", "int32", "bool_")),
    ]
)
"""Every type an artifact may name anywhere in its schema; anything else is refused."""


def types_in(artifact: Path) -> set[str]:
    """`module.class` of every object (and type reference) in the artifact's schema."""
    try:
        with zipfile.ZipFile(artifact) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ModelLoadError(f"Cannot read the schema of {artifact}: {error}") from error
    return {f"{module}.{name}" for module, name in _named_types(schema)}


def _named_types(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        module, name = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(name, str):
            yield module, name
        for value in node.values():
            yield from _named_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _named_types(value)


def load_pipeline(artifact: Path) -> Any:
    """The pipeline in `artifact`, once every type it names is allowed."""
    untrusted = sorted(types_in(artifact) - ALLOWED_TYPES)
    if untrusted:
        raise ModelLoadError(
            f"Refusing to load {artifact}: it contains types outside the allow-list: "
            + ", ".join(untrusted)
        )
    try:
        return skops.io.load(artifact, trusted=TRUSTED_TYPES)
    except Exception as error:  # skops raises several types for untrusted or corrupt files
        raise ModelLoadError(f"Cannot load {artifact}: {error}") from error
