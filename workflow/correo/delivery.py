"""Delivery of the outbox: the rows ``workflow.outbox`` queued, handed to a mail server.

``deliver_due`` claims due rows atomically (two deliverers never get the same
row), hands them to a ``Transport`` (the SMTP one is ``ruta.mail.SmtpTransport``) over one
connection, and commits each row's outcome as soon as it is known:

    pending ──claim──▶ sending ──▶ sent      (refused recipients, if any, recorded)
       ▲                  │──────▶ pending   (temporary failure: retried with backoff)
       │                  │──────▶ failed    (permanent refusal, or too many attempts)
       │                  └──────▶ unknown   (the connection broke after DATA: the server
       │                                      may have the message, so it is not resent)
       └──── ``retry`` by an administrator, from failed or (confirmed) unknown

Right before a row's own DATA its ``handed_at`` is committed: from then on the server may
have it. A claim left in ``sending`` by a deliverer that died (stale after
``DeliveryPolicy.stale_claim``) goes back to ``pending`` when it was never handed over, and
becomes ``unknown`` only when it was: a crash leaves at most one «incierto» row per
deliverer, the one whose DATA was in flight.

The job that runs it is ``jobs.deliver``. This module imports nothing from Flask.
"""

from __future__ import annotations

import secrets
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from sqlalchemy import Select, Table, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from workflow.errors import DomainError, Forbidden, NotFound
from workflow.models import OutboxMessage, OutboxStatus, User, utcnow
from workflow.roles import Role

__all__ = [
    "DeliveryError",
    "DeliveryPolicy",
    "DeliveryReport",
    "DuplicateRiskNotConfirmed",
    "NotRetryable",
    "Outcome",
    "Outgoing",
    "Stage",
    "Transport",
    "backoff",
    "claim",
    "classify",
    "deliver_batch",
    "deliver_due",
    "recover_stale_claims",
    "refusal_texts",
    "refusals",
    "retry",
    "retry_unknown",
    "unknown_between",
]


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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a transport needs of a claimed row: read with one plain SELECT, no ORM object."""

    id: int
    recipients: list[str]
    cc: list[str]
    subject: str
    text_body: str
    html_body: str
    attempts: int
    # The personal link the bodies' placeholder stands for (``workflow.outbox.reveal``).
    secret_link: str | None = None


# Delivery reads and writes one row at a time through the table (Core), not the ORM entity:
# no ORM compilation or bookkeeping on the per-message path.
OUTBOX: Final[Table] = OutboxMessage.__table__  # type: ignore[assignment]
OUTGOING_COLUMNS: Final = tuple(OUTBOX.c[field] for field in (
    "id", "recipients", "cc", "subject", "text_body", "html_body", "attempts",
    "secret_link"))


class Transport(Protocol):
    """What delivers rows. Opens its connection on the first ``send`` and reuses it."""

    def send(self, message: Outgoing,
             before_data: Callable[[], None] | None = None) -> Mapping[str, str]:
        """Deliver ``message``, calling ``before_data`` right before its DATA (after the
        envelope was accepted). Returns the refused recipients (address → server reply)
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
    # Rows found stuck in ``sending`` (a deliverer died) with their DATA in flight: unknown.
    recovered: int = 0
    # Rows found stuck in ``sending`` that were never handed to the server: queued again.
    requeued: int = 0
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


STUCK_IN_FLIGHT: Final = ("El proceso de envío se interrumpió con el mensaje en curso; puede "
                          "haber llegado, por eso no se reenvía solo.")


