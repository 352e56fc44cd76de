"""E15: invitation and reset links never rest in clear in the outbox, nor in an address.

The bodies keep a placeholder, «Correo saliente» shows only that, delivery puts the link
back (over real SMTP, aiosmtpd on loopback) and then empties it; a message left «incierto»
keeps its link so that a retry still carries a working one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.deliver import deliver_pending
from ruta import create_app
from tests.conftest import Factory, WebClient, app_config
from tests.smtp import (  # noqa: F401 (the *_fixture names are fixtures)
    DropAfterDataHandler,
    SmtpServer,
    mail_config,
    smtp_fixture,
    smtp_server,
)
from workflow import outbox
from workflow.correo import delivery
from workflow.cuentas import invitations
from workflow.models import OutboxMessage, OutboxStatus, User, utcnow
from workflow.outbox import SECRET_LINK_PLACEHOLDER
from workflow.roles import Role

LINK = re.compile(r"http://127\.0\.0\.1:5000/invitacion/[A-Za-z0-9_-]{20,}")


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with mail really sent (to a closed port until a test says where)."""
    application = create_app(app_config(database_url, **mail_config()))
    yield application
    application.extensions["ruta_db"].dispose()


def invite(db: Session, make: Factory) -> tuple[User, OutboxMessage]:
    admin = make.user(Role.ADMINISTRADOR, email="admin@ibague.gov.co")
    rector = make.user(Role.RECTOR, email="rectora@ie-juntas.edu.co")
    rector.password_hash = None
    invitations.send_invitation(db, rector, actor=admin)
    db.commit()
    return admin, db.scalars(select(OutboxMessage)).one()


def test_outbox_page_shows_a_placeholder_and_delivery_sends_then_forgets_the_link(
        app: Flask, db: Session, make: Factory, web: WebClient, smtp: SmtpServer) -> None:
    admin, message = invite(db, make)
    link = message.secret_link or ""
    assert LINK.fullmatch(link)
    token = link.rsplit("/", 1)[1]
    assert token not in message.text_body + message.html_body + message.dedupe_key

    web.login(admin.email)
    page = web.get(f"/admin/correo/{message.id}").get_data(as_text=True)
    assert SECRET_LINK_PLACEHOLDER in page and token not in page

    app.config.update(mail_config(smtp))
    report = deliver_pending(app, now=utcnow() + timedelta(minutes=1))

    assert report.sent == 1
    [received] = smtp.received
    assert f"\n{link}\n" in received.text
    assert f'<a href="{link}"' in received.html
    assert SECRET_LINK_PLACEHOLDER not in received.text + received.html
    db.expire_all()
    sent = db.get(OutboxMessage, message.id)
    assert (sent.status, sent.secret_link) == (OutboxStatus.SENT, None)
    assert token not in sent.text_body + sent.html_body

    # The person's link still works, and moves its token out of the address at once.
    landing = web.client.get(link.removeprefix("http://127.0.0.1:5000"))
    assert (landing.status_code, landing.headers["Location"]) == (303, "/invitacion")
    form = web.client.get("/invitacion")
    assert form.status_code == 200
    assert "rectora@ie-juntas.edu.co" in form.get_data(as_text=True)


def test_an_incierto_message_keeps_its_link_and_the_retry_carries_it(
        app: Flask, db: Session, make: Factory) -> None:
    admin, message = invite(db, make)
    link = message.secret_link
    with smtp_server(DropAfterDataHandler()) as dropping:
        app.config.update(mail_config(dropping))
        assert deliver_pending(app, now=utcnow() + timedelta(minutes=1)).unknown == 1
    db.expire_all()
    uncertain = db.get(OutboxMessage, message.id)
    assert (uncertain.status, uncertain.secret_link) == (OutboxStatus.UNKNOWN, link)

    delivery.retry(db, uncertain, actor=admin, confirm_duplicate=True)
    db.commit()
    with smtp_server() as server:
        app.config.update(mail_config(server))
        assert deliver_pending(app, now=utcnow() + timedelta(minutes=2)).sent == 1
        [received] = server.received
    assert f"\n{link}\n" in received.text
    db.expire_all()
    assert db.get(OutboxMessage, message.id).secret_link is None


def test_a_form_without_a_landed_link_is_refused(web: WebClient) -> None:
    for path in ("/invitacion", "/restablecer"):
        response = web.client.get(path)
        assert response.status_code == 410
        assert "El enlace no es válido" in response.get_data(as_text=True)


def test_a_secret_link_whose_template_would_not_show_it_is_refused(
        db: Session, make: Factory) -> None:
    with pytest.raises(ValueError, match="SECRET_LINK_PLACEHOLDER"):
        outbox.enqueue(db, kind="contrasena_cambiada", to="a@prueba.co",
                       context={"user_name": "A", "email": "a@prueba.co", "at": utcnow(),
                                "what": "cambió", "secretaria_name": "S",
                                "reset_url": "http://127.0.0.1:5000/recuperar-contrasena"},
                       dedupe_key="prueba", secretaria_id=make.secretaria().id,
                       secret_link="http://127.0.0.1:5000/restablecer/abc")
