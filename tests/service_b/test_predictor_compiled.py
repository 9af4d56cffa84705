"""The compiled scoring path (predictor.compiled): the pipeline's answers from arrays, the
refusal of what it cannot represent, the fallback to the pipeline at load, SCORING_PATH,
both paths behind the batcher, and the load-time comparison (predictor.verification)."""

import asyncio
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import MaxAbsScaler

from predictor.compiled import CACHED_WORD_MAX_CHARS, CompiledPipeline, WordCachedColumns
from predictor.config import Settings
from predictor.errors import UnsupportedPipeline
from predictor.main import create_app
from predictor.model import LoadedModel, ScoringOptions, load_model
from predictor.model_store import ModelStore, PublishedModel
from predictor.startup import scoring_options
from predictor.training_config import TrainingConfig
from predictor.verification import (
    GENERATED_AT_LOAD,
    SEED,
    TOLERANCE,
    Difference,
    compare,
    generated_texts,
    load_sample,
    words_of,
)
from service_common.errors import StartupError
from service_common.settings import load_settings
from tests.support.asgi import serve
from tests.support.logs import captured_log
from tests.support.predictor import settings_with
from tests.support.tiny_dataset import (
    SAMPLE_TEXTS,
    TINY_HOLDOUT_ROWS,
    TINY_TRAINING_ROWS,
    varied_texts,
    write_tiny_training_dir,
)

ALL_CLASSES = tuple(TINY_TRAINING_ROWS)
TINY_TEXTS = [
    *(text for texts in TINY_TRAINING_ROWS.values() for text in texts),
    *(text for texts in TINY_HOLDOUT_ROWS.values() for text in texts),
    *SAMPLE_TEXTS,
]
HOLDOUT_TEXTS = tuple(text for texts in TINY_HOLDOUT_ROWS.values() for text in texts)
LOAD_SAMPLE_SIZE = 1 + GENERATED_AT_LOAD
"""Texts a load with no holdout is checked on: the smoke text and the generated ones."""

COMPATIBILITY_TEXTS = [
    "the cat\u2122 purrs on the sofa",  # TRADE MARK SIGN: "TM"
    "\u210cops in the garden with the bunny",  # BLACK-LETTER CAPITAL H: "H"
    "\U0001d413\U0001d407\U0001d404 dog barks",  # MATHEMATICAL BOLD CAPITAL T, H, E
    "a \u3381 fish in the tank",  # SQUARE NA: "nA"
    "\u2121 the parrot sings",  # TELEPHONE SIGN: "TEL"
]
"""Texts whose compatibility decomposition (strip_accents) holds capital letters."""

ENGLISH_WORDS = TfidfVectorizer(stop_words="english").build_analyzer()


# --- Fitted pipelines -------------------------------------------------------------------


def tiny_labelled(classes: Sequence[str]) -> tuple[list[str], list[str]]:
    rows = [(text, label) for label in classes for text in TINY_TRAINING_ROWS[label]]
    return [text for text, _ in rows], [label for _, label in rows]


def fitted(features: Any, classes: Sequence[str] = ALL_CLASSES, classifier: Any = None) -> Any:
    """Pipeline(features, classifier) fitted on the tiny dataset's rows of `classes`."""
    pipeline = Pipeline(
        [
            ("features", features),
            ("classifier", classifier or LogisticRegression(C=10.0, max_iter=1000)),
        ]
    )
    return pipeline.fit(*tiny_labelled(classes))


def union(**vectorizers: Any) -> FeatureUnion:
    return FeatureUnion(list(vectorizers.items()))


@dataclass(frozen=True)
class Recipe:
    features: Callable[[], Any]
    classes: tuple[str, ...] = ALL_CLASSES


def service_features() -> FeatureUnion:
    """The shape of the service's own recipe (service_b/training.toml)."""
    return union(
        word=TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english"),
        char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )


