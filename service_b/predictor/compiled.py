"""The served pipeline compiled at load: its vocabularies, idf weights and coefficients as
plain arrays, scored without scikit-learn's per-call machinery.

A call to `Pipeline.predict_proba` spends most of a one-text call outside the model: the
FeatureUnion's joblib dispatch and output wrapping, input validation, and building and
stacking a sparse matrix per vectorizer. `CompiledPipeline` keeps what decides the answer:
each vectorizer's own analyzer (so tokens, n-grams, stop words and accents are exactly
scikit-learn's), its vocabulary, its tf and idf weighting and row normalization, and the
classifier's coefficients and link function. It is built from the fitted pipeline, which
stays the artifact of record, and `load_model` serves it only once it gives the
pipeline's answers on a sample of texts (predictor.verification).
"""

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from predictor.errors import UnsupportedPipeline

CACHED_WORD_MAX_CHARS = 32
"""Longer words are not remembered: this bounds the memory of each cache entry (a
32-character word has at most 130 n-grams of 2 to 5 characters), whatever clients send."""

WHITE_SPACES = re.compile(r"\s\s+")
"""What scikit-learn's char_wb analyzer folds into one space before splitting words."""


class TokenColumns:
    """The vocabulary columns of a text's tokens, from the vectorizer's own analyzer."""

    def __init__(self, analyze: Callable[[str], list[str]], vocabulary: dict[str, int]) -> None:
        self._analyze = analyze
        self._vocabulary = vocabulary

    def __call__(self, text: str) -> list[int]:
        return [
            column
            for column in map(self._vocabulary.get, self._analyze(text))
            if column is not None
        ]


class WordCachedColumns:
    """The same columns for a char_wb vectorizer, whose n-grams never cross a word: those
    of each word are computed once and remembered (least recently used dropped first).

    The n-grams of the preprocessed text's words, one by one, are the whole text's,
    because char_wb splits the preprocessed text on whitespace and pads each word on its
    own; the load-time check confirms it for each model. `ngrams` must not preprocess
    again.
    """

    def __init__(
        self,
        preprocess: Callable[[str], str],
        ngrams: Callable[[str], list[str]],
        vocabulary: dict[str, int],
        cache_words: int,
    ) -> None:
        self._preprocess = preprocess
        self._token_columns = TokenColumns(ngrams, vocabulary)
        self._word_columns = functools.lru_cache(maxsize=cache_words)(self._columns_of_word)

    def _columns_of_word(self, word: str) -> tuple[int, ...]:
        return tuple(self._token_columns(word))

    def _columns_of(self, word: str) -> tuple[int, ...]:
        if len(word) > CACHED_WORD_MAX_CHARS:
            return self._columns_of_word(word)
        return self._word_columns(word)

    def cache_info(self) -> "functools._CacheInfo":
        return self._word_columns.cache_info()

    def __call__(self, text: str) -> list[int]:
        words = WHITE_SPACES.sub(" ", self._preprocess(text)).split()
        return list(chain.from_iterable(map(self._columns_of, words)))


