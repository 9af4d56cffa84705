"""Command line: train a new model version.

    python -m predictor.train [--config PATH] [--output-dir PATH]

Without options it reads $TRAINING_CONFIG (default service_b/training.toml) and writes
to $MODEL_DIR (default: the config's output_dir), whatever the working directory.
"""

import argparse
import json
import logging
from pathlib import Path

from predictor.config import Settings
from predictor.training import TrainingConfig, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m predictor.train",
        description="Train a new model version.",
    )
    parser.add_argument("--config", type=Path, help="training config (TOML)")
    parser.add_argument("--output-dir", type=Path, help="folder of the model versions")
    args = parser.parse_args(argv)

    settings = Settings()
    logging.basicConfig(level=settings.LOG_LEVEL.upper(), format="%(levelname)s %(message)s")
    config = TrainingConfig.from_file(args.config or settings.training_config_path)
    published = train(config, args.output_dir or settings.model_dir_override)
    summary = {
        "version": published.version,
        "directory": str(published.directory),
        "metrics": published.metadata["metrics"],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
