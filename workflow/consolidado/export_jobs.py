"""Large consolidated exports, prepared in the background.

The Excel file is never written inside a web worker (at 10,000 schools it takes tens of
seconds and hundreds of megabytes, which would stall that worker's other requests): the
request only writes an ``ExportJob`` row (``request_export``) and the page follows its
progress; the scheduler (``ruta scheduler`` runs ``run_pending`` every 15 seconds) writes the
file. A claim is one conditional UPDATE, so two runners never write the same job; a job whose
runner died (no heartbeat for ``STALE_AFTER``) is claimed again.

The runner records its progress (rows written of the total) as it goes, writes the file under
a generated name in the export folder (instance storage, never the web root), and deletes
files older than the retention period (7 days by default), marking their jobs ``expired``.

``run_pending`` and ``run_job`` are job functions: they open their own sessions and commit
(progress must be visible while the file is written). Everything else flushes only.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from workflow.consolidado import consolidate as consolidado
from workflow.consolidado import exports
from workflow.consolidado.export_scope import ExportScope
from workflow.consolidado.models import FILE_PREFIX, ExportJob, ExportStatus
from workflow.errors import NotFound
from workflow.models import User, Zona
from workflow.roles import Role

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)
PROGRESS_EVERY = 500
RETENTION_DAYS = 7


# --- what a request does ------------------------------------------------------------------


def request_export(session: Session, actor: User, filters: consolidado.Filters, *,
                   now: datetime) -> tuple[ExportJob, bool]:
    """The job for ``actor``'s consolidado under ``filters``: one already queued or running
    with the same filters (a second click), or a new one. Returns (job, created).

    The job records the horizon (the current one when ``filters`` name none), so the file is
    the one asked for even if the current horizon moves meanwhile. ``NotFound`` for a year
    no horizon starts in.
    """
    horizon = consolidado.horizon_of(session, actor, filters).horizon_start_year
    zona = filters.zona.value if filters.zona is not None else None
    existing = session.scalars(
        select(ExportJob).where(
            ExportJob.requested_by_id == actor.id,
            ExportJob.horizon_start_year == horizon,
            ExportJob.status.in_([ExportStatus.QUEUED, ExportStatus.RUNNING]),
            ExportJob.zona.is_(None) if zona is None else ExportJob.zona == zona,
            ExportJob.comuna.is_(None) if not filters.comuna
            else ExportJob.comuna == filters.comuna)
        .order_by(ExportJob.id.desc()).limit(1)).first()
    if existing is not None:
        return existing, False
    job = ExportJob(secretaria_id=actor.secretaria_id, requested_by_id=actor.id, zona=zona,
                    comuna=filters.comuna, horizon_start_year=horizon,
                    status=ExportStatus.QUEUED, rows_done=0, created_at=now)
    session.add(job)
    session.flush()
    return job, True


def get_job(session: Session, actor: User, job_id: int) -> ExportJob:
    """A job of ``actor``'s Secretaría (``NotFound`` otherwise, even if it exists)."""
    job = session.get(ExportJob, job_id) if 0 < job_id < 2**31 else None
    if job is None or not actor.active or job.secretaria_id != actor.secretaria_id:
        raise NotFound("No encontramos esa exportación.")
    return job


def may_open(actor: User, job: ExportJob) -> bool:
    """Only the person who asked for it, or an administrador of the same Secretaría."""
    return actor.active and job.secretaria_id == actor.secretaria_id and (
        job.requested_by_id == actor.id or actor.role is Role.ADMINISTRADOR)


def jobs_for(session: Session, actor: User, *, limit: int = 20) -> list[ExportJob]:
    """The recent jobs ``actor`` may open: their own, or the Secretaría's for an admin."""
    statement = select(ExportJob).where(ExportJob.secretaria_id == actor.secretaria_id)
    if actor.role is not Role.ADMINISTRADOR:
        statement = statement.where(ExportJob.requested_by_id == actor.id)
    return list(session.scalars(statement.order_by(ExportJob.id.desc()).limit(limit)))


def file_path(folder: Path, job: ExportJob) -> Path | None:
    if job.status is not ExportStatus.DONE or not job.file_name:
        return None
    path = Path(folder) / job.file_name
    return path if path.is_file() else None


# --- the runner (a job function: it commits) ----------------------------------------------

SessionFactory = Callable[[], Session]


def claim(session: Session, job_id: int, *, now: datetime) -> bool:
    """Take ``job_id`` if it is queued, or running with a dead runner. One UPDATE decides."""
    stale = now - STALE_AFTER
    result = session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, or_(
            ExportJob.status == ExportStatus.QUEUED,
            and_(ExportJob.status == ExportStatus.RUNNING, ExportJob.heartbeat_at < stale)))
        .values(status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now, rows_done=0,
                error=None)
        .execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def claimable(session: Session, *, now: datetime, limit: int = 10) -> list[int]:
    stale = now - STALE_AFTER
    return list(session.scalars(
        select(ExportJob.id).where(or_(
            ExportJob.status == ExportStatus.QUEUED,
            and_(ExportJob.status == ExportStatus.RUNNING, ExportJob.heartbeat_at < stale)))
        .order_by(ExportJob.id).limit(limit)))


