"""The review cycle in a real Chromium: what the rector and the revisores see and do.

Every page a test visits is checked with axe-core (no serious or critical violation) while the
Content-Security-Policy stays enforced.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from workflow.pmi.rubric import ORDER
from workflow.situation import RETURNED_EXPLANATIONS
from workflow.states import STATE_EXPLANATIONS, STATE_LABELS, STATE_ORDER, State

from .conftest import PHONE, Browsing, World

pytestmark = pytest.mark.browser

OBSERVATIONS = ("1. La meta del objetivo 2 no tiene unidad de medida ni fecha.\n"
                "2. El PMI no retoma las debilidades de lectura crítica de Saber 11.")
ITEMIZED = (("3", "La meta del objetivo 2 no tiene unidad de medida ni fecha."),
            ("7", "El PMI no retoma las debilidades de lectura crítica de Saber 11."))
NOTE = "Gracias por el plan. Atiendan las dos observaciones antes de volver a enviarlo."
NOTE_LABEL = "Comentario general para la institución (opcional)"
RETURNED_TEXT = (f"{NOTE}\n\n1. [El plan en general · Criterio 3] {ITEMIZED[0][1]}\n"
                 f"2. [El plan en general · Criterio 7] {ITEMIZED[1][1]}")
EMPTY_RETURN_REASON = (
    "Agregue al menos una observación antes de devolver: en «Revisión y observaciones» del "
    "PMI, sobre un elemento del plan o sobre «El plan en general», con el criterio de la "
    "Circular 0488 al que se refiere. El comentario general es opcional y acompaña a las "
    "observaciones.")
RETURN_BUTTON = "Devolver con observaciones"
TAKE_BUTTON = "Tomar para revisión"
APPROVE_BUTTON = "Aprobar el PMI"


def current_step(page: Page) -> Locator:
    return page.locator("ol.stepper > li[aria-current='step']")


def state_badge(page: Page) -> Locator:
    return page.locator("#estado-titulo .badge")


def history_items(page: Page) -> Locator:
    return page.locator("ol.timeline > li")


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def judge_all_cumple(page: Page) -> None:
    """The rubric a return or an approval carries (its own flow: test_rubric_flow)."""
    for criterion in ORDER:
        page.locator(f"#rubrica-{criterion}-veredicto").get_by_label("Cumple", exact=True).check()


def is_post(response: object) -> bool:
    return response.request.method == "POST"  # type: ignore[attr-defined, no-any-return]


def test_review_return_flow_shows_observations_to_rector(browsing: Browsing,
                                                          world: World) -> None:
    ruta_id = world.ruta(State.PMI_FORMULADO)

    # The rector signs in through the form and lands on the Ruta.
    rector = browsing.new_page()
    rector.goto("/ingresar")
    expect(rector.get_by_role("heading", level=1)).to_have_text("Ingresar")
    browsing.check_accessibility(rector)
    browsing.login(rector, world.rector_email)
    expect(rector).to_have_url(f"{browsing.server.url}/rutas/{ruta_id}")
    expect(rector.get_by_role("heading", level=1)).to_have_text(world.school_name)
    steps = rector.locator("ol.stepper > li")
    expect(steps).to_have_count(7)
    expect(rector.locator("ol.stepper .step-label")).to_have_text(
        [STATE_LABELS[state] for state in STATE_ORDER])
    expect(current_step(rector)).to_have_count(1)
    expect(current_step(rector)).to_contain_text("PMI enviado a la Secretaría")
    expect(steps.nth(2)).to_have_attribute("aria-current", "step")
    expect(state_badge(rector)).to_have_text("PMI enviado a la Secretaría")
    expect(rector.get_by_text(STATE_EXPLANATIONS[State.PMI_FORMULADO][0])).to_be_visible()
    expect(history_items(rector).locator(".timeline-head strong")).to_have_text(
        ["Envió el PMI a la Secretaría", "Envió la autoevaluación", "Abrió la Ruta"])
    # Nothing for the rector to do while the Secretaría has the plan.
    expect(rector.locator("form.action")).to_have_count(0)
    browsing.check_accessibility(rector)

    # A revisor, in a browser of their own, finds it in the queue by state.
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    expect(reviewer).to_have_url(f"{browsing.server.url}/revision/")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_label("Estado", exact=True).select_option(State.PMI_FORMULADO.value)
    reviewer.get_by_role("button", name="Filtrar").click()
    expect(reviewer).to_have_url(
        f"{browsing.server.url}/revision/?horizonte=2024&estado=pmi_formulado&colegio="
        "&revisor=&zona=&comuna=")
    expect(reviewer.locator("tbody tr")).to_have_count(1)
    expect(reviewer.get_by_text("1 Ruta en «PMI enviado a la Secretaría».")).to_be_visible()
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("link", name=world.school_name).click()
    expect(reviewer).to_have_url(f"{browsing.server.url}/rutas/{ruta_id}")
    expect(reviewer.get_by_text(STATE_EXPLANATIONS[State.PMI_FORMULADO][1])).to_be_visible()
    browsing.check_accessibility(reviewer)

    reviewer.get_by_role("button", name=TAKE_BUTTON).click()
    expect(flash(reviewer)).to_contain_text("La Ruta quedó en «PMI en revisión».")
    expect(state_badge(reviewer)).to_have_text("PMI en revisión")
    browsing.check_accessibility(reviewer)

    # Returning carries the rubric: the decision is on the PMI's review page.
    reviewer.get_by_role("link", name="Decidir en la revisión del PMI").click()
    expect(reviewer).to_have_url(f"{browsing.server.url}/rutas/{ruta_id}/pmi/revision#decision")
    # No itemized observation yet: the form says so and where to write them.
    note_box = reviewer.get_by_label(NOTE_LABEL)
    expect(reviewer.locator("#decision .observations-title")).to_have_text(
        "Todavía no hay observaciones para enviar")
    # A covering note alone is refused by the server, which keeps what was written.
    note_box.fill(NOTE)
    judge_all_cumple(reviewer)
    with reviewer.expect_response(is_post) as refused:
        reviewer.get_by_role("button", name=RETURN_BUTTON).click()
    assert refused.value.status == 422
    summary = reviewer.locator(".error-summary")
    expect(summary.get_by_role("heading")).to_have_text(
        "Todavía no se puede «Devolver con observaciones».")
    expect(summary.locator("li")).to_have_text([EMPTY_RETURN_REASON])
    expect(reviewer.get_by_label(NOTE_LABEL)).to_have_value(NOTE)
    assert world.state_of(ruta_id) == (
        State.EN_REVISION,
        ["abrir_ruta", "enviar_autoevaluacion", "formular_pmi", "tomar_revision"])
    browsing.check_accessibility(reviewer, status=422)

    # The form points to where observations are written; two go on the plan as a whole.
    reviewer.locator("#decision").get_by_role("link", name="revisión del PMI").click()
    expect(reviewer).to_have_url(
        f"{browsing.server.url}/rutas/{ruta_id}/pmi/revision#agregar-observacion")
    for criterion, text in ITEMIZED:
        reviewer.get_by_label("Elemento del plan").select_option(label="El plan en general")
        reviewer.get_by_label("Criterio de la Circular 0488").select_option(criterion)
        reviewer.get_by_label("Observación", exact=True).fill(text)
        reviewer.get_by_role("button", name="Agregar la observación").click()
        expect(flash(reviewer)).to_have_text(
            "Observación agregada. Se envía a la institución cuando devuelva el plan.")
    browsing.check_accessibility(reviewer)
    expect(reviewer.locator("#decision fieldset.action > ul > li")).to_have_text(
        [f"El plan en general · Criterio {criterion}: {text}" for criterion, text in ITEMIZED])

    # With them the return goes through, the note going first.
    reviewer.get_by_label(NOTE_LABEL).fill(NOTE)
    judge_all_cumple(reviewer)
    with reviewer.expect_response(is_post) as returned:
        reviewer.get_by_role("button", name=RETURN_BUTTON).click()
    assert returned.value.status == 302
    expect(reviewer).to_have_url(f"{browsing.server.url}/rutas/{ruta_id}")
    expect(flash(reviewer)).to_have_text(
        "Listo: devolvió con observaciones. La Ruta quedó en «PMI devuelto con observaciones».")
    expect(state_badge(reviewer)).to_have_text("PMI devuelto con observaciones")
    browsing.check_accessibility(reviewer)
    assert world.state_of(ruta_id) == (
        State.AUTOEVALUACION_ENVIADA,
        ["abrir_ruta", "enviar_autoevaluacion", "formular_pmi", "tomar_revision", "devolver"])

    # The rector reloads and reads the observations and the new state.
    rector.reload()
    # Named as a return, not as a first formulation (issue 12, item 9).
    expect(current_step(rector)).to_contain_text("PMI devuelto con observaciones")
    expect(rector.locator("ol.stepper > li").nth(1)).to_have_attribute("aria-current", "step")
    expect(state_badge(rector)).to_have_text("PMI devuelto con observaciones")
    expect(rector.get_by_text(RETURNED_EXPLANATIONS[State.AUTOEVALUACION_ENVIADA][0])
           ).to_be_visible()
    expect(rector.get_by_text(STATE_EXPLANATIONS[State.AUTOEVALUACION_ENVIADA][0])).to_have_count(0)
    latest = history_items(rector).first
    expect(latest.locator(".timeline-head strong")).to_have_text("Devolvió con observaciones")
    expect(latest.locator(".observations-title")).to_have_text("Observaciones de la Secretaría")
    expect(latest.locator(".observations .prewrap")).to_have_text(RETURNED_TEXT)
    expect(rector.get_by_role("button", name="Enviar el PMI a la Secretaría")).to_be_visible()
    browsing.check_accessibility(rector)
    browsing.screenshot(rector, "ruta-rector-desktop")
    assert len(browsing.checked_urls) == 10


def assert_reachable(page: Page, target: Locator) -> None:
    """Inside the 360 px viewport once scrolled to, and nothing covers it."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box is not None, target
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (target, box)
    target.click(trial=True)  # Playwright's check that a real click would land on it


