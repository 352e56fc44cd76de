"""How far the Rutas are in their seguimiento: the semáforo of an actividad, when a plan
starts (the daily pass starts its seguimiento), whether a Ruta reported a checkpoint (the
reminders ask), the progress of many Rutas at once (the consolidado's column) and the export
rows of every report sent.

**Semáforo** of an actividad at a checkpoint (``semaforo``):

- planned % = the elapsed share of the actividad's ``fecha_inicio``..``fecha_fin`` at the
  checkpoint's date (0 before it starts, 100 from its end on; an actividad of one day is 100
  from that day);
- *cancelada*: shown apart, never green nor red;
- *verde*: cumplida, or actual ≥ planned − 10 points;
- *amarillo*: actual ≥ planned − 25 points (behind by more than 10, at most 25);
- *rojo*: behind by more than 25 points;
- *sin cronograma*: the actividad has no dates, so nothing is planned to compare with.

Reasons for what was not done are required when the actividad is cancelada, when it is no
iniciada although it should have started (planned > 0), and when it is behind schedule
(amarillo or rojo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import Ruta, School
from workflow.plain_rows import plain_rows
from workflow.pmi.graph import plan_graph_of
from workflow.pmi.models import Actividad, Indicador, Meta
from workflow.seguimiento.models import (
    SUBMITTED,
    FollowUpLine,
    FollowUpReport,
    IndicatorValue,
    LineStatus,
    bogota_day,
    is_late,
)
from workflow.states import State

# Points behind the planned progress still shown green, and the limit of yellow.
GREEN_TOLERANCE: Final = 10.0
YELLOW_TOLERANCE: Final = 25.0
# Rutas per query in the batched readers (IN lists stay small on both databases).
BATCH: Final = 500


class Semaforo(StrEnum):
    VERDE = "verde"
    AMARILLO = "amarillo"
    ROJO = "rojo"
    CANCELADA = "cancelada"
    SIN_CRONOGRAMA = "sin_cronograma"

    @property
    def label(self) -> str:
        return SEMAFORO_LABELS[self]


SEMAFORO_LABELS: Final = {
    Semaforo.VERDE: "Verde: al día",
    Semaforo.AMARILLO: "Amarillo: algo atrasada",
    Semaforo.ROJO: "Rojo: atrasada",
    Semaforo.CANCELADA: "Cancelada",
    Semaforo.SIN_CRONOGRAMA: "Sin cronograma",
}
SEMAFORO_RULE: Final = (
    "El avance esperado es la parte del tiempo de la actividad (de su fecha de inicio a su "
    "fecha de terminación) transcurrida en la fecha del corte. Verde: cumplida, o con un "
    f"avance de hasta {GREEN_TOLERANCE:g} puntos por debajo del esperado. Amarillo: entre "
    f"{GREEN_TOLERANCE:g} y {YELLOW_TOLERANCE:g} puntos por debajo. Rojo: más de "
    f"{YELLOW_TOLERANCE:g} puntos por debajo. Las actividades canceladas se muestran aparte.")


# --- the rules, as pure functions ---------------------------------------------------------


def planned_percent(inicio: date | None, fin: date | None, at: date) -> float | None:
    """The share of the actividad's time elapsed at ``at``, 0–100; None without dates."""
    if inicio is None or fin is None:
        return None
    if at < inicio:
        return 0.0
    if at >= fin:
        return 100.0
    return round(100.0 * (at - inicio).days / (fin - inicio).days, 1)


def semaforo(avance: float, status: LineStatus, planned: float | None) -> Semaforo:
    """The light of one actividad (rule in the module's docstring)."""
    if status is LineStatus.CANCELADA:
        return Semaforo.CANCELADA
    if status is LineStatus.CUMPLIDA:
        return Semaforo.VERDE
    if planned is None:
        return Semaforo.SIN_CRONOGRAMA
    if avance >= planned - GREEN_TOLERANCE:
        return Semaforo.VERDE
    if avance >= planned - YELLOW_TOLERANCE:
        return Semaforo.AMARILLO
    return Semaforo.ROJO


def reason_required(avance: float, status: LineStatus, planned: float | None) -> bool:
    """Whether the school must say why (see the module's docstring)."""
    if status is LineStatus.CANCELADA:
        return True
    if status is LineStatus.NO_INICIADA and (planned or 0) > 0:
        return True
    return semaforo(avance, status, planned) in (Semaforo.AMARILLO, Semaforo.ROJO)


