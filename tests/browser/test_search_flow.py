"""A revisor finds a Ruta the way people type («simon» finds «San Simón»), sorts the queue by
days waiting and moves through numbered pages, in a real Chromium, on a phone as well.

Every page visited is checked with axe-core (no serious or critical violation).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import Factory
from workflow.models import School, utcnow
from workflow.states import State

from .conftest import PHONE, Browsing, World

pytestmark = pytest.mark.browser

WAITS = {"Colegio San Simón": 40, "Institución Ángel Cuniberti": 5, "Colegio Ñáñez": 20,
         "Colegio Simón Bolívar": 12}


def queue_names(page: object) -> list[str]:
    return page.locator("table tbody th[scope=row] a").all_inner_texts()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def crowded(world: World) -> World:
    """Four Rutas waiting for the Secretaría, each for a different number of days."""
    with world.server.session() as session:
        make = Factory(session)
        secretaria = session.query(School).first().secretaria  # type: ignore[union-attr]
        now = utcnow()
        for name, days in WAITS.items():
            ruta = make.ruta(make.school(secretaria=secretaria, name=name),
                             state=State.PMI_FORMULADO)
            ruta.state_changed_at = now - timedelta(days=days, hours=2)
        session.commit()
    world.server.app.config["QUEUE_PAGE_SIZE"] = 1
    return world


def test_reviewer_searches_without_accents_sorts_by_days_and_pages(browsing: Browsing,
                                                                   crowded: World) -> None:
    page = browsing.new_page()
    browsing.login(page, crowded.reviewer_email)
    page.goto("/revision/")

    page.get_by_label("Institución (nombre o código DANE)").fill("simon")
    page.get_by_role("button", name="Filtrar").click()

    expect(page.get_by_role("status")).to_have_text("2 Rutas.")
    # Oldest first by default: the one waiting 40 days, then (page 2) the one waiting 12.
    assert queue_names(page) == ["Colegio San Simón"]
    expect(page.locator("td[data-label='Días en el estado']")).to_contain_text("40 días")
    browsing.check_accessibility(page)

    page.get_by_role("link", name="Días en el estado").click()
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "ascending")
    assert queue_names(page) == ["Colegio Simón Bolívar"]
    expect(page.get_by_label("Institución (nombre o código DANE)")).to_have_value("simon")

    page.get_by_role("navigation", name="Páginas").get_by_role("link", name="Página 2").click()
    expect(page.get_by_role("navigation", name="Páginas")).to_contain_text("Página 2 de 2")
    assert queue_names(page) == ["Colegio San Simón"]
    expect(page.get_by_label("Página 2, la actual")).to_have_attribute("aria-current", "page")
    browsing.check_accessibility(page)


def test_queue_fits_a_phone(browsing: Browsing, crowded: World) -> None:
    page = browsing.new_page(PHONE)
    browsing.login(page, crowded.reviewer_email)
    page.goto("/revision/?colegio=NANEZ")

    assert queue_names(page) == ["Colegio Ñáñez"]
    assert int(page.evaluate("document.documentElement.scrollWidth")) <= PHONE["width"]
    browsing.check_accessibility(page)
