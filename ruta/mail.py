"""Flask-Mail over real SMTP, made safe to run unattended, and the outbox's SMTP transport.

Flask-Mail 0.10 does not verify the server's certificate on STARTTLS, has no timeout (a
silent server blocks forever), drops a refused recipient among several without a word, and
cannot tell a failure before the message was handed over from one after. ``VerifiedConnection``
fixes each of these; ``SmtpTransport`` uses it to deliver outbox rows over one connection.

``init_app`` registers Flask-Mail and puts RUTA_BASE_URL on every database session, where
``workflow.outbox.absolute_url`` reads it (the domain layer does not import Flask).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from email.utils import parseaddr
from types import TracebackType
from typing import Any

import flask_mail
from flask import Flask, current_app

from workflow.models import OutboxMessage
from workflow.outbox import (
    BASE_URL_INFO_KEY,
    DeliveryError,
    DeliveryPolicy,
    Stage,
    refusal_texts,
)

DEFAULTS: Mapping[str, Any] = {
    "MAIL_TIMEOUT_SECONDS": 30,
    "MAIL_CA_FILE": None,
    "MAIL_MAX_ATTEMPTS": 8,
    "MAIL_BATCH_SIZE": 50,
    "MAIL_STALE_CLAIM_MINUTES": 30,
}


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    flask_mail.Mail(app)
    factory = app.extensions["ruta_db"].session_factory
    info = dict(factory.kw.get("info") or {})
    info[BASE_URL_INFO_KEY] = app.config["RUTA_BASE_URL"]
    factory.configure(info=info)


def mail_state(config: Mapping[str, Any], *, debug: bool = False,
               testing: bool = False) -> Any:
    """Flask-Mail's settings read from ``config`` now (tests change it after create_app)."""
    return flask_mail.Mail().init_mail(dict(config), debug, testing)


def delivery_policy(config: Mapping[str, Any]) -> DeliveryPolicy:
    return DeliveryPolicy(
        max_attempts=int(config.get("MAIL_MAX_ATTEMPTS", DEFAULTS["MAIL_MAX_ATTEMPTS"])),
        batch_size=int(config.get("MAIL_BATCH_SIZE", DEFAULTS["MAIL_BATCH_SIZE"])),
        stale_claim=timedelta(minutes=int(config.get(
            "MAIL_STALE_CLAIM_MINUTES", DEFAULTS["MAIL_STALE_CLAIM_MINUTES"]))),
    )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifies the certificate chain and the host name: against ``ca_file`` alone when
    given (a self-hosted server, the tests), the system's CAs otherwise."""
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return ssl.create_default_context()


