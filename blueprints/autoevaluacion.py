"""The autoevaluación institucional of a Ruta, and the Secretaría's catalogs of instruments.

School pages live under ``/rutas/<id>/autoevaluacion``: everyone who sees the Ruta reads
them; the rector edits everything while the Ruta is in borrador, team members their áreas.
The catalogs live under ``/catalogos``: the Secretaría reads them, its administración loads,
adapts and chooses the current one.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.access import (
    ALL_ROLES,
    SECRETARIA_ROLES,
    Conflict,
    conflict_between,
    form_int,
    roles_required,
)
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from blueprints.evidencias import (
    commit_upload,
    commit_uploads,
    form_upload_limits,
    limits,
    posted_file,
    posted_files,
    storage,
    upload_limits,
)
from ruta.db import db_session
from ruta.security import FILE_CONTENT_SECURITY_POLICY
from workflow.autoevaluacion import evidence as auto_evidence
from workflow.autoevaluacion import perfil as auto_perfil
from workflow.autoevaluacion import ratings as auto_ratings
from workflow.autoevaluacion import team as auto_team
from workflow.autoevaluacion.models import (
    MAX_TEXT,
    IdentityReview,
    Vigencia,
)
from workflow.catalogo import catalog as catalogs
from workflow.catalogo.files import MAX_FILE_BYTES, CatalogProblems, Problem, catalog_to_dict
from workflow.catalogo.models import LEVELS, Catalog, CatalogArea
from workflow.charts import Bar, averages_chart, decimal, levels_chart
from workflow.errors import InvalidInput, NotEditable, StaleEdit
from workflow.evidencias.storage import TooLarge
from workflow.models import Ruta, Secretaria
from workflow.roles import Role
from workflow.scoping import get_in_scope, scoped

bp = Blueprint("autoevaluacion", __name__)

DERIVE_NEW_ROWS = 5


@bp.app_template_filter("decimal")
def _decimal(value: float | None, digits: int = 1) -> str:
    return decimal(value, digits)


@bp.app_template_global("autoevaluacion_summary")
def _summary(ruta: Ruta) -> auto_ratings.Glance:
    """What the Ruta page shows of the autoevaluación (its include calls it)."""
    return auto_ratings.glance(db_session(), ruta)


def _area_links(overview: auto_ratings.Overview) -> dict[str, str]:
    if overview.catalog is None:
        return {}
    return {area.code: url_for("autoevaluacion.area", ruta_id=overview.ruta.id,
                               area_code=area.code) for area in overview.catalog.areas}


@bp.app_template_global("autoevaluacion_missing_link")
def missing_link(ruta: Ruta, item: auto_ratings.Missing) -> str:
    """Where to fix one missing thing: the identity page, or the proceso on its área's page."""
    if item.kind == "identity":
        return url_for("autoevaluacion.identity", ruta_id=ruta.id)
    if item.kind == "team":
        return url_for("equipo.team", ruta_id=ruta.id)
    if item.kind in ("rating", "evidence") and item.area_code:
        return url_for("autoevaluacion.area", ruta_id=ruta.id, area_code=item.area_code,
                       _anchor=f"proceso-{item.proceso_id}")
    return url_for("autoevaluacion.index", ruta_id=ruta.id)


# --- the school's pages -------------------------------------------------------------------


