"""«Pendientes» in a real Chromium (issue 14, item 1; tests item 7): a revisor sees the count
in the header, opens «Pendientes», finds the seguimiento report that waits for review with its
days, narrows to «Míos», follows the link, judges the answered observation, acknowledges the
report, comes back and the count dropped. The same page at 360 px, a filter that does not
exist and the browser's «Atrás» along the way. Every page is checked with axe-core.

The report is the demo's «report 2»: the revisor returned it with an observation, the rector
answered and resent it, and it waits for the Secretaría (``demo.seguimiento``).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from demo.seguimiento import ANSWER, OBSERVATION, _at, _form
from workflow.models import Ruta, User, utcnow
from workflow.seguimiento import reports as seguimiento
from workflow.seguimiento.checkpoints import checkpoints_of
from workflow.seguimiento.models import bogota_day
from workflow.states import State

from .conftest import Browsing, World
from .test_seguimiento_flow import flash, following_ruta

pytestmark = pytest.mark.browser

CHECKPOINT = "Seguimiento 2.º semestre 2024"
PHONE = {"width": 360, "height": 780}


def pending_link(page: Page):  # noqa: ANN201 (a Playwright locator)
    return page.get_by_role("navigation", name="Principal").get_by_role(
        "link", name="Pendientes:").first


def waiting_world(world: World) -> tuple[int, int, int]:
    """Revisor A's Ruta in seguimiento with report 2 resent and waiting; a PMI of the other
    school in revision by revisor B. Returns the Ruta's id, the report's id and its days."""
    ruta_id, _, _ = following_ruta(world)
    with world.server.session() as session:
        ruta = session.get_one(Ruta, ruta_id)
        rector = session.scalars(select(User).where(User.email == world.rector_email)).one()
        reviewer = session.scalars(select(User).where(
            User.email == world.reviewer_email)).one()
        first, second = checkpoints_of(session, ruta)[:2]
        for number, point in enumerate((first, second)):
            report = seguimiento.open_report(session, ruta, point.id, actor=rector,
                                             today=date(2024, 12, 15), now=_at(point.due_on))
            seguimiento.save_report(session, report, _form(session, report, 0, number),
                                    actor=rector, expected_version=report.version,
                                    now=_at(point.due_on))
            seguimiento.submit_report(session, report, actor=rector,
                                      expected_version=report.version, now=_at(point.due_on))
        acknowledged = seguimiento.report_for(session, ruta.id, first.id)
        assert acknowledged is not None
        seguimiento.acknowledge(session, acknowledged, reviewer=reviewer, expected_version=None,
                                now=_at(first.due_on + timedelta(days=3)))
        # Report 2: returned with an observation, answered, resent; it waits since then.
        seguimiento.add_observation(session, report, reviewer=reviewer, element="informe",
                                    text=OBSERVATION, now=_at(second.due_on + timedelta(1)))
        seguimiento.return_report(session, report, reviewer=reviewer,
                                  expected_version=report.version,
                                  now=_at(second.due_on + timedelta(days=1), 16))
        seguimiento.answer_observation(session, report,
                                       seguimiento.observations(session, report)[0].id,
                                       actor=rector, response=ANSWER,
                                       now=_at(second.due_on + timedelta(days=4)))
        resent = _at(second.due_on + timedelta(days=4), 17)
        seguimiento.submit_report(session, report, actor=rector,
                                  expected_version=report.version, now=resent)
        session.commit()
        days = (bogota_day(utcnow()) - bogota_day(resent)).days
        report_id = report.id
    other_id = world.ruta(State.EN_REVISION, other_school=True)
    with world.server.session() as session:
        other = session.get_one(Ruta, other_id)
        other.reviewer_id = session.scalars(select(User.id).where(
            User.email == world.other_reviewer_email)).one()
        session.commit()
    return ruta_id, report_id, days


def test_a_reviewer_finds_acknowledges_the_waiting_report_and_the_count_drops(
        browsing: Browsing, world: World) -> None:
    ruta_id, report_id, days = waiting_world(world)
    page = browsing.new_page()
    browsing.login(page, world.reviewer_email)

    # The header says how much waits: the report, its answered observation, B's PMI.
    expect(pending_link(page)).to_have_accessible_name(
        "Pendientes: 3 asuntos esperan a la Secretaría")
    expect(pending_link(page)).to_contain_text("Pendientes (3)")
    pending_link(page).click()
    expect(page.get_by_role("heading", level=1, name="Pendientes")).to_be_visible()
    rows = page.locator("table.stack tbody tr")
    expect(rows).to_have_count(3)
    report_row = rows.filter(has_text=f"Informe de seguimiento «{CHECKPOINT}» enviado")
    expect(report_row).to_contain_text(f"{days} días")
    expect(report_row).to_contain_text(world.school_name)
    expect(rows.filter(has_text="PMI 2024–2026 en revisión")).to_contain_text(
        world.other_school_name)
    browsing.check_accessibility(page)

    # A filter that does not exist: the page answers and says what it ignored.
    page.goto("/pendientes/?zona=lunar&vista=mios")
    expect(page.get_by_role("note")).to_contain_text("la zona «lunar» no existe")
    expect(page.get_by_role("link", name="Míos")).to_have_attribute("aria-current", "page")
    browsing.check_accessibility(page)

    # «Míos»: B's PMI goes; the report (held by A) stays.
    page.goto("/pendientes/")
    page.get_by_role("link", name="Míos").click()
    expect(page.get_by_role("status")).to_have_text("2 pendientes a su cargo o sin tomar.")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=world.other_school_name)).to_have_count(0)
    # Rural schools only: none of A's.
    page.get_by_label("Zona").select_option("rural")
    page.get_by_role("button", name="Filtrar").click()
    expect(page.get_by_text("No hay pendientes con estos filtros.")).to_be_visible()
    page.go_back()
    expect(rows).to_have_count(2)

    rows.filter(has_text="Informe de seguimiento").get_by_role(
        "link", name="Revisar el informe").click()
    expect(page).to_have_url(f"{browsing.server.url}/rutas/{ruta_id}/seguimiento/informes/"
                             f"{report_id}")
    page.get_by_role("button", name="Marcar resuelta (observación 1)").click()
    expect(flash(page)).to_have_text("La observación quedó «resuelta».")
    page.get_by_role("button", name="Dar por recibido el informe").click()
    expect(flash(page)).to_contain_text(f"dio por recibido el informe de «{CHECKPOINT}»")
    expect(pending_link(page)).to_contain_text("Pendientes (1)")

    pending_link(page).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(world.other_school_name)
    page.get_by_role("link", name="Míos").click()
    expect(page.get_by_text("Nada espera por usted")).to_be_visible()
    browsing.check_accessibility(page)


def test_pendientes_at_360_px(browsing: Browsing, world: World) -> None:
    _, _, days = waiting_world(world)
    page = browsing.new_page(PHONE)
    browsing.login(page, world.reviewer_email)
    page.get_by_text("Menú").click()
    expect(pending_link(page)).to_be_visible()
    pending_link(page).click()
    report_row = page.locator("table.stack tbody tr").filter(has_text="Informe de seguimiento")
    expect(report_row).to_contain_text(f"{days} días")
    # Nothing wider than the screen; each filter's label sits above its field.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for field in ("tipo", "zona", "comuna", "q"):
        label = page.locator(f"label[for={field}]").bounding_box()
        box = page.locator(f"#{field}").bounding_box()
        assert label and box and label["y"] + label["height"] <= box["y"] + 1, field
        assert box["x"] + box["width"] <= PHONE["width"], field
    browsing.check_accessibility(page)
    browsing.screenshot(page, "pendientes-360")
