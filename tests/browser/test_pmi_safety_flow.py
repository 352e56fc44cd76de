"""A rector's PMI work is never lost, in a real Chromium: two tabs on one actividad, the back
button and a double click on «Guardar», and «Eliminar» with its confirmation and «Deshacer»;
nor a revisor's rubric when they add an observation before deciding.

Every page touched (the element form, the 409 page, the confirmation page, the plan) is
checked with axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory
from workflow.models import School, User
from workflow.pmi import plan as pmi
from workflow.pmi.models import Actividad, Hallazgo, Objetivo
from workflow.states import State

from .conftest import Browsing, World
from .test_rubric_flow import in_review, judge, judge_all_cumple

pytestmark = pytest.mark.browser


def formulating_ruta(world: World) -> int:
    """A Ruta of the world's school with the complete demo PMI, being formulated."""
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        rector = session.query(User).filter_by(email=world.rector_email).one()
        ruta = make.ruta(school=school, state=State.AUTOEVALUACION_ENVIADA)
        make.completed_self_assessment(ruta, level=2)
        fill_demo_pmi(session, ruta, actor=rector)
        session.commit()
        return ruta.id


def stored(world: World, query: Any) -> Any:
    with world.server.session() as session:
        return session.execute(query).all()


def how_many(world: World, model: type[Any]) -> int:
    with world.server.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def content(world: World, ruta_id: int) -> dict[str, Any]:
    with world.server.session() as session:
        from workflow.models import Ruta

        return pmi.plan_content(session, session.get_one(Ruta, ruta_id))


def open_first_actividad(page: Page, ruta_id: int, actividad_id: int) -> None:
    page.goto(f"/rutas/{ruta_id}/pmi/elemento?tipo=actividad&elemento_id={actividad_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Editar: Actividad 1.1.1")


def test_two_tabs_on_one_actividad_keep_both_changes(browsing: Browsing, world: World) -> None:
    ruta_id = formulating_ruta(world)
    actividad_id = stored(world, select(Actividad.id).order_by(Actividad.id))[0][0]
    first_tab = browsing.new_page()
    browsing.login(first_tab, world.rector_email)
    second_tab = first_tab.context.new_page()
    open_first_actividad(first_tab, ruta_id, actividad_id)
    open_first_actividad(second_tab, ruta_id, actividad_id)
    browsing.check_accessibility(first_tab)

    # The first tab changes the responsable and saves.
    first_tab.get_by_label("Responsable (obligatorio)").fill("Rectoría y jefatura de área")
    first_tab.get_by_role("button", name="Guardar").click()
    expect(first_tab.locator(".flashes .flash")).to_have_text("Guardado: Actividad 1.1.1.")

    # The second tab, drawn before that save, changes the recursos: refused, nothing lost.
    second_tab.get_by_label("Recursos (obligatorio)").fill("Banco de preguntas y tabletas.")
    second_tab.get_by_role("button", name="Guardar").click()
    notice = second_tab.locator(".conflict-notice")
    expect(notice).to_contain_text("Otra persona guardó cambios mientras usted editaba")
    expect(second_tab.get_by_label("Recursos (obligatorio)")).to_have_value(
        "Banco de preguntas y tabletas.")
    expect(second_tab.get_by_label("Responsable (obligatorio)")).to_have_value(
        "Jefatura del área de matemáticas")
    expect(second_tab.locator("#responsable-guardado")).to_have_text(
        "Quedó guardado: Rectoría y jefatura de área")
    # Every field where the saved value differs from the typed one says what is saved.
    expect(second_tab.locator("#recursos-guardado")).to_have_text(
        "Quedó guardado: Banco de preguntas, fotocopias, sala de informática.")
    expect(second_tab.locator("#descripcion-guardado")).to_have_count(0)
    browsing.check_accessibility(second_tab, status=409)
    browsing.screenshot(second_tab, "pmi-actividad-409")

    # Merge: take the saved responsable, keep the typed recursos, save again.
    second_tab.get_by_label("Responsable (obligatorio)").fill("Rectoría y jefatura de área")
    second_tab.get_by_role("button", name="Guardar").click()
    expect(second_tab.locator(".flashes .flash")).to_have_text("Guardado: Actividad 1.1.1.")
    browsing.check_accessibility(second_tab)

    assert stored(world, select(Actividad.responsable, Actividad.recursos, Actividad.version)
                  .where(Actividad.id == actividad_id)) == [
        ("Rectoría y jefatura de área", "Banco de preguntas y tabletas.", 3)]


