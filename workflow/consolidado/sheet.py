"""What a sheet of the consolidado is (its slug, tab, header and rows), shared by the export
writer (``workflow.consolidado.exports``) and the modules that produce sheets of their own
(``workflow.consolidado.insumos_sheets``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from workflow.consolidado.consolidate import SchoolRow

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Sheet:
    slug: str  # the ``hoja=`` of the CSV download
    title: str  # the Excel tab (at most 31 characters)
    header: tuple[str, ...]
    produce: Callable[[], Iterable[Row]]
    size: Callable[[], int]

    def rows(self) -> Iterable[Row]:
        return self.produce()


def fixed(slug: str, title: str, header: tuple[str, ...], rows: Sequence[Row]) -> Sheet:
    """A sheet whose rows are already in memory."""
    return Sheet(slug, title, header, lambda: rows, lambda: len(rows))


def lazy(slug: str, title: str, header: tuple[str, ...],
         compute: Callable[[], Sequence[Row]]) -> Sheet:
    """A sheet whose rows are computed once, when first counted or written."""
    computed: dict[str, Sequence[Row]] = {}

    def rows() -> Sequence[Row]:
        if "rows" not in computed:
            computed["rows"] = compute()
        return computed["rows"]

    return Sheet(slug, title, header, rows, lambda: len(rows()))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value safe for a spreadsheet: text that a program would run as a formula is quoted
    (openpyxl writes any text starting with "=" as a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


SCHOOL_HEADER = ("Código DANE", "Institución", "Zona", "Comuna o corregimiento", "Estado")


def school_cells(row: SchoolRow) -> Row:
    return (row.school.dane_code, row.school.name, row.school.zona.label, row.school.locality,
            row.ruta.state.label if row.ruta else "Sin Ruta")
