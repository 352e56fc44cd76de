"""Administración of users through the web: list, create, edit, deactivate, passwords."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, TEST_PASSWORDS, Factory, WebClient
from workflow.models import User, UserSession
from workflow.roles import Role

TEMPORARY = "temporal-de-la-secretaria"


def signed_in(web: WebClient, make: Factory, role: Role = Role.ADMINISTRADOR, **kwargs: Any,
              ) -> User:
    user = make.user(role, **kwargs)
    make.db.commit()
    web.login(user.email)
    return user


def user_row(user: User) -> tuple[str, str, Role, int | None, bool]:
    return (user.email, user.name, user.role, user.school_id, user.active)


def user_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0


def row_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


# --- creating -----------------------------------------------------------------------------


def test_user_create_with_temporary_password_must_change_it(web: WebClient, db: Session,
                                                            make: Factory) -> None:
    admin = signed_in(web, make)
    school = make.school()
    db.commit()

    response = web.post("/admin/usuarios/nuevo", {
        "name": " Rosa Elena Díaz ", "email": " Rosa.Diaz@Colegio.edu.co ", "role": "rector",
        "school_id": str(school.id), "password": TEMPORARY})

    assert (response.status_code, response.headers["Location"]) == (302, "/admin/usuarios")
    user = db.scalars(select(User).where(User.id != admin.id)).one()
    assert user_row(user) == ("rosa.diaz@colegio.edu.co", "Rosa Elena Díaz", Role.RECTOR,
                              school.id, True)
    assert user.secretaria_id == admin.secretaria_id
    assert user.must_change_password is True
    assert TEST_PASSWORDS.verify(user.password_hash, TEMPORARY) is True
    listing = web.get("/admin/usuarios").get_data(as_text=True)
    assert ("Se creó la cuenta de Rosa Elena Díaz. Entréguele la contraseña temporal por un "
            "medio seguro: deberá cambiarla al ingresar.") in listing
    assert '<span class="meta">Contraseña temporal</span>' in listing


def test_user_created_with_temporary_password_is_sent_to_change_it(
        web: WebClient, web_factory: Any, db: Session, make: Factory) -> None:
    signed_in(web, make)
    web.post("/admin/usuarios/nuevo", {"name": "Revisor Nuevo", "email": "nuevo@ibague.gov.co",
                                       "role": "revisor", "password": TEMPORARY})
    person = web_factory()

    response = person.login("nuevo@ibague.gov.co", TEMPORARY)
    after = person.get("/revision/")

    assert response.status_code == 302
    assert (after.status_code, after.headers["Location"]) == (302, "/cuenta/contrasena")


def test_user_create_without_password_is_listed_as_sin_contrasena(
        web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)

    response = web.post("/admin/usuarios/nuevo", {
        "name": "Consulta Sin Clave", "email": "consulta@ibague.gov.co", "role": "consulta",
        "school_id": "", "password": ""})

    assert response.status_code == 302
    user = db.scalars(select(User).where(User.email == "consulta@ibague.gov.co")).one()
    assert (user.password_hash, user.must_change_password, user.school_id) == (None, False, None)
    listing = web.get("/admin/usuarios?q=sin+clave").get_data(as_text=True)
    assert row_names(listing) == ["Consulta Sin Clave"]
    assert '<span class="meta">Sin contraseña</span>' in listing


def test_user_create_with_bad_fields_answers_422_in_spanish_and_saves_nothing(
        web: WebClient, db: Session, make: Factory) -> None:
    admin = signed_in(web, make)

    response = web.post("/admin/usuarios/nuevo", {
        "name": "Persona Tecleada", "email": "no-es-correo", "role": "rector",
        "school_id": "", "password": TEMPORARY})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Escriba un correo electrónico válido, como nombre@dominio.gov.co." in html
    assert "Un usuario con rol «Rector(a)» necesita su institución." in html
    assert 'value="Persona Tecleada"' in html
    assert 'value="no-es-correo"' in html
    assert '<option value="rector" selected>' in html
    assert TEMPORARY not in html
    assert db.scalars(select(User.id)).all() == [admin.id]


def test_user_create_refuses_a_weak_temporary_password(web: WebClient, db: Session,
                                                       make: Factory) -> None:
    signed_in(web, make)
    response = web.post("/admin/usuarios/nuevo", {
        "name": "Persona", "email": "persona@ibague.gov.co", "role": "consulta",
        "password": "corta"})
    assert response.status_code == 422
    assert ("La contraseña debe tener al menos 10 caracteres."
            in response.get_data(as_text=True))
    assert user_count(db) == 1


def test_user_create_refuses_a_second_active_rector(web: WebClient, db: Session,
                                                    make: Factory) -> None:
    signed_in(web, make)
    rector = make.user(Role.RECTOR)
    db.commit()
    response = web.post("/admin/usuarios/nuevo", {
        "name": "Otra Rectora", "email": "otra@colegio.edu.co", "role": "rector",
        "school_id": str(rector.school_id)})
    assert response.status_code == 422
    assert (f"{rector.school.name} ya tiene rector(a) activo(a): {rector.name}. "
            "Desactívelo(a) primero.") in response.get_data(as_text=True)
    assert user_count(db) == 2


# --- editing ------------------------------------------------------------------------------


def test_user_edit_changes_name_email_role_and_school(web: WebClient, db: Session,
                                                      make: Factory) -> None:
    signed_in(web, make)
    member = make.user(Role.EQUIPO)
    other_school = make.school()
    db.commit()

    response = web.post(f"/admin/usuarios/{member.id}/editar", {
        "name": "Nombre Corregido", "email": "corregido@colegio.edu.co", "role": "rector",
        "school_id": str(other_school.id)})

    assert response.status_code == 302
    db.refresh(member)
    assert user_row(member) == ("corregido@colegio.edu.co", "Nombre Corregido", Role.RECTOR,
                                other_school.id, True)


def test_user_edit_with_bad_fields_keeps_what_was_typed(web: WebClient, db: Session,
                                                        make: Factory) -> None:
    signed_in(web, make)
    taken = make.user(Role.REVISOR, email="ocupado@ibague.gov.co")
    member = make.user(Role.CONSULTA)
    db.commit()
    before = user_row(member)

    response = web.post(f"/admin/usuarios/{member.id}/editar", {
        "name": "", "email": "Ocupado@ibague.gov.co", "role": "jefe"})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in ["Ya existe un usuario con ese correo.", "Escriba el nombre completo.",
                    "Elija un rol de la lista."]:
        assert message in html
    assert 'value="Ocupado@ibague.gov.co"' in html
    db.refresh(member)
    assert user_row(member) == before
    assert taken.email == "ocupado@ibague.gov.co"


def test_admin_cannot_take_away_their_own_role(web: WebClient, db: Session,
                                               make: Factory) -> None:
    admin = signed_in(web, make)
    response = web.post(f"/admin/usuarios/{admin.id}/editar", {
        "name": admin.name, "email": admin.email, "role": "consulta"})
    assert response.status_code == 422
    assert ("No puede quitarse a sí mismo(a) el rol de administrador."
            in response.get_data(as_text=True))
    db.refresh(admin)
    assert admin.role is Role.ADMINISTRADOR


# --- deactivating and temporary passwords -------------------------------------------------


def test_user_deactivate_ends_sessions_then_reactivate(web: WebClient, web_factory: Any,
                                                       db: Session, make: Factory) -> None:
    signed_in(web, make)
    revisor = make.user(Role.REVISOR)
    db.commit()
    person = web_factory()
    person.login(revisor.email)
    assert person.get("/revision/").status_code == 200

    off = web.post(f"/admin/usuarios/{revisor.id}/desactivar", {"volver": "/admin/usuarios"})
    db.refresh(revisor)
    assert (off.status_code, revisor.active) == (302, False)
    assert person.get("/revision/").status_code == 302  # back to the sign-in page

    on = web.post(f"/admin/usuarios/{revisor.id}/reactivar")
    db.refresh(revisor)
    assert (on.status_code, on.headers["Location"], revisor.active) == (
        302, "/admin/usuarios", True)


def test_admin_cannot_deactivate_their_own_account(web: WebClient, db: Session,
                                                   make: Factory) -> None:
    admin = signed_in(web, make)
    response = web.post(f"/admin/usuarios/{admin.id}/desactivar")
    assert response.status_code == 422
    assert "No puede desactivar su propia cuenta." in response.get_data(as_text=True)
    db.refresh(admin)
    assert admin.active is True


def test_reactivating_a_second_rector_is_refused(web: WebClient, db: Session,
                                                 make: Factory) -> None:
    signed_in(web, make)
    old = make.user(Role.RECTOR, active=False)
    current = make.user(Role.RECTOR, school=old.school)
    db.commit()
    response = web.post(f"/admin/usuarios/{old.id}/reactivar")
    assert response.status_code == 422
    assert (f"La institución ya tiene rector(a) activo(a): {current.name}."
            in response.get_data(as_text=True))
    db.refresh(old)
    assert old.active is False


def test_set_temporary_password_replaces_it_and_ends_sessions(
        web: WebClient, web_factory: Any, db: Session, make: Factory) -> None:
    signed_in(web, make)
    rector = make.user(Role.RECTOR)
    db.commit()
    person = web_factory()
    person.login(rector.email)

    response = web.post(f"/admin/usuarios/{rector.id}/contrasena", {"password": TEMPORARY})

    assert response.status_code == 302
    db.refresh(rector)
    assert rector.must_change_password is True
    assert TEST_PASSWORDS.verify(rector.password_hash, TEMPORARY) is True
    assert db.scalar(select(func.count()).select_from(UserSession)
                     .where(UserSession.user_id == rector.id)) == 0
    assert person.get("/escuela/").headers["Location"].startswith("/ingresar")


def test_set_temporary_password_refuses_a_weak_one(web: WebClient, db: Session,
                                                   make: Factory) -> None:
    signed_in(web, make)
    rector = make.user(Role.RECTOR)
    db.commit()
    response = web.post(f"/admin/usuarios/{rector.id}/contrasena", {"password": "aaaaaaaaaaaa"})
    assert response.status_code == 422
    assert "La contraseña es demasiado repetitiva." in response.get_data(as_text=True)
    db.refresh(rector)
    assert (rector.must_change_password, TEST_PASSWORDS.verify(rector.password_hash, PASSWORD)
            ) == (False, True)


def test_set_temporary_password_is_not_for_ones_own_account(web: WebClient, db: Session,
                                                            make: Factory) -> None:
    admin = signed_in(web, make)
    response = web.post(f"/admin/usuarios/{admin.id}/contrasena", {"password": TEMPORARY})
    assert response.status_code == 422
    assert ("Para cambiar su propia contraseña use la página «Contraseña»."
            in response.get_data(as_text=True))
    db.refresh(admin)
    assert admin.must_change_password is False


# --- the list -----------------------------------------------------------------------------


def test_user_list_filters_by_role_state_and_search(web: WebClient, db: Session,
                                                    make: Factory) -> None:
    admin = signed_in(web, make)
    admin.name = "Ana Administradora"
    revisor = make.user(Role.REVISOR, email="beto@ibague.gov.co")
    revisor.name = "Beto Revisor"
    rector = make.user(Role.RECTOR)
    rector.name = "Carla Rectora"
    rector.active = False
    db.commit()

    def names(query: str) -> list[str]:
        return row_names(web.get(f"/admin/usuarios?{query}").get_data(as_text=True))

    assert names("") == ["Ana Administradora", "Beto Revisor", "Carla Rectora"]
    assert names("rol=revisor") == ["Beto Revisor"]
    assert names("q=BETO%40ibague") == ["Beto Revisor"]
    assert names("q=rectora") == ["Carla Rectora"]
    assert names("estado=inactivos") == ["Carla Rectora"]
    assert names("estado=activos&rol=rector") == []


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.REVISOR])
def test_user_list_is_read_only_for_consulta_and_revisor(web: WebClient, db: Session,
                                                         make: Factory, role: Role) -> None:
    viewer = signed_in(web, make, role)
    viewer.name = "Persona que Mira"
    db.commit()

    response = web.get("/admin/usuarios")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert row_names(html) == ["Persona que Mira"]
    assert re.findall(r'<form[^>]*method="post"[^>]*>', html) == [
        '<form class="logout" method="post" action="/salir">']
    assert "/editar" not in html
    assert "Crear usuario" not in html


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.REVISOR])
def test_user_posts_are_forbidden_to_consulta_and_revisor(web: WebClient, db: Session,
                                                          make: Factory, role: Role) -> None:
    signed_in(web, make, role)
    target = make.user(Role.RECTOR)
    db.commit()
    before = (user_row(target), target.password_hash)
    form = {"name": "X", "email": "x@y.co", "role": "administrador", "password": TEMPORARY}

    statuses = [web.post(url.format(id=target.id), form).status_code for url in [
        "/admin/usuarios/nuevo", "/admin/usuarios/{id}/editar",
        "/admin/usuarios/{id}/desactivar", "/admin/usuarios/{id}/reactivar",
        "/admin/usuarios/{id}/contrasena"]]
    pages = [web.get(url).status_code for url in [
        "/admin/usuarios/nuevo", f"/admin/usuarios/{target.id}/editar"]]

    assert statuses == [403] * 5
    assert pages == [403, 403]
    db.refresh(target)
    assert (user_row(target), target.password_hash) == before
    assert user_count(db) == 2


def test_user_of_another_secretaria_is_not_found(web: WebClient, db: Session,
                                                 make: Factory) -> None:
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    signed_in(web, make, secretaria=tolima)
    other = make.user(Role.REVISOR, secretaria=make.secretaria())
    db.commit()
    before = (user_row(other), other.password_hash)

    answers = [
        web.get(f"/admin/usuarios/{other.id}/editar").status_code,
        web.post(f"/admin/usuarios/{other.id}/editar",
                 {"name": "X", "email": "x@y.co", "role": "revisor"}).status_code,
        web.post(f"/admin/usuarios/{other.id}/desactivar").status_code,
        web.post(f"/admin/usuarios/{other.id}/reactivar").status_code,
        web.post(f"/admin/usuarios/{other.id}/contrasena", {"password": TEMPORARY}).status_code,
    ]

    assert answers == [404] * 5
    db.refresh(other)
    assert (user_row(other), other.password_hash) == before


def test_user_form_offers_only_schools_of_the_own_secretaria(web: WebClient, db: Session,
                                                             make: Factory) -> None:
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    signed_in(web, make, secretaria=tolima)
    own = make.school(secretaria=tolima, name="Colegio del Tolima")
    foreign = make.school(secretaria=make.secretaria(), name="Colegio de Ibagué")
    db.commit()

    html = web.get("/admin/usuarios/nuevo").get_data(as_text=True)
    refused = web.post("/admin/usuarios/nuevo", {
        "name": "Rector Ajeno", "email": "ajeno@colegio.edu.co", "role": "rector",
        "school_id": str(foreign.id)})

    assert f'<option value="{own.id}">' in html
    assert f'value="{foreign.id}"' not in html
    assert refused.status_code == 422
    assert user_count(db) == 1
