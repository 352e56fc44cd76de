"""The Excel export in a real Chromium: the revisor asks for the Excel, the status page
refreshes itself (an HTTP Refresh header, no script) while the job waits for the scheduler,
which writes it (its job function, run here as ``ruta scheduler`` would: never by the web
server), and the revisor downloads it. Every page is checked with axe-core under the enforced
Content-Security-Policy."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from jobs.scheduler import export_job
from workflow.states import State

from .conftest import Browsing, World

pytestmark = pytest.mark.browser


def test_background_export_refreshes_until_the_file_is_ready(
        world: World, browsing: Browsing, tmp_path: Path) -> None:
    app = world.server.app
    app.config["EXPORT_FOLDER"] = str(tmp_path / "exportaciones")
    world.ruta(State.APROBADO)
    world.ruta(State.EN_REVISION, other_school=True)
    reviewer = browsing.new_page()
    browsing.login(reviewer, world.reviewer_email)
    reviewer.goto("/reportes/")
    expect(reviewer.get_by_role("heading", name="Metas por área de gestión")).to_be_visible()
    browsing.check_accessibility(reviewer)
    reviewer.get_by_role("button", name="Preparar el Excel").click()
    reviewer.wait_for_url("**/reportes/exportaciones/*")
    browsing.check_accessibility(reviewer)
    # Queued: the web server wrote nothing; the page keeps refreshing.
    expect(reviewer.locator("main")).to_contain_text("En cola")
    assert not (tmp_path / "exportaciones").exists()
    export_job(app)  # what ``ruta scheduler`` runs every 15 seconds
    # The page reloads itself every 2 seconds until the runner is done.
    download_link = reviewer.get_by_role("link", name="Descargar el Excel")
    expect(download_link).to_be_visible(timeout=20_000)
    expect(reviewer.locator("#avance")).to_have_text("Listo")
    browsing.check_accessibility(reviewer)
    response = reviewer.request.get(download_link.get_attribute("href") or "")
    assert response.ok
    workbook = openpyxl.load_workbook(io.BytesIO(response.body()), read_only=True)
    names = [row[1] for row in workbook["Instituciones"].iter_rows(min_row=2,
                                                                    values_only=True)]
    workbook.close()
    assert sorted(names) == sorted([world.school_name, world.other_school_name])
    reviewer.goto("/reportes/exportaciones")
    browsing.check_accessibility(reviewer)
