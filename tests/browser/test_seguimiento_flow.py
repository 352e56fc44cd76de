"""Seguimiento in a real Chromium: the rector fills the report of a checkpoint with an
evidence file (a real small PDF) and sends it, the revisor acknowledges it, and the
Secretaría's consolidated view (/reportes/) and its Excel export reflect it.

Every page visited is checked with axe-core while the Content-Security-Policy stays enforced.
The calendar is Ibagué's 2024–2026; the report is for "Seguimiento 1er semestre 2024"
(28 June 2024, long past, so it is sent late).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from demo.calendario import seed_demo_calendar
from demo.pmi import fill_demo_pmi
from jobs.scheduler import export_job
from tests.conftest import PASSING_RUBRIC, Factory
from workflow.models import School, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi.models import Actividad, Indicador
from workflow.seguimiento import actions as seguimiento_actions
from workflow.seguimiento.models import FollowUpReport, ReportStatus, bogota_day
from workflow.seguimiento.progress import progress_by_ruta
from workflow.states import State

from .conftest import Browsing, World

pytestmark = pytest.mark.browser

CHECKPOINT = "Seguimiento 1er semestre 2024"
# A minimal, valid one-page PDF.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
AVANCES = ("23", "17,5", "28,5")


def flash(page: Page) -> Locator:
    return page.locator(".flashes .flash")


def following_ruta(world: World) -> tuple[int, list[int], list[int]]:
    """A Ruta of the world's school in seguimiento with the demo PMI, the demo calendar,
    and the ids of its actividades and indicadores."""
    with world.server.session() as session:
        make = Factory(session)
        school = session.query(School).filter_by(name=world.school_name).one()
        rector = session.query(User).filter_by(email=world.rector_email).one()
        reviewer = session.query(User).filter_by(email=world.reviewer_email).one()
        seed_demo_calendar(session, school.secretaria)
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
        actividades = list(session.scalars(select(Actividad.id).where(
            Actividad.ruta_id == ruta.id).order_by(Actividad.meta_id, Actividad.id)))
        indicadores = list(session.scalars(select(Indicador.id).where(
            Indicador.ruta_id == ruta.id).order_by(Indicador.meta_id, Indicador.id)))
        return ruta.id, actividades, indicadores


def test_rector_reports_reviewer_acknowledges_consolidado_and_excel_reflect_it(
        browsing: Browsing, world: World, tmp_path: Path) -> None:
    ruta_id, actividades, indicadores = following_ruta(world)

    # --- the rector fills and sends the report of the first checkpoint ---
    rector = browsing.new_page()
    browsing.login(rector, world.rector_email)
    rector.goto(f"/rutas/{ruta_id}")
    expect(rector.locator("#seguimiento")).to_contain_text("Inicio del plan: 5 de febrero de 2024")
    browsing.check_accessibility(rector)
    rector.get_by_role("button", name=f"Diligenciar el informe de {CHECKPOINT}").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        f"Informe de seguimiento: {CHECKPOINT}")
    browsing.check_accessibility(rector)

    # A % de avance over 100 is refused with the reason, and nothing is saved.
    rector.locator(f"#avance-{actividades[0]}").fill("120")
    rector.get_by_role("button", name="Guardar el informe").click()
    expect(rector.locator(".error-summary")).to_contain_text("debe estar entre 0 y 100")

    for actividad, avance in zip(actividades, AVANCES, strict=True):
        rector.locator(f"#avance-{actividad}").fill(avance)
        rector.locator(f"#estado-{actividad}").select_option("en_curso")
        rector.locator(f"#recursos-{actividad}").fill("Tiempo docente y fotocopias.")
    for number, indicador in enumerate(indicadores):
        rector.locator(f"#valor-{indicador}").fill(str(33 + number))
    # The evidence is chosen in the same form and saved with the values.
    rector.locator("#archivo").set_input_files(
        files=[{"name": "actas-talleres.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    rector.get_by_role("button", name="Guardar el informe").click()
    expect(flash(rector)).to_contain_text(
        "Guardado: el informe de seguimiento. Se adjuntó «actas-talleres.pdf».")
    expect(rector.locator("#evidencias")).to_contain_text("actas-talleres.pdf")
    browsing.check_accessibility(rector)

    rector.get_by_role("button", name="Enviar el informe a la Secretaría").click()
    expect(flash(rector)).to_contain_text(
        f"Listo: el informe de «{CHECKPOINT}» quedó enviado a la Secretaría.")
    expect(rector.locator("#estado-informe-titulo")).to_contain_text("Enviado a la Secretaría")
    report_url = rector.url
    browsing.check_accessibility(rector)

    # --- the revisor acknowledges it ---
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto(report_url)
    expect(reviewer.locator("#evidencias")).to_contain_text("actas-talleres.pdf")
    browsing.check_accessibility(reviewer)
    with reviewer.expect_download() as download:
        reviewer.get_by_role("link", name="actas-talleres.pdf").click()
    assert download.value.suggested_filename == "actas-talleres.pdf"
    reviewer.get_by_role("button", name="Dar por recibido el informe").click()
    expect(flash(reviewer)).to_contain_text(f"dio por recibido el informe de «{CHECKPOINT}»")
    expect(reviewer.locator("#estado-informe-titulo")).to_contain_text(
        "Recibido por la Secretaría")

    with world.server.session() as session:
        report = session.scalars(select(FollowUpReport).where(
            FollowUpReport.ruta_id == ruta_id)).one()
        assert report.status is ReportStatus.RECONOCIDO and report.late
        label = progress_by_ruta(
            session, [ruta_id], today=bogota_day(datetime.now(UTC)))[ruta_id].label
    assert label.startswith("23 % de avance · 1 de ")

    # --- the consolidated view and the Excel export reflect it ---
    # (wired by the consolidado helper against workflow.seguimiento's contract)
    reviewer.goto("/reportes/")
    expect(reviewer.locator("main")).to_contain_text(label)
    browsing.check_accessibility(reviewer)
    # The Excel file: asked for on the page, written by the scheduler's job function.
    world.server.app.config["EXPORT_FOLDER"] = str(tmp_path / "exportaciones")
    reviewer.get_by_role("button", name="Preparar el Excel").click()
    reviewer.wait_for_url("**/reportes/exportaciones/*")
    export_job(world.server.app)
    reviewer.reload()
    response = reviewer.request.get(
        reviewer.get_by_role("link", name="Descargar el Excel").get_attribute("href") or "")
    assert response.ok
    workbook = openpyxl.load_workbook(io.BytesIO(response.body()), read_only=True)
    found = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows(values_only=True):
            if world.school_name in row and 17.5 in row:
                found.append(sheet.title)
    assert found, "no sheet of the Excel export has the actividad's % de avance (17,5)"
