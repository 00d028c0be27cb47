"""Routes of incidents (README, "Incidents"): thin; reads in incidents.py, staff actions in incident_work.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from shared.auth import CurrentPrincipal, StaffPrincipal
from shared.deps import SessionDep

from tickets import incident_work, incidents
from tickets.api import SettingsDep
from tickets.incident_schemas import (
    IncidentDetach,
    IncidentDetail,
    IncidentFilters,
    IncidentMerge,
    IncidentPage,
    IncidentPublicUpdate,
    IncidentRead,
    IncidentResolve,
    IncidentUpdate,
    KnownProblemRead,
    LogList,
    MemberList,
)

router = APIRouter(prefix="/api/incidents", tags=["incidents"])
# a ticket's incident, as its requester or staff may see it
ticket_router = APIRouter(prefix="/api/tickets", tags=["incidents"])


@router.get("", response_model=IncidentPage)
async def list_incidents(
    principal: StaffPrincipal, session: SessionDep, filters: Annotated[IncidentFilters, Depends()]
) -> IncidentPage:
    """Incidents newest first (open ones by default): all for admins, their own for moderators."""
    rows, cursor = await incidents.list_incidents(session=session, principal=principal, filters=filters)
    return IncidentPage(items=[incidents.present(i) for i in rows], next_cursor=cursor)


@router.get("/{incident_id}", response_model=IncidentDetail)
async def get_incident(incident_id: uuid.UUID, principal: StaffPrincipal, session: SessionDep) -> IncidentDetail:
    """One incident with its size over time."""
    return await incidents.get_incident(session=session, incident_id=incident_id, principal=principal)


@router.patch("/{incident_id}", response_model=IncidentRead)
async def update_incident(
    incident_id: uuid.UUID, update: IncidentUpdate, principal: StaffPrincipal, session: SessionDep
) -> IncidentRead:
    """Edit the title, summary, public title, category or priority; admins also the owner."""
    incident = await incident_work.update_incident(
        session=session, incident_id=incident_id, update=update, principal=principal
    )
    return incidents.present(incident)


@router.get("/{incident_id}/members", response_model=MemberList)
async def list_members(incident_id: uuid.UUID, principal: StaffPrincipal, session: SessionDep) -> MemberList:
    """The member tickets, oldest first, with triage's reason for each match."""
    return MemberList(items=await incidents.list_members(session=session, incident_id=incident_id, principal=principal))


@router.get("/{incident_id}/log", response_model=LogList)
async def list_log(incident_id: uuid.UUID, principal: StaffPrincipal, session: SessionDep) -> LogList:
    """What happened to the incident: joins, detaches, merges, edits, public updates, resolution."""
    return LogList(items=await incidents.list_log(session=session, incident_id=incident_id, principal=principal))


@router.post("/{incident_id}/detach", response_model=IncidentRead)
async def detach(
    incident_id: uuid.UUID, body: IncidentDetach, principal: StaffPrincipal, session: SessionDep
) -> IncidentRead:
    """Take a ticket that is not the same problem out of the incident; it is triaged on its own."""
    incident = await incident_work.detach(
        session=session, incident_id=incident_id, ticket_id=body.ticket_id, principal=principal, note=body.note
    )
    return incidents.present(incident)


@router.post("/{incident_id}/merge", response_model=IncidentRead)
async def merge(
    incident_id: uuid.UUID, body: IncidentMerge, principal: StaffPrincipal, session: SessionDep, settings: SettingsDep
) -> IncidentRead:
    """Move every ticket of another incident into this one."""
    incident = await incident_work.merge(
        session=session, settings=settings, target_id=incident_id, source_id=body.source_id, principal=principal
    )
    return incidents.present(incident)


@router.post("/{incident_id}/updates", response_model=IncidentRead)
async def post_update(
    incident_id: uuid.UUID, body: IncidentPublicUpdate, principal: StaffPrincipal, session: SessionDep
) -> IncidentRead:
    """A public update every member's requester sees on their ticket."""
    incident = await incident_work.post_update(
        session=session, incident_id=incident_id, body=body.body, principal=principal
    )
    return incidents.present(incident)


@router.post("/{incident_id}/resolve", response_model=IncidentRead)
async def resolve(
    incident_id: uuid.UUID, body: IncidentResolve, principal: StaffPrincipal, session: SessionDep
) -> IncidentRead:
    """Resolve the incident and its tickets with one public comment, mailed once to each requester."""
    incident = await incident_work.resolve(
        session=session, incident_id=incident_id, comment=body.comment, principal=principal
    )
    return incidents.present(incident)


@ticket_router.get("/{ticket_id}/incident", response_model=IncidentDetail | KnownProblemRead)
async def ticket_incident(
    ticket_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> IncidentDetail | KnownProblemRead:
    """The ticket's incident: "part of a known problem" and its public updates for the requester."""
    return await incidents.for_ticket(session=session, ticket_id=ticket_id, principal=principal)
