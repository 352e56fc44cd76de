"""Flask-Mail over real SMTP, made safe to run unattended, and the outbox's SMTP transport.

Flask-Mail 0.10 does not verify the server's certificate on STARTTLS, has no timeout (a
silent server blocks forever), drops a refused recipient among several without a word, and
cannot tell a failure before the message was handed over from one after. ``VerifiedConnection``
fixes each of these; ``SmtpTransport`` uses it to deliver outbox rows over one connection.

``init_app`` registers Flask-Mail and puts RUTA_BASE_URL on every database session, where
``workflow.outbox.absolute_url`` reads it (the domain layer does not import Flask).
"""

from __future__ import annotations

import base64
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from email.utils import formatdate, parseaddr
from functools import lru_cache
from types import TracebackType
from typing import Any

import flask_mail
from flask import Flask, current_app

from workflow.correo.delivery import DeliveryError, DeliveryPolicy, Outgoing, Stage, refusal_texts
from workflow.outbox import BASE_URL_INFO_KEY, reveal

DEFAULTS: Mapping[str, Any] = {
    "MAIL_TIMEOUT_SECONDS": 30,
    "MAIL_CA_FILE": None,
    "MAIL_MAX_ATTEMPTS": 8,
    "MAIL_BATCH_SIZE": 50,
    "MAIL_STALE_CLAIM_MINUTES": 30,
    # Deliverers side by side, each over its own SMTP connection (jobs/deliver.py).
    "MAIL_DELIVERY_WORKERS": 4,
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
                before_data: Callable[[], None] | None = None,
                ) -> dict[str, tuple[int, bytes]]:
        if not recipients:
            raise DeliveryError(Stage.MESSAGE, ValueError("no recipients"))
        try:
            if message.has_bad_headers():
                raise flask_mail.BadHeaderError("line breaks in a header")
            if message.date is None:
                message.date = time.time()
            content = message.as_bytes()
            sender_address = envelope_from or message.sender
            sender = (_sender_header(sender_address) if isinstance(sender_address, str)
                      else flask_mail.sanitize_address(sender_address))
            addresses = [_addresses([address])[0] if isinstance(address, str)
                         else flask_mail.sanitize_address(address) for address in recipients]
        except Exception as error:  # whatever stops the message being built is permanent
            raise DeliveryError(Stage.MESSAGE, error) from error
        if self.host is None:
            self.open()
        refused = self._transact(sender, addresses, content, before_data)
        flask_mail.email_dispatched.send(current_app._get_current_object(), message=message)
        self.num_emails += 1
        if self.num_emails == self.mail.max_emails:
            self.close()  # the next message opens a new connection
        return refused

    def _transact(self, sender: str, recipients: list[str], content: bytes,
                  before_data: Callable[[], None] | None = None,
                  ) -> dict[str, tuple[int, bytes]]:
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
        if before_data is not None:
            try:
                before_data()  # e.g. record that the server may have it from now on
            except BaseException:
                self.close()  # no DATA: the server drops the envelope with the connection
                raise
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


# RFC 2047: a line of encoded words is at most 76 characters. 39 bytes are 52 base64
# characters, a 64-character word: "Subject: " and a word fit in 78.
_WORD_BYTES = 39
_HEADER_WIDTH = 78


