"""The one place that decides which objects a user may see.

Views never filter by hand: they call ``get_in_scope`` (404 outside the scope) or build lists
from ``scoped`` selects.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from workflow.catalogo.catalog import Catalog
from workflow.errors import NotFound
from workflow.horizontes.calendar import FollowUpCheckpoint, HorizonCalendar
from workflow.models import OutboxMessage, Ruta, RutaTransition, School, User

ScopedModel = TypeVar("ScopedModel", School, Ruta, User, RutaTransition, OutboxMessage,
                      FollowUpCheckpoint, Catalog)


def scoped(actor: User, model: type[ScopedModel]) -> Select[tuple[ScopedModel]]:
    """A select of every ``model`` row ``actor`` may see."""
    statement = select(model)
    if not actor.active:
        return statement.where(false())
    if model is Catalog:
        # Everyone uses the shared catalogs and their own Secretaría's adaptations.
        return statement.where(or_(Catalog.secretaria_id.is_(None),
                                   Catalog.secretaria_id == actor.secretaria_id))
    if actor.role.belongs_to_school:
        if model is School:
            return statement.where(School.id == actor.school_id)
        if model is Ruta:
            # Joined as for the Secretaría, so callers can always filter on School columns.
            return statement.join(Ruta.school).where(Ruta.school_id == actor.school_id)
        if model is User:
            return statement.where(User.school_id == actor.school_id)
        if model is RutaTransition:
            return statement.join(RutaTransition.ruta).where(Ruta.school_id == actor.school_id)
        if model in (OutboxMessage, FollowUpCheckpoint):
            return statement.where(false())  # the Secretaría's business, not a school's
    else:
        if model is School:
            return statement.where(School.secretaria_id == actor.secretaria_id)
        if model is Ruta:
            return statement.join(Ruta.school).where(School.secretaria_id == actor.secretaria_id)
        if model is User:
            return statement.where(User.secretaria_id == actor.secretaria_id)
        if model is RutaTransition:
            return (statement.join(RutaTransition.ruta).join(Ruta.school)
                    .where(School.secretaria_id == actor.secretaria_id))
        if model is OutboxMessage:
            return statement.where(OutboxMessage.secretaria_id == actor.secretaria_id)
        if model is FollowUpCheckpoint:
            return (statement.join(FollowUpCheckpoint.calendar)
                    .where(HorizonCalendar.secretaria_id == actor.secretaria_id))
    raise TypeError(f"no scope rule for {model.__name__}")


NOT_FOUND_MESSAGES = {
    School: "No encontramos esa institución educativa.",
    Ruta: "No encontramos esa Ruta de Mejoramiento.",
    User: "No encontramos ese usuario.",
    RutaTransition: "No encontramos ese registro del historial.",
    OutboxMessage: "No encontramos ese mensaje.",
    FollowUpCheckpoint: "No encontramos ese corte de seguimiento.",
    Catalog: "No encontramos ese catálogo.",
}


def get_in_scope(session: Session, actor: User, model: type[ScopedModel],
                 object_id: int) -> ScopedModel:
    """The ``model`` row with ``object_id`` if ``actor`` may see it; ``NotFound`` otherwise."""
    found = session.scalars(scoped(actor, model).where(model.id == object_id)).one_or_none()
    if found is None:
        raise NotFound(NOT_FOUND_MESSAGES[model])
    return found
