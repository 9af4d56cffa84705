"""A fake scikit-learn pipeline whose answers identify the text, for batching tests."""

import threading
import time
import zlib
from dataclasses import dataclass

import numpy as np

from predictor.model import LoadedModel, Score

FAKE_CLASSES = np.array(["bird", "cat", "dog", "fish", "rabbit"])


@dataclass(frozen=True)
class Call:
    started: float
    texts: tuple[str, ...]


class FakePipeline:
    """Has `classes_` and `predict_proba`; records every call (the batch it was given).

    Each text gets its own class and confidence (from a checksum of the text), so an
    answer delivered to the wrong caller is visible.
    """

    classes_ = FAKE_CLASSES

    def __init__(self, poison: str | None = None, delay: float = 0.0) -> None:
        self.poison = poison
        self.delay = delay
        self.calls: list[Call] = []
        self.started = threading.Event()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.calls.append(Call(started=time.monotonic(), texts=tuple(texts)))
        self.started.set()
        if self.delay:
            time.sleep(self.delay)
        if self.poison is not None and self.poison in texts:
            raise ValueError(f"cannot score {self.poison!r}")
        return np.array([probabilities_for(text) for text in texts])

    @property
    def batch_sizes(self) -> list[int]:
        return [len(call.texts) for call in self.calls]


def probabilities_for(text: str) -> list[float]:
    checksum = zlib.crc32(text.encode())
    best = checksum % len(FAKE_CLASSES)
    confidence = 0.3 + (checksum % 7001) / 10_000  # in [0.3, 1.0]; others share the rest
    row = [(1 - confidence) / (len(FAKE_CLASSES) - 1)] * len(FAKE_CLASSES)
    row[best] = confidence
    return row


def expected_score(text: str) -> Score:
    row = probabilities_for(text)
    best = int(np.argmax(row))
    return Score(label=str(FAKE_CLASSES[best]), confidence=row[best])


def fake_model(pipeline: FakePipeline, version: str = "v-fake") -> LoadedModel:
    return LoadedModel(version=version, metadata={}, pipeline=pipeline)