RECIPES = {
    "word": Recipe(lambda: union(word=TfidfVectorizer())),
    "word-1-3-sublinear": Recipe(
        lambda: union(word=TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True))
    ),
    "word-stop-words": Recipe(
        lambda: union(word=TfidfVectorizer(stop_words="english", ngram_range=(1, 2)))
    ),
    "char-1-4": Recipe(lambda: union(char=TfidfVectorizer(analyzer="char", ngram_range=(1, 4)))),
    "char-wb-1-1": Recipe(lambda: union(char=TfidfVectorizer(analyzer="char_wb"))),
    "char-wb-2-5-sublinear": Recipe(
        lambda: union(
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        )
    ),
    "word-and-char-wb": Recipe(service_features),
    "strip-accents-ascii": Recipe(
        lambda: union(
            word=TfidfVectorizer(strip_accents="ascii"),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), strip_accents="ascii"),
        )
    ),
    "strip-accents-unicode": Recipe(
        lambda: union(
            char=TfidfVectorizer(analyzer="char", ngram_range=(2, 3), strip_accents="unicode"),
            char_wb=TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), strip_accents="unicode"
            ),
        )
    ),
    "case-sensitive": Recipe(
        lambda: union(
            word=TfidfVectorizer(lowercase=False),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False),
        )
    ),
    "max-features": Recipe(
        lambda: union(
            word=TfidfVectorizer(max_features=20),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), max_features=60),
        )
    ),
    "binary-tf": Recipe(
        lambda: union(
            word=TfidfVectorizer(binary=True),
            char=TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), binary=True, sublinear_tf=True
            ),
        )
    ),
    "l1-norm": Recipe(
        lambda: union(
            word=TfidfVectorizer(norm="l1"),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), norm="l1"),
        )
    ),
    "no-norm": Recipe(
        lambda: union(
            word=TfidfVectorizer(norm=None, sublinear_tf=True),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), norm=None),
        )
    ),
    "no-idf": Recipe(
        lambda: union(
            word=TfidfVectorizer(use_idf=False),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), use_idf=False),
        )
    ),
    "unsmoothed-idf": Recipe(
        lambda: union(
            word=TfidfVectorizer(smooth_idf=False),
            char=TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), smooth_idf=False),
        )
    ),
    "single-vectorizer": Recipe(lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4))),
    "dropped-step": Recipe(
        lambda: FeatureUnion(
            [
                ("word", TfidfVectorizer()),
                ("unused", "drop"),
                ("char", TfidfVectorizer(analyzer="char")),
            ]
        )
    ),
    "two-classes": Recipe(service_features, ("cat", "dog")),
    "three-classes": Recipe(service_features, ("bird", "cat", "fish")),
}


@dataclass(frozen=True)
class FittedRecipe:
    pipeline: Any
    texts: list[str]
    expected: NDArray[np.float64] = field(repr=False)
    """The pipeline's own answers for `texts`."""


@pytest.fixture(scope="module")
def compared_texts() -> list[str]:
    """The tiny texts, then 500 generated ones (words, characters, unicode, stop words)."""
    return [*TINY_TEXTS, *generated_texts(500, words_of(TINY_TEXTS))]


@pytest.fixture(scope="module", params=sorted(RECIPES))
def fitted_recipe(request: pytest.FixtureRequest, compared_texts: list[str]) -> FittedRecipe:
    recipe = RECIPES[request.param]
    pipeline = fitted(recipe.features(), recipe.classes)
    expected = pipeline.predict_proba(compared_texts)
    # The answers tell classes apart, so equal answers say something.
    assert len(np.unique(expected.argmax(axis=1))) == len(recipe.classes)
    return FittedRecipe(pipeline, compared_texts, expected)


def in_batches(texts: Sequence[str], size: int) -> list[Sequence[str]]:
    return [texts[start : start + size] for start in range(0, len(texts), size)]


def compiled_answers(
    compiled: CompiledPipeline, texts: Sequence[str], batch_size: int
) -> NDArray[np.float64]:
    return np.vstack([compiled.predict_proba(batch) for batch in in_batches(texts, batch_size)])


