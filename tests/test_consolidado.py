"""The Secretaría's consolidated view, its exports and the CLI, on a seeded set."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow.autoevaluacion import Valoracion
from workflow.calendar import HorizonCalendar, ReminderSent
from workflow.catalog import InstrumentSettings
from workflow.consolidado import Filters, consolidate
from workflow.models import Ruta, School, User, Zona
from workflow.roles import Role
from workflow.states import State

NOW = datetime(2024, 5, 1, 15, 0, tzinfo=UTC)
# Levels of school D, in the order of the small catalog (DIR.1.1, DIR.1.2, DIR.2.1, ACA.1.1,
# ACA.1.2).
D_LEVELS = (1, 2, 4, 4, 1)


@dataclass
class Seeded:
    admin: User
    schools: dict[str, School]
    rutas: dict[str, Ruta]


def seed(db: Session, make: Factory, *, changed: dict[str, datetime] | None = None) -> Seeded:
    """Schools A–G of one Secretaría (and one of another Secretaría that must never show).

    A borrador (urbana, Comuna 1), B autoevaluación enviada (urbana, Comuna 1), C PMI
    formulado (rural), D aprobado (urbana, Comuna 2), E cerrado (urbana, Comuna 1), F no Ruta
    (rural), G en revisión with another catalog (urbana, Comuna 1).
    """
    secretaria = make.secretaria()
    db.add(HorizonCalendar(secretaria_id=secretaria.id, horizon_start_year=2024,
                           horizon_end_year=2026, pmi_deadline=date(2024, 3, 29),
                           self_assessment_opens=date(2024, 1, 22),
                           self_assessment_closes=date(2024, 3, 8)))
    catalog = make.catalog()
    db.add(InstrumentSettings(secretaria_id=secretaria.id, catalog_id=catalog.id))
    zonas = {"A": Zona.URBANA, "B": Zona.URBANA, "C": Zona.RURAL, "D": Zona.URBANA,
             "E": Zona.URBANA, "F": Zona.RURAL, "G": Zona.URBANA}
    schools = {key: make.school(secretaria, name=f"Institución {key}", zona=zona)
               for key, zona in zonas.items()}
    schools["D"].locality = "Comuna 2"
    states = {"A": State.BORRADOR, "B": State.AUTOEVALUACION_ENVIADA,
              "C": State.PMI_FORMULADO, "D": State.APROBADO, "E": State.CERRADO,
              "G": State.EN_REVISION}
    levels = {"A": 1, "B": 2, "C": 3, "D": 3, "E": 4}
    changed = changed or {"A": NOW - timedelta(days=40), "B": NOW - timedelta(days=5),
                          "C": NOW - timedelta(days=31), "D": NOW - timedelta(days=30),
                          "E": NOW - timedelta(days=400), "G": NOW - timedelta(days=1)}
    rutas = {}
    for key, state in states.items():
        ruta = make.ruta(schools[key], state)
        if key in levels:
            make.completed_self_assessment(ruta, level=levels[key])
        rutas[key] = ruta
    for componente, level in zip(catalog.componentes, D_LEVELS, strict=True):
        db.execute(update(Valoracion).where(Valoracion.ruta_id == rutas["D"].id,
                                            Valoracion.componente_id == componente.id)
                   .values(level=level))
    other_catalog = make.catalog("otro-instrumento")
    db.execute(update(Ruta).where(Ruta.id == rutas["G"].id)
               .values(catalog_id=other_catalog.id))
    for componente in other_catalog.componentes:
        db.add(Valoracion(ruta_id=rutas["G"].id, componente_id=componente.id, level=1,
                          evidence="", comments=""))
    for key, moment in changed.items():
        db.execute(update(Ruta).where(Ruta.id == rutas[key].id).values(state_changed_at=moment))
    for day, summary in ((date(2024, 4, 1), "Primer aviso."), (date(2024, 4, 8), "Segundo aviso.")):
        db.add(ReminderSent(ruta_id=rutas["A"].id, rule="pmi_vencido",
                            occurrence_key=f"{day.isoformat()}", day=day, summary=summary,
                            recipients="rector@prueba.co"))
    # Another Secretaría: never counted.
    theirs = make.secretaria("Secretaría de Educación del Tolima", "73")
    make.ruta(make.school(theirs), State.BORRADOR)
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    for ruta in rutas.values():
        db.refresh(ruta)
    return Seeded(admin, schools, rutas)


def names(rows: list[Any]) -> list[str]:
    return [row.school.name for row in rows]


def test_consolidate_funnel_overdue_and_stalled(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    data = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)
    assert [(state.value, count) for state, count in data.funnel] == [
        ("borrador", 1), ("autoevaluacion_enviada", 1), ("pmi_formulado", 1),
        ("en_revision", 1), ("aprobado", 1), ("seguimiento", 0), ("cerrado", 1)]
    assert data.total_rutas == 6
    assert names(data.overdue) == ["Institución A", "Institución B"]
    # D has been 30 days exactly in its state: not more than 30. E is closed.
    assert names(data.stalled) == ["Institución A", "Institución C"]
    assert names(data.schools) == [f"Institución {key}" for key in "ABCDEFG"]
    by_name = {row.school.name: row for row in data.schools}
    assert by_name["Institución A"].days_in_state == 40
    assert by_name["Institución A"].last_reminder.summary == "Segundo aviso."
    assert by_name["Institución B"].last_reminder is None
    assert by_name["Institución F"].ruta is None
    assert by_name["Institución C"].seguimiento == "—"


def test_consolidate_municipal_perfil_pools_submitted_rutas_of_current_catalog(
        db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    data = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)
    # B, C, D and E: A is not submitted, G used another catalog.
    assert data.perfil_schools == 4
    assert data.perfil is not None
    areas = {area.code: area for area in data.perfil.areas}
    assert areas["DIR"].tally.average == pytest.approx(34 / 12)
    assert areas["DIR"].tally.counts == {1: 1, 2: 4, 3: 3, 4: 4}
    assert areas["ACA"].tally.average == pytest.approx(23 / 8)
    assert areas["ACA"].tally.counts == {1: 1, 2: 2, 3: 2, 4: 3}
    procesos = {p.code: p.tally.average for area in data.perfil.areas for p in area.procesos}
    assert procesos == pytest.approx({"DIR.1": 21 / 8, "DIR.2": 13 / 4, "ACA.1": 23 / 8})
    assert data.perfil.overall.average == pytest.approx(57 / 20)
    assert [(item.code, item.count, item.rated) for item in data.low_rated] == [
        ("DIR.1.1", 2, 4), ("DIR.1.2", 2, 4), ("ACA.1.2", 2, 4), ("DIR.2.1", 1, 4),
        ("ACA.1.1", 1, 4)]


def test_consolidate_filters_by_zona_and_comuna(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    rural = consolidate(db, seeded.admin, Filters(Zona.RURAL), now=NOW, stalled_days=30)
    assert names(rural.schools) == ["Institución C", "Institución F"]
    assert [count for _, count in rural.funnel] == [0, 0, 1, 0, 0, 0, 0]
    assert rural.perfil_schools == 1
    assert [area.tally.average for area in rural.perfil.areas] == [3.0, 3.0]
    assert rural.comunas == ["Corregimiento Juntas"]
    comuna = consolidate(db, seeded.admin, Filters.parse("", "Comuna 2"), now=NOW,
                         stalled_days=30)
    assert names(comuna.schools) == ["Institución D"]
    assert [(item.code, item.count) for item in comuna.low_rated] == [
        ("DIR.1.1", 1), ("DIR.1.2", 1), ("ACA.1.2", 1)]
    # Unknown values are no filter at all.
    assert Filters.parse("lunar", "  ") == Filters()


def test_reportes_page_shows_numbers(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    page = web.get("/reportes/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "6 Rutas en total" in text
    assert "4 instituciones con la autoevaluación enviada" in text
    assert '<img src="/reportes/graficos/embudo.svg"' in text
    assert 'href="/reportes/consolidado.xlsx"' in text
    rural = web.get("/reportes/?zona=rural").get_data(as_text=True)
    assert "Institución C" in rural and "Institución A" not in rural
    assert 'href="/reportes/consolidado.xlsx?zona=rural"' in rural


def test_reportes_funnel_chart_is_svg(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/graficos/embudo.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    body = response.get_data(as_text=True)
    assert "<title id=\"titulo\">Rutas por estado</title>" in body
    assert ("<desc id=\"descripcion\">Autoevaluación en curso: 1; Autoevaluación enviada: 1; "
            "PMI enviado a la Secretaría: 1; PMI en revisión: 1; PMI aprobado: 1; "
            "Seguimiento periódico: 0; Ruta cerrada: 1.</desc>") in body
    assert "<script" not in body


@pytest.mark.parametrize("role", [Role.RECTOR, Role.EQUIPO])
def test_reportes_school_roles_are_403(web: WebClient, db: Session, make: Factory,
                                       role: Role) -> None:
    user = make.user(role)
    db.commit()
    web.login(user.email)
    for url in ("/reportes/", "/reportes/consolidado.xlsx", "/reportes/consolidado.csv",
                "/reportes/graficos/embudo.svg"):
        assert web.client.get(url).status_code == 403


@pytest.mark.parametrize("role", [Role.REVISOR, Role.CONSULTA])
def test_reportes_secretaria_roles_may_read(web: WebClient, db: Session, make: Factory,
                                            role: Role) -> None:
    user = make.user(role)
    db.commit()
    web.login(user.email)
    assert web.client.get("/reportes/").status_code == 200


# --- exports --------------------------------------------------------------------------------


def freeze(db: Session, seeded: Seeded) -> None:
    """Make the states' ages independent of today's date (the web export uses the clock)."""
    now = datetime.now(UTC)
    for key, days in {"A": 40, "B": 5, "C": 31, "D": 30, "E": 400, "G": 1}.items():
        db.execute(update(Ruta).where(Ruta.id == seeded.rutas[key].id)
                   .values(state_changed_at=now - timedelta(days=days, hours=-1)))
    db.commit()


def check_workbook(path_or_file: Any, seeded: Seeded) -> None:
    workbook = load_workbook(path_or_file, read_only=True)
    assert workbook.sheetnames == ["Instituciones", "Estados", "Perfil por componente"]
    schools = [list(row) for row in workbook["Instituciones"].iter_rows(values_only=True)]
    assert schools[0] == ["Código DANE", "Institución", "Zona", "Comuna o corregimiento",
                          "Estado", "Días en el estado", "PMI vencido", "Estancada",
                          "Último recordatorio", "Recordatorio"]
    a = seeded.schools["A"]
    assert schools[1][:8] == [a.dane_code, "Institución A", "Urbana", "Comuna 1",
                              State.BORRADOR.label, 40, "Sí", "Sí"]
    assert schools[1][8].date() == date(2024, 4, 8)
    assert schools[1][9] == "Segundo aviso."
    f = seeded.schools["F"]
    assert schools[6] == [f.dane_code, "Institución F", "Rural", "Corregimiento Juntas",
                          "Sin Ruta", None, "No", "No", None, None]
    assert len(schools) == 8
    states = [list(row) for row in workbook["Estados"].iter_rows(values_only=True)]
    assert states == [["Estado", "Rutas"], *[[state.label, count] for state, count in zip(
        State, [1, 1, 1, 1, 1, 0, 1], strict=True)]]
    perfil = [list(row) for row in workbook["Perfil por componente"].iter_rows(
        values_only=True)]
    assert perfil[0] == ["Código DANE", "Institución", "Área", "Proceso", "Código",
                         "Componente", "Nivel"]
    # B, C, D, E × 5 componentes.
    assert len(perfil) == 1 + 4 * 5
    d = seeded.schools["D"]
    d_rows = [row for row in perfil[1:] if row[0] == d.dane_code]
    assert [(row[4], row[6]) for row in d_rows] == list(zip(
        ["DIR.1.1", "DIR.1.2", "DIR.2.1", "ACA.1.1", "ACA.1.2"], D_LEVELS, strict=True))
    assert d_rows[0][:6] == [d.dane_code, "Institución D", "Gestión directiva",
                             "Direccionamiento estratégico", "DIR.1.1",
                             "Misión, visión y principios"]
    workbook.close()


def test_export_xlsx_cell_by_cell(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    freeze(db, seeded)
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/consolidado.xlsx")
    body = response.get_data()
    response.close()
    assert response.status_code == 200
    assert response.mimetype == ("application/vnd.openxmlformats-officedocument."
                                 "spreadsheetml.sheet")
    assert response.headers["Content-Disposition"].startswith(
        "attachment; filename=consolidado-")
    check_workbook(io.BytesIO(body), seeded)


def test_export_csv_sheets(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    freeze(db, seeded)
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/consolidado.csv?hoja=estados")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["Estado", "Rutas"]
    assert rows[1:] == [[state.label, str(count)] for state, count in zip(
        State, [1, 1, 1, 1, 1, 0, 1], strict=True)]
    rural = web.client.get("/reportes/consolidado.csv?hoja=instituciones&zona=rural")
    rural_rows = list(csv.reader(io.StringIO(rural.get_data().decode().removeprefix("\ufeff"))))
    c = seeded.schools["C"]
    assert rural_rows[1][:8] == [c.dane_code, "Institución C", "Rural", "Corregimiento Juntas",
                                 State.PMI_FORMULADO.label, "31", "No", "Sí"]
    assert len(rural_rows) == 3
    perfil = web.client.get("/reportes/consolidado.csv?hoja=perfil").get_data().decode()
    assert len(list(csv.reader(io.StringIO(perfil.removeprefix("\ufeff"))))) == 21
    assert web.client.get("/reportes/consolidado.csv?hoja=nada").status_code == 404


def test_export_quotes_text_that_would_be_a_formula(web: WebClient, db: Session,
                                                    make: Factory) -> None:
    seeded = seed(db, make)
    db.execute(update(School).where(School.id == seeded.schools["A"].id)
               .values(name="=HYPERLINK(\"http://x\")"))
    db.commit()
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/consolidado.xlsx")
    body = response.get_data()
    response.close()
    workbook = load_workbook(io.BytesIO(body))
    values = [row[1] for row in workbook["Instituciones"].iter_rows(min_row=2, values_only=True)]
    assert "'=HYPERLINK(\"http://x\")" in values
    workbook.close()


def test_cli_export_consolidado_writes_workbook(app: Flask, db: Session, make: Factory,
                                                tmp_path: Path) -> None:
    seeded = seed(db, make)
    freeze(db, seeded)
    # Two Secretarías exist: the command needs to be told which.
    out = tmp_path / "consolidado.xlsx"
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["export", "consolidado", "--out", str(out)])
    assert refused.exit_code == 1
    assert "Hay varias Secretarías" in refused.output
    result = runner.invoke(args=["export", "consolidado", "--out", str(out), "--secretaria",
                                 "Secretaría de Educación de Ibagué"])
    assert result.exit_code == 0, result.output
    assert f"Listo: {out} (34 filas en 3 hojas)." in result.output
    check_workbook(out, seeded)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_cli_export_refuses_other_extension(app: Flask, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(
        args=["export", "consolidado", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert "debe terminar en .xlsx" in result.output
