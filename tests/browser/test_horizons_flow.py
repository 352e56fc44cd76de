"""Horizons in a real Chromium: the administrador opens the next horizon (an overlapping year
is refused with the typed value kept; a double click opens one), enters its first year's
calendar and leaves the later years blank (the page says what they lack), adds a checkpoint
(one before the dates is refused), and switches the consolidado between horizons, each with
its own schools and instrument. Every page passes axe-core; at 360 px nothing overflows.

The world is built here, without the demo (which has its own 2027–2029 horizon)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import Factory
from workflow.catalogo.models import Catalog, InstrumentSettings
from workflow.horizontes.horizons import ensure_horizon
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Ruta, School, Secretaria
from workflow.roles import Role
from workflow.states import State

from .conftest import PHONE, Browsing, World

pytestmark = pytest.mark.browser

ADMIN = "admin.horizontes@prueba.co"


@pytest.fixture
def horizons_world(world: World) -> World:
    """The 2024–2026 horizon on «prueba-mini», with one school's Ruta in it; a second
    instrument, «otro-instrumento», loaded for the next cycle."""
    with world.server.session() as session:
        make = Factory(session)
        secretaria = session.scalars(select(Secretaria)).one()
        mini = make.catalog()
        make.catalog("otro-instrumento")
        session.add(InstrumentSettings(secretaria_id=secretaria.id, catalog_id=mini.id))
        ensure_horizon(session, secretaria, 2024, 2026, actor=None)
        make.user(Role.ADMINISTRADOR, email=ADMIN, secretaria=secretaria)
        school = session.scalars(select(School).where(School.name == world.school_name)).one()
        make.ruta(school, State.AUTOEVALUACION_ENVIADA, catalog=mini)
        session.commit()
    return world


def horizon_rows(world: World, start: int) -> int:
    with world.server.session() as session:
        return len(session.scalars(select(HorizonCalendar).where(
            HorizonCalendar.horizon_start_year == start)).all())


def no_sideways_scroll(page: Page) -> None:
    assert int(page.evaluate("document.documentElement.scrollWidth")) <= PHONE["width"], page.url


def test_administrador_opens_the_next_horizon_and_switches_the_consolidado(
        horizons_world: World, browsing: Browsing) -> None:
    world = horizons_world
    admin = browsing.new_page()
    browsing.login(admin, ADMIN)
    admin.get_by_role("link", name="Horizontes").click()
    expect(admin.get_by_role("heading", name="Horizontes de la Secretaría")).to_be_visible()
    expect(admin.get_by_label("Año en que empieza (obligatorio)")).to_have_value("2027")
    browsing.check_accessibility(admin)

    # An overlapping year: refused in Spanish, the typed value kept, nothing opened.
    admin.get_by_label("Año en que empieza (obligatorio)").fill("2025")
    admin.get_by_role("button", name="Abrir el horizonte").click()
    expect(admin.get_by_role("alert")).to_contain_text(
        "El horizonte 2025–2027 se cruza con el horizonte 2024–2026")
    expect(admin.get_by_label("Año en que empieza (obligatorio)")).to_have_value("2025")
    browsing.check_accessibility(admin, status=422)
    assert horizon_rows(world, 2025) == 0

    # The next one, on the new instrument; a double click opens it once.
    admin.get_by_label("Año en que empieza (obligatorio)").fill("2027")
    admin.get_by_label("Versión del instrumento (obligatorio)").select_option(
        label="Instrumento de prueba (otro-instrumento)")
    admin.get_by_role("button", name="Abrir el horizonte").dblclick()
    admin.wait_for_load_state()
    expect(admin.locator(".error-summary")).to_have_count(0)
    assert horizon_rows(world, 2027) == 1

    # Its calendar: the first year's dates, later years blank.
    admin.goto("/admin/calendario/2027")
    expect(admin.get_by_role("heading", name="Calendario del horizonte 2027–2029")).to_be_visible()
    expect(admin.locator("#faltan")).to_contain_text("2028: falta la primera semana institucional")
    admin.get_by_label("Último día de la primera semana institucional de 2027").fill("2027-01-22")
    admin.get_by_label("Fecha límite de reporte del PMI").fill("2027-02-26")
    admin.get_by_label("La autoevaluación institucional abre el").fill("2026-10-01")
    admin.get_by_label("La autoevaluación institucional cierra el").fill("2027-02-12")
    admin.get_by_role("button", name="Guardar calendario").click()
    expect(admin.get_by_text("Se guardó el calendario del horizonte 2027–2029.")).to_be_visible()
    expect(admin.locator("#faltan")).to_contain_text(
        "2028: falta la primera semana institucional y los cortes de seguimiento")
    expect(admin.locator("#faltan")).to_contain_text(
        "2027: falta los cortes de seguimiento")
    browsing.check_accessibility(admin)

    # A checkpoint before the year's dates is refused; a good one is added.
    admin.get_by_label("Nombre (obligatorio)").last.fill("Seguimiento temprano 2027")
    admin.get_by_label("Fecha del corte (obligatorio)").last.fill("2027-01-15")
    admin.get_by_role("button", name="Agregar el corte").click()
    expect(admin.get_by_role("alert")).to_contain_text(
        "Un corte de seguimiento (15 de enero de 2027) debe ser posterior")
    expect(admin.locator("#nuevo-name")).to_have_value("Seguimiento temprano 2027")
    browsing.check_accessibility(admin, status=422)
    admin.locator("#nuevo-name").fill("Seguimiento 1er semestre 2027")
    admin.locator("#nuevo-due_on").fill("2027-06-15")
    admin.get_by_role("button", name="Agregar el corte").click()
    expect(admin.get_by_text("Se agregó el corte «Seguimiento 1er semestre 2027».")).to_be_visible()
    expect(admin.locator("#faltan")).not_to_contain_text("2027:")

    # A school's Ruta in the new horizon, on the new instrument.
    with world.server.session() as session:
        other = session.scalars(select(Catalog).where(Catalog.slug == "otro-instrumento")).one()
        school = session.scalars(select(School).where(
            School.name == world.other_school_name)).one()
        ruta = Factory(session).ruta(school, State.BORRADOR, catalog=other)
        ruta.horizon_start_year, ruta.horizon_end_year = 2027, 2029
        session.commit()

    # The consolidado: the current horizon by default, the other one on request.
    admin.get_by_role("link", name="Consolidado").click()
    expect(admin.get_by_text("Horizonte 2024–2026 · instrumento «Instrumento de prueba "
                             "(prueba-mini)»")).to_be_visible()
    expect(admin.get_by_role("link", name=world.school_name)).to_be_visible()
    admin.get_by_label("Horizonte", exact=True).select_option(label="2027–2029 (próximo)")
    admin.get_by_label("Zona").select_option(label="Rural")
    admin.get_by_role("button", name="Filtrar").click()
    expect(admin.get_by_text("Horizonte 2027–2029 · instrumento «Instrumento de prueba "
                             "(otro-instrumento)» · zona rural")).to_be_visible()
    expect(admin.get_by_role("link", name=world.other_school_name)).to_be_visible()
    expect(admin.get_by_role("link", name=world.school_name)).to_have_count(0)
    assert "horizonte=2027" in admin.url and "zona=rural" in admin.url
    browsing.check_accessibility(admin)
    admin.get_by_label("Horizonte", exact=True).select_option(label="2024–2026 (vigente)")
    admin.get_by_label("Zona").select_option(label="Todas")
    admin.get_by_role("button", name="Filtrar").click()
    expect(admin.get_by_role("link", name=world.school_name)).to_be_visible()
    with world.server.session() as session:
        assert session.scalars(select(Ruta.horizon_start_year).order_by(
            Ruta.horizon_start_year)).all() == [2024, 2027]

    # On a phone, nothing scrolls sideways.
    phone = browsing.new_page(PHONE)
    browsing.login(phone, ADMIN)
    for url in ("/admin/horizontes/", "/admin/calendario/2027", "/reportes/?horizonte=2027",
                "/revision/?horizonte=2027"):
        phone.goto(url)
        no_sideways_scroll(phone)
        browsing.check_accessibility(phone)
    phone.goto("/admin/horizontes/")
    browsing.screenshot(phone, "horizontes-360")
    admin.goto("/admin/calendario/2027")
    browsing.screenshot(admin, "calendario-2027")
