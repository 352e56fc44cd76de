"""A form sent after its session ended keeps what the person typed (ruta.resume,
blueprints/sesion.py): sign in again on the page, then «Guardar lo que escribió»."""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Flask
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ruta import resume
from tests.conftest import PASSWORD, Factory, WebClient
from workflow.models import School, User, UserSession
from workflow.roles import Role

TYPED = {"dane_code": "273001000777", "name": "Nombre «tecleado» & largo", "zona": "rural",
         "locality": "Corregimiento Juntas"}
SIGN_IN_AGAIN = "Su sesión terminó: ingrese de nuevo para guardar lo que escribió"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(name), html.unescape(value)) for name, value in HIDDEN.findall(page)]


def carried(page: str) -> dict[str, str]:
    return {name.removeprefix(resume.CARRY_PREFIX): value
            for name, value in hidden_fields(page) if name.startswith(resume.CARRY_PREFIX)}


def admin_with_form_open(web: WebClient, db: Session, make: Factory) -> tuple[User, School]:
    """An administrador signed in, with the edit form of a school open (its token in hand)."""
    admin = make.user(Role.ADMINISTRADOR)
    school = make.school(name="Nombre Viejo")
    db.commit()
    web.login(admin.email)
    web.get(f"/admin/instituciones/{school.id}/editar")
    return admin, school


def end_sessions(db: Session) -> None:
    db.execute(delete(UserSession))
    db.commit()


def school_name(db: Session, school: School) -> str:
    db.expire_all()
    return db.get(School, school.id).name  # type: ignore[union-attr]


def sign_in_again(web: WebClient, page: str, email: str, password: str = PASSWORD) -> Any:
    """Send the sign-in-again form as the browser would: its hidden fields and the password."""
    form = dict(hidden_fields(page))  # the carried values are single here
    form.update({"email": email, "password": password})
    return web.client.post("/sesion/reanudar", data=form)


