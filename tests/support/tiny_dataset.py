"""The tiny labelled dataset and training config the predictor's tests train on."""

from itertools import combinations
from pathlib import Path

TINY_TRAINING_ROWS = {
    "cat": [
        "the cat purrs on the sofa",
        "my kitten chases a ball of yarn",
        "the cat meows for tuna",
        "the kitten sleeps in the sun",
        "the cat scratches the post",
        "scoop the litter tray for the cat",
    ],
    "dog": [
        "the dog barks at the mailman",
        "the puppy fetches the stick",
        "the dog wags its tail",
        "walk the dog in the park",
        "the puppy chews a bone",
        "the dog growls at strangers",
    ],
    "bird": [
        "the bird sings at dawn",
        "the parrot talks in its cage",
        "the bird builds a nest",
        "the sparrow flaps its wings",
        "the bird pecks at seeds",
        "the canary chirps all morning",
    ],
    "fish": [
        "the fish swims in the tank",
        "the goldfish blows bubbles",
        "the fish eats flakes",
        "the fish has shiny scales",
        "clean the aquarium filter for the fish",
        "the fish hides behind the coral",
    ],
    "rabbit": [
        "the rabbit hops in the garden",
        "the bunny nibbles a carrot",
        "the rabbit twitches its nose",
        "the bunny digs a burrow",
        "the rabbit eats fresh hay",
        "the bunny has long floppy ears",
    ],
}

TINY_HOLDOUT_ROWS = {
    "cat": ["a kitten purring on my lap"],
    "dog": ["the puppy barks at the door"],
    "bird": ["a parrot sings in the cage"],
    "fish": ["goldfish swimming in the aquarium"],
    "rabbit": ["a bunny nibbling hay"],
}

# Same structure as service_b/training.toml, with tiny parameters.
TINY_TRAINING_TOML = """\
seed = 7
output_dir = "models"

[data]
train_path = "animals.csv"
holdout_path = "holdout.csv"
test_fraction = 0.34

[features.word]
ngram_range = [1, 1]
sublinear_tf = true
min_df = 1
lowercase = true

[features.char]
analyzer = "char_wb"
ngram_range = [2, 3]
sublinear_tf = true
min_df = 1
lowercase = true

[classifier]
C = 10.0
max_iter = 200
"""

SAMPLE_TEXTS = [
    "the cat purrs",
    "a puppy with a bone",
    "birds singing in the morning",
    "fish in a tank",
    "a bunny in the garden",
    "something that mentions no animal at all",
    "kitten and puppy playing together",
    "zzz",
]
"""Texts to compare predictions on: typical, ambiguous and out-of-vocabulary ones."""


def write_labelled_csv(path: Path, rows: dict[str, list[str]]) -> Path:
    lines = ["text,label"] + [f"{text},{label}" for label, texts in rows.items() for text in texts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_tiny_training_dir(folder: Path) -> Path:
    """Write the tiny dataset, holdout and config into `folder`; return the config path."""
    write_labelled_csv(folder / "animals.csv", TINY_TRAINING_ROWS)
    write_labelled_csv(folder / "holdout.csv", TINY_HOLDOUT_ROWS)
    config_path = folder / "training.toml"
    config_path.write_text(TINY_TRAINING_TOML, encoding="utf-8")
    return config_path


def varied_texts(count: int) -> list[str]:
    """Distinct texts made of pairs of the tiny vocabulary: the tiny model gives them
    (almost) all different answers, so an answer delivered to the wrong caller shows."""
    words = sorted({w for texts in TINY_TRAINING_ROWS.values() for t in texts for w in t.split()})
    pairs = list(combinations(words, 2))
    assert count <= len(pairs)
    return [" ".join(pairs[i * 19 % len(pairs)]) for i in range(count)]
