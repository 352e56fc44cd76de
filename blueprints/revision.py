"""The Secretaría's queue of Rutas of one horizon (the current one unless ``?horizonte=``
names another), filterable by state, school, zona, comuna (or corregimiento) and reviewer
(«mis Rutas»: those the reviewer holds; «sin revisor(a)»: nobody took them), sortable and
paginated. Every filter is kept by the state tabs, the sort headers and the page links.

Drawing it costs some 11 ms of Python at 10,000 schools (the horizons, a large statement
built and compiled, the Jinja of 20 rows), for a page that changes only when a few tables do.
Its body (everything below the heading and the plan adjustments waiting, which have memos of
their own) is kept per process (``BODIES``) under the Secretaría's ``queue`` token, which the
database replaces with every write of what the body shows (migration 0043: Rutas, schools,
people's names, horizons, reminders' updates), and under the rest of what it is drawn from
(``_body_key``): the largest ids of ``reminders_sent`` and ``ruta_transitions`` (no trigger
watches their inserts: the daily pass adds thousands of reminders at once), the whole query
string, the viewer's scope (and who they are for «mis Rutas»), the page size and where the
app is mounted. «Días en el estado» counts up with the clock: a kept body ends at the first
moment one of its rows' day counts changes (``_draw``). It is kept only when the token read
again after drawing is still the one read before (none of it is newer data than the key says,
nor this request's own writes: ``chosen_horizon`` may store the current horizon). A kept view
sends two statements: the session and the tokens. ``tests/web/test_queue_page_cache.py``
proves the key complete."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, current_app, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import aliased

from blueprints.access import SECRETARIA_ROLES, current_actor, roles_required
from blueprints.horizontes import horizon_choices
from blueprints.listing import Inverted, Sort, chosen_sort, ordering, paginate, search_text
from ruta.db import db_session
from workflow import page_stamps, scope_versions
from workflow.consolidado.consolidate import Filters, comunas_of, parse_horizon
from workflow.form_tokens import new_token
from workflow.horizontes.horizons import chosen_horizon
from workflow.horizontes.models import ReminderSent
from workflow.memo import Memo
from workflow.models import Ruta, RutaTransition, School, User, Zona, utcnow
from workflow.scope_versions import cached
from workflow.scoping import scoped
from workflow.search_keys import LIKE_ESCAPE, bytewise, contains_pattern, sort_key
from workflow.situation import situation_after
from workflow.states import STATE_ORDER, State

bp = Blueprint("revision", __name__, url_prefix="/revision")

_LAST_REMINDER = (select(func.max(ReminderSent.created_at))
                  .where(ReminderSent.ruta_id == Ruta.id).scalar_subquery())
# ``?orden=`` → the columns it sorts by. «días» counts up as ``state_changed_at`` goes back;
# «avance» is how far along its life the Ruta is; «estado» the state's name, as read.
QUEUE_SORTS = {
    "colegio": (bytewise(School.sort_key),),
    "estado": (bytewise(case({s: sort_key(s.label) for s in State}, value=Ruta.state)),),
    "dias": (Inverted(Ruta.state_changed_at),),
    "recordatorio": (_LAST_REMINDER,),
    "avance": (case({s: index for index, s in enumerate(STATE_ORDER)}, value=Ruta.state),),
}
DEFAULT_QUEUE_SORT = Sort("dias", descending=True)
# ``?revisor=`` → which Rutas by who holds their review.
REVIEWER_FILTERS = {"mias": "Mis Rutas", "sin": "Sin revisor(a)"}
# Per process: the counts by state of each set of filters, per version of the Secretaría's
# Rutas and schools (``scope_versions``): counting them joined the horizon's 10,000 Rutas with
# their schools on every view (7 to 11 ms of the page at 10,000 schools).
STATE_COUNTS: Memo[dict[State, int]] = scope_versions.memo(64)


# The last logged transition of each Ruta of the page (its situation: «PMI devuelto…»).
_LAST = aliased(RutaTransition, name="last_transition")
_LAST_TRANSITION_ID = (select(func.max(RutaTransition.id))
                       .where(RutaTransition.ruta_id == Ruta.id).scalar_subquery())
_REVIEWER = aliased(User, name="reviewer")


@dataclass(frozen=True)
class QueueRow:
    """What a row of the queue shows of a Ruta: plain values, read with the page's rows in
    one statement (loading each Ruta, school and reviewer as objects was most of the page's
    Python)."""

    id: int
    state: State
    state_changed_at: datetime
    horizon_start_year: int
    horizon_end_year: int
    school_name: str
    dane_code: str
    reviewer_name: str | None  # None: nobody took it

    @property
    def horizon_label(self) -> str:
        return f"{self.horizon_start_year}–{self.horizon_end_year}"


_ROW_COLUMNS = (Ruta.id, Ruta.state, Ruta.state_changed_at, Ruta.horizon_start_year,
                Ruta.horizon_end_year, School.name, School.dane_code, _REVIEWER.name)


def _now() -> datetime:
    """The request's moment: the days it draws and the kept body's end read the same one."""
    if "queue_now" not in g:
        g.queue_now = utcnow()
    return g.queue_now


def _draw() -> tuple[str, str, datetime | None]:
    """The queue's body as the address asks for it, its horizon's label, and until when the
    body holds: the earliest moment one of its rows' «días en el estado» changes."""
    database = db_session()
    state_value = request.args.get("estado", "")
    state = State(state_value) if state_value in set(State) else None
    school_query, query_cut = search_text("colegio")
    place = Filters.parse(request.args.get("zona"), request.args.get("comuna"))
    reviewer = request.args.get("revisor", "")
    reviewer = reviewer if reviewer in REVIEWER_FILTERS else ""
    horizon = chosen_horizon(database, current_user, parse_horizon(request.args.get("horizonte")))

    in_scope = scoped(current_user, Ruta).where(  # joined with School
        Ruta.horizon_start_year == horizon.horizon_start_year)
    if place.zona is not None:
        in_scope = in_scope.where(School.zona == place.zona)
    if place.comuna:
        in_scope = in_scope.where(School.locality == place.comuna)
    if reviewer == "mias":
        in_scope = in_scope.where(Ruta.reviewer_id == current_user.id)
    elif reviewer == "sin":
        in_scope = in_scope.where(Ruta.reviewer_id.is_(None))
    if school_query:
        in_scope = in_scope.where(or_(
            School.search_key.like(contains_pattern(school_query), escape=LIKE_ESCAPE),
            School.dane_code.contains(school_query, autoescape=True)))
    # The key names everything ``in_scope`` depends on beside the Secretaría (the same rule
    # for every role of the Secretaría: ``scoping._rutas``).
    counts = cached(STATE_COUNTS, database, current_user.secretaria_id, (
        horizon.horizon_start_year, place.zona, place.comuna, reviewer,
        current_user.id if reviewer == "mias" else None, school_query),
        lambda: dict(database.execute(
            in_scope.with_only_columns(Ruta.state, func.count(Ruta.id)).group_by(Ruta.state)
        ).all()))

    # The school (already joined), the reviewer, the last reminder and the last transition
    # come with the page's rows.
    statement = (in_scope.with_only_columns(*_ROW_COLUMNS, _LAST_REMINDER, _LAST.trigger,
                                            _LAST.to_state, _LAST.at,
                                            maintain_column_froms=True)
                 .outerjoin(_REVIEWER, _REVIEWER.id == Ruta.reviewer_id)
                 .outerjoin(_LAST, _LAST.id == _LAST_TRANSITION_ID))
    if state is not None:
        statement = statement.where(Ruta.state == state)
    # Whoever has waited longest is served first unless the reviewer sorts otherwise.
    sort = chosen_sort(QUEUE_SORTS, DEFAULT_QUEUE_SORT)
    # The counts per state are the page's own filters but the state: its total is among them.
    rows, page, pages, total = paginate(
        database, statement.order_by(*ordering(sort, QUEUE_SORTS, Ruta.id)), Ruta.id,
        scalars=False,
        total=counts.get(state, 0) if state is not None else sum(counts.values()))
    width = len(_ROW_COLUMNS)
    rutas = [QueueRow(*row[:width]) for row in rows]
    # What every link of the page keeps (the state tabs add or drop ``estado``).
    keep = {name: value for name, value in {
        "colegio": school_query, "zona": place.zona.value if place.zona else "",
        "comuna": place.comuna or "", "revisor": reviewer,
        "horizonte": str(horizon.horizon_start_year) if request.args.get("horizonte") else "",
    }.items() if value}
    now = _now()
    days = {ruta.id: (now - ruta.state_changed_at).days for ruta in rutas}
    body = render_template(
        "revision/_queue_body.html", rutas=rutas, state=state, school_query=school_query,
        query_cut=query_cut, sort=sort,
        last_reminders={ruta.id: row[width] for ruta, row in zip(rutas, rows, strict=True)
                        if row[width]},
        days=days,
        page=page, pages=pages, total=total, counts=counts, states=STATE_ORDER,
        situations={ruta.id: situation_after(ruta.state, *row[width + 1:])
                    for ruta, row in zip(rutas, rows, strict=True)},
        horizon=horizon,
        horizons=horizon_choices(database, current_user),
        keep=keep, zonas=list(Zona), place=place, reviewer=reviewer,
        reviewer_filters=REVIEWER_FILTERS,
        comunas=comunas_of(database, current_user, place.zona),
    )
    # A row's «días» is the whole days since its state changed: it goes up one day after
    # the moment it last did (``timedelta.days`` floors, so that moment is after ``now``).
    until = min((ruta.state_changed_at + timedelta(days=days[ruta.id] + 1) for ruta in rutas),
                default=None)
    return horizon.horizon_label, body, until


