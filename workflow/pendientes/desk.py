"""«Pendientes»: everything waiting on the Secretaría, for one actor (issue 14, item 1).

Pure queries: no Flask. Every item is in the actor's scope (``workflow.scoping``) and of an
active school; the horizon does not narrow the list (work waiting is waiting, whatever the
horizon; each row names it).

The kinds of item (``KINDS``), and since when each one waits on the Secretaría:

- ``tomar``: a PMI sent (Ruta ``pmi_formulado``) that no revisor has in hand; since it was
  sent (the Ruta entered the state).
- ``revisar``: a PMI a revisor took (``en_revision``); since it was *sent* (the last entry
  into ``pmi_formulado``): the school has waited since then, not since it was taken.
- ``informe``: a seguimiento report sent and not yet acknowledged nor returned (``enviado``);
  since its last submission (a report resent after a return waits since it came back).
- ``observaciones_pmi``: the answers to a PMI's observations, resent with the plan (answered
  observations of a Ruta ``pmi_formulado`` or ``en_revision``); one item per Ruta. The school
  answers while the plan is back with it, and the answers reach the Secretaría with the plan:
  they wait since the plan was resent (the first answer for a plan without that history).
- ``observaciones_informe``: the answers to a report's observations, resent with it (the
  report ``enviado``); one item per report, since the report was resent.
- ``ajuste``: a plan adjustment sent (``enviado``); since it was sent.
- ``sin_rector`` (administración only): an active school without an active rector who
  activated the account (invited and never set a password, or no rector at all); since the
  oldest invitation of its active rector, else since the school was created.

Who holds an item: the Ruta's reviewer (``Ruta.reviewer_id``: who took the PMI, and so its
reports, observations and adjustments; ``workflow.pmi.takeover``). A PMI to take is held by
nobody: anyone may take it, so it is in everyone's «míos»; a resubmitted one shows who
reviewed it before.

«míos» (``mine=True``): the items the actor holds, plus those nobody holds (a PMI to take,
anything of a Ruta no revisor took yet): what the actor can act on without taking anything
over. The administración reviews nothing: its «míos» is its own work, the schools without an
activated rector. «de todos»: every item in scope.

Order: oldest first (the moment it started waiting), then kind and id, so pages never
overlap. Days waiting count Bogotá calendar days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any, Final

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, selectinload

from workflow import scope_versions
from workflow.ajustes.machine import AdjustmentState
from workflow.ajustes.models import PlanAdjustment
from workflow.memo import Memo
from workflow.models import Ruta, RutaTransition, School, User, UTCDateTime, Zona, utcnow
from workflow.observations import ObservationStatus
from workflow.pmi.models import Observation
from workflow.roles import Role
from workflow.scope_versions import cached
from workflow.scoping import scoped
from workflow.search_keys import LIKE_ESCAPE, contains_pattern
from workflow.seguimiento.models import (
    FollowUpObservation,
    FollowUpReport,
    ReportStatus,
    bogota_day,
)
from workflow.states import State

KIND_LABELS: Final = {
    "tomar": "PMI por tomar",
    "revisar": "PMI en revisión",
    "informe": "Informe de seguimiento por revisar",
    "observaciones_pmi": "Respuestas a observaciones del PMI",
    "observaciones_informe": "Respuestas a observaciones de un informe",
    "ajuste": "Ajuste del plan por decidir",
    "sin_rector": "Institución sin rector(a) activo(a)",
}
KINDS: Final = tuple(KIND_LABELS)
# The link of each row: what the person does on the page it opens.
ACTION_LABELS: Final = {
    "tomar": "Ver y tomar el PMI",
    "revisar": "Revisar el PMI",
    "informe": "Revisar el informe",
    "observaciones_pmi": "Valorar las respuestas",
    "observaciones_informe": "Valorar las respuestas",
    "ajuste": "Decidir el ajuste",
    "sin_rector": "Ver la cuenta del rector(a)",
}
# The kinds only the administración sees.
ADMIN_KINDS: Final = frozenset({"sin_rector"})
DESK_ROLES: Final = frozenset({Role.REVISOR, Role.ADMINISTRADOR})
# The states in which a PMI's answered observations wait for the revisor's verdict.
PLAN_WITH_SECRETARIA: Final = (State.PMI_FORMULADO, State.EN_REVISION)


@dataclass(frozen=True)
class Filters:
    """What narrows the desk; the defaults show everything in scope."""

    mine: bool = False
    zona: Zona | None = None
    # A comuna or corregimiento exactly as stored (``School.locality``).
    comuna: str | None = None
    # Part of the school's name (accents and case ignored) or of its DANE code.
    school_query: str = ""
    kind: str | None = None


@dataclass(frozen=True)
class PendingItem:
    kind: str
    school: School
    ruta: Ruta | None
    what: str
    since: datetime
    days: int
    holder: User | None
    path: str
    amount: int = 1

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def action_label(self) -> str:
        if self.kind == "sin_rector" and self.path.endswith("/nuevo"):
            return "Crear la cuenta del rector(a)"
        return ACTION_LABELS[self.kind]


def kinds_for(actor: User) -> tuple[str, ...]:
    """The kinds ``actor``'s desk lists (none for roles without a desk, nor when inactive)."""
    if not actor.active or actor.role not in DESK_ROLES:
        return ()
    if actor.role is Role.ADMINISTRADOR:
        return KINDS
    return tuple(kind for kind in KINDS if kind not in ADMIN_KINDS)


