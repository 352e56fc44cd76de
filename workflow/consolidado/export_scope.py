"""What the export sheets read: the consolidado's scope, horizon and filters, each part
computed only when a sheet asks for it.

``consolidate`` computes everything the /reportes/ page shows (the municipal perfil alone reads
every valoración: 868,000 rows at 10,000 schools). A sheet needs far less: «estados» needs one
GROUP BY, the PMI sheets need the schools and their Rutas, «instituciones» also needs the last
reminders, the seguimiento progress and the stalls. ``ExportScope`` answers the attributes the
sheet builders read from a ``Consolidado`` (``schools``, ``plan_rows``, ``stalled``,
``funnel``, ``catalog``, ``horizon_years``, ``metas_por_area``…), each on first use, through the
same scoping (``workflow.scoping.scoped``) and the same filters as the consolidado.

``schools`` are the light rows (school and Ruta: what the PMI, rubric, lesson and seguimiento
sheets read); ``detailed`` are the rows of the consolidado's table (days in state, PMI overdue,
stalled, last reminder, seguimiento progress), read only by «instituciones» and «estancadas».
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workflow.catalogo.models import Catalog
from workflow.consolidado import consolidate as consolidado
from workflow.consolidado.consolidate import (
    FOLLOW_UP_STATES,
    PLAN_STATES,
    SEGUIMIENTO_PENDING,
    Filters,
    MetasPorArea,
    Reminded,
    SchoolRow,
)
from workflow.consolidado.stalled import stalls
from workflow.correo.reminders import PMI_OWED, bogota_day
from workflow.horizontes.models import ReminderSent
from workflow.models import Ruta, School, User
from workflow.plain_rows import plain_rows
from workflow.scoping import scoped
from workflow.search_keys import bytewise
from workflow.seguimiento.progress import progress_by_ruta
from workflow.states import STATE_ORDER, State


class ExportScope:
    """The Secretaría's schools and Rutas ``actor`` sees, in the horizon and under the
    filters given (``NotFound`` at construction for a year no horizon starts in)."""

    def __init__(self, session: Session, actor: User, filters: Filters, *, now: datetime,
                 stalled_days: int) -> None:
        self.session = session
        self.actor = actor
        self.filters = filters
        self.now = now
        self.stalled_days = stalled_days
        self.calendar = consolidado.horizon_of(session, actor, filters)
        self.horizon_start_year = self.calendar.horizon_start_year
        self.horizon_label = self.calendar.horizon_label
        self.pmi_deadline: date | None = self.calendar.pmi_deadline

    # --- the statements, narrowed like the consolidado's ----------------------------------

    def _filtered(self, statement: Select[Any]) -> Select[Any]:
        statement = statement.where(School.active.is_(True))
        if self.filters.zona is not None:
            statement = statement.where(School.zona == self.filters.zona)
        if self.filters.comuna:
            statement = statement.where(School.locality == self.filters.comuna)
        return statement

    def _rutas_statement(self) -> Select[Any]:
        return self._filtered(scoped(self.actor, Ruta).where(
            Ruta.horizon_start_year == self.horizon_start_year))

    # --- the parts ----------------------------------------------------------------------

    @cached_property
    def funnel(self) -> list[tuple[State, int]]:
        """Rutas per state: one GROUP BY, no row read."""
        statement = self._rutas_statement().with_only_columns(
            Ruta.state, func.count(Ruta.id)).group_by(Ruta.state)
        counts: dict[State, int] = {
            state: count for state, count in self.session.execute(statement)}
        return [(state, counts.get(state, 0)) for state in STATE_ORDER]

    @property
    def total_rutas(self) -> int:
        return sum(count for _, count in self.funnel)

    @cached_property
    def schools(self) -> list[SchoolRow]:
        """Every school in scope, in the order of the consolidado's table, with its Ruta of
        the horizon (two queries)."""
        statement = self._filtered(scoped(self.actor, School))
        found = list(self.session.scalars(statement.order_by(
            bytewise(School.sort_key), School.id)))
        rutas = {ruta.school_id: ruta for ruta in self.session.scalars(
            self._rutas_statement())}
        return [SchoolRow(school, rutas.get(school.id), None, None, False, False)
                for school in found]

    @property
    def plan_rows(self) -> list[SchoolRow]:
        """The schools whose Ruta has a plan to export, in the order of the table."""
        return [row for row in self.schools
                if row.ruta is not None and row.ruta.state in PLAN_STATES]

    @property
    def rutas(self) -> list[Ruta]:
        return [row.ruta for row in self.schools if row.ruta is not None]

    @cached_property
    def detailed(self) -> list[SchoolRow]:
        """The consolidado's table: days in state, PMI overdue, stalled, last reminder and
        seguimiento progress of every school (a few queries per 500 Rutas)."""
        rutas = self.rutas
        today = bogota_day(self.now)
        reminders = last_reminders(self.session, [ruta.id for ruta in rutas])
        progress = progress_by_ruta(self.session, [ruta.id for ruta in rutas
                                                   if ruta.state in FOLLOW_UP_STATES],
                                    today=today)
        stall = stalls(self.session, rutas, progress, now=self.now,
                       stalled_days=self.stalled_days)
        deadline = self.pmi_deadline
        rows = []
        for row in self.schools:
            ruta = row.ruta
            if ruta is None:
                rows.append(row)
                continue
            followed = progress.get(ruta.id)
            rows.append(SchoolRow(
                row.school, ruta, (today - bogota_day(ruta.state_changed_at)).days,
                reminders.get(ruta.id),
                deadline is not None and today > deadline and ruta.state in PMI_OWED,
                stall[ruta.id].stalled, followed.label if followed else SEGUIMIENTO_PENDING,
                followed, stall[ruta.id].owes, stall[ruta.id].idle_days))
        return rows

    @property
    def stalled(self) -> list[SchoolRow]:
        return [row for row in self.detailed if row.stalled]

    @cached_property
    def catalog(self) -> Catalog | None:
        return consolidado.horizon_catalog(self.session, self.calendar)

    @property
    def perfil_rows(self) -> list[SchoolRow]:
        """The schools whose autoevaluación was sent with the horizon's instrument: what the
        municipal perfil pools."""
        catalog = self.catalog
        if catalog is None:
            return []
        return [row for row in self.schools if row.ruta is not None
                and row.ruta.state in consolidado.SUBMITTED_STATES
                and getattr(row.ruta, "catalog_id", None) == catalog.id]

    @cached_property
    def horizon_years(self) -> list[int]:
        """The years of the horizon, to the last one a Ruta in scope ends in (one MAX)."""
        end = self.session.scalar(self._rutas_statement().with_only_columns(
            func.max(Ruta.horizon_end_year)))
        if end is None:
            end = self.horizon_start_year + 2
        return list(range(self.horizon_start_year, end + 1))

    @cached_property
    def metas_por_area(self) -> MetasPorArea:
        return consolidado.metas_por_area(self.session, self.plan_rows)


def last_reminders(session: Session, ruta_ids: Sequence[int]) -> dict[int, Reminded]:
    """The day and summary of the latest reminder sent about each Ruta (one query per 500
    Rutas). Columns, not entities: at 10,000 schools the whole rows (recipients included)
    held some 14 MB of Python objects, of the 50 an «instituciones» sheet peaked at."""
    found: dict[int, Reminded] = {}
    for chunk in consolidado.batches(list(ruta_ids)):
        latest = (select(ReminderSent.ruta_id, func.max(ReminderSent.id).label("last_id"))
                  .where(ReminderSent.ruta_id.in_(chunk)).group_by(ReminderSent.ruta_id)
                  .subquery())
        for row in plain_rows(session, select(ReminderSent.ruta_id, ReminderSent.day,
                                              ReminderSent.summary)
                              .join(latest, latest.c.last_id == ReminderSent.id)):
            found[row.ruta_id] = row
    return found
