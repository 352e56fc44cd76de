"""The consolidado's sheets as CSV, in the shape a Colombian (Spanish-locale) Excel opens in
columns: «;» between fields and a decimal comma; ``?separador=coma`` gives «,» and a point."""

from __future__ import annotations

import csv
import decimal
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from workflow.consolidado.sheet import FORMULA_STARTS, Sheet, cell


@dataclass(frozen=True)
class CsvStyle:
    """How a CSV separates fields and writes decimals. The default is what a Colombian
    (Spanish-locale) Excel opens in columns: «;» and a decimal comma."""

    slug: str
    delimiter: str
    decimal: str


SEMICOLON = CsvStyle("punto-y-coma", ";", ",")
COMMA = CsvStyle("coma", ",", ".")
CSV_STYLES = {style.slug: style for style in (SEMICOLON, COMMA)}


def csv_style(slug: str | None) -> CsvStyle | None:
    """The style named by ``?separador=`` (none given: the default); None if unknown."""
    if not slug:
        return SEMICOLON
    return CSV_STYLES.get(slug)


def _csv_value(value: Any, style: CsvStyle) -> Any:
    if value is None:
        return ""
    if isinstance(value, float | decimal.Decimal) and not isinstance(value, bool):
        return str(value).replace(".", style.decimal)
    return cell(value)


CSV_CHUNK = 200  # rows per piece sent (one write and one encode per piece, not per row)


def csv_lines(sheet: Sheet, style: CsvStyle = SEMICOLON) -> Iterator[bytes]:
    """The sheet as UTF-8 CSV (with a BOM, so Excel reads the accents), with the style's
    separator and decimal mark, in pieces of ``CSV_CHUNK`` lines as the rows come."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=style.delimiter)
    yield "\ufeff".encode()
    rows = itertools.chain([sheet.header], sheet.rows())
    while chunk := list(itertools.islice(rows, CSV_CHUNK)):
        # Plain text (the most common value) goes as it is; the rest through _csv_value.
        writer.writerows([value if value.__class__ is str
                          and not value.startswith(FORMULA_STARTS)
                          else _csv_value(value, style) for value in row] for row in chunk)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
