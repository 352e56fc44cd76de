"""Administración of users through the web: list, create, edit, deactivate, invitations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, TEST_PASSWORDS, Factory, WebClient
from workflow.cuentas import invitations
from workflow.cuentas.models import AccountToken, TokenPurpose
from workflow.cuentas.tokens import LIFETIMES
from workflow.models import OutboxMessage, User, utcnow
from workflow.roles import Role


def signed_in(web: WebClient, make: Factory, role: Role = Role.ADMINISTRADOR, **kwargs: Any,
              ) -> User:
    user = make.user(role, **kwargs)
    make.db.commit()
    web.login(user.email)
    return user


def user_row(user: User) -> tuple[str, str, Role, int | None, bool]:
    return (user.email, user.name, user.role, user.school_id, user.active)


def invitations_queued(db: Session) -> list[OutboxMessage]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invitacion")
                           .order_by(OutboxMessage.id)).all())


def user_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0


def row_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


# --- creating -----------------------------------------------------------------------------


def test_user_create_sends_an_invitation_instead_of_a_password(web: WebClient, db: Session,
                                                               make: Factory) -> None:
    admin = signed_in(web, make)
    school = make.school()
    db.commit()

    response = web.post("/admin/usuarios/nuevo", {
        "name": " Rosa Elena Díaz ", "email": " Rosa.Diaz@Colegio.edu.co ", "role": "rector",
        "school_id": str(school.id)})

    assert (response.status_code, response.headers["Location"]) == (302, "/admin/usuarios")
    user = db.scalars(select(User).where(User.id != admin.id)).one()
    assert user_row(user) == ("rosa.diaz@colegio.edu.co", "Rosa Elena Díaz", Role.RECTOR,
                              school.id, True)
    assert user.secretaria_id == admin.secretaria_id
    assert (user.password_hash, user.must_change_password) == (None, False)
    assert [(message.kind, message.recipients) for message in invitations_queued(db)] == [
        ("invitacion", ["rosa.diaz@colegio.edu.co"])]
    listing = web.get("/admin/usuarios").get_data(as_text=True)
    assert ("Se creó la cuenta de Rosa Elena Díaz y se le envió una invitación a "
            "rosa.diaz@colegio.edu.co para que elija su contraseña.") in listing
    assert '<span class="meta">Sin contraseña (invitación pendiente)</span>' in listing


def test_invited_user_chooses_a_password_and_signs_in(
        web: WebClient, web_factory: Any, db: Session, make: Factory) -> None:
    signed_in(web, make)
    web.post("/admin/usuarios/nuevo", {"name": "Revisor Nuevo", "email": "nuevo@ibague.gov.co",
                                       "role": "revisor"})
    [message] = invitations_queued(db)
    link = re.search(r"/invitacion/[A-Za-z0-9_-]+", message.secret_link).group(0)
    person = web_factory()
    person.get(link, follow_redirects=True)
    assert person.post("/invitacion", {"new": "mi frase secreta",
                                       "confirm": "mi frase secreta"}).status_code == 302

    assert person.login("nuevo@ibague.gov.co", "mi frase secreta").status_code == 302
    assert person.get("/revision/").status_code == 200


def test_user_create_with_bad_fields_answers_422_in_spanish_and_saves_nothing(
        web: WebClient, db: Session, make: Factory) -> None:
    admin = signed_in(web, make)

    response = web.post("/admin/usuarios/nuevo", {
        "name": "Persona Tecleada", "email": "no-es-correo", "role": "rector",
        "school_id": ""})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Escriba un correo electrónico válido, como nombre@dominio.gov.co." in html
    assert "Un usuario con rol «Rector(a)» necesita su institución." in html
    assert 'value="Persona Tecleada"' in html
    assert 'value="no-es-correo"' in html
    assert '<option value="rector" selected>' in html
    assert db.scalars(select(User.id)).all() == [admin.id]
    assert invitations_queued(db) == []


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


def test_email_change_is_told_at_the_old_address_and_nothing_else_is(
        web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)
    member = make.user(Role.EQUIPO, email="antes@colegio.edu.co")
    db.commit()

    def notices() -> list[tuple[str, str]]:
        return [(message.recipients[0], message.text_body) for message in db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "correo_cambiado"))]

    web.post(f"/admin/usuarios/{member.id}/editar", {
        "name": "Otro Nombre", "email": "antes@colegio.edu.co", "role": "equipo",
        "school_id": str(member.school_id)})
    assert notices() == []  # a name change says nothing

    response = web.post(f"/admin/usuarios/{member.id}/editar", {
        "name": "Otro Nombre", "email": "despues@colegio.edu.co", "role": "equipo",
        "school_id": str(member.school_id)})

    assert response.status_code == 302
    [(to, text)] = notices()
    assert to == "antes@colegio.edu.co"
    assert "era antes@colegio.edu.co y ahora es despues@colegio.edu.co" in text
    assert "/restablecer" not in text and "/invitacion" not in text


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
    for message in ["Ese correo ya está en uso en el servicio y no se puede repetir.",
                    "Escriba el nombre completo.", "Elija un rol de la lista."]:
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


# --- deactivating and invitations -------------------------------------------------


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


def test_invitation_can_be_sent_again_and_retires_the_old_link(
        web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)
    rector = make.user(Role.RECTOR)
    db.commit()

    first = web.post(f"/admin/usuarios/{rector.id}/invitar")
    second = web.post(f"/admin/usuarios/{rector.id}/invitar")

    assert first.status_code == second.status_code == 302
    links = [re.search(r"/invitacion/[A-Za-z0-9_-]+", message.secret_link).group(0)
             for message in invitations_queued(db)]
    assert len(links) == 2 and links[0] != links[1]
    assert web.client.get(links[0], follow_redirects=True).status_code == 410
    assert web.client.get(links[1], follow_redirects=True).status_code == 200
    # The current password keeps working until the link is used.
    db.refresh(rector)
    assert TEST_PASSWORDS.verify(rector.password_hash, PASSWORD) is True


def test_inviting_a_deactivated_user_is_refused(web: WebClient, db: Session,
                                                make: Factory) -> None:
    signed_in(web, make)
    former = make.user(Role.REVISOR, active=False)
    db.commit()
    response = web.post(f"/admin/usuarios/{former.id}/invitar")
    assert response.status_code == 422
    assert "No se puede invitar a un usuario desactivado." in response.get_data(as_text=True)
    assert invitations_queued(db) == []


def test_invite_pending_reaches_every_active_account_without_password(
        web: WebClient, db: Session, make: Factory) -> None:
    signed_in(web, make)
    imported = [make.user(Role.RECTOR), make.user(Role.RECTOR)]
    for user in imported:
        user.password_hash = None
    inactive = make.user(Role.RECTOR, active=False)
    inactive.password_hash = None
    make.user(Role.REVISOR)  # has a password: not invited
    db.commit()

    # The list's button lands on a confirmation page that says how many; nothing is sent.
    asked = web.post("/admin/usuarios/invitar-pendientes")
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "Se enviará una invitación a <strong id=\"por-invitar\">2 cuentas</strong>" in page
    assert invitations_queued(db) == []

    response = web.post("/admin/usuarios/invitar-pendientes",
                        data={"confirmar": "1", "cantidad": "2"})

    assert response.status_code == 302
    assert sorted(message.recipients[0] for message in invitations_queued(db)) == sorted(
        user.email for user in imported)
    assert "Se enviaron 2 invitaciones a cuentas sin contraseña" in web.get(
        "/admin/usuarios").get_data(as_text=True)


def test_invite_pending_keeps_links_that_still_work(web: WebClient, db: Session,
                                                    make: Factory) -> None:
    admin = signed_in(web, make)
    waiting, expired, never = (make.user(Role.RECTOR) for _ in range(3))
    for user in (waiting, expired, never):
        user.password_hash = None
    db.flush()
    invitations.send_invitation(db, waiting, actor=admin)
    invitations.send_invitation(db, expired, actor=admin,
                                now=utcnow() - LIFETIMES[TokenPurpose.INVITATION]
                                - timedelta(hours=1))
    db.commit()
    live_link = db.scalars(select(AccountToken).where(AccountToken.user_id == waiting.id)).one()
    before = len(invitations_queued(db))

    page = web.get("/admin/usuarios/invitar-pendientes").get_data(as_text=True)
    assert "<strong id=\"por-invitar\">2 cuentas</strong>" in page
    assert "1 cuenta sin contraseña ya tiene un enlace que sigue vigente: se conserva" in page
    assert waiting.email not in page

    # The count changed since the page was shown: it is shown again, nothing is sent.
    stale = web.post("/admin/usuarios/invitar-pendientes",
                     data={"confirmar": "1", "cantidad": "3"})
    assert stale.status_code == 200
    assert "La cantidad cambió" in stale.get_data(as_text=True)
    assert len(invitations_queued(db)) == before

    web.post("/admin/usuarios/invitar-pendientes", data={"confirmar": "1", "cantidad": "2"})

    new = [message.recipients[0] for message in invitations_queued(db)[before:]]
    assert sorted(new) == sorted([expired.email, never.email])
    db.expire_all()
    assert db.get(AccountToken, live_link.id).used_at is None  # the valid link still works
    # Nobody left to invite: the page says so and offers no button.
    again = web.get("/admin/usuarios/invitar-pendientes").get_data(as_text=True)
    assert "no se enviará ninguna" in again
    assert "Enviar" not in again


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
    # (Drawn twice: in the phone's folded menu and in the wide header; one is displayed.)
    assert re.findall(r'<form[^>]*method="post"[^>]*>', html) == [
        '<form class="logout" method="post" action="/salir">'] * 2
    assert "/editar" not in html
    assert "Crear usuario" not in html


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.REVISOR])
def test_user_posts_are_forbidden_to_consulta_and_revisor(web: WebClient, db: Session,
                                                          make: Factory, role: Role) -> None:
    signed_in(web, make, role)
    target = make.user(Role.RECTOR)
    db.commit()
    before = (user_row(target), target.password_hash)
    form = {"name": "X", "email": "x@y.co", "role": "administrador"}

    statuses = [web.post(url.format(id=target.id), form).status_code for url in [
        "/admin/usuarios/nuevo", "/admin/usuarios/{id}/editar",
        "/admin/usuarios/{id}/desactivar", "/admin/usuarios/{id}/reactivar",
        "/admin/usuarios/{id}/invitar", "/admin/usuarios/invitar-pendientes"]]
    pages = [web.get(url).status_code for url in [
        "/admin/usuarios/nuevo", f"/admin/usuarios/{target.id}/editar"]]

    assert statuses == [403] * 6
    assert pages == [403, 403]
    assert invitations_queued(db) == []
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
        web.post(f"/admin/usuarios/{other.id}/invitar").status_code,
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