def assert_same_answers(
    texts: Sequence[str], actual: NDArray[np.float64], expected: NDArray[np.float64]
) -> None:
    """Identical classes, and probabilities within TOLERANCE, for every text."""
    assert actual.shape == expected.shape
    per_text = np.abs(actual - expected).max(axis=1, initial=0.0)
    differing = np.flatnonzero(
        (per_text > TOLERANCE) | (actual.argmax(axis=1) != expected.argmax(axis=1))
    )
    shown = [(texts[row], float(per_text[row])) for row in differing[:5]]
    assert differing.size == 0, f"{differing.size} texts answered differently, e.g. {shown}"


# --- Equality with the pipeline ---------------------------------------------------------


@pytest.mark.parametrize("cache_words", [0, 3], ids=["no-cache", "cache-3"])
@pytest.mark.parametrize("batch_size", [1, 17], ids=["batch-1", "batch-17"])
def test_compiled_path_answers_as_the_pipeline(
    fitted_recipe: FittedRecipe, batch_size: int, cache_words: int
) -> None:
    compiled = CompiledPipeline.from_pipeline(fitted_recipe.pipeline, cache_words)

    actual = compiled_answers(compiled, fitted_recipe.texts, batch_size)

    assert_same_answers(fitted_recipe.texts, actual, fitted_recipe.expected)


def test_compiled_path_answers_as_the_pipeline_once_its_word_cache_is_warm(
    compared_texts: list[str],
) -> None:
    pipeline = fitted(service_features())
    compiled = CompiledPipeline.from_pipeline(pipeline, cache_words=65_536)
    expected = pipeline.predict_proba(compared_texts)

    cold = compiled_answers(compiled, compared_texts, batch_size=1)
    warm = compiled_answers(compiled, list(reversed(compared_texts)), batch_size=1)[::-1]

    assert_same_answers(compared_texts, cold, expected)
    assert_same_answers(compared_texts, warm, expected)


@pytest.mark.parametrize("cache_words", [0, 3], ids=["no-cache", "cache-3"])
@pytest.mark.parametrize("strip_accents", ["ascii", "unicode"])
def test_compiled_char_wb_answers_as_the_pipeline_on_compatibility_characters(
    strip_accents: str, cache_words: int
) -> None:
    # strip_accents decomposes the trade mark sign into "TM" and the black-letter H into
    # "H": capitals, which the pipeline keeps as they are (it lowercases, then strips).
    pipeline = fitted(
        union(
            char=TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, 3), strip_accents=strip_accents
            )
        )
    )
    compiled = CompiledPipeline.from_pipeline(pipeline, cache_words)

    actual = compiled_answers(compiled, COMPATIBILITY_TEXTS, batch_size=1)

    assert_same_answers(COMPATIBILITY_TEXTS, actual, pipeline.predict_proba(COMPATIBILITY_TEXTS))


