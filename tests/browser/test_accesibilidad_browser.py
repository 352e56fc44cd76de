"""The Declaración de accesibilidad in Chromium (issue 18, item 5): reached from the footer of
the sign-in page and of a signed-in page, readable at 1280 and 360 px, and clean for axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import Factory
from workflow.roles import Role

from .conftest import DESKTOP, PHONE, Browsing, LiveServer

pytestmark = pytest.mark.browser

REVIEWER = "revisora.accesibilidad@prueba.co"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "360px"])
def test_statement_is_reached_from_the_footer_signed_out_and_in(
        browsing: Browsing, live_server: LiveServer, viewport: dict[str, int]) -> None:
    with live_server.session() as session:
        Factory(session).user(Role.REVISOR, email=REVIEWER)
        session.commit()

    visitor = browsing.new_page(viewport)
    visitor.goto("/ingresar")
    visitor.get_by_role("contentinfo").get_by_role(
        "link", name="Declaración de accesibilidad").click()
    expect(visitor).to_have_url(f"{live_server.url}/accesibilidad")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Declaración de accesibilidad")
    expect(visitor.get_by_role("link", name="accesibilidad@ruta.local")).to_have_attribute(
        "href", "mailto:accesibilidad@ruta.local?subject=Barrera%20de%20accesibilidad%20en%20la"
                "%20Ruta%20de%20Mejoramiento")
    # Nothing wider than the screen.
    assert visitor.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browsing.check_accessibility(visitor)

    reviewer = browsing.new_page(viewport)
    browsing.login(reviewer, REVIEWER)
    reviewer.get_by_role("contentinfo").get_by_role(
        "link", name="Declaración de accesibilidad").click()
    expect(reviewer.get_by_text("la dirección de la Secretaría de Educación de Ibagué para "
                                "estos avisos")).to_be_visible()
    assert reviewer.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browsing.check_accessibility(reviewer)
