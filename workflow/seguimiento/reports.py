"""Seguimiento periódico: the school's report at each checkpoint of its horizon's calendar.

When an approved plan starts (its start date is the earliest ``fecha_inicio`` of its
actividades; the daily pass fires ``iniciar_seguimiento`` then, or a revisor does it by hand)
the Ruta is in ``seguimiento``. For every checkpoint of the calendar of the Ruta's Secretaría
and horizon (``FollowUpCheckpoint``) the school writes one report (UNIQUE (ruta, checkpoint)):

- per actividad of the approved plan: % de avance (0–100), status (no iniciada, en curso,
  cumplida, cancelada), difficulties, resources actually used (text and pesos) and the reasons
  for what was not done;
- per indicador: the value measured;
- evidence files (``workflow.seguimiento.evidence``: same types, limits and quota as the
  autoevaluación's; saved with the form's values in one go, ``save_with_files``);
- the general difficulties of the period.

Life of a report::

    borrador ──(rector: enviar)──▶ enviado ──(revisor: reconocer)──▶ reconocido
                                     │  ▲
                   (revisor: devolver│  │(rector answers every observation and resends)
                    with ≥ 1 obs.)   ▼  │
                                   devuelto

The rector and the equipo de gestión fill the report while it is ``borrador`` or ``devuelto``;
only the rector sends it (the equipo never submits, as everywhere in the Ruta). Observations
are itemized as in the PMI review: attached to an actividad, an indicador or the report as a
whole; drafts go to the school when the revisor returns the report; the rector answers each;
the revisor marks each resolved or still open, and acknowledgement is refused while any
observation is not resolved.

The rules live beside: the tables and lateness in ``workflow.seguimiento.models``, which
checkpoints can be reported in ``workflow.seguimiento.checkpoints``, the semáforo, the planned
% and the reasons required in ``workflow.seguimiento.progress``, the form's fields in
``workflow.seguimiento.form``, the evidence files in ``workflow.seguimiento.evidence``.

Services flush, never commit; the views commit once. Concurrent changes to one report are
caught by its version (``version_id_col``) and a row lock: the loser gets ``StaleReport`` (409).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from workflow import observations as life
from workflow import outbox
from workflow.errors import Forbidden, GuardFailed, InvalidInput, NotEditable, NotFound
from workflow.horizontes.calendar import fecha_corta
from workflow.models import Ruta, User, utcnow
from workflow.notifications import rector, reviewers, team
from workflow.observations import ObservationStatus
from workflow.pmi import takeover
from workflow.pmi.graph import plan_graph
from workflow.pmi.models import Actividad, Indicador
from workflow.pmi.plan import element_labels, numbered_labels
from workflow.roles import Role
from workflow.seguimiento.checkpoints import checkpoint_for, checkpoints_of, reportable_ids
from workflow.seguimiento.form import MAX_TEXT, Form, FormParser, parse_line
from workflow.seguimiento.models import (
    EDITABLE,
    REPORTING_STATES,
    FollowUpLine,
    FollowUpObservation,
    FollowUpReport,
    IndicatorValue,
    ReasonsByField,
    ReportStatus,
    StaleReport,
)
from workflow.seguimiento.plan_version import report_version, version_rows
from workflow.seguimiento.progress import Semaforo, planned_percent, semaforo

# --- reading ------------------------------------------------------------------------------


def actividades(session: Session, ruta: Ruta) -> list[Actividad]:
    """The plan's actividades, in the plan's order (by meta, then as written), read with the
    rest of the plan (``plan_graph``: one statement the page's other readers share)."""
    return sorted(plan_graph(session, ruta).actividades, key=lambda row: (row.meta_id, row.id))


def indicadores(session: Session, ruta: Ruta) -> list[Indicador]:
    return sorted(plan_graph(session, ruta).indicadores, key=lambda row: (row.meta_id, row.id))


def report_actividades(session: Session, report: FollowUpReport) -> list[Actividad]:
    """The actividades of the plan version the report is drawn from (``plan_version``)."""
    rows = version_rows(report_version(session, report), "actividades")
    return [row for row in actividades(session, report.ruta) if rows is None or row.id in rows]


def report_indicadores(session: Session, report: FollowUpReport) -> list[Indicador]:
    rows = version_rows(report_version(session, report), "indicadores")
    return [row for row in indicadores(session, report.ruta) if rows is None or row.id in rows]


def report_labels(session: Session, report: FollowUpReport) -> dict[str, str]:
    """"Actividad 1.1.2", numbered as in the plan version the report is drawn from."""
    snapshot = report_version(session, report)
    if snapshot is None:
        return actividad_labels(session, report.ruta)
    return element_labels(snapshot.content)


def report_for(session: Session, ruta_id: int, checkpoint_id: int) -> FollowUpReport | None:
    return session.scalar(select(FollowUpReport).where(
        FollowUpReport.ruta_id == ruta_id, FollowUpReport.checkpoint_id == checkpoint_id))


def get_report(session: Session, ruta: Ruta, report_id: int) -> FollowUpReport:
    """A report of ``ruta`` (already loaded in the actor's scope); 404 for any other."""
    found = session.get(FollowUpReport, report_id)
    if found is None or found.ruta_id != ruta.id:
        raise NotFound("No encontramos ese informe de seguimiento.")
    return found


@dataclass(frozen=True)
class LineView:
    """An actividad of the plan with what the report says of it (``line`` None: nothing yet).

    ``descripcion`` and the dates are the plan version's the report is drawn from."""

    actividad: Actividad
    label: str
    line: FollowUpLine | None
    planned: float | None
    descripcion: str = ""
    fecha_inicio: date | None = None
    fecha_fin: date | None = None

    @property
    def light(self) -> Semaforo | None:
        if self.line is None:
            return None
        return semaforo(self.line.avance, self.line.status, self.planned)


def actividad_labels(session: Session, ruta: Ruta) -> dict[str, str]:
    """"Actividad 1.1.2" and "Indicador 1.1.1", as the PMI numbers them."""
    return numbered_labels(session, ruta)


def line_views(session: Session, report: FollowUpReport,
               labels: Mapping[str, str] | None = None) -> list[LineView]:
    labels = labels if labels is not None else report_labels(session, report)
    lines = {line.actividad_id: line for line in report.lines}
    due_on = report.checkpoint.due_on
    rows = version_rows(report_version(session, report), "actividades") or {}
    views = []
    for row in report_actividades(session, report):
        shown = rows.get(row.id, {})
        inicio = _day(shown["fecha_inicio"]) if "fecha_inicio" in shown else row.fecha_inicio
        fin = _day(shown["fecha_fin"]) if "fecha_fin" in shown else row.fecha_fin
        views.append(LineView(
            actividad=row, label=labels.get(f"actividad:{row.id}", "Actividad"),
            line=lines.get(row.id), planned=planned_percent(inicio, fin, due_on),
            descripcion=shown.get("descripcion", row.descripcion), fecha_inicio=inicio,
            fecha_fin=fin))
    return views


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def observations(session: Session, report: FollowUpReport) -> list[FollowUpObservation]:
    return list(session.scalars(select(FollowUpObservation)
                                .where(FollowUpObservation.report_id == report.id)
                                .order_by(FollowUpObservation.id)))


# --- who may do what ----------------------------------------------------------------------


def is_rector_of(actor: User, ruta: Ruta) -> bool:
    return actor.active and actor.role is Role.RECTOR and actor.school_id == ruta.school_id


def is_school_editor(actor: User, ruta: Ruta) -> bool:
    """The rector and the equipo de gestión of the Ruta's school fill the report."""
    return (actor.active and actor.role in (Role.RECTOR, Role.EQUIPO)
            and actor.school_id == ruta.school_id)


def may_edit(actor: User, report: FollowUpReport) -> bool:
    return (is_school_editor(actor, report.ruta) and report.status in EDITABLE
            and report.ruta.state in REPORTING_STATES)


def may_submit(actor: User, report: FollowUpReport) -> bool:
    return may_edit(actor, report) and is_rector_of(actor, report.ruta)


def may_review(actor: User, report: FollowUpReport) -> bool:
    return (actor.active and actor.role is Role.REVISOR
            and report.status is ReportStatus.ENVIADO
            and report.ruta.state in REPORTING_STATES
            and takeover.holder_refusal(report.ruta, actor) is None)


def _lock(session: Session, report: FollowUpReport, expected_version: int | None) -> None:
    """Lock the report's row (PostgreSQL) and reload it; a changed version is a conflict."""
    session.scalars(select(FollowUpReport).where(FollowUpReport.id == report.id)
                    .with_for_update().execution_options(populate_existing=True)).one()
    if expected_version is not None and report.version != expected_version:
        raise StaleReport()


def require_editable(session: Session, report: FollowUpReport, actor: User,
                     expected_version: int | None = None) -> None:
    """The actor may change the report's content now (also used for its evidence files)."""
    if not is_school_editor(actor, report.ruta):
        raise Forbidden("El informe de seguimiento lo diligencian el rector o la rectora y el "
                        "equipo de gestión de la institución.")
    _lock(session, report, expected_version)
    if report.ruta.state not in REPORTING_STATES:
        raise NotEditable("Los informes de seguimiento se diligencian mientras la Ruta está en "
                          "«Seguimiento periódico».")
    if report.status not in EDITABLE:
        raise NotEditable(f"Este informe ya fue enviado a la Secretaría («{report.status.label}»)"
                          ": no se puede modificar. Si la Secretaría lo devuelve, podrá "
                          "corregirlo.")


def _require_reviewer(session: Session, report: FollowUpReport, actor: User,
                      expected_version: int | None = None) -> None:
    if not (actor.active and actor.role is Role.REVISOR):
        raise Forbidden("Solo los revisores de la Dirección de Calidad revisan los informes de "
                        "seguimiento.")
    # The Ruta's reviewer holds its reports too (``workflow.pmi.takeover``).
    refusal = takeover.holder_refusal(report.ruta, actor)
    if refusal is not None:
        raise Forbidden(refusal)
    _lock(session, report, expected_version)
    if report.ruta.state not in REPORTING_STATES or report.status is not ReportStatus.ENVIADO:
        raise NotEditable("Este informe no espera revisión: se revisa cuando la institución lo "
                          f"envía (está «{report.status.label}»).")


def _touch(session: Session, report: FollowUpReport, actor: User | None,
           now: datetime) -> None:
    report.updated_at = now
    report.updated_by_id = actor.id if actor else None
    try:
        session.flush()
    except StaleDataError:
        raise StaleReport() from None


# --- opening a report ---------------------------------------------------------------------


def open_report(session: Session, ruta: Ruta, checkpoint_id: int | None, *, actor: User,
                today: date, now: datetime | None = None) -> FollowUpReport:
    """The report of ``ruta`` for the checkpoint, created as a draft when there is none.

    Idempotent, also when two people open it at once (INSERT … ON CONFLICT DO NOTHING).
    Flushes.
    """
    if not is_school_editor(actor, ruta):
        raise Forbidden("El informe de seguimiento lo diligencian el rector o la rectora y el "
                        "equipo de gestión de la institución.")
    checkpoint = checkpoint_for(session, ruta, checkpoint_id)
    existing = report_for(session, ruta.id, checkpoint.id)
    if existing is not None:
        return existing
    if ruta.state not in REPORTING_STATES:
        raise NotEditable("Los informes de seguimiento se diligencian cuando la Ruta está en "
                          f"«Seguimiento periódico»; ahora está en «{ruta.state.label}».")
    if checkpoint.id not in reportable_ids(checkpoints_of(session, ruta), today):
        raise NotEditable(
            f"El corte «{checkpoint.name}» es el {fecha_corta(checkpoint.due_on)}: todavía no "
            "se puede informar. Se informan los cortes cuya fecha llegó y el siguiente.")
    moment = now or utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    session.execute(insert(FollowUpReport).values(
        ruta_id=ruta.id, checkpoint_id=checkpoint.id, status=ReportStatus.BORRADOR,
        dificultades="", submissions=0, acknowledgement="", created_at=moment,
        updated_at=moment, updated_by_id=actor.id, version=1,
    ).on_conflict_do_nothing(index_elements=["ruta_id", "checkpoint_id"]))
    found = report_for(session, ruta.id, checkpoint.id)
    assert found is not None
    return found


# --- saving the form ----------------------------------------------------------------------


def save_report(session: Session, report: FollowUpReport, form: Form, *, actor: User,
                expected_version: int | None, now: datetime | None = None) -> FollowUpReport:
    """Save the whole form: every actividad's line, every indicador's value, the general
    difficulties. All or nothing: ``InvalidInput`` before anything changes. Flushes."""
    require_editable(session, report, actor, expected_version)
    labels = report_labels(session, report)
    parse = FormParser(form)
    due_on = report.checkpoint.due_on
    parsed_lines = {}
    for actividad in report_actividades(session, report):
        label = labels.get(f"actividad:{actividad.id}", "actividad").lower()
        values = parse_line(parse, actividad, label, due_on)
        if values is not None:
            parsed_lines[actividad.id] = values
    parsed_values = {}
    for indicador in report_indicadores(session, report):
        label = labels.get(f"indicador:{indicador.id}", "indicador").lower()
        valor = parse.number(f"valor-{indicador.id}", f"el valor medido del {label}")
        comentario = parse.text(f"comentario-{indicador.id}", f"el comentario del {label}")
        parsed_values[indicador.id] = {"valor": valor, "comentario": comentario}
    dificultades = parse.text("dificultades", "las dificultades generales")
    if parse.errors:
        raise InvalidInput(parse.errors)
    lines = {line.actividad_id: line for line in report.lines}
    for actividad_id, values in parsed_lines.items():
        line = lines.get(actividad_id)
        if line is None:
            line = FollowUpLine(actividad_id=actividad_id, **values)
            report.lines.append(line)
        else:
            for name, value in values.items():
                setattr(line, name, value)
    stored = {value.indicador_id: value for value in report.values}
    for indicador_id, values in parsed_values.items():
        row = stored.get(indicador_id)
        if row is None:
            report.values.append(IndicatorValue(indicador_id=indicador_id, **values))
        else:
            row.valor, row.comentario = values["valor"], values["comentario"]
    report.dificultades = dificultades
    _touch(session, report, actor, now or utcnow())
    return report


# --- sending, acknowledging, returning ----------------------------------------------------


def missing_by_field(session: Session, report: FollowUpReport) -> dict[str, list[str]]:
    """What keeps the report from being sent, keyed by the id of the field that fixes it
    (an actividad's % de avance, an observation's answer)."""
    reasons: dict[str, list[str]] = {}
    labels = report_labels(session, report)
    reported = {line.actividad_id for line in report.lines}
    for actividad in report_actividades(session, report):
        if actividad.id not in reported:
            label = labels.get(f"actividad:{actividad.id}", "Actividad")
            reasons[f"avance-{actividad.id}"] = [
                f"Falta informar la {label.lower()}: guarde el formulario con su avance y su "
                "estado."]
    for row in observations(session, report):
        if row.status in life.UNANSWERED:
            reasons[f"respuesta-{row.id}"] = [
                f"Falta responder la observación sobre «{row.element_label}»."]
    return reasons


def missing_for_submission(session: Session, report: FollowUpReport) -> list[str]:
    """What keeps the report from being sent, in plain words (empty: it can be sent)."""
    return [text for texts in missing_by_field(session, report).values() for text in texts]


def _school_addressees(session: Session, ruta: Ruta) -> tuple[list[str], list[str]]:
    to, cc = rector(session, ruta.school_id), team(session, ruta.school_id)
    return (to, cc) if to else (cc, [])


def _reviewer_addressees(session: Session, ruta: Ruta) -> list[str]:
    if ruta.reviewer is not None and ruta.reviewer.active:
        return [ruta.reviewer.email]
    return reviewers(session, ruta.school.secretaria_id)


def _context(session: Session, report: FollowUpReport, actor: User | None,
             at: datetime, **extra: Any) -> dict[str, Any]:
    ruta = report.ruta
    return {
        "school_name": ruta.school.name, "dane_code": ruta.school.dane_code,
        "secretaria_name": ruta.school.secretaria.name, "horizon": ruta.horizon_label,
        "checkpoint_name": report.checkpoint.name,
        "checkpoint_date": fecha_corta(report.checkpoint.due_on),
        "report_url": outbox.absolute_url(
            session, f"/rutas/{ruta.id}/seguimiento/informes/{report.id}"),
        "ruta_url": outbox.absolute_url(session, f"/rutas/{ruta.id}"),
        "actor_name": actor.name if actor is not None else None, "at": at,
        "late": report.late, **extra,
    }


def _mail(session: Session, report: FollowUpReport, kind: str, to: list[str], cc: list[str],
          context: dict[str, Any], now: datetime) -> None:
    if not to:
        return
    outbox.enqueue(session, kind=kind, to=to, cc=cc, context=context,
                   dedupe_key=f"seguimiento:{report.id}:{kind}:{report.version}",
                   secretaria_id=report.ruta.school.secretaria_id, ruta_id=report.ruta_id,
                   now=now)


def submit_report(session: Session, report: FollowUpReport, *, actor: User,
                  expected_version: int | None, now: datetime | None = None) -> FollowUpReport:
    """borrador/devuelto → enviado, by the rector. Mails the revisor(es). Flushes."""
    if not is_rector_of(actor, report.ruta):
        raise Forbidden("Solo el rector o la rectora envía el informe de seguimiento a la "
                        "Secretaría.")
    require_editable(session, report, actor, expected_version)
    reasons = missing_by_field(session, report)
    if reasons:
        raise ReasonsByField("Todavía no se puede enviar el informe de seguimiento.", reasons)
    # Read before any change: a query would flush the report (one version bump per save).
    drawn_from = report_version(session, report)
    moment = now or utcnow()
    resent = report.submitted_at is not None
    report.status = ReportStatus.ENVIADO
    if report.submitted_at is None:
        report.submitted_at, report.submitted_by_id = moment, actor.id
    if report.pmi_snapshot_id is None and drawn_from is not None:
        # Sent: from now on it keeps the plan version it was drawn from (``plan_version``).
        report.pmi_snapshot_id = drawn_from.id
    report.last_submitted_at = moment
    report.submissions += 1
    _touch(session, report, actor, moment)
    _mail(session, report, "seguimiento_informe_enviado",
          _reviewer_addressees(session, report.ruta), [],
          _context(session, report, actor, moment, resent=resent,
                   answered=[{"element": row.element_label, "text": row.text,
                              "response": row.response or ""}
                             for row in observations(session, report)
                             if row.status is ObservationStatus.RESPONDIDA]), moment)
    return report


def acknowledge(session: Session, report: FollowUpReport, *, reviewer: User,
                expected_version: int | None, comment: str = "",
                now: datetime | None = None) -> FollowUpReport:
    """enviado → reconocido, by a revisor; refused while any observation is not resolved."""
    _require_reviewer(session, report, reviewer, expected_version)
    open_rows = [row for row in observations(session, report) if row.is_open]
    if open_rows:
        raise GuardFailed(
            "Todavía no se puede dar por recibido el informe.",
            [f"La observación sobre «{row.element_label}» no está resuelta "
             f"({row.status.label.lower()}): márquela resuelta, o devuelva el informe."
             for row in open_rows])
    cleaned = comment.strip()
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput({"comentario": [f"El comentario no puede pasar de {MAX_TEXT} "
                                           "caracteres."]})
    moment = now or utcnow()
    report.status = ReportStatus.RECONOCIDO
    report.acknowledged_at, report.acknowledged_by_id = moment, reviewer.id
    report.acknowledgement = cleaned
    _touch(session, report, reviewer, moment)
    to, cc = _school_addressees(session, report.ruta)
    _mail(session, report, "seguimiento_informe_reconocido", to, cc,
          _context(session, report, reviewer, moment, comment=cleaned), moment)
    return report


def return_report(session: Session, report: FollowUpReport, *, reviewer: User,
                  expected_version: int | None,
                  now: datetime | None = None) -> FollowUpReport:
    """enviado → devuelto, with at least one observation (new drafts or still open ones)."""
    _require_reviewer(session, report, reviewer, expected_version)
    rows = [row for row in observations(session, report) if row.status in life.TO_SEND]
    if not rows:
        raise GuardFailed("Todavía no se puede devolver el informe.",
                          ["Escriba al menos una observación (sobre una actividad, un "
                           "indicador o el informe en general) antes de devolverlo."])
    moment = now or utcnow()
    life.send(rows, moment)
    report.status = ReportStatus.DEVUELTO
    report.returned_at = moment
    _touch(session, report, reviewer, moment)
    to, cc = _school_addressees(session, report.ruta)
    _mail(session, report, "seguimiento_informe_devuelto", to, cc,
          _context(session, report, reviewer, moment,
                   observations=[{"element": row.element_label, "text": row.text}
                                 for row in rows]), moment)
    return report


# --- observations -------------------------------------------------------------------------


def element_choices(session: Session, report: FollowUpReport) -> dict[str, str]:
    """What an observation can be about: the report as a whole, each actividad, each
    indicador (value → label)."""
    labels = report_labels(session, report)
    choices = {"informe": "El informe en general"}
    for actividad in report_actividades(session, report):
        choices[f"actividad:{actividad.id}"] = labels.get(f"actividad:{actividad.id}",
                                                          "Actividad")
    for indicador in report_indicadores(session, report):
        name = labels.get(f"indicador:{indicador.id}", "Indicador")
        choices[f"indicador:{indicador.id}"] = f"{name}: {indicador.nombre}"[:120]
    return choices


def _observation(session: Session, report: FollowUpReport,
                 observation_id: int | None) -> FollowUpObservation:
    found = session.get(FollowUpObservation, observation_id) \
        if observation_id is not None else None
    if found is None or found.report_id != report.id:
        raise NotFound("No encontramos esa observación.")
    return found


def add_observation(session: Session, report: FollowUpReport, *, reviewer: User,
                    element: str, text: str, now: datetime | None = None
                    ) -> FollowUpObservation:
    """A draft observation (sent to the school when the report is returned). Flushes."""
    _require_reviewer(session, report, reviewer)
    choices = element_choices(session, report)
    errors: dict[str, list[str]] = {}
    if element not in choices:
        errors["elemento"] = ["Elija a qué se refiere la observación: una actividad, un "
                              "indicador o «El informe en general»."]
    problem = life.text_problem(
        text, noun="La observación",
        empty="Escriba la observación: qué debe corregir o aclarar la institución.")
    if problem:
        errors["texto"] = [problem]
    if errors:
        raise InvalidInput(errors)
    row = FollowUpObservation(report_id=report.id, element=element,
                              element_label=choices[element][:120], text=text.strip(),
                              status=ObservationStatus.BORRADOR, author_id=reviewer.id,
                              created_at=now or utcnow())
    session.add(row)
    session.flush()
    return row


def observation_to_delete(session: Session, report: FollowUpReport,
                          observation_id: int | None, *, reviewer: User) -> FollowUpObservation:
    """The draft observation a revisor is about to delete (what the confirmation shows);
    the same refusals as ``delete_observation``. Writes nothing."""
    _require_reviewer(session, report, reviewer)
    row = _observation(session, report, observation_id)
    life.require_draft(row)
    return row


def delete_observation(session: Session, report: FollowUpReport, observation_id: int | None,
                       *, reviewer: User) -> FollowUpObservation:
    """Delete a draft observation (never sent to the school). Returns the deleted row, whose
    element and text can add it again (the page's «Deshacer»). Flushes."""
    row = observation_to_delete(session, report, observation_id, reviewer=reviewer)
    session.delete(row)
    session.flush()
    return row


def judge_observation(session: Session, report: FollowUpReport, observation_id: int | None,
                      *, reviewer: User, resolved: bool,
                      now: datetime | None = None) -> FollowUpObservation:
    _require_reviewer(session, report, reviewer)
    row = _observation(session, report, observation_id)
    life.judge(row, reviewer=reviewer, resolved=resolved, now=now)
    session.flush()
    return row


def answer_observation(session: Session, report: FollowUpReport, observation_id: int | None,
                       *, actor: User, response: str,
                       now: datetime | None = None) -> FollowUpObservation:
    """The rector's answer to an observation of a returned report. Flushes."""
    if not is_rector_of(actor, report.ruta):
        raise Forbidden("Solo el rector o la rectora responde las observaciones de la "
                        "Secretaría.")
    _lock(session, report, None)
    if report.status is not ReportStatus.DEVUELTO:
        raise NotEditable("Las observaciones se responden cuando la Secretaría devuelve el "
                          "informe, antes de volver a enviarlo.")
    row = _observation(session, report, observation_id)
    life.answer(row, actor=actor, response=response, now=now,
                empty="Escriba la respuesta: qué corrigió la institución o qué aclara.")
    session.flush()
    return row