@dataclass(frozen=True)
class CompiledVectorizer:
    """One fitted TfidfVectorizer: text in, weighted and normalized features out."""

    known_columns: Callable[[str], list[int]]
    width: int
    binary: bool
    sublinear_tf: bool
    idf: NDArray[np.float64] | None
    norm: Literal["l1", "l2"] | None

    @classmethod
    def from_fitted(cls, name: str, vectorizer: Any, cache_words: int) -> "CompiledVectorizer":
        if type(vectorizer) is not TfidfVectorizer:
            raise UnsupportedPipeline(f"feature {name!r} is a {type(vectorizer).__name__}")
        if vectorizer.dtype != np.float64:
            raise UnsupportedPipeline(f"feature {name!r} has dtype {vectorizer.dtype}")
        if vectorizer.norm not in ("l1", "l2", None):
            raise UnsupportedPipeline(f"feature {name!r} has norm {vectorizer.norm!r}")
        vocabulary = {str(token): int(column) for token, column in vectorizer.vocabulary_.items()}
        per_word = (
            vectorizer.analyzer == "char_wb"
            and vectorizer.input == "content"
            and vectorizer.preprocessor is None
            and cache_words > 0
        )
        return cls(
            known_columns=(
                WordCachedColumns(
                    vectorizer.build_preprocessor(),
                    ngrams_only(vectorizer),
                    vocabulary,
                    cache_words,
                )
                if per_word
                else TokenColumns(vectorizer.build_analyzer(), vocabulary)
            ),
            width=len(vocabulary),
            binary=bool(vectorizer.binary),
            sublinear_tf=bool(vectorizer.sublinear_tf),
            idf=np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None,
            norm=vectorizer.norm,
        )

    def transform(
        self, texts: Sequence[str]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
        """The non-zero features of `texts` as (row, column, value), rows ascending, as
        `TfidfVectorizer.transform` computes them."""
        per_text = [self.known_columns(text) for text in texts]
        lengths = [len(columns) for columns in per_text]
        columns = np.fromiter(chain.from_iterable(per_text), dtype=np.intp, count=sum(lengths))
        rows = np.repeat(np.arange(len(texts)), lengths)
        # One key per (row, column): counting unique keys is the term count, in CSR order.
        keys, counts = np.unique(rows * self.width + columns, return_counts=True)
        rows, columns = np.divmod(keys, self.width)
        values = np.ones(len(keys)) if self.binary else counts.astype(np.float64)
        if self.sublinear_tf:
            np.log(values, out=values)
            values += 1.0
        if self.idf is not None:
            values *= self.idf[columns]
        if self.norm is not None:
            magnitudes = np.abs(values) if self.norm == "l1" else values * values
            # float even when no text has a known token (bincount then counts in int)
            totals = np.bincount(rows, weights=magnitudes, minlength=len(texts)).astype(
                np.float64, copy=False
            )
            if self.norm == "l2":
                np.sqrt(totals, out=totals)
            totals[totals == 0.0] = 1.0
            values /= totals[rows]
        return rows, columns, values


@dataclass(frozen=True)
class CompiledPipeline:
    """A fitted Pipeline(FeatureUnion(TfidfVectorizer, ...), LogisticRegression), compiled."""

    vectorizers: tuple[CompiledVectorizer, ...]
    offsets: tuple[int, ...]
    """Where each vectorizer's columns start in the joined feature space."""
    coefficients: NDArray[np.float64]
    """(features, classes) for a multinomial model, (features, 1) for a binary one."""
    intercepts: NDArray[np.float64]

    @classmethod
    def from_pipeline(cls, pipeline: Any, cache_words: int) -> "CompiledPipeline":
        """Raises UnsupportedPipeline, naming what it cannot represent. `cache_words`:
        how many words' character n-gram columns to remember (0: none)."""
        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            raise UnsupportedPipeline("not a two-step Pipeline (features, classifier)")
        (_, features), (_, classifier) = pipeline.steps
        named = feature_steps(features)
        if type(classifier) is not LogisticRegression:
            raise UnsupportedPipeline(f"the classifier is a {type(classifier).__name__}")
        vectorizers = tuple(
            CompiledVectorizer.from_fitted(name, step, cache_words) for name, step in named
        )
        widths = [vectorizer.width for vectorizer in vectorizers]
        coefficients = np.asarray(classifier.coef_, dtype=np.float64)
        if coefficients.shape[1] != sum(widths):
            raise UnsupportedPipeline(
                f"the classifier has {coefficients.shape[1]} features, "
                f"the vectorizers {sum(widths)}"
            )
        return cls(
            vectorizers=vectorizers,
            offsets=tuple(int(offset) for offset in np.cumsum([0, *widths[:-1]])),
            coefficients=np.ascontiguousarray(coefficients.T),
            intercepts=np.asarray(classifier.intercept_, dtype=np.float64),
        )

    def decision_function(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """(texts, columns of `coefficients`): features @ coefficients + intercepts."""
        decision = np.tile(self.intercepts, (len(texts), 1))
        for vectorizer, offset in zip(self.vectorizers, self.offsets, strict=True):
            rows, columns, values = vectorizer.transform(texts)
            weighted = self.coefficients[columns + offset] * values[:, np.newaxis]
            for column in range(decision.shape[1]):
                decision[:, column] += np.bincount(
                    rows, weights=weighted[:, column], minlength=len(texts)
                )
        return decision

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """What LogisticRegression.predict_proba gives: a logistic for two classes, a
        softmax over the classes otherwise."""
        decision = self.decision_function(texts)
        if decision.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-decision[:, 0]))
            return np.stack([1 - positive, positive], axis=1)
        decision -= decision.max(axis=1, keepdims=True)
        np.exp(decision, out=decision)
        decision /= decision.sum(axis=1, keepdims=True)
        return decision


def ngrams_only(vectorizer: Any) -> Callable[[str], list[str]]:
    """The vectorizer's n-gram step alone, for words already preprocessed: preprocessing
    twice is not the same as once (stripping the accents of "™" gives "TM", which a second
    lowercasing would change)."""
    plain = clone(vectorizer).set_params(lowercase=False, strip_accents=None, preprocessor=None)
    analyze: Callable[[str], list[str]] = plain.build_analyzer()
    return analyze


def feature_steps(features: Any) -> list[tuple[str, Any]]:
    """The named vectorizers of the pipeline's feature step, in column order."""
    if type(features) is TfidfVectorizer:
        return [("features", features)]
    if type(features) is not FeatureUnion:
        raise UnsupportedPipeline(f"the feature step is a {type(features).__name__}")
    if features.transformer_weights:
        raise UnsupportedPipeline("the FeatureUnion has transformer_weights")
    steps = [(name, step) for name, step in features.transformer_list if step != "drop"]
    if not steps:
        raise UnsupportedPipeline("the FeatureUnion has no features")
    return steps
