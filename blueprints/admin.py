"""The Secretaría's administration: schools, users, the CSV import of schools, and the
security log («Seguridad», administradores only).

Administración manages; revisores and consulta see the same lists read-only (no forms, no
buttons, and every POST answers 403 to them).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from blueprints.access import SECRETARIA_ROLES, form_int, roles_required
from blueprints.access import current_actor as _actor
from blueprints.listing import Inverted, Sort, chosen_sort, ordering, paginate, search_text
from ruta.config import PROJECT_ROOT
from ruta.db import db_session
from ruta.security import client_address, safe_next, user_agent
from workflow.cuentas import accounts, invitations, mfa, school_import, schools, security_log
from workflow.cuentas.models import SecurityEvent
from workflow.dates import BOGOTA
from workflow.errors import InvalidInput
from workflow.horizontes import opening
from workflow.models import Ruta, School, User, Zona, utcnow
from workflow.roles import Role
from workflow.scoping import get_in_scope, scoped
from workflow.search_keys import LIKE_ESCAPE, bytewise, contains_pattern

bp = Blueprint("admin", __name__, url_prefix="/admin")

EXAMPLE_FILE = PROJECT_ROOT / "docs" / "ejemplo-importacion-colegios.csv"
# Filter values in the address bar → the ``active`` column.
ACTIVE_FILTERS = {"activas": True, "inactivas": False}
USER_ACTIVE_FILTERS = {"activos": True, "inactivos": False}
# More than this and the page would be a wall: the CLI prints them all.
MAX_ERRORS_SHOWN = 200
CONFLICT = ("Otra persona guardó al mismo tiempo un dato que choca con este (un código DANE o "
            "un correo). Revise la lista y vuelva a intentarlo.")


def _can_manage() -> bool:
    return current_user.role is Role.ADMINISTRADOR


def _back(default_endpoint: str) -> Response:
    """Back to the list the button was pressed on, filters and page included."""
    return redirect(safe_next(request.form.get("volver")) or url_for(default_endpoint))


def _search() -> str:
    return search_text("q")[0]


# ``?orden=`` → the columns each list sorts by (blueprints/listing.py).
SCHOOL_SORTS = {
    "colegio": (bytewise(School.sort_key),),
    "dane": (School.dane_code,),
    "zona": (School.zona,),
    "comuna": (bytewise(School.locality_sort), bytewise(School.sort_key)),
    "estado": (Inverted(School.active),),
}
USER_SORTS = {
    "nombre": (bytewise(User.sort_key),),
    "correo": (bytewise(User.email),),
    "rol": (User.role,),
    "ingreso": (User.last_login_at,),
}


def _paginate(database: Session, statement: Select[Any],
              id_column: InstrumentedAttribute[int]) -> tuple[list[Any], int, int, int]:
    """``listing.paginate``, counting with ``count(*)``: the rows are whole entities, and
    PostgreSQL counts a Secretaría's 60,000 users from an index alone (7 ms) where
    ``count(users.id)`` reads every row (16 ms)."""
    total = database.scalar(statement.with_only_columns(func.count()).order_by(None)) or 0
    return paginate(database, statement, id_column, total=total)


def _errors_of(error: InvalidInput | IntegrityError) -> dict[str, list[str]]:
    return error.errors if isinstance(error, InvalidInput) else {"": [CONFLICT]}


# --- schools ------------------------------------------------------------------------------


@bp.get("/instituciones", endpoint="schools")
@roles_required(*SECRETARIA_ROLES)
def schools_list() -> str:
    database = db_session()
    query = _search()
    zona_value = request.args.get("zona", "")
    zona = Zona(zona_value) if zona_value in {member.value for member in Zona} else None
    active_value = request.args.get("estado", "")
    active = ACTIVE_FILTERS.get(active_value)

    statement = scoped(current_user, School)
    if query:
        statement = statement.where(or_(
            School.search_key.like(contains_pattern(query), escape=LIKE_ESCAPE),
            School.dane_code.contains(query, autoescape=True)))
    if zona is not None:
        statement = statement.where(School.zona == zona)
    if active is not None:
        statement = statement.where(School.active.is_(active))
    sort = chosen_sort(SCHOOL_SORTS, Sort("colegio", descending=False))
    rows, page, pages, total = _paginate(
        database, statement.order_by(*ordering(sort, SCHOOL_SORTS, School.id)), School.id)

    secretaria = current_user.secretaria
    ids = [school.id for school in rows]
    current_rutas = {ruta.school_id: ruta for ruta in database.scalars(
        scoped(current_user, Ruta).where(
            Ruta.school_id.in_(ids),
            Ruta.horizon_start_year == secretaria.horizon_start_year))}
    rectors = {user.school_id: user for user in database.scalars(
        scoped(current_user, User).where(
            User.school_id.in_(ids), User.role == Role.RECTOR, User.active))}
    missing_rutas = 0
    if _can_manage():
        missing_rutas = database.scalar(
            scoped(current_user, School).with_only_columns(func.count(School.id))
            .where(School.active, ~exists().where(
                Ruta.school_id == School.id,
                Ruta.horizon_start_year == secretaria.horizon_start_year))) or 0
    return render_template(
        "admin/schools.html", schools=rows, page=page, pages=pages, total=total,
        query=query, zona=zona, active_value=active_value if active is not None else "",
        zonas=list(Zona), current_rutas=current_rutas, rectors=rectors,
        horizon=f"{secretaria.horizon_start_year}–{secretaria.horizon_end_year}",
        missing_rutas=missing_rutas, can_manage=_can_manage(), sort=sort,
        query_cut=search_text("q")[1])


def _school_form(form: MultiDict[str, str]) -> schools.SchoolData:
    return schools.SchoolData(
        dane_code=form.get("dane_code", "")[:100], name=form.get("name", "")[:1000],
        zona=form.get("zona", "")[:20], locality=form.get("locality", "")[:1000])


def _render_school_form(school: School | None, data: schools.SchoolData,
                        errors: dict[str, list[str]]) -> str:
    return render_template("admin/school_form.html", school=school, data=data, errors=errors,
                           zonas=list(Zona))


@bp.route("/instituciones/nueva", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def school_new() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return _render_school_form(None, schools.SchoolData("", "", "", ""), {})
    database = db_session()
    actor = _actor()
    data = _school_form(request.form)
    try:
        school = schools.register_school(database, actor=actor, secretaria=actor.secretaria,
                                         data=data)
        database.commit()
    except (InvalidInput, IntegrityError) as error:
        database.rollback()
        return _render_school_form(None, data, _errors_of(error)), 422
    flash(f"Se registró «{school.name}» y se abrió su Ruta {school.rutas[-1].horizon_label}.",
          "success")
    return redirect(url_for("admin.schools"))


@bp.route("/instituciones/<int:school_id>/editar", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def school_edit(school_id: int) -> Response | str | tuple[str, int]:
    database = db_session()
    school = get_in_scope(database, current_user, School, school_id)
    if request.method == "GET":
        current = schools.SchoolData(school.dane_code, school.name, school.zona.value,
                                     school.locality)
        return _render_school_form(school, current, {})
    data = _school_form(request.form)
    try:
        schools.update_school(database, school, actor=_actor(), data=data)
        database.commit()
    except (InvalidInput, IntegrityError) as error:
        database.rollback()
        return _render_school_form(school, data, _errors_of(error)), 422
    flash(f"Se guardaron los cambios de «{school.name}».", "success")
    return redirect(url_for("admin.schools"))


@bp.post("/instituciones/<int:school_id>/desactivar")
@roles_required(Role.ADMINISTRADOR)
def school_deactivate(school_id: int) -> Response:
    return _set_school_active(school_id, active=False)


@bp.post("/instituciones/<int:school_id>/reactivar")
@roles_required(Role.ADMINISTRADOR)
def school_reactivate(school_id: int) -> Response:
    return _set_school_active(school_id, active=True)


def _set_school_active(school_id: int, *, active: bool) -> Response:
    database = db_session()
    school = get_in_scope(database, current_user, School, school_id)
    schools.set_school_active(database, school, actor=_actor(), active=active)
    database.commit()
    flash(f"«{school.name}» quedó {'activa' if active else 'inactiva'}.", "success")
    return _back("admin.schools")


@bp.post("/instituciones/abrir-rutas")
@roles_required(Role.ADMINISTRADOR)
def open_missing_rutas() -> Response:
    database = db_session()
    active_schools = database.scalars(scoped(current_user, School).where(School.active)).all()
    opened = opening.open_missing_rutas(database, active_schools, actor=_actor())
    database.commit()
    secretaria = current_user.secretaria
    horizon = f"{secretaria.horizon_start_year}–{secretaria.horizon_end_year}"
    if opened:
        opened_text = ("Se abrió 1 Ruta" if len(opened) == 1
                       else f"Se abrieron {len(opened)} Rutas")
        flash(f"{opened_text} del horizonte {horizon}.", "success")
    else:
        flash(f"Todas las instituciones activas ya tenían su Ruta {horizon}.", "info")
    return _back("admin.schools")


# --- CSV import ---------------------------------------------------------------------------


def _render_import(report: school_import.ImportReport | None = None) -> str:
    return render_template("admin/import.html", report=report,
                           max_rows=school_import.MAX_ROWS, max_errors=MAX_ERRORS_SHOWN)


@bp.route("/instituciones/importar", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def school_import_page() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return _render_import()
    upload = request.files.get("archivo")
    if upload is None or not upload.filename:
        return _render_import(school_import.ImportReport(
            errors=["Elija el archivo CSV que va a importar."])), 422
    database = db_session()
    actor = _actor()
    # One byte over the limit is enough for the import to say the file is too big.
    content = upload.read(school_import.MAX_BYTES + 1)
    try:
        report = school_import.import_schools(database, actor=actor,
                                               secretaria=actor.secretaria, content=content)
        if report.ok:
            database.commit()
    except IntegrityError:
        report = school_import.ImportReport(errors=[CONFLICT])
    if not report.ok:
        database.rollback()
        return _render_import(report), 422
    flash(report.summary(), "success")
    return redirect(url_for("admin.schools"))


@bp.get("/instituciones/importar/ejemplo.csv")
@roles_required(Role.ADMINISTRADOR)
def school_import_example() -> Response:
    return send_file(EXAMPLE_FILE, mimetype="text/csv", as_attachment=True,
                     download_name=EXAMPLE_FILE.name)


# --- users --------------------------------------------------------------------------------


@bp.get("/usuarios", endpoint="users")
@roles_required(*SECRETARIA_ROLES)
def users_list() -> str:
    database = db_session()
    query = _search()
    role_value = request.args.get("rol", "")
    role = Role(role_value) if role_value in set(Role) else None
    active_value = request.args.get("estado", "")
    active = USER_ACTIVE_FILTERS.get(active_value)

    # Each row's school comes in one more statement for the page, not one per row.
    statement = scoped(current_user, User).options(selectinload(User.school))
    if query:
        statement = statement.where(or_(
            User.search_key.like(contains_pattern(query), escape=LIKE_ESCAPE),
            User.email.contains(query.lower(), autoescape=True)))
    if role is not None:
        statement = statement.where(User.role == role)
    if active is not None:
        statement = statement.where(User.active.is_(active))
    sort = chosen_sort(USER_SORTS, Sort("nombre", descending=False))
    rows, page, pages, total = _paginate(
        database, statement.order_by(*ordering(sort, USER_SORTS, User.id)), User.id)
    return render_template(
        "admin/users.html", users=rows, page=page, pages=pages, total=total, query=query,
        role=role, roles=list(Role), active_value=active_value if active is not None else "",
        can_manage=_can_manage(), sort=sort, query_cut=search_text("q")[1])


def _user_form(form: MultiDict[str, str]) -> accounts.UserData:
    return accounts.UserData(
        email=form.get("email", "")[:1000], name=form.get("name", "")[:1000],
        role=form.get("role", "")[:40], school_id=form_int(form.get("school_id")))


def _render_user_form(user: User | None, data: accounts.UserData,
                      errors: dict[str, list[str]]) -> str:
    school_choices = db_session().scalars(
        scoped(current_user, School).order_by(School.name, School.id)).all()
    return render_template(
        "admin/user_form.html", user=user, data=data, errors=errors,
        roles=list(Role), schools=school_choices,
        mfa_enrolled=user is not None and mfa.is_enrolled(db_session(), user),
        school_roles=[role for role in Role if role.belongs_to_school])


@bp.route("/usuarios/nuevo", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def user_new() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return _render_user_form(None, accounts.UserData("", "", ""), {})
    database = db_session()
    actor = _actor()
    data = _user_form(request.form)
    try:
        user = accounts.create_user(database, actor=actor, secretaria_id=actor.secretaria_id,
                                    data=data)
        # The person chooses their own password through the link: nobody else knows it.
        invitations.send_invitation(database, user, actor=actor)
        security_log.record(database, "user_created", actor=actor, address=client_address(),
                            user_agent=user_agent(),
                            detail={"user_id": user.id, "role": user.role.value})
        database.commit()
    except (InvalidInput, IntegrityError) as error:
        database.rollback()
        return _render_user_form(None, data, _errors_of(error)), 422
    flash(f"Se creó la cuenta de {user.name} y se le envió una invitación a {user.email} para "
          "que elija su contraseña.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/usuarios/<int:user_id>/editar", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def user_edit(user_id: int) -> Response | str | tuple[str, int]:
    database = db_session()
    user = get_in_scope(database, current_user, User, user_id)
    if request.method == "GET":
        current = accounts.UserData(user.email, user.name, user.role.value, user.school_id)
        return _render_user_form(user, current, {})
    data = _user_form(request.form)
    before = {"email": user.email, "name": user.name, "role": user.role.value,
              "school_id": user.school_id}
    try:
        accounts.update_user(database, user, actor=_actor(), data=data)
        after = {"email": user.email, "name": user.name, "role": user.role.value,
                 "school_id": user.school_id}
        changed = sorted(key for key in before if before[key] != after[key])
        if changed:
            detail: dict[str, Any] = {"user_id": user.id, "changed": changed}
            if "role" in changed:
                detail["role"] = [before["role"], after["role"]]
            security_log.record(database, "user_changed", actor=_actor(),
                                address=client_address(), user_agent=user_agent(),
                                detail=detail)
        if "email" in changed:
            invitations.notify_email_changed(database, user, old_email=str(before["email"]))
        database.commit()
    except (InvalidInput, IntegrityError) as error:
        database.rollback()
        return _render_user_form(user, data, _errors_of(error)), 422
    flash(f"Se guardaron los cambios de {user.name}.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/usuarios/<int:user_id>/invitar")
@roles_required(Role.ADMINISTRADOR)
def user_invite(user_id: int) -> Response:
    database = db_session()
    user = get_in_scope(database, current_user, User, user_id)
    # A refusal (deactivated account) is an InvalidInput: the error page explains it (422).
    invitations.send_invitation(database, user, actor=_actor())
    database.commit()
    flash(f"Se envió a {user.email} una invitación nueva; los enlaces anteriores dejaron de "
          "servir.", "success")
    return _back("admin.users")


@bp.route("/usuarios/invitar-pendientes", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def users_invite_pending() -> Response | str:
    """Invite the active accounts without a password and without a link that still works
    (e.g. rectors whose invitation expired). A confirmation page says how many first; links
    still valid are kept. The button on the user list lands here (no confirmation yet)."""
    database = db_session()
    moment = utcnow()
    query = scoped(current_user, User)
    pending = database.scalars(invitations.without_live_invitation(query, now=moment)).all()
    kept = database.scalar(query.where(User.active, User.password_hash.is_(None))
                           .with_only_columns(func.count(User.id))) or 0
    kept -= len(pending)
    confirmed = request.method == "POST" and request.form.get("confirmar") == "1"
    changed = confirmed and request.form.get("cantidad") != str(len(pending))
    if not confirmed or changed or not pending:
        return render_template("admin/invite_pending.html", pending=pending, kept=kept,
                               changed=changed)
    sent = invitations.invite_without_live_invitation(database, query, actor=_actor(),
                                                      now=moment)
    database.commit()
    many = len(sent) != 1
    flash(f"Se envi{'aron' if many else 'ó'} {len(sent)} invitaci{'ones' if many else 'ón'} a "
          "cuentas sin contraseña; los enlaces que seguían vigentes se conservaron.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/usuarios/<int:user_id>/desactivar")
@roles_required(Role.ADMINISTRADOR)
def user_deactivate(user_id: int) -> Response:
    return _set_user_active(user_id, active=False)


@bp.post("/usuarios/<int:user_id>/reactivar")
@roles_required(Role.ADMINISTRADOR)
def user_reactivate(user_id: int) -> Response:
    return _set_user_active(user_id, active=True)


def _set_user_active(user_id: int, *, active: bool) -> Response:
    database = db_session()
    user = get_in_scope(database, current_user, User, user_id)
    # A refusal (own account, a second active rector) is an InvalidInput: the error page
    # explains it with status 422.
    accounts.set_user_active(database, user, actor=_actor(), active=active)
    security_log.record(database, "user_reactivated" if active else "user_deactivated",
                        actor=_actor(), address=client_address(), user_agent=user_agent(),
                        detail={"user_id": user.id})
    database.commit()
    flash(f"La cuenta de {user.name} quedó {'activa' if active else 'inactiva'}.", "success")
    return _back("admin.users")


@bp.route("/usuarios/<int:user_id>/verificacion", methods=["GET", "POST"],
          endpoint="user_mfa_reset")
@roles_required(Role.ADMINISTRADOR)
def user_mfa_reset(user_id: int) -> Response | str:
    """Remove a person's authenticator (a lost phone), after a confirmation page."""
    database = db_session()
    user = get_in_scope(database, current_user, User, user_id)
    if request.method == "GET" or request.form.get("confirmar") != "1":
        return render_template("admin/mfa_reset.html", user=user,
                               enrolled=mfa.is_enrolled(database, user))
    # A refusal (own account) is an InvalidInput: the error page explains it (422).
    mfa.reset(database, user, actor=_actor())
    database.commit()
    flash(f"Se restableció la verificación en dos pasos de {user.name}: sus sesiones se "
          "cerraron y, si su rol la exige, la activará de nuevo al ingresar.", "success")
    return redirect(url_for("admin.user_edit", user_id=user.id))


