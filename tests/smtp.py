"""Real SMTP servers for tests: aiosmtpd on a free loopback port, and misbehaving ones.

Fixtures ``smtp`` (a recording server) and ``certificates`` (a test CA): import
``smtp_fixture`` / ``certificates_fixture`` into a test module to use them. Or call the
context managers directly. Every server, socket and thread started here is stopped on exit,
so nothing leaks into the next test (warnings are errors).

Handlers:
- ``RecordingHandler``: accepts everything and records what arrived (``received``).
- ``RefusingHandler``: answers RCPT TO with 550 for the addresses in ``refused``.
- ``DropAfterDataHandler``: records the message, then cuts the connection before replying.
- ``SilentAfterDataHandler``: records the message and never replies (a client timeout).

Plain sockets: ``silent_port`` accepts connections and never says a word; ``closed_port``
is a port nobody listens on (connection refused).
"""

from __future__ import annotations

import asyncio
import email
import itertools
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message as the server got it: the envelope and the parsed content."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    # Which connection brought it (1, 2, …): messages of one connection share it.
    connection: int

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def header(self, name: str) -> str:
        return str(self.message[name])

    def addresses(self, name: str) -> set[str]:
        value = self.message[name]
        if value is None:
            return set()
        return {address.addr_spec for address in value.addresses}

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                # SMTP carries CRLF line ends; compare with what the templates wrote.
                return str(part.get_content()).replace("\r\n", "\n")
        raise AssertionError(f"no {content_type} part in {self.subject!r}")

    @property
    def text(self) -> str:
        return self.part("text/plain")

    @property
    def html(self) -> str:
        return self.part("text/html")


class RecordingHandler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._connections = itertools.count(1)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def record(self, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            # The client's port may be reused by its next connection: number the sessions.
            if not hasattr(session, "test_connection"):
                session.test_connection = next(self._connections)  # type: ignore[attr-defined]
            self._received.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos),
                                           parsed, session.test_connection))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.record(session, envelope)
        return "250 Message accepted for delivery"


class RefusingHandler(RecordingHandler):
    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = {address.lower() for address in refused}

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 Mailbox does not exist"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class DropAfterDataHandler(RecordingHandler):
    """The server got the whole message, then the connection broke before its reply.

    With ``only_for``, only messages to one of those addresses are dropped.
    """

    def __init__(self, only_for: set[str] | None = None) -> None:
        super().__init__()
        self.only_for = only_for

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.record(session, envelope)
        if self.only_for is not None and not self.only_for & set(envelope.rcpt_tos):
            return "250 Message accepted for delivery"
        assert server.transport is not None
        server.transport.abort()
        # The reply below is written to a dead transport and never reaches the client.
        return "250 Message accepted for delivery"


class SilentAfterDataHandler(RecordingHandler):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.record(session, envelope)
        await asyncio.sleep(3600)  # cancelled when the server stops
        return "250 Message accepted for delivery"


class _LoopbackController(Controller):
    """aiosmtpd's controller on port 0: the system picks a free port, read back here."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: Any

    @property
    def received(self) -> list[Received]:
        return self.handler.received  # type: ignore[no-any-return]


@contextmanager
def smtp_server(handler: Any | None = None, *, starttls: ssl.SSLContext | None = None,
                implicit_tls: ssl.SSLContext | None = None) -> Iterator[SmtpServer]:
    """An aiosmtpd server on a free loopback port, stopped (thread joined) on exit.

    ``starttls``: offer STARTTLS with this server context (and require it).
    ``implicit_tls``: speak TLS from the first byte (SMTPS).
    """
    handler = handler if handler is not None else RecordingHandler()
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    controller = _LoopbackController(handler, hostname=LOOPBACK, port=0,
                                     ssl_context=implicit_tls, **options)
    controller.start()
    try:
        yield SmtpServer(LOOPBACK, controller.port, handler)
    finally:
        controller.stop()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        yield listener.getsockname()[1]
    finally:
        listener.close()


def closed_port() -> int:
    """A port nobody listens on: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Certificates:
    """A test CA, its PEM file for MAIL_CA_FILE, and server contexts signed by it."""

    authority: trustme.CA
    ca_file: Path

    def server_context(self, *names: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.authority.issue_cert(*(names or (LOOPBACK,))).configure_cert(context)
        return context


def mail_config(server: SmtpServer | None = None, **overrides: Any) -> dict[str, Any]:
    """App config that delivers to ``server`` over plain SMTP, really (not suppressed)."""
    config: dict[str, Any] = {
        "MAIL_SERVER": server.host if server else LOOPBACK,
        "MAIL_PORT": server.port if server else closed_port(),
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        # Flask-Mail sends nothing under TESTING unless told so.
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "Ruta de Mejoramiento <no-responder@ruta.prueba.co>",
        "MAIL_TIMEOUT_SECONDS": 5,
        "MAIL_CA_FILE": None,
    }
    config.update(overrides)
    return config


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[SmtpServer]:
    """A recording SMTP server."""
    with smtp_server() as server:
        yield server


@pytest.fixture(name="certificates", scope="session")
def certificates_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    authority = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return Certificates(authority, ca_file)


# --- handlers for the fault tests (tests/correo/test_mail_faults.py) -----------------------


class RefuseAfterHandler(RecordingHandler):
    """Accepts ``accept`` messages, then refuses every MAIL FROM (and closes the connection)
    until ``reopen()``: with ``how="421"`` it answers 421 first, with ``how="close"`` it cuts
    the connection without a word."""

    def __init__(self, accept: int, how: str = "421") -> None:
        super().__init__()
        self.accept = accept
        self.how = how
        self.refusing = True
        self.refusals = 0

    def reopen(self) -> None:
        with self._lock:
            self.refusing = False

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        with self._lock:
            refuse = self.refusing and len(self._received) >= self.accept
            if refuse:
                self.refusals += 1
        assert server.transport is not None
        if refuse and self.how == "close":
            server.transport.abort()
            return "250 OK"  # written to a dead transport: the client never reads it
        if refuse:
            # close() flushes the reply first; scheduled so the reply is written before it.
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.3.2 Service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


class SlowHandler(RecordingHandler):
    """Records each message, then waits ``delay`` seconds before accepting it; the
    ``hold_at``-th message (1-based) is recorded and never answered (its client hangs)."""

    def __init__(self, delay: float, hold_at: int | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.hold_at = hold_at

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.record(session, envelope)
        with self._lock:
            held = self.hold_at is not None and len(self._received) == self.hold_at
        await asyncio.sleep(3600 if held else self.delay)  # cancelled when the server stops
        return "250 Message accepted for delivery"
