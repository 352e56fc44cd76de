"""Typed work survives in real Chromium: an ended session, a refused save on a phone, a closed
tab. Each test follows one person's path and runs axe-core on every page it touches."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from tests.browser.conftest import PHONE, Browsing, LiveServer, World
from tests.conftest import PASSWORD, Factory
from workflow.models import School, UserSession
from workflow.roles import Role

ADMIN_EMAIL = "administradora@prueba.co"
TYPED = {"Nombre": "Institución Educativa «Nuevo Combeima» & Anexas",
         "Comuna (zona urbana) o corregimiento (zona rural)": "Corregimiento Juntas"}


@pytest.fixture
def admin(world: World) -> str:
    with world.server.session() as session:
        Factory(session).user(Role.ADMINISTRADOR, email=ADMIN_EMAIL)
        session.commit()
    return ADMIN_EMAIL


def school_id(server: LiveServer, name: str) -> int:
    with server.session() as session:
        return session.query(School).filter_by(name=name).one().id


def stored_school(server: LiveServer, school: int) -> tuple[str, str, str]:
    with server.session() as session:
        row = session.get_one(School, school)
        return row.name, row.zona.value, row.locality


def end_every_session(server: LiveServer) -> None:
    with server.session() as session:
        session.execute(delete(UserSession))
        session.commit()


def field(page: Page, label: str) -> object:
    return page.get_by_label(f"{label} (obligatorio)", exact=True)


def type_school(page: Page) -> None:
    for label, value in TYPED.items():
        field(page, label).fill(value)  # type: ignore[attr-defined]
    field(page, "Zona").select_option("rural")  # type: ignore[attr-defined]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "sin-js"])
def test_ended_session_sign_in_again_saves_everything_typed(
        browsing: Browsing, world: World, admin: str, javascript: bool) -> None:
    school = school_id(world.server, world.school_name)
    page = browsing.new_page(javascript=javascript)
    browsing.login(page, admin)
    page.goto(f"/admin/instituciones/{school}/editar")
    type_school(page)
    end_every_session(world.server)  # the session ends while the form is open

    page.get_by_role("button", name="Guardar cambios").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Su sesión terminó: ingrese de nuevo para guardar lo que escribió")
    expect(page.get_by_label("Correo electrónico (obligatorio)")).to_have_value(admin)
    if javascript:  # axe-core itself needs script
        browsing.check_accessibility(page, status=401)
    assert stored_school(world.server, school)[0] == world.school_name
    page.get_by_label("Contraseña (obligatorio)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Ingresar y continuar").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Falta un paso: guarde lo que escribió")
    if javascript:
        browsing.check_accessibility(page)
    page.get_by_role("button", name="Guardar lo que escribió").click()

    expect(page.locator(".flash-success")).to_be_visible()
    assert stored_school(world.server, school) == (
        TYPED["Nombre"], "rural", TYPED["Comuna (zona urbana) o corregimiento (zona rural)"])
    if javascript:  # the draft was dropped once the save succeeded
        page.goto(f"/admin/instituciones/{school}/editar")
        expect(page.get_by_role("button", name="Recuperar lo que escribió")).to_have_count(0)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "sin-js"])
def test_refused_save_on_phone_lands_on_focused_summary(
        browsing: Browsing, world: World, admin: str, javascript: bool) -> None:
    page = browsing.new_page(PHONE, javascript=javascript)
    browsing.login(page, admin)
    page.goto("/admin/usuarios/nuevo")
    field(page, "Correo electrónico").fill("sin-arroba")
    page.get_by_role("button", name="Crear usuario").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    box = summary.bounding_box()
    assert box is not None and box["y"] >= 0
    assert box["y"] + 40 <= PHONE["height"], f"the summary starts at {box['y']} px"
    if javascript:
        expect(summary).to_be_focused()
        browsing.check_accessibility(page, status=422)

    link = summary.get_by_role("link").first
    target = link.get_attribute("href")
    assert target is not None and target.startswith("#")
    link.click()
    if javascript:
        expect(page.locator(target)).to_be_focused()
    expect(page.locator(target)).to_be_in_viewport()
    # What was typed is still there.
    expect(field(page, "Correo electrónico")).to_have_value("sin-arroba")


def test_phone_menu_folds_and_opens(browsing: Browsing, world: World, admin: str) -> None:
    page = browsing.new_page(PHONE)  # a <details>: no script involved
    browsing.login(page, admin)
    header = page.locator(".site-header").bounding_box()
    assert header is not None and header["height"] <= 90, header
    menu_link = page.get_by_role("link", name="Calendario")
    expect(menu_link).to_be_hidden()
    page.get_by_text("Menú", exact=True).click()
    expect(menu_link).to_be_visible()
    expect(page.get_by_role("button", name="Salir")).to_be_visible()
    browsing.check_accessibility(page)


def test_draft_survives_a_closed_tab_and_is_restored(
        browsing: Browsing, world: World, admin: str) -> None:
    school = school_id(world.server, world.school_name)
    page = browsing.new_page()
    browsing.login(page, admin)
    page.goto(f"/admin/instituciones/{school}/editar")
    type_school(page)
    page.wait_for_timeout(600)  # the script saves a moment after the last keystroke
    context = page.context
    page.close()

    again = context.new_page()
    again.goto(f"/admin/instituciones/{school}/editar")
    expect(field(again, "Nombre")).to_have_value(world.school_name)
    restore = again.get_by_role("button", name="Recuperar lo que escribió")
    expect(restore).to_be_visible()
    browsing.check_accessibility(again)
    restore.click()

    for label, value in TYPED.items():
        expect(field(again, label)).to_have_value(value)
    expect(field(again, "Zona")).to_have_value("rural")
    expect(restore).to_have_count(0)

    # Saved: the draft is dropped and the banner does not come back.
    again.get_by_role("button", name="Guardar cambios").click()
    expect(again.locator(".flash-success")).to_be_visible()
    again.goto(f"/admin/instituciones/{school}/editar")
    expect(again.get_by_role("button", name="Recuperar lo que escribió")).to_have_count(0)
    assert stored_school(world.server, school)[0] == TYPED["Nombre"]


def test_draft_is_not_kept_for_password_fields(
        browsing: Browsing, world: World, admin: str) -> None:
    page = browsing.new_page()
    browsing.login(page, admin)
    page.goto("/cuenta/contrasena")
    page.get_by_label("Contraseña actual (obligatorio)").fill("secreta-que-no-se-guarda")
    page.wait_for_timeout(600)
    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert "secreta-que-no-se-guarda" not in stored


def test_rector_identity_text_survives_an_ended_session(
        browsing: Browsing, world: World) -> None:
    from workflow.autoevaluacion.models import IdentityReview

    with world.server.session() as session:
        school = session.query(School).filter_by(name=world.school_name).one()
        make = Factory(session)
        ruta_id = make.ruta(school=school, catalog=make.catalog()).id
        session.commit()
    mision = ("Formar personas «críticas» & solidarias,\ncon énfasis ambiental en la cuenca "
              "del río Combeima.")
    notes = "Revisado con el consejo directivo el 12 de marzo.\n\nPendiente: visión 2030."
    page = browsing.new_page(PHONE)
    browsing.login(page, world.rector_email)
    page.goto(f"/rutas/{ruta_id}/autoevaluacion/identidad")
    page.locator("#mision").fill(mision)
    page.locator("#notes").fill(notes)
    end_every_session(world.server)

    page.get_by_role("button", name="Guardar la revisión").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Su sesión terminó: ingrese de nuevo para guardar lo que escribió")
    page.get_by_label("Contraseña (obligatorio)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Ingresar y continuar").click()
    page.get_by_role("button", name="Guardar lo que escribió").click()

    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("#mision")).to_have_value(mision)
    expect(page.locator("#notes")).to_have_value(notes)
    with world.server.session() as session:
        review = session.get_one(IdentityReview, ruta_id)
        # Browsers send a textarea's line breaks as CRLF, in the first post as in the re-post.
        assert (review.mision, review.notes) == (mision.replace("\n", "\r\n"),
                                                 notes.replace("\n", "\r\n"))
    browsing.check_accessibility(page)
