"""Request and response schemas, and the response body built from a score."""

import pytest
from pydantic import ValidationError

from predictor.model import LoadedModel
from predictor.prediction import prediction_body
from predictor.schemas import ModelMetadata, Prediction, PredictRequest, PredictResponse


def test_predict_request_accepts_a_string() -> None:
    assert PredictRequest.model_validate({"input": "a cat"}).input == "a cat"


@pytest.mark.parametrize("value", [1, 1.5, None, ["a cat"], {"text": "a cat"}, b"a cat"])
def test_predict_request_refuses_a_non_string_input(value: object) -> None:
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"input": value})


def test_predict_request_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PredictRequest.model_validate({"input": "a cat", "mode": "fast"})


def test_prediction_serializes_class_by_its_alias() -> None:
    prediction = Prediction(class_="dog", confidence=0.5, input_length=3)

    assert prediction.model_dump(by_alias=True) == {
        "class": "dog",
        "confidence": 0.5,
        "input_length": 3,
    }


@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_prediction_refuses_a_confidence_outside_zero_to_one(confidence: float) -> None:
    with pytest.raises(ValidationError):
        Prediction(class_="dog", confidence=confidence, input_length=3)


def test_prediction_body_has_the_documented_format() -> None:
    body = prediction_body("walked the puppy on a leash", "dog", 0.92, "v1")

    assert body == {
        "prediction": {"class": "dog", "confidence": 0.92, "input_length": 27},
        "message": "Predicted class: dog with 92.0% confidence",
        "model_version": "v1",
    }


def test_prediction_body_rounds_confidence_to_four_decimals() -> None:
    body = prediction_body("a cat", "cat", 0.123456789, "v1")

    assert body["prediction"]["confidence"] == 0.1235
    assert body["message"] == "Predicted class: cat with 12.3% confidence"


def test_prediction_body_validates_against_the_response_schema() -> None:
    body = prediction_body("a cat", "cat", 0.5, "v1")

    assert PredictResponse.model_validate(body).model_dump(by_alias=True) == body


def test_documented_response_example_is_valid() -> None:
    schema = PredictResponse.model_json_schema()

    for example in schema["examples"]:
        PredictResponse.model_validate(example)


def test_trained_metadata_validates_against_the_metadata_schema(tiny_model: LoadedModel) -> None:
    metadata = ModelMetadata.model_validate(tiny_model.metadata)

    assert metadata.version == tiny_model.version