# --- security log -------------------------------------------------------------------------


def _day(field: str, problems: list[str]) -> date | None:
    raw = request.args.get(field, "").strip()[:20]
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"La fecha «{raw}» no es válida: use el calendario o escríbala como "
                        "2025-03-31. Se mostró sin ese filtro.")
        return None


def _bogota_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=BOGOTA)


@bp.get("/seguridad", endpoint="security")
@roles_required(Role.ADMINISTRADOR)
def security_events() -> str:
    """The security log of the administrador's Secretaría, filtered and paginated."""
    database = db_session()
    problems: list[str] = []
    kind = request.args.get("tipo", "")
    kind = kind if kind in security_log.KINDS else ""
    outcome = request.args.get("resultado", "")
    outcome = outcome if outcome in security_log.OUTCOMES else ""
    who = request.args.get("quien", "").strip()[:100]
    since, until = _day("desde", problems), _day("hasta", problems)
    statement = security_log.events_for_secretaria(
        current_user.secretaria_id, kind=kind or None, outcome=outcome or None,
        who=who or None, since=_bogota_midnight(since) if since else None,
        until=_bogota_midnight(until + timedelta(days=1)) if until else None)
    rows, page, pages, total = _paginate(database, statement, SecurityEvent.id)
    names = {user.id: user for user in database.scalars(select(User).where(User.id.in_(
        {row.user_id for row in rows if row.user_id is not None})))}
    filters = {"tipo": kind or None, "resultado": outcome or None, "quien": who or None,
               "desde": since.isoformat() if since else None,
               "hasta": until.isoformat() if until else None}
    return render_template(
        "admin/security.html", events=rows, users=names, page=page, pages=pages, total=total,
        kinds=security_log.KINDS, outcomes=security_log.OUTCOMES, filters=filters,
        problems=problems)


