"""Phones, zoom and paper, in a real Chromium over the demo Secretaría (Rutas in every state).

At 360 px the wide tables become cards with the deciding cells first; no page is wider than the
screen at 360 px nor at 200 % zoom (a 1280 px screen zoomed to 200 % lays pages out at 640 CSS
px, two device pixels each); chart labels are drawn at 12 px or more; and the printable PMI and
autoevaluación, printed to PDF by Chromium and read back, carry every column of their tables.
Every page visited is checked with axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from demo.seed import DEMO_DOMAIN
from workflow.seguimiento.models import FollowUpReport
from workflow.states import State

from .conftest import PHONE, Browsing, LiveServer, demo_ruta

pytestmark = pytest.mark.browser

# 200 % zoom of a 1280 × 800 screen: the page is laid out 640 CSS px wide.
ZOOMED = {"width": 640, "height": 400}
RECTOR = f"rector01@{DEMO_DOMAIN}"
# A rector whose Ruta is formulating its PMI: the priority inputs and the PMI forms are open.
FORMULATING_RECTOR = f"rector04@{DEMO_DOMAIN}"
REVIEWER = f"revisor1@{DEMO_DOMAIN}"
ADMIN = f"admin@{DEMO_DOMAIN}"
MIN_LABEL_PX = 12
# The cells of a table row as a person reads its card: top to bottom, then left to right
# (each cell by its column's name; the row's heading as TH). Hidden cells are left out.
CARD_ORDER = """row => [...row.children]
  .map(cell => [cell, cell.getBoundingClientRect()]).filter(([, box]) => box.height > 0)
  .sort(([, a], [, b]) => a.top - b.top || a.left - b.left)
  .map(([cell]) => cell.dataset.label || cell.tagName)"""


@dataclass(frozen=True)
class Demo:
    """The demo site and the Rutas the tests visit."""

    server: LiveServer
    following: int  # rector01's Ruta, in seguimiento, continuing a closed 2021–2023 one
    previous: int  # that closed Ruta
    formulating: int  # rector04's Ruta, autoevaluación sent, PMI being formulated
    in_review: int  # a Ruta a revisor holds
    closed: int  # a Ruta closed with its final evaluation
    report: int  # a seguimiento report of the following Ruta


@pytest.fixture(scope="module")
def demo(demo_site: LiveServer) -> Demo:
    """The demo site (ten schools, seeded once per process: these tests only read it)."""
    following = demo_ruta(demo_site, 1, State.SEGUIMIENTO)
    with demo_site.session() as session:
        report = session.scalars(select(FollowUpReport.id).where(
            FollowUpReport.ruta_id == following).order_by(FollowUpReport.id)).first()
    assert report is not None
    return Demo(server=demo_site, following=following,
                previous=demo_ruta(demo_site, 1, State.CERRADO),
                formulating=demo_ruta(demo_site, 4, State.AUTOEVALUACION_ENVIADA),
                in_review=demo_ruta(demo_site, 5, State.EN_REVISION),
                closed=demo_ruta(demo_site, 8, State.CERRADO), report=report)


@pytest.fixture
def site(demo_browsing: Browsing) -> Browsing:
    return demo_browsing


def signed_in(site: Browsing, email: str, viewport: dict[str, int], *,
              scale: float = 1) -> Page:
    context = site.browser.new_context(
        base_url=site.server.url, viewport=viewport, device_scale_factor=scale,
        locale="es-CO", timezone_id="America/Bogota")
    site.contexts.append(context)
    page = context.new_page()
    page.on("console", site._watch_console)
    site.login(page, email)
    return page


def main_pages(demo: Demo) -> dict[str, list[str]]:
    """Every main page of each role, on Rutas where each page has content."""
    ruta, formulating = f"/rutas/{demo.following}", f"/rutas/{demo.formulating}"
    return {
        RECTOR: [
            "/escuela/", ruta, f"{ruta}/autoevaluacion", f"{ruta}/autoevaluacion/areas/DIR",
            f"{ruta}/autoevaluacion/perfil", f"{ruta}/autoevaluacion/fortalezas",
            f"{ruta}/autoevaluacion/equipo", f"{ruta}/autoevaluacion/identidad",
            f"{ruta}/autoevaluacion/imprimir", f"{ruta}/pmi", f"{ruta}/pmi/revision",
            f"{ruta}/pmi/versiones", f"{ruta}/pmi/imprimir", f"{ruta}/seguimiento",
            f"{ruta}/seguimiento/informes/{demo.report}",
            f"/rutas/{demo.previous}/cierre", f"/rutas/{demo.previous}/resultados"],
        FORMULATING_RECTOR: [
            f"{formulating}/pmi", f"{formulating}/pmi/elemento?tipo=objetivo",
            f"{formulating}/autoevaluacion/fortalezas"],
        REVIEWER: [
            "/revision/", f"/rutas/{demo.in_review}", f"/rutas/{demo.in_review}/pmi",
            f"/rutas/{demo.in_review}/pmi/revision", f"/rutas/{demo.closed}/cierre",
            f"/rutas/{demo.closed}/resultados", "/reportes/", "/reportes/imprimir",
            "/reportes/exportaciones",
            "/catalogos/", "/admin/instituciones", "/admin/usuarios"],
        ADMIN: [
            "/revision/", "/admin/instituciones", "/admin/usuarios", "/admin/calendario/",
            "/catalogos/", "/catalogos/1", "/reportes/", "/admin/correo/", "/pmi/fuentes"],
    }


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def assert_in_view(page: Page, target: Locator) -> None:
    """The element is drawn inside the screen's width: seen without scrolling sideways."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    assert box is not None, target
    width = page.viewport_size["width"]  # type: ignore[index]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (target, box)


