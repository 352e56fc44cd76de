"""Seguimiento reports: the rules (semáforo, lateness, which checkpoints), the services, the
daily pass that starts plans, the consolidated progress and the export rows.

The calendar is Ibagué's demo 2024–2026 (checkpoints 2024-06-28, 2024-11-29, 2025-06-27, …).
"""

from __future__ import annotations

import gc
import io
import threading
import time as time_module
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from jobs import daily
from jobs.daily import run_daily_pass
from tests.conftest import Factory
from tests.core.test_race import run_together
from workflow.autoevaluacion.evidence import files_by_componente
from workflow.dates import BOGOTA
from workflow.errors import (
    Forbidden,
    GuardFailed,
    InvalidInput,
    NotEditable,
    NotFound,
    StaleRuta,
)
from workflow.evidencias import storage as evidence
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import OutboxMessage, Ruta, RutaTransition, User
from workflow.pmi.models import Actividad, Indicador, Meta, Objetivo
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.seguimiento import progress
from workflow.seguimiento import reports as seguimiento
from workflow.seguimiento.checkpoints import reportable_ids
from workflow.seguimiento.evidence import attach_to_report, report_files
from workflow.seguimiento.models import (
    FollowUpLine,
    FollowUpReport,
    LineStatus,
    ReportStatus,
    StaleReport,
    is_late,
)
from workflow.seguimiento.progress import Semaforo
from workflow.states import State

JULY_1 = date(2024, 7, 1)


def bogota(day: date, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=BOGOTA).astimezone(UTC)


@dataclass
class Plan:
    ruta: Ruta
    rector: User
    equipo: User
    revisor: User
    first: Actividad  # 2024-02-01 .. 2024-12-31
    second: Actividad  # 2024-03-01 .. 2024-05-31
    indicador: Indicador
    checkpoints: list[FollowUpCheckpoint]

    @property
    def june(self) -> FollowUpCheckpoint:
        return self.checkpoints[0]


def build_plan(make: Factory, state: State = State.SEGUIMIENTO,
               secretaria_name: str | None = None) -> Plan:
    db = make.db
    secretaria = make.secretaria(secretaria_name) if secretaria_name else make.secretaria()
    calendar = db.scalar(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria.id))
    if calendar is None:
        calendar = seed_demo_calendar(db, secretaria)
    school = make.school(secretaria)
    ruta = make.ruta(school, state)
    objetivo = Objetivo(ruta_id=ruta.id, enunciado="Mejorar la lectura crítica.")
    db.add(objetivo)
    db.flush()
    meta = Meta(ruta_id=ruta.id, objetivo_id=objetivo.id, enunciado="Subir el puntaje.",
                cantidad=45, unidad="%", fecha_limite=date(2026, 11, 30))
    db.add(meta)
    db.flush()
    first = Actividad(ruta_id=ruta.id, meta_id=meta.id, descripcion="Talleres de lectura",
                      fecha_inicio=date(2024, 2, 1), fecha_fin=date(2024, 12, 31),
                      trayectorias=[])
    second = Actividad(ruta_id=ruta.id, meta_id=meta.id, descripcion="Formación docente",
                       fecha_inicio=date(2024, 3, 1), fecha_fin=date(2024, 5, 31),
                       trayectorias=[])
    indicador = Indicador(ruta_id=ruta.id, meta_id=meta.id, nombre="Puntaje promedio",
                          formula="suma / estudiantes", unidad="puntos", linea_base=40,
                          metas_anuales={"2024": 42.0})
    db.add_all([first, second, indicador])
    db.flush()
    plan = Plan(ruta=ruta, rector=make.user(Role.RECTOR, school=school),
                equipo=make.user(Role.EQUIPO, school=school),
                revisor=make.user(Role.REVISOR, secretaria=secretaria), first=first,
                second=second, indicador=indicador, checkpoints=list(calendar.checkpoints))
    db.commit()
    return plan


@pytest.fixture
def plan(db: Session, make: Factory) -> Plan:
    return build_plan(make)


def form_for(plan: Plan, **overrides: str) -> dict[str, str]:
    """A valid form at the June checkpoint: the first actividad on time, the second done."""
    values = {
        f"avance-{plan.first.id}": "45", f"estado-{plan.first.id}": "en_curso",
        f"dificultades-{plan.first.id}": "Pocos textos.",
        f"recursos-{plan.first.id}": "Biblioteca", f"costo-{plan.first.id}": "1.200.000",
        f"avance-{plan.second.id}": "100", f"estado-{plan.second.id}": "cumplida",
        f"valor-{plan.indicador.id}": "41,5", "dificultades": "Paro de dos semanas.",
    }
    values.update(overrides)
    return values


