"""Invitations and password resets: single-use, expiring links sent through the outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, Factory, WebClient
from workflow.cuentas import invitations, tokens
from workflow.cuentas.models import TokenPurpose
from workflow.errors import Forbidden, InvalidInput
from workflow.models import OutboxMessage, User, utcnow
from workflow.outbox import SECRET_LINK_PLACEHOLDER
from workflow.roles import Role

NEW_PASSWORD = "una frase nueva y larga"


def messages(db: Session, kind: str) -> list[OutboxMessage]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                           .order_by(OutboxMessage.id)).all())


def link_path(message: OutboxMessage, prefix: str) -> str:
    """The personal link of ``message``: kept beside the bodies, which show a placeholder."""
    assert SECRET_LINK_PLACEHOLDER in message.text_body
    assert SECRET_LINK_PLACEHOLDER in message.html_body
    assert f"/{prefix}/" not in message.text_body + message.html_body
    found = re.fullmatch(rf"http://127\.0\.0\.1:5000(/{prefix}/[A-Za-z0-9_-]+)",
                         message.secret_link or "")
    assert found, message.secret_link
    return found.group(1)


def land(web: WebClient, path: str) -> str:
    """Open a link: it answers 303 to its form's address, which carries no token."""
    landing = web.client.get(path)
    assert landing.status_code == 303, landing.status_code
    form_path = landing.headers["Location"]
    assert form_path == "/" + path.split("/")[1]
    return form_path