# --- no page wider than the screen --------------------------------------------------------


@pytest.mark.parametrize(("viewport", "scale"), [(PHONE, 1), (ZOOMED, 2)],
                         ids=["360px", "zoom200"])
def test_main_pages_fit_the_screen_for_every_role(site: Browsing, demo: Demo,
                                                  viewport: dict[str, int],
                                                  scale: float) -> None:
    too_wide = []
    for email, urls in main_pages(demo).items():
        page = signed_in(site, email, viewport, scale=scale)
        for url in urls:
            response = page.goto(url)
            assert response is not None and response.status == 200, url
            # Images (charts) take their size once loaded.
            page.wait_for_load_state("load")
            width = page_width(page)
            if width > viewport["width"]:
                too_wide.append(f"{email} {url}: {width} px")
            if viewport is PHONE:
                site.check_accessibility(page)
    assert too_wide == [], f"wider than {viewport['width']} px"


# --- the deciding columns at 360 px -------------------------------------------------------


def test_circular_results_show_their_verdict_on_a_phone(site: Browsing, demo: Demo) -> None:
    page = signed_in(site, FORMULATING_RECTOR, PHONE)
    page.goto(f"/rutas/{demo.formulating}/pmi")
    rows = page.locator("table.check-table tbody tr")
    expect(rows.first).to_be_visible()
    # Each rule reads as a card: its criterion, then its result, then the rule.
    first = rows.first
    labels = first.evaluate(CARD_ORDER)
    assert labels[:2] == ["Criterio", "Resultado"]
    results = page.locator("table.check-table .result-ok, table.check-table .result-fail")
    assert results.count() == rows.count()
    for index in (0, results.count() - 1):
        assert_in_view(page, results.nth(index))
    expect(page.locator("table.check-table .result-fail").first).to_have_text(
        re.compile("Falta|Por mejorar"))
    assert page_width(page) <= PHONE["width"]
    site.check_accessibility(page)


