"""Start-up: every problem a user can fix stops it with one line naming the setting, and a
first training that fails stops the service instead of leaving it up and never ready."""

import asyncio
from pathlib import Path

import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import LoadedModel
from predictor.model_store import ModelStore
from predictor.startup import plan_startup
from predictor.training import train
from predictor.training_config import TrainingConfig
from service_common.errors import StartupError
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_TOKEN
from tests.support.predictor import settings_with
from tests.support.tiny_dataset import write_labelled_csv

HANG_GUARD_S = 30.0


class RecordingStopper:
    """Stands in for the server's stopper: records the exit status asked for."""

    def __init__(self) -> None:
        self.exit_codes: list[int] = []
        self.stopped = asyncio.Event()

    def stop(self, exit_code: int) -> None:
        self.exit_codes.append(exit_code)
        self.stopped.set()


def recipe_with(tiny_config_path: Path, folder: Path, old: str, new: str) -> Path:
    """A copy of the tiny recipe, next to its data, with one line changed."""
    text = tiny_config_path.read_text()
    assert old in text
    path = tiny_config_path.parent / f"{folder.name}.toml"
    path.write_text(text.replace(old, new))
    return path


def test_plan_loads_the_newest_version(settings: Settings, tiny_config: TrainingConfig) -> None:
    train(tiny_config, ModelStore(settings.MODEL_DIR or Path()))

    plan = plan_startup(settings)

    assert isinstance(plan.model, LoadedModel)
    assert plan.model.version == "v1"


def test_plan_with_no_version_is_to_train_one(settings: Settings) -> None:
    plan = plan_startup(settings)

    assert plan.model is None
    assert plan.config is not None


def test_model_dir_that_is_a_file_is_refused(settings: Settings, tmp_path: Path) -> None:
    a_file = tmp_path / "models.txt"
    a_file.write_text("not a folder")

    with pytest.raises(StartupError, match=r"^MODEL_DIR=.*models.txt: not a folder$"):
        plan_startup(settings_with(settings, MODEL_DIR=a_file))


@pytest.mark.parametrize("folder", ["/proc/models", "/proc/self/status/models"])
def test_model_dir_that_cannot_be_written_is_refused(settings: Settings, folder: str) -> None:
    with pytest.raises(StartupError, match=rf"^MODEL_DIR={folder}: cannot write"):
        plan_startup(settings_with(settings, MODEL_DIR=Path(folder)))


def test_missing_training_config_is_refused(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(StartupError, match=r"^Invalid TRAINING_CONFIG .*nowhere.toml: cannot"):
        plan_startup(settings_with(settings, TRAINING_CONFIG=missing))


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("C = 10.0", "C = -1", "classifier.C"),
        ("max_iter = 200", "max_iter = 0", "classifier.max_iter"),
        ("ngram_range = [2, 3]", "ngram_range = [3, 2]", "ngram_range"),
        ("seed = 7", "seed = -7", "seed"),
        ("test_fraction = 0.34", "test_fraction = 1.5", "test_fraction"),
        ("min_df = 1", "min_df = 'one'", "min_df"),
        ("seed = 7", "seed = 7\nlearning_rate = 0.1", "learning_rate"),
        ("[classifier]", "[classifier\n", "not valid TOML"),
    ],
    ids=[
        "negative C",
        "no iterations",
        "reversed range",
        "negative seed",
        "fraction > 1",
        "text count",
        "unknown key",
        "broken TOML",
    ],
)
def test_invalid_training_config_is_refused_naming_the_value(
    settings: Settings, tiny_config_path: Path, tmp_path: Path, old: str, new: str, named: str
) -> None:
    recipe = recipe_with(tiny_config_path, tmp_path, old, new)

    with pytest.raises(StartupError, match=r"^Invalid TRAINING_CONFIG") as refused:
        plan_startup(settings_with(settings, TRAINING_CONFIG=recipe))

    assert named in str(refused.value)
    assert "\n" not in str(refused.value)


def test_training_config_with_missing_data_is_refused(
    settings: Settings, tiny_config_path: Path, tmp_path: Path
) -> None:
    recipe = recipe_with(tiny_config_path, tmp_path, '"animals.csv"', '"gone.csv"')

    with pytest.raises(StartupError, match=r"gone\.csv is not a file"):
        plan_startup(settings_with(settings, TRAINING_CONFIG=recipe))


async def test_failed_start_up_training_stops_the_service_with_status_1(
    settings: Settings, tiny_config_path: Path, tmp_path: Path
) -> None:
    # Passes every check, then fails to fit: one class only.
    write_labelled_csv(tiny_config_path.parent / "one_class.csv", {"cat": ["a cat"] * 12})
    recipe = recipe_with(tiny_config_path, tmp_path, '"animals.csv"', '"one_class.csv"')
    stopper = RecordingStopper()
    app = create_app(settings_with(settings, TRAINING_CONFIG=recipe), stopper=stopper)

    async with serve(app) as client:
        async with asyncio.timeout(HANG_GUARD_S):
            await stopper.stopped.wait()
        ready = await client.get("/ready")

    assert stopper.exit_codes == [1]
    assert ready.status_code == 503


async def test_service_is_live_but_not_ready_while_it_trains(settings: Settings) -> None:
    stopper = RecordingStopper()

    async with serve(create_app(settings, stopper=stopper)) as client:
        health, ready = await client.get("/health"), await client.get("/ready")

    assert (health.status_code, ready.status_code) == (200, 503)
    assert stopper.exit_codes == []


def test_model_dir_alone_serves_without_a_training_config(
    settings: Settings, models_with_versions: Path, tmp_path: Path
) -> None:
    plan = plan_startup(settings_with(settings, TRAINING_CONFIG=tmp_path / "nowhere.toml"))

    assert plan.model is not None
    assert plan.admin_config is None


def test_admin_api_without_its_training_config_is_refused(
    settings: Settings, models_with_versions: Path, tmp_path: Path
) -> None:
    # Training jobs start from the recipe: with ADMIN_TOKEN set, it must be there.
    without_recipe = settings_with(
        settings, ADMIN_TOKEN=ADMIN_TOKEN, TRAINING_CONFIG=tmp_path / "nowhere.toml"
    )

    with pytest.raises(StartupError, match=r"^Invalid TRAINING_CONFIG .*nowhere\.toml: cannot"):
        plan_startup(without_recipe)
