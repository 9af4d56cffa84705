"""Command line of the predictor.

    python -m predictor.cli train [--config PATH] [--output-dir PATH]

`train` fits a new model version and prints its version, folder and metrics as JSON.
Without options it reads $TRAINING_CONFIG (default service_b/training.toml) and writes
to $MODEL_DIR (default: the config's output_dir), whatever the working directory.
"""

import argparse
import json
from pathlib import Path

from predictor.config import Settings
from predictor.errors import InvalidTrainingConfig
from predictor.model_store import ModelStore
from predictor.training import train
from predictor.training_config import TrainingConfig
from service_common.logging_setup import configure_logging
from service_common.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m predictor.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    train_command = commands.add_parser("train", help="train a new model version")
    train_command.add_argument("--config", type=Path, help="training config (TOML)")
    train_command.add_argument("--output-dir", type=Path, help="folder of the model versions")
    args = parser.parse_args(argv)

    settings = load_settings(Settings)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, ["predictor"])
    try:
        config = TrainingConfig.from_file(args.config or settings.training_config_path)
    except InvalidTrainingConfig as error:
        raise SystemExit(f"Invalid training config {error}") from None
    output_dir = args.output_dir or settings.model_dir_override
    published = train(config, ModelStore(output_dir) if output_dir else None)
    summary = {
        "version": published.version,
        "directory": str(published.directory),
        "metrics": published.metadata["metrics"],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
