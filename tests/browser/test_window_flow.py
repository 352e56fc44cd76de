"""The autoevaluación window in a real Chromium: after the window closed, the rector sees why the
autoevaluación cannot be sent (the button says it, and a page left open from before is refused
by the server, keeping the comment), keeps editing; the administración extends the window for
this school (first without a reason: the message, the date kept), and the rector sends it.
Every page visited is checked with axe-core while the CSP stays enforced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import Factory
from workflow.autoevaluacion.window import today_in_bogota
from workflow.dates import fecha
from workflow.horizontes.horizons import ensure_horizon
from workflow.models import Ruta, utcnow
from workflow.roles import Role
from workflow.states import State

from .conftest import Browsing, LiveServer

pytestmark = pytest.mark.browser

RECTOR = "rector.ventana@prueba.co"
ADMIN = "admin.ventana@prueba.co"
SCHOOL = "Institución Educativa Rural Toche"
REASON = "La sede de Toche estuvo sin conectividad durante un mes"


@dataclass
class Setting:
    ruta_id: int
    componente_id: int


@pytest.fixture
def setting(live_server: LiveServer) -> Setting:
    """A complete autoevaluación in borrador whose window (this year's horizon) closed ten
    days ago."""
    today = today_in_bogota()
    with live_server.session() as session:
        make = Factory(session)
        ruta = make.completed_self_assessment(make.ruta(school=make.school(name=SCHOOL)))
        ruta.horizon_start_year, ruta.horizon_end_year = today.year, today.year + 2
        ruta.created_at = utcnow() - timedelta(days=90)
        horizon = ensure_horizon(session, ruta.school.secretaria, today.year, today.year + 2,
                                 actor=None)
        horizon.self_assessment_opens = today - timedelta(days=60)
        horizon.self_assessment_closes = today - timedelta(days=10)
        horizon.pmi_deadline = today - timedelta(days=5)
        make.user(Role.RECTOR, school=ruta.school, email=RECTOR)
        make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria, email=ADMIN)
        componente = next(item for item in make.catalog().componentes if item.code == "ACA.1.2")
        session.commit()
        return Setting(ruta.id, componente.id)


def test_rector_outside_the_window_gets_a_prorroga_and_sends(
        browsing: Browsing, live_server: LiveServer, setting: Setting) -> None:
    today = today_in_bogota()
    closed = f"La ventana de la autoevaluación se cerró el {fecha(today - timedelta(days=10))}"
    ruta_url = f"/rutas/{setting.ruta_id}"

    # The rector sees why the autoevaluación cannot be sent, before trying.
    rector = browsing.new_page()
    browsing.login(rector, RECTOR)
    rector.goto(ruta_url)
    send = rector.get_by_role("button", name="Enviar la autoevaluación")
    expect(send).to_be_disabled()
    expect(rector.locator("#envio-cerrado")).to_contain_text(closed)
    expect(rector.locator("#envio-cerrado")).to_contain_text(
        "Pida a la Secretaría una prórroga.")
    browsing.check_accessibility(rector)

    # A page left open since before the closing still posts: the server refuses and says why,
    # keeping the comment the rector wrote.
    rector.get_by_text("Agregar un comentario (opcional)").click()
    rector.get_by_label("Comentario").fill("Enviada tras la reunión del consejo directivo.")
    send.evaluate("button => { button.disabled = false; }")
    send.click()
    expect(rector.locator("#resumen-errores")).to_contain_text(
        "Todavía no se puede «Enviar la autoevaluación».")
    expect(rector.locator("#resumen-errores")).to_contain_text(closed)
    expect(rector.get_by_label("Comentario")).to_have_value(
        "Enviada tras la reunión del consejo directivo.")
    browsing.check_accessibility(rector, status=422)

    # Nothing is lost: the autoevaluación is still edited and saved outside the window.
    rector.goto(f"{ruta_url}/autoevaluacion")
    expect(rector.locator("#ventana")).to_contain_text(closed)
    browsing.check_accessibility(rector)
    rector.goto(f"{ruta_url}/autoevaluacion/areas/ACA")
    componente = rector.locator(f"#componente-{setting.componente_id}")
    componente.get_by_label("4 · Mejoramiento continuo").check()
    rector.get_by_role("button", name="Guardar «Diseño pedagógico»").click()
    expect(rector.locator(".flashes .flash")).to_contain_text("Guardado: «Diseño pedagógico».")

    # The administración extends the window for this school; first without a reason.
    until = today + timedelta(days=15)
    admin = browsing.new_page()
    browsing.login(admin, ADMIN)
    admin.goto(ruta_url)
    expect(admin.get_by_role("heading", name="Prórrogas de la autoevaluación")).to_be_visible()
    browsing.check_accessibility(admin)
    admin.get_by_label("Puede enviar la autoevaluación hasta el").fill(until.isoformat())
    admin.get_by_role("button", name="Conceder la prórroga").click()
    expect(admin.locator("#resumen-errores")).to_contain_text(
        "Escriba en unas palabras por qué se concede la prórroga")
    expect(admin.get_by_label("Puede enviar la autoevaluación hasta el")).to_have_value(
        until.isoformat())
    browsing.check_accessibility(admin, status=422)
    admin.get_by_label("Motivo").fill(REASON)
    admin.get_by_role("button", name="Conceder la prórroga").click()
    expect(admin.locator(".flashes .flash")).to_have_text(
        f"Listo: {SCHOOL} puede enviar su autoevaluación hasta el {fecha(until)}. La prórroga "
        "quedó registrada con su motivo.")
    expect(admin.locator("#prorrogas-titulo + ol")).to_contain_text(f"Motivo: {REASON}")
    browsing.check_accessibility(admin)

    # The rector sees the prórroga and its reason, and sends.
    rector.goto(ruta_url)
    expect(rector.locator("#ventana")).to_contain_text(f"Motivo: «{REASON}»")
    send = rector.get_by_role("button", name="Enviar la autoevaluación")
    expect(send).to_be_enabled()
    browsing.check_accessibility(rector)
    send.click()
    expect(rector.locator(".flashes .flash")).to_contain_text(
        "Listo: envió la autoevaluación.")
    browsing.check_accessibility(rector)
    with live_server.session() as session:
        assert session.get_one(Ruta, setting.ruta_id).state is State.AUTOEVALUACION_ENVIADA
