"""Nothing typed is lost on a seguimiento report or the final evaluation, in a real Chromium.

The rector fills a report with one bad line and a chosen PDF: the save is refused, every
value is still there and the message names the file to choose again; fixed, one save stores
values and file. Two tabs on one report: the second save answers 409 with both versions, the
person merges and saves. The same for the final evaluation. The report at 360 px. A revisor
deletes a draft observation through a confirmation page and undoes it. Every page is checked
with axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from workflow.cierre.models import FinalEvaluation
from workflow.evidencias.models import EvidenceFile
from workflow.seguimiento.models import FollowUpLine, FollowUpObservation, FollowUpReport

from .conftest import PHONE, Browsing, World
from .test_cierre_flow import following_ruta as evaluating_ruta
from .test_seguimiento_flow import CHECKPOINT, PDF
from .test_seguimiento_flow import following_ruta as reporting_ruta

pytestmark = pytest.mark.browser

AVANCES = ("23", "17,5", "28,5")
CHOSEN = {"name": "actas-talleres.pdf", "mimeType": "application/pdf", "buffer": PDF}


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def open_report(browsing: Browsing, world: World, ruta_id: int,
                viewport: dict[str, int] | None = None) -> Page:
    page = browsing.new_page(viewport)
    browsing.login(page, world.rector_email)
    page.goto(f"/rutas/{ruta_id}")
    page.get_by_role("button", name=f"Diligenciar el informe de {CHECKPOINT}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Informe de seguimiento: {CHECKPOINT}")
    return page


def fill(page: Page, actividades: list[int], indicadores: list[int],
         avances: tuple[str, ...] = AVANCES) -> None:
    for actividad, avance in zip(actividades, avances, strict=True):
        page.locator(f"#avance-{actividad}").fill(avance)
        page.locator(f"#estado-{actividad}").select_option("en_curso")
        page.locator(f"#recursos-{actividad}").fill(f"Recursos de la actividad {actividad}.")
    for number, indicador in enumerate(indicadores):
        page.locator(f"#valor-{indicador}").fill(str(33 + number))
    page.locator("#dificultades").fill("Paro de dos semanas en mayo.")


def test_refused_save_keeps_every_value_then_one_save_stores_values_and_file(
        browsing: Browsing, world: World) -> None:
    ruta_id, actividades, indicadores = reporting_ruta(world)
    rector = open_report(browsing, world, ruta_id)
    browsing.check_accessibility(rector)
    first = actividades[0]

    fill(rector, actividades, indicadores, ("120", *AVANCES[1:]))
    rector.locator(f"#razones-{first}").fill("Empezamos tarde por el paro.")
    rector.locator("#archivo").set_input_files(files=[CHOSEN])
    rector.get_by_role("button", name="Guardar el informe").click()

    summary = rector.locator("#resumen-errores")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("debe estar entre 0 y 100")
    expect(summary).to_contain_text("«actas-talleres.pdf»")
    expect(summary).to_contain_text("vuelva a elegir el archivo")
    expect(rector.locator(f"#avance-{first}")).to_have_value("120")
    expect(rector.locator(f"#razones-{first}")).to_have_value("Empezamos tarde por el paro.")
    for actividad, avance in zip(actividades[1:], AVANCES[1:], strict=True):
        expect(rector.locator(f"#avance-{actividad}")).to_have_value(avance)
    for actividad in actividades:
        expect(rector.locator(f"#estado-{actividad}")).to_have_value("en_curso")
        expect(rector.locator(f"#recursos-{actividad}")).to_have_value(
            f"Recursos de la actividad {actividad}.")
    for number, indicador in enumerate(indicadores):
        expect(rector.locator(f"#valor-{indicador}")).to_have_value(str(33 + number))
    expect(rector.locator("#dificultades")).to_have_value("Paro de dos semanas en mayo.")
    browsing.check_accessibility(rector, status=422)
    # The summary's link takes the person to the field.
    summary.get_by_role("link", name="debe estar entre 0 y 100").click()
    expect(rector.locator(f"#avance-{first}")).to_be_focused()

    rector.locator(f"#avance-{first}").fill(AVANCES[0])
    rector.locator("#archivo").set_input_files(files=[CHOSEN])
    rector.get_by_role("button", name="Guardar el informe").click()
    expect(flash(rector)).to_contain_text(
        "Guardado: el informe de seguimiento. Se adjuntó «actas-talleres.pdf».")
    expect(rector.locator(f"#avance-{first}")).to_have_value(AVANCES[0])
    expect(rector.locator("#evidencias")).to_contain_text("actas-talleres.pdf")
    browsing.check_accessibility(rector)
    with world.server.session() as session:
        report = session.scalars(select(FollowUpReport).where(
            FollowUpReport.ruta_id == ruta_id)).one()
        assert [line.avance for line in report.lines] == [23, 17.5, 28.5]
        assert report.lines[0].razones == "Empezamos tarde por el paro."
        assert session.scalars(select(EvidenceFile.display_name).where(
            EvidenceFile.follow_up_report_id == report.id)).all() == ["actas-talleres.pdf"]

    # --- sent; the revisor deletes a draft observation after confirming, then undoes it ---
    rector.get_by_role("button", name="Enviar el informe a la Secretaría").click()
    expect(flash(rector)).to_contain_text("quedó enviado a la Secretaría")
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(rector.url)
    reviewer.get_by_label("Observación (obligatorio)").fill("Adjunte el acta firmada.")
    reviewer.get_by_role("button", name="Agregar la observación").click()
    expect(flash(reviewer)).to_contain_text("Observación agregada.")
    reviewer.get_by_role("button", name="Eliminar la observación 1").click()
    expect(reviewer.get_by_role("heading", level=1)).to_have_text(
        "¿Eliminar esta observación?")
    expect(reviewer.locator("main")).to_contain_text("Adjunte el acta firmada.")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("button", name="Sí, eliminar la observación").click()
    expect(flash(reviewer)).to_contain_text("Observación eliminada.")
    expect(reviewer.locator("#deshacer")).to_contain_text("Adjunte el acta firmada.")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("button", name="Deshacer").click()
    expect(reviewer.locator("#observaciones")).to_contain_text("Adjunte el acta firmada.")
    with world.server.session() as session:
        assert session.scalars(select(FollowUpObservation.text)).all() == [
            "Adjunte el acta firmada."]


def test_two_tabs_on_one_report_409_shows_both_and_the_merge_saves(
        browsing: Browsing, world: World) -> None:
    ruta_id, actividades, indicadores = reporting_ruta(world)
    first = actividades[0]
    tab_a = open_report(browsing, world, ruta_id)
    tab_b = browsing.new_page()
    browsing.login(tab_b, world.rector_email)
    tab_b.goto(tab_a.url)

    fill(tab_a, actividades, indicadores)
    tab_a.locator(f"#recursos-{first}").fill("Biblioteca escolar.")
    tab_a.get_by_role("button", name="Guardar el informe").click()
    expect(flash(tab_a)).to_contain_text("Guardado: el informe de seguimiento.")

    fill(tab_b, actividades, indicadores, ("30", *AVANCES[1:]))
    tab_b.locator(f"#recursos-{first}").fill("Fotocopias.")
    tab_b.get_by_role("button", name="Guardar el informe").click()
    expect(tab_b.locator("#conflicto")).to_contain_text(
        "Otra persona guardó cambios mientras usted editaba")
    expect(tab_b.locator(f"#avance-{first}")).to_have_value("30")
    expect(tab_b.locator(f"#recursos-{first}")).to_have_value("Fotocopias.")
    expect(tab_b.locator(f"#avance-{first}-guardado")).to_contain_text("Quedó guardado: 23")
    expect(tab_b.locator(f"#recursos-{first}-guardado")).to_contain_text(
        "Quedó guardado: Biblioteca escolar.")
    expect(tab_b.locator(f"#avance-{actividades[1]}-guardado")).to_have_count(0)
    browsing.check_accessibility(tab_b, status=409)
    browsing.screenshot(tab_b, "seguimiento-informe-409")

    # The merge: B's avance, both resources.
    tab_b.locator(f"#recursos-{first}").fill("Biblioteca escolar y fotocopias.")
    tab_b.get_by_role("button", name="Guardar el informe").click()
    expect(flash(tab_b)).to_contain_text("Guardado: el informe de seguimiento.")
    expect(tab_b.locator(f"#avance-{first}")).to_have_value("30")
    with world.server.session() as session:
        line = session.scalars(select(FollowUpLine).where(
            FollowUpLine.actividad_id == first)).one()
        assert (line.avance, line.recursos) == (30, "Biblioteca escolar y fotocopias.")


def test_two_tabs_on_the_final_evaluation_409_shows_both_and_the_merge_saves(
        browsing: Browsing, world: World) -> None:
    ruta_id, (first, _second) = evaluating_ruta(world)
    tabs = []
    for _ in range(2):
        tab = browsing.new_page()
        browsing.login(tab, world.rector_email)
        tab.goto(f"/rutas/{ruta_id}/cierre")
        tabs.append(tab)
    tab_a, tab_b = tabs
    browsing.check_accessibility(tab_a)

    tab_a.locator(f"#meta-{first}").get_by_label("Parcialmente alcanzada").check()
    tab_a.get_by_label("Qué aprendió la institución", exact=False).fill("Lección de A.")
    tab_a.get_by_role("button", name="Guardar borrador").click()
    expect(flash(tab_a)).to_have_text("Guardado: la evaluación final sigue en borrador.")

    tab_b.locator(f"#meta-{first}").get_by_label("Alcanzada", exact=True).check()
    tab_b.get_by_label("Qué aprendió la institución", exact=False).fill("Lección de B.")
    tab_b.get_by_role("button", name="Guardar borrador").click()
    expect(tab_b.locator("#conflicto")).to_be_visible()
    expect(tab_b.get_by_label("Qué aprendió la institución", exact=False)).to_have_value(
        "Lección de B.")
    expect(tab_b.locator(f"#meta-{first}").get_by_label("Alcanzada", exact=True)).to_be_checked()
    expect(tab_b.locator("#lecciones-guardado")).to_contain_text("Quedó guardado: Lección de A.")
    expect(tab_b.locator(f"#veredicto-{first}-guardado")).to_contain_text(
        "Quedó guardado: Parcialmente alcanzada")
    browsing.check_accessibility(tab_b, status=409)

    tab_b.get_by_label("Qué aprendió la institución", exact=False).fill(
        "Lección de A. Lección de B.")
    tab_b.get_by_role("button", name="Guardar borrador").click()
    expect(flash(tab_b)).to_have_text("Guardado: la evaluación final sigue en borrador.")
    with world.server.session() as session:
        evaluation = session.get_one(FinalEvaluation, ruta_id)
        assert (evaluation.lecciones, evaluation.version) == ("Lección de A. Lección de B.", 2)


def test_report_at_360_px_refuses_and_saves_without_sideways_scrolling(
        browsing: Browsing, world: World) -> None:
    ruta_id, actividades, indicadores = reporting_ruta(world)
    phone = open_report(browsing, world, ruta_id, PHONE)
    browsing.check_accessibility(phone)
    fill(phone, actividades, indicadores, ("ciento", *AVANCES[1:]))
    phone.get_by_role("button", name="Guardar el informe").click()
    expect(phone.locator("#resumen-errores")).to_contain_text("debe ser un número")
    expect(phone.locator(f"#avance-{actividades[0]}")).to_have_value("ciento")
    browsing.screenshot(phone, "seguimiento-informe-360-422")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browsing.check_accessibility(phone, status=422)
    phone.locator(f"#avance-{actividades[0]}").fill(AVANCES[0])
    phone.locator("#archivo").set_input_files(files=[CHOSEN])
    phone.get_by_role("button", name="Guardar el informe").click()
    expect(flash(phone)).to_contain_text("Se adjuntó «actas-talleres.pdf».")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browsing.check_accessibility(phone)