def test_priority_inputs_are_within_reach_on_a_phone(site: Browsing, demo: Demo) -> None:
    page = signed_in(site, FORMULATING_RECTOR, PHONE)
    page.goto(f"/rutas/{demo.formulating}/autoevaluacion/fortalezas")
    row = page.locator("#oportunidades-titulo ~ form tbody tr").first
    for name in ("Urgencia", "Tendencia", "Impacto"):
        field = row.get_by_label(re.compile(f"^{name} de "))
        assert_in_view(page, field)
        # The card names the column above its input.
        expect(field.locator("xpath=..")).to_have_attribute("data-label", name)
    assert_in_view(page, row.locator("td[data-label='Nivel'] .level"))
    # The componente and its level come before the inputs; rank and score after them.
    order = row.evaluate(CARD_ORDER)
    assert order == ["TH", "Nivel", "Urgencia", "Tendencia", "Impacto", "Prioridad",
                     "Puntaje"]
    # Typing in a card is typing in the form: a mistake is refused and kept.
    field = row.get_by_label(re.compile("^Urgencia de "))
    field.fill("9")
    page.get_by_role("button", name="Guardar la priorización").click()
    expect(page.locator(".error-summary")).to_contain_text("urgencia")
    assert_in_view(page, page.locator("input[aria-invalid=true]").first)
    expect(page.locator("input[aria-invalid=true]").first).to_have_value("9")
    assert page_width(page) <= PHONE["width"]
    site.check_accessibility(page, status=422)


def test_seguimiento_report_shows_activity_semaforo_and_progress_first(
        site: Browsing, demo: Demo) -> None:
    page = signed_in(site, RECTOR, PHONE)
    page.goto(f"/rutas/{demo.following}/seguimiento/informes/{demo.report}")
    row = page.locator("#actividades-titulo ~ .table-wrap tbody tr").first
    order = row.evaluate(CARD_ORDER)
    assert order[:3] == ["TH", "% de avance", "Semáforo"]
    semaforo = row.locator("td[data-label='Semáforo']")
    expect(semaforo).to_have_text(re.compile("Verde|Amarillo|Rojo|Sin"))
    assert_in_view(page, semaforo)
    assert_in_view(page, row.locator("td[data-label='% de avance']"))
    assert page_width(page) <= PHONE["width"]
    site.check_accessibility(page)


def test_wide_tables_stack_into_labelled_cards_on_a_phone(site: Browsing, demo: Demo) -> None:
    pages = {REVIEWER: ["/reportes/", "/revision/", "/admin/instituciones"],
             RECTOR: [f"/rutas/{demo.following}/autoevaluacion/perfil",
                      f"/rutas/{demo.following}/pmi/imprimir"]}
    for email, urls in pages.items():
        page = signed_in(site, email, PHONE)
        for url in urls:
            page.goto(url)
            tables = page.locator("table.stack")
            assert tables.count() >= 1, url
            for index in range(tables.count()):
                table = tables.nth(index)
                # No table scrolls sideways: every cell is on the screen.
                wrap_overflow = table.evaluate(
                    "t => t.closest('.table-wrap') ? t.closest('.table-wrap').scrollWidth - "
                    "t.closest('.table-wrap').clientWidth : 0")
                assert wrap_overflow <= 0, (url, index)
                cell = table.locator("tbody td[data-label]").first
                if cell.count():
                    label = cell.evaluate(
                        "cell => getComputedStyle(cell, '::before').content")
                    assert label.strip('"') == cell.get_attribute("data-label"), url
    # At 200 % zoom (640 px) the same tables are tables again.
    zoomed = signed_in(site, REVIEWER, ZOOMED, scale=2)
    zoomed.goto("/reportes/")
    expect(zoomed.locator("table.stack thead").first).to_be_visible()


# --- charts -------------------------------------------------------------------------------


def rendered_label_sizes(page: Page) -> list[float]:
    """The smallest text of each chart image, in CSS px as drawn on the page: the SVG's font
    size times the image's drawn width over the SVG's own width."""
    return page.evaluate("""async () => {
      const sizes = [];
      for (const img of document.querySelectorAll('img[src$=".svg"], img[src*=".svg?"]')) {
        const svg = new DOMParser().parseFromString(
          await (await fetch(img.src)).text(), 'image/svg+xml').documentElement;
        const fonts = [...svg.querySelectorAll('text')].map(t => +t.getAttribute('font-size'));
        sizes.push(Math.min(...fonts) * img.getBoundingClientRect().width
                   / +svg.getAttribute('width'));
      }
      return sizes;
    }""")


