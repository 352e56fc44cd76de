"""The equipo de gestión of a Ruta's autoevaluación: who is on it, with which áreas.

Everyone who sees the Ruta reads the team; the rector adds members (one per form: a second
post of the same form adds nobody), edits their áreas (a stale form answers 409 with both),
and removes them after a confirmation page that says what goes with them, with «Deshacer»
for a while afterwards (what it needs waits in the rector's own session).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_login import current_user

from blueprints.access import ALL_ROLES, Conflict, conflict_between, form_int, roles_required
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from ruta.db import db_session
from workflow import form_tokens
from workflow.autoevaluacion import team as auto_team
from workflow.autoevaluacion.models import Estamento, TeamMember
from workflow.catalogo import catalog as catalogs
from workflow.errors import InvalidInput, NotEditable, StaleEdit
from workflow.models import Ruta, utcnow
from workflow.roles import Role

bp = Blueprint("equipo", __name__)


@bp.route("/rutas/<int:ruta_id>/autoevaluacion/equipo", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def team(ruta_id: int) -> Response | str | tuple[str, int]:
    """The team; a POST (the rector's only) adds a member and invites them."""
    ruta = _ruta(ruta_id)
    if request.method == "GET":
        return _render_team(ruta)
    if current_user.role is not Role.RECTOR:
        abort(403)
    return _add_member(ruta)


# Where the person's session keeps the last removal, for «Deshacer».
UNDO_KEY = "equipo_deshacer"


def _pending_undo(ruta: Ruta) -> auto_team.RemovedMember | None:
    removed = auto_team.RemovedMember.from_dict(browser_session.get(UNDO_KEY))
    if removed is None or removed.ruta_id != ruta.id or not removed.undoable(utcnow()):
        return None
    return removed


def _render_team(ruta: Ruta, **context: Any) -> str:
    database = db_session()
    members = auto_team.team(database, ruta, with_areas=True)
    rules = catalogs.rules_of(database, ruta)
    can_manage = (auto_team.is_rector_of(_actor(), ruta)
                  and ruta.state in auto_team.TEAM_STATES
                  and getattr(ruta, "catalog", None) is not None)
    return render_template(
        "autoevaluacion/team.html", ruta=ruta, members=members, rules=rules,
        estamentos=len({member.estamento for member in members}),
        team_gaps=auto_team.team_gaps(members, rules), can_manage=can_manage,
        catalog=getattr(ruta, "catalog", None), Estamento=Estamento,
        undo=_pending_undo(ruta) if can_manage else None,
        errors=context.pop("errors", {}), data=context.pop("data", None),
        form_token=context.pop("form_token", None), conflict=context.pop("conflict", None),
        member_errors=context.pop("member_errors", {}),
        posted_member=context.pop("posted_member", None),
        posted_areas=context.pop("posted_areas", []), **context)


def _add_member(ruta: Ruta) -> Response | tuple[str, int]:
    database = db_session()
    actor = _actor()
    token = request.form.get(form_tokens.FIELD)
    data = auto_team.MemberData(name=request.form.get("name", "")[:300],
                                email=request.form.get("email", "")[:300],
                                estamento=request.form.get("estamento", ""),
                                area_ids=request.form.getlist("areas"))
    # A second post of the same form (a double click, «Atrás» and again) adds nobody.
    earlier = form_tokens.claim(database, token, user=actor)
    if earlier is not None:
        database.rollback()
        added = _earlier_member(ruta, earlier.result)
        flash(f"{added.name} ya hace parte del equipo de gestión: el formulario llegó dos "
              "veces y se agregó una sola vez." if added else
              "Ese formulario ya se había enviado: revise la lista del equipo.", "info")
        return redirect(url_for("equipo.team", ruta_id=ruta.id))
    try:
        member = auto_team.add_member(database, ruta, data, actor=actor)
    except InvalidInput as invalid:
        database.rollback()
        return _render_team(ruta, errors=invalid.errors, data=data, form_token=token), 422
    form_tokens.record(database, token, f"team_member:{member.id}")
    _commit()
    flash(f"Listo: {member.name} hace parte del equipo de gestión. Le llegará la invitación "
          f"a {member.email}.", "success")
    return redirect(url_for("equipo.team", ruta_id=ruta.id))


def _earlier_member(ruta: Ruta, result: str | None) -> TeamMember | None:
    kind, _, number = (result or "").partition(":")
    member_id = form_int(number) if kind == "team_member" else None
    found = db_session().get(TeamMember, member_id) if member_id is not None else None
    return found if found is not None and found.ruta_id == ruta.id else None


def _area_names(ruta: Ruta, area_ids: list[str]) -> list[str]:
    chosen = {form_int(raw) for raw in area_ids}
    catalog = getattr(ruta, "catalog", None)
    return [area.name for area in (catalog.areas if catalog else []) if area.id in chosen]


@bp.post("/rutas/<int:ruta_id>/autoevaluacion/equipo/<int:member_id>/areas")
@roles_required(Role.RECTOR)
def member_areas(ruta_id: int, member_id: int) -> Response | tuple[str, int]:
    database = db_session()
    ruta = _ruta(ruta_id)
    member = auto_team.get_member(database, ruta, member_id)
    posted = request.form.getlist("areas")
    try:
        auto_team.set_member_areas(database, ruta, member, posted, actor=_actor(),
                                   expected_version=form_int(request.form.get("version")))
    except StaleEdit:
        database.rollback()
        saved = auto_team.get_member(database, ruta, member_id)
        found = conflict_between({"areas": _area_names(ruta, posted)},
                                 {"areas": [area.name for area in saved.areas]})
        shown = Conflict(saved={"areas": ", ".join(area.name for area in saved.areas)
                                or "ninguna área"}, changed=found.changed)
        return _render_team(ruta, conflict=shown, posted_member=member_id,
                            posted_areas=posted), 409
    except InvalidInput as invalid:
        database.rollback()
        return _render_team(ruta, member_errors={
            f"areas-{member_id}": messages for messages in invalid.errors.values()},
            posted_member=member_id, posted_areas=posted), 422
    _commit()
    flash(f"Listo: se actualizaron las áreas de {member.name}.", "success")
    return redirect(url_for("equipo.team", ruta_id=ruta.id))


@bp.route("/rutas/<int:ruta_id>/autoevaluacion/equipo/<int:member_id>/quitar",
          methods=["GET", "POST"])
@roles_required(Role.RECTOR)
def remove_member(ruta_id: int, member_id: int) -> Response | str | tuple[str, int]:
    """GET: what goes with the member, and «Sí, quitar» / «Cancelar». POST: remove them,
    keeping what «Deshacer» needs in the person's session."""
    database = db_session()
    ruta = _ruta(ruta_id)
    member = auto_team.get_member(database, ruta, member_id)
    if request.method == "GET":
        return _render_remove(ruta, member)
    name = member.name
    try:
        removed = auto_team.remove_member(
            database, ruta, member, actor=_actor(),
            expected_version=form_int(request.form.get("version")))
    except (StaleEdit, NotEditable) as refused:
        database.rollback()
        member = auto_team.get_member(database, ruta, member_id)
        return _render_remove(ruta, member, problem=refused.message), refused.status
    _commit()
    browser_session[UNDO_KEY] = removed.to_dict()
    flash(f"Listo: {name} ya no hace parte del equipo de gestión.", "success")
    return redirect(url_for("equipo.team", ruta_id=ruta.id, _anchor="deshacer"))


def _render_remove(ruta: Ruta, member: TeamMember, problem: str | None = None) -> str:
    effects = auto_team.removal_effects(db_session(), ruta, member)
    return render_template("autoevaluacion/team_remove.html", ruta=ruta, member=member,
                           effects=effects, problem=problem,
                           undo_minutes=int(auto_team.UNDO_WINDOW.total_seconds() // 60))


@bp.post("/rutas/<int:ruta_id>/autoevaluacion/equipo/deshacer")
@roles_required(Role.RECTOR)
def undo_removal(ruta_id: int) -> Response:
    database = db_session()
    ruta = _ruta(ruta_id)
    removed = auto_team.RemovedMember.from_dict(browser_session.get(UNDO_KEY))
    if removed is None or removed.ruta_id != ruta.id:
        flash("No hay ninguna salida del equipo que deshacer.", "info")
        return redirect(url_for("equipo.team", ruta_id=ruta.id))
    try:
        member = auto_team.restore_member(database, ruta, removed, actor=_actor())
    except NotEditable as refused:
        database.rollback()
        browser_session.pop(UNDO_KEY, None)
        flash(refused.message, "info")
        return redirect(url_for("equipo.team", ruta_id=ruta.id))
    _commit()
    browser_session.pop(UNDO_KEY, None)
    areas = ", ".join(area.name for area in member.areas) or "ninguna área"
    flash(f"Listo: {member.name} volvió al equipo de gestión, con sus áreas ({areas}).",
          "success")
    return redirect(url_for("equipo.team", ruta_id=ruta.id))
