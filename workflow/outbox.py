"""The transactional outbox: e-mail is data, written with the event and delivered by a job.

Queueing. ``enqueue`` renders ``templates/email/<kind>.subject.txt``, ``<kind>.txt`` and
``<kind>.html`` at once and inserts one ``OutboxMessage`` in the caller's transaction, so a
rolled-back event sends nothing, and the same ``dedupe_key`` twice queues one message. It
never commits and never talks to a mail server: nothing sends mail from inside a request.
Links in messages are absolute: build them with ``absolute_url(session, "/rutas/7")``.

Delivery. ``deliver_due`` claims due rows atomically (two deliverers never get the same
row), hands them to a ``Transport`` (the SMTP one is ``ruta.mail.SmtpTransport``) over one
connection, and commits each row's outcome as soon as it is known:

    pending ──claim──▶ sending ──▶ sent      (refused recipients, if any, recorded)
       ▲                  │──────▶ pending   (temporary failure: retried with backoff)
       │                  │──────▶ failed    (permanent refusal, or too many attempts)
       │                  └──────▶ unknown   (the connection broke after DATA: the server
       │                                      may have the message, so it is not resent)
       └──── ``retry`` by an administrator, from failed or (confirmed) unknown

A row left in ``sending`` by a deliverer that died becomes ``unknown`` too.

This module imports nothing from Flask.
"""

from __future__ import annotations

import re
import secrets
import smtplib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workflow.dates import fecha
from workflow.errors import DomainError, Forbidden, NotFound
from workflow.models import OutboxMessage, OutboxStatus, User, utcnow
from workflow.roles import Role

__all__ = [
    "BASE_URL_INFO_KEY",
    "DeliveryError",
    "DeliveryPolicy",
    "DeliveryReport",
    "DuplicateRiskNotConfirmed",
    "Email",
    "NotRetryable",
    "Outcome",
    "RenderedEmail",
    "Stage",
    "Transport",
    "absolute_url",
    "enqueue_many",
    "backoff",
    "claim",
    "classify",
    "deliver_batch",
    "deliver_due",
    "enqueue",
    "mark_stuck_unknown",
    "refusal_texts",
    "refusals",
    "render",
    "retry",
]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
# ``Session.info`` key holding RUTA_BASE_URL; the app sets it on every session it makes.
BASE_URL_INFO_KEY = "ruta_base_url"
MAX_SUBJECT_LENGTH = 300
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
ADDRESS_PATTERN = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


# --- rendering ----------------------------------------------------------------------------


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # Only the .html half is escaped; the subject and the .txt half are plain text.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                     default=False),
        # A misspelt variable must fail loudly, not send an e-mail with a hole in it.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Templates ship with the code: checking their files on every render (three per
        # message) cost the daily pass a stat call per template.
        auto_reload=False,
    )
    environment.filters["fecha"] = fecha
    return environment