def test_invitation_lets_the_person_choose_a_password_once(db: Session, make: Factory,
                                                           web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    rector = make.user(Role.RECTOR, email="rectora@ie-juntas.edu.co")
    rector.password_hash = None
    invitations.send_invitation(db, rector, actor=admin)
    db.commit()

    [message] = messages(db, "invitacion")
    assert message.recipients == ["rectora@ie-juntas.edu.co"]
    assert message.subject == "Invitación a Ruta de Mejoramiento: active su cuenta"
    assert "con el rol rector(a)" in message.text_body
    path = link_path(message, "invitacion")

    form_path = land(web, path)
    form = web.get(form_path)
    assert form.status_code == 200
    assert "rectora@ie-juntas.edu.co" in form.get_data(as_text=True)
    done = web.post(form_path, {"new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/ingresar"

    assert web.login("rectora@ie-juntas.edu.co", NEW_PASSWORD).status_code == 302
    # Activating the account is no change to warn about.
    assert messages(db, "contrasena_cambiada") == []
    used_again = web.client.get(path, follow_redirects=True)
    assert used_again.status_code == 410
    assert "Este enlace ya se usó" in used_again.get_data(as_text=True)


def test_weak_password_on_a_link_answers_422_and_keeps_the_link(db: Session, make: Factory,
                                                               web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    invitations.send_invitation(db, user, actor=None)
    db.commit()
    path = link_path(messages(db, "invitacion")[0], "invitacion")
    form_path = land(web, path)
    web.get(form_path)
    response = web.post(form_path, {"new": "corta", "confirm": "corta"})
    assert response.status_code == 422
    assert "al menos 10 caracteres" in response.get_data(as_text=True)
    assert web.client.get(path, follow_redirects=True).status_code == 200  # still usable


def test_a_new_invitation_retires_the_previous_link(db: Session, make: Factory,
                                                    web: WebClient) -> None:
    user = make.user(Role.REVISOR)
    invitations.send_invitation(db, user, actor=None)
    invitations.send_invitation(db, user, actor=None)
    db.commit()
    first, second = (link_path(message, "invitacion")
                     for message in messages(db, "invitacion"))
    assert first != second
    assert web.client.get(first, follow_redirects=True).status_code == 410
    assert web.client.get(second, follow_redirects=True).status_code == 200


def test_expired_and_unknown_links_are_refused(db: Session, make: Factory) -> None:
    user = make.user(Role.CONSULTA)
    token = tokens.issue(db, user, TokenPurpose.PASSWORD_RESET, now=utcnow() - timedelta(hours=3))
    with pytest.raises(InvalidInput, match="Este enlace venció"):
        tokens.check(db, token, TokenPurpose.PASSWORD_RESET)
    with pytest.raises(InvalidInput, match="El enlace no es válido"):
        tokens.check(db, "no-existe", TokenPurpose.PASSWORD_RESET)
    with pytest.raises(InvalidInput, match="El enlace no es válido"):
        tokens.check(db, token, TokenPurpose.INVITATION)  # a reset link is no invitation


def test_only_administrators_invite_and_never_deactivated_users(db: Session,
                                                                make: Factory) -> None:
    reviewer = make.user(Role.REVISOR)
    target = make.user(Role.CONSULTA)
    with pytest.raises(Forbidden):
        invitations.send_invitation(db, target, actor=reviewer)
    target.active = False
    with pytest.raises(InvalidInput, match="desactivado"):
        invitations.send_invitation(db, target, actor=make.user(Role.ADMINISTRADOR))
    assert messages(db, "invitacion") == []


def test_password_reset_by_email_changes_the_password_and_ends_sessions(
        db: Session, make: Factory, web_factory: object) -> None:
    user = make.user(Role.RECTOR, email="rector@ie-dantas.edu.co")
    user.must_change_password = True
    db.commit()
    elsewhere = web_factory()  # type: ignore[operator]
    elsewhere.login("rector@ie-dantas.edu.co")
    assert elsewhere.client.get("/cuenta/contrasena").status_code == 200

    browser = web_factory()  # type: ignore[operator]
    browser.get("/recuperar-contrasena")
    answer = browser.post("/recuperar-contrasena", {"email": " Rector@IE-Dantas.edu.co "})
    assert answer.status_code == 302
    [message] = messages(db, "restablecer_contrasena")
    path = link_path(message, "restablecer")
    form_path = land(browser, path)
    browser.get(form_path)
    assert browser.post(form_path, {"new": NEW_PASSWORD,
                                    "confirm": NEW_PASSWORD}).status_code == 302

    db.expire_all()
    changed = db.get(User, user.id)
    assert changed.must_change_password is False
    assert elsewhere.client.get("/cuenta/contrasena").status_code == 302  # signed out
    assert browser.login("rector@ie-dantas.edu.co", PASSWORD).status_code == 401  # old fails
    assert browser.login("rector@ie-dantas.edu.co", NEW_PASSWORD).status_code == 302
    # E22: the person is told, with what to do if it was not them, and no usable link.
    [told] = messages(db, "contrasena_cambiada")
    assert told.recipients == ["rector@ie-dantas.edu.co"]
    assert "restableció la contraseña de su cuenta con un enlace" in told.text_body
    assert "pida de inmediato una contraseña nueva en" in told.text_body
    assert "/restablecer/" not in told.text_body and "/invitacion/" not in told.text_body


def test_changing_the_password_tells_the_person_and_an_invitation_does_not(
        db: Session, make: Factory, web_factory: object) -> None:
    user = make.user(Role.REVISOR, email="revisora@ibague.gov.co")
    db.commit()
    browser = web_factory()  # type: ignore[operator]
    browser.login("revisora@ibague.gov.co")
    browser.get("/cuenta/contrasena")

    changed = browser.post("/cuenta/contrasena", {"current": PASSWORD, "new": NEW_PASSWORD,
                                                  "confirm": NEW_PASSWORD})

    assert changed.status_code == 302
    [told] = messages(db, "contrasena_cambiada")
    assert told.recipients == [user.email]
    assert "cambió la contraseña de su cuenta desde «Cambiar contraseña»" in told.text_body


def test_reset_request_says_the_same_for_unknown_accounts_and_is_rate_limited(
        db: Session, make: Factory, web: WebClient) -> None:
    make.user(Role.REVISOR, email="revisora@ibague.gov.co")
    db.commit()
    web.get("/recuperar-contrasena")
    unknown = web.post("/recuperar-contrasena", {"email": "nadie@ibague.gov.co"})
    flashes = []
    for _ in range(4):
        known = web.post("/recuperar-contrasena", {"email": "revisora@ibague.gov.co"})
        flashes.append(web.get(known.headers["Location"]).get_data(as_text=True))
    assert unknown.status_code == known.status_code == 302
    assert all("Si hay una cuenta activa con ese correo" in page for page in flashes)
    # RESET_MAX_PER_ACCOUNT_PER_HOUR: the fourth request of the hour mails nothing.
    assert len(messages(db, "restablecer_contrasena")) == 3


def test_login_page_offers_the_reset_link(web: WebClient) -> None:
    html = web.get("/ingresar").get_data(as_text=True)
    assert '<a href="/recuperar-contrasena">¿Olvidó su contraseña?</a>' in html
    assert web.get("/recuperar-contrasena").status_code == 200
