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

import json
import re
import secrets
import smtplib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    Table,
    TypeDecorator,
    bindparam,
    select,
    update,
)
from sqlalchemy.engine import Connection
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
    "Outgoing",
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
    "insert_new",
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
    # The shared macros are globals, not a ``{% from %}`` in each template: an import runs on
    # every render (a template lookup and a new module object).
    macros: Any = environment.get_template("_macros.html").module
    environment.globals.update(action_link=macros.action_link,
                               observations_block=macros.observations_block)
    return environment


EMAIL_TEMPLATES = _environment()


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@cache
def _templates(kind: str) -> tuple[Template, Template, Template]:
    # Looked up once per kind: Jinja's own cache still costs a lock and a dict per lookup,
    # three times a message. Templates ship with the code (auto_reload is off anyway).
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"not an e-mail kind: {kind!r}")
    return (EMAIL_TEMPLATES.get_template(f"{kind}.subject.txt"),
            EMAIL_TEMPLATES.get_template(f"{kind}.txt"),
            EMAIL_TEMPLATES.get_template(f"{kind}.html"))


def render(kind: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render the template trio of ``kind``. The subject is folded into one line."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"not an e-mail kind: {kind!r}")
    subject_template, text_template, html_template = _templates(kind)
    subject = " ".join(subject_template.render(context).split())
    if len(subject) > MAX_SUBJECT_LENGTH:
        subject = subject[:MAX_SUBJECT_LENGTH - 1].rstrip() + "…"
    return RenderedEmail(subject=subject, text=text_template.render(context),
                         html=html_template.render(context))


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


def _pg_array_type(column_type: Any) -> tuple[str, str]:
    """(array element type, cast back to the column) for a column fed from unnest()."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return "text", "json"
    if isinstance(column_type, Boolean):
        return "boolean", ""
    if isinstance(column_type, Integer):
        return "bigint", ""
    if isinstance(column_type, DateTime):
        return ("timestamptz" if column_type.timezone else "timestamp"), ""
    if isinstance(column_type, Date):
        return "date", ""
    return "text", ""  # String, Text and non-native enums (varchar + CHECK)


def _pg_array(column: Any, values: list[Any], dialect: Any) -> list[Any]:
    """``values`` as SQLAlchemy would bind them to ``column`` (a TypeDecorator's conversion,
    an enum's stored value); JSON as its text, cast back by the statement."""
    if isinstance(column.type, JSON):
        return [None if value is None else json.dumps(value) for value in values]
    processor = column.type.bind_processor(dialect)
    return values if processor is None else [processor(value) for value in values]


def insert_new(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
               conflict: Sequence[str], returning: Sequence[str]) -> list[tuple[Any, ...]]:
    """``INSERT rows ON CONFLICT (conflict) DO NOTHING RETURNING returning``: the new rows.

    The unique constraint on ``conflict`` decides what is new, in the caller's transaction
    (rows another transaction is inserting wait for it, as any INSERT does). Every row has
    the same keys; returned values are the driver's, unconverted. Runs on the driver's own
    connection, inside the session's transaction (flushed first, as ``session.execute``
    would). PostgreSQL: one statement, each column one array parameter sent in binary and
    turned back into rows by ``unnest`` (a multi-row VALUES list of 10,000 rows cost psycopg
    2 s just to parse its placeholders, and the text arrays as much to quote). SQLite, in
    process: one prepared INSERT per row through sqlite3's statement cache, a fraction of
    what SQLAlchemy's multi-row INSERTs cost to bind and re-process in Python.
    """
    if not rows:
        return []
    if session.autoflush:  # the rows may refer to pending ones
        session.flush()
    return _Inserter(session, table, conflict=conflict, returning=returning)(rows)


class _Inserter:
    """``insert_new`` for one table, callable from another thread while the session's own
    thread does no database work (``enqueue_many`` renders the next rows meanwhile)."""

    def __init__(self, session: Session, table: Table, *, conflict: Sequence[str],
                 returning: Sequence[str]) -> None:
        self.table = table
        self.dialect = session.get_bind().dialect
        if self.dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover
            raise NotImplementedError(f"no idempotent insert for {self.dialect.name}")
        self.connection: Any = session.connection().connection.driver_connection
        # Every name is checked against the table (KeyError otherwise) before it is written
        # into a statement; the values are always bound parameters.
        for name in [*conflict, *returning]:
            table.c[name]  # noqa: B018
        self.tail = (f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING "
                     f"RETURNING {', '.join(returning)}")

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        if not rows:
            return []
        table, dialect = self.table, self.dialect
        names = list(rows[0])
        columns = [table.c[name] for name in names]
        quoted = ", ".join(f'"{column.name}"' for column in columns)
        head = f'INSERT INTO "{table.name}" ({quoted})'  # noqa: S608 (checked names)
        if dialect.name == "sqlite":
            values = [[row[name] for row in rows] for name in names]
            for position, column in enumerate(columns):
                processor = column.type._cached_bind_processor(dialect)
                if processor is not None:
                    values[position] = [processor(value) for value in values[position]]
            statement = f"{head} VALUES ({', '.join('?' for _ in names)}) {self.tail}"
            cursor = self.connection.cursor()
            try:
                new: list[tuple[Any, ...]] = []
                for parameters in zip(*values, strict=True):
                    new.extend(cursor.execute(statement, parameters).fetchall())
                return new
            finally:
                cursor.close()
        parameters: dict[str, list[Any]] = {}
        arrays, selected = [], []
        for position, column in enumerate(columns):
            element, cast = _pg_array_type(column.type)
            parameters[f"p{position}"] = _pg_array(column, [row[column.name] for row in rows],
                                                   dialect)
            # %(name)b: sent in binary, so neither side quotes or parses 10,000 strings.
            arrays.append(f"CAST(%(p{position})b AS {element}[])")
            selected.append(f"CAST(c{position} AS {cast})" if cast else f"c{position}")
        aliases = ", ".join(f"c{position}" for position in range(len(names)))
        source = f"unnest({', '.join(arrays)}) AS new_rows({aliases})"
        statement = f"{head} SELECT {', '.join(selected)} FROM {source} {self.tail}"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return [tuple(row) for row in cursor.fetchall()]


# Rows rendered and inserted per round: rendering the next chunk overlaps inserting this one.
ENQUEUE_CHUNK = 1000


def enqueue_many(session: Session, emails: Sequence[Email], *,
                 now: datetime | None = None) -> set[str]:
    """Queue ``emails`` in the caller's transaction (see ``insert_new``).

    Returns the dedupe keys that were queued; a key that already had a message (or repeats
    within ``emails``) queues nothing more. Same guarantees as ``enqueue``, which it backs.

    Rendering is the Python half of the work and the INSERT the database's: beyond one
    chunk, the INSERTs run in a helper thread, one after the other on the session's
    connection, while this thread renders the next chunk (sqlite3 and psycopg let go of
    the interpreter lock while the database works). This thread does no database work
    meanwhile and waits for every INSERT before returning or raising.
    """
    moment = now or utcnow()
    unique = list({email.dedupe_key: email for email in emails}.values())
    if not unique:
        return set()
    if session.autoflush:  # the rows may refer to pending ones
        session.flush()
    insert = _Inserter(session, OutboxMessage.__table__,  # type: ignore[arg-type]
                       conflict=["dedupe_key"], returning=["dedupe_key"])
    chunks = [unique[start:start + ENQUEUE_CHUNK]
              for start in range(0, len(unique), ENQUEUE_CHUNK)]
    if len(chunks) == 1:
        return {key for key, in insert([_row(email, moment) for email in chunks[0]])}
    futures = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-insert") as pool:
        try:
            for chunk in chunks:
                futures.append(pool.submit(insert, [_row(email, moment) for email in chunk]))
        finally:
            pool.shutdown(wait=True)
    # RETURNING, not rowcount: psycopg 3 reports -1 for some statements.
    return {key for future in futures for key, in future.result()}


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


# Delivery reads and writes one row at a time through the table (Core), not the ORM entity:
# no ORM compilation or bookkeeping on the per-message path.
OUTBOX: Final[Table] = OutboxMessage.__table__  # type: ignore[assignment]
OUTGOING_COLUMNS: Final = tuple(OUTBOX.c[field] for field in (
    "id", "recipients", "cc", "subject", "text_body", "html_body", "attempts"))


class Transport(Protocol):
    """What delivers rows. Opens its connection on the first ``send`` and reuses it."""

    def send(self, message: Outgoing) -> Mapping[str, str]:
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


# Built once: the per-message path only binds values (no statement building, no cache key).
_OWNED = (select(*OUTGOING_COLUMNS)
          .where(OUTBOX.c.id == bindparam("message_id"),
                 OUTBOX.c.claim_token == bindparam("token"),
                 OUTBOX.c.status == OutboxStatus.SENDING))
_MARK_SENT = (update(OUTBOX)
              .where(OUTBOX.c.id == bindparam("message_id"),
                     OUTBOX.c.claim_token == bindparam("token"))
              .values(status=OutboxStatus.SENT,
                      sent_at=bindparam("now", type_=OUTBOX.c.sent_at.type),
                      attempts=bindparam("attempts", type_=OUTBOX.c.attempts.type),
                      claim_token=None,
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
        values.update(status=OutboxStatus.PENDING, claimed_at=None,
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

    After the claim, each row costs two statements on a connection in autocommit mode: the
    check that the claim still stands (with what to send), and the UPDATE that records the
    outcome, which is its own transaction, committed (durably) before the next row is sent.
    No BEGIN/COMMIT round trips, no ORM objects.
    """
    report = DeliveryReport()
    report.recovered = mark_stuck_unknown(session, now=now, stale_after=policy.stale_claim)
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
        try:
            refused = transport.send(message)
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

