"""The PMI in a real Chromium: the plan page's Circular 0488 report follows every save.

Every page visited is checked with axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory
from workflow.models import School, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi.rubric import ORDER
from workflow.states import State

from .conftest import PHONE, Browsing, World

pytestmark = pytest.mark.browser


def draft_ruta(world: World) -> int:
    """A Ruta of the world's school formulating its PMI, halfway (it fails some rules)."""
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        rector = session.query(User).filter_by(email=world.rector_email).one()
        ruta = make.ruta(school=school, state=State.AUTOEVALUACION_ENVIADA)
        make.completed_self_assessment(ruta, level=2)
        fill_demo_pmi(session, ruta, actor=rector, complete=False)
        session.commit()
        return ruta.id


def rule_row(page: Page, rule_id: str) -> str:
    return page.locator(f"#regla-{rule_id}").get_attribute("class") or ""


def test_plan_page_report_follows_each_save(browsing: Browsing, world: World) -> None:
    ruta_id = draft_ruta(world)
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi")
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "Plan de Mejoramiento Institucional")
    summary = rector.locator(".check-summary")
    expect(summary).to_contain_text("Faltan 5 verificaciones obligatorias")
    meta = rector.locator("section.pmi-element", has_text="Meta 1.1")
    expect(meta.locator(".finding")).to_have_text([
        "Obligatorio Meta 1.1: no tiene indicador. (criterio: Coherencia entre los objetivos, "
        "metas e indicadores)",
        "Obligatorio Meta 1.1: no tiene actividades. (criterio: Las acciones son eficaces "
        "para cumplir los objetivos y metas)"])
    assert rule_row(rector, "meta_con_indicador") == "rule-fail"
    browsing.check_accessibility(rector)

    # Add the indicator through its form; the report no longer lists the meta for it.
    rector.get_by_role("link", name="Agregar un indicador a Meta 1.1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Nuevo elemento: indicador")
    browsing.check_accessibility(rector)
    rector.get_by_label("Nombre del indicador (obligatorio)").fill(
        "Porcentaje de estudiantes de 11.° sobre el nivel mínimo")
    rector.get_by_label("Fórmula (obligatorio)").fill("Niveles 2 a 4 / evaluados × 100")
    rector.get_by_label("Unidad (obligatorio)").fill("%")
    rector.get_by_label("Frecuencia de medición").fill("Anual")
    rector.get_by_label("Fuente de información").fill("ICFES")
    rector.get_by_label("Línea base").fill("32")
    for year, target in (("2024", "36"), ("2025", "40"), ("2026", "45")):
        rector.get_by_label(f"Meta para {year}").fill(target)
    rector.get_by_role("button", name="Guardar").click()

    expect(rector.locator(".flashes .flash")).to_have_text("Guardado: Indicador 1.1.1.")
    expect(summary).to_contain_text("Faltan 4 verificaciones obligatorias")
    assert rule_row(rector, "meta_con_indicador") == "rule-ok"
    browsing.screenshot(rector, "pmi-plan-report")
    expect(meta.locator("> .findings .finding")).to_have_text([
        "Obligatorio Meta 1.1: no tiene actividades. (criterio: Las acciones son eficaces "
        "para cumplir los objetivos y metas)"])
    browsing.check_accessibility(rector)

    # A bad date is refused on the page, with the reason next to the field.
    rector.get_by_role("link", name="Agregar una actividad a Meta 1.1").click()
    rector.get_by_label("Actividad (obligatorio)").fill("Talleres")
    rector.get_by_label("Fecha de inicio").fill("2023-05-01")
    rector.get_by_role("button", name="Guardar").click()
    expect(rector.locator("#fecha_inicio-error")).to_have_text(
        "La fecha de inicio (2023-05-01) queda fuera del horizonte del plan (2024–2026).")
    browsing.check_accessibility(rector, status=422)  # the form again, with what was typed


def test_pmi_pages_fit_a_phone_and_pass_axe(browsing: Browsing, world: World) -> None:
    ruta_id = draft_ruta(world)
    rector = browsing.new_page(PHONE)
    browsing.login(rector, world.rector_email)
    for path, heading in (
            ("pmi", "Plan de Mejoramiento Institucional"),
            ("pmi/revision", "Revisión del PMI"),
            ("pmi/versiones", "Versiones del PMI"),
            ("pmi/imprimir", f"PMI 2024–2026: {world.school_name}"),
            ("pmi/elemento?tipo=objetivo", "Nuevo elemento: objetivo")):
        # Width and axe alone pass on an error page: the status and the heading say it is
        # the page meant (check_accessibility asserts a status below 400).
        response = rector.goto(f"/rutas/{ruta_id}/{path}")
        assert response is not None and response.status == 200, f"{path}: {response}"
        expect(rector.get_by_role("heading", level=1)).to_have_text(heading)
        width = rector.evaluate("document.scrollingElement.scrollWidth")
        assert width <= PHONE["width"], f"{rector.url} is {width} px wide"
        browsing.check_accessibility(rector)


def test_reviewer_returns_with_an_itemized_observation_and_rector_answers(
        browsing: Browsing, world: World) -> None:
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        rector_user = session.query(User).filter_by(email=world.rector_email).one()
        reviewer_user = session.query(User).filter_by(email=world.reviewer_email).one()
        ruta = make.ruta(school=school, state=State.AUTOEVALUACION_ENVIADA)
        make.completed_self_assessment(ruta, level=2)
        fill_demo_pmi(session, ruta, actor=rector_user)
        pmi_actions.submit_pmi(session, ruta, actor=rector_user, expected_version=ruta.version)
        pmi_actions.take_for_review(session, ruta, reviewer=reviewer_user,
                                    expected_version=ruta.version)
        session.commit()
        ruta_id = ruta.id

    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(f"/rutas/{ruta_id}/pmi/revision")
    expect(reviewer.get_by_role("heading", level=1)).to_have_text("Revisión del PMI")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_label("Elemento del plan").select_option(label="Meta 2.1")
    reviewer.get_by_label("Criterio de la Circular 0488").select_option("4")
    reviewer.get_by_label("Observación", exact=True).fill(
        "El indicador mide la reprobación por periodo, pero la meta es anual.")
    reviewer.get_by_role("button", name="Agregar la observación").click()
    expect(reviewer.locator("#observaciones article h3")).to_have_text(
        ["Observación 1 · Meta 2.1"])
    browsing.check_accessibility(reviewer)
    browsing.screenshot(reviewer, "pmi-review")
    for criterion in ORDER:  # the rubric a return carries (its own flow: test_rubric_flow)
        reviewer.locator(f"#rubrica-{criterion}-veredicto").get_by_label(
            "Cumple", exact=True).check()
    reviewer.get_by_role("button", name="Devolver con observaciones").click()
    expect(reviewer.locator(".flashes .flash")).to_have_text(
        "Listo: devolvió con observaciones. La Ruta quedó en «PMI devuelto con observaciones».")

    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi/revision")
    expect(rector.locator(".observation-status")).to_have_text(
        ["Estado: Enviada, sin respuesta"])
    browsing.check_accessibility(rector)
    rector.get_by_label("Su respuesta a la observación 1").fill(
        "Cambiamos la frecuencia del indicador a anual.")
    rector.get_by_role("button", name="Guardar la respuesta").click()
    expect(rector.locator(".observation-status")).to_have_text(
        ["Estado: Respondida por la institución"])
    assert world.state_of(ruta_id)[0] is State.AUTOEVALUACION_ENVIADA
