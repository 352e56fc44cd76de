"""The one place that decides which objects a user may see.

Views never filter by hand: they call ``get_in_scope`` (404 outside the scope) or build lists
from ``scoped`` selects.

The rules for the core models (schools, Rutas, users, history, outbox) are written here. A
stage package that defines a model people reach by id registers its rule beside the model
with ``scope_rule``, so this module never imports a stage: stages build on the core, never
the reverse. A model nobody registered raises ``TypeError``: a forgotten rule fails loudly
instead of showing everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Select, bindparam, false, select
from sqlalchemy.orm import Session

from workflow.errors import NotFound
from workflow.models import OutboxMessage, Ruta, RutaTransition, School, User
from workflow.roles import Role

ScopedModel = TypeVar("ScopedModel")

#: narrows ``select(model)`` to what ``actor`` (active) may see
ScopeFilter = Callable[[User, Select[Any]], Select[Any]]


@dataclass(frozen=True)
class ScopeRule:
    narrow: ScopeFilter
    not_found: str


_RULES: dict[type[Any], ScopeRule] = {}


def scope_rule(model: type[Any], *, not_found: str) -> Callable[[ScopeFilter], ScopeFilter]:
    """Register how ``model`` is narrowed to an actor's scope, and its 404 message."""
    def register(narrow: ScopeFilter) -> ScopeFilter:
        if model in _RULES:
            raise RuntimeError(f"{model.__name__} already has a scope rule")
        _RULES[model] = ScopeRule(narrow, not_found)
        return narrow
    return register


def scoped(actor: User, model: type[ScopedModel]) -> Select[tuple[ScopedModel]]:
    """A select of every ``model`` row ``actor`` may see."""
    rule = _RULES.get(model)
    if rule is None:
        raise TypeError(f"no scope rule for {model.__name__}")
    statement: Select[Any] = select(model)
    if not actor.active:
        return statement.where(false())
    return rule.narrow(actor, statement)


@dataclass(frozen=True)
class _BoundActor:
    """Stands for an actor in a scope rule: the role and whether active as they are, the ids
    as bound parameters (``scoped_with_parameters``). A rule that reads any other attribute
    fails here, loudly, rather than keeping one actor's value for all."""

    role: Role
    active: bool
    id: BindParameter[int] = field(default_factory=lambda: bindparam("scope_actor_id"))
    school_id: BindParameter[int] = field(
        default_factory=lambda: bindparam("scope_school_id"))
    secretaria_id: BindParameter[int] = field(
        default_factory=lambda: bindparam("scope_secretaria_id"))


def scoped_with_parameters(actor: User, model: type[ScopedModel], build: Callable[
        [Select[tuple[ScopedModel]]], Select[Any]] | None = None) -> tuple[Select[Any],
                                                                          dict[str, Any]]:
    """``scoped(actor, model)`` (narrowed further by ``build``, a module-level function)
    built once per role, activity, model and ``build`` in the process, and the parameters
    that make it ``actor``'s. Building a select anew costs a page some 100 µs of Python and
    its cache key more, on every request; a page read on every view builds it once.
    ``build`` binds what it adds by name (``bindparam``) for the caller to fill."""
    return (_scoped_once(actor.role, bool(actor.active), model, build),
            {"scope_actor_id": actor.id, "scope_school_id": actor.school_id,
             "scope_secretaria_id": actor.secretaria_id})


@lru_cache(maxsize=256)
def _scoped_once(role: Role, active: bool, model: type[Any],
                 build: Callable[[Select[Any]], Select[Any]] | None) -> Select[Any]:
    statement = scoped(_BoundActor(role, active), model)  # type: ignore[arg-type]
    return build(statement) if build is not None else statement


def not_found_message(model: type[Any]) -> str:
    return _RULES[model].not_found


def get_in_scope(session: Session, actor: User, model: type[ScopedModel],
                 object_id: int, *options: Any) -> ScopedModel:
    """The ``model`` row with ``object_id`` if ``actor`` may see it; ``NotFound`` otherwise.
    ``options`` (loader options) bring related rows in the same statement."""
    found = session.scalars(scoped(actor, model).options(*options)
                            .where(model.id == object_id)).one_or_none()  # type: ignore[attr-defined]
    if found is None:
        raise NotFound(not_found_message(model))
    return found


# --- the core models' rules ---------------------------------------------------------------


@scope_rule(School, not_found="No encontramos esa institución educativa.")
def _schools(actor: User, statement: Select[Any]) -> Select[Any]:
    if actor.role.belongs_to_school:
        return statement.where(School.id == actor.school_id)
    return statement.where(School.secretaria_id == actor.secretaria_id)


@scope_rule(Ruta, not_found="No encontramos esa Ruta de Mejoramiento.")
def _rutas(actor: User, statement: Select[Any]) -> Select[Any]:
    # Joined for everyone, so callers can always filter on School columns.
    statement = statement.join(Ruta.school)
    if actor.role.belongs_to_school:
        return statement.where(Ruta.school_id == actor.school_id)
    return statement.where(School.secretaria_id == actor.secretaria_id)


@scope_rule(User, not_found="No encontramos ese usuario.")
def _users(actor: User, statement: Select[Any]) -> Select[Any]:
    if actor.role.belongs_to_school:
        return statement.where(User.school_id == actor.school_id)
    return statement.where(User.secretaria_id == actor.secretaria_id)


@scope_rule(RutaTransition, not_found="No encontramos ese registro del historial.")
def _history(actor: User, statement: Select[Any]) -> Select[Any]:
    statement = statement.join(RutaTransition.ruta)
    if actor.role.belongs_to_school:
        return statement.where(Ruta.school_id == actor.school_id)
    return statement.join(Ruta.school).where(School.secretaria_id == actor.secretaria_id)


@scope_rule(OutboxMessage, not_found="No encontramos ese mensaje.")
def _outbox(actor: User, statement: Select[Any]) -> Select[Any]:
    if actor.role.belongs_to_school:
        return statement.where(false())  # the Secretaría's business, not a school's
    return statement.where(OutboxMessage.secretaria_id == actor.secretaria_id)
