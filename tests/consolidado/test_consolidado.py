"""The Secretaría's consolidated view, its exports and the CLI, on a seeded set."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from blueprints.reportes import PLAN_SECTIONS_HTML
from tests.conftest import Factory, WebClient
from workflow.autoevaluacion.models import Valoracion
from workflow.catalogo.models import Catalog, InstrumentSettings
from workflow.consolidado import consolidate as consolidado
from workflow.consolidado.consolidate import Filters, consolidate
from workflow.consolidado.export_jobs import run_pending
from workflow.consolidado.models import ExportJob, ExportStatus
from workflow.dates import BOGOTA
from workflow.horizontes import opening
from workflow.horizontes.horizons import open_horizon
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar, ReminderSent
from workflow.models import Ruta, School, User, Zona
from workflow.pmi.models import Actividad, Indicador, Meta, Objetivo
from workflow.roles import Role
from workflow.seguimiento.models import (
    FollowUpLine,
    FollowUpReport,
    IndicatorValue,
    LineStatus,
    ReportStatus,
)
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
    seed_plans(db, catalog, rutas)
    # Another Secretaría: never counted.
    theirs = make.secretaria("Secretaría de Educación del Tolima", "73")
    make.ruta(make.school(theirs), State.BORRADOR)
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    for ruta in rutas.values():
        db.refresh(ruta)
    return Seeded(admin, schools, rutas)


def seed_plans(db: Session, catalog: Catalog, rutas: dict[str, Ruta]) -> None:
    """D (aprobado): objetivo 1 → ACA.1.1 + ACA.1.2, meta 1.1 with an indicador and an
    actividad; objetivo 2 → DIR.1.2, metas 2.1 and 2.2. C (PMI formulado): objetivo 1 →
    ACA.1.2 + DIR.2.1 (two áreas), meta 1.1; objetivo 2 without componentes, meta 2.1.
    B (autoevaluación enviada) has a draft that no sheet or count may show."""
    by_code = {componente.code: componente for componente in catalog.componentes}

    def objetivo(key: str, text: str, codes: list[str]) -> Objetivo:
        row = Objetivo(ruta_id=rutas[key].id, enunciado=text,
                       componentes=[by_code[code] for code in codes])
        db.add(row)
        db.flush()
        return row

    def meta(key: str, parent: Objetivo, text: str, cantidad: float | None, unidad: str,
             linea_base: float | None = None) -> Meta:
        row = Meta(ruta_id=rutas[key].id, objetivo_id=parent.id, enunciado=text,
                   cantidad=cantidad, unidad=unidad, fecha_limite=date(2026, 11, 30),
                   linea_base=linea_base)
        db.add(row)
        db.flush()
        return row

    d1 = objetivo("D", "Mejorar los resultados en matemáticas.", ["ACA.1.1", "ACA.1.2"])
    d2 = objetivo("D", "Actualizar el horizonte institucional.", ["DIR.1.2"])
    d11 = meta("D", d1, "Subir al 40 % los estudiantes sobre el nivel mínimo en Saber 11 "
                        "matemáticas.", 40, "Porcentaje", 31)
    meta("D", d2, "Socializar la misión con el 90 % de las familias.", 90, "porcentaje ")
    meta("D", d2, "Publicar el PEI actualizado.", 1, "Documentos")
    db.add(Indicador(ruta_id=rutas["D"].id, meta_id=d11.id, nombre="Estudiantes sobre el "
                     "nivel mínimo", formula="sobre el mínimo / evaluados", unidad="Porcentaje",
                     frecuencia="Anual", fuente="ICFES", linea_base=31,
                     metas_anuales={"2024": 33, "2025": 36.5, "2026": 40}))
    db.add(Actividad(ruta_id=rutas["D"].id, meta_id=d11.id, descripcion="=Talleres de "
                     "pensamiento matemático", responsable="Coordinación académica",
                     fecha_inicio=date(2024, 2, 5), fecha_fin=date(2024, 11, 29),
                     recursos="Guías y docentes", costo=1_500_000,
                     fuente_financiacion="SGP calidad", trayectorias=["inclusion", "rural"]))
    c1 = objetivo("C", "Fortalecer la evaluación y el gobierno escolar.", ["ACA.1.2", "DIR.2.1"])
    c2 = objetivo("C", "Mejorar la convivencia.", [])
    meta("C", c1, "Aplicar evaluaciones de período comunes en el 100 % de los grados.", 100,
         "porcentaje")
    meta("C", c2, "Reducir a la mitad los casos de convivencia tipo II.", 50, "Casos")
    b1 = objetivo("B", "Borrador que no cuenta.", ["DIR.1.1"])
    meta("B", b1, "Meta de un borrador.", 10, "Borradores")


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
    # A owes its autoevaluación and has not moved for 40 days. C (PMI sent, 31 days) waits
    # on the Secretaría and owes nothing; D is approved; E is closed.
    assert names(data.stalled) == ["Institución A"]
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
    assert 'action="/reportes/exportaciones"' in text and "Preparar el Excel" in text
    rural = web.get("/reportes/?zona=rural").get_data(as_text=True)
    assert "Institución C" in rural and "Institución A" not in rural
    assert '<input type="hidden" name="zona" value="rural">' in rural


def plan_sections(page: str) -> str:
    """The page from the perfil municipal on: the part rendered once per version."""
    return page[page.index('<section class="card" aria-labelledby="perfil">'):]


def test_reportes_renders_its_plan_sections_once_per_version_of_the_data(
        web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    first = web.get("/reportes/").get_data(as_text=True)
    assert "4 instituciones con la autoevaluación enviada" in plan_sections(first)
    assert len(PLAN_SECTIONS_HTML) == 1
    # Another order of the table: the same data, the same sections, not rendered again.
    again = web.get("/reportes/?orden=dias&dir=desc").get_data(as_text=True)
    assert plan_sections(again) == plan_sections(first)
    assert len(PLAN_SECTIONS_HTML) == 1
    # Another filter is another version: its own sections.
    rural = web.get("/reportes/?zona=rural").get_data(as_text=True)
    assert "1 institución con la autoevaluación enviada" in plan_sections(rural)
    assert len(PLAN_SECTIONS_HTML) == 2
    # A sends its autoevaluación: its aggregate is refreshed, so the version changes and the
    # perfil counts it at once.
    ruta = seeded.rutas["A"]
    ruta.state = State.AUTOEVALUACION_ENVIADA
    db.commit()
    after = web.get("/reportes/").get_data(as_text=True)
    assert "5 instituciones con la autoevaluación enviada" in plan_sections(after)
    assert len(PLAN_SECTIONS_HTML) == 3
    # Printed, the sections are drawn each time (the charts go into the page).
    printed = web.get("/reportes/imprimir").get_data(as_text=True)
    assert "5 instituciones con la autoevaluación enviada" in plan_sections(printed)
    assert "data:image/svg+xml;base64," in plan_sections(printed)
    assert len(PLAN_SECTIONS_HTML) == 3


def test_reportes_funnel_chart_is_svg(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/graficos/embudo.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "frame-ancestors 'none'; base-uri 'none'" in response.headers[
        "Content-Security-Policy"]
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
    # Each age a little under its whole days (D stays under the 30 days of «estancada»), on
    # the Bogotá calendar day exactly that many days back (the sheets count calendar days): an
    # hour short of it, or half the time left to Bogotá's midnight if that is less (an hour
    # short at 23:30 in Bogotá fell on the next day, and the sheets said 39 for 40).
    local = now.astimezone(BOGOTA)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=BOGOTA)
    short = min(timedelta(hours=1), (midnight - local) / 2)
    for key, days in {"A": 40, "B": 5, "C": 31, "D": 30, "E": 400, "G": 1}.items():
        db.execute(update(Ruta).where(Ruta.id == seeded.rutas[key].id)
                   .values(state_changed_at=now - timedelta(days=days) + short))
    db.commit()


def check_workbook(path_or_file: Any, seeded: Seeded) -> None:
    workbook = load_workbook(path_or_file, read_only=True)
    assert workbook.sheetnames == ["Instituciones", "Estados", "Perfil por proceso",
                                   "PMI - Objetivos", "PMI - Metas", "PMI - Indicadores",
                                   "PMI - Actividades", "Metas por área", "Seguimiento",
                                   "Indicadores medidos", "PMI - Hallazgos",
                                   "Hallazgos por fuente",
                                   "Rúbrica de la revisión", "Hallazgos por corte",
                                   "Componentes trabajados", "Criterios con observaciones",
                                   "Resultados finales por área", "Lecciones aprendidas",
                                   "Rutas estancadas"]
    schools = [list(row) for row in workbook["Instituciones"].iter_rows(values_only=True)]
    assert schools[0] == ["Código DANE", "Institución", "Zona", "Comuna o corregimiento",
                          "Estado", "Días en el estado", "PMI vencido", "Estancada",
                          "Último recordatorio", "Recordatorio", "Seguimiento"]
    a = seeded.schools["A"]
    assert schools[1][:8] == [a.dane_code, "Institución A", "Urbana", "Comuna 1",
                              State.BORRADOR.label, 40, "Sí", "Sí"]
    assert schools[1][8].date() == date(2024, 4, 8)
    assert schools[1][9] == "Segundo aviso."
    f = seeded.schools["F"]
    assert schools[6] == [f.dane_code, "Institución F", "Rural", "Corregimiento Juntas",
                          "Sin Ruta", None, "No", "No", None, None, None]
    assert len(schools) == 8
    states = [list(row) for row in workbook["Estados"].iter_rows(values_only=True)]
    assert states == [["Estado", "Rutas"], *[[state.label, count] for state, count in zip(
        State, [1, 1, 1, 1, 1, 0, 1], strict=True)]]
    perfil = [list(row) for row in workbook["Perfil por proceso"].iter_rows(
        values_only=True)]
    assert perfil[0] == ["Código DANE", "Institución", "Área", "Proceso", "Componentes",
                         "Valorados", "Nivel 1", "Nivel 2", "Nivel 3", "Nivel 4", "Promedio"]
    # B, C, D, E × 3 procesos (A is a borrador, G was rated with another instrument).
    assert len(perfil) == 1 + 4 * 3
    d = seeded.schools["D"]
    # D's levels (1, 2 | 4 | 4, 1), per proceso.
    assert [row for row in perfil[1:] if row[0] == d.dane_code] == [
        [d.dane_code, "Institución D", "Gestión directiva", "Direccionamiento estratégico",
         2, 2, 1, 1, 0, 0, 1.5],
        [d.dane_code, "Institución D", "Gestión directiva", "Gobierno escolar",
         1, 1, 0, 0, 0, 1, 4],
        [d.dane_code, "Institución D", "Gestión académica", "Diseño pedagógico",
         2, 2, 1, 0, 0, 1, 2.5]]
    e = seeded.schools["E"]
    assert [row[4:] for row in perfil[1:] if row[0] == e.dane_code] == [
        [2, 2, 0, 0, 0, 2, 4], [1, 1, 0, 0, 0, 1, 4], [2, 2, 0, 0, 0, 2, 4]]
    assert [row[1] for row in perfil[1::3]] == ["Institución B", "Institución C",
                                                "Institución D", "Institución E"]
    check_pmi_sheets(workbook, seeded)
    workbook.close()


def sheet_rows(workbook: Any, title: str) -> list[list[Any]]:
    return [list(row) for row in workbook[title].iter_rows(values_only=True)]


def check_pmi_sheets(workbook: Any, seeded: Seeded) -> None:
    c, d = seeded.schools["C"], seeded.schools["D"]
    school_c = [c.dane_code, "Institución C", "Rural", "Corregimiento Juntas",
                State.PMI_FORMULADO.label]
    school_d = [d.dane_code, "Institución D", "Urbana", "Comuna 2", State.APROBADO.label]
    objetivos = sheet_rows(workbook, "PMI - Objetivos")
    assert objetivos == [
        ["Código DANE", "Institución", "Zona", "Comuna o corregimiento", "Estado", "Objetivo",
         "Enunciado", "Áreas de gestión", "Componentes", "Metas"],
        [*school_c, "1", "Fortalecer la evaluación y el gobierno escolar.",
         "Gestión directiva; Gestión académica", "DIR.2.1 Consejo directivo; ACA.1.2 Evaluación",
         1],
        [*school_c, "2", "Mejorar la convivencia.", "Sin componente asociado", None, 1],
        [*school_d, "1", "Mejorar los resultados en matemáticas.", "Gestión académica",
         "ACA.1.1 Plan de estudios; ACA.1.2 Evaluación", 1],
        [*school_d, "2", "Actualizar el horizonte institucional.", "Gestión directiva",
         "DIR.1.2 Metas institucionales", 2],
    ]
    metas = sheet_rows(workbook, "PMI - Metas")
    assert metas[0] == ["Código DANE", "Institución", "Zona", "Comuna o corregimiento", "Estado",
                        "Meta", "Objetivo", "Enunciado", "Cantidad", "Unidad", "Fecha límite",
                        "Línea base", "Áreas de gestión", "Componentes"]
    assert [(row[1], row[5], row[6]) for row in metas[1:]] == [
        ("Institución C", "1.1", "1"), ("Institución C", "2.1", "2"),
        ("Institución D", "1.1", "1"), ("Institución D", "2.1", "2"),
        ("Institución D", "2.2", "2")]
    assert metas[3][5:] == ["1.1", "1", "Subir al 40 % los estudiantes sobre el nivel mínimo "
                            "en Saber 11 matemáticas.", 40, "Porcentaje", metas[3][10], 31,
                            "Gestión académica", "ACA.1.1 Plan de estudios; ACA.1.2 Evaluación"]
    assert metas[3][10].date() == date(2026, 11, 30)
    assert "Borrador" not in str(metas)
    indicadores = sheet_rows(workbook, "PMI - Indicadores")
    assert indicadores == [
        ["Código DANE", "Institución", "Zona", "Comuna o corregimiento", "Estado", "Indicador",
         "Meta", "Nombre", "Fórmula", "Unidad", "Frecuencia", "Fuente", "Línea base",
         "Meta 2024", "Meta 2025", "Meta 2026"],
        [*school_d, "1.1.1", "1.1", "Estudiantes sobre el nivel mínimo",
         "sobre el mínimo / evaluados", "Porcentaje", "Anual", "ICFES", 31, 33, 36.5, 40],
    ]
    actividades = sheet_rows(workbook, "PMI - Actividades")
    assert actividades[0][5:] == ["Actividad", "Meta", "Descripción", "Responsable",
                                  "Fecha de inicio", "Fecha de terminación", "Recursos",
                                  "Costo estimado (COP)", "Fuente de financiación",
                                  "Trayectorias diversas"]
    row = actividades[1]
    assert row[:7] == [*school_d, "1.1.1", "1.1"]
    # Text that a spreadsheet would run as a formula is quoted.
    assert row[7:9] == ["'=Talleres de pensamiento matemático", "Coordinación académica"]
    assert (row[9].date(), row[10].date()) == (date(2024, 2, 5), date(2024, 11, 29))
    assert row[11:] == ["Guías y docentes", 1_500_000, "SGP calidad",
                        "Educación inclusiva; Ruralidad"]
    assert len(actividades) == 2
    por_area = sheet_rows(workbook, "Metas por área")
    assert por_area == [
        ["Área de gestión", "Código", "Componente", "Metas", "Instituciones",
         "Unidades más frecuentes"],
        ["Gestión directiva", None, "Toda el área", 3, 2, "porcentaje (2); documentos (1)"],
        ["Gestión directiva", "DIR.1.2", "Metas institucionales", 2, 1, None],
        ["Gestión directiva", "DIR.2.1", "Consejo directivo", 1, 1, None],
        ["Gestión académica", None, "Toda el área", 2, 2, "porcentaje (2)"],
        ["Gestión académica", "ACA.1.1", "Plan de estudios", 1, 1, None],
        ["Gestión académica", "ACA.1.2", "Evaluación", 2, 2, None],
        ["Sin componente asociado", None, "Toda el área", 1, 1, "casos (1)"],
    ]


def xlsx_by_job(app: Flask, web: WebClient, tmp_path: Path, form: dict[str, str] | None = None
                ) -> bytes:
    """The workbook the way the web gets it: the request only queues the job (no file is
    written in the web worker), the scheduler's runner writes it, the person downloads it."""
    folder = tmp_path / "exportaciones"
    app.config["EXPORT_FOLDER"] = str(folder)
    queued = web.post("/reportes/exportaciones", form or {})
    assert queued.status_code == 303
    job_id = int(queued.headers["Location"].rsplit("/", 1)[1])
    with app.extensions["ruta_db"].session_factory() as session:
        job = session.get(ExportJob, job_id)
        assert job is not None and job.status is ExportStatus.QUEUED
    assert not folder.exists() or not any(folder.iterdir())
    assert run_pending(app.extensions["ruta_db"].session_factory, folder=folder,
                       stalled_days=app.config["STALLED_DAYS"], now=datetime.now(UTC)) == [
        (job_id, ExportStatus.DONE)]
    response = web.client.get(f"/reportes/exportaciones/{job_id}/descarga")
    body = response.get_data()
    response.close()
    assert response.status_code == 200
    assert response.mimetype == ("application/vnd.openxmlformats-officedocument."
                                 "spreadsheetml.sheet")
    return body


