"""A revisor prints the consolidado for the Comité, in a real Chromium: filters it, opens
«Versión para imprimir» (no menus, no forms; on paper, no header either), prints it, goes back
and downloads the PDF the server makes, which is read back with pypdf. Pages are checked with
axe-core while the Content-Security-Policy stays enforced (the charts are data: images)."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.conftest import Factory
from workflow.models import Zona
from workflow.states import State

from .conftest import Browsing, World
from .test_phone_and_print import printed_text

pytestmark = pytest.mark.browser

FOOTER = re.compile(r"Página (\d+) de (\d+)")


def pdf_pages(path: Path) -> list[str]:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return [" ".join(unicodedata.normalize("NFC", page.extract_text()).split())
            for page in reader.pages]


def add_other_secretaria_school(world: World) -> str:
    with world.server.session() as session:
        make = Factory(session)
        theirs = make.secretaria("Secretaría de Educación del Tolima", "73")
        school = make.school(theirs, name="Institución Educativa Vecina del Tolima")
        make.ruta(school, State.BORRADOR)
        session.commit()
        return school.name


def filter_urbana(page: Page) -> None:
    page.goto("/reportes/")
    page.get_by_label("Zona").select_option(label=Zona.URBANA.label)
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url("**/reportes/?*zona=urbana*")


def test_reviewer_prints_the_consolidado_and_downloads_its_pdf(
        world: World, browsing: Browsing) -> None:
    world.ruta(State.APROBADO)
    world.ruta(State.EN_REVISION, other_school=True)
    theirs = add_other_secretaria_school(world)
    page = browsing.new_page()
    browsing.login(page, world.reviewer_email)
    filter_urbana(page)

    page.get_by_role("link", name="Versión para imprimir").click()

    page.wait_for_url("**/reportes/imprimir?*zona=urbana*")
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Consolidado de la Ruta de Mejoramiento")
    expect(page.get_by_text("filtro: zona urbana")).to_be_visible()
    table = page.get_by_role("region", name="Tabla de instituciones")
    expect(table.get_by_role("rowheader")).to_have_text([world.school_name])
    # Nothing to operate: no menu, no form, no sortable headers, no pages of results.
    assert page.locator("form").count() == 0
    assert page.get_by_role("navigation").count() == 0
    assert table.get_by_role("link").count() == 0
    expect(page.get_by_role("button")).to_have_count(0)
    # The charts are drawn into the page and loaded under the CSP.
    charts = page.locator("img.chart")
    expect(charts.first).to_be_visible()
    for index in range(charts.count()):
        assert charts.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
    browsing.check_accessibility(page)

    # On paper: the site's header and footer and the «Volver» line are gone.
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".site-footer")).to_be_hidden()
    expect(page.get_by_role("link", name="Volver al consolidado")).to_be_hidden()
    expect(table.get_by_role("rowheader")).to_have_text([world.school_name])
    assert table.locator("thead").evaluate("head => getComputedStyle(head).display") == (
        "table-header-group")
    text, sheets = printed_text(page)
    assert world.school_name in text
    assert world.other_school_name not in text
    assert f"Página 1 de {sheets}" in text
    assert "Saltar al contenido" not in text and "Volver al consolidado" not in text
    page.emulate_media(media="screen")

    page.go_back()
    page.wait_for_url("**/reportes/?*zona=urbana*")
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Descargar PDF").click()
    download = waiting.value

    assert download.suggested_filename == "consolidado-2024-2026-urbana.pdf"
    pages = pdf_pages(Path(download.path()))
    text = " ".join(pages)
    assert "Secretaría de Educación de Ibagué" in text
    assert "Horizonte 2024–2026" in text
    assert "filtro: zona urbana" in text
    assert world.school_name in text
    assert world.other_school_name not in text
    assert theirs not in text
    assert f"{State.APROBADO.label} 1 " in text
    assert [FOOTER.findall(sheet) for sheet in pages] == [
        [(str(number), str(len(pages)))] for number in range(1, len(pages) + 1)]
    # The person is still on the consolidado, with their filter.
    expect(page.get_by_label("Zona")).to_have_value("urbana")
    browsing.check_accessibility(page)


def test_printable_version_on_a_phone_fits_goes_back_and_downloads(world: World,
                                                        browsing: Browsing) -> None:
    world.ruta(State.PMI_FORMULADO)
    page = browsing.new_page({"width": 360, "height": 740})
    browsing.login(page, world.reviewer_email)
    page.goto("/reportes/?orden=estado&dir=desc")

    page.get_by_role("link", name="Versión para imprimir").click()

    page.wait_for_url("**/reportes/imprimir?orden=estado&dir=desc")
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    expect(page.get_by_text("ordenadas por estado (descendente)")).to_be_visible()
    browsing.check_accessibility(page)
    page.get_by_role("link", name="Volver al consolidado").click()
    page.wait_for_url("**/reportes/?orden=estado&dir=desc")
    expect(page.get_by_role("button", name="Filtrar")).to_be_visible()

    # On the phone too the PDF downloads, and the page stays where it was.
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Descargar PDF").click()
    download = waiting.value
    assert download.suggested_filename == "consolidado-2024-2026.pdf"
    pages = pdf_pages(Path(download.path()))
    assert world.school_name in " ".join(pages)
    assert FOOTER.findall(pages[-1]) == [(str(len(pages)), str(len(pages)))]
    assert page.url.endswith("/reportes/?orden=estado&dir=desc")
    expect(page.get_by_role("button", name="Filtrar")).to_be_visible()