# --- crosswalks between instrument versions -------------------------------------------------


def _crosswalks_page(problems: list[Any] | None = None, message: str = "") -> str:
    from workflow.catalogo import crosswalk

    found = crosswalk.crosswalks_for(db_session(), current_user.secretaria_id)
    return render_template("admin/crosswalks.html", crosswalks=found, problems=problems or [],
                           problems_message=message, can_manage=_can_manage())


@bp.get("/equivalencias/")
@roles_required(*SECRETARIA_ROLES)
def crosswalks() -> str:
    return _crosswalks_page()


@bp.get("/equivalencias/<int:crosswalk_id>")
@roles_required(*SECRETARIA_ROLES)
def crosswalk_detail(crosswalk_id: int) -> str:
    from workflow.catalogo.models import Crosswalk

    found = get_in_scope(db_session(), _actor(), Crosswalk, crosswalk_id)
    return render_template("admin/crosswalk_detail.html", crosswalk=found)


@bp.post("/equivalencias/cargar")
@roles_required(Role.ADMINISTRADOR)
def crosswalk_upload() -> Response | tuple[str, int]:
    from blueprints.access import commit_or_conflict
    from workflow.catalogo import crosswalk
    from workflow.catalogo.files import MAX_FILE_BYTES, Problem

    database = db_session()
    upload = request.files.get("archivo")
    if upload is None or not upload.filename:
        return _crosswalks_page([Problem(None, "Elija el archivo de la tabla (.json).")],
                                "No se cargó ningún archivo."), 422
    try:
        loaded = crosswalk.load_crosswalk(database, upload.stream.read(MAX_FILE_BYTES + 1),
                                          source=upload.filename[:200], actor=_actor())
    except crosswalk.CrosswalkProblems as refused:
        database.rollback()
        return _crosswalks_page(refused.problems, refused.message), 422
    commit_or_conflict()
    flash(f"Listo: se cargó la tabla de equivalencias {loaded.label}. Desde ahora el perfil de "
          "sus Rutas se compara con la Ruta anterior a través de ella.", "success")
    return redirect(url_for("admin.crosswalk_detail", crosswalk_id=loaded.id))