# --- the union of every kind --------------------------------------------------------------


def _columns(kind: str, ref_id: Any, ruta_id: Any, since: Any, holder_id: Any,
             amount: Any) -> tuple[Any, ...]:
    return (cast(literal(kind), String(30)).label("kind"),
            ref_id.label("ref_id"),
            ruta_id.label("ruta_id"),
            School.id.label("school_id"),
            type_coerce(since, UTCDateTime()).label("since"),
            holder_id.label("holder_id"),
            amount.label("amount"))


def _school_filters(filters: Filters) -> list[Any]:
    conditions: list[Any] = [School.active]
    if filters.zona is not None:
        conditions.append(School.zona == filters.zona)
    if filters.comuna:
        conditions.append(School.locality == filters.comuna)
    if filters.school_query:
        conditions.append(or_(
            School.search_key.like(contains_pattern(filters.school_query), escape=LIKE_ESCAPE),
            School.dane_code.contains(filters.school_query, autoescape=True)))
    return conditions


def _held(actor: User, filters: Filters) -> list[Any]:
    """«míos»: the Ruta is the actor's, or nobody's yet."""
    if not filters.mine:
        return []
    return [or_(Ruta.reviewer_id == actor.id, Ruta.reviewer_id.is_(None))]


def _sent_at() -> Any:
    """When the Ruta's plan was last sent to the Secretaría (entered ``pmi_formulado``)."""
    return (select(func.max(RutaTransition.at))
            .where(RutaTransition.ruta_id == Ruta.id,
                   RutaTransition.to_state == State.PMI_FORMULADO)
            .scalar_subquery())


