"""Why a moderator sees a ticket, and their list (and search) as one index-driven branch per reason.

A moderator sees the tickets they created, those assigned to them and those waiting for a free
slot of theirs: `reasons`, which repository.visible_to ORs into the one visibility rule. For a
list, one OR'd condition leaves the planner only bitmaps: with two common search words that meant
a BitmapAnd of the whole GIN match (50,000 tickets at a million) with the moderator's 25,000,
then a sort — 130-200 ms. `moderator_page` runs each reason as its own SELECT, newest first and
limited to the page, so each walks its own b-tree (ix_tickets_created_by, ix_tickets_assigned_to,
the partial GIN ix_tickets_waiting_for) and stops at a page of matches; the outer query merges at
most three pages. A later branch leaves out what an earlier one returns, so no ticket comes twice.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, and_, select, union_all
from sqlalchemy.orm import aliased

from tickets.models import Ticket


def waiting_for(person_id: uuid.UUID) -> ColumnElement[bool]:
    """Tickets waiting for a free slot of this moderator (one of those who fit, all full)."""
    # `@>` on the partial GIN index ix_tickets_waiting_for (the array is NULL unless waiting)
    return and_(Ticket.triage_state == "waiting", Ticket.waiting_for.contains([person_id]))


def reasons(viewer_id: uuid.UUID) -> list[ColumnElement[bool]]:
    """Why a moderator may see a ticket: they created it, it is assigned to them, it waits for them."""
    return [Ticket.created_by_id == viewer_id, Ticket.assigned_to_id == viewer_id, waiting_for(viewer_id)]


def branches(viewer_id: uuid.UUID) -> list[ColumnElement[bool]]:
    """The same reasons, each leaving out the tickets of the ones before it (NULL-safe)."""
    created, assigned, waiting = reasons(viewer_id)
    not_created = Ticket.created_by_id != viewer_id  # never NULL
    not_assigned = Ticket.assigned_to_id.is_distinct_from(viewer_id)
    return [created, and_(assigned, not_created), and_(waiting, not_created, not_assigned)]


def moderator_page(viewer_id: uuid.UUID, conditions: list[ColumnElement[bool]], limit: int) -> Select[Ticket]:
    """Newest first, at most `limit` tickets that match `conditions` and that the moderator may see."""
    newest = (Ticket.created_at.desc(), Ticket.id.desc())
    pages = union_all(
        *(select(Ticket).where(branch, *conditions).order_by(*newest).limit(limit) for branch in branches(viewer_id))
    ).subquery("visible")
    merged = aliased(Ticket, pages)
    return select(merged).order_by(merged.created_at.desc(), merged.id.desc()).limit(limit)