# Per process: the heading's horizon and the drawn body of /revision/ (without its form
# tokens), per key (``_body_key``), with the moment it stops holding. Each entry is one page
# of 20 rows (15 to 25 KB).
BODIES: Memo[tuple[tuple[str, page_stamps.Body], datetime | None]] = scope_versions.memo(128)


def _body_key(version: scope_versions.Version) -> Hashable:
    """Everything the body is drawn from besides the data the Secretaría's ``queue`` token
    watches (migration 0043): the largest ids of the reminders and of the history (their
    inserts replace no token: a reminder or a transition added anywhere draws the body
    again), the whole query string (horizon, filters, sort, page), the viewer's scope
    (``scoping._rutas``) and, for «mis Rutas», who they are, the page size and where the app
    is mounted. The rest of the time (a row's «días») is the entry's end."""
    viewer = current_actor()
    mine = request.args.get("revisor") == "mias"
    # In the address's order: with a name given twice the page reads the first value.
    return (viewer.secretaria_id, version, tuple(request.args.items(multi=True)),
            viewer.role, viewer.active, viewer.school_id, viewer.id if mine else None,
            current_app.config["QUEUE_PAGE_SIZE"], request.script_root)


def _body() -> tuple[str, Markup]:
    """The horizon's label and the queue's body, kept per ``_body_key`` while it holds."""
    viewer, session = current_actor(), db_session()
    version = scope_versions.version(session, viewer.secretaria_id, scope_versions.QUEUE)
    if version is None:  # no token yet, or this transaction wrote: drawn every time
        label, html, _ = _draw()
        return label, Markup(html)  # noqa: S704 (drawn by an autoescaped template)

    def drawn() -> tuple[tuple[str, page_stamps.Body], datetime | None]:
        label, html, until = _draw()
        return (label, page_stamps.Body.of(html)), until

    label, body = scope_versions.kept_while_current(
        BODIES, session, viewer.secretaria, scope_versions.QUEUE, version,
        _body_key(version), drawn, _now())
    # No form of the body carries a token today; one added later gets fresh ones.
    return label, body.filled(csrf_token=generate_csrf(), new_form_token=new_token)


@bp.get("/")
@roles_required(*SECRETARIA_ROLES)
def queue() -> str:
    horizon_label, body = _body()
    return render_template("revision/queue.html", horizon_label=horizon_label, body=body)