def opened(db: Session, plan: Plan, checkpoint: FollowUpCheckpoint | None = None,
           today: date = JULY_1) -> FollowUpReport:
    report = seguimiento.open_report(db, plan.ruta, (checkpoint or plan.june).id,
                                     actor=plan.rector, today=today)
    db.commit()
    return report


def sent(db: Session, plan: Plan, now: datetime | None = None) -> FollowUpReport:
    report = opened(db, plan)
    seguimiento.save_report(db, report, form_for(plan), actor=plan.equipo,
                            expected_version=report.version)
    seguimiento.submit_report(db, report, actor=plan.rector, expected_version=report.version,
                              now=now or bogota(date(2024, 6, 27)))
    db.commit()
    return report


# --- the rules ------------------------------------------------------------------------------


def test_planned_percent_is_the_elapsed_share_of_the_actividad() -> None:
    start, end = date(2024, 1, 1), date(2024, 1, 11)
    assert progress.planned_percent(start, end, date(2023, 12, 31)) == 0
    assert progress.planned_percent(start, end, start) == 0
    assert progress.planned_percent(start, end, date(2024, 1, 6)) == 50
    assert progress.planned_percent(start, end, end) == 100
    assert progress.planned_percent(start, end, date(2024, 3, 1)) == 100
    assert progress.planned_percent(start, start, start) == 100  # one day
    assert progress.planned_percent(None, end, start) is None


@pytest.mark.parametrize(("avance", "status", "expected"), [
    (40.0, LineStatus.EN_CURSO, Semaforo.VERDE),       # exactly 10 behind: still green
    (39.9, LineStatus.EN_CURSO, Semaforo.AMARILLO),
    (25.0, LineStatus.EN_CURSO, Semaforo.AMARILLO),    # exactly 25 behind: still yellow
    (24.9, LineStatus.EN_CURSO, Semaforo.ROJO),
    (0.0, LineStatus.NO_INICIADA, Semaforo.ROJO),
    (90.0, LineStatus.EN_CURSO, Semaforo.VERDE),       # ahead
    (100.0, LineStatus.CUMPLIDA, Semaforo.VERDE),
    (10.0, LineStatus.CANCELADA, Semaforo.CANCELADA),  # apart, never red
])
def test_semaforo_boundaries_at_planned_50(avance: float, status: LineStatus,
                                           expected: Semaforo) -> None:
    assert progress.semaforo(avance, status, 50.0) is expected


def test_semaforo_without_dates_and_cumplida_is_always_green() -> None:
    assert progress.semaforo(0, LineStatus.EN_CURSO, None) is Semaforo.SIN_CRONOGRAMA
    assert progress.semaforo(100, LineStatus.CUMPLIDA, None) is Semaforo.VERDE


def test_reason_required_when_cancelled_not_started_when_due_or_behind() -> None:
    assert progress.reason_required(0, LineStatus.CANCELADA, 0)
    assert progress.reason_required(0, LineStatus.NO_INICIADA, 5)
    assert not progress.reason_required(0, LineStatus.NO_INICIADA, 0)  # not due to start
    assert progress.reason_required(30, LineStatus.EN_CURSO, 50)  # yellow
    assert not progress.reason_required(40, LineStatus.EN_CURSO, 50)


def test_late_is_decided_by_the_day_in_bogota() -> None:
    due = date(2024, 6, 28)
    assert not is_late(bogota(due, 23, 59), due)
    assert is_late(bogota(due + timedelta(days=1), 0, 0, 30), due)
    # 23:59 in Bogotá is already the next day in UTC: the UTC date must not decide.
    assert bogota(due, 23, 59).date() == due + timedelta(days=1)
    assert not is_late(None, due)


def test_only_checkpoints_arrived_and_the_next_one_can_be_reported(plan: Plan) -> None:
    june, november, next_june = plan.checkpoints[:3]
    allowed = reportable_ids(plan.checkpoints, JULY_1)
    assert june.id in allowed and november.id in allowed
    assert next_june.id not in allowed
    assert reportable_ids(plan.checkpoints, date(2024, 6, 28)) == {june.id,
                                                                   november.id}


