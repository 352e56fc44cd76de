"""Exports that scale (issue 17, item 4): each sheet reads only what it needs, through the
consolidado's scoping and filters, and the CSV streams.

The sheets of ``ExportScope`` are compared, sheet by sheet and row by row, with the same sheets
built from the full ``consolidate`` (what every sheet computed before), under several filters;
the hand-computed contents are in ``test_consolidado.check_workbook``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.consolidado.test_consolidado import NOW, freeze, seed
from workflow.consolidado import exports
from workflow.consolidado.consolidate import (
    SUBMITTED_STATES,
    Consolidado,
    Filters,
    SchoolRow,
    consolidate,
)
from workflow.consolidado.export_scope import ExportScope
from workflow.models import School, Zona
from workflow.states import State


class FromConsolidado:
    """The full consolidado seen as an export scope: what the sheets read before."""

    def __init__(self, data: Consolidado) -> None:
        self.data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.data, name)

    @property
    def detailed(self) -> list[SchoolRow]:
        return self.data.schools

    @property
    def rutas(self) -> list[Any]:
        return [row.ruta for row in self.data.schools if row.ruta is not None]

    @cached_property
    def perfil_rows(self) -> list[SchoolRow]:
        catalog = self.data.catalog
        return [row for row in self.data.schools if catalog is not None
                and row.ruta is not None and row.ruta.state in SUBMITTED_STATES
                and row.ruta.catalog_id == catalog.id]


def contents(db: Session, data: Any) -> dict[str, tuple[tuple[str, ...], list[Any], int]]:
    return {sheet.slug: (sheet.header, list(sheet.rows()), sheet.size())
            for sheet in exports.sheets(db, data, perfil_componentes=True)}


@pytest.mark.parametrize("filters", [Filters(), Filters(Zona.RURAL),
                                     Filters(Zona.URBANA, "Comuna 1"),
                                     Filters(None, "Comuna 2", 2024)],
                         ids=["todo", "rural", "comuna-1", "comuna-2"])
def test_every_sheet_equals_the_full_recompute(db: Session, make: Factory,
                                               filters: Filters) -> None:
    seeded = seed(db, make)
    scope = ExportScope(db, seeded.admin, filters, now=NOW, stalled_days=30)
    full = FromConsolidado(consolidate(db, seeded.admin, filters, now=NOW, stalled_days=30))
    ours, theirs = contents(db, scope), contents(db, full)
    assert list(ours) == list(theirs)
    for slug in ours:
        assert ours[slug] == theirs[slug], slug
    # Something to compare: the seed fills the main sheets.
    if filters == Filters():
        assert [slug for slug in (
            "instituciones", "estados", "perfil", "perfil-componentes", "objetivos", "metas",
            "indicadores", "actividades", "metas-por-area", "componentes-trabajados",
            "estancadas") if not ours[slug][1]] == []


@contextmanager
def statements(db: Session) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()).lower())

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reads(sent: list[str], table: str) -> list[str]:
    return [statement for statement in sent if f" {table}" in statement
            and (f"from {table}" in statement or f"join {table}" in statement)]


def csv_body(web: WebClient, url: str) -> tuple[Any, list[list[str]]]:
    response = web.client.get(url)
    assert response.status_code == 200, url
    # A generator the server sends as it reads: nothing buffered whole.
    assert response.is_streamed
    body = response.get_data().decode("utf-8").removeprefix("\ufeff")
    response.close()
    return response, list(csv.reader(io.StringIO(body), delimiter=";"))


def test_estados_is_one_group_by_and_reads_no_valoracion(app: Flask, web: WebClient,
                                                         db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    with statements(db) as sent:
        _, rows = csv_body(web, "/reportes/consolidado.csv?hoja=estados")
    assert rows[1:] == [[state.label, str(count)] for state, count in zip(
        State, [1, 1, 1, 1, 1, 0, 1], strict=True)]
    for table in ("valoraciones", "metas", "objetivos", "reminders_sent", "hallazgos"):
        assert reads(sent, table) == [], table
    # The schools and Rutas are counted by the database, never read row by row.
    # (The only other statement on them is the horizon's last year, a MAX, for the header of
    # the indicadores sheet.)
    assert [statement for statement in reads(sent, "rutas")
            if "group by" not in statement and not statement.startswith("select max(")] == []
    assert len([statement for statement in sent if "group by rutas.state" in statement]) == 1


def test_pmi_and_perfil_sheets_read_only_their_tables(app: Flask, web: WebClient, db: Session,
                                                      make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    with statements(db) as sent:
        _, rows = csv_body(web, "/reportes/consolidado.csv?hoja=metas")
    assert len(rows) == 6
    assert reads(sent, "valoraciones") == []
    assert reads(sent, "reminders_sent") == []  # the table's detail is not read
    with statements(db) as sent:
        _, rows = csv_body(web, "/reportes/consolidado.csv?hoja=perfil")
    assert len(rows) == 13
    assert reads(sent, "metas") == [] and reads(sent, "objetivos") == []
    # The database counts the levels: one grouped statement per 500 Rutas.
    perfil = reads(sent, "valoraciones")
    assert len(perfil) == 1 and "group by" in perfil[0]


def test_no_sheet_shows_another_secretaria(web: WebClient, db: Session, make: Factory,
                                           web_factory: Any) -> None:
    seeded = seed(db, make)
    theirs = db.query(School).filter(School.secretaria_id != seeded.admin.secretaria_id).one()
    freeze(db, seeded)
    web.login(seeded.admin.email)
    for slug in exports.SHEET_LABELS:
        _, rows = csv_body(web, f"/reportes/consolidado.csv?hoja={slug}")
        text = "\n".join(";".join(row) for row in rows)
        assert theirs.dane_code not in text and theirs.name not in text, slug
    _, schools = csv_body(web, "/reportes/consolidado.csv?hoja=instituciones")
    assert len(schools) == 1 + 7
    # The other Secretaría's administración sees its one school only.
    other = make.user(seeded.admin.role, secretaria=theirs.secretaria)
    db.commit()
    them = web_factory()
    them.login(other.email)
    _, schools = csv_body(them, "/reportes/consolidado.csv?hoja=instituciones")
    assert [row[0] for row in schools[1:]] == [theirs.dane_code]
    _, states = csv_body(them, "/reportes/consolidado.csv?hoja=estados")
    assert sum(int(row[1]) for row in states[1:]) == 1


def test_the_csv_is_a_generator_read_as_it_is_sent(app: Flask, web: WebClient, db: Session,
                                                   make: Factory) -> None:
    """The response's rows are produced while it is sent: before the first chunk is read,
    no valoración has been read; after the whole body, they have."""
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    with statements(db) as sent:
        response = web.client.get("/reportes/consolidado.csv?hoja=perfil-componentes",
                                  buffered=False)
        assert response.is_streamed
        assert reads(sent, "valoraciones") == []
        chunks = iter(response.response)
        first = next(chunks)
        assert first == "\ufeff".encode()
        rest = b"".join(chunks)
        response.close()
    assert len(reads(sent, "valoraciones")) == 1
    assert rest.decode().count("\n") == 1 + 4 * 5


def test_web_request_never_writes_the_workbook(app: Flask, web: WebClient, db: Session,
                                               make: Factory, monkeypatch: Any) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the workbook was written in a web request")

    monkeypatch.setattr(exports, "write_xlsx", refuse)
    assert web.client.get("/reportes/consolidado.xlsx").status_code == 302
    assert web.post("/reportes/exportaciones", {}).status_code == 303
    assert web.get("/reportes/").status_code == 200
