"""Seguimiento periódico: the checkpoints of a Ruta, each checkpoint's report (form, evidence
files, sending), and the Secretaría's review of it (acknowledge, or return with itemized
observations that the rector answers).

Reports are named by their id within the Ruta (``/rutas/<ruta_id>/seguimiento/informes/
<report_id>``): another Ruta's report is not found. A report is opened (created as a draft)
by posting the checkpoint's id; a checkpoint outside the Ruta's calendar is not found either.
Observation ids travel in the form and are looked up within the report.

Nothing typed is lost: the report's values and its new evidence files go in one multipart
submit (``save``, with the evidence body limit and its own CSRF check); a refusal re-draws
every value and names each file to choose again; a stale save answers 409 with the person's
values, the saved ones beside them and the new version. Adding an observation carries a
one-time form token; deleting one asks first (a page, no JavaScript) and offers «Deshacer».
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from blueprints.access import (
    ALL_ROLES,
    FORM_LIMIT,
    conflict_between,
    form_int,
    posted_form,
    required_form_id,
    roles_required,
)
from blueprints.access import commit_or_conflict as _commit
from blueprints.access import current_actor as _actor
from blueprints.access import ruta_in_scope as _ruta
from blueprints.evidencias import (
    commit_upload,
    form_upload_limits,
    limits,
    posted_file,
    storage,
    upload_limits,
)
from ruta.db import db_session
from workflow import form_tokens, observations
from workflow.errors import GuardFailed, InvalidInput
from workflow.evidencias import storage as evidence
from workflow.models import Ruta, User, utcnow
from workflow.roles import Role
from workflow.seguimiento import reports as seg
from workflow.seguimiento.checkpoints import checkpoint_rows
from workflow.seguimiento.evidence import (
    FILE_FIELD,
    Upload,
    attach_to_report,
    report_files,
    save_with_files,
)
from workflow.seguimiento.models import (
    FollowUpReport,
    LineStatus,
    ReportStatus,
    StaleReport,
    bogota_day,
)
from workflow.seguimiento.progress import SEMAFORO_RULE, Semaforo, plan_start

bp = Blueprint("seguimiento", __name__)

SCHOOL_EDITORS = (Role.RECTOR, Role.EQUIPO)
# The observation just deleted, kept in the session for one page so «Deshacer» can add it back.
UNDO_KEY = "seguimiento_deshacer"
# Each light's own shape (templates/seguimiento/_macros.html draws them), named for tests and
# for the statement of accessibility: the lights differ by shape and word, not by colour only.
SEMAFORO_SHAPES = {
    Semaforo.VERDE.value: "circulo-con-visto",
    Semaforo.AMARILLO.value: "triangulo-con-exclamacion",
    Semaforo.ROJO.value: "octagono-con-equis",
    Semaforo.CANCELADA.value: "circulo-tachado",
    Semaforo.SIN_CRONOGRAMA.value: "circulo-punteado",
}


def today() -> date:
    """Today in Bogotá: the day that decides which checkpoints can be reported."""
    return bogota_day(utcnow())


def _report(ruta_id: int, report_id: int) -> tuple[Ruta, FollowUpReport]:
    ruta = _ruta(ruta_id)
    return ruta, seg.get_report(db_session(), ruta, report_id)


def _version() -> int | None:
    return form_int(request.form.get("version"))


@bp.app_context_processor
def _summary_helper() -> dict[str, Any]:
    return {"seguimiento_summary": _summary, "SEMAFORO_SHAPES": SEMAFORO_SHAPES}


def _summary(ruta: Ruta) -> dict[str, Any]:
    """What the Ruta page shows of the seguimiento (``seguimiento/_ruta_summary.html``)."""
    database = db_session()
    return {"start": plan_start(database, ruta.id),
            "rows": checkpoint_rows(database, ruta, today()),
            "may_open": seg.is_school_editor(_actor(), ruta)}


# --- the checkpoints ----------------------------------------------------------------------


@bp.get("/rutas/<int:ruta_id>/seguimiento")
@roles_required(*ALL_ROLES)
def index(ruta_id: int) -> str:
    ruta = _ruta(ruta_id)
    return render_template("seguimiento/index.html", ruta=ruta, summary=_summary(ruta),
                           rule=SEMAFORO_RULE)


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes")
@roles_required(*SCHOOL_EDITORS)
def open_report(ruta_id: int) -> Response:
    ruta = _ruta(ruta_id)
    checkpoint_id = form_int(request.form.get("corte"))
    if checkpoint_id is None:
        raise InvalidInput({"corte": ["Elija el corte de seguimiento que quiere informar."]})
    report = seg.open_report(db_session(), ruta, checkpoint_id, actor=_actor(), today=today())
    _commit()
    return redirect(url_for("seguimiento.report", ruta_id=ruta.id, report_id=report.id))


# --- one report ---------------------------------------------------------------------------


def _values(report: FollowUpReport) -> dict[str, str]:
    """The stored report as form values (with the version the form is drawn from)."""
    values = {"dificultades": report.dificultades, "version": str(report.version)}
    for line in report.lines:
        key = line.actividad_id
        values.update({f"avance-{key}": f"{line.avance:g}".replace(".", ","),
                       f"estado-{key}": line.status.value,
                       f"dificultades-{key}": line.dificultades,
                       f"recursos-{key}": line.recursos,
                       f"costo-{key}": "" if line.costo is None else str(line.costo),
                       f"razones-{key}": line.razones})
    for value in report.values:
        values[f"valor-{value.indicador_id}"] = (
            "" if value.valor is None else f"{value.valor:g}".replace(".", ","))
        values[f"comentario-{value.indicador_id}"] = value.comentario
    return values


def _context(ruta: Ruta, report: FollowUpReport, **extra: Any) -> dict[str, Any]:
    database = db_session()
    actor = _actor()
    labels = seg.report_labels(database, report)
    observations = seg.observations(database, report)
    return {
        "ruta": ruta, "report": report, "lines": seg.line_views(database, report, labels),
        "indicadores": [(row, labels.get(f"indicador:{row.id}", "Indicador"))
                        for row in seg.report_indicadores(database, report)],
        "plan_version": seg.report_version(database, report),
        "stored_values": {value.indicador_id: value for value in report.values},
        "observations": observations,
        "numbers": {row.id: index for index, row in enumerate(observations, 1)},
        "files": report_files(database, report),
        "may_edit": seg.may_edit(actor, report), "may_submit": seg.may_submit(actor, report),
        "may_review": seg.may_review(actor, report),
        "may_answer": seg.is_rector_of(actor, ruta)
        and report.status is ReportStatus.DEVUELTO,
        "missing": seg.missing_by_field(database, report),
        "choices": seg.element_choices(database, report),
        "LineStatus": LineStatus,
        "ReportStatus": ReportStatus, "rule": SEMAFORO_RULE,
        "values": _values(report), "errors": {}, "posted": {}, "conflict": None,
        "undo": None, "reason_fields": None, **extra,
    }


@bp.get("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>")
@roles_required(*ALL_ROLES)
def report(ruta_id: int, report_id: int) -> str:
    ruta, found = _report(ruta_id, report_id)
    undo = session.get(UNDO_KEY)
    if undo is not None and undo.get("report") == found.id:
        session.pop(UNDO_KEY)
    else:
        undo = None
    return render_template("seguimiento/report.html", **_context(ruta, found, undo=undo))


def _uploads() -> list[Upload]:
    """The files chosen in the report's form (none chosen: an empty list)."""
    if posted_file() is None:  # parses the body; past the evidence limit, 413
        return []
    return [Upload(item.filename, item.stream) for item in request.files.getlist(FILE_FIELD)
            if item.filename]