def test_export_xlsx_cell_by_cell(app: Flask, web: WebClient, db: Session, make: Factory,
                                  tmp_path: Path) -> None:
    seeded = seed(db, make)
    freeze(db, seeded)
    web.login(seeded.admin.email)
    # The old address leads to the page that queues the file: nothing is written here.
    direct = web.client.get("/reportes/consolidado.xlsx?zona=rural")
    assert (direct.status_code, direct.headers["Location"]) == (
        302, "/reportes/exportaciones?zona=rural")
    check_workbook(io.BytesIO(xlsx_by_job(app, web, tmp_path)), seeded)


def test_export_csv_sheets(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    freeze(db, seeded)
    web.login(seeded.admin.email)
    response = web.client.get("/reportes/consolidado.csv?hoja=estados")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0] == ["Estado", "Rutas"]
    assert rows[1:] == [[state.label, str(count)] for state, count in zip(
        State, [1, 1, 1, 1, 1, 0, 1], strict=True)]
    rural = web.client.get("/reportes/consolidado.csv?hoja=instituciones&zona=rural")
    rural_rows = list(csv.reader(
        io.StringIO(rural.get_data().decode().removeprefix("\ufeff")), delimiter=";"))
    c = seeded.schools["C"]
    assert rural_rows[1][:8] == [c.dane_code, "Institución C", "Rural", "Corregimiento Juntas",
                                 State.PMI_FORMULADO.label, "31", "No", "No"]
    assert len(rural_rows) == 3
    perfil = web.client.get("/reportes/consolidado.csv?hoja=perfil").get_data().decode()
    assert len(list(csv.reader(io.StringIO(perfil.removeprefix("\ufeff")), delimiter=";"))) == 13
    # The detail, one row per school and componente, is its own sheet: what the perfil was.
    detail = web.client.get("/reportes/consolidado.csv?hoja=perfil-componentes")
    rows = list(csv.reader(io.StringIO(detail.get_data().decode().removeprefix("\ufeff")),
                           delimiter=";"))
    assert rows[0] == ["Código DANE", "Institución", "Área", "Proceso", "Código",
                       "Componente", "Nivel"]
    # B, C, D, E × 5 componentes.
    assert len(rows) == 1 + 4 * 5
    d = seeded.schools["D"]
    d_rows = [row for row in rows[1:] if row[0] == d.dane_code]
    assert [(row[4], row[6]) for row in d_rows] == list(zip(
        ["DIR.1.1", "DIR.1.2", "DIR.2.1", "ACA.1.1", "ACA.1.2"], [str(n) for n in D_LEVELS],
        strict=True))
    assert d_rows[0][:6] == [d.dane_code, "Institución D", "Gestión directiva",
                             "Direccionamiento estratégico", "DIR.1.1",
                             "Misión, visión y principios"]
    assert web.client.get("/reportes/consolidado.csv?hoja=nada").status_code == 404


