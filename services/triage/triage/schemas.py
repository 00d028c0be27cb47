"""Request and response bodies of the triage administration API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from shared.events import Priority
from shared.text import Storable

from triage.skills import clean_skills, normalise

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Storable]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Storable]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryBase(BaseModel):
    name: Name
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Storable] = ""


class CategoryIn(CategoryBase, _In):
    pass


class CategoriesUpdate(_In):
    categories: list[CategoryIn] = Field(min_length=2, max_length=100)

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[CategoryIn]) -> list[CategoryIn]:
        seen: set[str] = set()
        for item in value:
            key = normalise(item.name) or item.name.casefold()
            if key in seen:
                raise ValueError(f"duplicate category {item.name!r}")
            seen.add(key)
        return value


class CategoriesRead(BaseModel):
    categories: list[CategoryBase]


class ExampleIn(_In):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000), Storable]
    category: Name
    priority: Priority
    skills: list[Skill] = Field(default_factory=list, max_length=50)

    @field_validator("skills")
    @classmethod
    def _fold(cls, value: list[str]) -> list[str]:
        return list(clean_skills(value))


class ExamplesImport(_In):
    examples: list[ExampleIn] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    accepted: int


class RetrainAccepted(BaseModel):
    status: Literal["started", "already_training"]
    current_version: int | None


class ModelMetrics(BaseModel):
    category_accuracy: float | None = None
    priority_accuracy: float | None = None
    model_config = ConfigDict(extra="allow")


class ModelRead(BaseModel):
    version: int | None
    trained_at: datetime | None
    examples: int
    metrics: ModelMetrics
    training: bool
    provider: Literal["local", "gemini", "openai"]
    gemini_model: str | None = None
    openai_model: str | None = None


class DecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    attempt: int
    outcome: str
    provider: str | None
    model: str | None
    model_version: int | None
    input_hash: str | None
    category: str | None
    priority: str | None
    related_skills: list[str]
    summary: str | None
    confidence: float | None
    assignee_id: uuid.UUID | None
    assignee_name: str | None
    assignment_reason: str
    created_at: datetime


class DecisionPage(BaseModel):
    items: list[DecisionRead]
    next_cursor: str | None
