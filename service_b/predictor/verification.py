"""Texts that a compiled scoring path must score as the pipeline does, and the comparison.

The sample mixes everyday texts (the holdout) with generated ones that reach the corners
of text processing: random words, random characters, non-Latin scripts, accents,
combining marks and emoji, and texts with nothing left once stop words are dropped.
Generation is seeded, so a sample is the same on every load.
"""

import random
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

TOLERANCE = 1e-9
"""Largest difference allowed between the two paths' probabilities, for any class."""

GENERATED_AT_LOAD = 200
"""Generated texts added to the holdout in the load-time check."""

SEED = 20261202

FALLBACK_WORDS = ("cat", "dog", "bird", "fish", "rabbit", "purrs", "barks", "sings", "swims")
"""Words for the random-word texts when no holdout text gives any."""

UNICODE_RANGES = (
    (0x00C0, 0x017F),  # accented Latin
    (0x0300, 0x036F),  # combining marks
    (0x0391, 0x03C9),  # Greek
    (0x0410, 0x044F),  # Cyrillic
    (0x0600, 0x06FF),  # Arabic
    (0x3040, 0x30FF),  # kana
    (0x4E00, 0x4FFF),  # CJK
    (0x1F400, 0x1F4FF),  # emoji
    (0x2000, 0x206F),  # punctuation and spaces of all widths
    (0x2100, 0x214F),  # letterlike symbols: "™" decomposes to "TM"
    (0x2460, 0x24FF),  # enclosed alphanumerics
    (0x3300, 0x33FF),  # CJK compatibility: "㎁" decomposes to "nA"
    (0x1D400, 0x1D7FF),  # mathematical alphanumerics
)
STOP_WORDS = sorted(ENGLISH_STOP_WORDS)


@dataclass(frozen=True)
class Difference:
    """How far two answers for the same texts are apart."""

    texts: int
    largest: float
    """Largest absolute difference of a probability."""
    class_mismatches: int
    """Texts whose most probable class differs."""

    @property
    def within_tolerance(self) -> bool:
        return self.class_mismatches == 0 and self.largest <= TOLERANCE


def compare(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> Difference:
    if expected.shape != actual.shape:
        return Difference(len(expected), float("inf"), len(expected))
    return Difference(
        texts=len(expected),
        largest=float(np.abs(expected - actual).max(initial=0.0)),
        class_mismatches=int((expected.argmax(axis=1) != actual.argmax(axis=1)).sum()),
    )


def load_sample(holdout: Sequence[str]) -> list[str]:
    """What the compiled path is checked on at load: the holdout and generated texts."""
    return [*holdout, *generated_texts(GENERATED_AT_LOAD, words_of(holdout))]


def words_of(texts: Sequence[str]) -> list[str]:
    return sorted({word for text in texts for word in text.split()}) or list(FALLBACK_WORDS)


def generated_texts(count: int, words: Sequence[str], seed: int = SEED) -> list[str]:
    """`count` texts, the kinds in turn: random words, random characters, unicode, and
    texts that are empty once stop words and punctuation are dropped."""
    generator = random.Random(seed)  # nosec B311 # seeded sample texts, reproducible on purpose
    kinds = (random_words, random_characters, random_unicode, stop_words_only)
    return [kinds[index % len(kinds)](generator, words) for index in range(count)]


def random_words(generator: random.Random, words: Sequence[str]) -> str:
    chosen = generator.choices(words, k=generator.randint(1, 12))
    styled = [
        word.upper()
        if generator.random() < 0.1
        else word.capitalize()
        if generator.random() < 0.1
        else word
        for word in chosen
    ]
    return generator.choice((" ", "  ", ", ", "\t", "-")).join(styled)


def random_characters(generator: random.Random, _: Sequence[str]) -> str:
    return "".join(generator.choices(string.printable, k=generator.randint(1, 80)))


def random_unicode(generator: random.Random, words: Sequence[str]) -> str:
    parts = []
    for _ in range(generator.randint(1, 8)):
        if generator.random() < 0.3:
            parts.append(generator.choice(words))
        else:
            low, high = generator.choice(UNICODE_RANGES)
            parts.append(
                "".join(chr(generator.randint(low, high)) for _ in range(generator.randint(1, 10)))
            )
    return " ".join(parts)


def stop_words_only(generator: random.Random, _: Sequence[str]) -> str:
    pieces = generator.choices(
        [*STOP_WORDS, *string.punctuation, "a", "I", "\n"], k=generator.randint(1, 10)
    )
    return " ".join(pieces)
