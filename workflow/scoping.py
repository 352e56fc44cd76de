"""The one place that decides which objects a user may see.

Views never filter by hand: they call ``get_in_scope`` (404 outside the scope) or build lists
from ``scoped`` selects.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from workflow.errors import NotFound
from workflow.models import Ruta, RutaTransition, School, User

ScopedModel = TypeVar("ScopedModel", School, Ruta, User, RutaTransition)


def scoped(actor: User, model: type[ScopedModel]) -> Select[tuple[ScopedModel]]:
    """A select of every ``model`` row ``actor`` may see."""
    statement = select(model)
    if not actor.active:
        return statement.where(false())
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
    raise TypeError(f"no scope rule for {model.__name__}")


NOT_FOUND_MESSAGES = {
    School: "No encontramos esa institución educativa.",
    Ruta: "No encontramos esa Ruta de Mejoramiento.",
    User: "No encontramos ese usuario.",
    RutaTransition: "No encontramos ese registro del historial.",
}


def get_in_scope(session: Session, actor: User, model: type[ScopedModel],
                 object_id: int) -> ScopedModel:
    """The ``model`` row with ``object_id`` if ``actor`` may see it; ``NotFound`` otherwise."""
    found = session.scalars(scoped(actor, model).where(model.id == object_id)).one_or_none()
    if found is None:
        raise NotFound(NOT_FOUND_MESSAGES[model])
    return found
