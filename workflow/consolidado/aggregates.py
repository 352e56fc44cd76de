"""What the consolidado needs of each Ruta, kept in a table (``ruta_aggregates``).

/reportes/ used to recompute every school of the Secretaría on each view (and on each of its
charts). Now each Ruta has one row here with the figures the page reads: its school and
horizon, its state and when it changed, its instrument, when it last moved (a transition or
a seguimiento report sent), what it owes the Secretaría (``stalled.owed``), its seguimiento
progress and its latest reminder. The page filters, sorts, counts and paginates these rows in
SQL (``workflow.consolidado.summary``). Refreshing a Ruta's row also refreshes what it
contributes to the plan sections and the municipal perfil, and their per-comuna sums
(``workflow.consolidado.section_counts``).

Two ways keep them up to date, and both write ``refreshed_at``:

- **when the Ruta's data changes**: a session hook (``track``) notes every Ruta whose rows a
  flush touched (the Ruta itself, its school, or any row with a ``ruta_id``: valoraciones,
  PMI elements, transitions, seguimiento reports, reminders) and, just before the commit,
  refreshes those Rutas' aggregates in the same transaction (``refresh_rutas``). Services need
  not call anything: a transition, a valoración or a report sent is on the page at once.
- **as time passes**: what depends on the day (a seguimiento checkpoint falling due makes a
  report owed) is refreshed for every Ruta by the scheduler's daily pass (``refresh_all``),
  and by ``ruta consolidado actualizar``. The page shows the oldest ``refreshed_at`` of what
  it shows («Datos actualizados el …»), so staleness is visible, never silent.

Days in the state, «PMI vencido» and «estancada» are worked out when the page is read, from
the stored moments and the horizon's deadline, so they never go stale. Statements that bypass
the ORM (bulk ``update()``) are not seen by the hook: the daily refresh covers them, and the
page refreshes at once any Ruta of its scope that has no row yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.orm import Session

from workflow.consolidado import stalled as stall
from workflow.consolidado.models import NOT_FOLLOWED, RutaAggregate
from workflow.consolidado.section_counts import (
    EVERY_KIND,
    SECTIONS_VERSION,
    kinds_moved_by,
    kinds_moved_by_ruta,
    rebuild_sums,
    refresh_sections,
)
from workflow.correo.reminders import bogota_day
from workflow.horizontes.models import ReminderSent
from workflow.models import Ruta, School, utcnow
from workflow.seguimiento.progress import progress_by_ruta
from workflow.states import State

BATCH = 500
FOLLOW_UP_STATES = frozenset({State.SEGUIMIENTO, State.CERRADO})
_DIRTY = "consolidado_dirty_rutas"
_DIRTY_SCHOOLS = "consolidado_dirty_schools"
_DIRTY_KINDS = "consolidado_dirty_kinds"


def _last_reminders(session: Session, ruta_ids: Sequence[int]
                    ) -> dict[int, tuple[int, datetime]]:
    latest = (select(ReminderSent.ruta_id, func.max(ReminderSent.id).label("last_id"))
              .where(ReminderSent.ruta_id.in_(ruta_ids)).group_by(ReminderSent.ruta_id)
              .subquery())
    rows = session.execute(select(ReminderSent.ruta_id, ReminderSent.id,
                                  ReminderSent.created_at)
                           .join(latest, latest.c.last_id == ReminderSent.id))
    return {ruta_id: (reminder_id, at) for ruta_id, reminder_id, at in rows}


def _rows(session: Session, rutas: Sequence[Ruta], secretarias: dict[int, int], *,
          now: datetime) -> list[dict[str, object]]:
    """The aggregate rows of ``rutas`` (at most ``BATCH``), computed with the same functions
    the full consolidado uses."""
    ids = [ruta.id for ruta in rutas]
    progress = progress_by_ruta(session, [ruta.id for ruta in rutas
                                          if ruta.state in FOLLOW_UP_STATES],
                                today=bogota_day(now))
    moved = stall.last_activity(session, rutas)
    returned_plans = stall.was_returned(session, [
        ruta.id for ruta in rutas if ruta.state is State.AUTOEVALUACION_ENVIADA])
    returned_reports = stall.returned_reports_of(session, [
        ruta.id for ruta in rutas if ruta.state is State.SEGUIMIENTO])
    reminders = _last_reminders(session, ids)
    rows = []
    for ruta in rutas:
        followed = progress.get(ruta.id)
        reminder = reminders.get(ruta.id)
        rows.append({
            "ruta_id": ruta.id, "secretaria_id": secretarias[ruta.school_id],
            "school_id": ruta.school_id, "horizon_start_year": ruta.horizon_start_year,
            "state": ruta.state.value, "state_changed_at": ruta.state_changed_at,
            "catalog_id": getattr(ruta, "catalog_id", None),
            "last_activity_at": moved[ruta.id],
            "owes": stall.owed(ruta, followed, returned_plan=ruta.id in returned_plans,
                               returned_report=ruta.id in returned_reports)[:200],
            "seguimiento": (followed.label if followed else NOT_FOLLOWED)[:200],
            "progress_percent": followed.percent if followed else None,
            "last_reminder_id": reminder[0] if reminder else None,
            "last_reminder_at": reminder[1] if reminder else None,
            "refreshed_at": now,
            "sections_version": SECTIONS_VERSION,
        })
    return rows


def refresh_rutas(session: Session, ruta_ids: Iterable[int], *,
                  now: datetime | None = None,
                  kinds: Mapping[int, frozenset[str]] | None = None) -> int:
    """Recompute the aggregates of ``ruta_ids`` (flushes; never commits). Returns how many
    rows were written; a Ruta that no longer exists loses its row. ``kinds``: per Ruta, the
    only kinds of section counts that can have moved (``section_counts.KINDS``; the session
    hook knows them from the rows it saw written); a Ruta whose counts were never computed
    gets all of them anyway."""
    moment = now or utcnow()
    wanted = sorted(set(ruta_ids))
    written = 0
    kinds = dict(kinds) if kinds is not None else None
    with session.no_autoflush:
        # Every Ruta locked before any row is written, in one order: a transaction holding
        # one of them (a service's lock) never waits on rows this one wrote meanwhile.
        for start in range(0, len(wanted), BATCH):
            session.execute(select(Ruta.id).where(Ruta.id.in_(wanted[start:start + BATCH]))
                            .order_by(Ruta.id).with_for_update())
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start:start + BATCH]
            computed = {ruta_id for ruta_id, version in session.execute(
                delete(RutaAggregate).where(RutaAggregate.ruta_id.in_(chunk))
                .returning(RutaAggregate.ruta_id, RutaAggregate.sections_version))
                if version == SECTIONS_VERSION}
            if kinds is not None:
                kinds.update({ruta_id: EVERY_KIND for ruta_id in chunk
                              if ruta_id not in computed})
            found = list(session.execute(
                select(Ruta, School.secretaria_id).join(School, School.id == Ruta.school_id)
                .where(Ruta.id.in_(chunk))))
            rutas = [ruta for ruta, _ in found]
            if not rutas:
                continue
            secretarias = {ruta.school_id: secretaria_id for ruta, secretaria_id in found}
            rows = _rows(session, rutas, secretarias, now=moment)
            session.execute(insert(RutaAggregate), rows)
            written += len(rows)
        for start in range(0, len(wanted), BATCH):
            # Also for Rutas deleted since: their counts leave the sums.
            refresh_sections(session, wanted[start:start + BATCH], locked=True, kinds=kinds)
    return written


def refresh_all(session: Session, *, now: datetime | None = None,
                secretaria_id: int | None = None) -> int:
    """Every Ruta (of one Secretaría, if given): the scheduler's daily refresh."""
    statement = select(Ruta.id).order_by(Ruta.id)
    if secretaria_id is not None:
        statement = statement.join(School, School.id == Ruta.school_id).where(
            School.secretaria_id == secretaria_id)
    return refresh_rutas(session, session.scalars(statement).all(), now=now)