def _branch(actor: User, kind: str, filters: Filters, *, counting: bool = False
            ) -> Select[Any]:
    """The rows of one kind. ``counting``: only how many there are, so the moment each
    started waiting (a subquery per row for some kinds) is left out."""
    rutas = scoped(actor, Ruta)  # joined with School
    where = _school_filters(filters)
    one = literal(1, Integer)

    def waiting_since(moment: Any) -> Any:
        return cast(null(), UTCDateTime()) if counting else moment

    if kind == "tomar":
        return rutas.with_only_columns(*_columns(
            kind, Ruta.id, Ruta.id, waiting_since(Ruta.state_changed_at), Ruta.reviewer_id,
            one)).where(
            *where, Ruta.state == State.PMI_FORMULADO)
    if kind == "revisar":
        return rutas.with_only_columns(*_columns(
            kind, Ruta.id, Ruta.id,
            waiting_since(func.coalesce(_sent_at(), Ruta.state_changed_at)),
            Ruta.reviewer_id, one)).where(
            *where, *_held(actor, filters), Ruta.state == State.EN_REVISION)
    report_sent = waiting_since(func.coalesce(FollowUpReport.last_submitted_at,
                                              FollowUpReport.submitted_at))
    if kind == "informe":
        return (rutas.join(FollowUpReport, FollowUpReport.ruta_id == Ruta.id)
                .with_only_columns(*_columns(kind, FollowUpReport.id, Ruta.id, report_sent,
                                             Ruta.reviewer_id, one))
                .where(*where, *_held(actor, filters),
                       FollowUpReport.status == ReportStatus.ENVIADO))
    if kind == "observaciones_pmi":
        return (rutas.join(Observation, Observation.ruta_id == Ruta.id)
                .with_only_columns(*_columns(
                    kind, Ruta.id, Ruta.id,
                    waiting_since(func.coalesce(_sent_at(), func.min(Observation.responded_at))),
                    Ruta.reviewer_id, func.count(Observation.id)))
                .where(*where, *_held(actor, filters), Ruta.state.in_(PLAN_WITH_SECRETARIA),
                       Observation.status == ObservationStatus.RESPONDIDA)
                .group_by(Ruta.id, School.id, Ruta.reviewer_id))
    if kind == "observaciones_informe":
        return (rutas.join(FollowUpReport, FollowUpReport.ruta_id == Ruta.id)
                .join(FollowUpObservation, FollowUpObservation.report_id == FollowUpReport.id)
                .with_only_columns(*_columns(kind, FollowUpReport.id, Ruta.id, report_sent,
                                             Ruta.reviewer_id, func.count(FollowUpObservation.id)))
                .where(*where, *_held(actor, filters),
                       FollowUpReport.status == ReportStatus.ENVIADO,
                       FollowUpObservation.status == ObservationStatus.RESPONDIDA)
                .group_by(FollowUpReport.id, FollowUpReport.last_submitted_at,
                          FollowUpReport.submitted_at, Ruta.id, School.id, Ruta.reviewer_id))
    if kind == "ajuste":
        return (rutas.join(PlanAdjustment, PlanAdjustment.ruta_id == Ruta.id)
                .with_only_columns(*_columns(kind, PlanAdjustment.id, Ruta.id,
                                             waiting_since(PlanAdjustment.sent_at),
                                             Ruta.reviewer_id, one))
                .where(*where, *_held(actor, filters),
                       PlanAdjustment.state == AdjustmentState.ENVIADO))
    if kind == "sin_rector":
        rector = and_(User.school_id == School.id, User.role == Role.RECTOR, User.active)
        activated = select(User.id).where(rector, User.activated_at.is_not(None)).exists()
        invited = select(func.min(User.created_at)).where(rector).scalar_subquery()
        return scoped(actor, School).with_only_columns(*_columns(
            kind, School.id, cast(null(), Integer),
            waiting_since(func.coalesce(invited, School.created_at)),
            cast(null(), Integer), one)).where(*where, ~activated)
    raise ValueError(f"unknown kind of pending item: {kind!r}")


def pending_union(actor: User, filters: Filters = Filters(), *, counting: bool = False) -> Any:
    """Every pending item of ``actor`` with ``filters``, as a subquery of plain columns:
    kind, ref_id, ruta_id, school_id, since, holder_id, amount (``since`` empty when
    ``counting``)."""
    kinds = [kind for kind in kinds_for(actor) if filters.kind in (None, kind)
             and not (filters.mine and actor.role is Role.ADMINISTRADOR
                      and kind not in ADMIN_KINDS)]
    if not kinds:
        return select(*_columns("tomar", School.id, School.id, School.created_at, School.id,
                                School.id)).where(false()).subquery("pendientes")
    return union_all(*(_branch(actor, kind, filters, counting=counting)
                       for kind in kinds)).subquery("pendientes")