def assert_no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"


def test_mobile_360_has_no_horizontal_scroll(browsing: Browsing, world: World) -> None:
    rector_ruta = world.ruta(State.AUTOEVALUACION_ENVIADA, return_observations=OBSERVATIONS)
    reviewed_ruta = world.ruta(State.EN_REVISION, other_school=True)

    rector = browsing.new_page(PHONE)
    browsing.login(rector, world.rector_email)
    expect(rector).to_have_url(f"{browsing.server.url}/rutas/{rector_ruta}")
    assert_no_horizontal_scroll(rector)
    # On a phone the header's links are folded into «Menú» (a <details>).
    rector.locator(".site-menu-phone > summary").click()
    for target in (rector.get_by_role("link", name="Mi Ruta"),
                   rector.get_by_role("link", name="Cuenta"),
                   rector.get_by_role("button", name="Salir"),
                   rector.get_by_role("button", name="Enviar el PMI a la Secretaría")):
        assert_reachable(rector, target)
    browsing.check_accessibility(rector)
    browsing.screenshot(rector, "ruta-rector-360")

    reviewer = browsing.new_page(PHONE)
    browsing.login(reviewer, world.reviewer_email)
    expect(reviewer.locator("tbody tr")).to_have_count(2)
    assert_no_horizontal_scroll(reviewer)
    reviewer.locator(".site-menu-phone > summary").click()
    for target in (reviewer.get_by_role("link", name="Rutas", exact=True),
                   reviewer.get_by_role("link", name="Instituciones"),
                   reviewer.get_by_role("link", name="Usuarios"),
                   reviewer.get_by_role("button", name="Salir"),
                   reviewer.get_by_role("button", name="Filtrar"),
                   reviewer.get_by_role("link", name=world.other_school_name)):
        assert_reachable(reviewer, target)
    browsing.check_accessibility(reviewer)
    browsing.screenshot(reviewer, "cola-revisor-360")

    reviewer.goto(f"/rutas/{reviewed_ruta}")
    assert_no_horizontal_scroll(reviewer)
    assert_reachable(reviewer, reviewer.get_by_role("link",
                                                    name="Decidir en la revisión del PMI"))
    browsing.check_accessibility(reviewer)
    reviewer.goto(f"/rutas/{reviewed_ruta}/pmi/revision")
    assert_no_horizontal_scroll(reviewer)
    for target in (reviewer.locator("#rubrica-3-veredicto").get_by_label("No cumple",
                                                                         exact=True),
                   reviewer.locator("#rubrica-3-nota"),
                   reviewer.get_by_role("button", name=APPROVE_BUTTON),
                   reviewer.locator("#decision").get_by_role("link", name="revisión del PMI"),
                   reviewer.get_by_label(NOTE_LABEL),
                   reviewer.get_by_role("button", name=RETURN_BUTTON)):
        assert_reachable(reviewer, target)
    browsing.check_accessibility(reviewer)
    browsing.screenshot(reviewer, "ruta-revisor-360")


