"""Exports people open without fixing (issue 14, item 5): a styled, filterable workbook and a
CSV in the Spanish-locale shape (``;`` and decimal comma), with ``?separador=coma`` for «,»."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.consolidado.test_consolidado import seed, xlsx_by_job
from workflow.consolidado.exports import write_xlsx
from workflow.consolidado.sheet import fixed


def download(web: WebClient, url: str) -> bytes:
    response = web.client.get(url)
    assert response.status_code == 200, url
    body = response.get_data()
    response.close()
    return body


def test_csv_opens_with_semicolon_and_decimal_comma(web: WebClient, db: Session,
                                                    make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    body = download(web, "/reportes/consolidado.csv?hoja=metas")
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8").removeprefix("\ufeff")
    header = text.splitlines()[0]
    assert header.startswith("Código DANE;Institución;Zona;")
    assert "," not in header
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][8:12] == ["Cantidad", "Unidad", "Fecha límite", "Línea base"]
    assert rows[3][8:9] == ["40,0"]  # decimal comma, not 40.0
    assert rows[3][10:12] == ["2026-11-30", "31,0"]
    assert all(len(row) == len(rows[0]) for row in rows)
    # The documented option: «,» between columns and a decimal point.
    comma = download(web, "/reportes/consolidado.csv?hoja=metas&separador=coma")
    comma_rows = list(csv.reader(io.StringIO(comma.decode("utf-8").removeprefix("\ufeff"))))
    assert comma_rows[3][8] == "40.0"
    assert [row[:6] for row in comma_rows] == [row[:6] for row in rows]
    # Naming the default is the same as not naming it; an unknown one is refused.
    assert download(web, "/reportes/consolidado.csv?hoja=metas&separador=punto-y-coma") == body
    assert web.client.get("/reportes/consolidado.csv?separador=tab").status_code == 404
    page = web.client.get("/reportes/").get_data(as_text=True)
    assert "separador=coma" in page
    assert "coma decimal" in page


def test_workbook_opens_ready_to_use(app: Flask, web: WebClient, db: Session, make: Factory,
                                     tmp_path: Path) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    workbook = load_workbook(io.BytesIO(xlsx_by_job(app, web, tmp_path)))
    for worksheet in workbook.worksheets:
        assert worksheet.freeze_panes == "A2", worksheet.title
        assert all(cell.font.bold for cell in worksheet[1]), worksheet.title
        assert worksheet.auto_filter.ref is not None, worksheet.title
        assert worksheet.auto_filter.ref.startswith("A1:"), worksheet.title
        assert worksheet.column_dimensions["A"].width >= 8, worksheet.title
    metas = workbook["PMI - Metas"]
    assert metas.auto_filter.ref == f"A1:N{metas.max_row}"
    assert metas.max_row == 6
    # Wide text gets a wide column (within bounds); a short one stays narrow.
    assert metas.column_dimensions["H"].width > metas.column_dimensions["F"].width
    assert metas.column_dimensions["H"].width <= 60
    row = [cell for cell in metas[4]]
    assert row[10].value.date() == date(2026, 11, 30)
    assert row[10].number_format == "dd/mm/yyyy"
    assert row[8].value == 40
    assert row[8].number_format == "#,##0.0#"
    assert workbook["Instituciones"]["F2"].number_format == "0"  # days, not "40.0"
    assert not workbook["Instituciones"]["B2"].font.bold
    workbook.close()


def test_workbook_writes_a_moment_as_read_in_bogota() -> None:
    # Found by the accessibility crawl: the demo's consolidado answered 500 (openpyxl refuses
    # time zones) when a sheet carried a stored, zone-aware moment.
    moment = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    out = io.BytesIO()
    write_xlsx([fixed("prueba", "Prueba", ("Cuándo",), [(moment,)])], out)
    worksheet = load_workbook(io.BytesIO(out.getvalue()))["Prueba"]
    assert worksheet["A2"].value == datetime(2025, 3, 4, 10, 30)  # 10:30 in Bogotá


def test_workbook_days_repeat_and_stay_apart_from_texts_and_moments() -> None:
    # Day cells are rendered once per workbook and reused: the same day on many rows, and a
    # text or a moment that looks like that day, each keep their own cell.
    day = date(2025, 3, 4)
    rows = [(day, "2025-03-04"), (day, datetime(2025, 3, 4, 12, 0, tzinfo=UTC)),
            (date(2025, 3, 5), day)]
    out = io.BytesIO()
    write_xlsx([fixed("prueba", "Prueba", ("Día", "Otro"), rows)], out)
    worksheet = load_workbook(io.BytesIO(out.getvalue()))["Prueba"]
    read = [[cell.value for cell in row] for row in worksheet.iter_rows(min_row=2)]
    assert read == [[datetime(2025, 3, 4), "2025-03-04"],
                    [datetime(2025, 3, 4), datetime(2025, 3, 4, 7, 0)],
                    [datetime(2025, 3, 5), datetime(2025, 3, 4)]]
    assert {worksheet[f"A{number}"].number_format for number in (2, 3, 4)} == {"dd/mm/yyyy"}
    assert worksheet["B3"].number_format != "dd/mm/yyyy"


def test_workbook_text_survives_xml() -> None:
    # The writer produces SpreadsheetML itself: markup characters are escaped, spaces at
    # the ends kept, control characters (no place in XML; openpyxl refused the whole file)
    # left out, text cut at Excel's 32,767 characters, and a value that is not a number
    # (NaN) left empty.
    rows = [("a < b & c > d", "  sangría", "tab\tline\nend\x0bx\x00", "x" * 40_000,
             float("nan"), "=SUMA(A1)", 7)]
    out = io.BytesIO()
    write_xlsx([fixed("prueba", "Prueba", ("Uno", "Dos", "Tres", "Cuatro", "Cinco", "Seis",
                                           "Siete"), rows)], out)
    worksheet = load_workbook(io.BytesIO(out.getvalue()))["Prueba"]
    assert [cell.value for cell in worksheet[2]] == [
        "a < b & c > d", "  sangría", "tab\tline\nendx", "x" * 32_767, None, "'=SUMA(A1)", 7]
    assert worksheet.auto_filter.ref == "A1:G2"
