"""The per-Ruta aggregates of the consolidado (workflow.consolidado.aggregates) say what a full
recomputation says, after each kind of change, on both backends; and the page that reads them
(workflow.consolidado.summary) agrees with the full consolidado."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.consolidado.test_consolidado import seed
from tests.consolidado.test_estancadas import build
from workflow import services
from workflow.autoevaluacion.models import Valoracion
from workflow.consolidado import aggregates, summary
from workflow.consolidado.aggregates import RutaAggregate
from workflow.consolidado.consolidate import Filters, consolidate, metas_por_area
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import Ruta, User
from workflow.pmi.models import Meta, Objetivo
from workflow.roles import Role
from workflow.seguimiento.models import FollowUpReport, ReportStatus
from workflow.states import State, Trigger

STALLED_DAYS = 30


def everything(db: Session, admin: User, now: datetime, filters: Filters | None = None
               ) -> tuple[summary.Summary, summary.TablePage]:
    data = summary.summarize(db, admin, filters, now=now, stalled_days=STALLED_DAYS,
                             list_limit=10_000)
    scope, _ = summary.scope_of(db, admin, filters, now=now, stalled_days=STALLED_DAYS)
    return data, summary.table(db, scope, summary.TableQuery(page_size=10_000))


def perfil_shape(perfil: object) -> object:
    if perfil is None:
        return None
    return [(area.code, area.tally.counts, area.tally.total,
             [(proceso.code, proceso.tally.counts, proceso.tally.total)
              for proceso in area.procesos]) for area in perfil.areas]  # type: ignore[attr-defined]


def assert_matches_full_recomputation(db: Session, admin: User,
                                      filters: Filters | None = None) -> None:
    """Every figure of the page read from the aggregates equals the full consolidado's."""
    filters = filters or Filters()
    db.expire_all()
    now = datetime.now(UTC)
    full = consolidate(db, admin, filters, now=now, stalled_days=STALLED_DAYS)
    data, table = everything(db, admin, now, filters)
    assert data.funnel == full.funnel
    assert data.schools_count == len(full.schools)
    assert table.total == len(full.schools)
    expected = {row.school.id: (
        row.ruta.id if row.ruta else None, row.ruta.state if row.ruta else None,
        row.days_in_state, row.last_reminder.id if row.last_reminder else None, row.overdue,
        row.stalled, row.seguimiento, row.owes if row.ruta else "",
        row.idle_days if row.ruta else None) for row in full.schools}
    got = {row.school.id: (
        row.ruta.id if row.ruta else None, row.ruta.state if row.ruta else None,
        row.days_in_state, row.last_reminder.id if row.last_reminder else None, row.overdue,
        row.stalled, row.seguimiento, row.owes, row.idle_days) for row in table.rows}
    assert got == expected
    assert [row.school.id for row in table.rows] == [row.school.id for row in full.schools]
    assert data.overdue_count == len(full.overdue)
    assert [row.school.id for row in data.overdue] == [row.school.id for row in full.overdue]
    assert data.stalled_count == len(full.stalled)
    assert [row.school.id for row in data.stalled] == [row.school.id for row in full.stalled]
    assert perfil_shape(data.perfil) == perfil_shape(full.perfil)
    assert data.perfil_schools == full.perfil_schools
    assert data.low_rated == full.low_rated
    plans = summary.plans_view(db, admin, data)
    mine, theirs = metas_por_area(db, plans.plan_rows), full.metas_por_area
    assert (mine.metas, mine.schools, mine.plans) == (theirs.metas, theirs.schools,
                                                      theirs.plans)
    assert [(area.name, area.metas, area.schools, area.unidades) for area in mine.areas] == [
        (area.name, area.metas, area.schools, area.unidades) for area in theirs.areas]