def _encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 base64 words, split between characters, never inside one."""
    words: list[str] = []
    chunk = bytearray()
    for character in text:
        encoded = character.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
            chunk = bytearray()
        chunk += encoded
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
    return words


def _fold(name: str, items: Iterable[str], separator: str) -> str:
    """``Name: item<sep> item…``, folded (CRLF + space) before an item that would pass 78
    characters. Items are never split."""
    lines: list[str] = []
    line = ""
    for item in items:
        if not line:
            line = f"{name}: {item}"
        elif len(line) + len(separator) + 1 + len(item) > _HEADER_WIDTH:
            lines.append(line + separator)
            line = f" {item}"
        else:
            line += f"{separator} {item}"
    lines.append(line or f"{name}:")
    return "\r\n".join(lines)


# A bare ASCII address with nothing to quote or encode: what sanitize_address returns it as.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _addresses(addresses: Sequence[str]) -> list[str]:
    return [address if _PLAIN_ADDRESS.fullmatch(address)
            else flask_mail.sanitize_address(address) for address in addresses]


@lru_cache(maxsize=16)
def _sender_header(sender: str) -> str:
    return flask_mail.sanitize_address(sender)


def _subject_header(subject: str) -> str:
    if subject.isascii() and len("Subject: ") + len(subject) <= _HEADER_WIDTH:
        return f"Subject: {subject}"
    return _fold("Subject", _encoded_words(subject), "")


def _text_part(content_type: str, text: str) -> bytes:
    # Text in canonical form (CRLF line ends), base64 in 76-character lines, as Flask-Mail's
    # MIMEText does for UTF-8: safe through any relay, whatever the characters.
    canonical = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    encoded = base64.encodebytes(canonical).replace(b"\n", b"\r\n")
    return (f'Content-Type: {content_type}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode("ascii") + encoded


class OutboxMailMessage(flask_mail.Message):
    """Flask-Mail's ``Message`` for an outbox row, with its MIME form written directly.

    Flask-Mail builds every message through the ``email`` package (``MIMEMultipart`` and
    its generator), and its constructor asks the system for the host name
    (``make_msgid``): 1.7 ms a message, a third of delivery. An outbox row is always the
    same shape, a text and an HTML alternative of one UTF-8 message with no attachments, so
    ``as_bytes`` writes that shape itself: multipart/alternative, both parts in base64,
    RFC 2047 subject, headers folded at 78 characters. Addresses still go through
    Flask-Mail's ``sanitize_address``, the message through ``has_bad_headers`` and
    Flask-Mail's connection (``VerifiedConnection``); tests parse what arrives with the
    standard library and compare it with what Flask-Mail itself builds.
    """

    def __init__(self, *, subject: str, recipients: Sequence[str], cc: Sequence[str],
                 body: str, html: str, sender: str, msg_id: str,
                 extra_headers: Mapping[str, str]) -> None:
        # Not super().__init__(): it calls make_msgid() (a host-name lookup) for a Message-ID
        # this class replaces anyway. Every attribute Flask-Mail reads is set here.
        self.subject = subject
        self.recipients = list(recipients)
        self.cc = list(cc)
        self.bcc = []
        self.sender = sender
        self.reply_to = None
        self.body = body
        self.alts = {"html": html}
        self.date = None
        self.msgId = msg_id
        self.charset = "utf-8"
        self.extra_headers = dict(extra_headers)
        self.mail_options = []
        self.rcpt_options = []
        self.attachments = []

    def as_bytes(self) -> bytes:
        boundary = f"==ruta-{secrets.token_hex(8)}=="  # "-" never occurs in base64
        headers = [
            f"From: {_sender_header(str(self.sender))}",
            _fold("To", _addresses([str(address) for address in self.recipients]), ","),
        ]
        if self.cc:
            headers.append(_fold("Cc", _addresses([str(address) for address in self.cc]), ","))
        headers += [
            _subject_header(self.subject),
            f"Date: {formatdate(self.date, localtime=True)}",
            f"Message-ID: {self.msgId}",
            *(f"{name}: {value}" for name, value in (self.extra_headers or {}).items()),
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
        return b"".join([
            "\r\n".join(headers).encode("ascii"), b"\r\n",
            delimiter, _text_part("text/plain", self.body or ""),
            delimiter, _text_part("text/html", self.html or ""),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ])

    def as_string(self) -> str:
        return self.as_bytes().decode("ascii")


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

    def build(self, row: Outgoing) -> OutboxMailMessage:
        return OutboxMailMessage(
            subject=row.subject, recipients=row.recipients, cc=row.cc,
            body=reveal(row.text_body, row.secret_link, html=False),
            html=reveal(row.html_body, row.secret_link, html=True), sender=self.sender,
            # One Message-ID per row: if a retried message arrives twice, mail clients can
            # tell it is the same one.
            msg_id=f"<ruta-correo-{row.id}@{self.domain}>",
            # RFC 3834: automatic mail; vacation responders should not answer it.
            extra_headers={"Auto-Submitted": "auto-generated"},
        )

    def send(self, row: Outgoing,
             before_data: Callable[[], None] | None = None) -> dict[str, str]:
        try:
            message = self.build(row)
        except Exception as error:  # a row that cannot become a message never will
            raise DeliveryError(Stage.MESSAGE, error) from error
        recipients = list(dict.fromkeys([*row.recipients, *row.cc]))
        refused = self.connection.send_to(message, recipients, before_data=before_data)
        return refusal_texts(refused)

    def close(self) -> None:
        self.connection.close()
