"""SQLAlchemy 2.0 typed models. Invariants live in the database too (NOT NULL, CHECK, unique).

Enumerations are stored as their string values (``values_callable``), the same strings the
state machine and the transition log use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from workflow.roles import Role
from workflow.search_keys import natural_key, search_key, sort_key
from workflow.states import State, Trigger


def _key_of(column: str, make: Any) -> Any:
    """An insert default computing a key from another column (for Core inserts; the ORM sets
    the keys itself through ``validates``)."""
    def default(context: DefaultExecutionContext) -> str:
        return str(make(context.get_current_parameters().get(column)))
    return default


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    SQLite keeps no offset, so values come back naive; they are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_class: type[PyEnum], name: str) -> Enum:
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Zona(PyEnum):
    URBANA = "urbana"
    RURAL = "rural"

    @property
    def label(self) -> str:
        return {"urbana": "Urbana", "rural": "Rural"}[self.value]

    @property
    def locality_label(self) -> str:
        return {"urbana": "Comuna", "rural": "Corregimiento"}[self.value]


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Secretaria(Base):
    """A Secretaría de Educación certificada: the tenant every school and user belongs to."""

    __tablename__ = "secretarias"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # DIVIPOLA code of the entity (73001 for Ibagué, 73 for the department of Tolima):
    # the DANE codes of its schools carry it in digits 2 onwards.
    divipola: Mapped[str] = mapped_column(String(5))
    horizon_start_year: Mapped[int] = mapped_column(Integer, default=2024)
    horizon_years: Mapped[int] = mapped_column(Integer, default=3)
    # Moved by the database whenever anything of this Secretaría a Ruta page shows is written
    # (migration 0038, ``workflow.page_stamps``); never written by the application.
    page_stamp: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("horizon_years BETWEEN 1 AND 10", name="horizon_years"),
    )

    @property
    def horizon_end_year(self) -> int:
        return self.horizon_start_year + self.horizon_years - 1


class ScopeVersion(Base):
    """A token the database replaces, in the same transaction, whenever what a Secretaría's
    lists count changes (``kind`` «lists»: its schools, its Rutas' states and reviewers, its
    plan adjustments…; «outbox»: its messages' statuses; «consolidado»: what /reportes/
    shows; «queue»: what the revision queue shows): the key of the per-process memos of
    ``workflow.scope_versions``. Kept by triggers (migrations 0039, 0042 and 0043), never
    written by the application."""

    __tablename__ = "scope_versions"

    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        CheckConstraint("kind IN ('lists', 'outbox', 'consolidado', 'queue')", name="kind"),
    )


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    dane_code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    zona: Mapped[Zona] = mapped_column(str_enum(Zona, "zona"))
    # The comuna of an urban school or the corregimiento of a rural one.
    locality: Mapped[str] = mapped_column(String(120))
    # Kept by the application (workflow/search_keys.py): the name as searched and sorted, and
    # the locality in natural order («Comuna 2» before «Comuna 10»).
    search_key: Mapped[str] = mapped_column(String(200), default=_key_of("name", search_key),
                                            server_default="")
    sort_key: Mapped[str] = mapped_column(String(240), default=_key_of("name", sort_key),
                                          server_default="")
    locality_sort: Mapped[str] = mapped_column(
        String(240), default=_key_of("locality", natural_key), server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    secretaria: Mapped[Secretaria] = relationship()
    rutas: Mapped[list[Ruta]] = relationship(back_populates="school",
                                             order_by="Ruta.horizon_start_year")

    __table_args__ = (
        CheckConstraint("length(dane_code) = 12", name="dane_code_length"),
        # The Secretaría's schools in the consolidado's default order (by name, byte by
        # byte: ``search_keys.bytewise``): a page of its table reads 20 schools instead of
        # sorting 10,000. The collation rides in ``postgresql_ops`` (rendered after the
        # column, where PostgreSQL takes it) rather than in an expression, because PostgreSQL
        # reflects the index as plain columns and the schema must match the models (SQLite
        # compares bytes already).
        Index("ix_schools_secretaria_sort", "secretaria_id", "sort_key", "id",
              postgresql_ops={"sort_key": 'COLLATE "C"'}),
        # The comunas and corregimientos offered by the filters of the queue and /reportes/:
        # read from the index alone (1 ms at 10,000 schools, 2 to 6 ms from the table).
        Index("ix_schools_secretaria_locality", "secretaria_id", "locality"),
    )

    @validates("name")
    def _keep_search_key(self, _key: str, value: str) -> str:
        self.search_key = search_key(value)
        self.sort_key = sort_key(value)
        return value

    @validates("locality")
    def _keep_locality_sort(self, _key: str, value: str) -> str:
        self.locality_sort = natural_key(value)
        return value


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name as searched and sorted (workflow/search_keys.py), kept by the application.
    search_key: Mapped[str] = mapped_column(String(200), default=_key_of("name", search_key),
                                            server_default="")
    sort_key: Mapped[str] = mapped_column(String(240), default=_key_of("name", sort_key),
                                          server_default="")
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Argon2id; NULL until the person sets a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Set when an administrator chose the password: the person must replace it on sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default=text("false"))
    password_changed_at: Mapped[datetime | None]
    # When the person first set a password (activated the account); reminders wait for it.
    activated_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when leaving the last equipo de gestión deactivated the account (``active`` False):
    # the rector adding the person back reactivates it; an administrator's deactivation,
    # which clears this, only an administrator undoes.
    left_team_at: Mapped[datetime | None]

    secretaria: Mapped[Secretaria] = relationship()
    school: Mapped[School | None] = relationship()

    __table_args__ = (
        CheckConstraint(
            "(role IN ('rector', 'equipo')) = (school_id IS NOT NULL)",
            name="school_only_for_school_roles",
        ),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        # A school has at most one active rector.
        Index("uq_users_active_rector_per_school", "school_id", unique=True,
              postgresql_where=text("role = 'rector' AND active"),
              sqlite_where=text("role = 'rector' AND active")),
        # The administración's list of users by name (as ``ix_schools_secretaria_sort``).
        Index("ix_users_secretaria_sort", "secretaria_id", "sort_key", "id",
              postgresql_ops={"sort_key": 'COLLATE "C"'}),
    )

    @validates("name")
    def _keep_search_key(self, _key: str, value: str) -> str:
        self.search_key = search_key(value)
        self.sort_key = sort_key(value)
        return value

    # Flask-Login reads these; defined here so the domain does not import Flask.
    is_authenticated = True
    is_anonymous = False
    # The token of the session this object was loaded for (not a column).
    session_token = None

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str | None:
        return self.session_token


class UserSession(Base):
    """A signed-in browser. Deleting the row ends that session wherever its cookie is."""

    __tablename__ = "user_sessions"

    # SHA-256 of the token the cookie carries: a leaked table does not leak sessions.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """A failed sign-in, counted per account and per address to throttle guessing.

    Kept in the database so the limit holds across every web process.
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )


