"""The autoevaluación in a real Chromium: a team member rates their área, the rector completes
the rest, the perfil chart appears, and the submission is refused until the last componente is
rated. Every page visited is checked with axe-core while the CSP stays enforced.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Factory
from workflow.autoevaluacion.models import Estamento
from workflow.autoevaluacion.team import MemberData, add_member
from workflow.charts import WIDTH as CHART_WIDTH
from workflow.models import Ruta
from workflow.roles import Role
from workflow.states import State

from .conftest import PHONE, Browsing, LiveServer

pytestmark = pytest.mark.browser

RECTOR = "rectora.auto@prueba.co"
TEACHER = "docente.auto@prueba.co"


@dataclass
class Setting:
    ruta_id: int
    componentes: dict[str, int]  # code → id
    procesos: dict[str, int]


@pytest.fixture
def setting(live_server: LiveServer) -> Setting:
    """A school in borrador with the small catalog; a teacher on the team for the académica."""
    with live_server.session() as session:
        make = Factory(session)
        catalog = make.catalog()
        ruta = make.ruta(school=make.school(name="Institución Educativa Rural Juntas"),
                         catalog=catalog)
        rector = make.user(Role.RECTOR, school=ruta.school, email=RECTOR)
        make.user(Role.EQUIPO, school=ruta.school, email=TEACHER)
        academica = next(area for area in catalog.areas if area.code == "ACA")
        add_member(session, ruta, MemberData(
            name="Wilson Oyola", email=TEACHER, estamento="docente",
            area_ids=[str(academica.id)]), actor=rector, invite=False)
        # The rest of the equipo de gestión, so that only the ratings keep it from being sent.
        make.add_team(ruta, (Estamento.DIRECTIVO, Estamento.PADRE_MADRE, Estamento.ESTUDIANTE))
        session.commit()
        return Setting(ruta.id, {c.code: c.id for c in catalog.componentes},
                       {p.code: p.id for a in catalog.areas for p in a.procesos})


def rate(page: Page, setting: Setting, code: str, level: str, evidence: str) -> None:
    componente = page.locator(f"#componente-{setting.componentes[code]}")
    componente.get_by_label(level).check()
    componente.get_by_label("Evidencia").fill(evidence)


def save(page: Page, proceso_name: str) -> None:
    page.get_by_role("button", name=f"Guardar «{proceso_name}»").click()
    expect(page.locator(".flashes .flash")).to_contain_text(f"Guardado: «{proceso_name}».")


def test_team_and_rector_complete_the_autoevaluacion_and_submit_it(
        browsing: Browsing, setting: Setting) -> None:
    ruta_url = f"/rutas/{setting.ruta_id}"

    # The teacher, on a phone, rates the área assigned to them.
    teacher = browsing.new_page(PHONE)
    browsing.login(teacher, TEACHER)
    teacher.goto(ruta_url)
    expect(teacher.locator("#autoevaluacion-avance")).to_have_attribute("value", "0")
    browsing.check_accessibility(teacher)
    teacher.get_by_role("link", name="Abrir la autoevaluación").click()
    expect(teacher.get_by_role("heading", level=1)).to_have_text(
        "Autoevaluación institucional")
    browsing.check_accessibility(teacher)
    teacher.get_by_role("link", name="Gestión académica", exact=True).first.click()
    expect(teacher.get_by_role("heading", level=1)).to_have_text("Gestión académica")
    browsing.check_accessibility(teacher)
    rate(teacher, setting, "ACA.1.1", "3 · Apropiación", "Plan de estudios aprobado (acta 4).")
    rate(teacher, setting, "ACA.1.2", "2 · Pertinencia", "")
    save(teacher, "Diseño pedagógico")
    expect(teacher.locator(".progress-text").first).to_have_text(
        "2 de 2 componentes valorados (100 %)")
    browsing.check_accessibility(teacher)
    # The directiva is not theirs: they read it, with no form to save.
    teacher.get_by_role("link", name="Gestión directiva", exact=True).click()
    expect(teacher.get_by_text("Usted puede consultar esta área.")).to_be_visible()
    expect(teacher.locator("form[action*='/procesos/']")).to_have_count(0)
    browsing.check_accessibility(teacher)

    # The rector reviews the identity and rates part of the directiva.
    rector = browsing.new_page()
    browsing.login(rector, RECTOR)
    rector.goto(f"{ruta_url}/autoevaluacion/identidad")
    browsing.check_accessibility(rector)
    rector.get_by_label("Misión").fill("Formar ciudadanos críticos y solidarios.")
    rector.get_by_label("Visión").fill("En 2030, referente rural del Tolima.")
    rector.get_by_label("Principios").fill("Respeto, responsabilidad y solidaridad.")
    rector.get_by_label("Referencia del PEI").fill("Acuerdo 02 de 2021 del Consejo Directivo")
    for legend in ("¿La misión sigue vigente?", "¿La visión sigue vigente?",
                   "¿Los principios siguen vigentes?"):
        rector.get_by_role("group", name=legend).get_by_label("Sigue vigente").check()
    rector.get_by_role("button", name="Guardar la revisión").click()
    expect(rector.locator(".flashes .flash")).to_have_text(
        "Guardado: la revisión de la identidad institucional está completa.")

    rector.goto(f"{ruta_url}/autoevaluacion/areas/DIR")
    rate(rector, setting, "DIR.1.1", "4 · Mejoramiento continuo", "PEI revisado cada año.")
    rate(rector, setting, "DIR.1.2", "1 · Existencia", "")
    save(rector, "Direccionamiento estratégico")
    browsing.check_accessibility(rector)

    # One componente is left: the submission is refused and says which, with a link.
    rector.goto(ruta_url)
    rector.get_by_role("button", name="Enviar la autoevaluación").click()
    expect(rector.locator(".error-summary li")).to_have_text([
        "Gestión directiva › Gobierno escolar: falta 1 de 1 componente por valorar (DIR.2.1)."])
    browsing.check_accessibility(rector, status=422)
    missing = rector.locator("#autoevaluacion-titulo ~ ul.missing a")
    expect(missing).to_have_text([
        "Gestión directiva › Gobierno escolar: falta 1 de 1 componente por valorar (DIR.2.1)."])

    # The link leads to the proceso; rated, the submission goes through.
    missing.click()
    expect(rector).to_have_url(
        f"{browsing.server.url}{ruta_url}/autoevaluacion/areas/DIR#proceso-"
        f"{setting.procesos['DIR.2']}")
    rate(rector, setting, "DIR.2.1", "3 · Apropiación", "Actas del consejo directivo 2024.")
    save(rector, "Gobierno escolar")

    # The perfil's chart is an image the server drew.
    rector.goto(f"{ruta_url}/autoevaluacion/perfil")
    chart = rector.get_by_role("img", name="Gráfica de barras del promedio por área de gestión")
    expect(chart).to_be_visible()
    assert chart.evaluate("image => image.complete && image.naturalWidth") == CHART_WIDTH
    expect(rector.locator("table").first.locator("tfoot td").last).to_have_text("2,6")
    browsing.check_accessibility(rector)
    rector.goto(f"{ruta_url}/autoevaluacion/fortalezas")
    expect(rector.get_by_role("heading", name="Oportunidades de mejoramiento (2)")).to_be_visible()
    browsing.check_accessibility(rector)
    rector.goto(f"{ruta_url}/autoevaluacion/imprimir")
    browsing.check_accessibility(rector)

    rector.goto(ruta_url)
    expect(rector.locator("#autoevaluacion-titulo ~ p").nth(1)).to_have_text(
        "La autoevaluación está completa: el rector o la rectora ya puede enviarla.")
    rector.get_by_role("button", name="Enviar la autoevaluación").click()
    expect(rector.locator("#estado-titulo .badge")).to_have_text("Autoevaluación enviada")
    browsing.check_accessibility(rector)
    with browsing.server.session() as session:
        assert session.get_one(Ruta, setting.ruta_id).state is State.AUTOEVALUACION_ENVIADA

    # Sent, the teacher's área is read-only.
    teacher.goto(f"{ruta_url}/autoevaluacion/areas/ACA")
    expect(teacher.get_by_text("La autoevaluación fue enviada: se puede consultar, "
                               "no modificar.")).to_be_visible()
    expect(teacher.locator("form[action*='/procesos/']")).to_have_count(0)