def fill_hallazgo(page: Page) -> None:
    page.get_by_label("Fuente (obligatorio)").select_option(label="Evaluación interna")
    page.get_by_label("Área o competencia evaluada (obligatorio)").fill("Ciencias naturales")
    page.get_by_label("Grado (obligatorio)").fill("9.°")
    page.get_by_label("Qué se encontró (obligatorio)").fill(
        "La mitad de los estudiantes de 9.° no aprueba ciencias naturales en el primer periodo.")


def test_back_then_guardar_on_a_new_hallazgo_creates_one(browsing: Browsing,
                                                        world: World) -> None:
    ruta_id = formulating_ruta(world)
    before = how_many(world, Hallazgo)
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi")
    rector.get_by_role("link", name="Agregar un hallazgo").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Nuevo elemento: hallazgo")
    browsing.check_accessibility(rector)
    fill_hallazgo(rector)
    rector.get_by_role("button", name="Guardar").click()
    expect(rector.locator(".flashes .flash")).to_have_text("Guardado: Hallazgo 3.")

    # Back: the form comes again from its address (same one-time token) and the browser puts
    # the typed values back; «Guardar» again.
    rector.go_back()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Nuevo elemento: hallazgo")
    expect(rector.get_by_label("Área o competencia evaluada (obligatorio)")).to_have_value(
        "Ciencias naturales")
    rector.get_by_role("button", name="Guardar").click()

    expect(rector.locator(".flashes .flash")).to_have_text(
        "Ya estaba guardado: Hallazgo 3. No se creó otro.")
    expect(rector.locator("#hallazgos article.pmi-element")).to_have_count(before + 1)
    browsing.check_accessibility(rector)
    assert how_many(world, Hallazgo) == before + 1


def test_double_click_on_guardar_creates_one_element(browsing: Browsing, world: World) -> None:
    ruta_id = formulating_ruta(world)
    before = how_many(world, Hallazgo)
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi/elemento?tipo=hallazgo")
    fill_hallazgo(rector)

    rector.get_by_role("button", name="Guardar").dblclick()

    expect(rector.locator(".flashes .flash")).to_contain_text("Hallazgo 3.")
    expect(rector.locator("#hallazgos article.pmi-element")).to_have_count(before + 1)
    assert how_many(world, Hallazgo) == before + 1


def test_eliminar_an_objetivo_confirms_then_deshacer_restores_it(browsing: Browsing,
                                                                 world: World) -> None:
    ruta_id = formulating_ruta(world)
    before = content(world, ruta_id)
    objetivo_id = stored(world, select(Objetivo.id).order_by(Objetivo.id))[0][0]
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi")
    objetivo = rector.locator(f"#objetivo-{objetivo_id}")

    # «Eliminar» shows what goes with it; «Cancelar» keeps everything.
    objetivo.get_by_role("link", name="Eliminar Objetivo 1", exact=True).click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("¿Eliminar Objetivo 1?")
    expect(rector.locator("#lo-que-se-elimina")).to_have_text(
        "Se eliminan el objetivo «Objetivo 1: Mejorar los desempeños en matemáticas de los "
        "estudiantes de la media, con…», 1 meta, 1 indicador y 2 actividades.")
    browsing.check_accessibility(rector)
    rector.get_by_role("link", name="Cancelar").click()
    expect(rector.locator(f"#objetivo-{objetivo_id}")).to_be_visible()
    assert content(world, ruta_id) == before

    # Again, and «Sí, eliminar»: gone, with «Deshacer» offered.
    objetivo.get_by_role("link", name="Eliminar Objetivo 1", exact=True).click()
    rector.get_by_role("button", name="Sí, eliminar").click()
    expect(rector.locator(".flashes .flash")).to_contain_text(
        "Eliminado: el objetivo «Objetivo 1: ")
    expect(rector.locator(f"#objetivo-{objetivo_id}")).to_have_count(0)
    expect(rector.locator("#objetivos article.pmi-element")).to_have_count(1)
    browsing.check_accessibility(rector)

    rector.get_by_role("button", name="Deshacer la eliminación de Objetivo 1").click()
    expect(rector.locator(".flashes .flash")).to_have_text(
        "Restaurado: Objetivo 1, con todo lo que se había eliminado con él.")
    expect(rector.locator(f"#objetivo-{objetivo_id}")).to_contain_text("Meta 1.1")
    expect(rector.locator("#deshacer")).to_have_count(0)
    browsing.check_accessibility(rector)
    assert content(world, ruta_id) == before


