"""Large consolidated exports in the background: request, claim, progress, download, scope,
retention. The runner is the real one (``run_pending``, what ``ruta scheduler`` calls), on
SQLite and PostgreSQL; the progress values are read back from the database while it writes."""

from __future__ import annotations

import io
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobs.scheduler import EXPORT_INTERVAL_SECONDS, EXPORT_JOB_ID, build_scheduler, export_job
from tests.conftest import Factory, WebClient
from tests.consolidado.test_consolidado import seed
from workflow.consolidado.consolidate import Filters
from workflow.consolidado.export_jobs import (
    STALE_AFTER,
    claim,
    purge_expired,
    request_export,
    run_job,
    run_pending,
)
from workflow.consolidado.models import ExportJob, ExportStatus
from workflow.models import User, Zona
from workflow.roles import Role

NOW = datetime(2024, 5, 1, 15, 0, tzinfo=UTC)
# The seeded Secretaría's workbook: 49 rows (see test_cli_export_consolidado_writes_workbook);
# rural only (schools C and F): 2 + 7 + 3 + 2 + 2 + 0 + 0 + 5 + 2 componentes trabajados.
ALL_ROWS = 49
RURAL_ROWS = 23


@pytest.fixture
def folder(app: Flask, tmp_path: Path) -> Path:
    path = tmp_path / "exportaciones"
    app.config.update(EXPORT_FOLDER=str(path))
    return path


def factory(app: Flask) -> Any:
    return app.extensions["ruta_db"].session_factory


def fresh(app: Flask, job_id: int) -> ExportJob:
    with factory(app)() as session:
        job = session.get(ExportJob, job_id)
        assert job is not None
        session.expunge(job)
        return job


# How long the runner's clock says each file took to write (``finished_at`` is its end).
WRITING = timedelta(seconds=5)


def run(app: Flask, folder: Path, now: datetime = NOW) -> list[tuple[int, ExportStatus]]:
    return run_pending(factory(app), folder=folder, stalled_days=30, now=now,
                       clock=lambda: now + WRITING)


def test_web_lifecycle_from_request_to_download(app: Flask, web: WebClient, db: Session,
                                                make: Factory, folder: Path) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    # The direct download sends the person to the queue, whatever the number of Rutas.
    direct = web.client.get("/reportes/consolidado.xlsx?zona=urbana")
    assert (direct.status_code, direct.headers["Location"]) == (
        302, "/reportes/exportaciones?zona=urbana")
    page = web.get("/reportes/exportaciones?zona=urbana").get_data(as_text=True)
    assert "El Excel se prepara en segundo plano" in page
    assert "(5 Rutas)" in page
    index = web.get("/reportes/").get_data(as_text=True)
    assert 'action="/reportes/exportaciones"' in index and "Preparar el Excel" in index
    response = web.post("/reportes/exportaciones", {})
    assert response.status_code == 303
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    # A second click while it waits: the same job, not another.
    again = web.post("/reportes/exportaciones", {})
    assert again.headers["Location"] == response.headers["Location"]
    assert len(db.scalars(select(ExportJob)).all()) == 1
    waiting = web.get(f"/reportes/exportaciones/{job_id}")
    text = waiting.get_data(as_text=True)
    assert waiting.headers["Refresh"] == "2"
    assert "En cola" in text and '<progress id="progreso" max="100" value="0">' in text
    assert "Dejar de actualizar" in text
    paused = web.get(f"/reportes/exportaciones/{job_id}?pausa=1")
    assert "Refresh" not in paused.headers
    early = web.client.get(f"/reportes/exportaciones/{job_id}/descarga")
    assert early.headers["Location"] == f"/reportes/exportaciones/{job_id}"

    assert run(app, folder) == [(job_id, ExportStatus.DONE)]
    assert run(app, folder) == []  # nothing left to claim
    job = fresh(app, job_id)
    assert (job.rows_done, job.rows_total, job.percent) == (ALL_ROWS, ALL_ROWS, 100)
    # The end of the run, not the start the scheduler passed (``now``).
    assert (job.started_at, job.finished_at) == (NOW, NOW + WRITING)
    assert job.file_size and job.file_size > 0
    done = web.get(f"/reportes/exportaciones/{job_id}")
    assert "Refresh" not in done.headers
    assert f'href="/reportes/exportaciones/{job_id}/descarga"' in done.get_data(as_text=True)
    download = web.client.get(f"/reportes/exportaciones/{job_id}/descarga")
    body = download.get_data()
    download.close()
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == (
        f"attachment; filename=consolidado-{job.created_at:%Y%m%d}-{job_id}.xlsx")
    workbook = load_workbook(io.BytesIO(body), read_only=True)
    assert len(workbook.sheetnames) == 19  # hallazgos and the rubric too
    assert len(list(workbook["PMI - Metas"].iter_rows(values_only=True))) == 6
    workbook.close()
    # The file lives in the export folder under a generated name, nowhere else.
    assert [path.name for path in folder.iterdir()] == [job.file_name]
    assert job.file_name and job.file_name.startswith(f"consolidado-{job_id}-")


