"""Instruments that change, in a real Chromium: the perfil of a Ruta on the Guía 34 of 2026
compares with the previous Ruta on the 2008 version only through the crosswalk, and the
administración reads the crosswalk from the instruments page. Every page is checked with
axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import Factory
from workflow.autoevaluacion.models import Valoracion
from workflow.catalogo.catalog import load_shipped_catalogs
from workflow.models import Ruta, School
from workflow.roles import Role
from workflow.states import State

from .conftest import Browsing, World

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@prueba.co"


def cycles_on_two_versions(world: World) -> int:
    """A closed 2024–2026 Ruta on the 2008 version (every componente at 2, «Liderazgo» at 1,
    «Consejo directivo» at 4) and the next one on 2026 (every componente at 2, «Consejo
    directivo» at 4); the id of the next one."""
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        make.user(Role.ADMINISTRADOR, email=ADMIN_EMAIL, secretaria=school.secretaria)
        guia_2008, guia_2026 = load_shipped_catalogs(session)
        before = Ruta(school=school, horizon_start_year=2024, horizon_end_year=2026,
                      state=State.CERRADO, catalog_id=guia_2008.id)
        session.add(before)
        session.flush()
        after = Ruta(school=school, horizon_start_year=2027, horizon_end_year=2029,
                     state=State.BORRADOR, catalog_id=guia_2026.id, previous_ruta_id=before.id)
        session.add(after)
        session.flush()
        for ruta, catalog, levels in ((before, guia_2008, {"DIR.2.1": 1, "DIR.3.1": 4}),
                                      (after, guia_2026, {"DIR.2.1": 4})):
            for componente in catalog.componentes:
                session.add(Valoracion(ruta_id=ruta.id, componente_id=componente.id,
                                       level=levels.get(componente.code, 2), evidence="Acta."))
        session.commit()
        return after.id


def test_perfil_across_versions_and_the_crosswalk_page(browsing: Browsing,
                                                       world: World) -> None:
    ruta_id = cycles_on_two_versions(world)

    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/autoevaluacion/perfil")
    expect(rector.locator("#cambio-resumen")).to_contain_text(
        "Frente a la Ruta 2024–2026: 1 componentes subieron de nivel, 0 bajaron y 42 siguen "
        "igual; 2 no son comparables.")
    changes = rector.locator("table.componente-changes")
    consejo = changes.locator("tr", has_text="DIR.2.1 · Consejo directivo")
    expect(consejo).to_contain_text("Antes: DIR.3.1 · Consejo directivo")
    expect(consejo).to_contain_text("= Igual")
    expect(changes.locator("tr", has_text="DIR.1.1 · Construcción")).to_contain_text(
        "≠ No comparable")
    browsing.check_accessibility(rector)

    admin = browsing.new_page()
    browsing.login(admin, ADMIN_EMAIL)
    admin.goto("/catalogos/")
    admin.get_by_role("link", name="tablas de equivalencias entre versiones").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        "Tablas de equivalencias entre versiones del instrumento")
    browsing.check_accessibility(admin)
    admin.get_by_role("link", name="guia34-2008 → guia34-2026").click()
    liderazgo = admin.locator("tr", has_text="DIR.2.1 · Liderazgo")
    expect(liderazgo).to_contain_text("DIR.1.3 · Liderazgo y articulación institucional")
    expect(admin.locator("tr", has_text="DIR.3.3 ·")).to_contain_text("Sin equivalente")
    browsing.check_accessibility(admin)
