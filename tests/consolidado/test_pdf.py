"""The printable consolidado (/reportes/imprimir) and its PDF made on the server by WeasyPrint
(/reportes/consolidado.pdf), read back with pypdf; and the PDF renderer's fetcher, which
reads the app's static files and nothing else."""

from __future__ import annotations

import io
import re
import socket
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from blueprints.reportes import SORT_LABELS, TABLE_SORTS
from ruta.config import PROJECT_ROOT
from ruta.pdf import RefusedURL, StaticOnlyFetcher, html_to_pdf
from tests.conftest import Factory, WebClient
from tests.consolidado.test_consolidado import seed
from workflow.models import School, Secretaria
from workflow.roles import Role
from workflow.states import State

STATIC = PROJECT_ROOT / "static"
ORIGIN = "http://ruta.example/"
ALL = [f"Institución {key}" for key in "ABCDEFG"]
# The two lines that close each page: its number, out of how many.
FOOTER = re.compile(r"Página (\d+) de (\d+)")


def pdf_text(body: bytes) -> tuple[list[str], str]:
    """Each page's text and the whole text, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(body))
    pages = [" ".join(unicodedata.normalize("NFC", page.extract_text()).split())
             for page in reader.pages]
    return pages, " ".join(pages)


def other_school(db: Session) -> str:
    """The school of the other Secretaría ``seed`` adds."""
    return db.scalars(select(School.name).join(Secretaria).where(
        Secretaria.name == "Secretaría de Educación del Tolima")).one()


class Outline(HTMLParser):
    """What a printable page is made of: its forms, navigation, images, and the text of the
    rows of the schools table."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.links: dict[str, str] = {}
        self.rows: list[str] = []
        self._table = 0
        self._row_head = False
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag + "." + (found.get("class") or ""))
        if tag == "img":
            self.images.append(found.get("src") or "")
        if tag == "a":
            self._href = found.get("href")
        if tag == "section" and found.get("aria-labelledby") == "instituciones":
            self._table = 1
        if self._table and tag == "th" and found.get("scope") == "row":
            self._row_head = True
            self.rows.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._row_head = False
        if tag == "section" and self._table:
            self._table = 0
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._row_head:
            self.rows[-1] += data
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href


def outline(html: str) -> Outline:
    parsed = Outline()
    parsed.feed(html)
    return parsed


# --- the PDF ------------------------------------------------------------------------------


