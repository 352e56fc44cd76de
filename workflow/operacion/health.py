"""What operators watch: the parts of the service one by one (/salud) and the figures a
Prometheus server scrapes (/metricas).

- Database: one ``SELECT 1``.
- Storage: the evidence store answers (``Storage.check``: a probe file written and deleted in
  the local folder; the bucket reachable on S3).
- Scheduler: its heartbeat (``SchedulerHeartbeat``), rewritten every ``HEARTBEAT_SECONDS``;
  older than ``STALE_AFTER`` means no scheduler is running jobs.

Pure reads; the web layer decides the HTTP status and who may see the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from workflow.consolidado.models import ExportJob, ExportStatus
from workflow.horizontes.models import JobRun, SchedulerHeartbeat
from workflow.models import OutboxMessage, OutboxStatus

HEARTBEAT_SECONDS: Final = 30
# Three beats missed: the scheduler is not running (or cannot reach the database).
STALE_AFTER: Final = timedelta(seconds=3 * HEARTBEAT_SECONDS)
OK: Final = "ok"


class Checkable(Protocol):
    def check(self) -> str | None:
        """What is wrong with the store, in Spanish, or None when it works."""
        ...


@dataclass(frozen=True)
class Part:
    state: str  # "ok", or what is wrong, in Spanish
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == OK


@dataclass(frozen=True)
class Health:
    database: Part
    storage: Part
    scheduler: Part

    @property
    def serving(self) -> bool:
        """The web service can do its work (the scheduler only delays mail and passes)."""
        return self.database.ok and self.storage.ok

    @property
    def state(self) -> str:
        if not self.serving:
            return "no disponible"
        return OK if self.scheduler.ok else "degradado"

    def as_json(self) -> dict[str, object]:
        return {"estado": self.state,
                "base_de_datos": {"estado": self.database.state, **self.database.detail},
                "almacenamiento": {"estado": self.storage.state, **self.storage.detail},
                "programador": {"estado": self.scheduler.state, **self.scheduler.detail}}


def database_part(session: Session) -> Part:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        session.rollback()
        return Part("sin conexión")
    return Part(OK)


def storage_part(storage: Checkable) -> Part:
    try:
        problem = storage.check()
    except Exception as error:  # an unexpected failure of the store is its state, not a 500
        problem = f"falla ({type(error).__name__})"
    return Part(problem or OK)


def heartbeat_age(session: Session, now: datetime) -> float | None:
    """Seconds since the scheduler's last heartbeat; None when it never ran."""
    beat = session.scalar(select(SchedulerHeartbeat.beat_at))
    return None if beat is None else max((now - beat).total_seconds(), 0.0)


def scheduler_part(session: Session, now: datetime) -> Part:
    try:
        age = heartbeat_age(session, now)
    except SQLAlchemyError:
        session.rollback()
        return Part("desconocido (sin base de datos)")
    if age is None:
        return Part("nunca ha corrido")
    detail: dict[str, object] = {"segundos_desde_el_ultimo_latido": round(age)}
    if age > STALE_AFTER.total_seconds():
        return Part("detenido", detail)
    return Part(OK, detail)


def health(session: Session, storage: Checkable, now: datetime) -> Health:
    database = database_part(session)
    scheduler = (scheduler_part(session, now) if database.ok
                 else Part("desconocido (sin base de datos)"))
    return Health(database, storage_part(storage), scheduler)


# --- the figures of /metricas -------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    outbox: dict[OutboxStatus, int]
    # The oldest message still waiting to be sent: how far behind delivery is.
    oldest_pending: datetime | None
    exports: dict[ExportStatus, int]
    last_daily_pass: datetime | None
    heartbeat_age: float | None


def figures(session: Session, now: datetime) -> Figures:
    """Counts by status (every status present, zero when none), in five small queries."""
    outbox = dict.fromkeys(OutboxStatus, 0) | dict(session.execute(  # type: ignore[arg-type]
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    exports = dict.fromkeys(ExportStatus, 0) | dict(session.execute(  # type: ignore[arg-type]
        select(ExportJob.status, func.count()).group_by(ExportJob.status)).all())
    return Figures(
        outbox=outbox,
        oldest_pending=session.scalar(select(func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING)),
        exports=exports,
        last_daily_pass=session.scalar(select(func.max(JobRun.finished_at))),
        heartbeat_age=heartbeat_age(session, now),
    )


def record_heartbeat(session: Session, *, now: datetime, started_at: datetime, host: str,
                     pid: int) -> None:
    """The scheduler is alive at ``now`` (one row, rewritten; one scheduler per database).
    The caller commits."""
    beat = session.get(SchedulerHeartbeat, 1)
    if beat is None:
        session.add(SchedulerHeartbeat(id=1, started_at=started_at, beat_at=now, host=host,
                                       pid=pid))
    else:
        beat.started_at, beat.beat_at, beat.host, beat.pid = started_at, now, host, pid
    session.flush()