def test_post_after_session_ended_shows_sign_in_again_with_values(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    _, school = admin_with_form_open(web, db, make)
    end_sessions(db)

    response = web.post(f"/admin/instituciones/{school.id}/editar", TYPED)

    page = response.get_data(as_text=True)
    assert (response.status_code, SIGN_IN_AGAIN in page) == (401, True)
    assert carried(page) == TYPED
    assert 'name="password"' in page and "data-no-draft" in page
    assert school_name(db, school) == "Nombre Viejo"


def test_sign_in_again_as_same_user_reposts_values_and_saves(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    admin, school = admin_with_form_open(web, db, make)
    end_sessions(db)
    page = web.post(f"/admin/instituciones/{school.id}/editar", TYPED).get_data(as_text=True)

    repost = sign_in_again(web, page, admin.email)

    repost_page = repost.get_data(as_text=True)
    assert repost.status_code == 200
    assert "Guardar lo que escribió" in repost_page
    assert f'action="/admin/instituciones/{school.id}/editar"' in repost_page
    fields = dict(hidden_fields(repost_page))
    assert {name: fields[name] for name in TYPED} == TYPED
    assert school_name(db, school) == "Nombre Viejo"  # nothing is sent without the button

    saved = web.client.post(f"/admin/instituciones/{school.id}/editar", data=fields)

    assert saved.status_code == 302
    assert school_name(db, school) == TYPED["name"]


def test_sign_in_again_with_wrong_password_keeps_values(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    admin, school = admin_with_form_open(web, db, make)
    end_sessions(db)
    page = web.post(f"/admin/instituciones/{school.id}/editar", TYPED).get_data(as_text=True)

    again = sign_in_again(web, page, admin.email, password="no-es-la-clave")

    again_page = again.get_data(as_text=True)
    assert (again.status_code, SIGN_IN_AGAIN in again_page) == (401, True)
    assert "El correo o la contraseña no son correctos." in again_page
    assert 'href="#password"' in again_page  # the error summary links to the field
    assert carried(again_page) == TYPED


def test_sign_in_again_as_another_user_does_not_submit_values(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    _, school = admin_with_form_open(web, db, make)
    other = make.user(Role.ADMINISTRADOR, email="otra@ruta.test")
    db.commit()
    end_sessions(db)
    page = web.post(f"/admin/instituciones/{school.id}/editar", TYPED).get_data(as_text=True)

    refused = sign_in_again(web, page, other.email)

    refused_page = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert "Ese formulario era de otra cuenta" in refused_page
    assert TYPED["locality"] not in refused_page
    assert f'action="/admin/instituciones/{school.id}/editar"' not in refused_page
    assert school_name(db, school) == "Nombre Viejo"


def test_csrf_failure_after_signing_out_elsewhere_shows_sign_in_again(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    admin, school = admin_with_form_open(web, db, make)
    stale_token = web.token
    web.post("/salir", {})  # another tab signs out: the session and its token are gone
    web.get("/ingresar")

    response = web.post(f"/admin/instituciones/{school.id}/editar",
                        {**TYPED, "csrf_token": stale_token})

    page = response.get_data(as_text=True)
    assert (response.status_code, SIGN_IN_AGAIN in page) == (401, True)
    assert carried(page) == TYPED
    repost = sign_in_again(web, page, admin.email)
    assert "Guardar lo que escribió" in repost.get_data(as_text=True)


def test_csrf_failure_after_signing_in_again_elsewhere_offers_repost(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    admin, school = admin_with_form_open(web, db, make)
    stale_token = web.token
    web.post("/salir", {})
    web.login(admin.email)  # the same person, a new session in another tab

    response = web.post(f"/admin/instituciones/{school.id}/editar",
                        {**TYPED, "csrf_token": stale_token})

    page = response.get_data(as_text=True)
    assert (response.status_code, "Guardar lo que escribió" in page) == (400, True)
    fields = dict(hidden_fields(page))
    assert web.client.post(f"/admin/instituciones/{school.id}/editar",
                           data=fields).status_code == 302
    assert school_name(db, school) == TYPED["name"]


def test_csrf_failure_with_another_users_token_is_refused(
        app: Flask, web: WebClient, web_factory: Any, db: Session, make: Factory) -> None:
    _, school = admin_with_form_open(web, db, make)
    intruder = make.user(Role.ADMINISTRADOR, email="intruso@ruta.test")
    db.commit()
    other_browser = web_factory()
    other_browser.login(intruder.email)
    # A post carrying the intruder's own (valid-looking) token into the admin's browser.
    response = web.post(f"/admin/instituciones/{school.id}/editar",
                        {**TYPED, "csrf_token": other_browser.token})

    assert response.status_code == 403
    assert TYPED["locality"] not in response.get_data(as_text=True)
    assert school_name(db, school) == "Nombre Viejo"


def test_visitor_post_without_signed_in_form_keeps_plain_answers(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    school = make.school()
    db.commit()
    web.get("/ingresar")  # a visitor's token names nobody: no typed work to carry

    with_token = web.post(f"/admin/instituciones/{school.id}/editar", TYPED)
    forged = web.post(f"/admin/instituciones/{school.id}/editar", TYPED, csrf=False)

    assert with_token.status_code == 302
    assert with_token.headers["Location"].startswith("/ingresar")
    assert forged.status_code == 400
    assert SIGN_IN_AGAIN not in forged.get_data(as_text=True)


def test_resume_refuses_unsafe_or_altered_original_url(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    admin, school = admin_with_form_open(web, db, make)
    end_sessions(db)
    page = web.post(f"/admin/instituciones/{school.id}/editar", TYPED).get_data(as_text=True)
    form = dict(hidden_fields(page))
    with app.test_request_context():
        unsafe = [resume.Interrupted(to=target, owner=admin.id, fields=[], files=[]).signed()
                  for target in ("//evil.example/x", "https://evil.example/x", "/\\evil")]
    altered = form[resume.RESUME_FIELD][:-3] + "xyz"

    answers = []
    for payload in (*unsafe, altered, ""):
        response = web.client.post("/sesion/reanudar", data={
            **form, resume.RESUME_FIELD: payload, "email": admin.email, "password": PASSWORD})
        answers.append((response.status_code,
                        "No pudimos continuar con ese formulario" in response.get_data(
                            as_text=True)))

    assert answers == [(400, True)] * 5
    assert school_name(db, school) == "Nombre Viejo"


def test_interrupted_post_with_file_says_it_cannot_be_carried(
        app: Flask, web: WebClient, db: Session, make: Factory) -> None:
    from io import BytesIO

    _, school = admin_with_form_open(web, db, make)
    end_sessions(db)

    response = web.post(f"/admin/instituciones/{school.id}/editar",
                        {**TYPED, "adjunto": (BytesIO(b"datos"), "acta.pdf")},
                        content_type="multipart/form-data")

    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Los archivos adjuntos no se pueden conservar" in page
    assert carried(page) == TYPED


def test_csrf_token_lives_as_long_as_the_session(app: Flask) -> None:
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None