# --- when the plan starts -----------------------------------------------------------------


def plan_start(session: Session, ruta_id: int) -> date | None:
    """The plan's start date: the earliest ``fecha_inicio`` of its actividades."""
    # From the plan's one statement, which the page's other readers share.
    return min((row.fecha_inicio for row in plan_graph_of(session, ruta_id).actividades
                if row.fecha_inicio is not None), default=None)


def plan_starts(session: Session, ruta_ids: Sequence[int]) -> dict[int, date]:
    found: dict[int, date] = {}
    for chunk in _chunks(ruta_ids):
        for ruta_id, start in session.execute(
                select(Actividad.ruta_id, func.min(Actividad.fecha_inicio))
                .where(Actividad.ruta_id.in_(chunk), Actividad.fecha_inicio.is_not(None))
                .group_by(Actividad.ruta_id)):
            found[ruta_id] = start
    return found


def rutas_due_to_start(session: Session, today: date) -> list[int]:
    """Approved Rutas whose plan has started by ``today``: the daily pass starts them."""
    starts = (select(Actividad.ruta_id, func.min(Actividad.fecha_inicio).label("start"))
              .group_by(Actividad.ruta_id).subquery())
    return list(session.scalars(
        select(Ruta.id).join(starts, starts.c.ruta_id == Ruta.id)
        .where(Ruta.state == State.APROBADO, starts.c.start <= today).order_by(Ruta.id)))


# --- whether a Ruta reported a checkpoint -------------------------------------------------


def has_report(session: Session, ruta_id: int, checkpoint_id: int) -> bool:
    """Whether the Ruta reported the checkpoint: a report sent at least once (sent,
    acknowledged, or returned for corrections) counts; a draft does not."""
    return session.scalar(select(FollowUpReport.id).where(
        FollowUpReport.ruta_id == ruta_id, FollowUpReport.checkpoint_id == checkpoint_id,
        FollowUpReport.status.in_(list(SUBMITTED)))) is not None


def reported_ruta_ids(session: Session, checkpoint_id: int) -> set[int]:
    """The Rutas that reported ``checkpoint_id`` (by ``has_report``'s rule), in one query."""
    return set(session.scalars(select(FollowUpReport.ruta_id).where(
        FollowUpReport.checkpoint_id == checkpoint_id,
        FollowUpReport.status.in_(list(SUBMITTED)))))


# --- consolidated progress (the Secretaría's view) -----------------------------------------


@dataclass(frozen=True)
class FollowUpProgress:
    # Average % de avance (canceladas left out) of the latest report sent.
    percent: float | None
    # Checkpoints reported (sent at least once) and checkpoints due by ``today``.
    reports: int
    due: int
    late: int
    # Actividades in red in the latest report sent.
    behind: int
    label: str


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), BATCH):
        yield unique[start:start + BATCH]


def progress_label(percent: float | None, reports: int, due: int, late: int,
                   behind: int) -> str:
    if percent is None and reports == 0 and due == 0:
        return "Sin cortes vencidos"
    parts = [f"{percent:.0f} % de avance" if percent is not None else "Sin informes",
             f"{reports} de {due} informe{'s' if due != 1 else ''}"]
    if late:
        parts.append(f"{late} tarde")
    if behind:
        parts.append(f"{behind} en rojo")
    return " · ".join(parts)