def recover_stale_claims(session: Session, *, now: datetime,
                         stale_after: timedelta) -> tuple[int, int]:
    """Rows claimed before ``now - stale_after`` and still ``sending``: their deliverer died.

    Those never handed to the server go back to the queue, due now, with no attempt counted.
    The one whose DATA was in flight (``handed_at`` set) becomes ``unknown``: nobody knows
    whether the server got it. Its claim token stays, so a deliverer that was only slow can
    still record ``sent``. Returns (unknown, requeued).
    """
    stale = (OutboxMessage.status == OutboxStatus.SENDING,
             OutboxMessage.claimed_at < now - stale_after)
    unknown = session.execute(
        update(OutboxMessage)
        .where(*stale, OutboxMessage.handed_at.is_not(None))
        .values(status=OutboxStatus.UNKNOWN, attempts=OutboxMessage.attempts + 1,
                last_error=STUCK_IN_FLIGHT)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    requeued = session.execute(
        update(OutboxMessage)
        .where(*stale, OutboxMessage.handed_at.is_(None))
        .values(status=OutboxStatus.PENDING, claimed_at=None, claim_token=None,
                next_attempt_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return len(unknown), len(requeued)


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


# Built once: the per-message path only binds values (no statement building, no cache key).
_OWNED = (select(*OUTGOING_COLUMNS)
          .where(OUTBOX.c.id == bindparam("message_id"),
                 OUTBOX.c.claim_token == bindparam("token"),
                 OUTBOX.c.status == OutboxStatus.SENDING))
_MARK_HANDED = (update(OUTBOX)
                .where(OUTBOX.c.id == bindparam("message_id"),
                       OUTBOX.c.claim_token == bindparam("token"),
                       OUTBOX.c.status == OutboxStatus.SENDING)
                .values(handed_at=bindparam("now", type_=OUTBOX.c.handed_at.type)))
_MARK_SENT = (update(OUTBOX)
              .where(OUTBOX.c.id == bindparam("message_id"),
                     OUTBOX.c.claim_token == bindparam("token"))
              .values(status=OutboxStatus.SENT,
                      sent_at=bindparam("now", type_=OUTBOX.c.sent_at.type),
                      attempts=bindparam("attempts", type_=OUTBOX.c.attempts.type),
                      claim_token=None,
                      # Delivered: the database keeps no usable personal link.
                      secret_link=None,
                      refused_recipients=bindparam(
                          "refused", type_=OUTBOX.c.refused_recipients.type)))


def _owned(connection: Connection, message_id: int, token: str) -> Outgoing | None:
    """The row, if this run's claim on it still stands (nobody recovered or retried it).

    Checked right before each send, with one SELECT by primary key: a batch that outlived
    ``stale_claim`` must not send a row an administrator has put back in the queue.
    """
    found = connection.execute(_OWNED, {"message_id": message_id, "token": token}).one_or_none()
    return None if found is None else Outgoing(*found)


def _record(connection: Connection, message_id: int, token: str, **values: Any) -> None:
    # Guarded by the token: a row an administrator retried meanwhile is not overwritten.
    connection.execute(update(OUTBOX)
                       .where(OUTBOX.c.id == message_id, OUTBOX.c.claim_token == token)
                       .values(**values))


def _record_sent(connection: Connection, message: Outgoing, token: str,
                 refused: Mapping[str, str], now: datetime) -> OutboxStatus:
    # One UPDATE by primary key, guarded by the token like ``_record``.
    connection.execute(_MARK_SENT, {"message_id": message.id, "token": token, "now": now,
                                    "attempts": message.attempts + 1,
                                    "refused": dict(refused)})
    return OutboxStatus.SENT


def _record_failure(connection: Connection, message: Outgoing, token: str,
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
        values.update(status=OutboxStatus.PENDING, claimed_at=None, handed_at=None,
                      next_attempt_at=now + backoff(attempts, policy))
    else:
        values["status"] = (OutboxStatus.UNKNOWN if outcome is Outcome.UNKNOWN
                            else OutboxStatus.FAILED)
    _record(connection, message.id, token, **values)
    return values["status"]  # type: ignore[no-any-return]


def deliver_batch(session: Session, transport: Transport, *, now: datetime,
                  policy: DeliveryPolicy) -> DeliveryReport:
    """Claim up to ``policy.batch_size`` due rows and deliver them through ``transport``.

    Commits the claim, then each row's outcome right after it is known, so a crash
    mid-batch never resends a row already recorded as sent. When the server cannot be
    reached, every row of the batch counts an attempt and waits for its backoff.
    Closes the transport.

    After the claim, each row costs three statements on a connection in autocommit mode: the
    check that the claim still stands (with what to send), the mark that it is handed to the
    server (right before its DATA), and the UPDATE that records the outcome; each is its own
    transaction, committed (durably) before the next step. No BEGIN/COMMIT round trips, no
    ORM objects.
    """
    report = DeliveryReport()
    report.recovered, report.requeued = recover_stale_claims(
        session, now=now, stale_after=policy.stale_claim)
    token = secrets.token_hex(16)
    claimed = claim(session, now=now, limit=policy.batch_size, token=token)
    session.commit()
    report.claimed = len(claimed)
    try:
        if not claimed:
            return report
        with session.get_bind().connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            _deliver_claimed(connection, transport, claimed, token, now, policy, report)
    finally:
        transport.close()
    return report


def _deliver_claimed(connection: Connection, transport: Transport, claimed: list[int],
                     token: str, now: datetime, policy: DeliveryPolicy,
                     report: DeliveryReport) -> None:
    for position, message_id in enumerate(claimed):
        message = _owned(connection, message_id, token)
        if message is None:
            continue
        def handed(message_id: int = message_id) -> None:
            connection.execute(_MARK_HANDED, {"message_id": message_id, "token": token,
                                              "now": now})

        try:
            refused = transport.send(message, before_data=handed)
        except DeliveryError as error:
            report.count(_record_failure(connection, message, token, error, now, policy))
            if error.stage is Stage.CONNECT:
                # No connection for this row means none for the rest of the batch.
                for rest_id in claimed[position + 1:]:
                    rest = _owned(connection, rest_id, token)
                    if rest is not None:
                        report.count(_record_failure(connection, rest, token, error, now,
                                                     policy))
                report.unreachable = True
                return
        else:
            report.count(_record_sent(connection, message, token, refused, now))
            report.refused_recipients += len(refused)


def deliver_due(session: Session, open_transport: Callable[[], Transport], *, now: datetime,
                policy: DeliveryPolicy,
                go_on: Callable[[], bool] = lambda: True) -> DeliveryReport:
    """Drain the outbox once: batch after batch until nothing is due at ``now``.

    Stops early when the server is unreachable (the next run tries again), or before a batch
    when ``go_on()`` says so (another deliverer found the server unreachable).
    """
    total = DeliveryReport()
    while go_on():
        report = deliver_batch(session, open_transport(), now=now, policy=policy)
        total.add(report)
        if report.claimed == 0 or report.unreachable:
            break
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
    _require_admin(actor)
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
    message.handed_at = None
    session.flush()


def _require_admin(actor: User) -> None:
    if actor.role is not Role.ADMINISTRADOR or not actor.active:
        raise Forbidden("Solo la administración de la Secretaría reintenta mensajes.")


def _unknown_between(actor: User, start: datetime, end: datetime) -> Select[Any]:
    return select(OutboxMessage).where(
        OutboxMessage.secretaria_id == actor.secretaria_id,
        OutboxMessage.status == OutboxStatus.UNKNOWN,
        OutboxMessage.created_at >= start, OutboxMessage.created_at < end)


def unknown_between(session: Session, *, actor: User, start: datetime, end: datetime,
                    sample: int = 20) -> tuple[int, list[OutboxMessage]]:
    """How many of the actor's Secretaría's messages created in [start, end) are «incierto»,
    and the oldest ``sample`` of them (what the administrador sees before retrying them)."""
    _require_admin(actor)
    statement = _unknown_between(actor, start, end)
    total = session.scalar(statement.with_only_columns(func.count(OutboxMessage.id))) or 0
    return total, list(session.scalars(statement.order_by(OutboxMessage.id).limit(sample)))


def retry_unknown(session: Session, *, actor: User, start: datetime, end: datetime,
                  confirm_duplicate: bool = False, now: datetime | None = None) -> int:
    """Put every «incierto» message of the actor's Secretaría created in [start, end) back in
    the queue, due now, with fresh attempts (``retry``, for a whole period: after a crash or
    an outage). Each may already be in its reader's inbox: ``confirm_duplicate`` is required.
    Returns how many. Flushes."""
    _require_admin(actor)
    if not confirm_duplicate:
        raise DuplicateRiskNotConfirmed()
    ids = select(_unknown_between(actor, start, end).with_only_columns(OutboxMessage.id)
                 .subquery().c.id)
    retried = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.UNKNOWN)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now or utcnow(),
                claim_token=None, claimed_at=None, handed_at=None)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    session.flush()
    return len(retried)
