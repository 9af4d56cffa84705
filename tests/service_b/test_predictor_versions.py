"""The versions through the admin API and the open per-version route: the listing,
activation (404, 409 tampered or pinned, concurrent requests), per-version predictions;
and the registry underneath: its cache of loaded versions and following the record that
other processes write."""

import asyncio
import json
import logging
from itertools import permutations
from pathlib import Path

import httpx
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import ScoringOptions, load_model
from predictor.model_store import ACTIVE_NAME, ARTIFACT_NAME, ModelStore, sha256_of
from predictor.model_versions import VersionRegistry
from predictor.scoring import ModelSlot
from tests.support.asgi import serve
from tests.support.lifecycle import ADMIN_HEADERS
from tests.support.predictor import settings_with

TEXT = "the kitten purrs"
REFUSED = "Model version {} failed verification; the served version is unchanged"


def tamper(artifact: Path) -> None:
    """Change one byte in the middle of the artifact: same size, another sha256."""
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))


async def served_version(client: httpx.AsyncClient) -> str:
    version: str = (await client.post("/predict", json={"input": TEXT})).json()["model_version"]
    return version


async def activate(client: httpx.AsyncClient, version: str) -> httpx.Response:
    return await client.post(f"/models/{version}/activate", headers=ADMIN_HEADERS)


# The listing.


async def test_listing_shows_every_version_oldest_first_and_which_serves(
    admin_client: httpx.AsyncClient,
) -> None:
    listing = (await admin_client.get("/models", headers=ADMIN_HEADERS)).json()

    assert (listing["active_version"], listing["pinned"]) == ("v4", False)
    assert [v["version"] for v in listing["versions"]] == ["v1", "v2", "v3", "v4"]
    assert [v["active"] for v in listing["versions"]] == [False, False, False, True]


async def test_listing_shows_each_version_metrics_and_data_hashes(
    admin_client: httpx.AsyncClient, tiny_training_dir: Path
) -> None:
    listing = (await admin_client.get("/models", headers=ADMIN_HEADERS)).json()

    accuracies = [v["metrics"]["holdout_accuracy"] for v in listing["versions"]]
    assert accuracies[0] < 1.0  # v1, from the weak recipe
    assert accuracies[1:] == [1.0, 1.0, 1.0]
    for version in listing["versions"]:
        assert version["data_sha256"] == {
            "train": sha256_of(tiny_training_dir / "animals.csv"),
            "holdout": sha256_of(tiny_training_dir / "holdout.csv"),
        }
        assert version["classes"] == ["bird", "cat", "dog", "fish", "rabbit"]


async def test_listing_follows_an_activation(admin_client: httpx.AsyncClient) -> None:
    await activate(admin_client, "v2")

    listing = (await admin_client.get("/models", headers=ADMIN_HEADERS)).json()

    assert listing["active_version"] == "v2"
    assert [v["version"] for v in listing["versions"] if v["active"]] == ["v2"]


