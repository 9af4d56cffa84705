"""The HTTP API with a tiny model injected: success shapes and the service routes."""

import re

import httpx
import pytest

from predictor.model import LoadedModel

MESSAGE = re.compile(r"^Predicted class: (?P<label>\S+) with (?P<percent>\d+\.\d)% confidence$")
TEXT = "the puppy chews a bone in the park"


async def test_predict_returns_prediction_message_and_model_version(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    response = await client.post("/predict", json={"input": TEXT})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction", "message", "model_version"}
    assert set(body["prediction"]) == {"class", "confidence", "input_length"}
    assert body["prediction"]["class"] in tiny_model.metadata["classes"]
    assert body["model_version"] == tiny_model.version


async def test_predict_confidence_is_a_probability(client: httpx.AsyncClient) -> None:
    response = await client.post("/predict", json={"input": TEXT})

    confidence = response.json()["prediction"]["confidence"]
    assert isinstance(confidence, float)
    assert 0 <= confidence <= 1


async def test_predict_input_length_is_len_of_input(client: httpx.AsyncClient) -> None:
    text = "a kitten naps — ünïcödé 🐱"

    response = await client.post("/predict", json={"input": text})

    assert response.json()["prediction"]["input_length"] == len(text)


async def test_predict_message_states_the_predicted_class_and_confidence(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/predict", json={"input": TEXT})

    prediction = response.json()["prediction"]
    match = MESSAGE.match(response.json()["message"])
    assert match, response.json()["message"]
    assert match["label"] == prediction["class"]
    # One decimal of percent, from the same probability as `confidence` (4 decimals):
    # the two roundings may disagree only on an exact half (0.9845 -> "98.4" or "98.5").
    assert float(match["percent"]) == pytest.approx(prediction["confidence"] * 100, abs=0.0501)


async def test_predict_matches_the_model_score(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    [score] = tiny_model.score([TEXT])

    response = await client.post("/predict", json={"input": TEXT})

    prediction = response.json()["prediction"]
    assert prediction["class"] == score.label
    assert prediction["confidence"] == round(score.confidence, 4)


async def test_predict_same_input_twice_gives_identical_answers(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/predict", json={"input": TEXT})
    second = await client.post("/predict", json={"input": TEXT})

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


async def test_root_reports_service_status_and_model_version(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.json() == {
        "service": "service_b",
        "status": "running",
        "model_version": tiny_model.version,
    }


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_model_version(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "model_version": tiny_model.version,
        "scoring_path": "compiled",
    }


async def test_model_returns_metadata_of_the_served_model(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    response = await client.get("/model")

    assert response.status_code == 200
    body = response.json()
    for key in (
        "version",
        "classes",
        "metrics",
        "data_sha256",
        "artifact_sha256",
        "library_versions",
        "created_at",
        "config",
    ):
        assert key in body, key
    assert body["version"] == tiny_model.version
    assert body["classes"] == ["bird", "cat", "dog", "fish", "rabbit"]
    assert body["artifact_sha256"] == tiny_model.metadata["artifact_sha256"]
    assert "test_accuracy" in body["metrics"]
    assert "scikit-learn" in body["library_versions"]
