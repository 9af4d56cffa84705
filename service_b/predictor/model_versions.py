"""Which version serves, and the other versions kept loaded: activation, rollback, the
per-version cache, and following activations made by other processes.

An activation loads and verifies the new version before any request sees it, then swaps
it into the model slot in one assignment: a batch already being scored keeps the model
it started with, and a version that fails to load leaves the served one in place (as
Triton's and MLServer's model repositories do). The record in the models folder is
written only once the version is loaded, so a restart serves what was activated.
"""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

from predictor.errors import (
    ModelLoadError,
    VersionBusy,
    VersionNotFound,
    VersionPinned,
    VersionRefused,
)
from predictor.model import LoadedModel, ScoringOptions, load_model, read_metadata
from predictor.model_store import ARTIFACT_NAME, ModelStore, sha256_of
from predictor.schemas import Activation, ModelVersionList, ModelVersionSummary
from predictor.scoring import ModelSlot

logger = logging.getLogger(__name__)

LOAD_RETRY_AFTER_S = 1
"""Retry-After of a VersionBusy: about one load of the shipped model."""


class VersionRegistry:
    """The served version (in the model slot) and up to `cache_size` others, loaded."""

    def __init__(
        self,
        store: ModelStore,
        slot: ModelSlot,
        scoring: ScoringOptions,
        cache_size: int,
        pinned: str | None = None,
    ) -> None:
        """`pinned`: MODEL_VERSION, which refuses activation and is never followed away from."""
        self._store = store
        self._slot = slot
        self._scoring = scoring
        self._cache_size = cache_size
        self._pinned = pinned
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._switching = asyncio.Lock()  # one activation at a time, in this process
        self._loading = asyncio.Lock()  # one load of a non-active version at a time
        self._loading_version: str | None = None
        # Versions that failed to load for /models/{version}/predict, by their files'
        # signature (at most one entry per version folder).
        self._unloadable: dict[str, tuple[int, ...]] = {}
        # The recorded version last refused, and its files' signature: not loaded again
        # (nor logged) until they change.
        self._refused: tuple[str, tuple[int, ...] | None] | None = None

    @property
    def pinned(self) -> bool:
        return self._pinned is not None

    @property
    def active_model(self) -> LoadedModel | None:
        return self._slot.model

    @property
    def active_version(self) -> str | None:
        model = self._slot.model
        return model.version if model else None

    async def activate(self, version: str) -> Activation:
        """Serve `version` from now on, here and (through the record) in every process
        sharing the models folder. VersionNotFound, VersionRefused, VersionPinned."""
        if self._pinned is not None:
            raise VersionPinned()
        async with self._switching:
            previous = self.active_version
            started = time.monotonic()
            try:
                model = await self._verified(version)
            except VersionRefused as refused:
                logger.error("Activation of %s refused: %s", version, refused.reason)
                raise
            await asyncio.to_thread(self._store.record_active, version)
            self._serve(model)
            elapsed = time.monotonic() - started
        logger.info("Activated model %s (was %s) in %.3f s", version, previous, elapsed)
        return Activation(
            active_version=version, previous_version=previous, load_seconds=round(elapsed, 4)
        )

    async def model_for(self, version: str) -> LoadedModel:
        """The loaded model of `version`: the active one, a cached one, or loaded now (and
        cached). VersionNotFound, VersionRefused (at once, while its files are those that
        were refused), VersionBusy (another version is loading)."""
        active = self._slot.model
        if active is not None and active.version == version:
            return active
        cached = self._cache.get(version)
        if cached is not None:
            self._cache.move_to_end(version)
            return cached
        if self._loading.locked() and self._loading_version != version:
            raise VersionBusy(LOAD_RETRY_AFTER_S)
        async with self._loading:
            self._loading_version = version
            cached = self._cache.get(version)
            if cached is not None:
                self._cache.move_to_end(version)
                return cached
            signature = await asyncio.to_thread(self._store.signature, version)
            if signature is not None and self._unloadable.get(version) == signature:
                raise VersionRefused(version, "refused before, and its files did not change")
            try:
                model = await self._load(version)
            except VersionRefused as refused:
                logger.error("Model %s cannot serve: %s", version, refused.reason)
                if signature is not None:
                    self._unloadable[version] = signature
                raise
            self._unloadable.pop(version, None)
            self._remember(model)
            return model

    async def follow_active(self, poll_s: float) -> None:
        """Serve the version recorded as active once it is not the served one (another
        process activated it), within `poll_s`: the record is read twice per `poll_s`,
        leaving the other half for loading. Runs until cancelled."""
        if self._pinned is not None:
            return
        while True:
            await asyncio.sleep(poll_s / 2)
            await self.follow_once()

    async def follow_once(self) -> None:
        try:
            recorded = await asyncio.to_thread(self._store.active_version)
        except ModelLoadError as error:
            self._refuse_once((str(error), None), str(error))
            return
        if recorded is None or recorded == self.active_version:
            return
        signature = await asyncio.to_thread(self._store.signature, recorded)
        if self._refused == (recorded, signature):
            return
        async with self._switching:
            if recorded == self.active_version:
                return
            try:
                model = await self._verified(recorded)
            except VersionNotFound:
                reason = f"{recorded} is not in {self._store.root}"
                self._refuse_once((recorded, signature), reason)
                return
            except VersionRefused as refused:
                self._refuse_once((recorded, signature), refused.reason)
                return
            previous = self.active_version
            self._serve(model)
        self._refused = None
        logger.info("Following the models folder: serving %s (was %s)", recorded, previous)

    async def listing(self) -> ModelVersionList:
        return await asyncio.to_thread(self._listing)

    def _listing(self) -> ModelVersionList:
        active = self.active_version
        summaries = []
        for version in self._store.published_versions():
            try:
                metadata = self._store.metadata(version)
                summaries.append(
                    ModelVersionSummary.model_validate({**metadata, "active": version == active})
                )
            except (ModelLoadError, ValueError) as error:
                # A version whose metadata is unreadable is not listed; the log says why.
                logger.warning("Model %s is not listed: %s", version, error)
        return ModelVersionList(active_version=active, pinned=self.pinned, versions=summaries)

    async def _verified(self, version: str) -> LoadedModel:
        """`version` loaded and verified: the served or a cached model once its artifact's
        sha256 still matches, else loaded from its folder."""
        active = self._slot.model
        cached = active if active is not None and active.version == version else None
        cached = cached or self._cache.get(version)
        if cached is None:
            return await self._load(version)
        # Loaded already, but its files are checked again: the record about to name it must
        # name a version that a restart can load.
        version_dir = self._store.root / version
        artifact = version_dir / ARTIFACT_NAME
        try:
            _, metadata = await asyncio.to_thread(read_metadata, version_dir)
            actual = await asyncio.to_thread(sha256_of, artifact)
        except ModelLoadError as error:
            raise VersionRefused(version, str(error)) from None
        except OSError as error:
            raise VersionRefused(version, f"cannot read {artifact}: {error}") from None
        recorded = cached.metadata.get("artifact_sha256")
        if actual != recorded or metadata.artifact_sha256 != recorded:
            self._cache.pop(version, None)
            raise VersionRefused(version, f"{artifact} or its sha256 changed since it was loaded")
        return cached

    async def _load(self, version: str) -> LoadedModel:
        if not await asyncio.to_thread(self._store.has_version, version):
            raise VersionNotFound(version)
        try:
            return await asyncio.to_thread(load_model, self._store.root / version, self._scoring)
        except ModelLoadError as error:
            raise VersionRefused(version, str(error)) from None

    def _serve(self, model: LoadedModel) -> None:
        previous = self._slot.model
        self._cache.pop(model.version, None)
        self._slot.model = model  # one assignment: a request sees the old model or the new
        if previous is not None and previous.version != model.version:
            self._remember(previous)  # so a rollback needs no reload

    def _remember(self, model: LoadedModel) -> None:
        if self._cache_size == 0:
            return
        self._cache[model.version] = model
        self._cache.move_to_end(model.version)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _refuse_once(self, what: tuple[str, tuple[int, ...] | None], reason: str) -> None:
        if self._refused != what:
            self._refused = what
            logger.error(
                "Not following the models folder's active version, %s still serves: %s",
                self.active_version,
                reason,
            )


@contextlib.asynccontextmanager
async def following(registry: VersionRegistry, poll_s: float) -> AsyncIterator[None]:
    """Follow the recorded active version while the context is open."""
    task = asyncio.create_task(registry.follow_active(poll_s), name="follow-active-version")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