def test_pdf_carries_every_school_horizon_counts_and_page_numbers(
        web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    theirs = other_school(db)
    web.login(seeded.admin.email)

    response = web.client.get("/reportes/consolidado.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=consolidado-2024-2026.pdf")
    assert response.headers["Cache-Control"] == "private, no-store"
    pages, text = pdf_text(response.data)
    assert "Secretaría de Educación de Ibagué" in text
    assert "Consolidado de la Ruta de Mejoramiento" in text
    assert "Horizonte 2024–2026" in text
    assert "todas las zonas y comunas" in text
    assert "Generado el" in text
    for name in ALL:
        assert name in text, name
    assert theirs not in text
    # The funnel: one row per state with its count, and the total.
    for state, count in ((State.BORRADOR, 1), (State.AUTOEVALUACION_ENVIADA, 1),
                         (State.PMI_FORMULADO, 1), (State.EN_REVISION, 1), (State.APROBADO, 1),
                         (State.SEGUIMIENTO, 0), (State.CERRADO, 1)):
        assert f"{state.label} {count} " in text, state
    assert "6 Rutas en total" in text
    # Metas por área on paper: each componente's counts; the metas themselves are in the sheet.
    assert "DIR.1.2 Metas institucionales: 2 metas de 1 institución" in text
    assert "Socializar la misión" not in text
    assert "están en la hoja «metas del PMI»" in text
    # Every section of the page is in the document.
    for heading in ("Rutas por estado", "Rutas con el PMI vencido", "Rutas estancadas",
                    "Perfil municipal", "Metas por área de gestión",
                    "Hallazgos de las instituciones", "Componentes que más trabajan los planes",
                    "Criterios de la Circular 0488 que no se cumplen",
                    "Resultados finales del horizonte", "Lecciones aprendidas"):
        assert heading in text, heading
    # Every page says which it is, out of how many; no menus or forms on paper.
    assert len(pages) >= 2
    for number, page in enumerate(pages, 1):
        assert FOOTER.findall(page) == [(str(number), str(len(pages)))], page[-200:]
    for screen_only in ("Salir", "Filtrar", "Descargar PDF", "Versión para imprimir",
                        "Volver al consolidado", "Saltar al contenido", "Cada hoja en CSV"):
        assert screen_only not in text, screen_only


def test_pdf_applies_the_filters_and_names_the_file_after_them(
        web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)

    rural = web.client.get("/reportes/consolidado.pdf?zona=rural")
    comuna = web.client.get("/reportes/consolidado.pdf?zona=urbana&comuna=Comuna+2"
                            "&horizonte=2024")

    assert rural.headers["Content-Disposition"] == (
        "attachment; filename=consolidado-2024-2026-rural.pdf")
    _, text = pdf_text(rural.data)
    assert "filtro: zona rural" in text
    assert "Institución C" in text and "Institución F" in text
    for name in ("Institución A", "Institución B", "Institución D", "Institución E",
                 "Institución G"):
        assert name not in text, name
    assert comuna.headers["Content-Disposition"] == (
        "attachment; filename=consolidado-2024-2026-urbana-comuna-2.pdf")
    _, text = pdf_text(comuna.data)
    assert "filtro: zona urbana, Comuna 2" in text
    assert "Institución D" in text and "Institución A" not in text


def test_long_table_repeats_its_header_on_every_sheet(web: WebClient, db: Session,
                                                      make: Factory) -> None:
    secretaria = make.secretaria()
    names = [f"Institución Educativa Número {number:02d}" for number in range(1, 91)]
    for name in names:
        make.ruta(make.school(secretaria, name=name))
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    web.login(admin.email)

    pages, _ = pdf_text(web.client.get("/reportes/consolidado.pdf").data)

    header = ("Institución Zona Comuna o corregimiento Estado Días en el estado Último "
              "recordatorio Avance del seguimiento")
    with_rows = [page for page in pages if "Institución Educativa Número" in page]
    assert len(with_rows) >= 2
    for page in with_rows:
        assert header in page, page[:300]
    # Every school once in the table, whole, on one sheet.
    for name in names:
        assert sum(page.count(f"{name} Urbana") for page in pages) == 1, name


@pytest.mark.parametrize("query", [
    "zona=lunar", "comuna=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "horizonte=abc",
    "horizonte=99999999999999999999", "orden=nada&dir=arriba", "pagina=-4", "comuna=" + "x" * 500,
    "zona=rural&comuna=Comuna+1",
])
def test_pdf_of_odd_filters_is_a_pdf(web: WebClient, db: Session, make: Factory,
                                     query: str) -> None:
    """The printable page answers every odd filter (the PDF is that page, laid out by
    WeasyPrint); the PDF itself is made for the first two here and for every other case in
    the tests above, so the suite lays out fewer of them (each costs about a second)."""
    seeded = seed(db, make)
    web.login(seeded.admin.email)

    printable = web.client.get(f"/reportes/imprimir?{query}")
    assert printable.status_code == 200, query
    assert "Consolidado de la Secretaría" in printable.get_data(as_text=True)
    if query not in ("zona=lunar", "comuna=" + "x" * 500):
        return
    response = web.client.get(f"/reportes/consolidado.pdf?{query}")

    assert response.status_code == 200, query
    assert response.data.startswith(b"%PDF-")
    filename = response.headers["Content-Disposition"].removeprefix("attachment; filename=")
    assert re.fullmatch(r"consolidado-2024-2026(-[a-z0-9-]+)?\.pdf", filename), filename
    assert len(filename) <= 100
    _, text = pdf_text(response.data)
    assert "Página 1 de" in text


def test_pdf_of_a_horizon_that_does_not_exist_is_a_clear_404(
        web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)

    for url in ("/reportes/consolidado.pdf?horizonte=1999", "/reportes/imprimir?horizonte=1999"):
        response = web.client.get(url)
        assert response.status_code == 404, url
        assert "No hay un horizonte que empiece en ese año." in response.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.RECTOR, Role.EQUIPO])