def progress_by_ruta(session: Session, ruta_ids: Sequence[int], *,
                     today: date) -> dict[int, FollowUpProgress]:
    """The seguimiento progress of each Ruta, in a few queries per 500 Rutas.

    Rutas that never reached ``seguimiento`` have nothing due. ``due`` counts the
    checkpoints of the Ruta's calendar dated from the plan's start to ``today``.
    """
    calendars: dict[tuple[int, int], list[tuple[int, date]]] = {}
    for secretaria_id, start_year, point_id, due_on in session.execute(
            select(HorizonCalendar.secretaria_id,
                   HorizonCalendar.horizon_start_year, FollowUpCheckpoint.id,
                   FollowUpCheckpoint.due_on)
            .join(FollowUpCheckpoint, FollowUpCheckpoint.calendar_id == HorizonCalendar.id)):
        calendars.setdefault((secretaria_id, start_year), []).append((point_id, due_on))
    result: dict[int, FollowUpProgress] = {}
    for chunk in _chunks(ruta_ids):
        rutas = session.execute(
            select(Ruta.id, Ruta.state, Ruta.horizon_start_year, School.secretaria_id)
            .join(School, School.id == Ruta.school_id).where(Ruta.id.in_(chunk))).all()
        starts = plan_starts(session, chunk)
        reports: dict[int, list[tuple[int, date, datetime]]] = {}
        for report_id, ruta_id, due_on, submitted_at in session.execute(
                select(FollowUpReport.id, FollowUpReport.ruta_id, FollowUpCheckpoint.due_on,
                       FollowUpReport.submitted_at)
                .join(FollowUpCheckpoint, FollowUpCheckpoint.id == FollowUpReport.checkpoint_id)
                .where(FollowUpReport.ruta_id.in_(chunk),
                       FollowUpReport.status.in_(list(SUBMITTED)))):
            reports.setdefault(ruta_id, []).append((report_id, due_on, submitted_at))
        latest = {ruta_id: max(rows, key=lambda row: (row[1], row[0]))
                  for ruta_id, rows in reports.items()}
        lines: dict[int, list[tuple[float, LineStatus, float | None]]] = {}
        if latest:
            due_by_report = {row[0]: row[1] for row in latest.values()}
            for report_id, avance, status, inicio, fin in session.execute(
                    select(FollowUpLine.report_id, FollowUpLine.avance, FollowUpLine.status,
                           Actividad.fecha_inicio, Actividad.fecha_fin)
                    .join(Actividad, Actividad.id == FollowUpLine.actividad_id)
                    .where(FollowUpLine.report_id.in_(list(due_by_report)))):
                lines.setdefault(report_id, []).append(
                    (avance, status, planned_percent(inicio, fin, due_by_report[report_id])))
        for ruta_id, state, start_year, secretaria_id in rutas:
            sent = reports.get(ruta_id, [])
            due = 0
            if state in (State.SEGUIMIENTO, State.CERRADO):
                start = starts.get(ruta_id)
                due = sum(1 for _, due_on in calendars.get((secretaria_id, start_year), [])
                          if due_on <= today and (start is None or due_on >= start))
            percent: float | None = None
            behind = 0
            if ruta_id in latest:
                rows = lines.get(latest[ruta_id][0], [])
                counted = [avance for avance, status, _ in rows
                           if status is not LineStatus.CANCELADA]
                percent = round(sum(counted) / len(counted), 1) if counted else None
                behind = sum(1 for avance, status, planned in rows
                             if semaforo(avance, status, planned) is Semaforo.ROJO)
            late = sum(1 for _, due_on, submitted_at in sent if is_late(submitted_at, due_on))
            result[ruta_id] = FollowUpProgress(
                percent=percent, reports=len(sent), due=due, late=late, behind=behind,
                label=progress_label(percent, len(sent), due, late, behind))
    return result


# --- exports ------------------------------------------------------------------------------

EXPORT_HEADER: Final[tuple[str, ...]] = (
    "Código DANE", "Institución", "Corte", "Fecha del corte", "Estado del informe",
    "Enviado el", "Enviado tarde", "Actividad", "% de avance", "Estado de la actividad",
    "Avance esperado (%)", "Semáforo", "Dificultades", "Recursos usados",
    "Costo ejecutado (pesos)", "Razones de lo no realizado",
)
INDICATOR_EXPORT_HEADER: Final[tuple[str, ...]] = (
    "Código DANE", "Institución", "Corte", "Fecha del corte", "Estado del informe",
    "Indicador", "Unidad", "Línea base", "Meta del año", "Valor medido", "Comentario",
)


def _yes_no(value: bool) -> str:
    return "Sí" if value else "No"


def _of_sent_reports(statement: Select[Any], report_id: Any,
                     chunk: Sequence[int]) -> Select[Any]:
    """``statement`` (over rows with a ``report_id``) narrowed to the reports sent by the
    Rutas of ``chunk`` (drafts are the school's, not exported), joined with their checkpoint,
    Ruta and school."""
    return (statement
            .join(FollowUpReport, FollowUpReport.id == report_id)
            .join(FollowUpCheckpoint, FollowUpCheckpoint.id == FollowUpReport.checkpoint_id)
            .join(Ruta, Ruta.id == FollowUpReport.ruta_id)
            .join(School, School.id == Ruta.school_id)
            .where(FollowUpReport.ruta_id.in_(chunk),
                   FollowUpReport.status.in_(list(SUBMITTED))))


