"""Signing in and out, temporary passwords and changing one's password, as a person sees it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, TEST_PASSWORDS, Factory, WebClient
from workflow.models import LoginFailure, Ruta, User, UserSession
from workflow.roles import Role
from workflow.states import State

WRONG = "El correo o la contraseña no son correctos."
NEW_PASSWORD = "tres palabras largas"



def sessions_of(db: Session, user: User) -> int:
    return db.scalar(select(func.count()).select_from(UserSession)
                     .where(UserSession.user_id == user.id)) or 0


def sign_in(web: WebClient, email: str, password: str = PASSWORD) -> tuple[int, str, str]:
    web.get("/ingresar")
    response = web.post("/ingresar", {"email": email, "password": password})
    return (response.status_code, response.headers.get("Location", ""),
            response.get_data(as_text=True))


# --- signing in -------------------------------------------------------------------------------


def test_login_success_welcomes_in_spanish(app: Flask, db: Session, make: Factory,
                                           web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    status, location, _ = sign_in(web, user.email)
    assert (status, location) == (302, "/revision/")
    page = web.get("/revision/").get_data(as_text=True)
    assert f"Bienvenido(a), {user.name}." in page
    assert sessions_of(db, user) == 1
    assert db.scalar(select(User.last_login_at)
                     .where(User.id == user.id)) is not None


@pytest.mark.parametrize(("role", "home"), [
    (Role.ADMINISTRADOR, "/admin/instituciones"),
    (Role.REVISOR, "/revision/"),
    (Role.CONSULTA, "/revision/"),
    (Role.RECTOR, "/escuela/"),
    (Role.EQUIPO, "/escuela/"),
])
def test_login_sends_each_role_home(role: Role, home: str, app: Flask, db: Session,
                                    make: Factory, web: WebClient) -> None:
    # Straight home in one redirect (each one is a round trip on a slow link); "/" agrees.
    user = make.user(role)
    db.commit()
    assert sign_in(web, user.email)[:2] == (302, home)
    response = web.get("/")
    assert (response.status_code, response.headers["Location"]) == (302, home)


def test_login_wrong_password_says_so_and_keeps_email(app: Flask, db: Session, make: Factory,
                                                      web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    status, _, page = sign_in(web, user.email, "no-es-la-clave")
    assert (status, WRONG in page, f'value="{user.email}"' in page) == (401, True, True)
    assert sessions_of(db, user) == 0
    assert db.scalars(select(LoginFailure.email)).all() == [user.email]
    response = web.get("/revision/")
    assert response.headers["Location"].startswith("/ingresar")


def test_login_unknown_email_gives_the_same_answer(app: Flask, db: Session,
                                                   web: WebClient) -> None:
    status, _, page = sign_in(web, "nadie@prueba.co", "no-es-la-clave")
    assert (status, WRONG in page) == (401, True)


def test_login_ignores_case_and_spaces_in_email(app: Flask, db: Session, make: Factory,
                                                web: WebClient) -> None:
    user = make.user(Role.REVISOR, email="laura.gomez@prueba.gov.co")
    db.commit()
    assert sign_in(web, "  Laura.GOMEZ@Prueba.Gov.CO ")[:2] == (302, "/revision/")
    assert web.get("/revision/").status_code == 200
    assert sessions_of(db, user) == 1


def test_login_refuses_inactive_user_with_right_password(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    user = make.user(Role.REVISOR, active=False)
    db.commit()
    status, _, page = sign_in(web, user.email)
    # The same words as a wrong password: nothing tells a guesser the account exists.
    assert (status, WRONG in page) == (401, True)
    assert sessions_of(db, user) == 0


def test_login_refuses_user_without_password(app: Flask, db: Session, make: Factory,
                                             web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    user.password_hash = None
    db.commit()
    status, _, page = sign_in(web, user.email, "")
    assert (status, WRONG in page) == (401, True)


def test_login_with_huge_input_is_refused_calmly(app: Flask, db: Session,
                                                 web: WebClient) -> None:
    status, _, page = sign_in(web, "a" * 5000 + "@prueba.co", "b" * 5000)
    assert (status, WRONG in page) == (401, True)
    assert [len(email) for email in db.scalars(select(LoginFailure.email))] == [254]


def test_login_page_for_signed_in_user_redirects(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    ruta = make.ruta(make.school(user.secretaria))
    db.commit()
    web.login(user.email)
    home = web.get("/ingresar")
    assert (home.status_code, home.headers["Location"]) == (302, "/revision/")
    onward = web.get("/ingresar", query_string={"next": f"/rutas/{ruta.id}"})
    assert (onward.status_code, onward.headers["Location"]) == (302, f"/rutas/{ruta.id}")


def test_index_sends_visitor_to_login(app: Flask, web: WebClient) -> None:
    response = web.get("/")
    assert (response.status_code, response.headers["Location"]) == (302, "/ingresar")
    page = web.get("/ingresar")
    assert page.status_code == 200
    assert ('<label for="email">Correo electrónico <span class="required">(obligatorio)</span>'
            '</label>') in page.get_data(as_text=True)


def test_protected_page_asks_to_sign_in(app: Flask, web: WebClient) -> None:
    response = web.get("/revision/")
    assert response.status_code == 302
    assert "Ingrese para continuar." in web.get("/ingresar").get_data(as_text=True)


def test_health_answers_without_sign_in(app: Flask, web: WebClient) -> None:
    response = web.get("/salud")
    # No scheduler ever ran against this database: serving, but «degradado».
    assert (response.status_code, response.get_json()) == (200, {
        "estado": "degradado", "base_de_datos": {"estado": "ok"},
        "almacenamiento": {"estado": "ok"}, "programador": {"estado": "nunca ha corrido"}})


# --- signing out ------------------------------------------------------------------------------


def test_logout_says_goodbye_in_spanish(app: Flask, db: Session, make: Factory,
                                        web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    response = web.post("/salir")
    assert (response.status_code, response.headers["Location"]) == (302, "/ingresar")
    assert "Cerró su sesión." in web.get("/ingresar").get_data(as_text=True)
    assert sessions_of(db, user) == 0


def test_logout_by_get_is_refused(app: Flask, db: Session, make: Factory,
                                  web: WebClient) -> None:
    # A link (or an image on another site) must not sign anyone out: only the form does.
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    response = web.get("/salir")
    assert response.status_code == 405
    assert "Esa acción no se hace así" in response.get_data(as_text=True)
    assert web.get("/revision/").status_code == 200


# --- temporary passwords ----------------------------------------------------------------------


@pytest.fixture
def temporary(db: Session, make: Factory) -> User:
    """A rector whose password an administrator chose."""
    user = make.user(Role.RECTOR)
    user.must_change_password = True
    make.ruta(user.school, State.AUTOEVALUACION_ENVIADA)
    db.commit()
    return user


def test_temporary_password_sends_user_to_change_it(app: Flask, db: Session, temporary: User,
                                                    web: WebClient) -> None:
    assert sign_in(web, temporary.email)[:2] == (302, "/cuenta/contrasena")
    ruta_id = db.scalar(select(Ruta.id).where(Ruta.school_id == temporary.school_id))
    answers = [web.get(url) for url in ("/", "/escuela/", f"/rutas/{ruta_id}", "/ingresar")]
    assert [(response.status_code, response.headers["Location"]) for response in answers] == [
        (302, "/cuenta/contrasena")] * 4
    page = web.get("/cuenta/contrasena")
    assert page.status_code == 200
    assert "Su contraseña es temporal: elija una propia para continuar." in page.get_data(
        as_text=True)


def test_temporary_password_blocks_actions_too(app: Flask, db: Session, temporary: User,
                                               web: WebClient) -> None:
    sign_in(web, temporary.email)
    web.get("/cuenta/contrasena")  # a form: the token
    ruta = db.scalars(select(Ruta).where(Ruta.school_id == temporary.school_id)).one()
    response = web.post(f"/rutas/{ruta.id}/acciones/formular_pmi",
                        {"version": str(ruta.version)})
    assert (response.status_code, response.headers["Location"]) == (302, "/cuenta/contrasena")
    assert db.scalar(select(Ruta.state).where(Ruta.id == ruta.id)) is State.AUTOEVALUACION_ENVIADA


def test_temporary_password_allows_logout(app: Flask, db: Session, temporary: User,
                                          web: WebClient) -> None:
    sign_in(web, temporary.email)
    web.get("/cuenta/contrasena")
    response = web.post("/salir")
    assert (response.status_code, response.headers["Location"]) == (302, "/ingresar")


def test_temporary_password_replaced_opens_the_app(app: Flask, db: Session, temporary: User,
                                                   web: WebClient) -> None:
    sign_in(web, temporary.email)
    web.get("/cuenta/contrasena")
    response = web.post("/cuenta/contrasena", {"current": PASSWORD, "new": NEW_PASSWORD,
                                               "confirm": NEW_PASSWORD})
    ruta_id = db.scalar(select(Ruta.id).where(Ruta.school_id == temporary.school_id))
    assert (response.status_code, response.headers["Location"]) == (302, f"/rutas/{ruta_id}")
    assert web.get(f"/rutas/{ruta_id}").status_code == 200
    assert db.scalar(select(User.must_change_password)
                     .where(User.id == temporary.id)) is False


# --- changing one's password ------------------------------------------------------------------


@pytest.fixture
def signed_in_revisor(db: Session, make: Factory,
                      web_factory: Callable[[], WebClient]) -> tuple[User, WebClient]:
    user = make.user(Role.REVISOR, email="marta.rios@prueba.gov.co")
    db.commit()
    web = web_factory()
    web.login(user.email)
    return user, web


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"current": "no-es-la-clave", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
     "current", "La contraseña actual no es correcta."),
    ({"current": PASSWORD, "new": "corta", "confirm": "corta"},
     "new", "La contraseña debe tener al menos 10 caracteres."),
    ({"current": PASSWORD, "new": "x" * 150 + "y" * 51 + "zw", "confirm": ""},
     "new", "La contraseña no puede tener más de 200 caracteres."),
    ({"current": PASSWORD, "new": "marta.rios-2024!", "confirm": "marta.rios-2024!"},
     "new", "La contraseña no puede contener su usuario de correo."),
    ({"current": PASSWORD, "new": "abababababab", "confirm": "abababababab"},
     "new", "La contraseña es demasiado repetitiva."),
    ({"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD + "."},
     "confirm", "La confirmación no coincide con la nueva contraseña."),
    ({"current": PASSWORD, "new": PASSWORD, "confirm": PASSWORD},
     "new", "La nueva contraseña debe ser distinta de la actual."),
    ({}, "current", "La contraseña actual no es correcta."),
])
def test_password_change_refuses_bad_input_in_spanish(
        form: dict[str, str], field: str, message: str, app: Flask, db: Session,
        signed_in_revisor: tuple[User, WebClient]) -> None:
    user, web = signed_in_revisor
    hash_before = db.scalar(select(User.password_hash).where(User.id == user.id))
    response = web.post("/cuenta/contrasena", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<ul class="field-errors" id="{field}-error">' in page
    assert message in page
    db.expire_all()
    assert db.scalar(select(User.password_hash).where(User.id == user.id)) == hash_before
    assert sessions_of(db, user) == 1
    assert web.get("/revision/").status_code == 200


def test_password_change_takes_effect(app: Flask, db: Session,
                                      signed_in_revisor: tuple[User, WebClient],
                                      web_factory: Callable[[], WebClient]) -> None:
    user, web = signed_in_revisor
    response = web.post("/cuenta/contrasena", {"current": PASSWORD, "new": NEW_PASSWORD,
                                               "confirm": NEW_PASSWORD})
    assert (response.status_code, response.headers["Location"]) == (302, "/revision/")
    assert ("Cambió su contraseña. Las demás sesiones abiertas con su cuenta se cerraron."
            in web.get("/revision/").get_data(as_text=True))
    assert sign_in(web_factory(), user.email, PASSWORD)[0] == 401
    assert sign_in(web_factory(), user.email, NEW_PASSWORD)[:2] == (302, "/revision/")
    assert db.scalar(select(User.password_changed_at).where(User.id == user.id)) is not None


def test_the_current_password_cannot_be_guessed_without_limit(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    """E23: a stolen session guessing the current password on «Cambiar contraseña» is
    stopped like a sign-in is: after the account's limit, even the right one waits."""
    user = make.user(Role.REVISOR)
    db.commit()
    web.login(user.email)
    web.get("/cuenta/contrasena")
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    change = {"new": "una frase nueva y larga", "confirm": "una frase nueva y larga"}

    wrong = [web.post("/cuenta/contrasena", {**change, "current": f"intento-{number}"})
             for number in range(limit)]
    right = web.post("/cuenta/contrasena", {**change, "current": PASSWORD})

    assert {response.status_code for response in wrong} == {422}
    assert "La contraseña actual no es correcta." in wrong[0].get_data(as_text=True)
    assert right.status_code == 429
    assert "Demasiados intentos fallidos" in right.get_data(as_text=True)
    db.expire_all()
    refreshed = db.get(User, user.id)
    assert refreshed is not None
    assert TEST_PASSWORDS.verify(refreshed.password_hash, PASSWORD)
    assert db.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.email == user.email)) == limit
