"""Two-step verification as a person meets it through the web: the code page after the
password, the enrolment a required role cannot skip, the account page, the administrador's
reset, and a form interrupted by an ended session that survives the code page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ruta import create_app
from ruta.two_step import PENDING_KEY
from tests.conftest import CSRF_PATTERN, PASSWORD, Factory, WebClient, app_config
from tests.web.test_session_resume import TYPED, carried, hidden_fields, school_name
from workflow.cuentas import mfa
from workflow.cuentas.models import MfaEnrolment, SecurityEvent
from workflow.models import School, User, UserSession
from workflow.roles import Role

CODE_PAGE = "Código de verificación"
WRONG_CODE = "El código no es correcto o ya se usó."
SECRET_TEXT = re.compile(r'<code class="totp-secret"[^>]*>([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>")


def box(app: Flask) -> mfa.SecretBox:
    return mfa.SecretBox([app.config["SECRET_KEY"]])


def enrol(app: Flask, db: Session, user: User) -> tuple[str, list[str]]:
    secret = mfa.begin_enrolment(db, user, box=box(app))
    codes = mfa.confirm_enrolment(
        db, user, pyotp.TOTP(secret).at(time.time() - 30), box=box(app), address="x",
        policy=mfa.ThrottlePolicy())
    db.commit()
    return secret, codes


def now_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def post_page(web: WebClient, url: str, data: dict[str, Any]) -> Any:
    """POST, then take the CSRF token of the page that came back (the session was
    replaced, so its token is the one that works now)."""
    response = web.post(url, data)
    found = CSRF_PATTERN.search(response.get_data(as_text=True))
    if found:
        web.token = found.group(1)
    return response


def sessions_of(db: Session, user: User) -> int:
    return db.scalar(select(func.count()).select_from(UserSession)
                     .where(UserSession.user_id == user.id)) or 0


@pytest.fixture
def strict_app(database_url: str) -> Iterator[Flask]:
    """The app with the production rule: administrador and revisor must use it."""
    application = create_app(app_config(
        database_url, MFA_REQUIRED_ROLES=frozenset({"administrador", "revisor"})))
    yield application
    application.extensions["ruta_db"].dispose()


def test_sign_in_asks_for_the_code_and_starts_the_session_only_after_it(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.RECTOR)
    secret, _ = enrol(app, db, user)
    web.get("/ingresar")

    asked = post_page(web, "/ingresar", {"email": user.email, "password": PASSWORD})

    assert (asked.status_code, CODE_PAGE in asked.get_data(as_text=True)) == (200, True)
    assert sessions_of(db, user) == 0
    assert web.client.get("/escuela/").status_code == 302  # not signed in yet
    wrong = post_page(web, "/ingresar/verificacion", {"code": "99999"})
    assert (wrong.status_code, WRONG_CODE in wrong.get_data(as_text=True)) == (401, True)
    assert sessions_of(db, user) == 0

    right = post_page(web, "/ingresar/verificacion", {"code": now_code(secret)})

    assert (right.status_code, right.headers["Location"]) == (302, "/escuela/")
    assert sessions_of(db, user) == 1
    assert web.client.get("/escuela/").status_code == 200
    # The security log tells the two steps apart: the password with a code still to come,
    # the wrong code, the right one.
    db.expire_all()
    assert [(event.kind, event.outcome, event.detail) for event in db.scalars(
        select(SecurityEvent).where(SecurityEvent.user_id == user.id)
        .order_by(SecurityEvent.id))] == [
        ("mfa_ok", "ok", {"enrolled": True}),  # the enrolment's first code
        ("login_ok", "ok", {"second_step": "pending"}), ("mfa_failed", "failed", None),
        ("mfa_ok", "ok", None)]


def test_sign_in_with_a_recovery_code_says_how_many_are_left(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.CONSULTA)
    _, codes = enrol(app, db, user)
    web.get("/ingresar")
    post_page(web, "/ingresar", {"email": user.email, "password": PASSWORD})

    response = post_page(web, "/ingresar/verificacion", {"code": codes[0]})

    assert response.status_code == 302
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert "Ingresó con un código de recuperación, que ya no sirve más. Le quedan 9." in page


def test_code_page_after_five_minutes_sends_back_to_the_password(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.RECTOR)
    secret, _ = enrol(app, db, user)
    web.get("/ingresar")
    post_page(web, "/ingresar", {"email": user.email, "password": PASSWORD})
    with web.client.session_transaction() as cookie:
        cookie[PENDING_KEY] = {**cookie[PENDING_KEY], "at": int(time.time()) - 301}

    response = web.post("/ingresar/verificacion", {"code": now_code(secret)})

    assert (response.status_code, response.headers["Location"]) == (302, "/ingresar")
    assert "Pasaron más de 5 minutos" in web.get("/ingresar").get_data(as_text=True)
    assert sessions_of(db, user) == 0


def test_reset_between_the_two_steps_lets_the_password_stand_alone(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.RECTOR)
    enrol(app, db, user)
    web.get("/ingresar")
    post_page(web, "/ingresar", {"email": user.email, "password": PASSWORD})
    mfa.reset(db, user, actor=make.user(Role.ADMINISTRADOR))
    db.commit()

    response = web.post("/ingresar/verificacion", {"code": ""})

    assert (response.status_code, response.headers["Location"]) == (302, "/escuela/")
    assert sessions_of(db, user) == 1


def test_required_role_without_enrolment_goes_nowhere_but_enrolment(
        strict_app: Flask, database_url: str) -> None:
    database = strict_app.extensions["ruta_db"].session_factory()
    admin = Factory(database).user(Role.ADMINISTRADOR)
    database.commit()
    web = WebClient(strict_app.test_client())
    web.get("/ingresar")

    signed_in = post_page(web, "/ingresar", {"email": admin.email, "password": PASSWORD})

    assert signed_in.headers["Location"] == "/cuenta/verificacion/activar"
    assert web.client.get("/admin/usuarios").headers["Location"] == (
        "/cuenta/verificacion/activar")
    page = web.get("/cuenta/verificacion/activar").get_data(as_text=True)
    assert "<svg " in page and 'role="img"' in page
    secret = SECRET_TEXT.search(page).group(1).replace(" ", "")  # type: ignore[union-attr]
    refused = post_page(web, "/cuenta/verificacion/activar", {"code": "12345x"})
    assert (refused.status_code, WRONG_CODE in refused.get_data(as_text=True)) == (401, True)

    done = post_page(web, "/cuenta/verificacion/activar", {"code": now_code(secret)})

    assert len(RECOVERY.findall(done.get_data(as_text=True))) == 10
    assert web.client.get("/admin/usuarios").status_code == 200
    database.close()


def test_account_page_regenerates_codes_and_refuses_disabling_a_required_role(
        strict_app: Flask) -> None:
    database = strict_app.extensions["ruta_db"].session_factory()
    reviewer = Factory(database).user(Role.REVISOR)
    secret, old = enrol(strict_app, database, reviewer)
    web = WebClient(strict_app.test_client())
    web.get("/ingresar")
    post_page(web, "/ingresar", {"email": reviewer.email, "password": PASSWORD})
    post_page(web, "/ingresar/verificacion", {"code": old[0]})
    page = web.get("/cuenta/verificacion").get_data(as_text=True)
    assert "quedan <strong>9</strong>" in page and "Desactivar" not in page

    wrong = post_page(web, "/cuenta/verificacion/codigos", {"code": "000"})
    new = post_page(web, "/cuenta/verificacion/codigos", {"code": now_code(secret)})
    refused = web.post("/cuenta/verificacion/desactivar", {"code": now_code(secret)})

    assert (wrong.status_code, WRONG_CODE in wrong.get_data(as_text=True)) == (401, True)
    fresh = RECOVERY.findall(new.get_data(as_text=True))
    assert len(fresh) == 10 and set(fresh).isdisjoint(old)
    assert refused.status_code == 403
    assert "es obligatoria: no se puede desactivar" in refused.get_data(as_text=True)
    database.expire_all()
    assert mfa.is_enrolled(database, reviewer) is True
    database.close()


def test_admin_resets_a_users_two_step_after_confirming(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    rector = make.user(Role.RECTOR)
    enrol(app, db, rector)
    web.login(admin.email)
    edit = web.get(f"/admin/usuarios/{rector.id}/editar").get_data(as_text=True)
    assert f'href="/admin/usuarios/{rector.id}/verificacion"' in edit

    confirm = web.get(f"/admin/usuarios/{rector.id}/verificacion")
    assert "Sí, restablecer" in confirm.get_data(as_text=True)
    db.expire_all()
    assert mfa.is_enrolled(db, rector) is True  # the page alone changes nothing
    done = web.post(f"/admin/usuarios/{rector.id}/verificacion", {"confirmar": "1"})

    assert done.headers["Location"] == f"/admin/usuarios/{rector.id}/editar"
    db.expire_all()
    assert db.get(MfaEnrolment, rector.id) is None
    assert "Se restableció la verificación en dos pasos" in web.get(
        done.headers["Location"]).get_data(as_text=True)


def _interrupted_school_edit(web: WebClient, db: Session, make: Factory,
                             admin: User) -> tuple[School, str]:
    school = make.school(name="Nombre Viejo")
    db.commit()
    web.get(f"/admin/instituciones/{school.id}/editar")
    db.execute(delete(UserSession))
    db.commit()
    page = web.post(f"/admin/instituciones/{school.id}/editar", TYPED)
    assert page.status_code == 401
    return school, page.get_data(as_text=True)


def _send(web: WebClient, url: str, page: str, **extra: str) -> Any:
    form = {name: value for name, value in hidden_fields(page)}
    form.update(extra)
    return web.client.post(url, data=form)


def test_resumed_form_keeps_its_values_through_the_code_page(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    secret, _ = enrol(app, db, admin)
    web.get("/ingresar")
    post_page(web, "/ingresar", {"email": admin.email, "password": PASSWORD})
    post_page(web, "/ingresar/verificacion", {"code": now_code(secret)})
    school, page = _interrupted_school_edit(web, db, make, admin)

    asked = _send(web, "/sesion/reanudar", page, email=admin.email, password=PASSWORD)
    asked_page = asked.get_data(as_text=True)
    assert CODE_PAGE in asked_page and carried(asked_page) == TYPED
    assert sessions_of(db, admin) == 0
    wrong = _send(web, "/sesion/reanudar/verificacion", asked_page, code="111")
    wrong_page = wrong.get_data(as_text=True)
    assert (wrong.status_code, WRONG_CODE in wrong_page) == (401, True)
    assert carried(wrong_page) == TYPED

    repost = _send(web, "/sesion/reanudar/verificacion", wrong_page,
                   code=pyotp.TOTP(secret).at(time.time() + 30))

    repost_page = repost.get_data(as_text=True)
    assert "Guardar lo que escribió" in repost_page
    fields = dict(hidden_fields(repost_page))
    assert {name: fields[name] for name in TYPED} == TYPED
    assert web.client.post(f"/admin/instituciones/{school.id}/editar",
                           data=fields).status_code == 302
    assert school_name(db, school) == TYPED["name"]


def test_resumed_form_of_a_required_role_enrols_on_the_way_and_keeps_values(
        strict_app: Flask) -> None:
    database = strict_app.extensions["ruta_db"].session_factory()
    make = Factory(database)
    admin = make.user(Role.ADMINISTRADOR)
    enrolled_secret, _ = enrol(strict_app, database, admin)
    web = WebClient(strict_app.test_client())
    web.get("/ingresar")
    post_page(web, "/ingresar", {"email": admin.email, "password": PASSWORD})
    post_page(web, "/ingresar/verificacion", {"code": now_code(enrolled_secret)})
    school, page = _interrupted_school_edit(web, database, make, admin)
    # Meanwhile another administrador reset this one's phone.
    mfa.reset(database, admin, actor=make.user(Role.ADMINISTRADOR))
    database.commit()

    asked = _send(web, "/sesion/reanudar", page, email=admin.email, password=PASSWORD)
    asked_page = asked.get_data(as_text=True)
    assert "<svg " in asked_page and carried(asked_page) == TYPED
    secret = SECRET_TEXT.search(asked_page).group(1).replace(" ", "")  # type: ignore[union-attr]

    repost = _send(web, "/sesion/reanudar/verificacion", asked_page, code=now_code(secret))

    repost_page = repost.get_data(as_text=True)
    assert len(RECOVERY.findall(repost_page)) == 10
    fields = dict(hidden_fields(repost_page))
    assert web.client.post(f"/admin/instituciones/{school.id}/editar",
                           data=fields).status_code == 302
    assert school_name(database, school) == TYPED["name"]
    database.close()