def _chosen_note(uploads: list[Upload]) -> dict[str, list[str]]:
    if not uploads:
        return {}
    names = ", ".join(f"«{item.filename[-80:]}»" for item in uploads)
    return {FILE_FIELD: [f"Tampoco se adjuntó {names}: vuelva a elegir el archivo antes de "
                         "guardar."]}


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/guardar")
@form_upload_limits
@roles_required(*SCHOOL_EDITORS)
def save(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    """Save the report's values and attach the chosen files in one submit (multipart).

    A refusal re-draws the form with everything typed; a stale version (someone saved
    since the form was drawn) answers 409 with the person's values, what is saved beside
    each changed field, and the new version, so saving again works. Posted twice with one
    form token (double tap, back and «Guardar»), the files are attached once.
    """
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    form = posted_form()
    uploads = _uploads()
    token = form.get(form_tokens.FIELD)
    actor = _actor()
    if uploads and form_tokens.claim(database, token, user=actor) is not None:
        database.rollback()
        flash("Este formulario ya se había guardado con sus archivos: no se adjuntaron de "
              "nuevo.", "success")
        return _back(ruta, found, "evidencias")
    store = storage()
    try:
        added = save_with_files(database, store, found, form, uploads, actor=actor,
                                expected_version=_version(), limits=limits())
    except InvalidInput as invalid:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, errors=invalid.errors, values=form)), 422
    except StaleReport:
        database.rollback()
        database.refresh(found)
        saved = _values(found)
        posted = {**form, "version": saved.pop("version")}
        author = database.get(User, found.updated_by_id) if found.updated_by_id else None
        conflict = conflict_between(form, saved, author.name if author else "")
        # Beside a changed status, its label rather than its stored value.
        shown = {name: LineStatus(value).label if name.startswith("estado-") else value
                 for name, value in saved.items()}
        return render_template("seguimiento/report.html", **_context(
            ruta, found, values=posted, conflict=replace(conflict, saved=shown),
            errors=_chosen_note(uploads))), 409
    if added:
        form_tokens.record(database, token, f"follow_up_report:{found.id}")
    try:
        _commit()
    except BaseException:
        for row in added:
            store.delete(row.storage_key)
        raise
    names = ", ".join(f"«{row.display_name}»" for row in added)
    attached = f" Se adjuntó {names}." if added else ""
    flash(f"Guardado: el informe de seguimiento.{attached} Puede seguir completándolo o "
          "enviarlo.", "success")
    return redirect(url_for("seguimiento.report", ruta_id=ruta.id, report_id=found.id))


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/enviar")
@roles_required(Role.RECTOR)
def submit(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    try:
        seg.submit_report(database, found, actor=_actor(), expected_version=_version())
    except GuardFailed as refused:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, reasons=refused.reasons, error_message=refused.message,
            reason_fields=getattr(refused, "fields", None))), 422
    _commit()
    late = " Llegó después de la fecha del corte: quedará marcado como tardío." \
        if found.late else ""
    flash(f"Listo: el informe de «{found.checkpoint.name}» quedó enviado a la Secretaría.{late}",
          "success")
    return redirect(url_for("seguimiento.report", ruta_id=ruta.id, report_id=found.id))


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/reconocer")
@roles_required(Role.REVISOR)
def acknowledge(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    comment = request.form.get("comentario", "")[:FORM_LIMIT]
    try:
        seg.acknowledge(database, found, reviewer=_actor(), expected_version=_version(),
                        comment=comment)
    except GuardFailed as refused:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, reasons=refused.reasons, error_message=refused.message,
            posted={"comentario": comment})), 422
    except StaleReport as stale:
        # The comment stays; the page shows the report as it is now, with its new version.
        database.rollback()
        database.refresh(found)
        return render_template("seguimiento/report.html", **_context(
            ruta, found, reasons=[stale.message], error_message="No se dio por recibido",
            posted={"comentario": comment})), 409
    _commit()
    flash(f"Listo: dio por recibido el informe de «{found.checkpoint.name}».", "success")
    return redirect(url_for("seguimiento.report", ruta_id=ruta.id, report_id=found.id))


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/devolver")
@roles_required(Role.REVISOR)
def return_report(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    try:
        seg.return_report(database, found, reviewer=_actor(), expected_version=_version())
    except GuardFailed as refused:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, reasons=refused.reasons, error_message=refused.message)), 422
    _commit()
    flash("Listo: devolvió el informe con sus observaciones a la institución.", "success")
    return redirect(url_for("seguimiento.report", ruta_id=ruta.id, report_id=found.id))