EMAIL_TEMPLATES = _environment()


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(kind: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render the template trio of ``kind``. The subject is folded into one line."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"not an e-mail kind: {kind!r}")
    subject = " ".join(
        EMAIL_TEMPLATES.get_template(f"{kind}.subject.txt").render(context).split())
    if len(subject) > MAX_SUBJECT_LENGTH:
        subject = subject[:MAX_SUBJECT_LENGTH - 1].rstrip() + "…"
    return RenderedEmail(
        subject=subject,
        text=EMAIL_TEMPLATES.get_template(f"{kind}.txt").render(context),
        html=EMAIL_TEMPLATES.get_template(f"{kind}.html").render(context),
    )


def absolute_url(session: Session, path: str) -> str:
    """``path`` on the public address of the service (config RUTA_BASE_URL)."""
    base = session.info.get(BASE_URL_INFO_KEY)
    if not base:
        raise RuntimeError(
            f"session.info[{BASE_URL_INFO_KEY!r}] is not set: sessions must come from the "
            "app (ruta.mail.init_app sets RUTA_BASE_URL on them)")
    return str(base).rstrip("/") + "/" + path.lstrip("/")


# --- queueing -----------------------------------------------------------------------------


def _addresses(addresses: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for address in addresses:
        address = address.strip().lower()
        if not ADDRESS_PATTERN.match(address):
            raise ValueError(f"not an e-mail address: {address!r}")
        if address not in cleaned:
            cleaned.append(address)
    return cleaned


@dataclass(frozen=True)
class Email:
    """One message to queue: what ``enqueue`` takes, as a value (see ``enqueue_many``)."""

    kind: str
    to: Sequence[str] | str
    context: Mapping[str, Any]
    dedupe_key: str
    secretaria_id: int
    ruta_id: int | None = None
    cc: Sequence[str] = ()


def _row(email: Email, moment: datetime) -> dict[str, Any]:
    recipients = _addresses([email.to] if isinstance(email.to, str) else email.to)
    if not recipients:
        raise ValueError("an e-mail needs at least one recipient")
    copies = [address for address in _addresses(email.cc) if address not in recipients]
    if not email.dedupe_key or len(email.dedupe_key) > 200:
        raise ValueError(f"a dedupe key has 1 to 200 characters: {email.dedupe_key!r}")
    rendered = render(email.kind, email.context)
    return {
        "secretaria_id": email.secretaria_id, "ruta_id": email.ruta_id, "kind": email.kind,
        "dedupe_key": email.dedupe_key, "recipients": recipients, "cc": copies,
        "subject": rendered.subject, "text_body": rendered.text, "html_body": rendered.html,
        "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": moment,
        "claimed_at": None, "claim_token": None, "last_error": None,
        "refused_recipients": {}, "created_at": moment, "sent_at": None,
    }


def enqueue_many(session: Session, emails: Sequence[Email], *,
                 now: datetime | None = None) -> set[str]:
    """Queue ``emails`` in the caller's transaction with a few multi-row INSERTs.

    Returns the dedupe keys that were queued; a key that already had a message (or repeats
    within ``emails``) queues nothing more. Same guarantees as ``enqueue``, which it backs.
    """
    moment = now or utcnow()
    rows = list({row["dedupe_key"]: row for row in (_row(email, moment) for email in emails)
                 }.values())
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert = postgresql_insert
    elif dialect == "sqlite":
        insert = sqlite_insert
    else:  # pragma: no cover - the project runs on these two
        raise NotImplementedError(f"no idempotent insert for {dialect}")
    if not rows:
        return set()
    # One statement, the rows as parameters: SQLAlchemy batches them into multi-row
    # INSERTs ("insertmanyvalues") compiled once. RETURNING, not rowcount: psycopg 3
    # reports -1 for some statements.
    statement = (insert(OutboxMessage)
                 .on_conflict_do_nothing(index_elements=["dedupe_key"])
                 .returning(OutboxMessage.dedupe_key))
    return set(session.execute(statement, rows).scalars())


def enqueue(session: Session, *, kind: str, to: Sequence[str] | str,
            context: Mapping[str, Any], dedupe_key: str, secretaria_id: int,
            ruta_id: int | None = None, cc: Sequence[str] = (),
            now: datetime | None = None) -> bool:
    """Queue one e-mail in the caller's transaction. True if queued, False if a message
    with ``dedupe_key`` already exists (then nothing changes).

    ``kind`` names the templates ``templates/email/<kind>.subject.txt``, ``.txt`` and
    ``.html``, rendered now with ``context`` (plain values: the templates cannot query).
    ``to`` and ``cc`` are bare addresses. ``secretaria_id`` decides whose administrators see
    the message on "Correo saliente". Choose a ``dedupe_key`` that names the cause and the
    audience, e.g. ``f"transition:{entry.id}:rector"`` or
    ``f"reminder:{ruta.id}:{kind}:{checkpoint}"``: the same cause never mails twice.
    ``now`` (default: the current time) is when the message becomes due.

    Flushes nothing of the caller's and never commits.
    """
    email = Email(kind=kind, to=to, context=context, dedupe_key=dedupe_key,
                  secretaria_id=secretaria_id, ruta_id=ruta_id, cc=cc)
    return bool(enqueue_many(session, [email], now=now))


# --- delivery -----------------------------------------------------------------------------


class Stage(StrEnum):
    """How far a message got when delivery failed; it decides whether resending is safe."""

    MESSAGE = "message"    # the message could not be built: nothing left this process
    CONNECT = "connect"    # no connection (refused, timeout, TLS, login): nothing was sent
    ENVELOPE = "envelope"  # MAIL FROM / RCPT TO: the server has no message yet
    DATA = "data"          # DATA was sent: the server may have the whole message


class DeliveryError(Exception):
    """A transport's report that one message was not (known to be) delivered."""

    def __init__(self, stage: Stage, cause: BaseException) -> None:
        super().__init__(f"{stage.value}: {cause!r}")
        self.stage = stage
        self.cause = cause


class Transport(Protocol):
    """What delivers rows. Opens its connection on the first ``send`` and reuses it."""

    def send(self, message: OutboxMessage) -> Mapping[str, str]:
        """Deliver ``message``. Returns the refused recipients (address → server reply)
        when the server accepted it for the others. Raises ``DeliveryError``."""
        ...

    def close(self) -> None:
        """Close the connection, if any. Never raises."""
        ...


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"


def refusal_texts(refused: Mapping[str, tuple[int, bytes | str]]) -> dict[str, str]:
    """Refused recipients as stored and shown: address → "550 5.1.1 ..."."""
    return {str(address): _reply_text(code, reply) for address, (code, reply) in refused.items()}


def refusals(error: smtplib.SMTPRecipientsRefused) -> dict[str, str]:
    return refusal_texts(error.recipients)


def classify(error: DeliveryError) -> Outcome:
    """What a failure means for the row (before counting attempts).

    An explicit 5xx reply to the message is permanent; a 4xx reply, or no connection at all,
    is worth retrying. A broken connection after DATA is ambiguous: the server may have
    accepted the message, so it is never resent automatically.
    """
    cause = error.cause
    if error.stage is Stage.MESSAGE:
        return Outcome.FAILED
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in cause.recipients.values()]
        return Outcome.FAILED if codes and min(codes) >= 500 else Outcome.RETRY
    if isinstance(cause, smtplib.SMTPResponseException) and error.stage is not Stage.CONNECT:
        return Outcome.FAILED if cause.smtp_code >= 500 else Outcome.RETRY
    if error.stage is Stage.DATA:
        return Outcome.UNKNOWN
    return Outcome.RETRY


def describe(error: DeliveryError) -> str:
    """The error as the administrator reads it on "Correo saliente"."""
    cause = error.cause
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{address}: {reply}" for address, reply in refusals(cause).items())
        return f"El servidor de correo rechazó todos los destinatarios: {detail}"
    if isinstance(cause, smtplib.SMTPResponseException):
        detail = _reply_text(cause.smtp_code, cause.smtp_error)
    else:
        detail = f"{type(cause).__name__}: {cause}"
    summary = {
        Stage.MESSAGE: "No se pudo armar el mensaje",
        Stage.CONNECT: "No se pudo conectar con el servidor de correo",
        Stage.ENVELOPE: "El servidor de correo no aceptó el envío",
        Stage.DATA: ("El servidor de correo rechazó el mensaje"
                     if isinstance(cause, smtplib.SMTPResponseException) else
                     "La conexión se cortó después de entregar el mensaje; puede haber "
                     "llegado, por eso no se reenvía solo"),
    }[error.stage]
    return f"{summary}. {detail}"[:2000]


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try. Attempt n waits ``backoff_base`` × 2^(n-1), at most ``backoff_cap``."""

    max_attempts: int = 8
    batch_size: int = 50
    # A claim older than this belongs to a deliverer that died: the row becomes unknown.
    # It must exceed the longest a batch can take (batch size × the SMTP timeouts).
    stale_claim: timedelta = timedelta(minutes=30)
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_cap: timedelta = timedelta(hours=4)


def backoff(attempts: int, policy: DeliveryPolicy) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1 → 1 min, 2 → 2 min…)."""
    if attempts < 1:
        return timedelta(0)
    exponent = min(attempts - 1, 32)  # 2**32 minutes is past any cap
    return min(policy.backoff_base * (2 ** exponent), policy.backoff_cap)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unknown: int = 0
    # Rows found stuck in ``sending`` (a deliverer died) and turned unknown.
    recovered: int = 0
    # The mail server could not be reached: the rest of the run was put off.
    unreachable: bool = False
    # MAIL_SUPPRESS_SEND is on: nothing was claimed.
    suppressed: bool = False
    refused_recipients: int = 0

    def add(self, other: DeliveryReport) -> None:
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            setattr(self, item.name, (mine or theirs) if isinstance(mine, bool)
                    else mine + theirs)

    def count(self, status: OutboxStatus) -> None:
        name = {OutboxStatus.SENT: "sent", OutboxStatus.PENDING: "retrying",
                OutboxStatus.FAILED: "failed", OutboxStatus.UNKNOWN: "unknown"}[status]
        setattr(self, name, getattr(self, name) + 1)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def mark_stuck_unknown(session: Session, *, now: datetime, stale_after: timedelta) -> int:
    """Rows claimed before ``now - stale_after`` and still ``sending`` become ``unknown``.

    Their deliverer died mid-batch and nobody knows whether the server got them. The claim
    token stays, so a deliverer that was only slow can still record ``sent``.
    """
    recovered = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING,
               OutboxMessage.claimed_at < now - stale_after)
        .values(status=OutboxStatus.UNKNOWN, attempts=OutboxMessage.attempts + 1,
                last_error="El proceso de envío se interrumpió con el mensaje en curso; "
                           "puede haber llegado, por eso no se reenvía solo.")
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return len(recovered)


