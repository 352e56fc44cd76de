"""The consolidated data as sheets: Excel (openpyxl, write-only) and CSV.

Sheets: schools and their state, Rutas per state, and the perfil per school and componente
(one row per school × componente of the Secretaría's current catalog, with its level). The
PMI and seguimiento sheets come with the issues that create that content.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion import Valoracion
from workflow.consolidado import SUBMITTED_STATES, Consolidado
from workflow.states import STATE_ORDER


@dataclass(frozen=True)
class Sheet:
    slug: str  # the ``hoja=`` of the CSV download
    title: str  # the Excel tab (at most 31 characters)
    header: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value safe for a spreadsheet: text that a program would run as a formula is quoted
    (openpyxl writes any text starting with "=" as a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _school_rows(data: Consolidado) -> list[tuple[Any, ...]]:
    rows = []
    for row in data.schools:
        reminder = row.last_reminder
        rows.append((
            row.school.dane_code, row.school.name, row.school.zona.label, row.school.locality,
            row.ruta.state.label if row.ruta else "Sin Ruta",
            row.days_in_state, "Sí" if row.overdue else "No", "Sí" if row.stalled else "No",
            reminder.day if reminder else None, reminder.summary if reminder else "",
        ))
    return rows


def _perfil_rows(session: Session, data: Consolidado) -> list[tuple[Any, ...]]:
    catalog = data.catalog
    if catalog is None:
        return []
    rutas = [row for row in data.schools if row.ruta is not None
             and row.ruta.state in SUBMITTED_STATES
             and getattr(row.ruta, "catalog_id", None) == catalog.id]
    levels = {(ruta_id, componente_id): level for ruta_id, componente_id, level in
              session.execute(select(Valoracion.ruta_id, Valoracion.componente_id,
                                     Valoracion.level).where(
                  Valoracion.ruta_id.in_([row.ruta.id for row in rutas if row.ruta])))}
    rows = []
    for row in rutas:
        assert row.ruta is not None
        for area in catalog.areas:
            for proceso in area.procesos:
                for componente in proceso.componentes:
                    rows.append((row.school.dane_code, row.school.name, area.name,
                                 proceso.name, componente.code, componente.name,
                                 levels.get((row.ruta.id, componente.id))))
    return rows


def sheets(session: Session, data: Consolidado) -> list[Sheet]:
    counts = dict(data.funnel)
    return [
        Sheet("instituciones", "Instituciones",
              ("Código DANE", "Institución", "Zona", "Comuna o corregimiento", "Estado",
               "Días en el estado", "PMI vencido", "Estancada", "Último recordatorio",
               "Recordatorio"),
              _school_rows(data)),
        Sheet("estados", "Estados", ("Estado", "Rutas"),
              [(state.label, counts.get(state, 0)) for state in STATE_ORDER]),
        Sheet("perfil", "Perfil por componente",
              ("Código DANE", "Institución", "Área", "Proceso", "Código", "Componente",
               "Nivel"),
              _perfil_rows(session, data)),
    ]


def write_xlsx(all_sheets: Sequence[Sheet], out: IO[bytes],
               progress: Callable[[int], None] | None = None) -> None:
    """Write the workbook in write-only mode (rows go to disk as they come). ``progress`` is
    told how many rows were written since its last call."""
    workbook = Workbook(write_only=True)
    for sheet in all_sheets:
        worksheet = workbook.create_sheet(sheet.title[:31])
        worksheet.append(list(sheet.header))
        for row in sheet.rows:
            worksheet.append([cell(value) for value in row])
            if progress is not None:
                progress(1)
    workbook.save(out)


def total_rows(all_sheets: Iterable[Sheet]) -> int:
    return sum(len(sheet.rows) for sheet in all_sheets)


def csv_lines(sheet: Sheet) -> Iterator[bytes]:
    """The sheet as UTF-8 CSV, line by line (with a BOM, so Excel reads the accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    for row in (sheet.header, *sheet.rows):
        writer.writerow(["" if value is None else cell(value) for value in row])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
