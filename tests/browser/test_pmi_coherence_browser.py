"""A meta's type in a real Chromium: a type that contradicts the numbers is refused next to
the field, with what was typed kept; a coherent one saves and the check panel agrees.

Every page visited is checked with axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import PHONE, Browsing, World
from .test_pmi_browser import draft_ruta, rule_row

pytestmark = pytest.mark.browser


def test_meta_type_contradiction_is_refused_then_the_coherent_meta_saves(
        browsing: Browsing, world: World) -> None:
    ruta_id = draft_ruta(world)
    rector = browsing.new_page(PHONE)
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi")
    assert rule_row(rector, "meta_coherente") == "rule-ok"
    rector.get_by_role("link", name="Editar Meta 1.1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Editar: Meta 1.1")
    expect(rector.get_by_label("Tipo de meta (obligatorio)")).to_have_value("alcanzar")
    browsing.check_accessibility(rector)

    rector.get_by_label("Tipo de meta (obligatorio)").select_option(label="Reducir a un valor")
    rector.get_by_role("button", name="Guardar", exact=True).click()
    expect(rector.locator("#tipo_meta-error")).to_have_text(
        "El enunciado dice «aumentar», pero el tipo de meta es «reducir a un valor».")
    expect(rector.locator("#cantidad-error")).to_have_text(
        "Una meta «reducir a» termina por debajo de la línea base (32), pero la cantidad es "
        "45.")
    expect(rector.get_by_label("Tipo de meta (obligatorio)")).to_have_value("reducir_a")
    width = rector.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"]
    browsing.check_accessibility(rector, status=422)

    rector.get_by_label("Tipo de meta (obligatorio)").select_option(
        label="Aumentar en (la cantidad es el aumento)")
    rector.get_by_label("Cantidad (obligatorio)").fill("13")
    rector.get_by_label("Meta (obligatorio)", exact=True).fill(
        "Aumentar en 13 puntos porcentuales la proporción de estudiantes de 11.° por encima "
        "del nivel mínimo en matemáticas de Saber 11.")
    rector.get_by_role("button", name="Guardar", exact=True).click()
    expect(rector.locator(".flashes .flash")).to_have_text("Guardado: Meta 1.1.")
    meta = rector.locator("section.pmi-element", has_text="Meta 1.1")
    expect(meta.locator("dl.fields dd").first).to_have_text(
        "Aumentar en (la cantidad es el aumento)")
    assert rule_row(rector, "meta_coherente") == "rule-ok"
    browsing.check_accessibility(rector)