def claim(session: Session, *, now: datetime, limit: int, token: str) -> list[int]:
    """Atomically mark up to ``limit`` due pending rows ``sending`` under ``token``.

    PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED, then UPDATE those rows, in one transaction:
    concurrent deliverers split the rows instead of waiting or sharing. (Not one UPDATE …
    WHERE id IN (that SELECT): PostgreSQL may rescan the subquery, and each rescan skips the
    rows the statement already changed and locks more, past the LIMIT.)
    SQLite: a single UPDATE, whose write lock serializes deliverers; it re-checks ``status``.
    The caller commits.
    """
    due = (select(OutboxMessage.id)
           .where(OutboxMessage.status == OutboxStatus.PENDING,
                  OutboxMessage.next_attempt_at <= now)
           .order_by(OutboxMessage.id)
           .limit(limit))
    if _dialect(session) == "postgresql":
        locked = list(session.scalars(due.with_for_update(skip_locked=True)))
        if not locked:
            return []
        candidates: Any = locked
    else:
        candidates = due
    claimed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, claimed_at=now, claim_token=token)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return sorted(claimed)


def _owned(session: Session, message_id: int, token: str) -> OutboxMessage | None:
    """The row, if this run's claim on it still stands (nobody recovered or retried it)."""
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claim_token == token,
               OutboxMessage.status == OutboxStatus.SENDING)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _record(session: Session, message_id: int, token: str, **values: Any) -> None:
    # Guarded by the token: a row an administrator retried meanwhile is not overwritten.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claim_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _record_sent(session: Session, message: OutboxMessage, token: str,
                 refused: Mapping[str, str], now: datetime) -> OutboxStatus:
    _record(session, message.id, token, status=OutboxStatus.SENT, sent_at=now,
            attempts=message.attempts + 1, claim_token=None,
            refused_recipients=dict(refused))
    return OutboxStatus.SENT


