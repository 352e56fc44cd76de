"""A plan adjustment in a real Chromium, while the Ruta stays in seguimiento.

The rector proposes an adjustment: one change of an actividad, first without a justification
(the message says so and the typed value stays), then with one; sends it. The revisor returns
it with an observation on the change and the rubric; the rector corrects the justification
and resends; the revisor approves. The Ruta is still in «Seguimiento periódico», the plan
has a new version, and the Ruta's history shows every step. Every page is checked with
axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_seguimiento_flow import following_ruta
from workflow.pmi.models import Actividad
from workflow.pmi.rubric import ORDER, field_name

from .conftest import Browsing, World

pytestmark = pytest.mark.browser

NEW_RESPONSABLE = "Coordinación académica y biblioteca escolar"


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def decide(browsing: Browsing, page: Page, button: str, observation: str = "") -> None:
    if observation:
        page.locator("textarea[id^='observacion-']").first.fill(observation)
    for criterion in ORDER:
        page.locator(f"input[name='{field_name(criterion, 'veredicto')}'][value='cumple']"
                     ).check()
    browsing.check_accessibility(page)
    page.get_by_role("button", name=button).click()


def test_rector_proposes_reviewer_returns_then_approves_and_the_ruta_stays_in_seguimiento(
        browsing: Browsing, world: World) -> None:
    ruta_id, actividades, _indicadores = following_ruta(world)

    # --- the rector proposes an adjustment with one change ---
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}")
    browsing.check_accessibility(rector)
    rector.get_by_role("button", name="Proponer un ajuste del plan").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "Ajuste 1 del plan: en preparación")
    browsing.check_accessibility(rector)
    rector.locator("#accion").select_option(label="Modificar Actividad 1.1.1")
    rector.get_by_role("button", name="Escribir el cambio").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "Modificar: Actividad 1.1.1")
    browsing.check_accessibility(rector)

    # Without a justification: refused with the reason, the typed value stays.
    rector.locator("#responsable").fill(NEW_RESPONSABLE)
    rector.get_by_role("button", name="Agregar el cambio al ajuste").click()
    expect(rector.locator(".error-summary")).to_contain_text(
        "Escriba la justificación de este cambio")
    expect(rector.locator("#responsable")).to_have_value(NEW_RESPONSABLE)
    browsing.check_accessibility(rector, status=422)
    rector.locator("#justificacion").fill(
        "La biblioteca escolar asumió los talleres desde febrero de 2025.")
    rector.get_by_role("button", name="Agregar el cambio al ajuste").click()
    expect(flash(rector)).to_contain_text("Cambio agregado al ajuste.")
    expect(rector.locator("#cambios")).to_contain_text(NEW_RESPONSABLE)
    browsing.check_accessibility(rector)
    rector.get_by_role("button", name="Enviar el ajuste a la Secretaría").click()
    expect(flash(rector)).to_contain_text("Ajuste 1 enviado a la Secretaría.")
    adjustment_url = rector.url

    # --- the revisor returns it with an observation and the rubric ---
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(adjustment_url)
    expect(reviewer.locator("#cambios")).to_contain_text("La biblioteca escolar asumió")
    decide(browsing, reviewer, "Devolver el ajuste con observaciones",
           "Diga quién coordina los talleres en la biblioteca.")
    expect(flash(reviewer)).to_contain_text("Ajuste 1 devuelto a la institución")

    # --- the rector corrects and resends ---
    rector.goto(adjustment_url)
    expect(rector.locator("#cambios")).to_contain_text(
        "Diga quién coordina los talleres en la biblioteca.")
    browsing.check_accessibility(rector)
    rector.get_by_role("link", name="Corregir el cambio 1").click()
    rector.locator("#justificacion").fill(
        "La bibliotecaria, Ana Ruiz, coordina los talleres desde febrero de 2025.")
    rector.get_by_role("button", name="Guardar la corrección").click()
    expect(flash(rector)).to_contain_text("Cambio corregido.")
    rector.get_by_role("button", name="Reenviar el ajuste a la Secretaría").click()
    expect(flash(rector)).to_contain_text("Ajuste 1 enviado a la Secretaría.")

    # --- the revisor approves: a new version of the plan, the Ruta still in seguimiento ---
    reviewer.goto(adjustment_url)
    decide(browsing, reviewer, "Aprobar el ajuste")
    expect(flash(reviewer)).to_contain_text("Ajuste 1 aprobado: los cambios quedaron en el "
                                            "plan como su versión 2.")
    browsing.check_accessibility(reviewer)
    with world.server.session() as session:
        assert session.get(Actividad, actividades[0]).responsable == NEW_RESPONSABLE

    rector.goto(f"/rutas/{ruta_id}")
    expect(rector.locator("#estado-titulo")).to_contain_text("Seguimiento periódico")
    history = rector.locator("#historial-ajustes + ol")
    expect(history).to_contain_text("Aprobó el ajuste 1 del plan")
    expect(history).to_contain_text("Devolvió con observaciones el ajuste 1 del plan")
    expect(history).to_contain_text("Los cambios quedaron como la versión 2 del PMI.")
    browsing.check_accessibility(rector)