# --- the services ------------------------------------------------------------------------------


def test_report_flow_send_return_answer_resend_acknowledge(db: Session, plan: Plan) -> None:
    report = sent(db, plan)
    assert report.status is ReportStatus.ENVIADO and not report.late
    assert progress.has_report(db, plan.ruta.id, plan.june.id)
    assert not progress.has_report(db, plan.ruta.id, plan.checkpoints[1].id)
    mail = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_informe_enviado")).one()
    assert mail.recipients == [plan.revisor.email]
    assert f"/rutas/{plan.ruta.id}/seguimiento/informes/{report.id}" in mail.text_body

    with pytest.raises(GuardFailed, match="devolver"):
        seguimiento.return_report(db, report, reviewer=plan.revisor,
                                  expected_version=report.version)
    db.rollback()
    observation = seguimiento.add_observation(
        db, report, reviewer=plan.revisor, element=f"actividad:{plan.first.id}",
        text="Adjunte las actas de los talleres.")
    seguimiento.return_report(db, report, reviewer=plan.revisor,
                              expected_version=report.version)
    db.commit()
    assert report.status is ReportStatus.DEVUELTO
    assert progress.has_report(db, plan.ruta.id, plan.june.id)  # it was sent
    returned = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_informe_devuelto")).one()
    assert "Adjunte las actas de los talleres." in returned.text_body
    assert returned.recipients == [plan.rector.email] and returned.cc == [plan.equipo.email]

    with pytest.raises(GuardFailed) as unanswered:
        seguimiento.submit_report(db, report, actor=plan.rector,
                                  expected_version=report.version)
    assert any("responder la observación" in reason for reason in unanswered.value.reasons)
    db.rollback()
    seguimiento.answer_observation(db, report, observation.id, actor=plan.rector,
                                   response="Quedaron adjuntas.")
    seguimiento.submit_report(db, report, actor=plan.rector, expected_version=report.version,
                              now=bogota(date(2024, 7, 2)))
    db.commit()
    assert report.status is ReportStatus.ENVIADO and report.submissions == 2
    assert not report.late  # the first submission decides

    with pytest.raises(GuardFailed) as still_open:
        seguimiento.acknowledge(db, report, reviewer=plan.revisor,
                                expected_version=report.version)
    assert "no está resuelta" in still_open.value.reasons[0]
    db.rollback()
    seguimiento.judge_observation(db, report, observation.id, reviewer=plan.revisor,
                                  resolved=True)
    seguimiento.acknowledge(db, report, reviewer=plan.revisor, expected_version=report.version,
                            comment="Buen avance.")
    db.commit()
    assert report.status is ReportStatus.RECONOCIDO
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_informe_reconocido")) == 1


def test_late_flag_through_the_service_23_59_vs_00_00_30(db: Session, make: Factory) -> None:
    on_time, late = build_plan(make), build_plan(make)
    due = on_time.june.due_on
    assert sent(db, on_time, now=bogota(due, 23, 59)).late is False
    assert sent(db, late, now=bogota(due + timedelta(days=1), 0, 0, 30)).late is True


def test_only_the_rector_submits_and_the_equipo_fills(db: Session, plan: Plan) -> None:
    report = opened(db, plan)
    seguimiento.save_report(db, report, form_for(plan), actor=plan.equipo,
                            expected_version=report.version)
    with pytest.raises(Forbidden):
        seguimiento.submit_report(db, report, actor=plan.equipo,
                                  expected_version=report.version)
    with pytest.raises(Forbidden):
        seguimiento.save_report(db, report, form_for(plan), actor=plan.revisor,
                                expected_version=report.version)


def test_a_report_needs_every_actividad_before_it_is_sent(db: Session, plan: Plan) -> None:
    report = opened(db, plan)
    with pytest.raises(GuardFailed) as missing:
        seguimiento.submit_report(db, report, actor=plan.rector,
                                  expected_version=report.version)
    assert len(missing.value.reasons) == 2
    db.rollback()
    assert db.get(FollowUpReport, report.id).status is ReportStatus.BORRADOR