def test_rubric_typed_survives_adding_an_observation(browsing: Browsing, world: World) -> None:
    ruta_id = in_review(world)
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(f"/rutas/{ruta_id}/pmi/revision")
    judge_all_cumple(reviewer)
    judge(reviewer, 3, "No cumple", "La meta 1.1 no tiene unidad de medida.")

    # Then an itemized observation, from the box above the rubric.
    reviewer.get_by_label("Criterio de la Circular 0488", exact=True).select_option("3")
    reviewer.get_by_label("Observación", exact=True).fill("Indique la unidad de la meta 1.1.")
    reviewer.get_by_role("button", name="Agregar la observación").click()

    expect(reviewer.locator(".flashes .flash")).to_have_text(
        "Observación agregada. Se envía a la institución cuando devuelva el plan.")
    expect(reviewer.locator("#observaciones")).to_contain_text(
        "Indique la unidad de la meta 1.1.")
    expect(reviewer.locator("#rubrica-3-veredicto").get_by_label("No cumple", exact=True)
           ).to_be_checked()
    expect(reviewer.locator("#rubrica-1-veredicto").get_by_label("Cumple", exact=True)
           ).to_be_checked()
    expect(reviewer.locator("#rubrica-3-nota")).to_have_value(
        "La meta 1.1 no tiene unidad de medida.")
    expect(reviewer.get_by_label("Observación", exact=True)).to_have_value("")
    browsing.check_accessibility(reviewer)

    # The revisor thinks better of it: «Eliminar» asks first, the rubric travels along.
    reviewer.get_by_role("button", name="Eliminar la observación 1").click()
    expect(reviewer.get_by_role("heading", level=1)).to_contain_text(
        "¿Eliminar esta observación?")
    expect(reviewer.locator("main")).to_contain_text("Indique la unidad de la meta 1.1.")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("button", name="No, volver a la revisión").click()
    expect(reviewer.locator("#observaciones")).to_contain_text(
        "Indique la unidad de la meta 1.1.")
    expect(reviewer.locator("#rubrica-3-nota")).to_have_value(
        "La meta 1.1 no tiene unidad de medida.")

    reviewer.get_by_role("button", name="Eliminar la observación 1").click()
    reviewer.get_by_role("button", name="Sí, eliminar la observación").click()
    expect(reviewer.locator(".flashes .flash")).to_have_text("Observación eliminada.")
    expect(reviewer.locator("#observaciones article.observation")).to_have_count(0)
    expect(reviewer.locator("#rubrica-3-veredicto").get_by_label("No cumple", exact=True)
           ).to_be_checked()
    expect(reviewer.locator("#rubrica-3-nota")).to_have_value(
        "La meta 1.1 no tiene unidad de medida.")
    browsing.check_accessibility(reviewer)

    # «Deshacer» brings it back, once.
    reviewer.locator("#deshacer").get_by_role("button", name="Deshacer").click()
    expect(reviewer.locator("#observaciones article.observation")).to_contain_text(
        "Indique la unidad de la meta 1.1.")
    expect(reviewer.locator("#deshacer")).to_have_count(0)
    expect(reviewer.locator("#rubrica-3-nota")).to_have_value(
        "La meta 1.1 no tiene unidad de medida.")
    browsing.check_accessibility(reviewer)