def test_school_roles_may_not_print_the_consolidado(web: WebClient, db: Session, make: Factory,
                                                    role: Role) -> None:
    user = make.user(role)
    db.commit()
    web.login(user.email)
    for url in ("/reportes/imprimir", "/reportes/consolidado.pdf"):
        assert web.client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", [Role.REVISOR, Role.CONSULTA])
def test_secretaria_roles_get_the_pdf_of_their_own_secretaria(
        web: WebClient, db: Session, make: Factory, role: Role) -> None:
    seed(db, make)
    tolima = db.scalars(select(Secretaria).where(
        Secretaria.name == "Secretaría de Educación del Tolima")).one()
    user = make.user(role, secretaria=tolima)
    db.commit()
    web.login(user.email)

    response = web.client.get("/reportes/consolidado.pdf")

    _, text = pdf_text(response.data)
    assert "Secretaría de Educación del Tolima" in text
    assert other_school(db) in text
    for name in ALL:  # «Institución E» but not «Institución Educativa…»
        assert not re.search(rf"{name}\b", text), name


def test_anonymous_person_is_sent_to_sign_in(web: WebClient) -> None:
    response = web.client.get("/reportes/consolidado.pdf")
    assert response.status_code == 302
    assert "/ingresar" in response.headers["Location"]


# --- the printable page -------------------------------------------------------------------


def test_printable_page_has_no_forms_menus_or_pages_and_draws_its_charts_inline(
        web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)

    response = web.client.get("/reportes/imprimir?zona=urbana&orden=colegio&dir=desc")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = outline(html)
    assert [tag for tag in page.tags if tag.split(".")[0] in {"form", "nav", "input", "button",
                                                              "select"}] == []
    assert "pagination" not in html and "sort-link" not in html
    # The three charts drawn into the page (no request back to the server).
    assert len(page.images) == 3
    assert all(src.startswith("data:image/svg+xml;base64,") for src in page.images)
    # Every urbana school, in the order asked for, without links to their Rutas.
    assert page.rows == ["Institución G", "Institución E", "Institución D", "Institución B",
                         "Institución A"]
    assert "/rutas/" not in html
    assert "ordenadas por institución (descendente)" in html
    assert page.links["Volver al consolidado"] == "/reportes/?zona=urbana&orden=colegio&dir=desc"


