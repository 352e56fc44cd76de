"""The bulk invitation in real Chromium: the list's button opens a confirmation page that says
how many accounts it will invite and that valid links are kept; confirming sends exactly those.
«Correo saliente» shows the message with its link hidden, and the person's link lands on a
form at an address without the token (E15). axe-core checks every page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import Browsing, World
from tests.conftest import Factory
from workflow.cuentas import invitations
from workflow.models import OutboxMessage
from workflow.roles import Role

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "administradora@prueba.co"


def queued(world: World) -> list[str]:
    with world.server.session() as session:
        return [message.recipients[0] for message in session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "invitacion")
            .order_by(OutboxMessage.id))]


def test_bulk_invitation_asks_first_and_keeps_valid_links(world: World,
                                                          browsing: Browsing) -> None:
    with world.server.session() as session:
        make = Factory(session)
        admin = make.user(Role.ADMINISTRADOR, email=ADMIN_EMAIL)
        waiting = make.user(Role.RECTOR, email="con.enlace@prueba.co")
        fresh = make.user(Role.RECTOR, email="sin.enlace@prueba.co")
        waiting.password_hash = fresh.password_hash = None
        session.flush()
        invitations.send_invitation(session, waiting, actor=admin)
        session.commit()
    page = browsing.new_page()
    browsing.login(page, ADMIN_EMAIL)
    page.goto("/admin/usuarios")
    page.get_by_role("button", name="Invitar a las cuentas sin contraseña").click()
    expect(page.get_by_role("heading", name="Invitar a las cuentas sin contraseña")
           ).to_be_visible()
    expect(page.locator("#por-invitar")).to_have_text("1 cuenta")
    expect(page.get_by_text("ya tiene un enlace que sigue vigente: se conserva")).to_be_visible()
    browsing.check_accessibility(page)
    assert queued(world) == ["con.enlace@prueba.co"]  # nothing sent before confirming
    page.get_by_role("button", name="Enviar 1 invitación").click()
    page.wait_for_url("**/admin/usuarios")
    expect(page.get_by_text("Se envió 1 invitación a cuentas sin contraseña")).to_be_visible()
    browsing.check_accessibility(page)
    assert queued(world) == ["con.enlace@prueba.co", "sin.enlace@prueba.co"]

    with world.server.session() as session:
        [message] = [found for found in session.scalars(select(OutboxMessage))
                     if found.recipients == ["sin.enlace@prueba.co"]]
        assert message.secret_link
        message_id, link = message.id, urlsplit(message.secret_link).path
    page.goto(f"/admin/correo/{message_id}")
    body = page.locator("pre.prewrap")
    expect(body).to_contain_text("«enlace personal (oculto)»")
    expect(body).not_to_contain_text("/invitacion/")

    person = browsing.new_page()
    person.goto(link)
    person.wait_for_url("**/invitacion")
    expect(person.get_by_role("heading", name="Activar su cuenta")).to_be_visible()
    browsing.check_accessibility(person)
    person.get_by_label("Contraseña (obligatorio)", exact=True).fill("Colombia2024")
    person.get_by_label("Repita la contraseña (obligatorio)", exact=True).fill("Colombia2024")
    person.get_by_role("button", name="Activar la cuenta").click()
    expect(person.locator("#new-error")).to_contain_text(
        "Esa contraseña es muy común o apareció en filtraciones; elija otra.")
    assert urlsplit(person.url).path == "/invitacion"
    person.get_by_label("Contraseña (obligatorio)", exact=True).fill("sauces del combeima")
    person.get_by_label("Repita la contraseña (obligatorio)", exact=True).fill(
        "sauces del combeima")
    person.get_by_role("button", name="Activar la cuenta").click()
    person.wait_for_url("**/ingresar")
    expect(person.get_by_text("Su cuenta quedó activa")).to_be_visible()
