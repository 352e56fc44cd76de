"""«Pendientes» (``/pendientes/``): one page of everything waiting on the Secretaría, for a
revisor or the administración (``workflow.pendientes.desk``), and its count in the header.

One table, oldest first, rather than one table per kind: the point of the page is that whoever
has waited longest is served first whatever they wait for; the counts per kind above it (each
a link that shows only that kind) give the grouped view.

Every parameter is read defensively: a value that is not a known view, zona, comuna or kind is
ignored and the page says so (never a 500, never more than the actor's scope).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request
from flask_login import current_user

from blueprints.access import roles_required
from blueprints.listing import paginate, search_text
from ruta.db import db_session
from workflow.models import Zona, utcnow
from workflow.pendientes.desk import (
    BADGE_CAP,
    DESK_ROLES,
    KIND_LABELS,
    Filters,
    badge_count,
    counts_by_kind,
    items_of,
    kinds_for,
    localities,
    ordered,
    pending_union,
)

bp = Blueprint("pendientes", __name__, url_prefix="/pendientes")

VIEWS = {"todos": "De todos", "mios": "Míos"}
DEFAULT_VIEW = "todos"


@bp.app_context_processor
def _badge_cap() -> dict[str, int]:
    return {"PENDING_BADGE_CAP": BADGE_CAP}


@bp.app_template_global("pending_count")
def pending_count() -> int | None:
    """How many items wait on the Secretaría in the signed-in user's scope, counted up to
    ``BADGE_CAP`` + 1 (None for roles without «Pendientes»). Counted once per request: the
    header draws the menu twice."""
    if not current_user.is_authenticated or current_user.role not in DESK_ROLES:
        return None
    if "pending_count" not in g:
        g.pending_count = badge_count(db_session(), current_user)
    return g.pending_count  # type: ignore[no-any-return]


def _filters(known_localities: list[tuple[Zona, str]]) -> tuple[Filters, list[str], bool]:
    """The filters the address asks for, what was ignored (in Spanish), and whether the
    search was cut to its maximum length."""
    ignored = []
    view = request.args.get("vista", "") or DEFAULT_VIEW
    if view not in VIEWS:
        ignored.append(f"la vista «{view[:40]}» no existe: se muestran los de todos")
        view = DEFAULT_VIEW
    zona_value = request.args.get("zona", "")
    zona = next((zona for zona in Zona if zona.value == zona_value), None)
    if zona_value and zona is None:
        ignored.append(f"la zona «{zona_value[:40]}» no existe")
    comuna = request.args.get("comuna", "")
    if comuna and comuna not in {name for _, name in known_localities}:
        ignored.append(f"no hay instituciones en «{comuna[:60]}»")
        comuna = ""
    kind = request.args.get("tipo", "")
    if kind and kind not in kinds_for(current_user):
        ignored.append(f"el tipo de pendiente «{kind[:40]}» no existe")
        kind = ""
    school_query, cut = search_text("q")
    return Filters(mine=view == "mios", zona=zona, comuna=comuna or None,
                   school_query=school_query, kind=kind or None), ignored, cut


@bp.get("/")
@roles_required(*DESK_ROLES)
def index() -> str:
    database = db_session()
    known_localities = localities(database, current_user)
    filters, ignored, query_cut = _filters(known_localities)
    pending = pending_union(current_user, filters)
    rows, page, pages, total = paginate(database, ordered(pending), pending.c.ref_id,
                                        scalars=False)
    # The counts per kind follow every filter but the kind itself (they are its tabs).
    kind_counts = counts_by_kind(database, current_user, Filters(
        mine=filters.mine, zona=filters.zona, comuna=filters.comuna,
        school_query=filters.school_query))
    view = "mios" if filters.mine else "todos"
    keep: dict[str, Any] = {
        "vista": view if view != DEFAULT_VIEW else None,
        "zona": filters.zona.value if filters.zona else None, "comuna": filters.comuna,
        "q": filters.school_query or None, "tipo": filters.kind}
    return render_template(
        "pendientes/index.html", items=items_of(database, rows, now=utcnow()), page=page,
        pages=pages, total=total, filters=filters, view=view, views=VIEWS, keep=keep,
        kind_counts=kind_counts, kind_labels=KIND_LABELS, zonas=list(Zona),
        localities=known_localities, ignored=ignored, query_cut=query_cut,
        filtered=any(value for name, value in keep.items() if name != "vista"))