def test_printable_table_above_the_limit_keeps_the_schools_needing_attention(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    everyone = outline(web.client.get("/reportes/imprimir").get_data(as_text=True)).rows
    assert everyone == ALL
    app.config["PRINT_MAX_SCHOOLS"] = 4

    html = web.client.get("/reportes/imprimir?orden=colegio&dir=desc").get_data(as_text=True)

    # Today A (autoevaluación in progress) and B (PMI owed) are overdue and stalled; the
    # others wait for the Secretaría, are closed or have no Ruta.
    assert outline(html).rows == ["Institución B", "Institución A"]
    assert "Instituciones que requieren atención: 2 de 7" in html
    assert ("Son 7 instituciones (el documento trae la tabla completa hasta 4, lo que se lee "
            "en una reunión): aquí solo las que requieren atención (PMI vencido o Ruta "
            "estancada), 2 de 2. Todas están en el Excel y en el CSV de instituciones") in html
    # The overdue and stalled lists are not printed twice: the table has them.
    assert html.count("2 Rutas: están en la tabla «Instituciones que requieren atención»") == 2

    # More schools needing attention than the limit: the first ones in the chosen order.
    app.config["PRINT_MAX_SCHOOLS"] = 1
    html = web.client.get("/reportes/imprimir?orden=colegio&dir=desc").get_data(as_text=True)
    assert outline(html).rows == ["Institución B"]
    assert "1 de 2, en el orden elegido." in html


def test_printable_table_says_its_order_for_every_sort(web: WebClient, db: Session,
                                                      make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    for key, label in SORT_LABELS.items():
        html = web.client.get(f"/reportes/imprimir?orden={key}&dir=asc").get_data(as_text=True)
        assert f"7 instituciones, ordenadas por {label} (ascendente)" in html, key
    assert SORT_LABELS.keys() == TABLE_SORTS.keys()


def test_reportes_page_links_to_the_printable_version_and_the_pdf_with_its_filters(
        web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)

    html = web.client.get("/reportes/?zona=urbana&orden=dias&dir=desc").get_data(as_text=True)

    page = outline(html)
    assert page.links["Versión para imprimir"] == (
        "/reportes/imprimir?zona=urbana&orden=dias&dir=desc")
    assert page.links["Descargar PDF"] == (
        "/reportes/consolidado.pdf?zona=urbana&orden=dias&dir=desc")
    # The page itself is the interactive one: filters, sortable headers, charts by URL.
    assert any(tag.startswith("form.filters-admin") for tag in page.tags)
    assert "sort-link" in html
    assert all(src.startswith("/reportes/graficos/") for src in page.images)


# --- the fetcher --------------------------------------------------------------------------


@pytest.fixture
def fetcher() -> StaticOnlyFetcher:
    return StaticOnlyFetcher(STATIC, origin=ORIGIN, static_path="/static/")


def test_fetcher_reads_static_files_from_disk(fetcher: StaticOnlyFetcher) -> None:
    stylesheet = (STATIC / "ruta.css").read_bytes()
    for url in (f"{ORIGIN}static/ruta.css?v=0123456789ab", (STATIC / "ruta.css").as_uri()):
        response = fetcher(url)
        assert response.read() == stylesheet, url
        assert response.content_type == "text/css"
    drawn = fetcher("data:image/svg+xml;base64,PHN2Zy8+")
    assert drawn.read() == b"<svg/>"


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "https://ruta.example/static/ruta.css",  # another scheme than the page's
    "http://otro.example/static/ruta.css",
    "http://ruta.example/reportes/consolidado.csv",
    "http://ruta.example/static/../ruta/config.py",
    "http://ruta.example/static/%2e%2e/pyproject.toml",
    "http://ruta.example/static/no-existe.css",
    "file:///etc/passwd",
    (PROJECT_ROOT / "pyproject.toml").as_uri(),
    (STATIC / ".." / "pyproject.toml").as_uri(),
    "ftp://ruta.example/static/ruta.css",
    "gopher://ruta.example/",
])
def test_fetcher_refuses_everything_else(fetcher: StaticOnlyFetcher, url: str) -> None:
    with pytest.raises(RefusedURL):
        fetcher(url)


def test_rendering_opens_no_connection_and_reads_no_file_outside_static(
        fetcher: StaticOnlyFetcher, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    secret = tmp_path / "secreto.css"
    secret.write_text("body { color: red }")
    html = f"""<!doctype html><html lang="es-CO"><head>
      <link rel="stylesheet" href="http://127.0.0.1:{port}/static/ruta.css">
      <link rel="stylesheet" href="{secret.as_uri()}">
      <link rel="stylesheet" href="/static/ruta.css"></head>
      <body><h1>Hola</h1><img src="http://127.0.0.1:{port}/imagen.png" alt="">
      <iframe src="http://127.0.0.1:{port}/"></iframe></body></html>"""
    try:
        pdf = html_to_pdf(html, base_url=f"{ORIGIN}reportes/imprimir", fetcher=fetcher)
        # A connection WeasyPrint had opened would be waiting here to be accepted.
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    _, text = pdf_text(pdf)
    assert text == "Hola"