def ordered(pending: Any) -> Select[Any]:
    """Oldest first; the kind (in ``KINDS`` order) and id break ties so pages never
    overlap."""
    kind_order = case({kind: index for index, kind in enumerate(KINDS)},
                      value=pending.c.kind, else_=len(KINDS))
    return select(pending).order_by(pending.c.since, kind_order, pending.c.ref_id)


#: The two questions asked on every page (everything, and «míos» in the weekly digest): their
#: statements are built once per role, the Secretaría and the actor being parameters.
_BADGE_FILTERS = frozenset({Filters(), Filters(mine=True)})

#: Past this many items the menu's badge says «99+» instead of counting them all: the count
#: stops there (at 10,000 schools an exact one read 12,602 items on every page, 28 ms).
BADGE_CAP = 99


@cache
def _badge_statement(role: Role, filters: Filters, capped: bool = False) -> Select[Any]:
    """``count_pending``'s statement for any active actor of ``role`` (``capped``: counting
    at most ``BADGE_CAP`` + 1 items): building the union of six kinds cost 8 ms of Python on
    every page of the Secretaría."""
    stand_in: Any = SimpleNamespace(
        role=role, active=True, school_id=None,
        secretaria_id=bindparam("secretaria_id", type_=Integer),
        id=bindparam("actor_id", type_=Integer))
    pending = pending_union(stand_in, filters, counting=True)
    if capped:
        pending = select(pending.c.kind).limit(BADGE_CAP + 1).subquery()
    return select(func.count()).select_from(pending)


def count_pending(session: Session, actor: User, filters: Filters = Filters()) -> int:
    """How many items ``actor``'s desk lists: one query."""
    if actor.active and actor.role in DESK_ROLES and filters in _BADGE_FILTERS:
        parameters = {"secretaria_id": actor.secretaria_id}
        if filters.mine:
            parameters["actor_id"] = actor.id
        return session.scalar(_badge_statement(actor.role, filters), parameters) or 0
    pending = pending_union(actor, filters, counting=True)
    return session.scalar(select(func.count()).select_from(pending)) or 0


# Per process: the badge of each role of each Secretaría, per version of what it counts
# (``scope_versions``: the tables every kind reads). Counting it on every page of the
# Secretaría cost 3 to 5 ms at 10,000 schools, most of it planning the union of six kinds.
BADGES: Memo[int] = scope_versions.memo(16)


def badge_count(session: Session, actor: User) -> int:
    """The menu's badge on every page: how many items wait for ``actor``, counted up to
    ``BADGE_CAP`` + 1 (more than ``BADGE_CAP`` reads «99+»)."""
    if not (actor.active and actor.role in DESK_ROLES):
        return 0

    def compute() -> int:
        return session.scalar(_badge_statement(actor.role, Filters(), capped=True),
                              {"secretaria_id": actor.secretaria_id}) or 0

    # The statement depends on the role and the Secretaría alone (both desk roles see the
    # whole Secretaría).
    return cached(BADGES, session, actor.secretaria_id, ("badge", actor.role), compute)


def counts_by_kind(session: Session, actor: User, filters: Filters = Filters()) -> dict[str, int]:
    pending = pending_union(actor, filters, counting=True)
    found = dict(session.execute(select(pending.c.kind, func.count())
                                 .group_by(pending.c.kind)).all())
    return {kind: found.get(kind, 0) for kind in kinds_for(actor)}


def localities(session: Session, actor: User) -> list[tuple[Zona, str]]:
    """The comunas and corregimientos of the actor's active schools, in natural order."""
    return [(zona, locality) for zona, locality, _ in session.execute(
        scoped(actor, School).with_only_columns(School.zona, School.locality,
                                                School.locality_sort)
        .where(School.active).distinct().order_by(School.locality_sort, School.locality))]


# --- from rows to items -------------------------------------------------------------------


