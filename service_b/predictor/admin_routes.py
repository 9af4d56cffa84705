"""The admin API of the predictor: training jobs, the versions, and activation. Every
route requires `Authorization: Bearer <ADMIN_TOKEN>`."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from predictor import responses
from predictor.dependencies import JobIdPath, TrainingDep, VersionPath, VersionsDep, require_admin
from predictor.schemas import Activation, ModelVersionList, TrainingJob, TrainingJobs, TrainRequest
from service_common.json_body import StrictJsonRoute

admin_router = APIRouter(
    route_class=StrictJsonRoute, tags=["admin"], dependencies=[Depends(require_admin)]
)


@admin_router.post("/train", status_code=202, response_model=TrainingJob, responses=responses.TRAIN)
async def create_training_job(
    body: TrainRequest, training: TrainingDep, response: Response
) -> TrainingJob:
    """Queue a training job: a new version from the recipe, changed by `params`, with the
    extra `examples`; `activate` says whether it then serves."""
    job = await training.submit(body)
    response.headers["Location"] = f"/train/jobs/{job.job_id}"
    return job


@admin_router.get("/train/jobs", response_model=TrainingJobs, responses=responses.JOBS)
async def read_training_jobs(
    training: TrainingDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> TrainingJobs:
    """The training jobs, newest first (at most `limit`)."""
    return await training.jobs(limit)


@admin_router.get("/train/jobs/{job_id}", response_model=TrainingJob, responses=responses.JOB)
async def read_training_job(job_id: JobIdPath, training: TrainingDep) -> TrainingJob:
    """One training job: its status, times, params, and the version it produced."""
    return await training.job(job_id)


@admin_router.get("/models", response_model=ModelVersionList, responses=responses.ADMIN_OK)
async def read_model_versions(versions: VersionsDep) -> ModelVersionList:
    """Every published version, oldest first, and which one serves."""
    return await versions.listing()


@admin_router.post(
    "/models/{version}/activate", response_model=Activation, responses=responses.ACTIVATE
)
async def activate_model_version(version: VersionPath, versions: VersionsDep) -> Activation:
    """Serve `version` from now on (a rollback is activating an older one). It is loaded
    and verified first; on failure the served version does not change."""
    return await versions.activate(version)