def test_progress_is_recorded_while_the_file_is_written(app: Flask, db: Session,
                                                        make: Factory, folder: Path) -> None:
    seeded = seed(db, make)
    job, created = request_export(db, seeded.admin, Filters(), now=NOW)
    db.commit()
    assert created
    with factory(app)() as session:
        assert claim(session, job.id, now=NOW)
    seen: list[tuple[int, int, int, int | None, str]] = []

    def observe(done: int, total: int) -> None:
        stored = fresh(app, job.id)  # what the progress page would read right now
        seen.append((done, total, stored.rows_done, stored.rows_total, stored.status.value))

    status = run_job(factory(app), job.id, folder=folder, stalled_days=30, now=NOW,
                     progress_every=10, after_progress=observe)
    assert status is ExportStatus.DONE
    # The writer reports rows in batches (a sheet's end, every 500 rows): the job stores
    # the progress once at least 10 rows more were written, and the page reads what it says.
    assert seen[0] == (0, ALL_ROWS, 0, ALL_ROWS, "running")
    assert seen[-1] == (ALL_ROWS, ALL_ROWS, ALL_ROWS, ALL_ROWS, "done")
    middle = seen[1:-1]
    assert len(middle) >= 2, seen
    assert all(stored == done and status == "running" and total == stored_total == ALL_ROWS
               for done, total, stored, stored_total, status in middle), seen
    steps = [done for done, *_ in seen]
    assert all(later - earlier >= 10 for earlier, later in zip(steps[:-2], steps[1:-1],
                                                                   strict=True)), steps
    assert steps[-2] < ALL_ROWS
    assert [fresh(app, job.id).percent] == [100]


def test_finished_at_records_the_end_not_the_start(app: Flask, db: Session, make: Factory,
                                                   folder: Path) -> None:
    seeded = seed(db, make)
    job, _ = request_export(db, seeded.admin, Filters(), now=NOW)
    db.commit()
    with factory(app)() as session:
        assert claim(session, job.id, now=NOW)
    # The runner's clock moves on while it writes: three minutes after the start at the end.
    moments = iter(NOW + timedelta(minutes=minute) for minute in range(1, 100))
    readings: list[datetime] = []

    def clock() -> datetime:
        readings.append(next(moments))
        return readings[-1]

    assert run_job(factory(app), job.id, folder=folder, stalled_days=30, now=NOW,
                   clock=clock) is ExportStatus.DONE
    done = fresh(app, job.id)
    assert done.started_at == NOW
    # The last readings: the end's own and its heartbeat's.
    assert done.finished_at in readings[-2:] and done.finished_at > readings[0]
    # A failure records its end too.
    failing, _ = request_export(db, seeded.admin, Filters(zona=Zona.RURAL), now=NOW)
    db.execute(update(User).where(User.id == seeded.admin.id).values(active=False))
    db.commit()
    with factory(app)() as session:
        assert claim(session, failing.id, now=NOW)
    assert run_job(factory(app), failing.id, folder=folder, stalled_days=30, now=NOW,
                   clock=lambda: NOW + timedelta(seconds=42)) is ExportStatus.FAILED
    assert fresh(app, failing.id).finished_at == NOW + timedelta(seconds=42)


def test_percent_of_a_running_job() -> None:
    job = ExportJob(status=ExportStatus.RUNNING, rows_done=13, rows_total=52)
    assert job.percent == 25
    assert ExportJob(status=ExportStatus.QUEUED, rows_done=0, rows_total=None).percent == 0


def test_claim_is_exclusive_and_a_dead_runner_is_replaced(app: Flask, db: Session,
                                                         make: Factory) -> None:
    seeded = seed(db, make)
    job, _ = request_export(db, seeded.admin, Filters(), now=NOW)
    db.commit()
    with factory(app)() as first, factory(app)() as second:
        assert claim(first, job.id, now=NOW)
        assert not claim(second, job.id, now=NOW)
        # Still beating: nobody takes it over.
        assert not claim(second, job.id, now=NOW + STALE_AFTER - timedelta(seconds=1))
        # Silent for longer than STALE_AFTER: its runner died; the next one takes it.
        assert claim(second, job.id, now=NOW + STALE_AFTER + timedelta(seconds=1))
        assert not claim(first, job.id, now=NOW + STALE_AFTER + timedelta(seconds=1))