class Ruta(Base):
    """One school's Ruta de Mejoramiento for one horizon (2024–2026 by default)."""

    __tablename__ = "rutas"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    horizon_start_year: Mapped[int] = mapped_column(Integer)
    horizon_end_year: Mapped[int] = mapped_column(Integer)
    state: Mapped[State] = mapped_column(str_enum(State, "ruta_state"), default=State.BORRADOR,
                                         index=True)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The revisor who took the plan; kept after approval so everyone knows who reviewed it.
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The closed Ruta of the previous horizon this one continues (``evaluacion_final``);
    # unique: a closed Ruta seeds one next cycle.
    previous_ruta_id: Mapped[int | None] = mapped_column(ForeignKey("rutas.id"), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Moved by the database whenever anything of this Ruta its page shows is written
    # (migration 0038, ``workflow.page_stamps``); never written by the application.
    page_stamp: Mapped[int] = mapped_column(Integer, server_default="0")

    school: Mapped[School] = relationship(back_populates="rutas")
    reviewer: Mapped[User | None] = relationship()
    transitions: Mapped[list[RutaTransition]] = relationship(
        back_populates="ruta", order_by="RutaTransition.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("school_id", "horizon_start_year", name="uq_rutas_school_horizon"),
        # The revision queue's default order (whoever has waited longest first): a page
        # reads its 20 Rutas instead of sorting the horizon's 10,000.
        Index("ix_rutas_horizon_state_changed", "horizon_start_year", "state_changed_at", "id"),
        CheckConstraint("horizon_end_year >= horizon_start_year", name="horizon_order"),
    )

    @property
    def horizon_label(self) -> str:
        return f"{self.horizon_start_year}–{self.horizon_end_year}"


# The creation of a Ruta is logged too, under this name, with no previous state.
OPENED = "abrir_ruta"


class RutaTransition(Base):
    """The append-only history of a Ruta: one row per state change.

    Database triggers (see the migrations) refuse UPDATE and DELETE.
    """

    __tablename__ = "ruta_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[State | None] = mapped_column(str_enum(State, "from_state"))
    to_state: Mapped[State] = mapped_column(str_enum(State, "to_state"))
    # NULL when the system fired it (the daily pass).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    observations: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ruta: Mapped[Ruta] = relationship(back_populates="transitions")
    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint(
            f"trigger <> '{Trigger.DEVOLVER.value}' OR "
            "(observations IS NOT NULL AND length(trim(observations)) > 0)",
            name="return_has_observations",
        ),
        CheckConstraint(
            "trigger IN ({})".format(
                ", ".join(f"'{name}'" for name in [OPENED, *(t.value for t in Trigger)])),
            name="known_trigger",
        ),
    )

    @property
    def trigger_label(self) -> str:
        if self.trigger == OPENED:
            return "Abrió la Ruta"
        return Trigger(self.trigger).past_tense


