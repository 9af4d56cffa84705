"""The model-call phase: the served pipeline and its compiled path side by side, in process.

    python -m bench.model_call --version-dir DIR --holdout CSV [--rounds N]

Run with service_b's venv and service_b/ on the path (bench/run.py does both). Loads the
version as the service does, then times one call for 1 text and for 64 texts with each
scorer, the scorers taking turns in every round so drift in the machine's speed hits them
alike; a call's time is the median over the rounds. Then scores the holdout and 10,000
generated texts with both paths and compares the answers. Prints one line
`MODEL_CALL_JSON {...}`.
"""

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.compiled import CompiledPipeline
from predictor.config import Settings
from predictor.model import ScoringOptions, load_model, pipeline_probabilities
from predictor.training import load_labelled_texts
from predictor.verification import compare, generated_texts, words_of

GENERATED = 10_000
BATCH_SIZES = (1, 64)
CALL_BUDGET_S = 0.2
"""Per scorer, batch size and round: calls are repeated for about this long."""

Scorer = Callable[[Sequence[str]], NDArray[np.float64]]


def measure(version_dir: Path, holdout_csv: Path, rounds: int) -> dict[str, Any]:
    holdout = load_labelled_texts(holdout_csv).texts
    cache_words = Settings.model_fields["COMPILED_CACHE_WORDS"].default
    model = load_model(version_dir, ScoringOptions("compiled", tuple(holdout), cache_words))
    if model.compiled is None:
        raise SystemExit("the compiled path was refused at load (see the log above)")
    uncached = CompiledPipeline.from_pipeline(model.pipeline, cache_words=0)
    gc.freeze()  # as the service does after start-up: the model is not scanned by the GC
    scorers: dict[str, Scorer] = {
        "pipeline": lambda texts: pipeline_probabilities(model.pipeline, texts),
        "compiled": model.compiled.predict_proba,
        "compiled, no word cache": uncached.predict_proba,
    }
    timings = {size: time_calls(scorers, holdout, size, rounds) for size in BATCH_SIZES}

    texts = holdout + generated_texts(GENERATED, words_of(holdout))
    batches = [texts[start : start + 64] for start in range(0, len(texts), 64)]
    expected = np.vstack([pipeline_probabilities(model.pipeline, batch) for batch in batches])
    difference = compare(expected, np.vstack([model.compiled.predict_proba(b) for b in batches]))
    return {
        "version": model.version,
        "rounds": rounds,
        "call_us": {
            f"{size} text{'s' if size > 1 else ''}": {
                name: round(seconds * 1e6, 1) for name, seconds in by_scorer.items()
            }
            for size, by_scorer in timings.items()
        },
        "answers": {
            "texts": difference.texts,
            "generated": GENERATED,
            "largest_probability_difference": difference.largest,
            "class_mismatches": difference.class_mismatches,
        },
    }


def time_calls(
    scorers: dict[str, Scorer], texts: list[str], size: int, rounds: int
) -> dict[str, float]:
    """Median seconds per call of each scorer on `size` texts (windows over `texts`)."""
    windows = [texts[start : start + size] for start in range(0, len(texts) - size + 1, size)]
    calls = {name: calls_in_budget(scorer, windows) for name, scorer in scorers.items()}
    per_round: dict[str, list[float]] = {name: [] for name in scorers}
    for _ in range(rounds):
        for name, scorer in scorers.items():
            started = time.perf_counter()
            for call in range(calls[name]):
                scorer(windows[call % len(windows)])
            per_round[name].append((time.perf_counter() - started) / calls[name])
    return {name: statistics.median(seconds) for name, seconds in per_round.items()}


def calls_in_budget(scorer: Scorer, windows: list[list[str]]) -> int:
    """How many calls take about CALL_BUDGET_S (after one pass over every window, which
    also warms the word cache as repeated traffic would)."""
    started = time.perf_counter()
    for window in windows:
        scorer(window)
    per_call = (time.perf_counter() - started) / len(windows)
    return max(3, round(CALL_BUDGET_S / per_call))


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the predictor's model call.")
    parser.add_argument("--version-dir", type=Path, required=True)
    parser.add_argument("--holdout", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    result = measure(args.version_dir, args.holdout, args.rounds)
    print("MODEL_CALL_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