def test_chart_labels_are_at_least_12px_on_a_phone(site: Browsing, demo: Demo) -> None:
    rector = signed_in(site, RECTOR, PHONE)
    rector.goto(f"/rutas/{demo.following}/autoevaluacion/perfil")
    rector.wait_for_load_state("load")
    sizes = rendered_label_sizes(rector)
    assert len(sizes) == 3
    assert min(sizes) >= MIN_LABEL_PX, sizes
    charts = rector.locator("figure.chart img")
    for index in range(charts.count()):
        assert_in_view(rector, charts.nth(index))
        # Loaded and drawn: a broken image has no natural width.
        assert charts.nth(index).evaluate("img => img.naturalWidth") > 0
    site.check_accessibility(rector)

    reviewer = signed_in(site, REVIEWER, PHONE)
    reviewer.goto("/reportes/")
    reviewer.wait_for_load_state("load")
    sizes = rendered_label_sizes(reviewer)
    assert len(sizes) == 3
    assert min(sizes) >= MIN_LABEL_PX, sizes
    assert page_width(reviewer) <= PHONE["width"]


# --- print --------------------------------------------------------------------------------


def printed_text(page: Page) -> tuple[str, int]:
    """The page printed by Chromium as the print dialog does (the page's own paper size),
    read back from the PDF: its text with whitespace collapsed, and its page count."""
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(unicodedata.normalize("NFC", sheet.extract_text())
                    for sheet in reader.pages)
    return " ".join(text.split()), len(reader.pages)


def test_printed_pmi_keeps_every_column(site: Browsing, demo: Demo) -> None:
    page = signed_in(site, RECTOR, {"width": 1280, "height": 800})
    page.goto(f"/rutas/{demo.following}/pmi/imprimir")
    site.check_accessibility(page)
    # The values of the right-most columns, as the page shows them.
    activity = page.locator("table", has=page.locator(
        "caption", has_text=re.compile("^Actividades"))).locator("tbody tr").first
    financing = activity.locator("td[data-label='Financiación']").inner_text()
    pathways = activity.locator("td[data-label='Trayectorias diversas']").inner_text()
    finding = page.locator("#p-hallazgos ~ .table-wrap tbody tr")
    found = finding.first.locator("td[data-label='Qué se encontró']").inner_text()
    yearly = page.locator("td[data-label='Meta por año']").first.inner_text()

    text, pages = printed_text(page)

    assert pages >= 1
    for header in ("Hallazgo", "Fuente", "Comparación", "Componentes", "Qué se encontró",
                   "Indicador", "Fórmula", "Línea base", "Meta por año", "Actividad",
                   "Responsable", "Recursos", "Costo", "Financiación",
                   "Trayectorias diversas"):
        assert header in text, header
    for value in (financing, pathways, found, yearly):
        # A long value may wrap: every word of it is on the paper.
        words = value.split()
        assert words, value
        missing = [word for word in words if word not in text]
        assert missing == [], (value, missing)
    # No navigation or buttons on paper.
    assert "Salir" not in text and "Volver al PMI" not in text


def test_printed_autoevaluacion_keeps_every_column(site: Browsing, demo: Demo) -> None:
    page = signed_in(site, RECTOR, {"width": 1280, "height": 800})
    page.goto(f"/rutas/{demo.following}/autoevaluacion/imprimir")
    page.wait_for_load_state("load")
    site.check_accessibility(page)
    area_row = page.locator("table", has=page.locator(
        "caption", has_text=re.compile("^Perfil por área"))).locator("tbody tr").first
    values = {label: area_row.locator(f"td[data-label='{label}']").inner_text()
              for label in ("Promedio", "Ruta 2021–2023", "Cambio", "Tendencia")}

    text, _ = printed_text(page)

    for header in ("Área de gestión", "Componentes", "Sin valorar", "Promedio",
                   "Ruta 2021–2023", "Cambio", "Tendencia", "Evidencia", "Comentarios"):
        assert header in text, header
    row = text[text.index("Perfil por área de gestión: componentes"):]
    row = row[row.index("Gestión directiva"):][:200]
    for label, value in values.items():
        assert value.strip() in row, (label, value, row)
    assert "Saltar al contenido" not in text and "Salir" not in text
