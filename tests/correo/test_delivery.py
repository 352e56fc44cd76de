"""Outbox delivery over real SMTP (aiosmtpd on loopback): what arrives, and what is recorded
when the server refuses, drops the connection, stays silent or shows a bad certificate."""

from __future__ import annotations

import email
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from itertools import count
from typing import Any

import flask_mail
import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jobs.deliver import deliver_pending
from ruta import create_app
from ruta.mail import OutboxMailMessage
from tests.conftest import Factory, app_config
from tests.smtp import (  # noqa: F401 (the *_fixture names are fixtures)
    DropAfterDataHandler,
    RefusingHandler,
    SilentAfterDataHandler,
    SmtpServer,
    certificates_fixture,
    closed_port,
    mail_config,
    silent_port,
    smtp_fixture,
    smtp_server,
)
from workflow import outbox
from workflow.correo import delivery
from workflow.correo.delivery import DeliveryError, DeliveryPolicy, Outcome, Stage
from workflow.models import OutboxMessage, OutboxStatus

NOW = datetime(2025, 3, 4, 13, 0, tzinfo=UTC)
SENDER = "no-responder@ruta.prueba.co"
CONTEXT: dict[str, Any] = {
    "school_name": "Institución Educativa San Simón",
    "dane_code": "173001000001",
    "secretaria_name": "Secretaría de Educación de Ibagué",
    "horizon": "2024–2026",
    "ruta_url": "https://ruta.ibague.gov.co/rutas/1",
    "actor_name": "Ana Revisora",
    "reviewer_name": "Ana Revisora",
    "at": datetime(2025, 3, 4, 15, 30, tzinfo=UTC),
    "state_label": "PMI aprobado",
    "observations": None,
    "return_target": None,
}
_keys = count(1)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with mail really sent (to a closed port until a test says where)."""
    application = create_app(app_config(database_url, **mail_config()))
    yield application
    application.extensions["ruta_db"].dispose()


def deliver_to(app: Flask, server: SmtpServer | None = None, **overrides: Any) -> None:
    app.config.update(mail_config(server, **overrides))


def queue(db: Session, make: Factory, *, to: tuple[str, ...] = ("rector@prueba.co",),
          cc: tuple[str, ...] = (), now: datetime = NOW) -> int:
    key = f"prueba:{next(_keys)}"
    assert outbox.enqueue(db, kind="pmi_aprobado", to=list(to), cc=list(cc), context=CONTEXT,
                          dedupe_key=key, secretaria_id=make.secretaria().id, now=now)
    db.commit()
    return db.scalars(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).one()


def reload(db: Session, message_id: int) -> OutboxMessage:
    db.expire_all()
    found = db.get(OutboxMessage, message_id)
    assert found is not None
    return found


# --- the happy path -----------------------------------------------------------------------


def test_delivery_sends_text_and_html_and_marks_sent(app: Flask, db: Session, make: Factory,
                                                     smtp: SmtpServer) -> None:
    message_id = queue(db, make, to=("rector@prueba.co",), cc=("equipo@prueba.co",))
    deliver_to(app, smtp)

    report = deliver_pending(app, now=NOW)

    assert (report.claimed, report.sent, report.retrying, report.failed, report.unknown) == (
        1, 1, 0, 0, 0)
    [received] = smtp.received
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ("rector@prueba.co", "equipo@prueba.co")
    assert received.header("From") == f"Ruta de Mejoramiento <{SENDER}>"
    assert received.addresses("To") == {"rector@prueba.co"}
    assert received.addresses("Cc") == {"equipo@prueba.co"}
    assert received.subject == "PMI aprobado: Institución Educativa San Simón"
    assert received.header("Message-ID") == f"<ruta-correo-{message_id}@ruta.prueba.co>"
    assert received.header("Auto-Submitted") == "auto-generated"
    assert "aprobó el Plan de Mejoramiento Institucional (PMI)" in received.text
    assert "\nhttps://ruta.ibague.gov.co/rutas/1\n" in received.text
    assert '<a href="https://ruta.ibague.gov.co/rutas/1">' in received.html
    row = reload(db, message_id)
    assert (row.status, row.attempts, row.sent_at, row.claim_token, row.last_error,
            row.refused_recipients) == (OutboxStatus.SENT, 1, NOW, None, None, {})


def test_delivery_reuses_one_connection_for_a_batch(app: Flask, db: Session, make: Factory,
                                                    smtp: SmtpServer) -> None:
    for _ in range(3):
        queue(db, make)
    deliver_to(app, smtp)

    report = deliver_pending(app, now=NOW)

    assert report.sent == 3
    assert len({received.connection for received in smtp.received}) == 1


def test_delivery_drains_batch_after_batch(app: Flask, db: Session, make: Factory,
                                           smtp: SmtpServer) -> None:
    ids = [queue(db, make) for _ in range(5)]
    deliver_to(app, smtp, MAIL_BATCH_SIZE=2)

    report = deliver_pending(app, now=NOW)

    assert (report.claimed, report.sent) == (5, 5)
    # One connection per batch: 2 + 2 + 1.
    assert sorted(Counter(received.connection for received in smtp.received).values()) == [1, 2, 2]
    assert {reload(db, message_id).status for message_id in ids} == {OutboxStatus.SENT}


def test_several_deliverers_split_the_queue_and_send_each_message_once(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    ids = [queue(db, make, to=(f"rector{number}@prueba.co",)) for number in range(11)]
    deliver_to(app, smtp, MAIL_BATCH_SIZE=2, MAIL_DELIVERY_WORKERS=3)

    report = deliver_pending(app, now=NOW)

    assert (report.claimed, report.sent, report.retrying, report.unknown) == (11, 11, 0, 0)
    assert Counter(received.header("Message-ID") for received in smtp.received) == Counter(
        {f"<ruta-correo-{row_id}@ruta.prueba.co>": 1 for row_id in ids})
    # Each connection carried one batch (at most 2), reused for the batch.
    per_connection = Counter(received.connection for received in smtp.received)
    assert sum(per_connection.values()) == 11 and max(per_connection.values()) == 2
    assert {(reload(db, row_id).status, reload(db, row_id).attempts) for row_id in ids} == {
        (OutboxStatus.SENT, 1)}


def test_message_written_for_the_outbox_reads_as_flask_mails_own(app: Flask) -> None:
    """``OutboxMailMessage`` writes the MIME form itself (Flask-Mail's costs 1.7 ms): a mail
    reader must find the same message as in the one Flask-Mail builds."""
    subject = ("Recordatorio: el PMI de la Institución Educativa Técnica «Niño Jesús de Praga» "
               "vence el 16 de febrero de 2024 — faltan 3 días")
    arguments: dict[str, Any] = {
        "subject": subject,
        "recipients": ["rectora@sansimon.edu.co", "coordinacion.academica@sansimon.edu.co"],
        "cc": [f"integrante.equipo.{number}@sansimon.edu.co" for number in range(4)],
        "body": "Hola, señora rectora:\n\nLínea con tilde y eñe.\nhttps://ruta.co/rutas/1\n",
        "html": "<p>Hola &amp; adiós, <strong>señora</strong></p>\n",
        "sender": f"Ruta de Mejoramiento <{SENDER}>",
        "extra_headers": {"Auto-Submitted": "auto-generated"},
    }
    ours = OutboxMailMessage(msg_id="<ruta-correo-7@ruta.prueba.co>", **arguments)
    theirs = flask_mail.Message(**arguments)
    theirs.msgId = ours.msgId

    with app.app_context():  # Flask-Mail reads its settings from the app
        mine, reference = (email.message_from_bytes(message.as_bytes(), policy=default_policy)
                           for message in (ours, theirs))

    # Flask-Mail's own folding loses the space at a fold of a long subject ("16de"): ours
    # reads back exactly as written.
    assert str(mine["Subject"]) == subject
    for header in ("From", "Message-ID", "Auto-Submitted", "MIME-Version"):
        assert str(mine[header]) == str(reference[header]), header
    for header in ("To", "Cc"):
        assert {address.addr_spec for address in mine[header].addresses} == {
            address.addr_spec for address in reference[header].addresses}
    assert mine["Date"] is not None
    for kind in ("text/plain", "text/html"):
        [mine_part] = [part for part in mine.walk() if part.get_content_type() == kind]
        [their_part] = [part for part in reference.walk() if part.get_content_type() == kind]
        assert mine_part.get_content() == their_part.get_content()  # both CRLF on the wire
        assert mine_part.get_content_charset() == "utf-8"
    # Header lines stay within RFC 5322's 78 characters; nothing but ASCII on the wire.
    raw = ours.as_bytes()
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert not ours.has_bad_headers()


def test_delivery_leaves_messages_not_yet_due(app: Flask, db: Session, make: Factory,
                                              smtp: SmtpServer) -> None:
    later = queue(db, make, now=NOW + timedelta(minutes=5))
    deliver_to(app, smtp)

    report = deliver_pending(app, now=NOW)

    assert (report.claimed, smtp.received) == (0, [])
    assert reload(db, later).status is OutboxStatus.PENDING


def test_delivery_with_mail_suppressed_sends_and_marks_nothing(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    message_id = queue(db, make)
    deliver_to(app, smtp, MAIL_SUPPRESS_SEND=True)

    report = deliver_pending(app, now=NOW)

    assert (report.suppressed, report.claimed, smtp.received) == (True, 0, [])
    assert reload(db, message_id).status is OutboxStatus.PENDING


def test_delivered_message_is_not_sent_again(app: Flask, db: Session, make: Factory,
                                             smtp: SmtpServer) -> None:
    queue(db, make)
    deliver_to(app, smtp)
    deliver_pending(app, now=NOW)

    again = deliver_pending(app, now=NOW + timedelta(hours=1))

    assert (again.claimed, len(smtp.received)) == (0, 1)


# --- retries, backoff, failure ------------------------------------------------------------


def test_backoff_doubles_from_one_minute_up_to_the_cap() -> None:
    policy = DeliveryPolicy()
    minutes = [delivery.backoff(attempts, policy) / timedelta(minutes=1)
               for attempts in range(1, 11)]
    assert minutes == [1, 2, 4, 8, 16, 32, 64, 128, 240, 240]


def test_unreachable_server_retries_with_backoff(app: Flask, db: Session,
                                                 make: Factory) -> None:
    message_id = queue(db, make)
    deliver_to(app, None, MAIL_PORT=closed_port())

    first = deliver_pending(app, now=NOW)

    row = reload(db, message_id)
    assert (first.retrying, first.unreachable) == (1, True)
    assert (row.status, row.attempts, row.next_attempt_at, row.claim_token) == (
        OutboxStatus.PENDING, 1, NOW + timedelta(minutes=1), None)
    assert row.last_error is not None
    assert row.last_error.startswith("No se pudo conectar con el servidor de correo. "
                                     "ConnectionRefusedError:")

    too_early = deliver_pending(app, now=NOW + timedelta(seconds=59))
    second = deliver_pending(app, now=NOW + timedelta(minutes=1))

    row = reload(db, message_id)
    assert (too_early.claimed, second.claimed) == (0, 1)
    assert (row.attempts, row.next_attempt_at) == (2, NOW + timedelta(minutes=3))


def test_unreachable_server_puts_off_the_whole_batch(app: Flask, db: Session,
                                                     make: Factory) -> None:
    ids = [queue(db, make) for _ in range(3)]
    deliver_to(app, None, MAIL_PORT=closed_port())

    report = deliver_pending(app, now=NOW)

    assert (report.claimed, report.retrying, report.unreachable) == (3, 3, True)
    assert [(reload(db, message_id).status, reload(db, message_id).attempts)
            for message_id in ids] == [(OutboxStatus.PENDING, 1)] * 3


def test_message_fails_after_the_configured_attempts(app: Flask, db: Session,
                                                     make: Factory, smtp: SmtpServer) -> None:
    message_id = queue(db, make)
    deliver_to(app, None, MAIL_PORT=closed_port(), MAIL_MAX_ATTEMPTS=3)
    moment = NOW
    for _ in range(3):
        deliver_pending(app, now=moment)
        moment += timedelta(hours=1)

    row = reload(db, message_id)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)

    deliver_to(app, smtp)
    later = deliver_pending(app, now=moment + timedelta(days=1))

    assert (later.claimed, smtp.received) == (0, [])


def test_silent_server_times_out_within_the_configured_time(app: Flask, db: Session,
                                                            make: Factory) -> None:
    message_id = queue(db, make)
    with silent_port() as port:
        deliver_to(app, None, MAIL_PORT=port, MAIL_TIMEOUT_SECONDS=1)
        started = time.monotonic()
        report = deliver_pending(app, now=NOW)
        elapsed = time.monotonic() - started

    assert 0.9 < elapsed < 3
    row = reload(db, message_id)
    assert (report.retrying, row.status, row.attempts) == (1, OutboxStatus.PENDING, 1)
    # smtplib reports a reply that never came as a disconnection.
    assert row.last_error == ("No se pudo conectar con el servidor de correo. "
                              "SMTPServerDisconnected: Connection unexpectedly closed: timed out")


# --- ambiguous outcomes -------------------------------------------------------------------


def test_connection_dropped_after_data_is_unknown_and_not_resent(
        app: Flask, db: Session, make: Factory) -> None:
    before = queue(db, make, to=("primero@prueba.co",))
    dropped = queue(db, make, to=("cortado@prueba.co",))
    after = queue(db, make, to=("tercero@prueba.co",))
    with smtp_server(DropAfterDataHandler(only_for={"cortado@prueba.co"})) as server:
        deliver_to(app, server)
        report = deliver_pending(app, now=NOW)
        again = deliver_pending(app, now=NOW + timedelta(days=1))
        received = [item.rcpt_tos for item in server.received]

    assert (report.sent, report.unknown, again.claimed) == (2, 1, 0)
    assert received == [("primero@prueba.co",), ("cortado@prueba.co",), ("tercero@prueba.co",)]
    assert [reload(db, message_id).status for message_id in (before, dropped, after)] == [
        OutboxStatus.SENT, OutboxStatus.UNKNOWN, OutboxStatus.SENT]
    row = reload(db, dropped)
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith(
        "La conexión se cortó después de entregar el mensaje; puede haber llegado, por eso "
        "no se reenvía solo. SMTPServerDisconnected:")


def test_server_silent_after_data_is_unknown(app: Flask, db: Session, make: Factory) -> None:
    message_id = queue(db, make)
    with smtp_server(SilentAfterDataHandler()) as server:
        deliver_to(app, server, MAIL_TIMEOUT_SECONDS=1)
        report = deliver_pending(app, now=NOW)
        received = len(server.received)

    row = reload(db, message_id)
    assert (report.unknown, received, row.status) == (1, 1, OutboxStatus.UNKNOWN)
    assert row.last_error == (
        "La conexión se cortó después de entregar el mensaje; puede haber llegado, por eso no "
        "se reenvía solo. SMTPServerDisconnected: Connection unexpectedly closed: timed out")


def test_row_stuck_in_sending_with_its_data_in_flight_becomes_unknown_and_is_not_sent(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    message_id = queue(db, make)
    # A deliverer claimed it an hour ago, handed it to the server, and died.
    db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status=OutboxStatus.SENDING, claimed_at=NOW - timedelta(hours=1), claim_token="x",
        handed_at=NOW - timedelta(minutes=59)))
    db.commit()
    deliver_to(app, smtp)

    report = deliver_pending(app, now=NOW)

    row = reload(db, message_id)
    assert (report.recovered, report.requeued, report.claimed, smtp.received) == (1, 0, 0, [])
    assert (row.status, row.attempts) == (OutboxStatus.UNKNOWN, 1)


def test_row_stuck_in_sending_never_handed_over_goes_back_to_the_queue_and_is_sent(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    message_id = queue(db, make)
    # A deliverer claimed it an hour ago and died before its turn came.
    db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status=OutboxStatus.SENDING, claimed_at=NOW - timedelta(hours=1), claim_token="x"))
    db.commit()
    deliver_to(app, smtp)

    report = deliver_pending(app, now=NOW)

    row = reload(db, message_id)
    assert (report.recovered, report.requeued, report.claimed, report.sent) == (0, 1, 1, 1)
    assert [received.header("Message-ID") for received in smtp.received] == [
        f"<ruta-correo-{message_id}@ruta.prueba.co>"]
    assert (row.status, row.attempts, row.handed_at is not None) == (OutboxStatus.SENT, 1,
                                                                     True)


def test_recent_claim_is_left_to_its_deliverer(app: Flask, db: Session, make: Factory,
                                               smtp: SmtpServer) -> None:
    message_id = queue(db, make)
    db.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        status=OutboxStatus.SENDING, claimed_at=NOW - timedelta(minutes=5), claim_token="x"))
    db.commit()
    deliver_to(app, smtp)

    report = deliver_pending(app, now=NOW)

    assert (report.recovered, report.claimed, smtp.received) == (0, 0, [])
    assert reload(db, message_id).status is OutboxStatus.SENDING


# --- refusals -----------------------------------------------------------------------------


def test_partly_refused_message_is_sent_and_the_refusal_recorded(
        app: Flask, db: Session, make: Factory) -> None:
    message_id = queue(db, make, to=("rector@prueba.co", "nadie@prueba.co"))
    with smtp_server(RefusingHandler({"nadie@prueba.co"})) as server:
        deliver_to(app, server)
        report = deliver_pending(app, now=NOW)
        received = [item.rcpt_tos for item in server.received]

    assert (report.sent, report.refused_recipients) == (1, 1)
    assert received == [("rector@prueba.co",)]
    row = reload(db, message_id)
    assert (row.status, row.refused_recipients) == (
        OutboxStatus.SENT, {"nadie@prueba.co": "550 5.1.1 Mailbox does not exist"})


def test_message_refused_for_every_recipient_fails_at_once(
        app: Flask, db: Session, make: Factory) -> None:
    message_id = queue(db, make, to=("nadie@prueba.co",))
    with smtp_server(RefusingHandler({"nadie@prueba.co"})) as server:
        deliver_to(app, server)
        report = deliver_pending(app, now=NOW)
        received = list(server.received)

    assert (report.failed, received) == (1, [])
    row = reload(db, message_id)
    assert (row.status, row.attempts, row.refused_recipients) == (
        OutboxStatus.FAILED, 1, {"nadie@prueba.co": "550 5.1.1 Mailbox does not exist"})
    assert row.last_error == ("El servidor de correo rechazó todos los destinatarios: "
                              "nadie@prueba.co: 550 5.1.1 Mailbox does not exist")


@pytest.mark.parametrize(("stage", "cause", "expected"), [
    (Stage.CONNECT, ConnectionRefusedError(111, "Connection refused"), Outcome.RETRY),
    (Stage.CONNECT, smtplib.SMTPAuthenticationError(535, b"bad credentials"), Outcome.RETRY),
    (Stage.ENVELOPE, smtplib.SMTPSenderRefused(451, b"try later", SENDER), Outcome.RETRY),
    (Stage.ENVELOPE, smtplib.SMTPSenderRefused(553, b"not allowed", SENDER), Outcome.FAILED),
    (Stage.ENVELOPE, smtplib.SMTPRecipientsRefused({"a@b.co": (450, b"greylisted")}),
     Outcome.RETRY),
    (Stage.ENVELOPE, smtplib.SMTPServerDisconnected("gone"), Outcome.RETRY),
    (Stage.DATA, smtplib.SMTPDataError(554, b"spam"), Outcome.FAILED),
    (Stage.DATA, smtplib.SMTPDataError(451, b"local error"), Outcome.RETRY),
    (Stage.DATA, smtplib.SMTPServerDisconnected("gone"), Outcome.UNKNOWN),
    (Stage.DATA, TimeoutError("timed out"), Outcome.UNKNOWN),
    (Stage.MESSAGE, ValueError("bad header"), Outcome.FAILED),
])
def test_classify_failure_by_stage_and_reply(stage: Stage, cause: BaseException,
                                             expected: Outcome) -> None:
    assert delivery.classify(DeliveryError(stage, cause)) is expected


# --- TLS ----------------------------------------------------------------------------------


def test_starttls_refuses_a_certificate_it_cannot_verify(
        app: Flask, db: Session, make: Factory, certificates: Any) -> None:
    message_id = queue(db, make)
    with smtp_server(starttls=certificates.server_context()) as server:
        deliver_to(app, server, MAIL_USE_TLS=True)
        report = deliver_pending(app, now=NOW)
        received = list(server.received)

    row = reload(db, message_id)
    assert (report.retrying, received, row.status) == (1, [], OutboxStatus.PENDING)
    assert row.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error


def test_starttls_delivers_when_the_configured_ca_signs_the_certificate(
        app: Flask, db: Session, make: Factory, certificates: Any) -> None:
    message_id = queue(db, make)
    with smtp_server(starttls=certificates.server_context()) as server:
        deliver_to(app, server, MAIL_USE_TLS=True, MAIL_CA_FILE=str(certificates.ca_file))
        report = deliver_pending(app, now=NOW)
        received = list(server.received)

    assert (report.sent, len(received)) == (1, 1)
    assert reload(db, message_id).status is OutboxStatus.SENT


def test_starttls_refuses_a_certificate_for_another_host(
        app: Flask, db: Session, make: Factory, certificates: Any) -> None:
    message_id = queue(db, make)
    with smtp_server(starttls=certificates.server_context("correo.otro.co")) as server:
        deliver_to(app, server, MAIL_USE_TLS=True, MAIL_CA_FILE=str(certificates.ca_file))
        report = deliver_pending(app, now=NOW)
        received = list(server.received)

    row = reload(db, message_id)
    assert (report.retrying, received) == (1, [])
    assert row.last_error is not None
    assert "IP address mismatch" in row.last_error


def test_starttls_required_but_not_offered_sends_nothing_in_clear(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    message_id = queue(db, make)
    deliver_to(app, smtp, MAIL_USE_TLS=True)

    report = deliver_pending(app, now=NOW)

    row = reload(db, message_id)
    assert (report.retrying, smtp.received) == (1, [])
    assert row.last_error is not None
    assert "SMTPNotSupportedError" in row.last_error


@pytest.mark.parametrize("trusted", [True, False])
def test_implicit_tls_verifies_the_certificate(app: Flask, db: Session, make: Factory,
                                               certificates: Any, trusted: bool) -> None:
    message_id = queue(db, make)
    with smtp_server(implicit_tls=certificates.server_context()) as server:
        deliver_to(app, server, MAIL_USE_SSL=True,
                   MAIL_CA_FILE=str(certificates.ca_file) if trusted else None)
        deliver_pending(app, now=NOW)
        received = list(server.received)

    expected = OutboxStatus.SENT if trusted else OutboxStatus.PENDING
    assert (len(received), reload(db, message_id).status) == (int(trusted), expected)


# --- concurrency --------------------------------------------------------------------------


def test_two_deliverers_at_once_never_send_the_same_message(
        app: Flask, db: Session, make: Factory, smtp: SmtpServer) -> None:
    ids = [queue(db, make) for _ in range(40)]
    deliver_to(app, smtp, MAIL_BATCH_SIZE=3)
    start = threading.Barrier(2)
    reports: list[Any] = []

    def deliverer() -> None:
        start.wait()
        try:
            reports.append(deliver_pending(app, now=NOW))
        except Exception as error:  # surfaced by the assertion below
            reports.append(error)

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [type(report).__name__ for report in reports] == ["DeliveryReport"] * 2
    assert sum(report.sent for report in reports) == 40
    per_message = Counter(received.header("Message-ID") for received in smtp.received)
    assert sorted(per_message) == sorted(
        f"<ruta-correo-{message_id}@ruta.prueba.co>" for message_id in ids)
    assert set(per_message.values()) == {1}
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.SENT)) == 40


def test_concurrent_claims_split_the_rows_without_waiting(
        app: Flask, db: Session, make: Factory, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's: SQLite serializes the claims instead")
    ids = [queue(db, make) for _ in range(10)]
    factory = app.extensions["ruta_db"].session_factory
    second: list[list[int]] = []

    with factory() as first_session:
        first = delivery.claim(first_session, now=NOW, limit=5, token="primero")
        # The first claim is not committed yet: its rows are locked.

        def claim_second() -> None:
            with factory() as second_session:
                second.append(delivery.claim(second_session, now=NOW, limit=5, token="segundo"))
                second_session.commit()

        thread = threading.Thread(target=claim_second)
        thread.start()
        thread.join(timeout=5)
        finished_while_locked = not thread.is_alive()
        first_session.commit()
    thread.join(timeout=30)

    assert finished_while_locked
    assert (first, second) == ([ids[0], ids[1], ids[2], ids[3], ids[4]],
                               [[ids[5], ids[6], ids[7], ids[8], ids[9]]])


# --- the command --------------------------------------------------------------------------


def test_jobs_deliver_command_prints_the_counts(app: Flask, db: Session, make: Factory,
                                                smtp: SmtpServer) -> None:
    queue(db, make)
    queue(db, make)
    deliver_to(app, smtp)

    result = app.test_cli_runner().invoke(args=["jobs", "deliver"])

    assert result.exit_code == 0, result.output
    assert result.output == ("Correo saliente: 2 enviado(s), 0 por reintentar, 0 fallido(s), "
                             "0 incierto(s).\n")
    assert len(smtp.received) == 2


def test_jobs_deliver_command_fails_when_the_server_is_down(app: Flask, db: Session,
                                                            make: Factory) -> None:
    queue(db, make)
    deliver_to(app, None, MAIL_PORT=closed_port())

    result = app.test_cli_runner().invoke(args=["jobs", "deliver"])

    assert result.exit_code == 1
    assert "No se pudo conectar con el servidor de correo: se reintentará más tarde." in (
        result.output)


def test_jobs_deliver_command_says_when_the_database_is_down_and_exits_2() -> None:
    """A database nobody listens on: a Spanish sentence and exit code 2, no traceback."""
    from ruta import create_app
    from tests.conftest import app_config

    down = create_app(app_config(f"postgresql://postgres@127.0.0.1:{closed_port()}/nada",
                                 **mail_config(None)))
    try:
        result = down.test_cli_runner().invoke(args=["jobs", "deliver"])
    finally:
        down.extensions["ruta_db"].dispose()

    assert result.exit_code == 2, result.output
    assert result.output.startswith("No se pudo usar la base de datos durante el envío "
                                    "(OperationalError).")
    assert "Traceback" not in result.output