def run_job(session_factory: SessionFactory, job_id: int, *, folder: Path, stalled_days: int,
            now: datetime, clock: Callable[[], datetime] | None = None,
            progress_every: int = PROGRESS_EVERY,
            after_progress: Callable[[int, int], None] | None = None) -> ExportStatus:
    """Write the file of a job this process has claimed; record progress on the way.

    ``after_progress(rows_done, rows_total)`` is called after each recorded step.
    ``clock`` gives the moments it records (heartbeats, the end); by default ``now`` plus the
    time elapsed since the call, so ``finished_at`` is when the file was done, not when the
    job started (issue 17), and a run at a given ``now`` keeps its own time line.
    """
    started = time.monotonic()

    def elapsed() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    clock = clock or elapsed
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{FILE_PREFIX}{job_id}-{secrets.token_hex(16)}.xlsx"
    partial = folder / f".{name}.part"

    def record(**values: Any) -> None:
        with session_factory() as writer:
            writer.execute(update(ExportJob).where(ExportJob.id == job_id)
                           .values(heartbeat_at=clock(), **values)
                           .execution_options(synchronize_session=False))
            writer.commit()

    try:
        with session_factory() as session:
            job = session.get(ExportJob, job_id)
            if job is None or job.status is not ExportStatus.RUNNING:
                return job.status if job is not None else ExportStatus.FAILED
            actor = session.get(User, job.requested_by_id)
            if actor is None or not actor.active or actor.role.belongs_to_school:
                record(status=ExportStatus.FAILED, finished_at=clock(),
                       error="La cuenta que pidió la exportación ya no está activa.")
                return ExportStatus.FAILED
            scope = ExportScope(session, actor, job.filters, now=now,
                                stalled_days=stalled_days)
            all_sheets = exports.sheets(session, scope)
            total = exports.total_rows(all_sheets)
            record(rows_total=total, rows_done=0)
            if after_progress is not None:
                after_progress(0, total)
            done = 0
            pending = 0

            def progress(rows: int) -> None:
                nonlocal done, pending
                done += rows
                pending += rows
                if pending >= progress_every:
                    pending = 0
                    record(rows_done=min(done, total))
                    if after_progress is not None:
                        after_progress(min(done, total), total)

            with open(partial, "wb") as out:
                exports.write_xlsx(all_sheets, out, progress=progress)
            os.replace(partial, folder / name)
            size = (folder / name).stat().st_size
            session.rollback()
        record(status=ExportStatus.DONE, rows_done=total, rows_total=total, file_name=name,
               file_size=size, finished_at=clock())
        if after_progress is not None:
            after_progress(total, total)
        return ExportStatus.DONE
    except Exception as failure:
        log.exception("La exportación %s falló.", job_id)
        partial.unlink(missing_ok=True)
        (folder / name).unlink(missing_ok=True)
        record(status=ExportStatus.FAILED, finished_at=clock(),
               error=f"No se pudo preparar el archivo ({type(failure).__name__}). "
                     "Inténtelo de nuevo; si vuelve a fallar, avise a soporte.")
        return ExportStatus.FAILED


def purge_expired(session_factory: SessionFactory, *, folder: Path, now: datetime,
                  retention_days: int = RETENTION_DAYS) -> int:
    """Delete the files of jobs finished more than ``retention_days`` ago (and stray files
    of the folder as old), marking their jobs expired. Returns how many files went."""
    folder = Path(folder)
    cutoff = now - timedelta(days=retention_days)
    removed = 0
    with session_factory() as session:
        old = list(session.scalars(select(ExportJob).where(
            ExportJob.status == ExportStatus.DONE, ExportJob.finished_at < cutoff)))
        for job in old:
            if job.file_name:
                path = folder / job.file_name
                if path.is_file():
                    path.unlink()
                    removed += 1
            job.status = ExportStatus.EXPIRED
            job.file_name = None
        session.commit()
        kept = set(session.scalars(select(ExportJob.file_name).where(
            ExportJob.file_name.is_not(None))))
    if folder.is_dir():
        for path in folder.iterdir():
            if (path.is_file() and path.name not in kept
                    and path.name.lstrip(".").startswith(FILE_PREFIX)
                    and path.stat().st_mtime < cutoff.timestamp()):
                path.unlink()
                removed += 1
    return removed


def run_pending(session_factory: SessionFactory, *, folder: Path, stalled_days: int,
                now: datetime, retention_days: int = RETENTION_DAYS,
                limit: int = 10, clock: Callable[[], datetime] | None = None
                ) -> list[tuple[int, ExportStatus]]:
    """What ``ruta scheduler`` runs every 15 s: expire old files, then run claimable jobs."""
    purge_expired(session_factory, folder=folder, now=now, retention_days=retention_days)
    ran = []
    with session_factory() as session:
        candidates = claimable(session, now=now, limit=limit)
    for job_id in candidates:
        status = claim_and_run(session_factory, job_id, folder=folder,
                               stalled_days=stalled_days, now=now, clock=clock)
        if status is not None:
            ran.append((job_id, status))
    return ran


def claim_and_run(session_factory: SessionFactory, job_id: int, *, folder: Path,
                  stalled_days: int, now: datetime,
                  clock: Callable[[], datetime] | None = None) -> ExportStatus | None:
    """Run ``job_id`` if this runner wins its claim (None when another runner has it)."""
    with session_factory() as session:
        if not claim(session, job_id, now=now):
            return None
    return run_job(session_factory, job_id, folder=folder, stalled_days=stalled_days, now=now,
                   clock=clock)


def zona_label(value: str | None) -> str:
    return next((zona.label for zona in Zona if zona.value == value), "Todas")