def _record_failure(session: Session, message: OutboxMessage, token: str,
                    error: DeliveryError, now: datetime, policy: DeliveryPolicy,
                    ) -> OutboxStatus:
    attempts = message.attempts + 1
    outcome = classify(error)
    if outcome is Outcome.RETRY and attempts >= policy.max_attempts:
        outcome = Outcome.FAILED
    values: dict[str, Any] = {"attempts": attempts, "last_error": describe(error),
                              "claim_token": None}
    # What the last attempt was refused, if that is why it failed.
    values["refused_recipients"] = (refusals(error.cause) if isinstance(
        error.cause, smtplib.SMTPRecipientsRefused) else {})
    if outcome is Outcome.RETRY:
        values.update(status=OutboxStatus.PENDING, claimed_at=None,
                      next_attempt_at=now + backoff(attempts, policy))
    else:
        values["status"] = (OutboxStatus.UNKNOWN if outcome is Outcome.UNKNOWN
                            else OutboxStatus.FAILED)
    _record(session, message.id, token, **values)
    return values["status"]  # type: ignore[no-any-return]


def deliver_batch(session: Session, transport: Transport, *, now: datetime,
                  policy: DeliveryPolicy) -> DeliveryReport:
    """Claim up to ``policy.batch_size`` due rows and deliver them through ``transport``.

    Commits the claim, then each row's outcome right after it is known, so a crash
    mid-batch never resends a row already recorded as sent. When the server cannot be
    reached, every row of the batch counts an attempt and waits for its backoff.
    Closes the transport.
    """
    report = DeliveryReport()
    report.recovered = mark_stuck_unknown(session, now=now, stale_after=policy.stale_claim)
    token = secrets.token_hex(16)
    claimed = claim(session, now=now, limit=policy.batch_size, token=token)
    session.commit()
    report.claimed = len(claimed)
    try:
        for position, message_id in enumerate(claimed):
            message = _owned(session, message_id, token)
            if message is None:
                continue
            try:
                refused = transport.send(message)
            except DeliveryError as error:
                report.count(_record_failure(session, message, token, error, now, policy))
                if error.stage is Stage.CONNECT:
                    # No connection for this row means none for the rest of the batch.
                    for rest_id in claimed[position + 1:]:
                        rest = _owned(session, rest_id, token)
                        if rest is not None:
                            report.count(_record_failure(session, rest, token, error, now,
                                                         policy))
                    report.unreachable = True
                    session.commit()
                    break
            else:
                report.count(_record_sent(session, message, token, refused, now))
                report.refused_recipients += len(refused)
            session.commit()
    finally:
        transport.close()
    return report


