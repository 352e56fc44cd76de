"""The reviewer's rubric in a real Chromium, as people use it: a revisor returns the PMI with a
filled rubric (forgetting a note the first time), the rector reads it beside the observations
and sends the plan again, the revisor's approval with a «no cumple» on criterion 3 is refused,
then goes through with «cumple» and «cumple parcialmente»; the printed PMI carries the rubric.

Every new page is checked with axe-core while the Content-Security-Policy stays enforced; the
rector reads the rubric on a 360 px wide screen.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory
from workflow.models import School, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi.rubric import ORDER
from workflow.states import State

from .conftest import PHONE, Browsing, World

pytestmark = pytest.mark.browser

OBSERVATION = "La meta 1.1 no dice en qué unidad se mide: indíquela."
SECOND = "Nombren la oferta para estudiantes migrantes en las actividades."
NOTE_3 = "La meta 1.1 no tiene unidad de medida."
NOTE_8 = "Las actividades no nombran la oferta para estudiantes migrantes."
NOTE_3_PARTIAL = "La unidad quedó, pero la fecha límite es la del horizonte, no la de la meta."
COMMENT = "Gracias por el plan; atiendan la rúbrica y la observación."
ANSWER = "Agregamos la unidad (% de estudiantes) a la meta 1.1."
SECOND_ANSWER = "La actividad 2.1.1 ahora nombra el aula de aceleración para migrantes."


def is_post(response: Response) -> bool:
    return response.request.method == "POST"


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def state_badge(page: Page) -> Locator:
    return page.locator("#estado-titulo .badge")


def judge(page: Page, criterion: int, verdict: str, note: str | None = None) -> None:
    page.locator(f"#rubrica-{criterion}-veredicto").get_by_label(verdict, exact=True).check()
    if note is not None:
        page.locator(f"#rubrica-{criterion}-nota").fill(note)


def judge_all_cumple(page: Page) -> None:
    for criterion in ORDER:
        judge(page, criterion, "Cumple")


def rubric_row(page: Page, scope: str, number: int) -> Locator:
    return page.locator(f"{scope} tr", has=page.locator(
        "th", has_text=f"{number}. ")).first


def in_review(world: World) -> int:
    """The world's school sent a complete PMI and the first revisor took it."""
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        rector = session.query(User).filter_by(email=world.rector_email).one()
        reviewer = session.query(User).filter_by(email=world.reviewer_email).one()
        ruta = make.ruta(school=school, state=State.AUTOEVALUACION_ENVIADA)
        make.completed_self_assessment(ruta, level=2)
        fill_demo_pmi(session, ruta, actor=rector)
        pmi_actions.submit_pmi(session, ruta, actor=rector, expected_version=ruta.version)
        pmi_actions.take_for_review(session, ruta, reviewer=reviewer,
                                    expected_version=ruta.version)
        session.commit()
        return ruta.id