def test_word_cache_stays_within_its_size_and_skips_long_words() -> None:
    """Whatever clients send, the cache holds at most COMPILED_CACHE_WORDS words, none
    longer than CACHED_WORD_MAX_CHARS; long words are still scored as the pipeline does."""
    pipeline = fitted(service_features())
    compiled = CompiledPipeline.from_pipeline(pipeline, cache_words=50)
    [char_features] = [
        vectorizer.known_columns
        for vectorizer in compiled.vectorizers
        if isinstance(vectorizer.known_columns, WordCachedColumns)
    ]
    distinct = [f"purr{index}cat" for index in range(200)]
    long_words = ["meow" * (CACHED_WORD_MAX_CHARS // 4 + 1) + str(index) for index in range(20)]
    texts = [" ".join(distinct[start : start + 10]) for start in range(0, 200, 10)] + long_words

    actual = compiled_answers(compiled, texts, batch_size=4)

    assert_same_answers(texts, actual, pipeline.predict_proba(texts))
    cache = char_features.cache_info()
    assert cache.currsize == 50
    assert cache.misses == len(distinct)  # the long words never went through the cache


# --- What the compiled path cannot represent --------------------------------------------


class SubclassedTfidf(TfidfVectorizer):  # type: ignore[misc]
    """A TfidfVectorizer subclass: it may transform differently, so it is not compiled."""


def with_norm(pipeline: Any, norm: str) -> Any:
    """`pipeline` with its first vectorizer's norm changed after fitting."""
    pipeline.named_steps["features"].transformer_list[0][1].norm = norm
    return pipeline


def narrowed(pipeline: Any) -> Any:
    """`pipeline` with its classifier fitted on more features than its vectorizers give."""
    features = pipeline.named_steps["features"].transformer_list[:1]
    return Pipeline([("features", FeatureUnion(features)), pipeline.steps[-1]])


def classifier_only() -> Any:
    return fitted(union(word=TfidfVectorizer())).named_steps["classifier"]


UNSUPPORTED: dict[str, tuple[Callable[[], Any], str]] = {
    "count-vectorizer-feature": (
        lambda: fitted(union(word=TfidfVectorizer(), counts=CountVectorizer())),
        re.escape("feature 'counts' is a CountVectorizer"),
    ),
    "tfidf-subclass-feature": (
        lambda: fitted(union(word=SubclassedTfidf())),
        re.escape("feature 'word' is a SubclassedTfidf"),
    ),
    "float32-feature": (
        lambda: fitted(union(word=TfidfVectorizer(dtype=np.float32))),
        r"feature 'word' has dtype .*float32",
    ),
    "max-norm": (
        lambda: with_norm(fitted(union(word=TfidfVectorizer())), "max"),
        re.escape("feature 'word' has norm 'max'"),
    ),
    "transformer-weights": (
        lambda: fitted(
            FeatureUnion([("word", TfidfVectorizer())], transformer_weights={"word": 2.0})
        ),
        re.escape("the FeatureUnion has transformer_weights"),
    ),
    "only-dropped-features": (
        lambda: Pipeline(
            [("features", FeatureUnion([("word", "drop")])), ("classifier", classifier_only())]
        ),
        re.escape("the FeatureUnion has no features"),
    ),
    "count-vectorizer-feature-step": (
        lambda: fitted(CountVectorizer()),
        re.escape("the feature step is a CountVectorizer"),
    ),
    "sgd-classifier": (
        lambda: fitted(union(word=TfidfVectorizer()), classifier=SGDClassifier(loss="log_loss")),
        re.escape("the classifier is a SGDClassifier"),
    ),
    "logistic-regression-cv": (
        lambda: fitted(
            union(word=TfidfVectorizer()),
            classifier=LogisticRegressionCV(
                Cs=2, cv=2, l1_ratios=(0.0,), scoring="neg_log_loss", use_legacy_attributes=False
            ),
        ),
        re.escape("the classifier is a LogisticRegressionCV"),
    ),
    "three-steps": (
        lambda: Pipeline(
            [
                ("features", union(word=TfidfVectorizer())),
                ("scale", MaxAbsScaler()),
                ("classifier", LogisticRegression()),
            ]
        ).fit(*tiny_labelled(ALL_CLASSES)),
        re.escape("not a two-step Pipeline"),
    ),
    "not-a-pipeline": (classifier_only, re.escape("not a two-step Pipeline")),
    "coefficient-width-mismatch": (
        lambda: narrowed(fitted(service_features())),
        r"the classifier has \d+ features, the vectorizers \d+",
    ),
}


@pytest.mark.parametrize(("build", "named"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_unrepresentable_pipeline_is_refused_naming_the_part(
    build: Callable[[], Any], named: str
) -> None:
    pipeline = build()

    with pytest.raises(UnsupportedPipeline, match=named):
        CompiledPipeline.from_pipeline(pipeline, cache_words=0)


# --- Loading: the compiled path is served only once it answers as the pipeline ----------


def warnings_in(log: str) -> list[str]:
    return [line for line in log.splitlines() if " WARNING predictor.model " in line]


def infos_in(log: str) -> list[str]:
    return [line for line in log.splitlines() if " INFO predictor.model " in line]


def assert_answers_as_its_pipeline(model: LoadedModel, texts: Sequence[str]) -> None:
    expected = model.pipeline.predict_proba(texts)
    classes = model.pipeline.classes_

    scores = model.score(texts)

    assert [score.label for score in scores] == [str(classes[i]) for i in expected.argmax(1)]
    assert [score.confidence for score in scores] == pytest.approx(
        expected.max(axis=1).tolist(), abs=TOLERANCE, rel=0
    )


@pytest.fixture(scope="module")
def weighted_version(
    tiny_published: PublishedModel, tmp_path_factory: pytest.TempPathFactory
) -> PublishedModel:
    """A published version whose FeatureUnion has transformer_weights: the artifact
    allow-list accepts it, the compiled path cannot represent it."""
    weighted = FeatureUnion(
        service_features().transformer_list, transformer_weights={"word": 2.0, "char": 0.5}
    )
    recorded = ("version", "created_at", "artifact_sha256")
    metadata = {k: v for k, v in tiny_published.metadata.items() if k not in recorded}
    store = ModelStore(tmp_path_factory.mktemp("weighted_models"))
    return store.publish(fitted(weighted), metadata)


def test_tiny_model_is_served_by_its_compiled_path(tiny_model: LoadedModel) -> None:
    assert tiny_model.scoring_path == "compiled"
    assert_answers_as_its_pipeline(tiny_model, [*TINY_TEXTS, *varied_texts(100)])


def test_successful_compiled_load_is_logged_with_the_sample_size(
    tiny_published: PublishedModel,
) -> None:
    with captured_log("predictor") as log:
        model = load_model(tiny_published.directory, ScoringOptions(holdout=HOLDOUT_TEXTS))

    assert model.scoring_path == "compiled"
    checked = LOAD_SAMPLE_SIZE + len(HOLDOUT_TEXTS)
    assert any(
        f"Model v1 scores with its compiled path (checked on {checked} texts" in line
        for line in infos_in(log.getvalue())
    )
    assert warnings_in(log.getvalue()) == []


def test_model_the_compiled_path_cannot_represent_is_served_by_its_pipeline(
    weighted_version: PublishedModel,
) -> None:
    with captured_log("predictor") as log:
        model = load_model(weighted_version.directory)

    assert model.scoring_path == "pipeline"
    assert model.compiled is None
    [warning] = warnings_in(log.getvalue())
    assert warning.endswith(
        "Model v1 scores with its pipeline: the compiled path cannot represent it "
        "(the FeatureUnion has transformer_weights)"
    )
    assert_answers_as_its_pipeline(model, [*TINY_TEXTS, *varied_texts(100)])


async def test_ready_reports_the_pipeline_path_for_a_model_the_compiled_path_cannot_represent(
    settings: Settings, weighted_version: PublishedModel
) -> None:
    app = create_app(settings_with(settings, MODEL_DIR=weighted_version.directory.parent))

    async with serve(app) as client:
        response = await client.get("/ready")

    assert response.json() == {"status": "ready", "model_version": "v1", "scoring_path": "pipeline"}


def shifting(delta: float) -> Callable[[CompiledPipeline, Sequence[str]], NDArray[np.float64]]:
    """CompiledPipeline.predict_proba moving `delta` of probability from the second class
    to the first, for every text: still probabilities, a little off."""
    original = CompiledPipeline.predict_proba

    def predict_proba(self: CompiledPipeline, texts: Sequence[str]) -> NDArray[np.float64]:
        probabilities = original(self, texts)
        probabilities[:, 0] += delta
        probabilities[:, 1] -= delta
        return probabilities

    return predict_proba


def test_compiled_path_that_differs_beyond_the_tolerance_is_refused_at_load(
    tiny_published: PublishedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CompiledPipeline, "predict_proba", shifting(1e-6))

    with captured_log("predictor") as log:
        model = load_model(tiny_published.directory)

    assert model.scoring_path == "pipeline"
    [warning] = warnings_in(log.getvalue())
    assert (
        "Model v1 scores with its pipeline: its compiled path was refused, it differs on the "
        f"load sample ({LOAD_SAMPLE_SIZE} texts: largest probability difference 1e-06, "
        "allowed 1e-09; 0 different classes)"
    ) in warning
    assert_answers_as_its_pipeline(model, TINY_TEXTS)


def test_compiled_path_that_raises_on_the_load_sample_is_refused_at_load(
    tiny_published: PublishedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: CompiledPipeline, texts: Sequence[str]) -> NDArray[np.float64]:
        raise FloatingPointError("the arrays broke")

    monkeypatch.setattr(CompiledPipeline, "predict_proba", broken)

    with captured_log("predictor") as log:
        model = load_model(tiny_published.directory)

    assert model.scoring_path == "pipeline"
    [warning] = warnings_in(log.getvalue())
    assert warning.endswith(
        "Model v1 scores with its pipeline: its compiled path failed on the load sample "
        "(FloatingPointError: the arrays broke)"
    )
    assert_answers_as_its_pipeline(model, TINY_TEXTS)


def test_compiled_path_that_differs_within_the_tolerance_is_served(
    tiny_published: PublishedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CompiledPipeline, "predict_proba", shifting(1e-12))

    with captured_log("predictor") as log:
        model = load_model(tiny_published.directory)

    assert model.scoring_path == "compiled"
    assert warnings_in(log.getvalue()) == []


def test_scoring_path_pipeline_loads_without_the_compiled_path(
    tiny_published: PublishedModel,
) -> None:
    with captured_log("predictor") as log:
        model = load_model(tiny_published.directory, ScoringOptions("pipeline"))

    assert model.scoring_path == "pipeline"
    assert any(
        line.endswith("Model v1 scores with its pipeline (SCORING_PATH=pipeline)")
        for line in infos_in(log.getvalue())
    )


# --- SCORING_PATH and COMPILED_CACHE_WORDS ----------------------------------------------


@pytest.fixture
def tiny_version_in_model_dir(models_dir: Path, tiny_published: PublishedModel) -> Path:
    """`settings`' MODEL_DIR, holding a copy of the tiny version v1."""
    shutil.copytree(tiny_published.directory, models_dir / tiny_published.version)
    return models_dir


async def ready_body(settings: Settings) -> dict[str, Any]:
    async with serve(create_app(settings)) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_app_serves_the_compiled_path_by_default(
    settings: Settings, tiny_version_in_model_dir: Path
) -> None:
    body = await ready_body(settings)

    assert body == {"status": "ready", "model_version": "v1", "scoring_path": "compiled"}


async def test_scoring_path_pipeline_setting_serves_the_pipeline(
    settings: Settings, tiny_version_in_model_dir: Path
) -> None:
    body = await ready_body(settings_with(settings, SCORING_PATH="pipeline"))

    assert body == {"status": "ready", "model_version": "v1", "scoring_path": "pipeline"}


async def test_compiled_path_is_served_when_the_training_config_cannot_be_read(
    settings: Settings, tiny_version_in_model_dir: Path, tmp_path: Path
) -> None:
    body = await ready_body(settings_with(settings, TRAINING_CONFIG=tmp_path / "nowhere.toml"))

    assert body["scoring_path"] == "compiled"


def test_scoring_settings_default_to_the_compiled_path_with_a_word_cache() -> None:
    settings = Settings()

    assert (settings.SCORING_PATH, settings.COMPILED_CACHE_WORDS) == ("compiled", 65_536)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCORING_PATH", "fast"),
        ("SCORING_PATH", "Compiled"),
        ("COMPILED_CACHE_WORDS", "-1"),
        ("COMPILED_CACHE_WORDS", "10000001"),
        ("COMPILED_CACHE_WORDS", "many"),
    ],
)
def test_invalid_scoring_setting_refuses_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SystemExit) as exited:
        load_settings(Settings)

    [line] = str(exited.value.code).splitlines()
    assert line.startswith(f"Invalid setting {name}={value!r}: ")


def test_scoring_options_check_the_compiled_path_on_the_training_holdout(
    settings: Settings, tiny_config: TrainingConfig
) -> None:
    options = scoring_options(settings_with(settings, COMPILED_CACHE_WORDS=99), tiny_config)

    assert options == ScoringOptions("compiled", HOLDOUT_TEXTS, 99)


def test_scoring_options_read_the_holdout_when_model_dir_is_set(settings: Settings) -> None:
    assert settings.MODEL_DIR is not None

    options = scoring_options(settings, None)

    assert options == ScoringOptions("compiled", HOLDOUT_TEXTS, settings.COMPILED_CACHE_WORDS)


def test_scoring_options_without_a_readable_training_config_have_no_holdout(
    settings: Settings, tmp_path: Path
) -> None:
    unreadable = settings_with(settings, TRAINING_CONFIG=tmp_path / "nowhere.toml")

    options = scoring_options(unreadable, None)

    assert options == ScoringOptions("compiled", (), settings.COMPILED_CACHE_WORDS)


def test_scoring_options_of_the_pipeline_path_need_no_holdout(
    settings: Settings, tiny_config: TrainingConfig
) -> None:
    options = scoring_options(settings_with(settings, SCORING_PATH="pipeline"), tiny_config)

    assert options == ScoringOptions("pipeline")


def test_unreadable_holdout_refuses_start_up_naming_the_training_config(
    settings: Settings, tmp_path: Path
) -> None:
    config_path = write_tiny_training_dir(tmp_path)
    (tmp_path / "holdout.csv").write_bytes(b"text,label\n\xff\xfe not utf-8,cat\n")

    with pytest.raises(StartupError, match=r"^Invalid TRAINING_CONFIG: holdout .*holdout\.csv"):
        scoring_options(
            settings_with(settings, TRAINING_CONFIG=config_path),
            TrainingConfig.from_file(config_path),
        )


# --- Both paths behind the batcher ------------------------------------------------------


async def post_all(client: httpx.AsyncClient, texts: list[str]) -> list[httpx.Response]:
    return await asyncio.gather(*(client.post("/predict", json={"input": t}) for t in texts))


async def test_both_scoring_paths_answer_alike_behind_the_batcher(
    settings: Settings, tiny_model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tiny_model.compiled is not None
    generated = generated_texts(60, words_of(TINY_TEXTS))
    texts = [*varied_texts(200), *(text for text in generated if text.strip())]
    batch_sizes: list[int] = []
    original = CompiledPipeline.predict_proba

    def recording(self: CompiledPipeline, texts: Sequence[str]) -> NDArray[np.float64]:
        batch_sizes.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(CompiledPipeline, "predict_proba", recording)

    async with serve(create_app(settings, model=tiny_model)) as client:
        compiled = await post_all(client, texts)
    compiled_batches = list(batch_sizes)
    batch_sizes.clear()
    async with serve(create_app(settings, model=replace(tiny_model, compiled=None))) as client:
        pipelined = await post_all(client, texts)

    assert all(response.status_code == 200 for response in [*compiled, *pipelined])
    compiled_bodies = [response.json() for response in compiled]
    assert len({json.dumps(body["prediction"]) for body in compiled_bodies}) > 150
    assert compiled_bodies == [response.json() for response in pipelined]
    assert sum(compiled_batches) == len(texts)
    assert max(compiled_batches) > 1
    assert batch_sizes == []  # the pipeline app never used the compiled path


# --- The load-time comparison -----------------------------------------------------------


def probabilities(*rows: Sequence[float]) -> NDArray[np.float64]:
    return np.array(rows, dtype=np.float64)


def test_compare_of_identical_answers_is_within_tolerance() -> None:
    answers = probabilities([0.2, 0.8], [0.6, 0.4])

    assert compare(answers, answers.copy()) == Difference(2, 0.0, 0)
    assert compare(answers, answers.copy()).within_tolerance


def test_compare_of_answers_of_different_shapes_is_not_within_tolerance() -> None:
    difference = compare(probabilities([0.2, 0.8], [0.6, 0.4]), probabilities([0.2, 0.8]))

    assert difference == Difference(2, float("inf"), 2)
    assert not difference.within_tolerance


def test_compare_of_answers_for_different_class_counts_is_not_within_tolerance() -> None:
    difference = compare(probabilities([0.2, 0.8]), probabilities([0.2, 0.7, 0.1]))

    assert not difference.within_tolerance


def test_compare_counts_the_texts_whose_class_differs() -> None:
    expected = probabilities([0.2, 0.8], [0.6, 0.4], [0.7, 0.3])
    actual = probabilities([0.8, 0.2], [0.6, 0.4], [0.3, 0.7])

    difference = compare(expected, actual)

    assert difference.class_mismatches == 2
    assert difference.largest == pytest.approx(0.6)
    assert not difference.within_tolerance


def test_compare_refuses_a_different_class_even_within_the_tolerance() -> None:
    tiny = TOLERANCE / 100
    expected = probabilities([0.5 + tiny, 0.5 - tiny])
    actual = probabilities([0.5 - tiny, 0.5 + tiny])

    difference = compare(expected, actual)

    assert difference.largest <= TOLERANCE
    assert difference.class_mismatches == 1
    assert not difference.within_tolerance


def test_compare_accepts_a_difference_of_exactly_the_tolerance() -> None:
    difference = compare(probabilities([0.0, 1.0]), probabilities([TOLERANCE, 1.0]))

    assert difference.largest == TOLERANCE
    assert difference.within_tolerance


def test_compare_refuses_a_difference_just_beyond_the_tolerance() -> None:
    beyond = float(np.nextafter(TOLERANCE, 1.0))

    difference = compare(probabilities([0.0, 1.0]), probabilities([beyond, 1.0]))

    assert difference.class_mismatches == 0
    assert not difference.within_tolerance


def test_compare_of_no_texts_is_within_tolerance() -> None:
    assert compare(np.empty((0, 5)), np.empty((0, 5))).within_tolerance


def test_generated_texts_are_the_same_for_the_same_seed() -> None:
    words = words_of(TINY_TEXTS)

    assert generated_texts(200, words, seed=5) == generated_texts(200, words, seed=5)
    assert generated_texts(200, words) == generated_texts(200, words, seed=SEED)


def test_generated_texts_differ_for_another_seed() -> None:
    words = words_of(TINY_TEXTS)

    assert generated_texts(200, words, seed=5) != generated_texts(200, words, seed=6)


@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 201])
def test_generated_texts_are_exactly_as_many_as_asked(count: int) -> None:
    assert len(generated_texts(count, words_of(TINY_TEXTS))) == count