class OutboxStatus(PyEnum):
    """Where an outgoing e-mail is. ``unknown`` is never resent without a person deciding."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {
            "pending": "Pendiente",
            "sending": "Enviándose",
            "sent": "Enviado",
            "failed": "Fallido",
            "unknown": "Incierto",
        }[self.value]


class OutboxMessage(Base):
    """One outgoing e-mail, written in the same transaction as the event that causes it.

    The subject and both bodies are rendered when the row is written, so what is delivered
    is what the event said at that moment. ``dedupe_key`` makes queueing idempotent.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Whose administrators see the message on their "Correo saliente" page (looked up by
    # ``ix_outbox_secretaria_status_id``, which begins with it).
    secretaria_id: Mapped[int] = mapped_column(ForeignKey("secretarias.id"))
    ruta_id: Mapped[int | None] = mapped_column(ForeignKey("rutas.id"), index=True)
    # The template pair it was rendered from (``templates/email/<kind>.*``).
    kind: Mapped[str] = mapped_column(String(60))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus, "outbox_status"),
                                                 default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when a deliverer claims the row; a claim left in ``sending`` marks a crash.
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(64))
    # Set right before the message's own DATA: a stale claim without it was never handed to
    # the server (back to the queue); with it, the server may have it («incierto»).
    handed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Recipients the server refused while accepting the message for the others:
    # address → the server's reply ("550 5.1.1 ...").
    refused_recipients: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # A link that signs someone in (invitation, reset), kept out of the bodies (they hold
    # ``workflow.outbox.SECRET_LINK_PLACEHOLDER``) and no page shows it; emptied when sent.
    secret_link: Mapped[str | None] = mapped_column(String(500))
    # When the daily pass emptied the bodies of a message sent long ago
    # (``workflow.correo.retention``); the rest of the row stays as the audit of what was sent.
    body_pruned_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # «Correo saliente»: counts by status from the index alone, pages in its order.
        Index("ix_outbox_secretaria_status_id", "secretaria_id", "status", "id"),
        # The daily pass's retention (``retention.prune_sent``): only the sent messages whose
        # bodies are still there, by when they were sent.
        Index("ix_outbox_sent_unpruned", "sent_at",
              postgresql_where=text("status = 'sent' AND body_pruned_at IS NULL"),
              sqlite_where=text("status = 'sent' AND body_pruned_at IS NULL")),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_has_time"),
        CheckConstraint("status <> 'sending' OR (claim_token IS NOT NULL "
                        "AND claimed_at IS NOT NULL)", name="sending_is_claimed"),
    )


class FormSubmission(Base):
    """A one-time token of a form that creates something, recorded on its first use.

    Back, a double tap or a retry after a timeout post the same token again: the second post
    finds this row and shows what the first one created instead of creating it twice.
    ``result`` names what was created (``objetivo:12``) once the service knows it.
    """

    __tablename__ = "form_submissions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    result: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RutaTakeover(Base):
    """One take-over of a Ruta's review (``workflow.pmi.takeover``): who had it, who took it,
    when and why. Not a state change, so not a ``RutaTransition`` (whose triggers are the
    machine's). Append-only."""

    __tablename__ = "ruta_takeovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The Ruta's version the taker saw (the race: two take-overs of one version → one).
    ruta_version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    from_user: Mapped[User] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_user_id])