def deliver_due(session: Session, open_transport: Callable[[], Transport], *, now: datetime,
                policy: DeliveryPolicy) -> DeliveryReport:
    """Drain the outbox once: batch after batch until nothing is due at ``now``.

    Stops early when the server is unreachable (the next run tries again).
    """
    total = DeliveryReport()
    while True:
        report = deliver_batch(session, open_transport(), now=now, policy=policy)
        total.add(report)
        if report.claimed == 0 or report.unreachable:
            return total


# --- the administrators' view -------------------------------------------------------------


class NotRetryable(DomainError):
    status = 409

    def __init__(self, status: OutboxStatus) -> None:
        super().__init__(f"Este mensaje está «{status.label.lower()}»: solo se reintentan los "
                         "mensajes fallidos o inciertos.")


class DuplicateRiskNotConfirmed(DomainError):
    status = 422

    def __init__(self) -> None:
        super().__init__("Confirme que entiende que el mensaje puede llegar dos veces: el "
                         "servidor de correo pudo haberlo recibido ya.")


def retry(session: Session, message: OutboxMessage, *, actor: User,
          confirm_duplicate: bool = False, now: datetime | None = None) -> None:
    """Put a failed or unknown message back in the queue, due now, with fresh attempts.

    An unknown message may already be in the reader's inbox: retrying it needs
    ``confirm_duplicate``. Changes: status, attempts, next attempt, claim. Flushes.
    """
    if actor.role is not Role.ADMINISTRADOR or not actor.active:
        raise Forbidden("Solo la administración de la Secretaría reintenta mensajes.")
    if actor.secretaria_id != message.secretaria_id:
        raise NotFound("No encontramos ese mensaje.")
    if message.status not in (OutboxStatus.FAILED, OutboxStatus.UNKNOWN):
        raise NotRetryable(message.status)
    if message.status is OutboxStatus.UNKNOWN and not confirm_duplicate:
        raise DuplicateRiskNotConfirmed()
    message.status = OutboxStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = now or utcnow()
    message.claim_token = None
    message.claimed_at = None
    session.flush()