class VerifiedConnection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout on every SMTP operation, a verified TLS
    certificate (STARTTLS and SSL), refused recipients reported, and failures that say how
    far the message got (``DeliveryError.stage``)."""

    def __init__(self, mail: Any, *, timeout: float, ca_file: str | None = None) -> None:
        super().__init__(mail)
        self.timeout = timeout
        self.ca_file = ca_file

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def configure_host(self) -> smtplib.SMTP:
        host: smtplib.SMTP
        # Created without an address, so a failure while connecting can close the socket.
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(timeout=self.timeout, context=tls_context(self.ca_file))
        else:
            host = smtplib.SMTP(timeout=self.timeout)
        # smtplib checks the certificate against ``_host``, which only its constructor sets.
        host._host = self.mail.server  # type: ignore[attr-defined]
        try:
            host.set_debuglevel(int(self.mail.debug))
            host.connect(self.mail.server, self.mail.port)
            if self.mail.use_tls and not self.mail.use_ssl:
                # Refuses to go on in clear text when the server offers no STARTTLS.
                host.starttls(context=tls_context(self.ca_file))
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host

    def open(self) -> None:
        """Connect (and secure and log in). Raises ``DeliveryError`` at stage CONNECT."""
        try:
            self.host = self.configure_host()
        except OSError as error:  # smtplib, ssl and socket errors are all OSErrors
            raise DeliveryError(Stage.CONNECT, error) from error
        self.num_emails = 0

    def close(self) -> None:
        host, self.host = self.host, None
        if host is None:
            return
        try:
            host.quit()
        except OSError:
            host.close()

    def send(self, message: flask_mail.Message,
             envelope_from: str | tuple[str, str] | None = None,
             ) -> dict[str, tuple[int, bytes]]:
        """Send over the open connection; returns the refused recipients."""
        return self.send_to(message, list(message.send_to), envelope_from)

    def send_to(self, message: flask_mail.Message, recipients: Sequence[str | tuple[str, str]],
                envelope_from: str | tuple[str, str] | None = None,
                ) -> dict[str, tuple[int, bytes]]:
        if not recipients:
            raise DeliveryError(Stage.MESSAGE, ValueError("no recipients"))
        try:
            if message.has_bad_headers():
                raise flask_mail.BadHeaderError("line breaks in a header")
            if message.date is None:
                message.date = time.time()
            content = message.as_bytes()
            sender = flask_mail.sanitize_address(envelope_from or message.sender)
            addresses = flask_mail.sanitize_addresses(recipients)
        except Exception as error:  # whatever stops the message being built is permanent
            raise DeliveryError(Stage.MESSAGE, error) from error
        if self.host is None:
            self.open()
        refused = self._transact(sender, addresses, content)
        flask_mail.email_dispatched.send(current_app._get_current_object(), message=message)
        self.num_emails += 1
        if self.num_emails == self.mail.max_emails:
            self.close()  # the next message opens a new connection
        return refused

    def _transact(self, sender: str, recipients: list[str],
                  content: bytes) -> dict[str, tuple[int, bytes]]:
        # smtplib.sendmail in steps, to know whether DATA had been sent when it failed.
        host = self.host
        assert host is not None
        try:
            host.ehlo_or_helo_if_needed()
            options = []
            if host.does_esmtp and host.has_extn("size"):
                options.append(f"size={len(content)}")
            code, reply = host.mail(sender, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            refused: dict[str, tuple[int, bytes]] = {}
            for address in recipients:
                code, reply = host.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, reply)
            if len(refused) == len(recipients):
                raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
        except OSError as error:
            self.close()
            raise DeliveryError(Stage.ENVELOPE, error) from error
        try:
            code, reply = host.data(content)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except OSError as error:
            self.close()
            raise DeliveryError(Stage.DATA, error) from error
        return refused


def _message_id_domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or "ruta.local"


class SmtpTransport:
    """Delivers outbox rows with Flask-Mail over one reused ``VerifiedConnection``.

    Needs an app context (Flask-Mail reads ``current_app``). Settings are read from the
    app's config when the transport is made.
    """

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.mail = mail_state(config, debug=app.debug, testing=app.testing)
        self.sender = config["MAIL_DEFAULT_SENDER"]
        self.domain = _message_id_domain(self.sender)
        self.connection = VerifiedConnection(
            self.mail, timeout=float(config["MAIL_TIMEOUT_SECONDS"]),
            ca_file=config.get("MAIL_CA_FILE") or None)

    @property
    def suppressed(self) -> bool:
        return bool(self.mail.suppress)

    def build(self, row: OutboxMessage) -> flask_mail.Message:
        message = flask_mail.Message(
            subject=row.subject, recipients=list(row.recipients), cc=list(row.cc),
            body=row.text_body, html=row.html_body, sender=self.sender,
            # RFC 3834: automatic mail; vacation responders should not answer it.
            extra_headers={"Auto-Submitted": "auto-generated"},
        )
        # One Message-ID per row: if a retried message arrives twice, mail clients can
        # tell it is the same one.
        message.msgId = f"<ruta-correo-{row.id}@{self.domain}>"
        return message

    def send(self, row: OutboxMessage) -> dict[str, str]:
        try:
            message = self.build(row)
        except Exception as error:  # a row that cannot become a message never will
            raise DeliveryError(Stage.MESSAGE, error) from error
        recipients = list(dict.fromkeys([*row.recipients, *row.cc]))
        refused = self.connection.send_to(message, recipients)
        return refusal_texts(refused)

    def close(self) -> None:
        self.connection.close()
