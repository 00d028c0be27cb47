"""What someone may do with a ticket they can see (which tickets they see: `repository.visible_to`)."""

from __future__ import annotations

from shared.jwt import Principal

from tickets.models import Ticket


def takes_part(ticket: Ticket, principal: Principal) -> bool:
    """Admins, the requester and the assigned moderator: who may comment and change the ticket."""
    return (
        principal.is_admin
        or ticket.created_by_id == principal.id
        or (principal.role == "moderator" and ticket.assigned_to_id == principal.id)
    )


def waits_for(ticket: Ticket, principal: Principal) -> bool:
    """The ticket waits for a free slot of this moderator (one who fits, all at capacity)."""
    return (
        principal.role == "moderator"
        and ticket.triage_state == "waiting"
        and principal.id in (ticket.waiting_for or ())
    )


def is_staff_for(ticket: Ticket, principal: Principal) -> bool:
    """Admins and the assigned moderator work the ticket; anyone else is its requester."""
    return principal.is_admin or (principal.role == "moderator" and ticket.assigned_to_id == principal.id)


def sees_internals(ticket: Ticket, principal: Principal) -> bool:
    """Staff read triage's internals; so does a moderator it waits for (theirs at their next free slot)."""
    return is_staff_for(ticket, principal) or waits_for(ticket, principal)
