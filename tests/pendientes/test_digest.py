"""The weekly «Pendientes» digest: one e-mail per revisor and week, delivered over real SMTP,
never twice in a week, never to someone with nothing pending or who never activated the
account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.deliver import deliver_pending
from jobs.pendientes import catch_up_digest, run_weekly_digest
from ruta import create_app
from tests.conftest import Factory, app_config
from tests.core.test_race import run_together
from tests.pendientes.helpers import build_desk
from tests.smtp import SmtpServer, mail_config, smtp_fixture  # noqa: F401 (a fixture)
from workflow.horizontes.models import JobRun
from workflow.models import OutboxMessage
from workflow.pendientes.digest import DIGEST_KIND, send_weekly_digests, week_of
from workflow.pendientes.models import PendingDigest
from workflow.roles import Role

# Monday 3 March 2025, 07:30 in Bogotá.
MONDAY = datetime(2025, 3, 3, 12, 30, tzinfo=UTC)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with mail really sent (to a closed port until a test says where)."""
    application = create_app(app_config(database_url, **mail_config()))
    yield application
    application.extensions["ruta_db"].dispose()


def digests(db: Session) -> list[OutboxMessage]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == DIGEST_KIND)
                           .order_by(OutboxMessage.id)))


def test_week_of_follows_the_iso_week_of_the_bogota_day() -> None:
    assert week_of(MONDAY.date()) == "2025-W10"
    assert week_of(datetime(2027, 1, 1).date()) == "2026-W53"


def test_each_revisor_gets_the_week_digest_once_over_real_smtp(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    desk = build_desk(db, make)
    never_activated = make.user(Role.REVISOR, secretaria=desk.revisor.secretaria)
    make.db.commit()

    first = run_weekly_digest(app, now=MONDAY)
    again = run_weekly_digest(app, now=MONDAY + timedelta(hours=3))
    assert first.ran and not again.ran and again.queued == []
    assert sorted((d.email, d.items) for d in first.queued) == sorted([
        (desk.revisor.email, 3), (desk.other_revisor.email, 3)])
    assert never_activated.email not in {d.email for d in first.queued}
    # The week's pass ran once; even run again directly, nobody gets a second digest.
    with app.app_context():
        session = app.extensions["ruta_db"].session_factory()
        assert send_weekly_digests(session, now=MONDAY + timedelta(days=2)) == []
        session.rollback()
        session.close()
    assert db.scalar(select(func.count()).select_from(PendingDigest)) == 2
    assert db.scalar(select(func.count()).select_from(JobRun)
                     .where(JobRun.job == "resumen_pendientes")) == 1

    app.config.update(mail_config(smtp))
    assert deliver_pending(app, now=MONDAY).failed == 0
    received = {message.rcpt_tos: message for message in smtp.received
                if message.subject.startswith("Pendientes de la semana")}
    assert set(received) == {(desk.revisor.email,), (desk.other_revisor.email,)}
    mine = received[(desk.revisor.email,)]
    assert mine.subject == "Pendientes de la semana: 3 asuntos esperan su revisión"
    text = mine.text
    assert text.startswith("Cordial saludo.")
    assert "semana del 3 de marzo de 2025" in text
    assert "- Informe de seguimiento por revisar: 1" in text
    assert "- PMI por tomar: 1" in text and "PMI en revisión" not in text
    report_path = f"/rutas/{desk.plan.ruta.id}/seguimiento/informes/{desk.report.id}"
    assert report_path in text and "/pendientes/?vista=mios" in text
    # Oldest first: the PMI to take (1 March 2024) before the report (27 June 2024).
    assert text.index("Institución Educativa Rural Juntas") < text.index(report_path)
    assert "Espera desde el 27 de junio de 2024 (249 días)." in text
    assert f'{report_path}">Abrir</a>' in mine.html

    next_week = run_weekly_digest(app, now=MONDAY + timedelta(days=7))
    assert next_week.ran and len(next_week.queued) == 2 and len(digests(db)) == 4


def test_no_digest_for_a_revisor_with_nothing_pending(app: Flask, db: Session,
                                                      make: Factory) -> None:
    revisor = make.user(Role.REVISOR)
    revisor.activated_at = MONDAY - timedelta(days=30)
    make.ruta()  # a Ruta in borrador: nothing waits on the Secretaría
    db.commit()
    result = run_weekly_digest(app, now=MONDAY)
    assert result.ran and result.queued == [] and digests(db) == []
    assert db.scalar(select(func.count()).select_from(PendingDigest)) == 0


def test_a_scheduler_down_on_monday_catches_the_week_up_once(app: Flask, db: Session,
                                                             make: Factory) -> None:
    desk = build_desk(db, make)
    before_hour = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # Monday 05:00 in Bogotá
    assert catch_up_digest(app, now=before_hour, hour=6) is None
    wednesday = MONDAY + timedelta(days=2)
    caught = catch_up_digest(app, now=wednesday, hour=6)
    assert caught is not None and caught.week == "2025-W10"
    assert {d.email for d in caught.queued} == {desk.revisor.email, desk.other_revisor.email}
    assert catch_up_digest(app, now=wednesday + timedelta(hours=1), hour=6) is None
    assert len(digests(db)) == 2


@pytest.mark.postgres
def test_two_schedulers_at_once_send_one_digest_each(backend: str, app: Flask, db: Session,
                                                     make: Factory) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    build_desk(db, make)
    factory = app.extensions["ruta_db"].session_factory

    def digest_pass() -> int:
        # Straight to the digests, past the week's claim in job_runs: the per-revisor record
        # alone must hold.
        with factory() as session:
            queued = send_weekly_digests(session, now=MONDAY)
            session.commit()
            return len(queued)

    results = run_together(digest_pass, digest_pass)
    assert sum(results) == 2, results
    assert len(digests(db)) == 2


def test_the_scheduler_runs_the_digest_on_mondays_at_the_reminder_hour_in_bogota(
        app: Flask) -> None:
    from jobs.scheduler import DIGEST_JOB_ID, build_scheduler

    app.config["REMINDER_HOUR"] = 7
    job = build_scheduler(app).get_job(DIGEST_JOB_ID)
    saturday = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    # Monday 3 March 2025, 07:30 in Bogotá = 12:30 UTC.
    assert job.trigger.get_next_fire_time(None, saturday) == datetime(
        2025, 3, 3, 12, 30, tzinfo=UTC)
    assert (job.coalesce, job.max_instances, job.args) == (True, 1, (app,))