def test_scope_requester_and_admin_only(app: Flask, web_factory: Any, db: Session,
                                        make: Factory, folder: Path) -> None:
    seeded = seed(db, make)
    secretaria = seeded.admin.secretaria
    revisor = make.user(Role.REVISOR, secretaria=secretaria)
    consulta = make.user(Role.CONSULTA, secretaria=secretaria)
    theirs = make.secretaria("Secretaría de Educación del Tolima", "73")
    their_admin = make.user(Role.ADMINISTRADOR, secretaria=theirs)
    db.commit()
    asker: WebClient = web_factory()
    asker.login(revisor.email)
    created = asker.post("/reportes/exportaciones", {"zona": "rural"})
    job_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert run(app, folder) == [(job_id, ExportStatus.DONE)]
    assert fresh(app, job_id).rows_total == RURAL_ROWS
    url = f"/reportes/exportaciones/{job_id}/descarga"
    own = asker.client.get(url)
    workbook = load_workbook(io.BytesIO(own.get_data()), read_only=True)
    own.close()
    schools = [row[1] for row in workbook["Instituciones"].iter_rows(min_row=2,
                                                                     values_only=True)]
    workbook.close()
    assert schools == ["Institución C", "Institución F"]  # the rural schools of X only

    admin: WebClient = web_factory()
    admin.login(seeded.admin.email)
    from_admin = admin.client.get(url)
    assert from_admin.status_code == 200
    from_admin.get_data()
    from_admin.close()
    assert f"/reportes/exportaciones/{job_id}" in admin.get("/reportes/exportaciones").get_data(
        as_text=True)

    colleague: WebClient = web_factory()
    colleague.login(consulta.email)
    for target in (url, f"/reportes/exportaciones/{job_id}"):
        refused = colleague.client.get(target)
        assert (refused.status_code, refused.headers["Location"]) == (
            302, "/reportes/exportaciones?horizonte=2024&zona=rural")  # the job's horizon
    assert "la pidió otra persona" in colleague.get("/reportes/exportaciones?zona=rural"
                                                   ).get_data(as_text=True)
    assert f"/reportes/exportaciones/{job_id}" not in colleague.get(
        "/reportes/exportaciones").get_data(as_text=True)

    stranger: WebClient = web_factory()
    stranger.login(their_admin.email)
    assert stranger.client.get(url).status_code == 404
    assert stranger.client.get(f"/reportes/exportaciones/{job_id}").status_code == 404


def test_deactivated_requester_fails_the_job_with_a_reason(app: Flask, db: Session,
                                                           make: Factory,
                                                           folder: Path) -> None:
    seeded = seed(db, make)
    job, _ = request_export(db, seeded.admin, Filters(), now=NOW)
    db.execute(update(User).where(User.id == seeded.admin.id).values(active=False))
    db.commit()
    assert run(app, folder) == [(job.id, ExportStatus.FAILED)]
    failed = fresh(app, job.id)
    assert failed.error == "La cuenta que pidió la exportación ya no está activa."
    assert not folder.exists() or list(folder.iterdir()) == []


def test_files_older_than_retention_are_deleted(app: Flask, db: Session, make: Factory,
                                                folder: Path) -> None:
    seeded = seed(db, make)
    old, _ = request_export(db, seeded.admin, Filters(), now=NOW - timedelta(days=9))
    db.commit()
    assert run(app, folder, now=NOW - timedelta(days=8)) == [(old.id, ExportStatus.DONE)]
    recent, _ = request_export(db, seeded.admin, Filters(), now=NOW - timedelta(days=2))
    db.commit()
    assert run(app, folder, now=NOW - timedelta(days=6)) == [(recent.id, ExportStatus.DONE)]
    stray = folder / ".consolidado-99-abc.xlsx.part"  # a runner killed mid-file, long ago
    stray.write_bytes(b"medio archivo")
    os.utime(stray, ((NOW - timedelta(days=10)).timestamp(),) * 2)
    kept_name = fresh(app, recent.id).file_name
    old_name = fresh(app, old.id).file_name
    assert purge_expired(factory(app), folder=folder, now=NOW) == 2
    assert [path.name for path in folder.iterdir()] == [kept_name]
    expired = fresh(app, old.id)
    assert (expired.status, expired.file_name) == (ExportStatus.EXPIRED, None)
    assert old_name and not (folder / old_name).exists()
    assert fresh(app, recent.id).status is ExportStatus.DONE


def test_web_request_only_queues_the_job(app: Flask, web: WebClient, db: Session,
                                        make: Factory, folder: Path) -> None:
    """The request writes the job row and returns: no thread, no file, no workbook read. The
    scheduler's job function writes it."""
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    threads = {thread.ident for thread in threading.enumerate()}
    response = web.post("/reportes/exportaciones", {"zona": "rural"})
    assert response.status_code == 303
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert {thread.ident for thread in threading.enumerate()} <= threads
    job = fresh(app, job_id)
    assert (job.status, job.rows_done, job.rows_total, job.started_at) == (
        ExportStatus.QUEUED, 0, None, None)
    assert not folder.exists()
    waiting = web.get(f"/reportes/exportaciones/{job_id}").get_data(as_text=True)
    assert "En cola" in waiting
    export_job(app)  # what ``ruta scheduler`` runs every 15 seconds
    job = fresh(app, job_id)
    assert (job.status, job.rows_done) == (ExportStatus.DONE, RURAL_ROWS)
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at >= job.started_at
    assert run(app, folder) == []  # nothing left


def test_scheduler_runs_exports_every_15_seconds(app: Flask) -> None:
    job = build_scheduler(app).get_job(EXPORT_JOB_ID)
    assert job is not None
    assert job.trigger.interval == timedelta(seconds=EXPORT_INTERVAL_SECONDS) == timedelta(
        seconds=15)
    assert job.max_instances == 1 and job.coalesce
