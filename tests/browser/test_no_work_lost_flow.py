"""The autoevaluación never loses work, in a real Chromium: a rector types levels and evidence,
chooses a PDF in the same form and saves once; a file over the limit is refused by name with
every typed value still there; two tabs on one área meet a 409 that shows both; a member
removed by mistake comes back with «Deshacer»; a double click on «Agregar» adds one member.
axe-core checks every page visited, also the área page at 360 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.conftest import Factory
from tests.evidencias.test_evidence import PDF_BYTES
from workflow.autoevaluacion.models import Estamento, TeamMember, Valoracion
from workflow.autoevaluacion.team import MemberData, add_member
from workflow.evidencias.models import EvidenceFile
from workflow.roles import Role

from .conftest import PHONE, Browsing, LiveServer

pytestmark = pytest.mark.browser

RECTOR = "rectora.trabajo@prueba.co"
TEACHER = "docente.trabajo@prueba.co"


@dataclass
class Setting:
    ruta_id: int
    componentes: dict[str, int]

    def area_url(self, code: str) -> str:
        return f"/rutas/{self.ruta_id}/autoevaluacion/areas/{code}"

    @property
    def team_url(self) -> str:
        return f"/rutas/{self.ruta_id}/autoevaluacion/equipo"


@pytest.fixture
def setting(live_server: LiveServer, tmp_path: Path) -> Setting:
    live_server.app.config["EVIDENCE_FOLDER"] = str(tmp_path / "evidencias")
    with live_server.session() as session:
        make = Factory(session)
        catalog = make.catalog()
        ruta = make.ruta(school=make.school(name="Institución Educativa Rural Laureles"),
                         catalog=catalog)
        rector = make.user(Role.RECTOR, school=ruta.school, email=RECTOR)
        make.user(Role.EQUIPO, school=ruta.school, email=TEACHER)
        academica = next(area for area in catalog.areas if area.code == "ACA")
        add_member(session, ruta, MemberData(
            name="Wilson Oyola", email=TEACHER, estamento="docente",
            area_ids=[str(academica.id)]), actor=rector, invite=False)
        make.add_team(ruta, (Estamento.DIRECTIVO, Estamento.PADRE_MADRE, Estamento.ESTUDIANTE))
        session.commit()
        return Setting(ruta.id, {c.code: c.id for c in catalog.componentes})


def componente(page: Page, setting: Setting, code: str):  # noqa: ANN201  (a Locator)
    return page.locator(f"#componente-{setting.componentes[code]}")


def rate(page: Page, setting: Setting, code: str, level: str, evidence: str) -> None:
    box = componente(page, setting, code)
    box.get_by_label(level).check()
    box.get_by_label("Evidencia", exact=True).fill(evidence)


def choose_file(page: Page, setting: Setting, code: str, name: str, content: bytes) -> None:
    page.locator(f"#archivo-{setting.componentes[code]}").set_input_files(
        {"name": name, "mimeType": "application/pdf", "buffer": content})


def test_rector_saves_levels_evidence_and_file_at_once_and_nothing_is_lost(
        browsing: Browsing, setting: Setting, live_server: LiveServer) -> None:
    rector = browsing.new_page()
    browsing.login(rector, RECTOR)
    rector.goto(setting.area_url("DIR"))
    browsing.check_accessibility(rector)

    # Levels and evidence typed, a PDF chosen for DIR.1.1 (no text): one «Guardar».
    rate(rector, setting, "DIR.1.1", "3 · Apropiación", "")
    rate(rector, setting, "DIR.1.2", "4 · Mejoramiento continuo", "Informe de gestión 2023.")
    choose_file(rector, setting, "DIR.1.1", "Acta del consejo.pdf", PDF_BYTES)
    rector.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()
    expect(rector.locator(".flashes .flash")).to_contain_text(
        "Guardado: «Direccionamiento estratégico». Se adjuntó «Acta del consejo.pdf».")
    box = componente(rector, setting, "DIR.1.1")
    expect(box.get_by_role("link", name="Acta del consejo.pdf")).to_be_visible()
    expect(box.locator(".missing-evidence")).to_have_count(0)
    expect(componente(rector, setting, "DIR.1.2").get_by_label("Evidencia", exact=True)
           ).to_have_value("Informe de gestión 2023.")
    browsing.check_accessibility(rector)

    # A file over the limit: refused by name, every typed value still on the page.
    live_server.app.config["EVIDENCE_MAX_BYTES"] = 2000
    rate(rector, setting, "DIR.2.1", "2 · Pertinencia", "Actas del consejo directivo.")
    componente(rector, setting, "DIR.2.1").get_by_label("Comentarios").fill("Falta el de 2024")
    choose_file(rector, setting, "DIR.2.1", "escaneo.pdf", PDF_BYTES + b"%" * 5000)
    rector.get_by_role("button", name="Guardar «Gobierno escolar»").click()
    summary = rector.locator("#resumen-errores")
    expect(summary).to_contain_text("DIR.2.1: no se adjuntó «escaneo.pdf». El archivo supera "
                                    "el límite")
    expect(summary).to_contain_text("Vuelva a elegir el archivo.")
    expect(summary).to_be_focused()
    box = componente(rector, setting, "DIR.2.1")
    expect(box.get_by_label("2 · Pertinencia")).to_be_checked()
    expect(box.get_by_label("Evidencia", exact=True)).to_have_value(
        "Actas del consejo directivo.")
    expect(box.get_by_label("Comentarios")).to_have_value("Falta el de 2024")
    browsing.check_accessibility(rector, status=413)
    # The link in the summary leads to the file input.
    summary.get_by_role("link").first.click()
    expect(rector.locator(f"#archivo-{setting.componentes['DIR.2.1']}")).to_be_focused()

    with live_server.session() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceFile)) == 1
        assert session.scalar(select(Valoracion.level).where(
            Valoracion.componente_id == setting.componentes["DIR.2.1"])) is None

    # Choosing a smaller file again saves everything.
    live_server.app.config["EVIDENCE_MAX_BYTES"] = 10 * 1024 * 1024
    choose_file(rector, setting, "DIR.2.1", "escaneo.pdf", PDF_BYTES)
    rector.get_by_role("button", name="Guardar «Gobierno escolar»").click()
    expect(rector.locator(".flashes .flash")).to_contain_text("Se adjuntó «escaneo.pdf».")
    expect(componente(rector, setting, "DIR.2.1").get_by_label("Comentarios")).to_have_value(
        "Falta el de 2024")


def test_two_tabs_on_one_area_meet_a_conflict_that_shows_both(
        browsing: Browsing, setting: Setting) -> None:
    first = browsing.new_page()
    browsing.login(first, RECTOR)
    second = first.context.new_page()
    for tab in (first, second):
        tab.goto(setting.area_url("DIR"))

    rate(first, setting, "DIR.1.1", "3 · Apropiación", "Acta 12 de la primera pestaña.")
    first.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()
    expect(first.locator(".flashes .flash")).to_contain_text("Guardado")

    rate(second, setting, "DIR.1.1", "2 · Pertinencia", "Lo de la segunda pestaña.")
    second.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()
    notice = second.locator(".conflict-notice")
    expect(notice).to_contain_text("Otra persona guardó cambios mientras usted editaba")
    box = componente(second, setting, "DIR.1.1")
    expect(box.get_by_label("2 · Pertinencia")).to_be_checked()
    expect(box.get_by_label("Evidencia", exact=True)).to_have_value("Lo de la segunda pestaña.")
    expect(box.locator(".saved-beside").first).to_contain_text("3 · Apropiación")
    expect(box.locator(".saved-beside").nth(1)).to_contain_text("Acta 12 de la primera pestaña.")
    browsing.check_accessibility(second, status=409)

    # The person merges and saves again: the form now carries the saved versions.
    box.get_by_label("Evidencia", exact=True).fill("Acta 12 y lo de la segunda pestaña.")
    second.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()
    expect(second.locator(".flashes .flash")).to_contain_text("Guardado")
    expect(componente(second, setting, "DIR.1.1").get_by_label("2 · Pertinencia")
           ).to_be_checked()


def test_rector_removes_a_member_confirms_and_undoes_then_adds_one_with_a_double_click(
        browsing: Browsing, setting: Setting, live_server: LiveServer) -> None:
    rector = browsing.new_page()
    browsing.login(rector, RECTOR)
    rector.goto(setting.team_url)
    browsing.check_accessibility(rector)

    rector.get_by_role("link", name="Quitar a Wilson Oyola del equipo").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "¿Quitar a Wilson Oyola del equipo?")
    expect(rector.get_by_text("Deja de tener asignadas el área: Gestión académica.")
           ).to_be_visible()
    # Wilson's equipo account is on no other team: leaving closes it (it reopens if he is
    # added again), and the page says so before anything happens.
    expect(rector.get_by_text("queda desactivada: ya no podrá ingresar")).to_be_visible()
    browsing.check_accessibility(rector)
    # «Cancelar» first: nothing changes.
    rector.get_by_role("link", name="Cancelar y volver al equipo").click()
    expect(rector.get_by_role("heading", name="Wilson Oyola")).to_be_visible()

    rector.get_by_role("link", name="Quitar a Wilson Oyola del equipo").click()
    rector.get_by_role("button", name="Sí, quitar a Wilson Oyola").click()
    expect(rector.locator(".flashes .flash")).to_contain_text(
        "Wilson Oyola ya no hace parte del equipo de gestión.")
    expect(rector.get_by_role("heading", name="Wilson Oyola", exact=True)).to_have_count(0)
    browsing.check_accessibility(rector)
    rector.get_by_role("button", name="Deshacer: volver a agregar a Wilson Oyola").click()
    expect(rector.locator(".flashes .flash")).to_contain_text(
        "Wilson Oyola volvió al equipo de gestión, con sus áreas (Gestión académica).")
    expect(rector.get_by_role("heading", name="Wilson Oyola")).to_be_visible()

    # A double click on «Agregar»: one member, one invitation.
    rector.get_by_label("Nombre completo").fill("Luz Dary Prada")
    rector.get_by_label("Correo electrónico").fill("luz.prada@prueba.co")
    rector.get_by_label("Estamento que representa").select_option("egresado")
    rector.get_by_role("button", name="Agregar al equipo e invitar").dblclick()
    expect(rector.locator(".flashes .flash")).to_contain_text("Luz Dary Prada")
    expect(rector.get_by_role("heading", name="Luz Dary Prada")).to_have_count(1)
    browsing.check_accessibility(rector)
    with live_server.session() as session:
        assert session.scalar(select(func.count()).select_from(TeamMember).where(
            TeamMember.email == "luz.prada@prueba.co")) == 1


def test_area_page_on_a_phone_keeps_typed_values_after_a_refusal(
        browsing: Browsing, setting: Setting) -> None:
    phone = browsing.new_page(PHONE)
    browsing.login(phone, RECTOR)
    phone.goto(setting.area_url("DIR"))
    browsing.check_accessibility(phone)
    rate(phone, setting, "DIR.1.1", "3 · Apropiación", "")
    choose_file(phone, setting, "DIR.1.1", "no-es-pdf.pdf", b"MZ" + b"\x00" * 64)
    phone.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()
    expect(phone.locator("#resumen-errores")).to_contain_text("no se adjuntó «no-es-pdf.pdf»")
    expect(componente(phone, setting, "DIR.1.1").get_by_label("3 · Apropiación")).to_be_checked()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    browsing.check_accessibility(phone, status=422)


def test_a_file_over_the_limit_is_stopped_in_the_browser_before_it_is_sent(
        browsing: Browsing, setting: Setting, live_server: LiveServer) -> None:
    live_server.app.config["EVIDENCE_MAX_BYTES"] = 2000
    rector = browsing.new_page(viewport=PHONE)
    browsing.login(rector, RECTOR)
    rector.goto(setting.area_url("DIR"))
    posts: list[str] = []
    rector.on("request", lambda request: posts.append(request.url)
              if request.method == "POST" else None)

    rate(rector, setting, "DIR.1.1", "3 · Apropiación", "Acta del consejo directivo.")
    choose_file(rector, setting, "DIR.1.1", "escaneo grande.pdf", PDF_BYTES + b"%" * 5000)
    rector.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()

    file_input = rector.locator(f"#archivo-{setting.componentes['DIR.1.1']}")
    note = rector.locator(f"#archivo-{setting.componentes['DIR.1.1']}-demasiado-grande")
    expect(note).to_have_text("«escaneo grande.pdf» pesa más de 0,0 MB: no se envió nada. Elija "
                              "un archivo más pequeño.")
    expect(file_input).to_be_focused()
    assert posts == []
    box = componente(rector, setting, "DIR.1.1")
    expect(box.get_by_label("3 · Apropiación")).to_be_checked()
    expect(box.get_by_label("Evidencia", exact=True)).to_have_value("Acta del consejo directivo.")
    browsing.check_accessibility(rector)

    # A file within the limit goes, with the values, in one submit.
    choose_file(rector, setting, "DIR.1.1", "acta.pdf", PDF_BYTES)
    rector.get_by_role("button", name="Guardar «Direccionamiento estratégico»").click()
    expect(rector.locator(".flashes .flash")).to_contain_text("Se adjuntó «acta.pdf».")
    expect(note).to_have_count(0)
    with live_server.session() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceFile)) == 1
