"""Who may open a view. Every view declares it, and a test walks the URL map to check it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any, TypeVar

from flask import abort, request
from flask_login import current_user, login_required

from ruta.security import MAX_DATABASE_INT
from workflow.errors import DomainError, InvalidInput
from workflow.roles import Role

View = TypeVar("View", bound=Callable[..., Any])

ALL_ROLES = frozenset(Role)
SECRETARIA_ROLES = frozenset({Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA})
# What a long text field may bring (the services refuse beyond their own, smaller, limits).
FORM_LIMIT = 6000


def roles_required(*roles: Role) -> Callable[[View], View]:
    """Sign-in required, and one of ``roles`` (403 otherwise). Recorded on the view."""
    allowed = frozenset(roles)

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        guarded = login_required(wrapper)
        guarded.allowed_roles = allowed  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def public(view: View) -> View:
    """Open to everyone, signed in or not (sign-in page, health check)."""
    view.allowed_roles = None  # type: ignore[attr-defined]
    return view


def form_int(value: str | None) -> int | None:
    """A form field as an int, or None when it is missing, not a number, or bigger than any
    number the database stores (SQLite raises on those instead of finding nothing)."""
    try:
        number = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    if number is not None and abs(number) > MAX_DATABASE_INT:
        return None
    return number


def posted_form(lists: Collection[str] = ()) -> dict[str, Any]:
    """The posted fields, each cut to ``FORM_LIMIT``; the names in ``lists`` keep every
    value they were posted with (multiple selections)."""
    values: dict[str, Any] = {}
    for name in request.form:
        items = [value[:FORM_LIMIT] for value in request.form.getlist(name)]
        values[name] = items if name in lists else items[0]
    return values


def required_form_id(name: str, message: str) -> int:
    """The id posted in ``name``; ``InvalidInput`` with ``message`` when missing or bad."""
    number = form_int(request.form.get(name))
    if number is None:
        raise InvalidInput({name: [message]})
    return number


def current_actor() -> Any:
    """The signed-in ``User`` itself (not Flask-Login's proxy), to hand to services."""
    return current_user._get_current_object()


def ruta_in_scope(ruta_id: int) -> Any:
    """The Ruta with ``ruta_id`` if the signed-in user may see it; 404 otherwise."""
    from ruta.db import db_session
    from workflow.models import Ruta
    from workflow.scoping import get_in_scope

    return get_in_scope(db_session(), current_user, Ruta, ruta_id, *ruta_page_loads())


def ruta_page_loads(*, joined: bool = False) -> tuple[Any, ...]:
    """Loader options bringing what every page of a Ruta shows with the Ruta itself: its
    school (the scope already joins it; ``joined``: a statement without the scope's join
    joins it), its catalog and its rule set (issue 17: fewer statements; both are immutable
    once a Ruta is pinned to them)."""
    from sqlalchemy.orm import contains_eager, joinedload

    import workflow.catalogo.models  # noqa: F401  (defines ``Ruta.catalog``)
    from workflow.models import Ruta

    return (joinedload(Ruta.school) if joined else contains_eager(Ruta.school),
            joinedload(Ruta.catalog),  # type: ignore[attr-defined]
            joinedload(Ruta.rule_set))  # type: ignore[attr-defined]


def ruta_page_tables() -> tuple[Any, ...]:
    """The tables whose rows of the Ruta its page's stages draw (issue 17: thirteen
    statements of a few rows each, read ahead in one by ``prefetch_ruta_page``)."""
    from workflow.ajustes.models import AdjustmentEvent, PlanAdjustment
    from workflow.autoevaluacion.models import Priorizacion, Valoracion
    from workflow.cierre.models import FinalEvaluation, MetaResult
    from workflow.evidencias.models import EvidenceFile
    from workflow.horizontes.models import ReminderSent, SelfAssessmentExtension
    from workflow.models import RutaTakeover
    from workflow.pmi.models import Observation, PmiSnapshot, RubricVerdict
    from workflow.seguimiento.models import FollowUpReport

    return (Valoracion, Priorizacion, SelfAssessmentExtension, EvidenceFile, PmiSnapshot,
            Observation, RubricVerdict, RutaTakeover, FollowUpReport, PlanAdjustment,
            AdjustmentEvent, FinalEvaluation, MetaResult, ReminderSent)


@cache
def _ruta_page_batch() -> Any:
    """The Ruta page's prefetch, built once (its statement is kept per dialect)."""
    from workflow.pmi.graph import plan_queries
    from workflow.ruta_rows import tables

    return tables(ruta_page_tables(), plan_queries)


def prefetch_ruta_page(session: Any, ruta: Any) -> None:
    """Read the Ruta page's tables and the plan in one statement, for this GET request's
    readers (``workflow.ruta_rows``)."""
    from workflow.ruta_rows import prefetch

    prefetch(session, ruta.id, _ruta_page_batch())


class SaveConflict(DomainError):
    """Two people saved the same thing at the same moment; the second reloads."""

    status = 409


def commit_or_conflict() -> None:
    """Commit, turning a lost insert race (the same thing saved twice) into a 409 page."""
    from sqlalchemy.exc import IntegrityError

    from ruta.db import db_session

    database = db_session()
    try:
        database.commit()
    except IntegrityError:
        database.rollback()
        raise SaveConflict("Otra persona guardó lo mismo al mismo tiempo. Recargue la página "
                           "para ver lo que quedó y vuelva a intentarlo.") from None


@dataclass(frozen=True)
class Conflict:
    """What a 409 form shows beside the person's own values: the record as saved now.

    ``saved`` holds the saved values as the form would show them; ``changed`` the fields where
    they differ from what the person posted (only those get a «Quedó guardado» line)."""

    saved: Mapping[str, Any]
    changed: frozenset[str]
    saved_by: str = ""


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return "\n".join(sorted(str(item) for item in value))
    return str(value).strip().replace("\r\n", "\n")


def conflict_between(posted: Mapping[str, Any], saved: Mapping[str, Any],
                     saved_by: str = "") -> Conflict:
    """The fields of ``saved`` whose values differ from ``posted`` (a missing posted field of
    a checkbox or a multiple selection counts as empty)."""
    changed = frozenset(name for name, value in saved.items()
                        if _as_text(value) != _as_text(posted.get(name)))
    return Conflict(saved=dict(saved), changed=changed, saved_by=saved_by)
