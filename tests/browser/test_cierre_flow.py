"""The end of a cycle in a real Chromium: the rector records and registers the final
evaluation, the revisor closes the Ruta, the results summary prints, the administración opens
the next Ruta and its perfil shows the change against the closed one.

Every page visited is checked with axe-core while the Content-Security-Policy stays enforced.
The Ruta is 2024–2026: its final evaluation may be recorded from 1 November 2026, already past.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from demo.pmi import fill_demo_pmi
from tests.conftest import PASSING_RUBRIC, Factory
from workflow.autoevaluacion.models import Valoracion
from workflow.models import Ruta, School, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi.models import Meta
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.states import State

from .conftest import Browsing, World

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@prueba.co"
LESSONS = ("Las metas que dependen de Saber 11 necesitan acciones desde 9.°; las comisiones "
           "por periodo sí funcionaron.")


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def following_ruta(world: World) -> tuple[int, list[int]]:
    """A Ruta of the world's school in seguimiento with the demo PMI (every componente of its
    autoevaluación at level 2), and the ids of its metas."""
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        rector = session.query(User).filter_by(email=world.rector_email).one()
        reviewer = session.query(User).filter_by(email=world.reviewer_email).one()
        make.user(Role.ADMINISTRADOR, email=ADMIN_EMAIL, secretaria=school.secretaria)
        ruta = make.ruta(school=school, state=State.AUTOEVALUACION_ENVIADA)
        make.completed_self_assessment(ruta, level=2)
        fill_demo_pmi(session, ruta, actor=rector)
        pmi_actions.submit_pmi(session, ruta, actor=rector, expected_version=ruta.version)
        pmi_actions.take_for_review(session, ruta, reviewer=reviewer,
                                    expected_version=ruta.version)
        pmi_actions.approve(session, ruta, reviewer=reviewer, expected_version=ruta.version,
                            rubric=PASSING_RUBRIC)
        seguimiento_actions.start_follow_up(session, ruta, actor=None,
                                            expected_version=ruta.version)
        session.commit()
        metas = list(session.scalars(select(Meta.id).where(Meta.ruta_id == ruta.id)
                                     .order_by(Meta.id)))
        return ruta.id, metas


def test_final_evaluation_close_print_and_next_cycle(browsing: Browsing, world: World) -> None:
    ruta_id, (first, second) = following_ruta(world)
    ruta_url = f"{browsing.server.url}/rutas/{ruta_id}"

    # --- the rector records the final evaluation and registers it -------------------------
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}")
    rector.get_by_role("link", name="Registrar la evaluación final").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Evaluación final del plan")
    expect(rector.locator("#ventana")).to_contain_text("desde el 1 de noviembre de 2026")
    browsing.check_accessibility(rector)

    meta_one = rector.locator(f"#meta-{first}")
    meta_one.get_by_label("Parcialmente alcanzada").check()
    meta_one.get_by_label("Valor alcanzado (en %)").fill("41,5")
    meta_one.get_by_label("Comentario").fill("Los talleres empezaron tarde en la tarde.")
    meta_one.get_by_label("Valor final de Indicador 1.1.1", exact=False).fill("41,5")
    meta_two = rector.locator(f"#meta-{second}")
    meta_two.get_by_label("Alcanzada", exact=True).check()
    meta_two.get_by_label("Valor alcanzado (en %)").fill("7")
    rector.get_by_label("Qué aprendió la institución", exact=False).fill(LESSONS)
    rector.get_by_label("Cómo se comunicaron los resultados", exact=False).fill(
        "Asamblea general de padres y madres y cartelera.")
    rector.get_by_label("Fecha de la comunicación").fill("2026-11-06")
    rector.get_by_role("button", name="Guardar y marcar como registrada").click()
    expect(flash(rector)).to_have_text(
        "La evaluación final quedó registrada. La Secretaría ya puede cerrar la Ruta.")
    expect(rector.get_by_role("button", name="Reabrir para corregir")).to_be_visible()
    browsing.check_accessibility(rector)

    # --- the revisor closes the Ruta ------------------------------------------------------
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(ruta_url)
    expect(reviewer.locator("#cierre-resumen-titulo")).to_have_text("Evaluación final y cierre")
    reviewer.get_by_role("button", name="Cerrar la Ruta").click()
    expect(flash(reviewer)).to_have_text(
        "Listo: cerró la Ruta. La Ruta quedó en «Ruta cerrada».")
    expect(reviewer.locator("#estado-titulo .badge")).to_have_text("Ruta cerrada")
    browsing.check_accessibility(reviewer)

    # --- the results summary prints --------------------------------------------------------
    reviewer.get_by_role("link", name="Resumen de resultados (para imprimir)").click()
    expect(reviewer.get_by_role("heading", level=1)).to_contain_text(
        "Resultados del Plan de Mejoramiento 2024–2026")
    expect(reviewer.locator("#r-resumen + p")).to_have_text(
        "De 2 metas del plan: 1 alcanzada, 1 parcialmente alcanzada y 0 no alcanzadas.")
    expect(reviewer.get_by_text(LESSONS)).to_be_visible()
    browsing.check_accessibility(reviewer)
    reviewer.emulate_media(media="print")
    expect(reviewer.locator(".site-header")).to_be_hidden()
    expect(reviewer.locator(".no-print")).to_be_hidden()
    expect(reviewer.get_by_role("heading", level=1)).to_be_visible()
    assert reviewer.pdf(format="A4")[:5] == b"%PDF-"
    reviewer.emulate_media(media="screen")

    # --- the administración opens the next Ruta --------------------------------------------
    admin = browsing.new_page()
    browsing.login(admin, ADMIN_EMAIL)
    admin.goto(ruta_url)
    admin.get_by_role("button", name="Abrir la Ruta 2027–2029").click()
    expect(flash(admin)).to_have_text(
        f"Quedó abierta la Ruta 2027–2029 de {world.school_name}, a partir de la Ruta "
        "2024–2026.")
    expect(admin.locator("#estado-titulo .badge")).to_have_text("Autoevaluación en curso")
    browsing.check_accessibility(admin)
    with world.server.session() as session:
        next_ruta = session.scalars(select(Ruta).where(Ruta.previous_ruta_id == ruta_id)).one()
        next_id = next_ruta.id
        # The team starts rating: two componentes move, the rest are not rated yet.
        catalog = session.get_one(Ruta, ruta_id).catalog  # type: ignore[attr-defined]
        levels = {"DIR.1.1": 3, "DIR.2.1": 1, "ACA.1.1": 2}
        for componente in catalog.componentes:
            if componente.code in levels:
                session.add(Valoracion(ruta_id=next_id, componente_id=componente.id,
                                       level=levels[componente.code], evidence="Acta 2."))
        session.commit()

    # --- the new perfil shows the change ---------------------------------------------------
    rector.goto(f"/rutas/{next_id}")
    expect(rector.get_by_text("Esta Ruta continúa la")).to_be_visible()
    rector.get_by_role("link", name="perfil institucional", exact=True).click()
    expect(rector.get_by_role("heading", level=1)).to_have_text("Perfil institucional")
    expect(rector.locator("#cambio-resumen")).to_contain_text(
        "Frente a la Ruta 2024–2026: 1 componentes subieron de nivel, 1 bajaron y 1 siguen "
        "igual.")
    changes = rector.locator("table.componente-changes")
    expect(changes.locator("tr", has_text="DIR.1.1")).to_contain_text("↑ Subió")
    expect(changes.locator("tr", has_text="DIR.2.1")).to_contain_text("↓ Bajó")
    expect(changes.locator("tr", has_text="ACA.1.1")).to_contain_text("= Igual")
    browsing.check_accessibility(rector)
