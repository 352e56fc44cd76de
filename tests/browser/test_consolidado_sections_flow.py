"""A revisor of the Dirección de Calidad reads the consolidado's sections that feed the
Secretaría's plan (hallazgos, componentes, criteria observed, final results and lessons,
estancadas), filters by zona, goes back, double-clicks, and reads it all again on a phone
(360 px). Every page is checked with axe-core under the enforced Content-Security-Policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Factory
from tests.consolidado.test_secciones import Builder
from workflow.cierre.models import Verdict
from workflow.models import Ruta, User, utcnow
from workflow.states import State

from .conftest import Browsing, World

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
URBAN_LESSON = "Las metas anuales ayudan a medir el avance de cada sede."


def seed_sections(world: World) -> None:
    """The urban school: in seguimiento, a Saber 11 hallazgo in matemáticas, an objetivo on
    ACA.1.1 whose two metas ended alcanzada and parcialmente, a registered final evaluation.
    The rural school: approved, an internal hallazgo in lectura crítica, an objetivo on DIR.1.2,
    and a return recorded before the rubric existed with an observation on criterion 3."""
    urban_id = world.ruta(State.SEGUIMIENTO)
    rural_id = world.ruta(State.APROBADO, other_school=True)
    with world.server.session() as session:
        make = Factory(session)
        reviewer = session.query(User).filter_by(email=world.reviewer_email).one()
        build = Builder(session, make.catalog(), reviewer)
        urban, rural = session.get_one(Ruta, urban_id), session.get_one(Ruta, rural_id)
        build.hallazgo(urban, "saber_11", "11.°", "Matemáticas")
        build.objetivo(urban, ["ACA.1.1"], [Verdict.ALCANZADA, Verdict.PARCIAL])
        build.final(urban, URBAN_LESSON, registered=True)
        build.hallazgo(rural, "interna", "5.°", "Lectura crítica")
        build.objetivo(rural, ["DIR.1.2"])
        build.decision(rural, "devolver", utcnow() - timedelta(days=200), [3])
        session.commit()


def section(page: Page, heading: str) -> object:
    return page.locator("section.card").filter(has=page.get_by_role("heading", name=heading))


def choose_zona(page: Page, label: str) -> None:
    page.get_by_label("Zona", exact=True).select_option(label=label)
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(f"**zona={label.lower()}**")


def test_reviewer_filters_by_zona_and_reads_the_new_sections(
        world: World, browsing: Browsing) -> None:
    seed_sections(world)
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto("/reportes/")
    hallazgos = section(reviewer, "Hallazgos de las instituciones")
    expect(hallazgos).to_contain_text("2 hallazgos de 2 instituciones")
    expect(hallazgos.get_by_role("row", name="Saber 11")).to_contain_text("1")
    expect(section(reviewer, "Componentes que más trabajan los planes")
           .get_by_role("row", name="ACA.1.1 Plan de estudios")).to_be_visible()
    observed = section(reviewer, "Criterios con observaciones en revisiones sin rúbrica")
    expect(observed).to_contain_text("Revisión 1: 1 plan sin rúbrica")
    results = section(reviewer, "Resultados finales del horizonte")
    expect(results).to_contain_text(
        "Rutas que llegaron al seguimiento: 1. Con la evaluación final registrada: 1.")
    expect(results.get_by_role("row", name="Gestión académica")).to_contain_text("1")
    expect(results).to_contain_text(URBAN_LESSON)
    expect(reviewer.locator("#estancadas ~ p.meta").first).to_contain_text(
        "debe algo a la Secretaría")
    browsing.check_accessibility(reviewer)

    # Rural only: the rural school's hallazgo and observed criterion, none of the urban data.
    choose_zona(reviewer, "Rural")
    expect(hallazgos).to_contain_text("1 hallazgo de 1 institución")
    expect(hallazgos).to_contain_text("Lectura crítica")
    expect(hallazgos).not_to_contain_text("Matemáticas")
    expect(results).to_contain_text("Ninguna Ruta con este filtro ha llegado al seguimiento")
    expect(results).not_to_contain_text(URBAN_LESSON)
    expect(observed).to_contain_text("Zona rural")
    browsing.check_accessibility(reviewer)

    # A double click on «Filtrar» with Urbana: one filtered page, nothing doubled.
    reviewer.get_by_label("Zona", exact=True).select_option(label="Urbana")
    reviewer.get_by_role("button", name="Filtrar").dblclick()
    reviewer.wait_for_url("**zona=urbana**")
    expect(hallazgos).to_contain_text("1 hallazgo de 1 institución")
    expect(hallazgos).to_contain_text("Matemáticas")
    expect(results.get_by_text(URBAN_LESSON)).to_have_count(1)
    expect(observed).to_contain_text("Todas las revisiones con este filtro tienen rúbrica")

    # Back: the rural page again, as it was, and its summary line says so (the browser may
    # restore the select as the person last left it).
    reviewer.go_back()
    reviewer.wait_for_url("**zona=rural**")
    expect(hallazgos).to_contain_text("Lectura crítica")
    expect(reviewer.locator("h1 + p.meta")).to_contain_text("zona rural")

    # The sheet of lessons the page links to.
    reviewer.goto("/reportes/?zona=urbana")
    link = results.get_by_role("link", name=world.school_name)
    expect(link).to_be_visible()
    response = reviewer.request.get("/reportes/consolidado.csv?hoja=lecciones&zona=urbana")
    assert response.ok
    assert URBAN_LESSON in response.body().decode("utf-8")


def test_sections_read_on_a_phone(world: World, browsing: Browsing) -> None:
    seed_sections(world)
    phone = browsing.new_page(PHONE)
    browsing.login(phone, world.reviewer_email)
    phone.goto("/reportes/")
    for heading in ("Hallazgos de las instituciones", "Componentes que más trabajan los planes",
                    "Criterios con observaciones en revisiones sin rúbrica",
                    "Resultados finales del horizonte", "Lecciones aprendidas"):
        target = phone.get_by_role("heading", name=heading)
        target.scroll_into_view_if_needed()
        expect(target).to_be_in_viewport()
    results = section(phone, "Resultados finales del horizonte")
    # Table rows become cards: each cell says its column.
    cell = results.locator("td[data-label='Alcanzadas']").first
    cell.scroll_into_view_if_needed()
    expect(cell).to_be_visible()
    expect(results).to_contain_text(URBAN_LESSON)
    # Nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browsing.check_accessibility(phone)
    choose_zona(phone, "Rural")
    expect(section(phone, "Hallazgos de las instituciones")).to_contain_text("Lectura crítica")
    browsing.check_accessibility(phone)
