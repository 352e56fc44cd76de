"""The reviewers' rubrics consolidated: shares per round, zona and comuna, page and exports."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.consolidado.test_consolidado import xlsx_by_job
from workflow.consolidado.consolidate import Filters, consolidate
from workflow.consolidado.rubric import Tally, rubric_shares, sheet_rows
from workflow.models import Ruta, RutaTransition, School, User, Zona
from workflow.pmi.models import Decision, RubricVerdict, Verdict
from workflow.pmi.rubric import ORDER
from workflow.roles import Role
from workflow.states import State

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)


@dataclass
class Seeded:
    admin: User
    rutas: dict[str, Ruta]


def judge(db: Session, ruta: Ruta, reviewer: User, number: int,
          failing: dict[int, Verdict]) -> None:
    """A decision of round ``number``: «cumple» everywhere except ``failing``."""
    approving = number == 2
    entry = RutaTransition(ruta=ruta, trigger="aprobar" if approving else "devolver",
                           from_state=State.EN_REVISION,
                           to_state=State.APROBADO if approving else State.AUTOEVALUACION_ENVIADA,
                           actor_id=reviewer.id, at=NOW, observations="Ver la rúbrica.")
    db.add(entry)
    db.flush()
    for criterion in ORDER:
        verdict = failing.get(criterion, Verdict.CUMPLE)
        db.add(RubricVerdict(
            ruta_id=ruta.id, transition_id=entry.id, round=number,
            decision=Decision.APROBADO if approving else Decision.DEVUELTO,
            criterion=criterion, verdict=verdict,
            note="" if verdict is Verdict.CUMPLE else "Falta precisarlo.",
            author_id=reviewer.id, decided_at=NOW))
    db.flush()


def seed(db: Session, make: Factory) -> Seeded:
    """U1, U2 (urbana, Comuna 1), U3 (urbana, Comuna 2), R1 (rural), N (never judged), and
    a school of another Secretaría whose rubric must never count."""
    secretaria = make.secretaria()
    reviewer = make.user(Role.REVISOR, secretaria=secretaria)
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    schools = {key: make.school(secretaria, name=f"Institución {key}", zona=zona)
               for key, zona in (("U1", Zona.URBANA), ("U2", Zona.URBANA),
                                 ("U3", Zona.URBANA), ("R1", Zona.RURAL),
                                 ("N", Zona.URBANA))}
    schools["U3"].locality = "Comuna 2"
    rutas = {key: make.ruta(school, State.EN_REVISION) for key, school in schools.items()}
    judge(db, rutas["U1"], reviewer, 1, {3: Verdict.NO_CUMPLE, 8: Verdict.PARCIAL})
    judge(db, rutas["U2"], reviewer, 1, {3: Verdict.PARCIAL})
    judge(db, rutas["U3"], reviewer, 1, {3: Verdict.NO_CUMPLE, 0: Verdict.NO_CUMPLE})
    judge(db, rutas["R1"], reviewer, 1, {})
    judge(db, rutas["U1"], reviewer, 2, {3: Verdict.PARCIAL})
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    outsider = make.ruta(make.school(tolima, name="Institución de otra Secretaría"),
                         State.EN_REVISION)
    judge(db, outsider, make.user(Role.REVISOR, secretaria=tolima), 1,
          {criterion: Verdict.NO_CUMPLE for criterion in (1, 2, 3)})
    db.commit()
    return Seeded(admin, rutas)


def numbers(tally: Tally) -> tuple[int, int, int]:
    return (tally.judged, tally.no_cumple, tally.parcial)


def by_criterion(tallies: list[Tally]) -> dict[int, tuple[int, int, int]]:
    return {tally.criterion: numbers(tally) for tally in tallies}


@contextmanager
def counted_queries(db: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = db.get_bind()

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_shares_per_round_zona_and_comuna(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    data = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)

    shares = rubric_shares(db, data)

    assert shares.rounds == [1, 2]
    assert shares.plans(1) == 4 and shares.plans(2) == 1
    first = by_criterion(shares.overall(1))
    assert first[3] == (4, 2, 1)
    assert first[8] == (4, 0, 1)
    assert first[0] == (4, 1, 0)
    assert first[1] == (4, 0, 0)
    third = shares.overall(1)[2]
    assert (third.no_cumple_share, third.parcial_share) == (0.5, 0.25)
    zonas = {zona: by_criterion(tallies) for zona, tallies in shares.zonas(1)}
    assert (zonas[Zona.URBANA][3], zonas[Zona.RURAL][3]) == ((3, 2, 1), (1, 0, 0))
    comunas = {(zona, comuna): by_criterion(tallies)[3]
               for zona, comuna, tallies in shares.comunas(1)}
    assert comunas == {(Zona.URBANA, "Comuna 1"): (2, 1, 1),
                       (Zona.URBANA, "Comuna 2"): (1, 1, 0),
                       (Zona.RURAL, "Corregimiento Juntas"): (1, 0, 0)}
    assert by_criterion(shares.overall(2))[3] == (1, 0, 1)


def test_filters_narrow_the_shares(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    rural = rubric_shares(db, consolidate(db, seeded.admin, Filters(Zona.RURAL), now=NOW,
                                          stalled_days=30))
    assert rural.rounds == [1]
    assert by_criterion(rural.overall(1))[3] == (1, 0, 0)
    comuna_2 = rubric_shares(db, consolidate(db, seeded.admin, Filters(None, "Comuna 2"),
                                             now=NOW, stalled_days=30))
    assert by_criterion(comuna_2.overall(1))[3] == (1, 1, 0)
    assert by_criterion(comuna_2.overall(1))[0] == (1, 1, 0)


def test_shares_are_aggregated_by_the_database_not_per_ruta(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    data = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)
    with counted_queries(db) as statements:
        rubric_shares(db, data)
    assert len(statements) == 1  # five Rutas, one batch: one GROUP BY
    assert "GROUP BY" in statements[0]


def test_sheet_rows_total_then_zona_then_comuna(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    rows = sheet_rows(rubric_shares(db, consolidate(db, seeded.admin, Filters(), now=NOW,
                                                    stalled_days=30)))
    third = [row for row in rows if row[0] == 1 and row[3] == "Criterio 3"]
    assert [row[1:3] + row[6:] for row in third] == [
        ("Todas", "Todas", 4, 2, 50.0, 1, 25.0),
        ("Urbana", "Todas", 3, 2, 66.7, 1, 33.3),
        ("Rural", "Todas", 1, 0, 0.0, 0, 0.0),
        ("Rural", "Corregimiento Juntas", 1, 0, 0.0, 0, 0.0),
        ("Urbana", "Comuna 1", 2, 1, 50.0, 1, 50.0),
        ("Urbana", "Comuna 2", 1, 1, 100.0, 0, 0.0)]
    assert len(rows) == 9 * (1 + 2 + 3) + 9 * (1 + 1 + 1)


def test_reportes_page_shows_the_shares(db: Session, make: Factory, web: WebClient) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    page = web.get("/reportes/").get_data(as_text=True)
    assert "Revisión 1: 4 planes valorados" in page
    assert "Revisión 2: 1 plan valorado" in page
    row = re.search(r"<th scope=\"row\">Criterio 3<.*?</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells] == [
        "50 % (2)", "25 % (1)", "67 % (2)", "33 % (1)", "0 % (0)", "0 % (0)"]
    rural = web.get("/reportes/?zona=rural").get_data(as_text=True)
    assert "Revisión 1: 1 plan valorado" in rural
    assert "Revisión 2" not in rural


def test_exports_carry_the_rubric_sheet(app: Flask, db: Session, make: Factory,
                                        web: WebClient, tmp_path: Path) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/consolidado.csv?hoja=rubrica&zona=urbana")
    assert response.status_code == 200
    rows = list(csv.reader(
        io.StringIO(response.get_data().decode().removeprefix("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["Revisión (envío)", "Zona", "Comuna o corregimiento", "Criterio"]
    assert rows[3][:4] + rows[3][6:] == ["1", "Todas", "Todas", "Criterio 3", "3", "2",
                                         "66,7", "1", "33,3"]
    workbook = load_workbook(io.BytesIO(xlsx_by_job(app, web, tmp_path)))
    values = list(workbook["Rúbrica de la revisión"].iter_rows(values_only=True))
    workbook.close()
    assert values[3][:9] == (1, "Todas", "Todas", "Criterio 3",
                             "Las metas contienen cantidad, unidad de medida y tiempo", "Sí",
                             4, 2, 50)
    assert isinstance(seeded.rutas["N"].school, School)