async def test_listing_of_a_pinned_service_says_so(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    async with serve(create_app(settings_with(admin_settings, MODEL_VERSION="v2"))) as client:
        listing = (await client.get("/models", headers=ADMIN_HEADERS)).json()

    assert (listing["active_version"], listing["pinned"]) == ("v2", True)


# Activation.


async def test_activation_answers_the_new_and_previous_version(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await activate(admin_client, "v2")

    assert response.status_code == 200
    assert (response.json()["active_version"], response.json()["previous_version"]) == (
        "v2",
        "v4",
    )


async def test_activation_records_the_version_in_the_models_folder(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    await activate(admin_client, "v2")

    assert ModelStore(models_with_versions).active_version() == "v2"


async def test_activation_of_an_unknown_version_is_answered_404(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    response = await activate(admin_client, "v9")

    assert response.status_code == 404
    assert response.json() == {"detail": "Model version v9 not found"}
    assert await served_version(admin_client) == "v4"
    assert not (models_with_versions / ACTIVE_NAME).exists()


@pytest.mark.parametrize("version", ["latest", "v0", "v01", "V2"])
async def test_activation_of_a_malformed_version_is_answered_422(
    admin_client: httpx.AsyncClient, version: str
) -> None:
    assert (await activate(admin_client, version)).status_code == 422


async def test_tampered_version_is_refused_with_409_and_the_served_one_stays(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    await activate(admin_client, "v3")
    record = (models_with_versions / ACTIVE_NAME).read_bytes()
    tamper(models_with_versions / "v2" / ARTIFACT_NAME)

    response = await activate(admin_client, "v2")

    assert response.status_code == 409
    assert response.json() == {"detail": REFUSED.format("v2")}
    assert await served_version(admin_client) == "v3"
    assert (models_with_versions / ACTIVE_NAME).read_bytes() == record


async def test_version_tampered_after_it_was_loaded_is_refused_with_409(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    await activate(admin_client, "v2")  # v4, served until now, stays loaded for a rollback
    tamper(models_with_versions / "v4" / ARTIFACT_NAME)

    response = await activate(admin_client, "v4")

    assert response.status_code == 409
    assert await served_version(admin_client) == "v2"
    assert ModelStore(models_with_versions).active_version() == "v2"


async def test_refused_activation_is_logged_with_the_reason(
    admin_client: httpx.AsyncClient, models_with_versions: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tamper(models_with_versions / "v2" / ARTIFACT_NAME)

    with caplog.at_level(logging.ERROR, logger="predictor"):
        await activate(admin_client, "v2")

    assert "Activation of v2 refused" in caplog.text
    assert "sha256" in caplog.text


async def test_pinned_service_answers_409_to_an_activation(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    async with serve(create_app(settings_with(admin_settings, MODEL_VERSION="v2"))) as client:
        response = await activate(client, "v3")
        served = await served_version(client)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "MODEL_VERSION pins the served version; unset it to activate versions"
    }
    assert served == "v2"
    assert not (models_with_versions / ACTIVE_NAME).exists()


def serves_in_some_order(first: str, switches: list[tuple[str, str]], last: str) -> bool:
    """Whether the (previous, active) switches chain in some order, from `first` to `last`:
    each saw the version the one before it left, so none was lost or interleaved."""
    for order in permutations(switches):
        served = first
        for previous, active in order:
            if previous != served:
                break
            served = active
        else:
            if served == last:
                return True
    return False


async def test_concurrent_activations_all_succeed_one_after_the_other(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    targets = ["v1", "v2", "v3", "v1", "v2", "v3"]

    responses = await asyncio.gather(*(activate(admin_client, v) for v in targets))

    assert [r.status_code for r in responses] == [200] * len(targets)
    final = (await admin_client.get("/models", headers=ADMIN_HEADERS)).json()["active_version"]
    assert await served_version(admin_client) == final
    assert ModelStore(models_with_versions).active_version() == final
    switches = [(r.json()["previous_version"], r.json()["active_version"]) for r in responses]
    assert serves_in_some_order("v4", switches, final), switches


# Predictions of a given version.


async def test_version_predict_answers_with_that_version(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    [score] = load_model(models_with_versions / "v1").score([TEXT])

    response = await admin_client.post("/models/v1/predict", json={"input": TEXT})

    assert response.status_code == 200
    assert response.json()["model_version"] == "v1"
    assert response.json()["prediction"]["class"] == score.label
    assert response.json()["prediction"]["confidence"] == round(score.confidence, 4)
    assert await served_version(admin_client) == "v4"


async def test_version_predict_of_the_served_version_answers_as_predict(
    admin_client: httpx.AsyncClient,
) -> None:
    by_version = await admin_client.post("/models/v4/predict", json={"input": TEXT})
    served = await admin_client.post("/predict", json={"input": TEXT})

    assert by_version.json() == served.json()


async def test_version_predict_of_an_unknown_version_is_answered_404(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await admin_client.post("/models/v9/predict", json={"input": TEXT})

    assert response.status_code == 404
    assert response.json() == {"detail": "Model version v9 not found"}


async def test_version_predict_of_a_tampered_version_is_answered_409(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    tamper(models_with_versions / "v2" / ARTIFACT_NAME)

    response = await admin_client.post("/models/v2/predict", json={"input": TEXT})

    assert response.status_code == 409
    assert response.json() == {"detail": REFUSED.format("v2")}


async def test_version_predict_checks_the_input_as_predict_does(
    admin_client: httpx.AsyncClient,
) -> None:
    response = await admin_client.post("/models/v1/predict", json={"input": "   "})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "blank"


async def test_version_predict_is_open_while_the_admin_api_is_off(
    settings: Settings, models_with_versions: Path
) -> None:
    async with serve(create_app(settings)) as client:
        response = await client.post("/models/v1/predict", json={"input": TEXT})

    assert response.status_code == 200
    assert response.json()["model_version"] == "v1"


# The registry: its cache of loaded versions.


def registry_of(folder: Path, cache_size: int, pinned: str | None = None) -> VersionRegistry:
    """A registry of `folder` serving its v4 (or `pinned`)."""
    store = ModelStore(folder)
    slot = ModelSlot(load_model(folder / (pinned or "v4"), ScoringOptions("pipeline")))
    return VersionRegistry(store, slot, ScoringOptions("pipeline"), cache_size, pinned)


async def test_version_in_the_cache_is_not_loaded_again(models_with_versions: Path) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    first = await registry.model_for("v1")
    await registry.model_for("v2")

    assert await registry.model_for("v1") is first


async def test_least_recently_used_version_is_dropped_beyond_model_cache_size(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    v1, v2 = await registry.model_for("v1"), await registry.model_for("v2")
    await registry.model_for("v1")  # now v2 is the least recently used

    await registry.model_for("v3")

    assert await registry.model_for("v1") is v1
    assert await registry.model_for("v2") is not v2


async def test_model_cache_size_0_keeps_no_other_version_loaded(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=0)
    first = await registry.model_for("v1")

    assert await registry.model_for("v1") is not first


async def test_served_version_needs_no_cache_room(models_with_versions: Path) -> None:
    registry = registry_of(models_with_versions, cache_size=0)

    assert await registry.model_for("v4") is registry.active_model


async def test_version_served_before_an_activation_stays_loaded_for_a_rollback(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=1)
    before = registry.active_model

    await registry.activate("v2")

    assert await registry.model_for("v4") is before


async def test_without_a_cache_a_rollback_loads_the_version_again(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=0)
    before = registry.active_model

    await registry.activate("v2")

    assert await registry.model_for("v4") is not before


async def test_reactivating_the_served_version_keeps_it_loaded(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    before = registry.active_model

    activation = await registry.activate("v4")

    assert (activation.active_version, activation.previous_version) == ("v4", "v4")
    assert registry.active_model is before
    assert ModelStore(models_with_versions).active_version() == "v4"


# The registry: following the record other processes write.


async def test_registry_follows_the_version_another_process_activated(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    ModelStore(models_with_versions).record_active("v2")

    await registry.follow_once()

    assert registry.active_version == "v2"


async def test_registry_keeps_serving_when_the_recorded_version_is_tampered(
    models_with_versions: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    tamper(models_with_versions / "v2" / ARTIFACT_NAME)
    ModelStore(models_with_versions).record_active("v2")

    with caplog.at_level(logging.ERROR, logger="predictor"):
        await registry.follow_once()
        await registry.follow_once()

    assert registry.active_version == "v4"
    refusals = [r for r in caplog.records if "Not following" in r.getMessage()]
    assert len(refusals) == 1  # once, not at every poll


@pytest.mark.parametrize("record", ["{not json", json.dumps({"version": "../v1"})])
async def test_registry_keeps_serving_when_the_record_is_unreadable(
    models_with_versions: Path, record: str
) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    (models_with_versions / ACTIVE_NAME).write_text(record)

    await registry.follow_once()

    assert registry.active_version == "v4"


async def test_registry_keeps_serving_when_the_recorded_version_is_gone(
    models_with_versions: Path,
) -> None:
    registry = registry_of(models_with_versions, cache_size=2)
    ModelStore(models_with_versions).record_active("v9")

    await registry.follow_once()

    assert registry.active_version == "v4"


async def test_pinned_registry_does_not_follow_the_record(models_with_versions: Path) -> None:
    registry = registry_of(models_with_versions, cache_size=2, pinned="v3")
    ModelStore(models_with_versions).record_active("v2")

    # It returns at once instead of polling until cancelled.
    await asyncio.wait_for(registry.follow_active(0.01), timeout=10)

    assert registry.active_version == "v3"