def test_stale_page_409_offers_reload(browsing: Browsing, world: World) -> None:
    ruta_id = world.ruta(State.EN_REVISION)
    first = browsing.new_page()
    second = browsing.new_page()
    browsing.login(first, world.reviewer_email)
    browsing.login(second, world.other_reviewer_email)
    for page in (first, second):
        page.goto(f"/rutas/{ruta_id}/pmi/revision")
        expect(page.get_by_role("heading", level=2, name="Estado: PMI en revisión")
               ).to_be_visible()
        judge_all_cumple(page)

    first.get_by_role("button", name=APPROVE_BUTTON).click()
    expect(state_badge(first)).to_have_text("PMI aprobado")

    with second.expect_response(is_post) as stale:
        second.get_by_role("button", name=APPROVE_BUTTON).click()
    assert stale.value.status == 409
    # The review page again (not a bare error page): it says why and shows the Ruta as it is
    # now; had a decision still been possible, the rubric typed would be in its form.
    expect(second.get_by_role("heading", level=1)).to_have_text("Revisión del PMI")
    expect(second.locator(".error-summary")).to_contain_text(
        "Esta Ruta cambió mientras usted la tenía abierta. Recargue la página para ver su "
        "estado actual antes de volver a intentarlo.")
    expect(second.get_by_role("heading", level=2, name="Estado: PMI aprobado")).to_be_visible()
    expect(second.get_by_role("button", name=APPROVE_BUTTON)).to_have_count(0)
    browsing.check_accessibility(second, status=409)
    browsing.screenshot(second, "ruta-cambio-409")
    assert world.state_of(ruta_id) == (
        State.APROBADO,
        ["abrir_ruta", "enviar_autoevaluacion", "formular_pmi", "tomar_revision", "aprobar"])


