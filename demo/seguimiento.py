"""Demo seguimiento: every demo Ruta in ``seguimiento`` reports the checkpoints already past.

Written through the real services (open, save, send, observe, return, answer, acknowledge),
so every report passes the same checks a school's would. Some reports arrive late, some
actividades fall behind (yellow and red, with their reasons), one report was returned with an
observation that the rector answered and resent, and the newest report of each Ruta waits for
the Secretaría.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.dates import BOGOTA
from workflow.models import Ruta, RutaTransition, School, Secretaria, User, utcnow
from workflow.roles import Role
from workflow.seguimiento import reports as seg
from workflow.seguimiento.checkpoints import checkpoints_of
from workflow.seguimiento.models import FollowUpReport, LineStatus
from workflow.seguimiento.progress import planned_percent, reason_required
from workflow.states import State, Trigger

DIFICULTADES = [
    "Dos semanas sin clases por el paro del magisterio.",
    "Rotación de docentes en la sede rural.",
    "Conectividad intermitente en la sala de sistemas.",
]
RECURSOS = ["Horas de la jornada pedagógica y material impreso.",
            "Fondo de servicios educativos; apoyo de la Secretaría.",
            "Biblioteca escolar y aula de sistemas."]
RAZONES = ["El docente responsable estuvo incapacitado dos meses.",
           "Se reprogramó para el segundo semestre por el calendario de pruebas Saber.",
           "No llegaron a tiempo los recursos del fondo de servicios educativos."]
OBSERVATION = ("El avance informado no coincide con las actas adjuntas: aclare cuántos talleres "
               "se realizaron y adjunte las listas de asistencia.")
ANSWER = ("Se realizaron 6 de los 10 talleres previstos; adjuntamos las listas de asistencia "
          "y corregimos el avance.")


def _at(day: date, hour: int = 15) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=BOGOTA).astimezone(UTC)


def _form(session: Session, report: FollowUpReport, behind: int,
          number: int) -> dict[str, Any]:
    """Plausible values: on time, except ``behind`` points off on the first actividad."""
    due_on = report.checkpoint.due_on
    form: dict[str, Any] = {"dificultades": DIFICULTADES[number % len(DIFICULTADES)]}
    for index, actividad in enumerate(seg.actividades(session, report.ruta)):
        planned = planned_percent(actividad.fecha_inicio, actividad.fecha_fin, due_on) or 0
        avance = max(0.0, min(100.0, planned - (behind if index == 0 else -5)))
        avance = float(round(avance))
        status = (LineStatus.CUMPLIDA if avance >= 100 else
                  LineStatus.NO_INICIADA if avance == 0 else LineStatus.EN_CURSO)
        key = actividad.id
        form.update({f"avance-{key}": f"{avance:g}", f"estado-{key}": status.value,
                     f"recursos-{key}": RECURSOS[(number + index) % len(RECURSOS)],
                     f"costo-{key}": str(1_500_000 + 250_000 * number)})
        if reason_required(avance, status, planned):
            form[f"dificultades-{key}"] = DIFICULTADES[(number + 1) % len(DIFICULTADES)]
            form[f"razones-{key}"] = RAZONES[(number + index) % len(RAZONES)]
    for indicador in seg.indicadores(session, report.ruta):
        base = indicador.linea_base or 0
        form[f"valor-{indicador.id}"] = f"{base + 1.5 * (number + 1):g}"
    return form


def seed_demo_follow_up(session: Session, secretaria: Secretaria, *,
                        today: date | None = None) -> int:
    """Reports for the past checkpoints of every demo Ruta in seguimiento. Returns how many.

    ``today`` (default: today in Bogotá) decides which checkpoints are past. Flushes only.
    """
    today = today or utcnow().astimezone(BOGOTA).date()
    reviewers = list(session.scalars(select(User).where(
        User.secretaria_id == secretaria.id, User.role == Role.REVISOR, User.active)
        .order_by(User.id)))
    rutas = list(session.scalars(
        select(Ruta).join(Ruta.school).where(School.secretaria_id == secretaria.id,
                                             Ruta.state == State.SEGUIMIENTO)
        .order_by(Ruta.id)))
    written = 0
    returned_one = False
    for ruta_number, ruta in enumerate(rutas):
        rector = session.scalar(select(User).where(
            User.school_id == ruta.school_id, User.role == Role.RECTOR, User.active))
        reviewer = ruta.reviewer or (reviewers[0] if reviewers else None)
        if rector is None or reviewer is None:
            continue
        started = session.scalar(select(RutaTransition.at).where(
            RutaTransition.ruta_id == ruta.id,
            RutaTransition.trigger == Trigger.INICIAR_SEGUIMIENTO.value)
            .order_by(RutaTransition.id.desc()))
        start_day = started.astimezone(BOGOTA).date() if started else date.min
        points = [point for point in checkpoints_of(session, ruta)
                  if start_day <= point.due_on < today]
        for number, point in enumerate(points):
            report = seg.open_report(session, ruta, point.id, actor=rector, today=today,
                                     now=_at(point.due_on - timedelta(days=12)))
            # Every third report late; the second Ruta's first actividad falls behind.
            late = (ruta_number + number) % 3 == 1
            behind = 30 if ruta_number % 3 == 1 else (15 if number % 2 else 0)
            seg.save_report(session, report, _form(session, report, behind, number),
                            actor=rector, expected_version=report.version,
                            now=_at(point.due_on - timedelta(days=3)))
            sent_on = point.due_on + timedelta(days=6) if late else point.due_on - timedelta(2)
            seg.submit_report(session, report, actor=rector, expected_version=report.version,
                              now=_at(sent_on))
            written += 1
            last = number == len(points) - 1
            if not returned_one and number == 1:
                # Returned with an observation, answered and resent: it waits for the revisor.
                returned_one = True
                seg.add_observation(session, report, reviewer=reviewer, element="informe",
                                    text=OBSERVATION, now=_at(sent_on + timedelta(days=3)))
                seg.return_report(session, report, reviewer=reviewer,
                                  expected_version=report.version,
                                  now=_at(sent_on + timedelta(days=3), 16))
                seg.answer_observation(session, report, seg.observations(session, report)[0].id,
                                       actor=rector, response=ANSWER,
                                       now=_at(sent_on + timedelta(days=6)))
                seg.submit_report(session, report, actor=rector,
                                  expected_version=report.version,
                                  now=_at(sent_on + timedelta(days=6), 17))
                continue
            if not last:
                seg.acknowledge(session, report, reviewer=reviewer,
                                expected_version=report.version,
                                comment="Recibido. Avance coherente con el plan.",
                                now=_at(sent_on + timedelta(days=8)))
    session.flush()
    return written
