"""The training recipe (service_b/training.toml): data, features, classifier and seed, each
value type- and range-checked when the file is read, so a bad one stops start-up with one
line instead of failing a training later."""

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from predictor.errors import InvalidTrainingConfig
from service_common.errors import describe_validation_error
from service_common.json_body import WHOLE_NUMBER, JsonBool, JsonInt, JsonNumber

MAX_NGRAM = 10
MAX_MIN_DF = 1_000_000


def ordered_ngram_range(value: tuple[int, int]) -> tuple[int, int]:
    low, high = value
    if not 1 <= low <= high <= MAX_NGRAM:
        raise ValueError(f"must be [low, high] with 1 <= low <= high <= {MAX_NGRAM}")
    return value


FeatureName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# Numbers as JSON Schema has them (`service_common.json_body`): a training request's
# params are these, and its schema says no more.
Seed = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1), WHOLE_NUMBER]
TestFraction = Annotated[JsonNumber, Field(gt=0, lt=1, allow_inf_nan=False)]
NGRAM_RANGES = [
    [low, high] for low in range(1, MAX_NGRAM + 1) for high in range(low, MAX_NGRAM + 1)
]
"""Every range `ordered_ngram_range` accepts: what the JSON schema lists (its order rule
is one no other keyword states)."""
NgramRange = Annotated[
    tuple[JsonInt, JsonInt],
    AfterValidator(ordered_ngram_range),
    WithJsonSchema(
        {
            "type": "array",
            "enum": NGRAM_RANGES,
            "description": f"[low, high] with 1 <= low <= high <= {MAX_NGRAM}.",
        }
    ),
]
RegularizationC = Annotated[JsonNumber, Field(gt=0, le=1e6, allow_inf_nan=False)]
MaxIter = Annotated[int, Strict(), Field(ge=1, le=100_000), WHOLE_NUMBER]
MinDf = Annotated[int, Strict(), Field(ge=1, le=MAX_MIN_DF), WHOLE_NUMBER]


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_path: Path
    holdout_path: Path | None = None
    test_fraction: TestFraction


class VectorizerParams(BaseModel):
    """The TfidfVectorizer parameters a recipe may set (scikit-learn's defaults otherwise)."""

    model_config = ConfigDict(extra="forbid")

    analyzer: Literal["word", "char", "char_wb"] = "word"
    ngram_range: NgramRange = (1, 1)
    min_df: MinDf = 1
    max_df: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    max_features: int | None = Field(None, ge=1)
    sublinear_tf: bool = False
    lowercase: bool = True
    stop_words: Literal["english"] | None = None
    strip_accents: Literal["ascii", "unicode"] | None = None


class ClassifierParams(BaseModel):
    """The LogisticRegression parameters a recipe may set (scikit-learn's defaults otherwise)."""

    model_config = ConfigDict(extra="forbid")

    C: RegularizationC = 1.0
    max_iter: MaxIter = 100
    class_weight: Literal["balanced"] | None = None


class TrainingConfig(BaseModel):
    """The whole training recipe; every parameter the trainer uses comes from here."""

    model_config = ConfigDict(extra="forbid")

    seed: Seed
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

    def with_params(self, params: "TrainingParams") -> "TrainingConfig":
        """This recipe with the values `params` sets replaced (each already checked)."""
        recipe = self.model_dump(exclude_unset=True)
        # null is unset, as the schema's `anyOf [..., null]` says.
        overrides = params.model_dump(
            exclude_unset=True, exclude_none=True, exclude={"allow_new_classes"}
        )
        for key in ("seed",):
            if key in overrides:
                recipe[key] = overrides[key]
        if "test_fraction" in overrides:
            recipe["data"]["test_fraction"] = overrides["test_fraction"]
        for key in ("C", "max_iter"):
            if key in overrides:
                recipe["classifier"][key] = overrides[key]
        for name, feature in overrides.get("features", {}).items():
            recipe["features"][name].update(feature)
        return TrainingConfig(**recipe, base_dir=self.base_dir)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    @property
    def models_dir(self) -> Path:
        """Where versions go when MODEL_DIR does not say otherwise."""
        return self.resolve(self.output_dir)


class FeatureParams(BaseModel):
    """The values of one of the recipe's feature sets a training request may change."""

    model_config = ConfigDict(extra="forbid")

    ngram_range: NgramRange | None = Field(None, examples=[[1, 3]])
    min_df: MinDf | None = Field(None, examples=[2])


class TrainingParams(BaseModel):
    """The recipe's tunable values a training request may change; the rest stays as the
    training config says. Every field is optional."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"C": 5.0, "features": {"word": {"ngram_range": [1, 3]}}}]},
    )

    C: RegularizationC | None = Field(None, description="Inverse regularization strength.")
    max_iter: MaxIter | None = Field(None, description="Most solver iterations.")
    seed: Seed | None = Field(None, description="Seed of the split and the solver.")
    test_fraction: TestFraction | None = Field(
        None, description="Share of the shipped data held out for test accuracy."
    )
    features: dict[FeatureName, FeatureParams] = Field(
        default_factory=dict,
        description="Changes to the recipe's feature sets, by name (`word`, `char` in the "
        "shipped recipe).",
        # pydantic documents the names as `patternProperties` only, which lets any other
        # name through; it refuses them, and so does the schema with this.
        json_schema_extra={"additionalProperties": False},
    )
    allow_new_classes: JsonBool = Field(
        False, description="Accept example labels that the active model does not predict."
    )