def test_rubric_return_resend_refused_then_approved_and_printed(browsing: Browsing,
                                                                world: World) -> None:
    ruta_id = in_review(world)
    review_url = f"/rutas/{ruta_id}/pmi/revision"

    # --- the revisor writes an observation and returns with the rubric ---------------------
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(f"/rutas/{ruta_id}")
    reviewer.get_by_role("link", name="Decidir en la revisión del PMI").click()
    expect(reviewer.get_by_role("heading", level=1)).to_have_text("Revisión del PMI")
    expect(reviewer.locator("#rubrica")).to_contain_text("Todavía no hay rúbrica")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_label("Criterio de la Circular 0488", exact=True).select_option("3")
    reviewer.get_by_label("Observación", exact=True).fill(OBSERVATION)
    reviewer.get_by_role("button", name="Agregar la observación").click()
    expect(flash(reviewer)).to_have_text(
        "Observación agregada. Se envía a la institución cuando devuelva el plan.")

    judge_all_cumple(reviewer)
    judge(reviewer, 3, "No cumple", NOTE_3)
    judge(reviewer, 8, "Cumple parcialmente")  # the note forgotten
    reviewer.get_by_label("Comentario general para la institución (opcional)").fill(COMMENT)
    # A second observation, written in the return form itself.
    reviewer.get_by_text("Agregar otra observación con la devolución (opcional)").click()
    reviewer.get_by_label("Criterio de la observación adicional").select_option("8")
    reviewer.get_by_label("Observación adicional", exact=True).fill(SECOND)
    with reviewer.expect_response(is_post) as refused:
        reviewer.get_by_role("button", name="Devolver con observaciones").click()
    assert refused.value.status == 422
    expect(reviewer.locator(".error-summary li")).to_have_text([
        "Escriba la nota del criterio 8: qué le falta al plan para cumplir (la valoró "
        "«cumple parcialmente»)."])
    expect(reviewer.locator("#rubrica-8-nota-error")).to_be_visible()
    # Everything typed is still there.
    expect(reviewer.locator("#rubrica-3-veredicto").get_by_label("No cumple", exact=True)
           ).to_be_checked()
    expect(reviewer.locator("#rubrica-8-veredicto").get_by_label(
        "Cumple parcialmente", exact=True)).to_be_checked()
    expect(reviewer.locator("#rubrica-1-veredicto").get_by_label("Cumple", exact=True)
           ).to_be_checked()
    expect(reviewer.locator("#rubrica-3-nota")).to_have_value(NOTE_3)
    expect(reviewer.get_by_label("Comentario general para la institución (opcional)")
           ).to_have_value(COMMENT)
    expect(reviewer.locator("#decision fieldset.action > ul > li")).to_have_text(
        [f"El plan en general · Criterio 3: {OBSERVATION}"])
    expect(reviewer.get_by_label("Observación adicional", exact=True)).to_have_value(SECOND)
    expect(reviewer.get_by_label("Criterio de la observación adicional")
           ).to_have_value("8")
    browsing.check_accessibility(reviewer, status=422)
    assert world.state_of(ruta_id)[0] is State.EN_REVISION

    reviewer.locator("#rubrica-8-nota").fill(NOTE_8)
    with reviewer.expect_response(is_post) as returned:
        reviewer.get_by_role("button", name="Devolver con observaciones").click()
    assert returned.value.status == 302
    expect(flash(reviewer)).to_have_text(
        "Listo: devolvió con observaciones. La Ruta quedó en «PMI devuelto con observaciones».")
    expect(reviewer.get_by_role("link", name="Ver la rúbrica de la Secretaría "
                                               "(valoración de cada criterio)")).to_be_visible()

    # --- the rector, on a phone, reads the rubric beside the observation -------------------
    rector = browsing.new_page(PHONE)
    browsing.login(rector, world.rector_email)
    rector.goto(review_url)
    rubric = rector.locator("#rubrica")
    expect(rubric.get_by_role("heading", level=3)).to_have_text(
        ["Revisión 1 · Devuelto con observaciones"])
    expect(rubric_row(rector, "#rubrica", 3).locator("td")).to_have_text(["No cumple", NOTE_3])
    expect(rubric_row(rector, "#rubrica", 8).locator("td")).to_have_text(
        ["Cumple parcialmente", NOTE_8])
    expect(rubric_row(rector, "#rubrica", 1).locator("td")).to_have_text(["Cumple", "—"])
    expect(rector.locator("#observaciones article > .prewrap")).to_have_text(
        [OBSERVATION, SECOND])
    expect(rector.locator("#decision")).to_have_count(0)
    width = rector.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"the review page is {width} px wide at 360 px"
    browsing.check_accessibility(rector)
    browsing.screenshot(rector, "rubrica-rector-360")

    for number, answer in ((1, ANSWER), (2, SECOND_ANSWER)):
        form = rector.locator("form", has=rector.get_by_label(
            f"Su respuesta a la observación {number}"))
        form.get_by_role("textbox").fill(answer)
        form.get_by_role("button", name="Guardar la respuesta").click()
        expect(flash(rector)).to_have_text(
            "Respuesta guardada. Cuando responda todas, vuelva a enviar el PMI.")
    rector.goto(f"/rutas/{ruta_id}")
    rector.get_by_role("button", name="Enviar el PMI a la Secretaría").click()
    expect(state_badge(rector)).to_have_text("PMI enviado a la Secretaría")

    # --- the revisor takes it again: a «no cumple» on criterion 3 refuses approval ---------
    reviewer.goto(f"/rutas/{ruta_id}")
    reviewer.get_by_role("button", name="Tomar para revisión").click()
    expect(state_badge(reviewer)).to_have_text("PMI en revisión")
    reviewer.goto(review_url)
    for number in (1, 2):
        reviewer.get_by_role("button", name=f"Marcar resuelta (observación {number})").click()
        expect(flash(reviewer)).to_have_text("La observación quedó «resuelta».")
    judge_all_cumple(reviewer)
    judge(reviewer, 3, "No cumple", NOTE_3)
    with reviewer.expect_response(is_post) as refused_approval:
        reviewer.get_by_role("button", name="Aprobar el PMI").click()
    assert refused_approval.value.status == 422
    summary = reviewer.locator(".error-summary")
    expect(summary.get_by_role("heading")).to_have_text("Todavía no se puede «Aprobar el PMI».")
    expect(summary.locator("li")).to_have_text([
        "No se puede aprobar con «no cumple» en el criterio 3 (Las metas contienen cantidad, "
        "unidad de medida y tiempo): es obligatorio en la Circular 0488. Devuelva el plan con "
        "observaciones, o cambie la valoración si el plan sí cumple."])
    expect(reviewer.locator("#rubrica-3-nota")).to_have_value(NOTE_3)
    # The earlier round is in view while deciding.
    expect(reviewer.locator("#rubrica h3")).to_have_text(
        ["Revisión 1 · Devuelto con observaciones"])
    browsing.check_accessibility(reviewer, status=422)
    assert world.state_of(ruta_id)[0] is State.EN_REVISION

    # «Cumple parcialmente» on 3 and «no cumple» on 8 (a recommendation): approved.
    judge(reviewer, 3, "Cumple parcialmente", NOTE_3_PARTIAL)
    judge(reviewer, 8, "No cumple", NOTE_8)
    with reviewer.expect_response(is_post) as approved:
        reviewer.get_by_role("button", name="Aprobar el PMI").click()
    assert approved.value.status == 302
    expect(flash(reviewer)).to_have_text("Listo: aprobó el PMI. La Ruta quedó en «PMI aprobado».")
    expect(state_badge(reviewer)).to_have_text("PMI aprobado")
    assert world.state_of(ruta_id)[1][-3:] == ["formular_pmi", "tomar_revision", "aprobar"]

    # --- the approved, printed PMI carries the rubric of the version approved --------------
    rector.set_viewport_size({"width": 1280, "height": 800})
    rector.goto(f"/rutas/{ruta_id}/pmi/imprimir")
    expect(rector.locator("#aprobacion")).to_contain_text("Aprobado por la Secretaría el ")
    printed = rector.locator("#rubrica-impresa")
    expect(printed.get_by_role("heading", level=3)).to_have_text(["Revisión 2 · Aprobado"])
    expect(rubric_row(rector, "#rubrica-impresa", 3).locator("td")).to_have_text(
        ["Cumple parcialmente", NOTE_3_PARTIAL])
    expect(rubric_row(rector, "#rubrica-impresa", 8).locator("td")).to_have_text(
        ["No cumple", NOTE_8])
    expect(printed.locator("tbody tr")).to_have_count(9)
    browsing.check_accessibility(rector)
    browsing.screenshot(rector, "rubrica-pmi-impreso")
