"""Issue 5's whole loop in a real Chromium, the rector and a revisor each in a browser of their
own: the rector formulates, the checks fail and say why, the rector fixes the plan and sends
it; the revisor returns it with two itemized observations; the rector answers them, changes the
plan and sends it again; the revisor sees what changed and the answers, resolves, approves.

Every distinct page visited is checked with axe-core while the Content-Security-Policy stays
enforced.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, Response, expect
from sqlalchemy import select

from workflow.models import Ruta, RutaTransition, User
from workflow.observations import ObservationStatus
from workflow.pmi.models import Observation, PmiSnapshot
from workflow.pmi.rubric import ORDER
from workflow.states import State

from .conftest import Browsing, World
from .test_pmi_browser import draft_ruta

pytestmark = pytest.mark.browser

SEND = "Enviar el PMI a la Secretaría"
APPROVE = "Aprobar el PMI"
# What the half-formulated draft lacks, as the Circular 0488 checks word it.
DRAFT_FAILURES = [
    "El plan en general: la oportunidad prioritaria «DIR.1.2 Metas institucionales» no la "
    "atiende ningún objetivo ni está aplazada con una razón.",
    "El plan en general: la oportunidad prioritaria «DIR.2.1 Consejo directivo» no la atiende "
    "ningún objetivo ni está aplazada con una razón.",
    "Meta 1.1: no tiene indicador.",
    *[f"El plan en general: el plan no tiene metas anuales de resultado ni actividades en "
      f"{year}: un PMI abarca cada año de su horizonte (2024–2026)."
      for year in (2024, 2025, 2026)],
    "Meta 1.1: no tiene actividades.",
    "El plan en general: no registra debilidades de las evaluaciones internas.",
]
FAILING_RULES = {
    "prioridades_atendidas": DRAFT_FAILURES[0:2],
    "meta_con_indicador": DRAFT_FAILURES[2:3],
    "plan_abarca_horizonte": DRAFT_FAILURES[3:6],
    "meta_con_actividades": DRAFT_FAILURES[6:7],
    "debilidades_identificadas": DRAFT_FAILURES[7:8],
}
OBSERVATION_ONE = ("El objetivo ahora atiende «Metas institucionales», pero su enunciado solo "
                   "habla de matemáticas: explique cómo se relacionan.")
OBSERVATION_TWO = ("Un indicador anual no deja hacer seguimiento antes de la prueba Saber: "
                   "mídalo con más frecuencia.")
ANSWER_ONE = ("Las metas institucionales de la media se fijan con los resultados de "
              "matemáticas; lo dejamos explícito en el acta del Consejo Directivo.")
ANSWER_TWO = "Cambiamos la frecuencia del indicador a semestral, con simulacros."


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def state_badge(page: Page) -> Locator:
    return page.locator("#estado-titulo .badge")


def statuses(page: Page) -> Locator:
    return page.locator("#observaciones .observation-status")


def is_post(response: Response) -> bool:
    return response.request.method == "POST"


def judge_all_cumple(page: Page) -> None:
    """The rubric every return and approval carries (its own flow: test_rubric_flow)."""
    for criterion in ORDER:
        page.locator(f"#rubrica-{criterion}-veredicto").get_by_label("Cumple", exact=True).check()


def save_element(page: Page, saved_label: str) -> None:
    page.get_by_role("button", name="Guardar", exact=True).click()
    expect(flash(page)).to_have_text(f"Guardado: {saved_label}.")


def test_pmi_full_loop_formulate_return_answer_resubmit_approve(browsing: Browsing,
                                                                 world: World) -> None:
    ruta_id = draft_ruta(world)
    ruta_url = f"{browsing.server.url}/rutas/{ruta_id}"
    with world.server.session() as session:
        reviewer_name = session.scalars(select(User.name).where(
            User.email == world.reviewer_email)).one()

    # --- the rector formulates; the checks fail and say why -------------------------------
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}/pmi")
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "Plan de Mejoramiento Institucional")
    summary = rector.locator(".check-summary")
    expect(summary).to_have_text(
        "Faltan 5 verificaciones obligatorias: mientras falten, el PMI no se puede "
        "enviar a la Secretaría.")
    expect(rector.locator("tr.rule-fail")).to_have_count(len(FAILING_RULES))
    for rule_id, messages in FAILING_RULES.items():
        expect(rector.locator(f"tr#regla-{rule_id}")).to_have_class("rule-fail")
        expect(rector.locator(f"#regla-{rule_id} li")).to_have_text(messages)
    browsing.check_accessibility(rector)

    # Sending from the Ruta page is refused with every reason.
    rector.get_by_role("link", name="Volver a la Ruta").click()
    expect(rector).to_have_url(ruta_url)
    expect(state_badge(rector)).to_have_text("Autoevaluación enviada")
    browsing.check_accessibility(rector)
    with rector.expect_response(is_post) as refused:
        rector.get_by_role("button", name=SEND).click()
    assert refused.value.status == 422
    errors = rector.locator(".error-summary")
    expect(errors.get_by_role("heading")).to_have_text(f"Todavía no se puede «{SEND}».")
    expect(errors.locator("li")).to_have_text(DRAFT_FAILURES)
    expect(state_badge(rector)).to_have_text("Autoevaluación enviada")
    browsing.check_accessibility(rector, status=422)
    assert world.state_of(ruta_id) == (State.AUTOEVALUACION_ENVIADA, [])

    # --- the rector fixes the plan through its forms --------------------------------------
    rector.goto(f"/rutas/{ruta_id}/pmi")
    rector.get_by_role("link", name="Aplazar con una razón DIR.2.1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "Nuevo elemento: oportunidad aplazada")
    browsing.check_accessibility(rector)
    rector.get_by_label("Por qué se aplaza (obligatorio)").fill(
        "El Consejo Directivo se renueva en 2025; se atiende en la próxima Ruta.")
    save_element(rector, "Oportunidad aplazada DIR.2.1")

    rector.get_by_role("link", name="Agregar un hallazgo").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Nuevo elemento: hallazgo")
    browsing.check_accessibility(rector)
    rector.get_by_label("Fuente (obligatorio)").select_option(label="Evaluación interna")
    rector.get_by_label("Área o competencia evaluada (obligatorio)").fill("Matemáticas")
    rector.get_by_label("Grado (obligatorio)", exact=True).fill("10.°")
    rector.get_by_label("Año del resultado").fill("2023")
    rector.get_by_label("Valor del resultado").fill("22")
    rector.get_by_label("Unidad del valor").select_option(label="Porcentaje (0 a 100 %)")
    rector.get_by_label("Se compara con").select_option(label="Resultado del año anterior")
    rector.get_by_label("Valor de esa comparación").fill("18")
    rector.get_by_label("ACA.1.2 Evaluación").check()
    rector.get_by_label("Qué se encontró (obligatorio)").fill(
        "El 22 % de 10.° reprobó matemáticas en el primer periodo.")
    save_element(rector, "Hallazgo 2")

    rector.get_by_role("link", name="Editar Objetivo 1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Editar: Objetivo 1")
    browsing.check_accessibility(rector)
    rector.get_by_label("DIR.1.2 Metas institucionales (nivel 2)").check()
    rector.get_by_label("Hallazgo 2: Evaluación interna · Matemáticas").check()
    save_element(rector, "Objetivo 1")

    rector.get_by_role("link", name="Agregar un indicador a Meta 1.1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Nuevo elemento: indicador")
    browsing.check_accessibility(rector)
    rector.get_by_label("Nombre del indicador (obligatorio)").fill(
        "Porcentaje de estudiantes de 11.° sobre el nivel mínimo en matemáticas")
    rector.get_by_label("Fórmula (obligatorio)").fill("Niveles 2 a 4 / evaluados × 100")
    rector.get_by_label("Unidad (obligatorio)").fill("%")
    rector.get_by_label("Frecuencia de medición").fill("Anual")
    rector.get_by_label("Fuente de información").fill("Resultados de Saber 11 (ICFES)")
    rector.get_by_label("Línea base").fill("32")
    for year, target in (("2024", "36"), ("2025", "40"), ("2026", "45")):
        rector.get_by_label(f"Meta para {year}").fill(target)
    save_element(rector, "Indicador 1.1.1")

    rector.get_by_role("link", name="Agregar una actividad a Meta 1.1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Nuevo elemento: actividad")
    browsing.check_accessibility(rector)
    rector.get_by_label("Actividad (obligatorio)").fill(
        "Talleres semanales de resolución de problemas tipo Saber para 10.° y 11.°.")
    rector.get_by_label("Responsable").fill("Jefatura del área de matemáticas")
    rector.get_by_label("Fecha de inicio").fill("2024-02-05")
    rector.get_by_label("Fecha de terminación").fill("2026-10-30")
    rector.get_by_label("Recursos").fill("Banco de preguntas y sala de informática.")
    rector.get_by_label("Costo estimado, en pesos").fill("4500000")
    rector.get_by_label("Fuente de financiación").fill("Fondo de Servicios Educativos")
    save_element(rector, "Actividad 1.1.1")

    expect(summary).to_contain_text("El PMI está completo y consistente para revisión.")
    expect(rector.locator("tr.rule-fail")).to_have_count(0)
    expect(rector.get_by_text("El plan está completo y consistente para revisión. Al "
                              "enviarlo se guarda una versión; la Secretaría juzga si cumple "
                              "cada criterio.")).to_be_visible()
    browsing.check_accessibility(rector)

    rector.get_by_role("button", name=SEND).click()
    expect(rector).to_have_url(ruta_url)
    expect(flash(rector)).to_have_text(
        "Listo: envió el PMI a la Secretaría. La Ruta quedó en «PMI enviado a la Secretaría».")
    expect(state_badge(rector)).to_have_text("PMI enviado a la Secretaría")
    browsing.check_accessibility(rector)

    # --- the revisor returns it with two itemized observations ----------------------------
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    expect(reviewer).to_have_url(f"{browsing.server.url}/revision/")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("link", name=world.school_name).click()
    expect(reviewer).to_have_url(ruta_url)
    reviewer.get_by_role("button", name="Tomar para revisión").click()
    expect(flash(reviewer)).to_have_text(
        "Listo: tomó el PMI para revisión. La Ruta quedó en «PMI en revisión».")
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("link", name="Revisar el PMI y escribir observaciones").click()
    expect(reviewer.get_by_role("heading", level=1)).to_have_text("Revisión del PMI")
    expect(reviewer.locator("#cambios")).to_have_count(0)
    expect(reviewer.get_by_text("Todavía no hay observaciones.")).to_be_visible()
    # Returning needs at least one itemized observation; the decision form says so.
    decision = reviewer.locator("form", has=reviewer.get_by_role(
        "button", name="Devolver con observaciones"))
    expect(decision.locator(".observations-title")).to_have_text(
        "Todavía no hay observaciones para enviar")
    browsing.check_accessibility(reviewer)

    for element, criterion, text in (("Objetivo 1", "1", OBSERVATION_ONE),
                                     ("Indicador 1.1.1", "4", OBSERVATION_TWO)):
        reviewer.get_by_label("Elemento del plan").select_option(label=element)
        reviewer.get_by_label("Criterio de la Circular 0488").select_option(criterion)
        reviewer.get_by_label("Observación", exact=True).fill(text)
        reviewer.get_by_role("button", name="Agregar la observación").click()
        expect(flash(reviewer)).to_have_text(
            "Observación agregada. Se envía a la institución cuando devuelva el plan.")
    observations = reviewer.locator("#observaciones article")
    expect(observations.locator("h3")).to_have_text(
        ["Observación 1 · Objetivo 1", "Observación 2 · Indicador 1.1.1"])
    expect(observations.nth(0).locator(".meta")).to_contain_text(
        "Criterio 1: Coherencia entre la autoevaluación institucional y las acciones del PMI")
    expect(observations.nth(1).locator(".meta")).to_contain_text(
        "Criterio 4: El indicador es claro y está relacionado con la meta y el objetivo")
    expect(statuses(reviewer)).to_have_text(["Estado: Sin enviar (se envía al devolver)"] * 2)
    expect(decision.locator("li")).to_have_text([
        f"Objetivo 1 · Criterio 1: {OBSERVATION_ONE}",
        f"Indicador 1.1.1 · Criterio 4: {OBSERVATION_TWO}"])
    expect(decision.locator(".observations-title")).to_have_count(0)
    browsing.check_accessibility(reviewer)

    judge_all_cumple(reviewer)
    reviewer.get_by_role("button", name="Devolver con observaciones").click()
    expect(reviewer).to_have_url(ruta_url)
    expect(flash(reviewer)).to_have_text(
        "Listo: devolvió con observaciones. La Ruta quedó en «PMI devuelto con observaciones».")

    # --- the rector answers both, changes the indicator and sends it again ----------------
    rector.reload()
    expect(state_badge(rector)).to_have_text("PMI devuelto con observaciones")
    expect(rector.get_by_text("Observaciones de la Secretaría: 2 (2 sin resolver).")
           ).to_be_visible()
    rector.get_by_role("link", name="Formular el PMI").click()
    expect(rector.get_by_text("La Secretaría devolvió el plan con 2 observaciones por "
                              "responder.")).to_be_visible()
    browsing.check_accessibility(rector)
    rector.get_by_role("link", name="Responder las observaciones").click()
    expect(statuses(rector)).to_have_text(["Estado: Enviada, sin respuesta"] * 2)
    expect(rector.locator("#observaciones article .prewrap")).to_have_text(
        [OBSERVATION_ONE, OBSERVATION_TWO])
    browsing.check_accessibility(rector)
    for number, answer in ((1, ANSWER_ONE), (2, ANSWER_TWO)):
        form = rector.locator("form", has=rector.get_by_label(
            f"Su respuesta a la observación {number}"))
        form.get_by_role("textbox").fill(answer)
        form.get_by_role("button", name="Guardar la respuesta").click()
        expect(flash(rector)).to_have_text(
            "Respuesta guardada. Cuando responda todas, vuelva a enviar el PMI.")
    expect(statuses(rector)).to_have_text(["Estado: Respondida por la institución"] * 2)

    rector.get_by_role("link", name="Plan", exact=True).click()
    rector.get_by_role("link", name="Editar Indicador 1.1.1").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Editar: Indicador 1.1.1")
    expect(rector.get_by_label("Frecuencia de medición")).to_have_value("Anual")
    rector.get_by_label("Frecuencia de medición").fill("Semestral")
    save_element(rector, "Indicador 1.1.1")
    indicator = rector.locator("div.pmi-element", has_text="Indicador 1.1.1:")
    expect(indicator.locator("dd").nth(2)).to_have_text("Semestral")
    rector.get_by_role("button", name=SEND).click()
    expect(flash(rector)).to_have_text(
        "Listo: envió el PMI a la Secretaría. La Ruta quedó en «PMI enviado a la Secretaría».")
    expect(state_badge(rector)).to_have_text("PMI enviado a la Secretaría")

    # --- the revisor sees the diff and the answers, resolves, approves --------------------
    reviewer.reload()
    reviewer.get_by_role("button", name="Tomar para revisión").click()
    expect(state_badge(reviewer)).to_have_text("PMI en revisión")
    reviewer.get_by_role("link", name="Revisar el PMI y escribir observaciones").click()
    changes = reviewer.locator("#cambios")
    expect(changes.get_by_role("heading", level=2)).to_have_text(
        "Qué cambió desde su última revisión")
    expect(changes.get_by_role("heading", level=3)).to_have_text("Plan: elemento por elemento")
    expect(changes.locator(".meta")).to_have_text("De la versión 1 a la versión 2.")
    expect(changes.locator("li")).to_have_count(1)
    expect(changes.locator("li strong")).to_have_text("Modificado: Indicador 1.1.1")
    expect(changes.locator("tbody tr")).to_have_count(1)
    expect(changes.locator("tbody tr th")).to_have_text("Frecuencia")
    expect(changes.locator("tbody tr td")).to_have_text(["Anual", "Semestral"])
    expect(statuses(reviewer)).to_have_text(["Estado: Respondida por la institución"] * 2)
    expect(reviewer.locator("#observaciones article .observations .prewrap")).to_have_text(
        [ANSWER_ONE, ANSWER_TWO])
    browsing.check_accessibility(reviewer)

    reviewer.get_by_role("button", name="Marcar resuelta (observación 1)").click()
    expect(flash(reviewer)).to_have_text("La observación quedó «resuelta».")
    expect(statuses(reviewer)).to_have_text(
        ["Estado: Resuelta", "Estado: Respondida por la institución"])
    judge_all_cumple(reviewer)
    with reviewer.expect_response(is_post) as refused:
        reviewer.get_by_role("button", name=APPROVE).click()
    assert refused.value.status == 422
    errors = reviewer.locator(".error-summary")
    expect(errors.get_by_role("heading")).to_have_text(f"Todavía no se puede «{APPROVE}».")
    expect(errors.locator("li")).to_have_text([
        "La observación 2 (Indicador 1.1.1) sigue sin resolver: respondida por la "
        "institución."])
    # The decision is on the review page now (with the rubric): it stays there.
    expect(reviewer.get_by_role("heading", level=1)).to_have_text("Revisión del PMI")
    browsing.check_accessibility(reviewer, status=422)

    reviewer.get_by_role("button", name="Marcar resuelta (observación 2)").click()
    expect(statuses(reviewer)).to_have_text(["Estado: Resuelta"] * 2)
    judge_all_cumple(reviewer)
    reviewer.get_by_role("button", name=APPROVE).click()
    expect(reviewer).to_have_url(ruta_url)
    expect(flash(reviewer)).to_have_text(
        "Listo: aprobó el PMI. La Ruta quedó en «PMI aprobado».")
    expect(state_badge(reviewer)).to_have_text("PMI aprobado")
    browsing.check_accessibility(reviewer)

    # --- the versions and the printable plan say which version was approved, and by whom --
    rector.goto(f"/rutas/{ruta_id}/pmi/versiones")
    expect(rector.locator("#aprobacion")).to_contain_text(
        f"Aprobado sobre la versión 2 por {reviewer_name}, el ")
    expect(rector.locator("#version-1 .judgments li")).to_have_count(2)
    expect(rector.locator("#version-2 .judgments li").last).to_contain_text(
        f"Aprobada por {reviewer_name}, el ")
    browsing.check_accessibility(rector)
    rector.goto(f"/rutas/{ruta_id}/pmi/imprimir")
    expect(rector.locator("#aprobacion")).to_contain_text("Aprobado por la Secretaría el ")
    expect(rector.locator("#aprobacion")).to_contain_text(f"Revisor(a): {reviewer_name}")
    rector.emulate_media(media="print")
    expect(rector.locator("#aprobacion")).to_be_visible()
    expect(rector.locator(".site-header")).to_be_hidden()
    browsing.check_accessibility(rector)

    # --- and the database agrees ----------------------------------------------------------
    assert world.state_of(ruta_id) == (State.APROBADO, [
        "formular_pmi", "tomar_revision", "devolver", "formular_pmi", "tomar_revision",
        "aprobar"])
    with world.server.session() as session:
        ruta = session.get_one(Ruta, ruta_id)
        approvals = session.scalars(select(RutaTransition).where(
            RutaTransition.ruta_id == ruta_id, RutaTransition.trigger == "aprobar")).all()
        assert len(approvals) == 1
        assert approvals[0].actor is not None
        assert approvals[0].actor.email == world.reviewer_email
        rows = session.scalars(select(Observation).where(Observation.ruta_id == ruta_id)
                               .order_by(Observation.id)).all()
        assert [(row.element_label, row.criterion, row.status, row.response) for row in rows] == [
            ("Objetivo 1", 1, ObservationStatus.RESUELTA, ANSWER_ONE),
            ("Indicador 1.1.1", 4, ObservationStatus.RESUELTA, ANSWER_TWO)]
        versions = session.scalars(select(PmiSnapshot).where(
            PmiSnapshot.ruta_id == ruta_id).order_by(PmiSnapshot.number)).all()
        assert [row.number for row in versions] == [1, 2]
        judged = session.execute(select(RutaTransition.trigger, RutaTransition.extra).where(
            RutaTransition.ruta_id == ruta_id, RutaTransition.trigger.in_(
                ["tomar_revision", "devolver", "aprobar"])).order_by(RutaTransition.id)).all()
        assert [(trigger, extra.get("snapshot_id")) for trigger, extra in judged] == [
            ("tomar_revision", versions[0].id), ("devolver", versions[0].id),
            ("tomar_revision", versions[1].id), ("aprobar", versions[1].id)]
        assert ruta.state is State.APROBADO
