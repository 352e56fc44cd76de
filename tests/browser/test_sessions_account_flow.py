"""«Cuenta» in real Chromium: a person signed in on two browsers sees both sessions, closes the
other one, and that browser is sent to sign in; later this browser's session times out on the
server while a form is open, and what was typed is saved after signing in again."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import update

from tests.browser.conftest import Browsing, World
from tests.browser.test_session_flow import TYPED, admin, school_id, stored_school, type_school
from tests.conftest import PASSWORD
from workflow.models import UserSession, utcnow

__all__ = ["admin"]  # the fixture, imported for pytest


def test_close_the_other_session_then_idle_timeout_keeps_typed_work(
        browsing: Browsing, world: World, admin: str) -> None:
    office = browsing.new_page()
    home = browsing.new_page()
    browsing.login(office, admin)
    browsing.login(home, admin)

    office.get_by_role("link", name="Cuenta").click()
    expect(office.get_by_role("heading", level=1)).to_have_text("Cuenta")
    rows = office.locator("#sesiones tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("(este navegador)")
    browsing.check_accessibility(office)
    office.get_by_role("button", name="Cerrar las demás sesiones").click()
    expect(office.locator(".flash-success")).to_have_text("Se cerró la otra sesión.")
    expect(rows).to_have_count(1)

    home.goto("/admin/usuarios")
    expect(home).to_have_url(re.compile(r"/ingresar\?next="))
    expect(home.get_by_role("button", name="Ingresar")).to_be_visible()

    # The office browser keeps working, until it sits idle past the limit with a form open.
    school = school_id(world.server, world.school_name)
    office.goto(f"/admin/instituciones/{school}/editar")
    type_school(office)
    with world.server.session() as session:
        session.execute(update(UserSession).values(
            last_seen_at=utcnow() - timedelta(minutes=world.server.app.config[
                "SESSION_IDLE_MINUTES"] + 5)))
        session.commit()
    office.get_by_role("button", name="Guardar cambios").click()
    expect(office.get_by_role("heading", level=1)).to_have_text(
        "Su sesión terminó: ingrese de nuevo para guardar lo que escribió")
    office.get_by_label("Contraseña (obligatorio)", exact=True).fill(PASSWORD)
    office.get_by_role("button", name="Ingresar y continuar").click()
    office.get_by_role("button", name="Guardar lo que escribió").click()
    expect(office.locator(".flash-success")).to_be_visible()
    assert stored_school(world.server, school)[0] == TYPED["Nombre"]
