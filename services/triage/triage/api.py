"""Triage administration routes (admin only): categories, examples, retraining, model, decisions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from shared.auth import AdminPrincipal
from shared.deps import SessionDep, after_commit
from shared.pagination import decode_cursor, fetch_limit, keyset_page
from shared.problems import ProblemError

from triage import repository, service
from triage.learning import ModelManager
from triage.schemas import (
    Accepted,
    CategoriesRead,
    CategoriesUpdate,
    CategoryBase,
    DecisionPage,
    DecisionRead,
    ExamplesImport,
    ModelMetrics,
    ModelRead,
    RetrainAccepted,
)
from triage.settings import TriageSettings

router = APIRouter(prefix="/api/triage", tags=["triage"])


async def get_models(request: Request) -> ModelManager:
    """The model manager of this process."""
    return request.app.state.models  # type: ignore[no-any-return]


async def get_settings(request: Request) -> TriageSettings:
    """The settings the app was built with."""
    return request.app.state.settings  # type: ignore[no-any-return]


ModelsDep = Annotated[ModelManager, Depends(get_models)]
SettingsDep = Annotated[TriageSettings, Depends(get_settings)]


@router.get("/categories", response_model=CategoriesRead)
async def get_categories(_: AdminPrincipal, session: SessionDep) -> CategoriesRead:
    """The categories triage may choose from."""
    rows = await repository.list_categories(session)
    return CategoriesRead(categories=[CategoryBase(name=r.name, description=r.description) for r in rows])


@router.put("/categories", response_model=CategoriesRead)
async def put_categories(
    body: CategoriesUpdate, _: AdminPrincipal, session: SessionDep, models: ModelsDep
) -> CategoriesRead:
    """Replace the categories; the local model retrains for the new set in the background."""
    await service.set_categories(session=session, items=[(c.name, c.description) for c in body.categories])
    after_commit(session, models.request_training)
    return CategoriesRead(categories=[CategoryBase(name=c.name, description=c.description) for c in body.categories])


@router.post("/examples", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
async def post_examples(body: ExamplesImport, _: AdminPrincipal, session: SessionDep) -> Accepted:
    """Import labelled examples (up to 1,000) for the local analyzer to learn from."""
    known = {r.name for r in await repository.list_categories(session)}
    errors = [
        {"loc": ["body", "examples", i, "category"], "msg": "not a configured category", "type": "value_error"}
        for i, ex in enumerate(body.examples)
        if ex.category not in known
    ]
    if errors:
        raise ProblemError(
            422,
            f"examples.{errors[0]['loc'][2]}.category: not a configured category",
            errors=errors,
        )
    rows: list[dict[str, Any]] = [ex.model_dump() for ex in body.examples]
    return Accepted(accepted=await service.import_examples(session=session, rows=rows))


@router.post("/retrain", response_model=RetrainAccepted, status_code=status.HTTP_202_ACCEPTED)
async def post_retrain(_: AdminPrincipal, models: ModelsDep) -> RetrainAccepted:
    """Train a new model version in the background; it replaces the current one when ready."""
    started = models.request_training()
    return RetrainAccepted(status="started" if started else "already_training", current_version=models.version)


@router.get("/model", response_model=ModelRead)
async def get_model(_: AdminPrincipal, session: SessionDep, models: ModelsDep, settings: SettingsDep) -> ModelRead:
    """The local model in use: version, training time, examples and cross-validated metrics."""
    await models.refresh()
    meta = await repository.latest_model_meta(session)
    return ModelRead(
        version=meta.version if meta else None,
        trained_at=meta.trained_at if meta else None,
        examples=meta.examples if meta else 0,
        metrics=ModelMetrics(**(meta.metrics if meta else {})),
        training=models.training,
        provider="gemini" if settings.use_gemini else "openai" if settings.use_openai else "local",
        gemini_model=settings.gemini_model if settings.use_gemini else None,
        openai_model=settings.openai_model if settings.use_openai else None,
    )


@router.get("/decisions", response_model=DecisionPage)
async def get_decisions(
    _: AdminPrincipal,
    session: SessionDep,
    ticket_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DecisionPage:
    """The decision log, newest first: provider, model, version, result and assignment reason."""
    after = decode_cursor(cursor) if cursor else None
    rows = await service.decisions_page(session=session, ticket_id=ticket_id, limit=fetch_limit(limit), after=after)
    page, next_cursor = keyset_page(rows, limit)
    return DecisionPage(items=[DecisionRead.model_validate(r) for r in page], next_cursor=next_cursor)