def test_aggregates_follow_each_kind_of_change(app: Flask, db: Session,
                                               make: Factory) -> None:
    seeded = seed(db, make)
    admin, rutas = seeded.admin, seeded.rutas
    assert_matches_full_recomputation(db, admin)
    assert_matches_full_recomputation(db, admin, Filters.parse("urbana", "Comuna 1"))
    version = summary.summarize(db, admin, Filters(), now=datetime.now(UTC),
                                stalled_days=STALLED_DAYS).version

    # A valoración: school D rates its first componente 4 instead of 1.
    valoracion = db.scalars(select(Valoracion).where(
        Valoracion.ruta_id == rutas["D"].id, Valoracion.level == 1)).first()
    assert valoracion is not None
    valoracion.level = 4
    db.commit()
    assert_matches_full_recomputation(db, admin)
    after_valoracion = summary.summarize(db, admin, Filters(), now=datetime.now(UTC),
                                         stalled_days=STALLED_DAYS)
    assert after_valoracion.version != version

    # A PMI element: a meta more in C's plan.
    objetivo = db.scalars(select(Objetivo).where(Objetivo.ruta_id == rutas["C"].id)).first()
    assert objetivo is not None
    db.add(Meta(ruta_id=rutas["C"].id, objetivo_id=objetivo.id, enunciado="Una meta nueva.",
                cantidad=3, unidad="Talleres", fecha_limite=date(2026, 6, 30)))
    db.commit()
    assert_matches_full_recomputation(db, admin)
    assert summary.summarize(db, admin, Filters(), now=datetime.now(UTC),
                             stalled_days=STALLED_DAYS).version != after_valoracion.version

    # A transition, through the service: a revisor takes C's plan.
    revisor = make.user(Role.REVISOR, secretaria=admin.secretaria)
    ruta = db.get(Ruta, rutas["C"].id)
    assert ruta is not None
    services.transition(db, ruta, Trigger.TOMAR_REVISION, actor=revisor,
                        expected_version=ruta.version)
    db.commit()
    stored = db.get(RutaAggregate, ruta.id)
    assert stored is not None and stored.state == State.EN_REVISION.value
    assert_matches_full_recomputation(db, admin)

    # A seguimiento report: E (cerrado) and a Ruta put in seguimiento send theirs.
    calendar = db.scalars(select(HorizonCalendar)).first()
    assert calendar is not None
    checkpoint = FollowUpCheckpoint(calendar_id=calendar.id, name="Primer corte",
                                    due_on=date(2024, 4, 15))
    db.add(checkpoint)
    db.execute(update(Ruta).where(Ruta.id == rutas["D"].id).values(state=State.SEGUIMIENTO))
    db.commit()
    # A bulk UPDATE is not seen by the hook: the daily refresh (here, at once) covers it.
    aggregates.refresh_all(db)
    db.commit()
    assert_matches_full_recomputation(db, admin)
    db.add(FollowUpReport(ruta_id=rutas["D"].id, checkpoint_id=checkpoint.id,
                          status=ReportStatus.ENVIADO,
                          submitted_at=datetime.now(UTC) - timedelta(days=2), submissions=1,
                          last_submitted_at=datetime.now(UTC) - timedelta(days=2)))
    db.commit()
    stored = db.get(RutaAggregate, rutas["D"].id)
    assert stored is not None and stored.owes == ""
    assert_matches_full_recomputation(db, admin)


def test_estancadas_read_from_the_aggregates_match(app: Flask, db: Session,
                                                   make: Factory) -> None:
    admin, rutas = build(db, make)
    assert_matches_full_recomputation(db, admin)
    # A returned report sent again: it owes nothing more.
    report = db.scalars(select(FollowUpReport).where(
        FollowUpReport.ruta_id == rutas["informe devuelto"].id,
        FollowUpReport.status == ReportStatus.DEVUELTO)).one()
    report.status = ReportStatus.ENVIADO
    report.last_submitted_at = datetime.now(UTC)
    db.commit()
    stored = db.get(RutaAggregate, rutas["informe devuelto"].id)
    assert stored is not None and stored.owes == ""
    assert_matches_full_recomputation(db, admin)


def test_a_rolled_back_change_refreshes_nothing(app: Flask, db: Session,
                                                make: Factory) -> None:
    seeded = seed(db, make)
    before = db.get(RutaAggregate, seeded.rutas["A"].id)
    assert before is not None
    moment = before.refreshed_at
    ruta = db.get(Ruta, seeded.rutas["A"].id)
    assert ruta is not None
    ruta.state = State.AUTOEVALUACION_ENVIADA
    db.flush()
    db.rollback()
    db.add(make.school(seeded.admin.secretaria, name="Otra"))
    db.commit()
    after = db.get(RutaAggregate, seeded.rutas["A"].id)
    assert after is not None
    assert (after.state, after.refreshed_at) == (State.BORRADOR.value, moment)


def test_missing_aggregates_are_filled_by_the_page_and_counted_otherwise(
        app: Flask, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    db.execute(RutaAggregate.__table__.delete())
    db.commit()
    assert_matches_full_recomputation(db, seeded.admin)
    assert db.scalar(select(RutaAggregate).limit(1)) is not None


def test_the_daily_job_and_the_command_refresh_what_time_moved(app: Flask, db: Session,
                                                               make: Factory) -> None:
    """What a bulk UPDATE (or the passing of days) left behind, the scheduler's job and
    ``ruta consolidado actualizar`` bring up to date."""
    from jobs.scheduler import consolidado_job

    seeded = seed(db, make)
    a_id = seeded.rutas["A"].id
    db.execute(update(Ruta).where(Ruta.id == a_id).values(state=State.PMI_FORMULADO))
    db.commit()
    stale = db.get(RutaAggregate, a_id)
    assert stale is not None and stale.state == State.BORRADOR.value
    consolidado_job(app)
    db.expire_all()
    fresh = db.get(RutaAggregate, a_id)
    assert fresh is not None and fresh.state == State.PMI_FORMULADO.value
    assert_matches_full_recomputation(db, seeded.admin)

    db.execute(update(Ruta).where(Ruta.id == a_id).values(state=State.EN_REVISION))
    db.commit()
    result = app.test_cli_runner().invoke(args=["consolidado", "actualizar"])
    assert result.exit_code == 0, result.output
    assert "Cifras del consolidado actualizadas: 7 Ruta(s)" in result.output
    db.expire_all()
    fresh = db.get(RutaAggregate, a_id)
    assert fresh is not None and fresh.state == State.EN_REVISION.value
