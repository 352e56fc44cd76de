"""Two-step verification in real Chromium, with the production rule (administrador and
revisor must use it): an administrador signs in, is sent to enrol, scans the QR (the test
reads the secret shown beside it), keeps the recovery codes, then signs in with a code and
again with a recovery code. axe-core checks every page on the way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Browsing, LiveServer, serving
from tests.conftest import PASSWORD, Factory
from workflow.roles import Role

ADMIN_EMAIL = "administradora@prueba.co"


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The shared live server, with MFA_REQUIRED_ROLES at its production default."""
    with serving(sqlite_template, tmp_path,
                 MFA_REQUIRED_ROLES=frozenset({"administrador", "revisor"})) as server:
        yield server


def sign_out(page: Page) -> None:
    page.locator(".site-menu-wide").get_by_role("button", name="Salir").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ingresar")


def password_step(page: Page) -> None:
    page.get_by_label("Correo electrónico (obligatorio)", exact=True).fill(ADMIN_EMAIL)
    page.get_by_label("Contraseña (obligatorio)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Código de verificación")


def test_administrador_enrols_then_signs_in_with_a_code_and_a_recovery_code(
        browsing: Browsing, live_server: LiveServer) -> None:
    with live_server.session() as session:
        Factory(session).user(Role.ADMINISTRADOR, email=ADMIN_EMAIL)
        session.commit()
    page = browsing.new_page()

    browsing.login(page, ADMIN_EMAIL)

    expect(page).to_have_url(f"{live_server.url}/cuenta/verificacion/activar")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Activar la verificación en dos pasos")
    qr = page.locator(".qr-box > svg")
    expect(qr).to_have_count(1)  # drawn inline: no image fetched from anywhere
    expect(qr).to_have_attribute("role", "img")
    browsing.check_accessibility(page)
    page.goto("/admin/usuarios")  # nowhere else until enrolled
    expect(page).to_have_url(f"{live_server.url}/cuenta/verificacion/activar")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Código de 6 dígitos (obligatorio)", exact=True).fill(
        pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activar").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Códigos de recuperación")
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    browsing.check_accessibility(page)
    page.get_by_role("link", name="Ya los guardé: continuar").click()
    expect(page).to_have_url(f"{live_server.url}/admin/instituciones")
    sign_out(page)

    password_step(page)
    browsing.check_accessibility(page)
    # The enrolment spent this 30-second step's code: the next step's is accepted too.
    page.get_by_label("Código de 6 dígitos o código de recuperación (obligatorio)",
                      exact=True).fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verificar e ingresar").click()
    expect(page).to_have_url(f"{live_server.url}/admin/instituciones")
    sign_out(page)

    password_step(page)
    page.get_by_label("Código de 6 dígitos o código de recuperación (obligatorio)",
                      exact=True).fill(codes[0])
    page.get_by_role("button", name="Verificar e ingresar").click()
    expect(page).to_have_url(f"{live_server.url}/admin/instituciones")
    expect(page.get_by_text("Ingresó con un código de recuperación")).to_contain_text(
        "Le quedan 9.")
    browsing.check_accessibility(page)