@pytest.mark.parametrize(("field", "value", "message"), [
    ("avance-{first}", "120", "entre 0 y 100"),
    ("avance-{first}", "-1", "entre 0 y 100"),
    ("avance-{first}", "mucho", "debe ser un número"),
    ("avance-{first}", "", "Escriba el % de avance"),
    ("estado-{first}", "terminada", "Elija el estado"),
    ("costo-{first}", "-5000", "valor en pesos"),
    ("estado-{second}", "cancelada", "explique por qué"),
    ("avance-{second}", "50", "cumplida"),
])
def test_bad_input_is_refused_and_nothing_is_stored(db: Session, plan: Plan, field: str,
                                                    value: str, message: str) -> None:
    report = opened(db, plan)
    name = field.format(first=plan.first.id, second=plan.second.id)
    with pytest.raises(InvalidInput) as refused:
        seguimiento.save_report(db, report, form_for(plan, **{name: value}),
                                actor=plan.rector, expected_version=report.version)
    assert message in " ".join(refused.value.errors.get(name, [])
                               + refused.value.errors.get(name.replace("estado", "razones"), []))
    db.rollback()
    assert db.scalar(select(func.count()).select_from(FollowUpLine)) == 0


def test_behind_schedule_needs_reasons(db: Session, plan: Plan) -> None:
    report = opened(db, plan)
    # At 2024-06-28 the first actividad should be at 44.3 %: 10 % is red.
    behind = form_for(plan, **{f"avance-{plan.first.id}": "10"})
    with pytest.raises(InvalidInput, match="va atrasada"):
        seguimiento.save_report(db, report, behind, actor=plan.rector,
                                expected_version=report.version)
    db.rollback()
    behind[f"razones-{plan.first.id}"] = "El docente estuvo incapacitado."
    seguimiento.save_report(db, report, behind, actor=plan.rector,
                            expected_version=report.version)
    db.commit()
    [view] = [item for item in seguimiento.line_views(db, report)
              if item.actividad.id == plan.first.id]
    assert view.light is Semaforo.ROJO


def test_a_sent_report_cannot_be_edited(db: Session, plan: Plan) -> None:
    report = sent(db, plan)
    with pytest.raises(NotEditable, match="ya fue enviado"):
        seguimiento.save_report(db, report, form_for(plan), actor=plan.rector,
                                expected_version=report.version)
    db.rollback()
    with pytest.raises(NotEditable):
        attach_to_report(db, evidence.LocalStorage("/nonexistent"), report,
                         actor=plan.rector, filename="acta.pdf",
                         stream=io.BytesIO(b"%PDF-1.4\n"), limits=evidence.Limits())


def test_a_stale_version_is_a_conflict(db: Session, plan: Plan) -> None:
    report = opened(db, plan)
    with pytest.raises(StaleReport):
        seguimiento.save_report(db, report, form_for(plan), actor=plan.rector,
                                expected_version=report.version + 1)


def test_checkpoints_of_another_secretaria_or_not_yet_due_are_refused(
        db: Session, make: Factory, plan: Plan) -> None:
    other = build_plan(make, secretaria_name="Secretaría de Educación del Tolima")
    with pytest.raises(NotFound):
        seguimiento.open_report(db, plan.ruta, other.june.id, actor=plan.rector, today=JULY_1)
    with pytest.raises(NotFound):
        seguimiento.open_report(db, plan.ruta, 10**6, actor=plan.rector, today=JULY_1)
    with pytest.raises(NotEditable, match="todavía no se puede informar"):
        seguimiento.open_report(db, plan.ruta, plan.checkpoints[2].id, actor=plan.rector,
                                today=JULY_1)
    assert db.scalar(select(func.count()).select_from(FollowUpReport)) == 0


def test_reports_only_while_in_seguimiento(db: Session, make: Factory) -> None:
    approved = build_plan(make, State.APROBADO)
    with pytest.raises(NotEditable, match="Seguimiento periódico"):
        seguimiento.open_report(db, approved.ruta, approved.june.id, actor=approved.rector,
                                today=JULY_1)


def test_opening_twice_gives_the_same_report(db: Session, plan: Plan) -> None:
    assert opened(db, plan).id == opened(db, plan).id


def test_evidence_attaches_to_an_editable_report(db: Session, plan: Plan,
                                                 tmp_path: object) -> None:
    report = opened(db, plan)
    store = evidence.LocalStorage(str(tmp_path))
    added = attach_to_report(db, store, report, actor=plan.equipo,
                             filename="acta.pdf",
                             stream=io.BytesIO(b"%PDF-1.4\n%%EOF\n"),
                             limits=evidence.Limits())
    db.commit()
    assert [item.id for item in report_files(db, report)] == [added.id]
    assert files_by_componente(db, plan.ruta) == {}  # not an autoevaluación file
    with pytest.raises(InvalidInput, match="no es de un tipo permitido"):
        attach_to_report(db, store, report, actor=plan.equipo, filename="x.pdf",
                         stream=io.BytesIO(b"MZ\x90\x00"), limits=evidence.Limits())


