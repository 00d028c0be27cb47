"""Model versions of the local analyzer: train in the background, store, and load the newest.

Training runs in a worker thread (CPU-bound, the event loop keeps triaging) under a Postgres
advisory lock, so only one process trains at a time. The result is stored whole in
`model_versions`; every worker process polls for a newer version and swaps it in only once it
is loaded. A restarted worker loads the newest version instead of training again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from shared.db import transaction
from shared.logging import get_logger
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from triage import repository
from triage.analyzer.base import Example
from triage.analyzer.local import (
    DEFAULT_CATEGORIES,
    LocalAnalyzer,
    LocalModel,
    starter_examples,
    train,
)

log = get_logger(__name__)

# Key of the advisory lock that makes one trainer at a time across processes.
TRAIN_LOCK = 0x7472_6961_6765  # "triage"


def _mark(examples_mark: str, categories: Sequence[str]) -> str:
    digest = hashlib.sha256("\x1f".join(categories).encode()).hexdigest()[:16]
    return f"{examples_mark}|{digest}"


class ModelManager:
    """Holds the local analyzer of this process and keeps its model the newest stored one."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        max_examples: int = 50000,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._max_examples = max_examples
        self.analyzer: LocalAnalyzer | None = None
        self.version: int | None = None
        self._training: asyncio.Task[int | None] | None = None
        self._load_lock = asyncio.Lock()
        # the examples mark of a training run that failed: not retried until the data changes
        self._failed_mark: str | None = None

    @property
    def training(self) -> bool:
        """True while this process trains a new version."""
        return self._training is not None and not self._training.done()

    @property
    def model(self) -> LocalModel:
        """The model in use."""
        assert self.analyzer is not None, "no model loaded yet"
        return self.analyzer.model

    # -- loading ---------------------------------------------------------------------------

    async def _load(self, version: int) -> bool:
        async with self._load_lock:
            if self.version is not None and version <= self.version:
                return False
            async with self._sessions() as session:
                blob = await repository.model_blob(session, version)
            if blob is None:
                return False
            model = await asyncio.to_thread(LocalModel.from_bytes, blob)
            if self.analyzer is None:
                self.analyzer = LocalAnalyzer(model)
            else:
                self.analyzer.swap(model)
            self.version = version
            log.info("model_loaded", version=version)
            return True

    async def refresh(self) -> bool:
        """Load the newest stored version if it is newer than ours; True when swapped."""
        async with self._sessions() as session:
            latest = await repository.latest_model_version(session)
        if latest is None or (self.version is not None and latest <= self.version):
            return False
        return await self._load(latest)

    async def ensure_model(self) -> None:
        """At start: load the newest stored model, or train the first one (starter examples)."""
        if await self.refresh():
            return
        version = await self.train_now()
        if version is None or self.analyzer is None:
            # another process held the lock and trained: wait for its version
            for _ in range(600):
                if await self.refresh():
                    return
                await asyncio.sleep(0.5)
            raise RuntimeError("no model version appeared")

    async def poll_forever(self, interval: float) -> None:
        """Pick up versions other processes store (competing consumers stay in step)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep polling through database blips
                log.warning("model_poll_failed", error=str(exc)[:200])

    # -- training --------------------------------------------------------------------------

    async def _collect(self) -> tuple[list[Example], list[str], str]:
        async with self._sessions() as session:
            rows = await repository.training_examples(session, limit=self._max_examples)
            cats = [c.name for c in await repository.list_categories(session)]
            mark = await repository.examples_mark(session)
        categories = cats or [name for name, _ in DEFAULT_CATEGORIES]
        known = set(categories)
        examples = [e for e in starter_examples() if e.category in known]
        examples += [
            Example(
                title=r.title,
                description=r.description,
                category=r.category,
                priority=r.priority,
                skills=tuple(r.skills or ()),
                ref=f"ticket:{r.ticket_id}" if r.ticket_id else f"example:{r.id}",
            )
            for r in reversed(rows)  # oldest first, so the newest judgement comes last
            if r.category in known
        ]
        return examples, categories, _mark(mark, categories)

    async def needs_training(self) -> bool:
        """True when examples or categories changed since the newest stored model."""
        async with self._sessions() as session:
            meta = await repository.latest_model_meta(session)
            cats = [c.name for c in await repository.list_categories(session)]
            mark = await repository.examples_mark(session)
        current = _mark(mark, cats or [n for n, _ in DEFAULT_CATEGORIES])
        if current == self._failed_mark:
            return False
        return meta is None or meta.examples_mark != current

    async def train_now(self) -> int | None:
        """Train, store and load a new version; None when another process is training."""
        # A transaction-scoped lock, held by a transaction open for the whole training: it is
        # released whatever happens, and works through PgBouncer's transaction pooling (a
        # session lock would be taken on one server connection and "released" on another).
        async with self._engine.connect() as lock_conn, lock_conn.begin():
            got = await lock_conn.scalar(select(func.pg_try_advisory_xact_lock(TRAIN_LOCK)))
            if not got:
                log.info("training_skipped_lock_held")
                return None
            examples, categories, mark = await self._collect()
            async with self._sessions() as session:
                version = (await repository.latest_model_version(session) or 0) + 1
            started = datetime.now(UTC)
            try:
                model = await asyncio.to_thread(train, examples, categories=categories, version=version)
            except ValueError:
                self._failed_mark = mark  # e.g. no example for any configured category
                raise
            blob = await asyncio.to_thread(model.to_bytes)
            async with transaction(self._sessions) as session:
                await repository.save_model(
                    session,
                    {
                        "version": version,
                        "trained_at": model.trained_at,
                        "examples": model.examples,
                        "examples_mark": mark,
                        "metrics": dict(model.metrics),
                        "categories": list(categories),
                        "blob": blob,
                    },
                )
            log.info(
                "model_trained",
                version=version,
                examples=len(examples),
                seconds=round((datetime.now(UTC) - started).total_seconds(), 2),
            )
        await self._load(version)
        return version

    def request_training(self) -> bool:
        """Start training in the background unless it already runs here; True when started."""
        if self.training:
            return False
        self._training = asyncio.create_task(self._train_logged(), name="triage-train")
        return True

    async def _train_logged(self) -> int | None:
        try:
            return await self.train_now()
        except Exception as exc:
            log.error("training_failed", error=str(exc)[:300], exc_info=exc)
            return None

    async def retrain_when_examples_change(self, interval: float) -> None:
        """Retrain automatically after corrections and imports (one process wins the lock)."""
        while True:
            await asyncio.sleep(interval)
            try:
                if not self.training and await self.needs_training():
                    self.request_training()
            except Exception as exc:  # noqa: BLE001 - try again next round
                log.warning("retrain_check_failed", error=str(exc)[:200])

    async def stop(self) -> None:
        """Wait briefly for a training run, then abandon it (the thread finishes on its own)."""
        if self._training is not None and not self._training.done():
            self._training.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._training, 1)