# --- observations -------------------------------------------------------------------------


def _back(ruta: Ruta, found: FollowUpReport, anchor: str = "observaciones") -> Response:
    return redirect(url_for("seguimiento.report", ruta_id=ruta.id, report_id=found.id,
                            _anchor=anchor))


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/observaciones")
@roles_required(Role.REVISOR)
def add_observation(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    form = posted_form()
    token = form.get(form_tokens.FIELD)
    earlier = form_tokens.claim(database, token, user=_actor())
    if earlier is not None:
        # Posted twice (double tap, back and «Agregar» again): the first one added it.
        database.rollback()
        flash("Esta observación ya estaba agregada: no se agregó de nuevo.", "success")
        return _back(ruta, found)
    try:
        row = seg.add_observation(database, found, reviewer=_actor(),
                                  element=form.get("elemento", ""), text=form.get("texto", ""))
    except InvalidInput as invalid:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, errors=invalid.errors, posted=form)), 422
    form_tokens.record(database, token, f"follow_up_observation:{row.id}")
    _commit()
    flash("Observación agregada. Se envía a la institución cuando devuelva el informe.",
          "success")
    return _back(ruta, found)


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/observaciones/eliminar")
@roles_required(Role.REVISOR)
def delete_observation(ruta_id: int, report_id: int) -> Response | str:
    """Delete a draft observation, after a confirmation page (no JavaScript needed): the
    first post shows what will be deleted; only the post from that page deletes it."""
    ruta, found = _report(ruta_id, report_id)
    observation_id = required_form_id("observacion", "Elija la observación.")
    if request.form.get("confirmado") != "si":
        row = seg.observation_to_delete(db_session(), found, observation_id, reviewer=_actor())
        return render_template("seguimiento/confirm_delete.html", ruta=ruta, report=found,
                               row=row)
    row = seg.delete_observation(db_session(), found, observation_id, reviewer=_actor())
    undo = {"report": found.id, "elemento": row.element, "texto": row.text}
    _commit()
    session[UNDO_KEY] = undo
    flash("Observación eliminada.", "success")
    return _back(ruta, found)


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/observaciones/valorar")
@roles_required(Role.REVISOR)
def judge_observation(ruta_id: int, report_id: int) -> Response:
    ruta, found = _report(ruta_id, report_id)
    observation_id = required_form_id("observacion", "Elija la observación.")
    resolved = observations.parse_verdict(request.form.get("veredicto", ""))
    row = seg.judge_observation(db_session(), found, observation_id, reviewer=_actor(),
                                resolved=resolved)
    _commit()
    flash(f"La observación quedó «{row.status.label.lower()}».", "success")
    return _back(ruta, found, f"observacion-{row.id}")


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/observaciones/responder")
@roles_required(Role.RECTOR)
def answer_observation(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    observation_id = required_form_id("observacion", "Elija la observación.")
    text = request.form.get("respuesta", "")[:FORM_LIMIT]
    try:
        seg.answer_observation(database, found, observation_id, actor=_actor(), response=text)
    except InvalidInput as invalid:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, errors={f"respuesta-{observation_id}": invalid.errors["respuesta"]},
            posted={f"respuesta-{observation_id}": text})), 422
    _commit()
    flash("Respuesta guardada. Cuando responda todas, vuelva a enviar el informe.", "success")
    return _back(ruta, found, f"observacion-{observation_id}")


# --- evidence -----------------------------------------------------------------------------


@bp.post("/rutas/<int:ruta_id>/seguimiento/informes/<int:report_id>/evidencias")
@upload_limits
@roles_required(*SCHOOL_EDITORS)
def upload(ruta_id: int, report_id: int) -> Response | tuple[str, int]:
    ruta, found = _report(ruta_id, report_id)
    database = db_session()
    upload_file = posted_file()
    store = storage()
    try:
        if upload_file is None or not upload_file.filename:
            raise InvalidInput({"archivo": ["Elija el archivo que quiere adjuntar."]})
        added = attach_to_report(database, store, found, actor=_actor(),
                                 filename=upload_file.filename,
                                 stream=upload_file.stream, limits=limits())
    except (InvalidInput, evidence.TooLarge) as refused:
        database.rollback()
        return render_template("seguimiento/report.html", **_context(
            ruta, found, errors={FILE_FIELD: [refused.message]})), refused.status
    commit_upload(store, added)
    flash(f"Listo: se adjuntó «{added.display_name}» al informe.", "success")
    return _back(ruta, found, "evidencias")