# --- the daily pass starts plans ------------------------------------------------------------


def test_daily_pass_starts_approved_plans_on_their_start_date_once(
        app: Flask, db: Session, make: Factory) -> None:
    plan = build_plan(make, State.APROBADO)
    without_dates = build_plan(make, State.APROBADO)
    db.query(Actividad).filter(Actividad.ruta_id == without_dates.ruta.id).update(
        {"fecha_inicio": None, "fecha_fin": None})
    db.commit()
    assert progress.plan_start(db, plan.ruta.id) == date(2024, 2, 1)

    before = run_daily_pass(app, now=bogota(date(2024, 1, 31), 7))
    assert before.started == []
    on_the_day = run_daily_pass(app, now=bogota(date(2024, 2, 1), 7))
    again = run_daily_pass(app, now=bogota(date(2024, 2, 1), 8))
    next_day = run_daily_pass(app, now=bogota(date(2024, 2, 2), 7))

    assert on_the_day.started == [plan.ruta.id]
    assert again.started == [] and next_day.started == []
    db.expire_all()
    assert db.get(Ruta, plan.ruta.id).state is State.SEGUIMIENTO
    assert db.get(Ruta, without_dates.ruta.id).state is State.APROBADO
    [entry] = db.scalars(select(RutaTransition).where(
        RutaTransition.ruta_id == plan.ruta.id,
        RutaTransition.trigger == "iniciar_seguimiento")).all()
    assert entry.actor_id is None
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_iniciado")) == 1