def _sent_lines(chunk: Sequence[int], *columns: Any) -> Select[Any]:
    """The actividad lines of the reports sent by the Rutas of ``chunk``."""
    return _of_sent_reports(
        select(*columns).select_from(FollowUpLine)
        .join(Actividad, Actividad.id == FollowUpLine.actividad_id),
        FollowUpLine.report_id, chunk)


def _sent_values(chunk: Sequence[int], *columns: Any) -> Select[Any]:
    """The indicator values of the reports sent by the Rutas of ``chunk``."""
    return _of_sent_reports(
        select(*columns).select_from(IndicatorValue)
        .join(Indicador, Indicador.id == IndicatorValue.indicador_id)
        .join(Meta, Meta.id == Indicador.meta_id),
        IndicatorValue.report_id, chunk)


def _counted(session: Session, ruta_ids: Sequence[int],
             rows_of: Callable[..., Select[Any]]) -> int:
    return sum(session.scalar(rows_of(chunk, func.count())) or 0
               for chunk in _chunks(ruta_ids))


def export_row_count(session: Session, ruta_ids: Sequence[int]) -> int:
    """How many rows ``export_rows`` yields, counted by the database (a progress bar's
    total without reading the rows twice)."""
    return _counted(session, ruta_ids, _sent_lines)


def indicator_export_row_count(session: Session, ruta_ids: Sequence[int]) -> int:
    """How many rows ``indicator_export_rows`` yields, counted by the database."""
    return _counted(session, ruta_ids, _sent_values)


def export_rows(session: Session, ruta_ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """One row per actividad of every report sent (drafts are the school's, not exported),
    in the order of ``EXPORT_HEADER``; read 500 Rutas at a time."""
    for chunk in _chunks(ruta_ids):
        statement = _sent_lines(
            chunk, School.dane_code, School.name, FollowUpCheckpoint.name,
            FollowUpCheckpoint.due_on, FollowUpReport.status, FollowUpReport.submitted_at,
            Actividad.descripcion, Actividad.fecha_inicio, Actividad.fecha_fin,
            FollowUpLine.avance, FollowUpLine.status, FollowUpLine.dificultades,
            FollowUpLine.recursos, FollowUpLine.costo, FollowUpLine.razones,
        ).order_by(School.dane_code, FollowUpCheckpoint.due_on, Actividad.meta_id, Actividad.id)
        for (dane, school, checkpoint, due_on, report_status, submitted_at, descripcion,
             inicio, fin, avance, status, dificultades, recursos, costo,
             razones) in plain_rows(session, statement):
            planned = planned_percent(inicio, fin, due_on)
            yield (dane, school, checkpoint, due_on, report_status.label,
                   bogota_day(submitted_at) if submitted_at else None,
                   _yes_no(is_late(submitted_at, due_on)), descripcion, avance, status.label,
                   planned, semaforo(avance, status, planned).label, dificultades, recursos,
                   costo, razones)


def indicator_export_rows(session: Session,
                          ruta_ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """One row per indicador of every report sent, in the order of
    ``INDICATOR_EXPORT_HEADER``; the year's target is the indicador's for the checkpoint's
    year."""
    for chunk in _chunks(ruta_ids):
        statement = _sent_values(
            chunk, School.dane_code, School.name, FollowUpCheckpoint.name,
            FollowUpCheckpoint.due_on, FollowUpReport.status, Indicador.nombre,
            Indicador.unidad, Indicador.linea_base, Indicador.metas_anuales,
            IndicatorValue.valor, IndicatorValue.comentario,
        ).order_by(School.dane_code, FollowUpCheckpoint.due_on, Indicador.meta_id,
                   Indicador.id)
        for (dane, school, checkpoint, due_on, report_status, nombre, unidad, linea_base,
             targets, valor, comentario) in plain_rows(session, statement):
            yield (dane, school, checkpoint, due_on, report_status.label, nombre, unidad,
                   linea_base, (targets or {}).get(str(due_on.year)), valor, comentario)