def refresh_in_batches(factory: Callable[[], Session], *, now: datetime | None = None) -> int:
    """``refresh_all`` in short transactions of ``BATCH`` Rutas each (the scheduler's daily
    refresh and ``ruta consolidado actualizar``): no long lock, bounded memory."""
    moment = now or utcnow()
    with factory() as session:
        ids = list(session.scalars(select(Ruta.id).order_by(Ruta.id)))
    written = 0
    for start in range(0, len(ids), BATCH):
        with factory() as session:
            written += refresh_rutas(session, ids[start:start + BATCH], now=moment)
            session.commit()
    with factory() as session:
        rebuild_sums(session)
        session.commit()
    return written


# --- keeping them up to date ----------------------------------------------------------------


def _note(session: Session, flush_context: object) -> None:
    """After a flush: the Rutas (and schools) whose rows it wrote, and for each Ruta the
    kinds of section counts those rows can move."""
    rutas: set[int] = session.info.setdefault(_DIRTY, set())
    schools: set[int] = session.info.setdefault(_DIRTY_SCHOOLS, set())
    kinds: dict[int, frozenset[str]] = session.info.setdefault(_DIRTY_KINDS, {})
    # ``Session.dirty`` builds a new set on each use: read once, not once per Ruta (the
    # daily pass flushes 435 started Rutas at once).
    dirty = session.dirty
    for item in (*session.new, *dirty, *session.deleted):
        if isinstance(item, RutaAggregate):
            continue
        if isinstance(item, Ruta):
            if item.id is not None:
                rutas.add(item.id)
                moved = (kinds_moved_by_ruta(item) if item in dirty
                         else EVERY_KIND)  # a Ruta created or deleted
                kinds[item.id] = kinds.get(item.id, frozenset()) | moved
        elif isinstance(item, School):
            if item.id is not None:
                schools.add(item.id)
        else:
            ruta_id = getattr(item, "ruta_id", None)
            if isinstance(ruta_id, int):
                rutas.add(ruta_id)
                kinds[ruta_id] = kinds.get(ruta_id, frozenset()) | kinds_moved_by(item)


def _refresh_noted(session: Session) -> None:
    """Before the commit: refresh what the transaction's flushes touched. A savepoint's
    release leaves it to the transaction's own commit, which refreshes every Ruta its
    savepoints touched at once (the daily pass starts a hundred seguimientos a commit)."""
    if session.in_nested_transaction():
        return
    session.flush()
    rutas: set[int] = session.info.pop(_DIRTY, set())
    schools: set[int] = session.info.pop(_DIRTY_SCHOOLS, set())
    kinds: dict[int, frozenset[str]] = session.info.pop(_DIRTY_KINDS, {})
    if schools:
        of_schools = set(session.scalars(select(Ruta.id).where(Ruta.school_id.in_(schools))))
        rutas.update(of_schools)
        kinds.update(dict.fromkeys(of_schools, EVERY_KIND))
    if rutas:
        refresh_rutas(session, rutas, kinds=kinds)
        _forget(session)


def _forget(session: Session, *_: object) -> None:
    for key in (_DIRTY, _DIRTY_SCHOOLS, _DIRTY_KINDS):
        session.info.pop(key, None)


def track() -> None:
    """Install the hook on every session (idempotent)."""
    if not event.contains(Session, "after_flush", _note):
        event.listen(Session, "after_flush", _note)
        event.listen(Session, "before_commit", _refresh_noted)
        event.listen(Session, "after_rollback", _forget)


track()