def test_export_quotes_text_that_would_be_a_formula(app: Flask, web: WebClient, db: Session,
                                                    make: Factory, tmp_path: Path) -> None:
    seeded = seed(db, make)
    db.execute(update(School).where(School.id == seeded.schools["A"].id)
               .values(name="=HYPERLINK(\"http://x\")"))
    db.commit()
    web.login(seeded.admin.email)
    workbook = load_workbook(io.BytesIO(xlsx_by_job(app, web, tmp_path)))
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
    # 26 as before with the perfil by proceso (12 rows), plus 4 objetivos, 5 metas,
    # 1 indicador, 1 actividad, 7 rows by área;
    # no seguimiento report yet.
    assert f"Listo: {out} (49 filas en 19 hojas)." in result.output
    check_workbook(out, seeded)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_cli_export_consolidado_of_another_horizon(app: Flask, db: Session, make: Factory,
                                                   tmp_path: Path) -> None:
    """``--horizonte`` exports that horizon (its Rutas only); an unknown one is refused."""
    seeded = seed(db, make)
    freeze(db, seeded)
    secretaria = seeded.admin.secretaria
    open_horizon(db, secretaria, "2027", actor=seeded.admin)
    opening.open_ruta(db, seeded.schools["F"], actor=seeded.admin, start_year=2027)
    db.commit()
    runner = app.test_cli_runner()

    def rows_of(horizon: str) -> dict[str, tuple[Any, ...]]:
        out = tmp_path / f"consolidado-{horizon}.xlsx"
        result = runner.invoke(args=["export", "consolidado", "--out", str(out),
                                     "--secretaria", secretaria.name, "--horizonte", horizon])
        assert result.exit_code == 0, result.output
        workbook = load_workbook(out)
        rows = {str(row[1]): row for row in workbook["Instituciones"].iter_rows(
            min_row=2, values_only=True) if row[1]}
        workbook.close()
        return rows

    current, following = rows_of("2024"), rows_of("2027")
    state = 4  # the «Estado» column
    assert (current["Institución F"][state], following["Institución F"][state]) == (
        "Sin Ruta", "Autoevaluación en curso")
    assert (current["Institución D"][state], following["Institución D"][state]) == (
        "PMI aprobado", "Sin Ruta")
    refused = runner.invoke(args=["export", "consolidado", "--out",
                                  str(tmp_path / "x.xlsx"), "--secretaria", secretaria.name,
                                  "--horizonte", "2040"])
    assert refused.exit_code == 1
    assert ("No hay un horizonte que empiece en ese año. Vea los horizontes con «ruta "
            "horizontes listar».") in refused.output


