"""Whether a training job's new version replaces the served one: `never`, `always`, and
`if_better` (holdout accuracy, else test accuracy, must be above the served version's)."""

from typing import Any

import pytest

from predictor.model import LoadedModel
from predictor.schemas import ActivationDecision
from predictor.training_queue import activation_decision
from tests.support.fake_pipeline import FakePipeline


def served(metrics: dict[str, Any], version: str = "v1") -> LoadedModel:
    return LoadedModel(version=version, metadata={"metrics": metrics}, pipeline=FakePipeline())


BETTER = {"test_accuracy": 0.9, "holdout_accuracy": 0.95}
WORSE = {"test_accuracy": 0.7, "holdout_accuracy": 0.8}


def test_never_keeps_the_served_version_even_for_a_better_one() -> None:
    decision = activation_decision("never", BETTER, served(WORSE))

    assert decision == ActivationDecision(activated=False, reason="activate is never")


def test_always_serves_the_new_version_even_a_worse_one() -> None:
    decision = activation_decision("always", WORSE, served(BETTER))

    assert decision == ActivationDecision(activated=True, reason="activate is always")


def test_if_better_serves_the_new_version_when_none_serves() -> None:
    decision = activation_decision("if_better", WORSE, None)

    assert decision == ActivationDecision(activated=True, reason="no version was serving")


def test_if_better_serves_a_version_with_higher_holdout_accuracy() -> None:
    decision = activation_decision("if_better", BETTER, served(WORSE))

    assert decision == ActivationDecision(
        activated=True,
        reason="holdout_accuracy 0.95 is above v1's 0.8",
        metric="holdout_accuracy",
        candidate_value=0.95,
        active_version="v1",
        active_value=0.8,
    )


@pytest.mark.parametrize("candidate", [WORSE, {"test_accuracy": 0.99, "holdout_accuracy": 0.8}])
def test_if_better_keeps_the_served_version_unless_holdout_accuracy_is_above(
    candidate: dict[str, Any],
) -> None:
    decision = activation_decision("if_better", candidate, served(WORSE))

    assert decision.activated is False
    assert decision.reason == "holdout_accuracy 0.8 is not above v1's 0.8"
    assert (decision.candidate_value, decision.active_value) == (0.8, 0.8)


@pytest.mark.parametrize(
    ("candidate", "current"),
    [
        ({"test_accuracy": 0.9}, {"test_accuracy": 0.7, "holdout_accuracy": 0.99}),
        ({"test_accuracy": 0.9, "holdout_accuracy": 0.5}, {"test_accuracy": 0.7}),
    ],
    ids=["candidate without holdout", "served without holdout"],
)
def test_if_better_compares_test_accuracy_when_one_has_no_holdout(
    candidate: dict[str, Any], current: dict[str, Any]
) -> None:
    decision = activation_decision("if_better", candidate, served(current))

    assert decision.activated is True
    assert (decision.metric, decision.candidate_value, decision.active_value) == (
        "test_accuracy",
        0.9,
        0.7,
    )


def test_if_better_without_a_shared_accuracy_keeps_the_served_version() -> None:
    decision = activation_decision("if_better", BETTER, served({}, version="v3"))

    assert decision == ActivationDecision(
        activated=False, reason="no accuracy to compare with v3's", active_version="v3"
    )