@bp.get("/rutas/<int:ruta_id>/autoevaluacion")
@roles_required(*ALL_ROLES)
def index(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    overview = auto_ratings.overview(db_session(), ruta, _actor(), member_areas=True)
    return render_template("autoevaluacion/index.html", ruta=ruta, overview=overview,
                           area_links=_area_links(overview),
                           may_start=_may_start(ruta))


def _may_start(ruta: Ruta) -> bool:
    actor = _actor()
    return (getattr(ruta, "catalog_id", None) is None and auto_team.is_editable(ruta)
            and (auto_team.is_rector_of(actor, ruta) or actor.role is Role.ADMINISTRADOR))


@bp.post("/rutas/<int:ruta_id>/autoevaluacion/empezar")
@roles_required(Role.RECTOR, Role.ADMINISTRADOR)
def start(ruta_id: int) -> Response:
    ruta = _ruta(ruta_id)
    catalog = auto_team.start_self_assessment(db_session(), ruta, actor=_actor())
    db_session().commit()
    flash(f"Listo: la autoevaluación usa «{catalog.title}».", "success")
    return redirect(url_for("autoevaluacion.index", ruta_id=ruta.id))


@bp.route("/rutas/<int:ruta_id>/autoevaluacion/identidad", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def identity(ruta_id: int) -> Response | str | tuple[str, int]:
    database = db_session()
    ruta = _ruta(ruta_id)
    review = database.get(IdentityReview, ruta.id)
    can_edit = (auto_team.is_editable(ruta)
                and auto_team.can_edit_identity(database, ruta, _actor()))
    rules = catalogs.rules_of(database, ruta)
    if request.method == "GET":
        return render_template("autoevaluacion/identity.html", ruta=ruta, review=review,
                               can_edit=can_edit, data=_identity_values(review), rules=rules,
                               gaps=auto_team.identity_gaps(review, rules), errors={})
    if current_user.role not in (Role.RECTOR, Role.EQUIPO):
        abort(403)
    data = auto_team.IdentityData(**{name: request.form.get(name, "")[:MAX_TEXT + 1]
                                     for name in _IDENTITY_FIELDS})
    try:
        saved = auto_team.save_identity(database, ruta, data, actor=_actor())
    except InvalidInput as invalid:
        database.rollback()
        return render_template("autoevaluacion/identity.html", ruta=ruta, review=review,
                               can_edit=can_edit, data=vars(data), rules=rules,
                               gaps=auto_team.identity_gaps(review, rules),
                               errors=invalid.errors), 422
    gaps = auto_team.identity_gaps(saved, rules)
    _commit()
    if gaps:
        flash("Guardado. Para enviar la autoevaluación todavía falta "
              + auto_ratings.join_phrases(gaps) + ".", "success")
    else:
        flash("Guardado: la revisión de la identidad institucional está completa.", "success")
    return redirect(url_for("autoevaluacion.identity", ruta_id=ruta.id))


_IDENTITY_FIELDS = ("mision", "vision", "principios", "pei_reference", "mision_vigencia",
                    "vision_vigencia", "principios_vigencia", "notes")


def _identity_values(review: IdentityReview | None) -> dict[str, str]:
    if review is None:
        return dict.fromkeys(_IDENTITY_FIELDS, "")
    values = {name: getattr(review, name) for name in _IDENTITY_FIELDS}
    return {name: (value.value if isinstance(value, Vigencia) else value or "")
            for name, value in values.items()}


@bp.get("/rutas/<int:ruta_id>/autoevaluacion/areas/<area_code>")
@roles_required(*ALL_ROLES)
def area(ruta_id: int, area_code: str) -> str:
    ruta = _ruta(ruta_id)
    return _render_area(ruta, auto_ratings.get_area(db_session(), ruta, area_code))


def _render_area(ruta: Ruta, area_row: CatalogArea, **context: Any) -> str:
    database = db_session()
    overview = auto_ratings.overview(database, ruta, _actor())
    return render_template(
        "autoevaluacion/area.html", ruta=ruta, area=area_row, overview=overview,
        catalog=overview.catalog, rated=auto_ratings.valoraciones(database, ruta),
        files=auto_evidence.files_by_componente(database, ruta),
        can_edit=area_row.id in overview.editable_area_ids,
        area_links=_area_links(overview), errors=context.pop("errors", {}),
        posted=context.pop("posted", {}), posted_proceso=context.pop("posted_proceso", None),
        conflict=context.pop("conflict", None), **context)


def _rating_entries(form: Any
                    ) -> tuple[dict[int, auto_ratings.RatingInput], dict[str, list[str]]]:
    entries: dict[int, auto_ratings.RatingInput] = {}
    errors: dict[str, list[str]] = {}
    for raw in form.getlist("componente"):
        componente_id = form_int(raw)
        if componente_id is None:
            errors["componente"] = ["El formulario trae un componente que no existe."]
            continue
        entries[componente_id] = auto_ratings.RatingInput(
            level=form.get(auto_ratings.level_field(componente_id), "")[:20],
            evidence=form.get(f"evidencia-{componente_id}", "")[:MAX_TEXT + 1],
            comments=form.get(f"comentario-{componente_id}", "")[:MAX_TEXT + 1],
            version=form_int(form.get(f"version-{componente_id}")))
    return entries, errors


def _uploads(entries: dict[int, auto_ratings.RatingInput]) -> dict[int, auto_evidence.Upload]:
    names = {auto_evidence.file_field(componente_id): componente_id
             for componente_id in entries}
    return {names[name]: auto_evidence.Upload(item.filename or "", item.stream)
            for name, item in posted_files(list(names)).items()}


def _rating_conflict(ruta: Ruta, proceso: Any,
                     entries: dict[int, auto_ratings.RatingInput]) -> Conflict:
    """The proceso as saved now beside what the person posted: raw values decide what
    changed; the levels are shown with their names."""
    rows = auto_ratings.valoraciones(db_session(), ruta)
    catalog = ruta.catalog  # type: ignore[attr-defined]
    posted: dict[str, str] = {}
    saved: dict[str, str] = {}
    shown: dict[str, str] = {}
    authors: dict[int, str] = {}
    for componente in proceso.componentes:
        row = rows.get(componente.id)
        given = entries.get(componente.id, auto_ratings.RatingInput())
        level = row.level if row else None
        for name, mine, theirs, display in (
                (auto_ratings.level_field(componente.id), given.level,
                 str(level) if level else "",
                 f"{level} · {catalog.level_name(level)}" if level else "Sin valorar"),
                (f"evidencia-{componente.id}", given.evidence, row.evidence if row else "",
                 row.evidence if row else ""),
                (f"comentario-{componente.id}", given.comments, row.comments if row else "",
                 row.comments if row else "")):
            posted[name], saved[name], shown[name] = mine, theirs, display
        if row is not None and row.updated_by is not None:
            authors[componente.id] = row.updated_by.name
    found = conflict_between(posted, saved)
    by = sorted({name for componente_id, name in authors.items()
                 if any(field.endswith(f"-{componente_id}") for field in found.changed)})
    return Conflict(saved=shown, changed=found.changed, saved_by=", ".join(by))


@bp.post("/rutas/<int:ruta_id>/autoevaluacion/procesos/<int:proceso_id>")
@form_upload_limits
@roles_required(Role.RECTOR, Role.EQUIPO)
def save_proceso(ruta_id: int, proceso_id: int) -> Response | tuple[str, int]:
    """The proceso form: levels, texts and a file per componente, saved together."""
    database = db_session()
    ruta = _ruta(ruta_id)
    proceso = auto_ratings.get_proceso(database, ruta, proceso_id)
    entries, errors = _rating_entries(request.form)
    uploads = _uploads(entries)
    store = storage()
    try:
        if errors:
            raise InvalidInput({**errors, **auto_evidence.not_saved_files(uploads, errors)})
        saved = auto_evidence.save_proceso_with_files(
            database, store, ruta, proceso, entries, uploads, actor=_actor(), limits=limits())
    except StaleEdit:
        database.rollback()
        return _render_area(ruta, proceso.area, posted=entries, posted_proceso=proceso.id,
                            errors=auto_evidence.not_saved_files(uploads, {}),
                            conflict=_rating_conflict(ruta, proceso, entries)), 409
    except InvalidInput as invalid:
        database.rollback()
        return _render_area(ruta, proceso.area, errors=invalid.errors, posted=entries,
                            posted_proceso=proceso.id), invalid.status
    commit_uploads(store, saved.files, _commit)
    message = f"Guardado: «{proceso.name}»."
    if saved.files:
        attached = [f"«{item.display_name}»" for item in saved.files]
        message += (" Se adjuntó " if len(attached) == 1 else " Se adjuntaron ") + \
            auto_ratings.join_phrases(attached) + "."
    if saved.result.missing_evidence:
        codes_missing = ", ".join(c.code for c in saved.result.missing_evidence)
        message += (f" Falta la evidencia de {codes_missing}: escriba cuál es o adjunte un "
                    "archivo; sin ella la autoevaluación no se podrá enviar.")
    flash(message, "success")
    return redirect(url_for("autoevaluacion.area", ruta_id=ruta.id,
                            area_code=proceso.area.code, _anchor=f"proceso-{proceso.id}"))


@bp.post("/rutas/<int:ruta_id>/evidencias")
@upload_limits
@roles_required(Role.RECTOR, Role.EQUIPO)
def upload_evidence(ruta_id: int) -> Response | tuple[str, int]:
    """One file for one componente, without the proceso's values (no page posts here any
    more: the proceso form carries its files; kept for scripts and old pages)."""
    database = db_session()
    ruta: Ruta = _ruta(ruta_id)
    upload_file = posted_file()
    componente_id = form_int(request.form.get("componente"))
    store = storage()
    try:
        if upload_file is None or not upload_file.filename:
            raise InvalidInput({"archivo": ["Elija el archivo que quiere adjuntar."]})
        added = auto_evidence.attach_to_valoracion(
            database, store, ruta, componente_id=componente_id, actor=_actor(),
            filename=upload_file.filename, stream=upload_file.stream, limits=limits())
    except (InvalidInput, TooLarge) as refused:
        database.rollback()
        componente = next((c for c in (ruta.catalog.componentes if ruta.catalog else [])
                           if c.id == componente_id), None)
        if componente is None:
            raise
        return _render_area(ruta, componente.proceso.area,
                            errors={auto_evidence.file_field(componente.id): [
                                f"{componente.code}: {refused.message} {auto_evidence.AGAIN}"]},
                            posted_proceso=componente.proceso_id), refused.status
    commit_upload(store, added)
    componente = next(c for c in ruta.catalog.componentes if c.id == componente_id)
    flash(f"Listo: se adjuntó «{added.display_name}» a {componente.code}.", "success")
    return redirect(url_for("autoevaluacion.area", ruta_id=ruta.id,
                            area_code=componente.proceso.area.code,
                            _anchor=f"archivos-{componente.id}"))


@bp.get("/rutas/<int:ruta_id>/autoevaluacion/perfil")
@roles_required(*ALL_ROLES)
def perfil(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    result, before = auto_perfil.perfil_for(db_session(), ruta)
    return render_template("autoevaluacion/perfil.html", ruta=ruta, perfil=result,
                           previous=before, catalog=getattr(ruta, "catalog", None))


def _svg(markup: str) -> Response:
    response = Response(markup, mimetype="image/svg+xml")
    # A chart has no script and loads nothing; opened on its own it may not either.
    response.headers["Content-Security-Policy"] = FILE_CONTENT_SECURITY_POLICY
    return response


@bp.get("/rutas/<int:ruta_id>/autoevaluacion/perfil/<chart>.svg")
@roles_required(*ALL_ROLES)
def perfil_chart(ruta_id: int, chart: str) -> Response:
    ruta = _ruta(ruta_id)
    result, before = auto_perfil.perfil_for(db_session(), ruta)
    if chart == "areas":
        return _svg(averages_chart(
            "Promedio de la valoración por área de gestión",
            [Bar(item.name, item.tally.average, item.previous) for item in result.areas]))
    if chart == "procesos":
        return _svg(averages_chart(
            "Promedio de la valoración por proceso",
            [Bar(f"{proceso.code} {proceso.name}", proceso.tally.average, proceso.previous)
             for item in result.areas for proceso in item.procesos]))
    if chart == "niveles":
        catalog = getattr(ruta, "catalog", None)
        names = {level: catalog.level_name(level) for level in LEVELS} \
            if catalog else {}
        return _svg(levels_chart(
            "Componentes en cada nivel, por área de gestión",
            [(item.name, item.tally.counts, item.tally.unrated) for item in result.areas],
            names))
    abort(404)


@bp.get("/rutas/<int:ruta_id>/autoevaluacion/fortalezas")
@roles_required(*ALL_ROLES)
def fortalezas(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    return _render_fortalezas(ruta)


def _render_fortalezas(ruta: Ruta, **context: Any) -> str:
    database = db_session()
    overview = auto_ratings.overview(database, ruta, _actor())
    areas = {area.code: area.id for area in overview.catalog.areas} if overview.catalog else {}
    classification = auto_perfil.classification_for(database, ruta)
    return render_template(
        "autoevaluacion/fortalezas.html", ruta=ruta, overview=overview,
        classification=classification, area_ids=areas,
        prioritized=sum(1 for item in classification.oportunidades if item.score is not None),
        prioritizable_ids=auto_perfil.prioritizable_area_ids(database, ruta, _actor()),
        open_for_priorities=auto_perfil.may_prioritize(ruta),
        errors=context.pop("errors", {}), posted=context.pop("posted", {}), **context)


@bp.post("/rutas/<int:ruta_id>/autoevaluacion/priorizacion")
@roles_required(Role.RECTOR, Role.EQUIPO)
def prioritize(ruta_id: int) -> Response | tuple[str, int]:
    database = db_session()
    ruta = _ruta(ruta_id)
    entries: dict[int, auto_perfil.PriorityInput] = {}
    errors: dict[str, list[str]] = {}
    for raw in request.form.getlist("componente"):
        componente_id = form_int(raw)
        if componente_id is None:
            errors["componente"] = ["El formulario trae un componente que no existe."]
            continue
        entries[componente_id] = auto_perfil.PriorityInput(
            *(request.form.get(f"{name}-{componente_id}", "")[:5]
              for name, _ in auto_perfil.PRIORITY_FIELDS))
    try:
        if errors:
            raise InvalidInput(errors)
        changed = auto_perfil.save_priorities(database, ruta, entries, actor=_actor())
    except InvalidInput as invalid:
        database.rollback()
        return _render_fortalezas(ruta, errors=invalid.errors, posted=entries), 422
    except NotEditable as locked:
        database.rollback()
        return _render_fortalezas(ruta, errors={"": [locked.message]}, posted=entries), 409
    _commit()
    if changed == 0:
        flash("No cambió ninguna priorización.", "info")
    elif changed == 1:
        flash("Guardado: 1 priorización actualizada.", "success")
    else:
        flash(f"Guardado: {changed} priorizaciones actualizadas.", "success")
    return redirect(url_for("autoevaluacion.fortalezas", ruta_id=ruta.id))


@bp.get("/rutas/<int:ruta_id>/autoevaluacion/imprimir")
@roles_required(*ALL_ROLES)
def printable(ruta_id: int) -> str:
    database = db_session()
    ruta = _ruta(ruta_id)
    result, before = auto_perfil.perfil_for(database, ruta)
    overview = auto_ratings.overview(database, ruta, _actor(), member_areas=True)
    return render_template(
        "autoevaluacion/print.html", ruta=ruta, overview=overview, perfil=result,
        previous=before, items=auto_perfil.rated_items(database, ruta),
        classification=auto_perfil.classification_for(database, ruta))


# --- the Secretaría's catalogs ------------------------------------------------------------


def _catalog_list_context() -> dict[str, Any]:
    database = db_session()
    actor = _actor()
    found = database.scalars(scoped(actor, Catalog).order_by(Catalog.year, Catalog.slug)).all()
    current = catalogs.current_catalog(database, actor.secretaria_id)
    return {
        "catalogs": found, "counts": catalogs.catalog_counts(database, [c.id for c in found]),
        "current": current, "rules": catalogs.rules_for(database, actor.secretaria_id),
        "usage": catalogs.rule_set_usage(database, actor.secretaria_id),
        "formulas": catalogs.PRIORITY_FORMULAS, "rule_values": None,
        "secretaria": database.get(Secretaria, actor.secretaria_id),
        "can_manage": actor.role is Role.ADMINISTRADOR,
    }


@bp.get("/catalogos/")
@roles_required(*SECRETARIA_ROLES)
def catalog_list() -> str:
    return render_template("autoevaluacion/catalogs.html", problems=[], errors={},
                           **_catalog_list_context())


@bp.post("/catalogos/cargar")
@roles_required(Role.ADMINISTRADOR)
def catalog_upload() -> Response | tuple[str, int]:
    database = db_session()
    upload = request.files.get("archivo")
    if upload is None or not upload.filename:
        problems = [Problem(None, "Elija el archivo del catálogo (.json).")]
        return render_template("autoevaluacion/catalogs.html", problems=problems, errors={},
                               problems_message="No se cargó ningún archivo.",
                               **_catalog_list_context()), 422
    content = upload.stream.read(MAX_FILE_BYTES + 1)
    try:
        loaded = catalogs.load_catalog(database, content, source=upload.filename[:200],
                                       actor=_actor())
    except CatalogProblems as refused:
        database.rollback()
        return render_template("autoevaluacion/catalogs.html", problems=refused.problems,
                               problems_message=refused.message, errors={},
                               **_catalog_list_context()), 422
    _commit()
    flash(f"Listo: se cargó «{loaded.title}» ({loaded.slug}). Las Rutas ya abiertas siguen con "
          "su instrumento.", "success")
    return redirect(url_for("autoevaluacion.catalog_detail", catalog_id=loaded.id))


@bp.post("/catalogos/reglas")
@roles_required(Role.ADMINISTRADOR)
def catalog_rules() -> Response | tuple[str, int]:
    database = db_session()
    given = {name: request.form.get(name, "") for name in catalogs.RULE_FIELDS}
    try:
        rules, stored = catalogs.set_rules(database, actor=_actor(), **given)
    except InvalidInput as invalid:
        database.rollback()
        context = _catalog_list_context()
        context["rule_values"] = given
        return render_template("autoevaluacion/catalogs.html", problems=[],
                               errors=invalid.errors, **context), 422
    _commit()
    if not stored:
        flash("No cambió ninguna regla: se conserva el conjunto vigente.", "info")
    else:
        flash(f"Listo: se guardó el conjunto de reglas {rules.number}. Lo toman las Rutas que "
              f"se abran desde ahora; las ya abiertas conservan el suyo. {rules.evidence_label} "
              f"{rules.cutoff_label}", "success")
    return redirect(url_for("autoevaluacion.catalog_list"))


@bp.get("/catalogos/<int:catalog_id>")
@roles_required(*SECRETARIA_ROLES)
def catalog_detail(catalog_id: int) -> str:
    database = db_session()
    found = get_in_scope(database, _actor(), Catalog, catalog_id)
    current = catalogs.current_catalog(database, current_user.secretaria_id)
    rutas = database.scalar(select(func.count()).select_from(Ruta).where(
        Ruta.catalog_id == found.id))  # type: ignore[attr-defined]
    return render_template("autoevaluacion/catalog_detail.html", catalog=found,
                           counts=catalogs.catalog_counts(database, [found.id])[found.id],
                           is_current=current is not None and current.id == found.id,
                           rutas_count=rutas or 0,
                           can_manage=current_user.role is Role.ADMINISTRADOR)


@bp.get("/catalogos/<int:catalog_id>.json")
@roles_required(*SECRETARIA_ROLES)
def catalog_download(catalog_id: int) -> Response:
    found = get_in_scope(db_session(), _actor(), Catalog, catalog_id)
    body = json.dumps(catalog_to_dict(found), ensure_ascii=False, indent=1)
    response = Response(body + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{found.slug}.json"'
    return response


@bp.post("/catalogos/<int:catalog_id>/vigente")
@roles_required(Role.ADMINISTRADOR)
def catalog_make_current(catalog_id: int) -> Response:
    database = db_session()
    found = get_in_scope(database, _actor(), Catalog, catalog_id)
    catalogs.set_current_catalog(database, found, actor=_actor())
    _commit()
    flash(f"Listo: las Rutas que se abran desde ahora usarán «{found.title}». Las que ya están "
          "abiertas conservan su instrumento.", "success")
    return redirect(url_for("autoevaluacion.catalog_list"))


@bp.route("/catalogos/<int:catalog_id>/adaptar", methods=["GET", "POST"])
@roles_required(Role.ADMINISTRADOR)
def catalog_derive(catalog_id: int) -> Response | str | tuple[str, int]:
    database = db_session()
    source = get_in_scope(database, _actor(), Catalog, catalog_id)
    if request.method == "GET":
        return render_template("autoevaluacion/catalog_derive.html", catalog=source,
                               form={}, problems=[], new_rows=range(DERIVE_NEW_ROWS))
    form = request.form
    change = catalogs.Derivation(slug=form.get("slug", "")[:80],
                                 title=form.get("title", "")[:400])
    for componente in source.componentes:
        name = " ".join(form.get(f"nombre-{componente.code}", componente.name).split())
        if form.get(f"quitar-{componente.code}"):
            change.removals.add(componente.code)
        elif name != componente.name:
            change.renames[componente.code] = name
    for row in range(DERIVE_NEW_ROWS):
        code = form.get(f"nuevo-codigo-{row}", "").strip()
        name = form.get(f"nuevo-nombre-{row}", "").strip()
        if code or name:
            change.additions.append((form.get(f"nuevo-proceso-{row}", ""), code[:60],
                                     name[:400]))
    try:
        derived = catalogs.derive_catalog(database, source, change, actor=_actor())
    except CatalogProblems as refused:
        database.rollback()
        return render_template("autoevaluacion/catalog_derive.html", catalog=source,
                               form=form, problems=refused.problems,
                               problems_message=refused.message,
                               new_rows=range(DERIVE_NEW_ROWS)), 422
    _commit()
    flash(f"Listo: se creó la versión «{derived.slug}». Para que las nuevas Rutas la usen, "
          "márquela como vigente.", "success")
    return redirect(url_for("autoevaluacion.catalog_detail", catalog_id=derived.id))