def _observations(amount: int) -> str:
    return "1 observación respondida" if amount == 1 else f"{amount} observaciones respondidas"


def items_of(session: Session, rows: Sequence[Any], *,
             now: datetime | None = None) -> list[PendingItem]:
    """The page's rows (from ``ordered``) as items, with what each shows loaded in a few
    queries (no query per row)."""
    today = bogota_day(now or utcnow())

    def ids(*kinds: str, column: str = "ref_id") -> set[int]:
        return {getattr(row, column) for row in rows if row.kind in kinds}

    schools = {school.id: school for school in session.scalars(
        select(School).where(School.id.in_({row.school_id for row in rows})))}
    rutas = {ruta.id: ruta for ruta in session.scalars(
        select(Ruta).where(Ruta.id.in_({row.ruta_id for row in rows if row.ruta_id})))}
    holders = {user.id: user for user in session.scalars(
        select(User).where(User.id.in_({row.holder_id for row in rows if row.holder_id})))}
    reports = {report.id: report for report in session.scalars(
        select(FollowUpReport).where(FollowUpReport.id.in_(
            ids("informe", "observaciones_informe")))
        .options(selectinload(FollowUpReport.checkpoint)))}
    adjustments = {adjustment.id: adjustment for adjustment in session.scalars(
        select(PlanAdjustment).where(PlanAdjustment.id.in_(ids("ajuste"))))}
    rectors: dict[int, User] = {}
    for rector in session.scalars(select(User).where(
            User.school_id.in_(ids("sin_rector")), User.role == Role.RECTOR, User.active)
            .order_by(User.id)):
        rectors.setdefault(rector.school_id or 0, rector)

    items = []
    for row in rows:
        ruta = rutas.get(row.ruta_id) if row.ruta_id else None
        what, path = _describe(row, ruta, reports, adjustments, rectors)
        items.append(PendingItem(
            kind=row.kind, school=schools[row.school_id], ruta=ruta, what=what,
            since=row.since, days=max((today - bogota_day(row.since)).days, 0),
            holder=holders.get(row.holder_id) if row.holder_id else None, path=path,
            amount=row.amount))
    return items


def _describe(row: Any, ruta: Ruta | None, reports: dict[int, FollowUpReport],
              adjustments: dict[int, PlanAdjustment],
              rectors: dict[int, User]) -> tuple[str, str]:
    """What waits, in one Spanish phrase, and the path of the page where it is done."""
    if row.kind == "sin_rector":
        rector = rectors.get(row.school_id)
        if rector is None:
            return "No tiene rector(a) registrado(a).", "/admin/usuarios/nuevo"
        return (f"{rector.name} fue invitado(a) y no ha activado su cuenta.",
                f"/admin/usuarios/{rector.id}/editar")
    assert ruta is not None
    base = f"/rutas/{ruta.id}"
    if row.kind == "tomar":
        again = " (reenviado tras una devolución)" if row.holder_id else ""
        return f"PMI {ruta.horizon_label} enviado, sin revisor(a){again}.", base
    if row.kind == "revisar":
        return f"PMI {ruta.horizon_label} en revisión.", f"{base}/pmi/revision"
    if row.kind == "observaciones_pmi":
        return (f"{_observations(row.amount)} por valorar (PMI {ruta.horizon_label}).",
                f"{base}/pmi/revision#observaciones")
    if row.kind == "ajuste":
        adjustment = adjustments[row.ref_id]
        return (f"{adjustment.label} del plan, enviado para decidir.",
                f"{base}/ajustes/{adjustment.number}")
    report = reports[row.ref_id]
    report_path = f"{base}/seguimiento/informes/{report.id}"
    name = report.checkpoint.name
    if row.kind == "informe":
        again = " (reenviado tras una devolución)" if report.submissions > 1 else ""
        return f"Informe de seguimiento «{name}» enviado{again}.", report_path
    return (f"{_observations(row.amount)} por valorar en el informe «{name}».",
            f"{report_path}#observaciones")