def test_generated_texts_reach_beyond_ascii() -> None:
    texts = generated_texts(GENERATED_AT_LOAD, words_of(TINY_TEXTS))

    assert sum(not text.isascii() for text in texts) >= GENERATED_AT_LOAD // 8


def test_generated_texts_include_texts_with_no_word_left_after_stop_words() -> None:
    texts = generated_texts(GENERATED_AT_LOAD, words_of(TINY_TEXTS))

    emptied = [text for text in texts if text.strip() and ENGLISH_WORDS(text) == []]
    assert len(emptied) >= GENERATED_AT_LOAD // 8


def test_generated_texts_use_the_words_given() -> None:
    texts = generated_texts(GENERATED_AT_LOAD, ["zebra"])

    assert sum("zebra" in text.lower() for text in texts) >= GENERATED_AT_LOAD // 4


def test_words_of_texts_are_their_distinct_words_in_order() -> None:
    assert words_of(["the cat", "the  dog\tbarks"]) == ["barks", "cat", "dog", "the"]


def test_words_of_no_text_fall_back_to_animal_words() -> None:
    assert words_of([]) != []
    assert words_of(["   "]) == words_of([])


def test_load_sample_is_the_holdout_then_generated_texts() -> None:
    sample = load_sample(HOLDOUT_TEXTS)

    assert tuple(sample[: len(HOLDOUT_TEXTS)]) == HOLDOUT_TEXTS
    assert sample[len(HOLDOUT_TEXTS) :] == generated_texts(
        GENERATED_AT_LOAD, words_of(HOLDOUT_TEXTS)
    )
