"""Model versions: stored, picked up by every worker, retrained on human corrections."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from helpdesk_testing.plugin import JwtKeys, TestDatabase, app_client, bearer, wait_for
from shared.db import create_engine, create_sessionmaker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from triage.app import create_app
from triage.learning import ModelManager
from triage.models import Example, ModelVersion
from triage.settings import TriageSettings

from .helpers import SYSTEM, Probe, created, human, updated, user_registered, wait_copy_version
from .test_flow import wait_staff


def manager(engine: AsyncEngine) -> ModelManager:
    return ModelManager(engine=engine, sessions=create_sessionmaker(engine))


async def test_workers_share_versions(engine: AsyncEngine) -> None:
    first, second = manager(engine), manager(engine)
    await first.ensure_model()
    assert first.version == 1
    await second.ensure_model()  # a restarted or second worker loads, does not train
    assert second.version == 1
    async with create_sessionmaker(engine)() as s:
        assert await s.scalar(select(func.count()).select_from(ModelVersion)) == 1

    assert await first.train_now() == 2
    assert second.version == 1
    assert await second.refresh() is True  # what the poll loop does every few seconds
    assert second.version == 2
    assert await second.refresh() is False


async def test_one_trainer_at_a_time(engine: AsyncEngine) -> None:
    a, b = manager(engine), manager(engine)
    await a.ensure_model()
    results = await asyncio.gather(a.train_now(), b.train_now())
    assert sorted(results, key=lambda v: v or 0) == [None, 2]


async def test_correction_changes_the_next_similar_ticket(
    make_settings: Callable[..., TriageSettings],
    probe: Probe,
    triage_db: TestDatabase,
    jwt_keys: JwtKeys,
) -> None:
    settings = make_settings(retrain_interval_s=0.5, model_poll_s=0.3)
    async with app_client(create_app(settings)) as client:
        admin = user_registered(role="admin", name="Ada")
        await probe.publish(admin)
        await wait_staff(triage_db, admin.user_id)

        text = (
            "Loyalty points vanished from my account",
            "All my loyalty points disappeared from my customer account overnight.",
        )
        first = created(*text)
        await probe.publish(first)
        (env,) = await probe.wait_about(first.ticket.id)
        before = env.data["category"], env.data["priority"]
        cats = [
            c["name"]
            for c in (await client.get("/api/triage/categories", headers=bearer(jwt_keys.token(role="admin")))).json()[
                "categories"
            ]
        ]
        target = next(
            c for c in ("Human Resources", "Sales and Pre-Sales", cats[-1], cats[0]) if c in cats and c != before[0]
        )
        target_priority = "high" if before[1] != "high" else "low"

        # A moderator corrects category and priority: it becomes a labelled example.
        snap = first.ticket.model_copy(update={"category": before[0], "priority": before[1]})
        await probe.publish(updated(snap, version=2, actor=human(), category=target, priority=target_priority))

        async def retrained() -> bool:
            async with create_sessionmaker(engine := create_engine(triage_db.url("triage")))() as s:
                n = await s.scalar(select(func.count()).select_from(Example))
                v = await s.scalar(select(func.max(ModelVersion.version)))
            await engine.dispose()
            return bool(n == 1 and v and v >= 2)

        await wait_for(retrained, timeout=90, message="retraining on the correction")
        await asyncio.sleep(1.0)  # the poll interval: every worker has the new version

        second = created(
            "Loyalty points vanished from account", "My loyalty points disappeared from my customer account."
        )
        await probe.publish(second)
        (env2,) = await probe.wait_about(second.ticket.id)
        assert env2.data["category"] == target, (before, env2.data)
        assert env2.data["priority"] == target_priority


async def test_system_changes_are_not_corrections(
    make_settings: Callable[..., TriageSettings],
    probe: Probe,
    triage_db: TestDatabase,
) -> None:
    async with app_client(create_app(make_settings())):
        event = created("Printer", "Printer offline")
        snap = event.ticket
        await probe.publish(updated(snap, version=2, actor=human("user"), status="closed"))
        await probe.publish(updated(snap, version=3, actor=SYSTEM, category="General Inquiry", priority="low"))
        await wait_copy_version(triage_db, snap.id, 3)
        engine = create_engine(triage_db.url("triage"))
        async with create_sessionmaker(engine)() as s:
            assert await s.scalar(select(func.count()).select_from(Example)) == 0
        await engine.dispose()