def test_cli_export_refuses_other_extension(app: Flask, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(
        args=["export", "consolidado", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert "debe terminar en .xlsx" in result.output


# --- the PMI: metas by área, PMI sheets in CSV ----------------------------------------------


def test_metas_por_area_counts_sent_plans_only(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    data = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)
    mpa = data.metas_por_area
    # C, D, E and G have sent plans; only C and D have metas. B's draft is not counted.
    assert (mpa.metas, mpa.schools, mpa.plans) == (5, 2, 4)
    summary = [(area.name, area.metas, area.schools, area.unidades) for area in mpa.areas]
    assert summary == [
        ("Gestión directiva", 3, 2, [("porcentaje", 2), ("documentos", 1)]),
        ("Gestión académica", 2, 2, [("porcentaje", 2)]),
        ("Sin componente asociado", 1, 1, [("casos", 1)]),
    ]
    academica = mpa.areas[1]
    assert [(c.code, c.metas, c.schools) for c in academica.componentes] == [
        ("ACA.1.1", 1, 1), ("ACA.1.2", 2, 2)]
    # Samples in school order, with the school's name.
    assert [(s.school_name, s.cantidad) for s in academica.componentes[1].samples] == [
        ("Institución C", 100), ("Institución D", 40)]
    rural = consolidate(db, seeded.admin, Filters(Zona.RURAL), now=NOW, stalled_days=30)
    assert (rural.metas_por_area.metas, rural.metas_por_area.schools) == (2, 1)
    assert [area.name for area in rural.metas_por_area.areas] == [
        "Gestión directiva", "Gestión académica", "Sin componente asociado"]
    nobody = consolidate(db, seeded.admin, Filters.parse("", "Comuna 1"), now=NOW,
                         stalled_days=30)
    # E (cerrado) and G (en revisión) sent plans without metas; A and B have none sent.
    assert (nobody.metas_por_area.metas, nobody.metas_por_area.plans) == (0, 2)


def test_reportes_page_shows_metas_by_area_truncated_with_link(
        web: WebClient, db: Session, make: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = seed(db, make)
    monkeypatch.setattr(consolidado, "SAMPLE_PER_COMPONENTE", 1)
    web.login(seeded.admin.email)
    text = web.get("/reportes/").get_data(as_text=True)
    assert "Metas por área de gestión" in text
    assert "5 metas de 2 instituciones (4 planes enviados a la Secretaría)" in text
    assert ("<tr><th scope=\"row\"><a href=\"#metas-1\">Gestión directiva</a></th>"
            "<td data-label=\"Metas\">3</td><td data-label=\"Instituciones\">2</td>"
            "<td data-label=\"Unidades más frecuentes\">porcentaje (2), documentos (1)</td>"
            "</tr>") in text
    assert "ACA.1.2 Evaluación: 2 metas de 2 instituciones" in text
    assert ("Aplicar evaluaciones de período comunes en el 100 % de los grados. "
            "<span class=\"meta\">— Institución C") in text
    assert "Y 1 más: están todas en la hoja" in text
    assert 'href="/reportes/consolidado.csv?hoja=metas"' in text
    for slug in ("objetivos", "metas", "indicadores", "actividades", "metas-por-area"):
        assert f'href="/reportes/consolidado.csv?hoja={slug}"' in text
    rural = web.get("/reportes/?zona=rural").get_data(as_text=True)
    assert "2 metas de 1 institución (1 plan enviado a la Secretaría)" in rural
    assert 'href="/reportes/consolidado.csv?hoja=metas&amp;zona=rural"' in rural


def csv_rows(web: WebClient, url: str) -> list[list[str]]:
    response = web.client.get(url)
    assert response.status_code == 200, url
    text = response.get_data().decode("utf-8")
    response.close()
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))


def test_export_csv_offers_every_pmi_sheet(app: Flask, web: WebClient, db: Session,
                                           make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    metas = csv_rows(web, "/reportes/consolidado.csv?hoja=metas")
    assert [row[5] for row in metas[1:]] == ["1.1", "2.1", "1.1", "2.1", "2.2"]
    assert metas[3][8:10] == ["40,0", "Porcentaje"]
    indicadores = csv_rows(web, "/reportes/consolidado.csv?hoja=indicadores")
    assert indicadores[1][-3:] == ["33", "36,5", "40"]
    actividades = csv_rows(web, "/reportes/consolidado.csv?hoja=actividades")
    assert actividades[1][-1] == "Educación inclusiva; Ruralidad"
    objetivos = csv_rows(web, "/reportes/consolidado.csv?hoja=objetivos&zona=rural")
    assert [row[1] for row in objetivos[1:]] == ["Institución C", "Institución C"]
    por_area = csv_rows(web, "/reportes/consolidado.csv?hoja=metas-por-area")
    assert por_area[1] == ["Gestión directiva", "", "Toda el área", "3", "2",
                           "porcentaje (2); documentos (1)"]
    # The streamed rows' session is given back when the stream ends.
    db.rollback()
    assert app.extensions["ruta_db"].engine.pool.checkedout() == 0


# --- seguimiento ----------------------------------------------------------------------------


def test_seguimiento_progress_column_and_sheets(app: Flask, web: WebClient, db: Session,
                                                make: Factory, tmp_path: Path) -> None:
    """D in seguimiento, two checkpoints past, one report sent a week late."""
    seeded = seed(db, make)
    d = seeded.rutas["D"]
    db.execute(update(Ruta).where(Ruta.id == d.id).values(state=State.SEGUIMIENTO))
    calendar = db.scalars(select(HorizonCalendar)).one()
    first = FollowUpCheckpoint(calendar_id=calendar.id, name="Seguimiento 1er semestre 2024",
                               due_on=date(2024, 6, 28))
    second = FollowUpCheckpoint(calendar_id=calendar.id, name="Seguimiento 2.º semestre 2024",
                                due_on=date(2024, 12, 13))
    db.add_all([first, second])
    db.flush()
    report = FollowUpReport(ruta_id=d.id, checkpoint_id=first.id, status=ReportStatus.ENVIADO,
                            submitted_at=datetime(2024, 7, 5, 15, 0, tzinfo=UTC),
                            submissions=1)
    db.add(report)
    db.flush()
    actividad = db.scalars(select(Actividad).where(Actividad.ruta_id == d.id)).one()
    indicador = db.scalars(select(Indicador).where(Indicador.ruta_id == d.id)).one()
    db.add(FollowUpLine(report_id=report.id, actividad_id=actividad.id, avance=40,
                        status=LineStatus.EN_CURSO, dificultades="Paro de docentes."))
    db.add(IndicatorValue(report_id=report.id, indicador_id=indicador.id, valor=34.5,
                          comentario="Simulacro de mayo."))
    db.commit()
    later = datetime(2025, 1, 10, 15, 0, tzinfo=UTC)
    data = consolidate(db, seeded.admin, Filters(), now=later, stalled_days=30)
    by_name = {row.school.name: row for row in data.schools}
    progress = by_name["Institución D"].progress
    assert progress is not None
    assert (progress.percent, progress.reports, progress.due, progress.late) == (40.0, 1, 2, 1)
    assert by_name["Institución D"].seguimiento == progress.label
    assert progress.label.startswith("40 % de avance · 1 de 2 informes · 1 tarde")
    # Rutas not in seguimiento owe nothing yet.
    assert by_name["Institución C"].seguimiento == "—"
    assert by_name["Institución C"].progress is None

    web.login(seeded.admin.email)
    page = web.get("/reportes/").get_data(as_text=True)
    assert "40 % de avance · 1 de 2 informes · 1 tarde" in page
    assert 'href="/reportes/consolidado.csv?hoja=seguimiento"' in page
    lines = csv_rows(web, "/reportes/consolidado.csv?hoja=seguimiento")
    assert lines[0][:3] == ["Código DANE", "Institución", "Corte"]
    assert [row[1:3] for row in lines[1:]] == [["Institución D",
                                                "Seguimiento 1er semestre 2024"]]
    assert lines[1][7:10] == ["'=Talleres de pensamiento matemático", "40,0", "En curso"]
    measured = csv_rows(web, "/reportes/consolidado.csv?hoja=indicadores-medidos")
    assert measured[1][5] == "Estudiantes sobre el nivel mínimo"
    assert measured[1][9:] == ["34,5", "Simulacro de mayo."]
    workbook = load_workbook(io.BytesIO(xlsx_by_job(app, web, tmp_path)), read_only=True)
    seguimiento = sheet_rows(workbook, "Seguimiento")
    instituciones = sheet_rows(workbook, "Instituciones")
    workbook.close()
    assert len(seguimiento) == 2 and seguimiento[1][1] == "Institución D"
    # Both checkpoints are past today too: the same progress as on the page.
    assert [row[-1] for row in instituciones if row[1] == "Institución D"] == [progress.label]