def test_daily_pass_goes_on_when_a_ruta_was_started_meanwhile(
        app: Flask, db: Session, make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = build_plan(make, State.APROBADO), build_plan(make, State.APROBADO)
    # A revisor starts the first one right after the pass listed it: the pass's attempt on
    # it conflicts (stale version, then a wrong state) and the pass goes on with the second.
    listed = progress.rutas_due_to_start(db, date(2024, 2, 1))
    assert listed == [first.ruta.id, second.ruta.id]
    original = progress.rutas_due_to_start

    def listing_then_racing(session: Session, day: date) -> list[int]:
        found = original(session, day)
        with app.extensions["ruta_db"].session_factory() as other:
            ruta = other.get(Ruta, first.ruta.id)
            seguimiento_actions.start_follow_up(other, ruta,
                                                actor=other.get(User, first.revisor.id),
                                                expected_version=ruta.version)
            other.commit()
        return found

    monkeypatch.setattr(progress, "rutas_due_to_start", listing_then_racing)
    result = run_daily_pass(app, now=bogota(date(2024, 2, 1), 7))
    assert result.started == [second.ruta.id]
    db.expire_all()
    assert db.get(Ruta, first.ruta.id).state is State.SEGUIMIENTO
    assert db.scalar(select(func.count()).select_from(RutaTransition).where(
        RutaTransition.trigger == "iniciar_seguimiento")) == 2


def test_daily_pass_starts_plans_in_chunks_and_retries_a_failed_chunk_one_by_one(
        app: Flask, db: Session, make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    plans = [build_plan(make, State.APROBADO) for _ in range(3)]
    monkeypatch.setattr(daily, "START_CHUNK", 2)
    real_commit = Session.commit
    commits: list[int] = []

    def commit_failing_once(session: Session) -> None:
        started = len(session.info.get("consolidado_dirty_rutas", ()))
        if started:  # a commit of started seguimientos
            commits.append(started)
            if len(commits) == 1:  # the first chunk's: the connection drops
                raise OperationalError("COMMIT", {}, Exception("se cayó la conexión"))
        real_commit(session)

    monkeypatch.setattr(Session, "commit", commit_failing_once)
    result = run_daily_pass(app, now=bogota(date(2024, 2, 1), 7))
    monkeypatch.setattr(Session, "commit", real_commit)

    # Every plan started once: the first chunk again Ruta by Ruta, the last Ruta in its own.
    assert sorted(result.started) == sorted(plan.ruta.id for plan in plans)
    db.expire_all()
    assert all(db.get(Ruta, plan.ruta.id).state is State.SEGUIMIENTO for plan in plans)
    assert db.scalar(select(func.count()).select_from(RutaTransition).where(
        RutaTransition.trigger == "iniciar_seguimiento")) == 3
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_iniciado")) == 3
    # On PostgreSQL the first chunk's two Rutas were to commit together, then each alone,
    # then the last; SQLite commits each alone (its driver's savepoints commit), and the
    # first one's failed commit is tried once more.
    chunked = db.get_bind().dialect.name == "postgresql"
    assert commits == ([2, 1, 1, 1] if chunked else [1, 1, 1, 1])


def revisor_starts(app: Flask, plan: Plan) -> None:
    """The plan's revisor starts its seguimiento, in a transaction of their own."""
    with app.extensions["ruta_db"].session_factory() as other:
        mine = other.get(Ruta, plan.ruta.id)
        assert mine is not None
        seguimiento_actions.start_follow_up(other, mine, actor=other.get(User, plan.revisor.id),
                                            expected_version=mine.version)
        other.commit()


def assert_each_started_once(db: Session, plans: list[Plan], raced: Plan, *,
                             raced_by_revisor: bool, now: datetime) -> None:
    """Every plan in seguimiento with one start (the raced one's by whoever won), and exactly
    the e-mail of that start, to its rector; the pass's due when it started them."""
    db.expire_all()
    entries = {entry.ruta_id: entry for entry in db.scalars(select(RutaTransition).where(
        RutaTransition.trigger == "iniciar_seguimiento"))}
    assert sorted(entries) == sorted(plan.ruta.id for plan in plans)
    assert [entries[plan.ruta.id].actor_id for plan in plans] == [
        raced.revisor.id if plan is raced and raced_by_revisor else None for plan in plans]
    assert all(db.get(Ruta, plan.ruta.id).state is State.SEGUIMIENTO for plan in plans)
    mails = db.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_iniciado").order_by(OutboxMessage.ruta_id)).all()
    assert [(mail.ruta_id, mail.dedupe_key, mail.recipients) for mail in mails] == [
        (plan.ruta.id, f"transition:{entries[plan.ruta.id].id}:rector", [plan.rector.email])
        for plan in sorted(plans, key=lambda plan: plan.ruta.id)]
    assert [mail.next_attempt_at == now for mail in mails
            if mail.ruta_id != raced.ruta.id or not raced_by_revisor] == [True] * (
        len(plans) - raced_by_revisor)
    assert all(plan.ruta.school.name in mail.subject
               for plan, mail in zip(sorted(plans, key=lambda plan: plan.ruta.id), mails,
                                     strict=True))


def test_daily_pass_chunk_mails_each_started_ruta_and_a_conflict_costs_only_its_ruta(
        app: Flask, db: Session, make: Factory, backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    plans = [build_plan(make, State.APROBADO) for _ in range(3)]
    raced = plans[1]
    monkeypatch.setattr(daily, "START_CHUNK", 3)
    if backend == "postgresql":
        # The pass locks a chunk's Rutas before it writes them: the revisor's start commits
        # after the pass listed the plans due and just before the chunk's lock, which finds
        # that Ruta no longer aprobado. (A start still running when the lock is asked for,
        # and one tried while the pass holds it: the two tests after this one.)
        lock = daily._lock_approved

        def revisor_starts_it_first(session: Session, ruta_ids: list[int]) -> list[Ruta]:
            if raced.ruta.id in ruta_ids:
                revisor_starts(app, raced)
            return lock(session, ruta_ids)

        monkeypatch.setattr(daily, "_lock_approved", revisor_starts_it_first)
    else:
        # SQLite ignores the lock: the revisor's start commits after the pass read the Ruta
        # and before the pass's own attempt on it, whose write then finds a stale version.
        original = seguimiento_actions.start_follow_up

        def revisor_starts_it_meanwhile(session: Session, ruta: Ruta,
                                        **given: Any) -> RutaTransition:
            if ruta.id == raced.ruta.id and given["actor"] is None:
                revisor_starts(app, raced)
            return original(session, ruta, **given)

        monkeypatch.setattr(seguimiento_actions, "start_follow_up",
                            revisor_starts_it_meanwhile)
    now = bogota(date(2024, 2, 1), 7)
    result = run_daily_pass(app, now=now)

    assert result.started == [plans[0].ruta.id, plans[2].ruta.id]
    assert_each_started_once(db, plans, raced, raced_by_revisor=True, now=now)


def wait_for_a_lock_wait(app: Flask) -> None:
    """Until a connection to the test database waits for a lock another one holds."""
    deadline = time_module.monotonic() + 20
    while time_module.monotonic() < deadline:
        # A new transaction each time: one keeps its first view of pg_stat_activity.
        with app.extensions["ruta_db"].session_factory() as probe:
            if probe.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")):
                return
        time_module.sleep(0.02)
    raise AssertionError("nobody waited for the lock")


@pytest.mark.postgres
def test_daily_pass_waits_for_a_revisor_starting_a_ruta_and_leaves_it_out(
        app: Flask, db: Session, make: Factory, backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    plans = [build_plan(make, State.APROBADO) for _ in range(3)]
    raced = plans[1]
    monkeypatch.setattr(daily, "START_CHUNK", 3)
    now = bogota(date(2024, 2, 1), 7)
    outcome: list[Any] = []

    def the_pass() -> None:
        try:
            outcome.append(run_daily_pass(app, now=now))
        except Exception as error:  # noqa: BLE001 (reported by the assertion below)
            outcome.append(error)

    runner = threading.Thread(target=the_pass)
    with app.extensions["ruta_db"].session_factory() as other:
        # The revisor's start is written (the Ruta's row is theirs until they commit) when
        # the pass lists the plans due and asks for the chunk's lock.
        mine = other.get(Ruta, raced.ruta.id)
        assert mine is not None
        seguimiento_actions.start_follow_up(other, mine, actor=other.get(User, raced.revisor.id),
                                            expected_version=mine.version)
        runner.start()
        try:
            wait_for_a_lock_wait(app)
        finally:
            other.commit()
    runner.join(timeout=30)

    [result] = outcome
    assert result.started == [plans[0].ruta.id, plans[2].ruta.id]
    assert_each_started_once(db, plans, raced, raced_by_revisor=True, now=now)


@pytest.mark.postgres
def test_a_revisor_starting_a_ruta_the_pass_holds_waits_and_gets_a_conflict(
        app: Flask, db: Session, make: Factory, backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    plans = [build_plan(make, State.APROBADO) for _ in range(3)]
    raced = plans[1]
    monkeypatch.setattr(daily, "START_CHUNK", 3)
    original = seguimiento_actions.start_follow_up
    revisor: list[Any] = []

    def try_to_start() -> None:
        try:
            revisor_starts(app, raced)
            revisor.append("iniciado")
        except Exception as error:  # noqa: BLE001 (the conflict is the result we check)
            revisor.append(error)

    attempt = threading.Thread(target=try_to_start)

    def revisor_tries_meanwhile(session: Session, ruta: Ruta, **given: Any) -> RutaTransition:
        # The pass holds the chunk's locks: the revisor, who loaded the Ruta still aprobado,
        # waits for the pass's commit.
        if ruta.id == raced.ruta.id and given["actor"] is None:
            attempt.start()
            wait_for_a_lock_wait(app)
        return original(session, ruta, **given)

    monkeypatch.setattr(seguimiento_actions, "start_follow_up", revisor_tries_meanwhile)
    now = bogota(date(2024, 2, 1), 7)
    result = run_daily_pass(app, now=now)
    attempt.join(timeout=30)

    assert result.started == [plan.ruta.id for plan in plans]
    [conflict] = revisor
    assert isinstance(conflict, StaleRuta)
    assert_each_started_once(db, plans, raced, raced_by_revisor=False, now=now)


def test_daily_pass_runs_without_cyclic_collection_and_leaves_it_as_it_was(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    original = daily.evaluate_reminders

    def noting(session: Session, **given: Any) -> list[Any]:
        seen.append(gc.isenabled())
        return original(session, **given)

    def failing(session: Session, **given: Any) -> list[Any]:
        seen.append(gc.isenabled())
        raise RuntimeError("the pass failed")

    assert gc.isenabled()
    monkeypatch.setattr(daily, "evaluate_reminders", noting)
    run_daily_pass(app, now=bogota(date(2024, 2, 1), 7))
    assert (seen, gc.isenabled()) == ([False], True)
    monkeypatch.setattr(daily, "evaluate_reminders", failing)
    with pytest.raises(RuntimeError, match="the pass failed"):
        run_daily_pass(app, now=bogota(date(2024, 2, 2), 7))
    assert (seen, gc.isenabled()) == ([False, False], True)
    gc.disable()  # a process that turned it off itself keeps it off
    try:
        monkeypatch.setattr(daily, "evaluate_reminders", noting)
        run_daily_pass(app, now=bogota(date(2024, 2, 3), 7))
        assert (seen, gc.isenabled()) == ([False, False, False], False)
    finally:
        gc.enable()


# --- consolidated progress and exports -------------------------------------------------------


def test_progress_by_ruta_counts_reports_due_late_and_red(db: Session, make: Factory) -> None:
    plan, quiet = build_plan(make), build_plan(make)
    approved = build_plan(make, State.APROBADO)
    report = opened(db, plan)
    form = form_for(plan, **{f"avance-{plan.first.id}": "10",
                             f"razones-{plan.first.id}": "Incapacidad del docente."})
    seguimiento.save_report(db, report, form, actor=plan.rector,
                            expected_version=report.version)
    seguimiento.submit_report(db, report, actor=plan.rector, expected_version=report.version,
                              now=bogota(date(2024, 6, 29), 0, 0, 30))
    db.commit()

    found = progress.progress_by_ruta(db, [plan.ruta.id, quiet.ruta.id, approved.ruta.id],
                                      today=date(2024, 12, 2))
    mine = found[plan.ruta.id]
    assert (mine.percent, mine.reports, mine.due, mine.late, mine.behind) == (55.0, 1, 2, 1, 1)
    assert mine.label == "55 % de avance · 1 de 2 informes · 1 tarde · 1 en rojo"
    assert found[quiet.ruta.id].percent is None and found[quiet.ruta.id].due == 2
    assert found[quiet.ruta.id].label == "Sin informes · 0 de 2 informes"
    assert found[approved.ruta.id].due == 0
    assert found[approved.ruta.id].label == "Sin cortes vencidos"


def test_export_rows_one_per_actividad_of_reports_sent(db: Session, make: Factory) -> None:
    plan, draft = build_plan(make), build_plan(make)
    sent(db, plan)
    opened(db, draft)  # a draft is not exported
    rows = list(progress.export_rows(db, [plan.ruta.id, draft.ruta.id]))
    assert len(rows) == 2
    assert all(len(row) == len(progress.EXPORT_HEADER) for row in rows)
    header = progress.EXPORT_HEADER
    first = dict(zip(header, rows[0], strict=True))
    assert first["Código DANE"] == plan.ruta.school.dane_code
    assert first["Actividad"] == "Talleres de lectura"
    assert first["% de avance"] == 45.0
    assert first["Semáforo"] == Semaforo.VERDE.label
    assert first["Enviado tarde"] == "No"
    indicators = list(progress.indicator_export_rows(db, [plan.ruta.id]))
    values = dict(zip(progress.INDICATOR_EXPORT_HEADER, indicators[0], strict=True))
    assert (values["Valor medido"], values["Meta del año"]) == (41.5, 42.0)
    # The counts (the export's progress total) are the rows' own, draft left out too.
    both = [plan.ruta.id, draft.ruta.id]
    assert progress.export_row_count(db, both) == 2
    assert progress.indicator_export_row_count(db, both) == len(
        list(progress.indicator_export_rows(db, both))) == 1


# --- two submissions at once --------------------------------------------------------------------


@pytest.mark.postgres
def test_two_submissions_of_one_report_one_wins(backend: str, app: Flask, db: Session,
                                                plan: Plan) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    report = opened(db, plan)
    seguimiento.save_report(db, report, form_for(plan), actor=plan.rector,
                            expected_version=report.version)
    db.commit()
    factory = app.extensions["ruta_db"].session_factory
    loaded = threading.Barrier(2)

    def submit() -> str:
        with factory() as session:
            mine = session.get(FollowUpReport, report.id)
            rector = session.get(User, plan.rector.id)
            version = mine.version
            loaded.wait()
            seguimiento.submit_report(session, mine, actor=rector, expected_version=version)
            session.commit()
            return "enviado"

    results = run_together(submit, submit)
    assert sorted(type(result).__name__ for result in results) == ["StaleReport", "str"]
    db.expire_all()
    assert db.get(FollowUpReport, report.id).submissions == 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "seguimiento_informe_enviado")) == 1
