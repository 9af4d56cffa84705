"""The process a training job runs in: what `TrainingQueue` starts, one at a time.

    python -m predictor.training_process --config PATH --models-dir PATH --params JSON
        [--examples CSV] [--nice N]

It lowers its own CPU priority first, so the serving process keeps its latency, then
trains and publishes one version. Success: one JSON line on stdout, `{"version",
"metrics"}`. Failure: exit status 1 and one line on stderr saying why. Only declarative
inputs reach it (a checked recipe, parameters and labelled rows), never code.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from predictor.model_store import ModelStore
from predictor.training import train
from predictor.training_config import TrainingConfig, TrainingParams

FAILURE_PREFIX = "TRAINING_FAILED "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m predictor.training_process")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--params", required=True, help="TrainingParams as JSON")
    parser.add_argument("--examples", type=Path, help="extra rows, a text,label CSV")
    parser.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    os.nice(args.nice)
    try:
        params = TrainingParams.model_validate_json(args.params)
        config = TrainingConfig.from_file(args.config).with_params(params)
        examples = args.examples.read_bytes() if args.examples else None
        published = train(config, ModelStore(args.models_dir), examples)
    except Exception as error:
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        print(FAILURE_PREFIX + reason, file=sys.stderr)
        return 1
    print(json.dumps({"version": published.version, "metrics": published.metadata["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