def test_without_javascript_login_and_transitions_work(browsing: Browsing, world: World) -> None:
    ruta_id = world.ruta(State.PMI_FORMULADO)
    reviewer = browsing.new_page(javascript=False)
    browsing.login(reviewer, world.reviewer_email)
    expect(reviewer).to_have_url(f"{browsing.server.url}/revision/")
    reviewer.get_by_role("link", name=world.school_name).click()

    with reviewer.expect_response(is_post) as taken:
        reviewer.get_by_role("button", name=TAKE_BUTTON).click()
    assert taken.value.status == 302
    expect(state_badge(reviewer)).to_have_text("PMI en revisión")

    # Without observations the server refuses the return and says why, with no script.
    reviewer.get_by_role("link", name="Decidir en la revisión del PMI").click()
    judge_all_cumple(reviewer)
    with reviewer.expect_response(is_post) as refused:
        reviewer.get_by_role("button", name=RETURN_BUTTON).click()
    assert refused.value.status == 422
    expect(reviewer.locator(".error-summary li")).to_have_text([EMPTY_RETURN_REASON])

    reviewer.goto(f"/rutas/{ruta_id}/pmi/revision")
    reviewer.get_by_label("Criterio de la Circular 0488").select_option("1")
    reviewer.get_by_label("Observación", exact=True).fill(ITEMIZED[0][1])
    reviewer.get_by_role("button", name="Agregar la observación").click()
    expect(flash(reviewer)).to_have_text(
        "Observación agregada. Se envía a la institución cuando devuelva el plan.")
    judge_all_cumple(reviewer)
    reviewer.get_by_label("A la autoevaluación (se rehace desde el principio)").check()
    with reviewer.expect_response(is_post) as returned:
        reviewer.get_by_role("button", name=RETURN_BUTTON).click()
    assert returned.value.status == 302
    expect(state_badge(reviewer)).to_have_text("Autoevaluación devuelta con observaciones")
    assert world.state_of(ruta_id) == (
        State.BORRADOR,
        ["abrir_ruta", "enviar_autoevaluacion", "formular_pmi", "tomar_revision", "devolver"])

    reviewer.get_by_role("button", name="Salir").click()
    expect(reviewer).to_have_url(f"{browsing.server.url}/ingresar")
    expect(reviewer.get_by_text("Cerró su sesión.")).to_be_visible()
