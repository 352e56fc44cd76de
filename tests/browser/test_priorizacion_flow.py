"""The autoevaluación's gates and the prioritisation, in a real Chromium on a 360 px phone.

A rector with a team too small, of one estamento, and a misión of one letter tries to send the
autoevaluación: the page says each thing that is missing, with a link to where it is fixed.
Fixed, it goes. While the PMI is formulated the rector prioritises the oportunidades: a
mistake (a 9) is refused with a message and the typed values stay; the sum is shown. Every
page visited is checked with axe-core while the Content-Security-Policy stays enforced.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Factory
from workflow.autoevaluacion.models import Estamento, IdentityReview, Priorizacion, TeamMember
from workflow.models import Ruta
from workflow.roles import Role
from workflow.states import State

from .conftest import PHONE, Browsing, LiveServer

pytestmark = pytest.mark.browser

RECTOR = "rector.priorizacion@prueba.co"
MISION = ("Formar niños, niñas y jóvenes críticos y solidarios, con una educación inclusiva "
          "que les permita construir su proyecto de vida.")


@dataclass
class Setting:
    ruta_id: int
    componentes: dict[str, int]  # code → id


@pytest.fixture
def setting(live_server: LiveServer) -> Setting:
    """A school whose autoevaluación is rated (every componente an oportunidad) and reviewed,
    but whose team has two docentes and whose misión, written long ago, is one letter."""
    with live_server.session() as session:
        make = Factory(session)
        ruta = make.ruta(school=make.school(name="Institución Educativa Niño Jesús de Praga"))
        make.completed_self_assessment(ruta, level=2)
        session.get_one(IdentityReview, ruta.id).mision = "m"
        for member in session.query(TeamMember).filter_by(ruta_id=ruta.id):
            if member.estamento is not Estamento.DOCENTE:
                session.delete(member)
        make.user(Role.RECTOR, school=ruta.school, email=RECTOR)
        session.commit()
        return Setting(ruta.id, {c.code: c.id for c in ruta.catalog.componentes})


def send(page: Page) -> None:
    page.get_by_role("button", name="Enviar la autoevaluación").click()


def test_rector_meets_the_gates_then_prioritises_during_the_pmi(
        browsing: Browsing, setting: Setting) -> None:
    ruta_url = f"/rutas/{setting.ruta_id}"
    rector = browsing.new_page(PHONE)
    browsing.login(rector, RECTOR)

    # The submission is refused: the misión, the team's size and its estamentos.
    rector.goto(ruta_url)
    send(rector)
    expect(rector.locator(".error-summary li")).to_have_text([
        "Revisión de la identidad institucional: falta escribir completa la misión (al menos "
        "20 caracteres y 3 palabras).",
        "El equipo de gestión tiene 2 integrantes y necesita al menos 4: agregue a los que "
        "faltan en la página del equipo (usted también cuenta si se agrega).",
        "El equipo de gestión representa un solo estamento (docente) y necesita al menos 2 "
        "estamentos distintos: agregue integrantes de otros estamentos (docentes, familias, "
        "estudiantes, administrativos, egresados, sector productivo)."])
    browsing.check_accessibility(rector, status=422)

    # The list on the Ruta page links each gap to where it is fixed.
    missing = rector.locator("#autoevaluacion-titulo ~ ul.missing a")
    expect(missing).to_have_count(3)
    missing.first.click()
    expect(rector).to_have_url(f"{browsing.server.url}{ruta_url}/autoevaluacion/identidad")
    browsing.check_accessibility(rector)
    # «m» again is refused, with what was typed kept.
    rector.get_by_label("Visión").fill("Ser en 2030 un referente de inclusión en Ibagué.")
    rector.get_by_role("button", name="Guardar la revisión").click()
    expect(rector.locator("#mision-error")).to_have_text(
        "La misión es muy corta: escríbala completa, con al menos 20 caracteres y 3 palabras.")
    expect(rector.get_by_label("Visión")).to_have_value(
        "Ser en 2030 un referente de inclusión en Ibagué.")
    expect(rector.get_by_label("Misión")).to_have_value("m")
    browsing.check_accessibility(rector, status=422)
    rector.get_by_label("Misión").fill(MISION)
    rector.get_by_role("button", name="Guardar la revisión").click()
    expect(rector.locator(".flashes .flash")).to_have_text(
        "Guardado: la revisión de la identidad institucional está completa.")

    # The team: two more people, one of them from the families.
    rector.goto(ruta_url)
    rector.locator("#autoevaluacion-titulo ~ ul.missing a").first.click()
    expect(rector).to_have_url(f"{browsing.server.url}{ruta_url}/autoevaluacion/equipo")
    expect(rector.locator("#equipo-falta li")).to_have_count(2)
    browsing.check_accessibility(rector)
    for name, email, estamento in (
            ("Luz Marina Yate", "familia.praga@prueba.co", "Padre o madre de familia"),
            ("Fredy Oyola", "docente.praga@prueba.co", "Docente")):
        rector.get_by_label("Nombre completo").fill(name)
        rector.get_by_label("Correo electrónico").fill(email)
        rector.get_by_label("Estamento que representa").select_option(label=estamento)
        rector.get_by_role("button", name="Agregar al equipo e invitar").click()
        expect(rector.locator(".flashes .flash")).to_contain_text(
            f"Listo: {name} hace parte del equipo de gestión.")
    expect(rector.locator("#equipo-requisito")).to_contain_text(
        "Hoy: 4 integrantes de 2 estamentos.")
    expect(rector.locator("#equipo-falta")).to_have_count(0)
    browsing.check_accessibility(rector)

    # Nothing is missing; prioritising is not asked for yet. Sent.
    rector.goto(ruta_url)
    expect(rector.locator("#autoevaluacion-titulo ~ p").nth(1)).to_have_text(
        "La autoevaluación está completa: el rector o la rectora ya puede enviarla.")
    send(rector)
    expect(rector.locator("#estado-titulo .badge")).to_have_text("Autoevaluación enviada")
    browsing.check_accessibility(rector)

    # Formulating the PMI: the Ruta page leads to the prioritisation.
    rector.get_by_role("link", name="Priorizar las oportunidades").click()
    expect(rector.get_by_role("heading", level=1)).to_have_text(
        "Fortalezas y oportunidades de mejoramiento")
    expect(rector.locator("#formula")).to_have_text(
        "Puntaje de esta Ruta: suma (urgencia + tendencia + impacto), de 3 a 15. Las "
        "oportunidades de mayor puntaje van primero.")
    expect(rector.locator("#cuantas")).to_contain_text(
        "las 3 oportunidades de mayor puntaje")
    expect(rector.get_by_text("Sin priorizar")).to_have_count(5)
    browsing.check_accessibility(rector)

    # A mistake: a 9. Refused, nothing saved, every typed value still there.
    first, second = setting.componentes["DIR.1.2"], setting.componentes["ACA.1.1"]
    for componente, values in ((first, ("9", "4", "3")), (second, ("2", "2", "1"))):
        for label, value in zip(("Urgencia", "Tendencia", "Impacto"), values, strict=True):
            code = next(c for c, i in setting.componentes.items() if i == componente)
            rector.get_by_label(f"{label} de {code}", exact=True).fill(value)
    rector.get_by_role("button", name="Guardar la priorización").click()
    expect(rector.locator(".error-summary li")).to_have_text([
        "«DIR.1.2»: la urgencia debe ser un número de 1 a 5."])
    expect(rector.locator(f"#urgencia-{first}")).to_have_value("9")
    expect(rector.locator(f"#urgencia-{first}")).to_have_attribute("aria-invalid", "true")
    expect(rector.locator(f"#impacto-{second}")).to_have_value("1")
    browsing.check_accessibility(rector, status=422)
    with browsing.server.session() as session:
        assert session.query(Priorizacion).count() == 0

    rector.locator(f"#urgencia-{first}").fill("5")
    rector.get_by_role("button", name="Guardar la priorización").click()
    expect(rector.locator(".flashes .flash")).to_have_text(
        "Guardado: 2 priorizaciones actualizadas.")
    rows = rector.locator("section[aria-labelledby='oportunidades-titulo'] tbody tr")
    expect(rows.nth(0).locator("td").first).to_have_text("1 (para el PMI)")
    expect(rows.nth(0).locator("th")).to_contain_text("DIR.1.2")
    expect(rows.nth(0).locator("td").last).to_have_text("12")
    expect(rows.nth(1).locator("td").last).to_have_text("5")
    expect(rows.nth(2).locator("td").first).to_have_text("Sin priorizar")
    expect(rector.locator("#estado-priorizacion")).to_contain_text(
        "2 de 5 oportunidades priorizadas.")
    # Nothing wider than the phone but the table's own scrolling region.
    assert rector.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browsing.check_accessibility(rector)
    with browsing.server.session() as session:
        ruta = session.get_one(Ruta, setting.ruta_id)
        assert ruta.state is State.AUTOEVALUACION_ENVIADA
        assert session.query(Priorizacion).count() == 2
