"""Whoever takes a review holds it; «Tomar de X» in a real Chromium (issue 14, item 2).

revisor.b cannot approve the PMI revisor.a took: the Ruta page says whose it is and offers
«Tomar de …». Without a reason the form comes back with what was typed; with one, the review
changes hands, the history says so, revisor.a gets the e-mail and revisor.b approves. Every
page is checked with axe-core.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from workflow.models import OutboxMessage, User
from workflow.states import State

from .conftest import Browsing, World
from .test_review_flow import APPROVE_BUTTON, flash, judge_all_cumple, state_badge

pytestmark = pytest.mark.browser

REASON = "La revisora está incapacitada hasta el lunes."


def test_takeover_flow(browsing: Browsing, world: World) -> None:
    ruta_id = world.ruta(State.EN_REVISION)  # taken by revisor.a
    with world.server.session() as session:
        first = session.scalars(select(User).where(User.email == world.reviewer_email)).one()
        first_name = first.name

    page = browsing.new_page()
    browsing.login(page, world.other_reviewer_email)
    page.goto(f"/rutas/{ruta_id}")
    heading = page.get_by_role("heading", level=2, name=f"En manos de {first_name} desde el")
    expect(heading).to_be_visible()
    expect(page.get_by_role("link", name="Decidir en la revisión del PMI")).to_have_count(0)
    take = page.get_by_role("button", name=f"Tomar de {first_name}")
    expect(take).to_be_visible()
    browsing.check_accessibility(page)

    # The review page refuses the decision and keeps the rubric typed.
    page.goto(f"/rutas/{ruta_id}/pmi/revision")
    judge_all_cumple(page)
    page.get_by_role("button", name=APPROVE_BUTTON).click()
    expect(page.locator(".error-summary")).to_contain_text(f"en manos de {first_name}")
    expect(page.locator("#rubrica-1-veredicto").get_by_label("Cumple", exact=True)
           ).to_be_checked()
    browsing.check_accessibility(page, status=422)

    # A reason too short: the form comes back with it, nothing taken.
    page.goto(f"/rutas/{ruta_id}")
    page.get_by_label("Motivo").fill("urgente")
    page.get_by_role("button", name=f"Tomar de {first_name}").click()
    expect(page.locator(".error-summary")).to_contain_text("al menos 3 palabras")
    expect(page.get_by_label("Motivo")).to_have_value("urgente")
    browsing.check_accessibility(page, status=422)

    page.get_by_label("Motivo").fill(REASON)
    page.get_by_role("button", name=f"Tomar de {first_name}").click()
    expect(flash(page)).to_contain_text(f"tomó la revisión de {first_name}")
    expect(page.locator("#historial-tomas")).to_be_visible()
    expect(page.locator(".timeline-takeovers")).to_contain_text(REASON)
    expect(page.get_by_role("button", name=f"Tomar de {first_name}")).to_have_count(0)
    browsing.check_accessibility(page)

    page.get_by_role("link", name="Decidir en la revisión del PMI").click()
    judge_all_cumple(page)
    page.get_by_role("button", name=APPROVE_BUTTON).click()
    expect(state_badge(page)).to_have_text("PMI aprobado")
    browsing.check_accessibility(page)

    with world.server.session() as session:
        [mail] = session.scalars(select(OutboxMessage)
                                 .where(OutboxMessage.kind == "revision_tomada")).all()
        assert mail.recipients == [world.reviewer_email]
        assert REASON in mail.text_body
    assert world.state_of(ruta_id)[0] is State.APROBADO
