"""The training recipe (service_b/training.toml): data, features, classifier and seed, each
value type- and range-checked when the file is read, so a bad one stops start-up with one
line instead of failing a training later."""

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from predictor.errors import InvalidTrainingConfig
from service_common.errors import describe_validation_error

MAX_NGRAM = 10


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_path: Path
    holdout_path: Path | None = None
    test_fraction: float = Field(gt=0, lt=1)


class VectorizerParams(BaseModel):
    """The TfidfVectorizer parameters a recipe may set (scikit-learn's defaults otherwise)."""

    model_config = ConfigDict(extra="forbid")

    analyzer: Literal["word", "char", "char_wb"] = "word"
    ngram_range: tuple[int, int] = (1, 1)
    min_df: int = Field(1, ge=1)
    max_df: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    max_features: int | None = Field(None, ge=1)
    sublinear_tf: bool = False
    lowercase: bool = True
    stop_words: Literal["english"] | None = None
    strip_accents: Literal["ascii", "unicode"] | None = None

    @field_validator("ngram_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= MAX_NGRAM:
            raise ValueError(f"must be [low, high] with 1 <= low <= high <= {MAX_NGRAM}")
        return value


class ClassifierParams(BaseModel):
    """The LogisticRegression parameters a recipe may set (scikit-learn's defaults otherwise)."""

    model_config = ConfigDict(extra="forbid")

    C: float = Field(1.0, gt=0, le=1e6, allow_inf_nan=False)
    max_iter: int = Field(100, ge=1, le=100_000)
    class_weight: Literal["balanced"] | None = None


FeatureName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class TrainingConfig(BaseModel):
    """The whole training recipe; every parameter the trainer uses comes from here."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(ge=0, le=2**32 - 1)
    output_dir: Path
    data: DataConfig
    features: dict[FeatureName, VectorizerParams] = Field(
        min_length=1,
        description="Named TfidfVectorizer parameter sets, joined in one FeatureUnion.",
    )
    classifier: ClassifierParams = Field(description="LogisticRegression parameters.")
    base_dir: Path = Field(exclude=True, description="Folder that relative paths start from.")

    @classmethod
    def from_file(cls, path: Path) -> "TrainingConfig":
        """The recipe in `path`; InvalidTrainingConfig (one line) if it cannot be used."""
        try:
            with path.open("rb") as config_file:
                raw = tomllib.load(config_file)
        except OSError as error:
            raise InvalidTrainingConfig(f"{path}: cannot be read ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise InvalidTrainingConfig(f"{path}: not valid TOML ({error})") from None
        try:
            return cls(**raw, base_dir=path.resolve().parent)
        except ValidationError as error:
            raise InvalidTrainingConfig(f"{path}: {describe_validation_error(error)}") from None

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    @property
    def models_dir(self) -> Path:
        """Where versions go when MODEL_DIR does not say otherwise."""
        return self.resolve(self.output_dir)
