"""Accounts: Argon2id passwords, server-side sessions, login throttling, user management.

Sessions are rows (``UserSession``): the cookie carries a random token, the table its hash.
Ending a session deletes its row, so a copied cookie dies with it; deactivating a user or
changing a password deletes every row of that user. A session also ends on the server after
``SessionPolicy.idle`` without a request and ``SessionPolicy.lifetime`` after sign-in,
whatever the cookie says.

Throttling (``ThrottlePolicy``) counts failed sign-ins in the window per account (any
address: guessing spread over many machines), per account and address (one machine guessing
one account), and per address. The per-address limit is high and, once reached, does not
lock the people who work from that address: an account that signed in successfully from it in
the last ``known_address_days`` days (and is under its own limits) is still checked; every
other e-mail from that address, real or invented, waits without its password being hashed.
So a school behind one public address keeps working while someone there sprays invented
e-mails, and the answer never says whether an e-mail has an account.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, cached_property
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session, joinedload

from workflow.cuentas import security_log
from workflow.cuentas.models import MfaEnrolment
from workflow.errors import DomainError, Forbidden, InvalidInput
from workflow.models import LoginFailure, School, User, UserSession, utcnow
from workflow.roles import Role

MIN_PASSWORD_LENGTH = 10
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_TAKEN = ("Ese correo ya está en uso en el servicio y no se puede repetir. Si la persona "
               "ya tiene cuenta, búsquela en «Usuarios»; si no aparece ahí, escriba a la mesa "
               "de ayuda.")


class LoginFailed(DomainError):
    status = 401

    def __init__(self) -> None:
        super().__init__("El correo o la contraseña no son correctos.")


class LoginThrottled(DomainError):
    status = 429

    def __init__(self, minutes: int) -> None:
        super().__init__("Demasiados intentos fallidos. Por seguridad, espere "
                         f"{minutes} minutos antes de intentarlo de nuevo.")
        self.minutes = minutes


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_account: int = 10
    max_failures_per_account_and_address: int = 5
    max_failures_per_address: int = 100
    window: timedelta = timedelta(minutes=15)
    known_address_days: int = 30


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=2)
    lifetime: timedelta = timedelta(hours=12)
    # ``last_seen_at`` is written at most this often: a write per request would be waste.
    touch_every: timedelta = timedelta(minutes=1)


class Passwords:
    """Argon2id hashing with configurable cost (tests use a cheap one)."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4):
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                     parallelism=parallelism)

    @cached_property
    def _dummy(self) -> str:
        """Verified against when the account does not exist, so both paths cost the same.
        Made on the first sign-in (``verify``), not when the app starts: a hash at
        production cost holds 64 MiB while it runs, and every console command and the
        scheduler start an app that never verifies a password (``ruta export
        consolidado``'s peak was that hash's, 175 MiB, before it read a row)."""
        return self.hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        # The dummy is made on the first verification of any account, known or not, so the
        # first sign-in of a process costs the same whether the account exists.
        dummy = self._dummy
        try:
            return self.hasher.verify(password_hash or dummy, password) and bool(
                password_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


def normalize_email(email: str) -> str:
    return email.strip().lower()


COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
COMMON_PASSWORD = "Esa contraseña es muy común o apareció en filtraciones; elija otra."  # noqa: S105 (a message)
# What people append to a common word ("colombia2024", "password12", "clave123*"): a
# password that is a listed entry plus up to this many trailing digits or symbols is refused.
MAX_APPENDED_CHARACTERS = 6
_APPENDED = re.compile(rf"[\W\d_]{{1,{MAX_APPENDED_CHARACTERS}}}$")


class _SortedLines:
    """The list file, decompressed, searched in place by bisecting on byte positions.

    About 3 MB for 280,000 entries (a frozenset of them took some 25 MB) and nothing to
    build: loading is one decompression. Loaded once per process, on the first password
    set or changed.
    """

    def __init__(self, content: bytes) -> None:
        self.content = content

    def __contains__(self, entry: object) -> bool:
        assert isinstance(entry, bytes)
        content = self.content
        low, high = 0, len(content)  # both always start a line
        while low < high:
            middle = (low + high) // 2
            start = content.rfind(b"\n", 0, middle) + 1
            end = content.find(b"\n", start)
            line = content[start:end]
            if line == entry:
                return True
            if line < entry:
                low = end + 1
            else:
                high = start
        return False


@cache
def common_passwords() -> _SortedLines:
    """The shipped list (``tools/build_common_passwords.py`` builds it): sorted, normalized,
    one entry a line, each line ending in a newline."""
    return _SortedLines(gzip.decompress(COMMON_PASSWORDS_FILE.read_bytes()))


def normalized_password(password: str) -> str:
    return unicodedata.normalize("NFC", password).strip().lower()


def is_common_password(password: str) -> bool:
    """Whether ``password`` (any case) is listed, or is a listed entry plus a few trailing
    digits or symbols."""
    entries = common_passwords()
    candidate = normalized_password(password)
    if candidate.encode() in entries:
        return True
    base = _APPENDED.sub("", candidate).strip()
    return bool(base) and base != candidate and base.encode() in entries


def password_problems(password: str, *, email: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"La contraseña debe tener al menos {MIN_PASSWORD_LENGTH} caracteres.")
    if len(password) > 200:
        problems.append("La contraseña no puede tener más de 200 caracteres.")
    local_part = email.split("@")[0].lower()
    if local_part and len(local_part) >= 4 and local_part in password.lower():
        problems.append("La contraseña no puede contener su usuario de correo.")
    if password and len(set(password)) < 4:
        problems.append("La contraseña es demasiado repetitiva.")
    if not problems and is_common_password(password):
        problems.append(COMMON_PASSWORD)
    return problems


# --- signing in ---------------------------------------------------------------------------


def _failures_since(session: Session, since: datetime, *, email: str | None = None,
                    address: str | None = None) -> int:
    statement = select(func.count()).select_from(LoginFailure).where(LoginFailure.at >= since)
    if email is not None:
        statement = statement.where(LoginFailure.email == email)
    if address is not None:
        statement = statement.where(LoginFailure.address == address)
    return session.scalar(statement) or 0


def _throttled(session: Session, email: str, address: str, policy: ThrottlePolicy,
               moment: datetime) -> bool:
    """Whether an attempt for ``email`` from ``address`` must wait (see the module's doc)."""
    since = moment - policy.window
    if (_failures_since(session, since, email=email) >= policy.max_failures_per_account
            or _failures_since(session, since, email=email, address=address)
            >= policy.max_failures_per_account_and_address):
        return True
    if _failures_since(session, since, address=address) < policy.max_failures_per_address:
        return False
    known_since = moment - timedelta(days=policy.known_address_days)
    return security_log.count_since(session, "login_ok", known_since, address=address,
                                    email=email) == 0


def authenticate(session: Session, email: str, password: str, *, address: str,
                 passwords: Passwords, policy: ThrottlePolicy, user_agent: str | None = None,
                 now: datetime | None = None) -> User:
    """The active user with these credentials, or ``LoginFailed`` / ``LoginThrottled``.

    Changes: records a failure and a security event (committed by the caller even when it
    raises); on success clears the account's failures (unless two-step verification follows:
    then its success clears them), sets ``last_login_at``, upgrades an outdated hash and
    records ``login_ok`` (noting a second step still to pass). The security log keeps every
    failure for good.
    While throttled the password is not hashed at all, so guessing costs the server nothing.
    """
    moment = now or utcnow()
    email = normalize_email(email)[:254]
    address = address[:64]
    user = session.scalar(select(User).where(User.email == email))
    if _throttled(session, email, address, policy, moment):
        security_log.record(session, "login_throttled", actor=user, email=email,
                            address=address, user_agent=user_agent, outcome="throttled",
                            now=moment)
        raise LoginThrottled(int(policy.window.total_seconds() // 60))

    password_hash = user.password_hash if user is not None else None
    if not passwords.verify(password_hash, password) or user is None or not user.active:
        session.add(LoginFailure(email=email, address=address, at=moment))
        security_log.record(session, "login_failed", actor=user, email=email,
                            address=address, user_agent=user_agent, outcome="failed",
                            detail={"reason": "inactive"} if user is not None
                            and not user.active and password_hash else None, now=moment)
        raise LoginFailed()

    # With a second step still to pass the failures stay: otherwise the right password
    # would reset the count before each round of guessed codes.
    second_step = _second_step_pending(session, user)
    if not second_step:
        session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    user.last_login_at = moment
    security_log.record(session, "login_ok", actor=user, email=email, address=address,
                        user_agent=user_agent, now=moment,
                        detail={"second_step": "pending"} if second_step else None)
    return user


def _second_step_pending(session: Session, user: User) -> bool:
    row = session.get(MfaEnrolment, user.id)
    return row is not None and row.confirmed_at is not None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, *, address: str | None = None,
                  user_agent: str | None = None) -> str:
    """Create a session row for ``user``; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=_token_hash(token), user_id=user.id,
                            address=(address or "")[:64] or None,
                            user_agent=(user_agent or "")[:300] or None))
    session.flush()
    user.session_token = token
    return token


def session_handle(row: UserSession) -> str:
    """A name for a session row that the account page may show: not its token, nor the
    token's hash stored in the table."""
    return hashlib.sha256(f"handle:{row.token_hash}".encode()).hexdigest()[:20]


def session_expired(row: UserSession, policy: SessionPolicy, moment: datetime) -> bool:
    return (moment - row.last_seen_at > policy.idle
            or moment - row.created_at > policy.lifetime)


# One statement for the session, its user and the user's Secretaría (every request runs it,
# and most pages name the Secretaría or scope by it), built once: building it again cost
# each request some 50 µs of Python and its cache key as much again.
_SESSION_USER = (select(UserSession)
                 .options(joinedload(UserSession.user).joinedload(User.secretaria))
                 .where(UserSession.token_hash == bindparam("token_hash")))


def load_session_user(session: Session, token: str, *, policy: SessionPolicy | None = None,
                      now: datetime | None = None) -> tuple[User | None, str]:
    """The active user behind a session token and what the session needs written:
    ``(user, "")`` live, ``(user, "touch")`` live but ``last_seen_at`` is due,
    ``(None, "expired")`` idle or too old (the row should go), ``(None, "")`` gone.
    Changes nothing: the caller writes (``touch_session``) outside the request's
    transaction, since most requests never commit."""
    policy = policy or SessionPolicy()
    row = session.scalars(_SESSION_USER, {"token_hash": _token_hash(token)}).one_or_none()
    if row is None or not row.user.active:
        return None, ""
    moment = now or utcnow()
    if session_expired(row, policy, moment):
        return None, "expired"
    row.user.session_token = token
    return row.user, "touch" if moment - row.last_seen_at >= policy.touch_every else ""


def touch_session(session: Session, token: str, action: str, *,
                  now: datetime | None = None) -> None:
    """Write what ``load_session_user`` said: the new ``last_seen_at``, or end the session."""
    token_hash = _token_hash(token)
    if action == "touch":
        session.execute(update(UserSession).where(UserSession.token_hash == token_hash)
                        .values(last_seen_at=now or utcnow()))
    elif action == "expired":
        session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))


def active_sessions(session: Session, user: User, *, policy: SessionPolicy | None = None,
                    now: datetime | None = None) -> list[UserSession]:
    """The user's sessions that still work, most recently used first."""
    policy, moment = policy or SessionPolicy(), now or utcnow()
    rows = session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                           .order_by(UserSession.last_seen_at.desc(),
                                     UserSession.created_at.desc())).all()
    return [row for row in rows if not session_expired(row, policy, moment)]


def is_current(row: UserSession, token: str) -> bool:
    return row.token_hash == _token_hash(token)


def end_other_sessions(session: Session, user: User, *, current_token: str,
                       handle: str | None = None) -> int:
    """End the user's sessions but this one (only the one named ``handle``, when given).
    Returns how many ended."""
    rows = session.scalars(select(UserSession).where(
        UserSession.user_id == user.id,
        UserSession.token_hash != _token_hash(current_token))).all()
    ended = [row for row in rows if handle is None or session_handle(row) == handle]
    for row in ended:
        session.delete(row)
    session.flush()
    return len(ended)


DEVICES = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
           ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
           ("Windows", "Windows"), ("Mac OS X", "Mac"), ("CrOS", "ChromeOS"),
           ("Linux", "Linux"))


def describe_device(user_agent: str | None) -> str:
    """«Chrome en Windows» from a user agent; «Navegador desconocido» without one."""
    text = user_agent or ""
    browser = next((name for mark, name in DEVICES if mark in text), None)
    system = next((name for mark, name in SYSTEMS if mark in text), None)
    if browser and system:
        return f"{browser} en {system}"
    return browser or system or "Navegador desconocido"


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token)))


def end_all_sessions(session: Session, user: User) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def close_for_leaving_team(session: Session, user: User, *, now: datetime) -> None:
    """Deactivate an ``equipo`` account off its last team and end its sessions (E20);
    ``reopen_after_team`` undoes exactly this, never an administrator's deactivation."""
    user.active = False
    user.left_team_at = now
    end_all_sessions(session, user)


def reopen_after_team(user: User) -> None:
    """Reactivate the account if leaving a team (and nothing else) closed it."""
    if not user.active and user.left_team_at is not None:
        user.active = True
        user.left_team_at = None


def change_password(session: Session, user: User, *, current: str, new: str, confirm: str,
                    passwords: Passwords, address: str = "",
                    policy: ThrottlePolicy | None = None,
                    now: datetime | None = None) -> None:
    """Set a new password. Ends every session of the user (the caller starts a fresh one).

    A wrong current password counts as a failed sign-in of the account (``LoginFailure``,
    flushed: the caller commits it even though this raises), so a stolen session cannot try
    passwords without limit: past ``policy``'s limit, ``LoginThrottled`` without checking."""
    policy = policy or ThrottlePolicy()
    moment = now or utcnow()
    if (_failures_since(session, moment - policy.window, email=user.email)
            >= policy.max_failures_per_account):
        raise LoginThrottled(int(policy.window.total_seconds() // 60))
    errors: dict[str, list[str]] = {}
    if not passwords.verify(user.password_hash, current):
        errors["current"] = ["La contraseña actual no es correcta."]
        session.add(LoginFailure(email=user.email, address=address[:64], at=moment))
        session.flush()
    problems = password_problems(new, email=user.email)
    if problems:
        errors["new"] = problems
    elif new != confirm:
        errors["confirm"] = ["La confirmación no coincide con la nueva contraseña."]
    elif passwords.verify(user.password_hash, new):
        errors["new"] = ["La nueva contraseña debe ser distinta de la actual."]
    if errors:
        raise InvalidInput(errors)
    session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    set_password(session, user, new, passwords=passwords)


def set_password(session: Session, user: User, password: str, *, passwords: Passwords) -> None:
    """Store the person's own new password and end every session of the user."""
    user.password_hash = passwords.hash(password)
    user.password_changed_at = utcnow()
    if user.activated_at is None:
        user.activated_at = user.password_changed_at
    user.must_change_password = False
    end_all_sessions(session, user)
    session.flush()


# --- managing users -----------------------------------------------------------------------


@dataclass
class UserData:
    email: str
    name: str
    role: str
    school_id: int | None = None


def _require_admin(actor: User | None) -> None:
    if actor is not None and actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo la administración de la Secretaría gestiona usuarios.")


def validate_user(session: Session, secretaria_id: int, data: UserData, *,
                  existing: User | None = None) -> tuple[str, Role, School | None]:
    errors: dict[str, list[str]] = {}
    email = normalize_email(data.email)
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = ["Escriba un correo electrónico válido, como nombre@dominio.gov.co."]
    else:
        other = session.scalar(select(User).where(User.email == email))
        if other is not None and other is not existing:
            # Said the same whether the account is in this Secretaría or another: e-mails are
            # unique across the service, but where one is used is not this page's to tell.
            errors["email"] = [EMAIL_TAKEN]
    if not data.name.strip():
        errors["name"] = ["Escriba el nombre completo."]
    elif len(data.name.strip()) > 200:
        errors["name"] = ["El nombre no puede tener más de 200 caracteres."]
    try:
        role = Role(data.role)
    except ValueError:
        errors["role"] = ["Elija un rol de la lista."]
        role = None
    school = None
    if role is not None and role.belongs_to_school:
        school = session.get(School, data.school_id) if data.school_id else None
        if school is None or school.secretaria_id != secretaria_id:
            errors["school_id"] = [f"Un usuario con rol «{role.label}» necesita su institución."]
        elif role is Role.RECTOR:
            rector = session.scalar(select(User).where(
                User.school_id == school.id, User.role == Role.RECTOR, User.active))
            if rector is not None and rector is not existing:
                errors["school_id"] = [f"{school.name} ya tiene rector(a) activo(a): "
                                       f"{rector.name}. Desactívelo(a) primero."]
    if errors:
        raise InvalidInput(errors)
    assert role is not None
    return email, role, school


def create_user(session: Session, *, actor: User | None, secretaria_id: int, data: UserData,
                password: str | None = None, passwords: Passwords | None = None,
                temporary: bool = False) -> User:
    """Create a user. Changes: a new row; with ``password``, its hash.

    ``temporary`` marks a password someone else chose: the person must replace it on sign-in.
    Without a password the account waits for an invitation (``workflow.cuentas.invitations``).
    """
    _require_admin(actor)
    email, role, school = validate_user(session, secretaria_id, data)
    if password is not None:
        problems = password_problems(password, email=email)
        if problems:
            raise InvalidInput({"password": problems})
    user = User(secretaria_id=secretaria_id, email=email, name=data.name.strip(), role=role,
                school_id=school.id if school else None, active=True)
    if password is not None:
        assert passwords is not None
        user.password_hash = passwords.hash(password)
        user.must_change_password = temporary
        if not temporary:  # a temporary password is replaced, and so activated, on sign-in
            user.activated_at = utcnow()
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, user: User, *, actor: User, data: UserData) -> User:
    """Edit name, e-mail, role and school. Changes only those columns."""
    _require_admin(actor)
    email, role, school = validate_user(session, user.secretaria_id, data, existing=user)
    if user.id == actor.id and role is not Role.ADMINISTRADOR:
        raise InvalidInput({"role": ["No puede quitarse a sí mismo(a) el rol de administrador."]})
    user.email, user.name, user.role = email, data.name.strip(), role
    user.school_id = school.id if school else None
    session.flush()
    return user


def set_user_active(session: Session, user: User, *, actor: User, active: bool) -> None:
    """Deactivate (ending every session) or reactivate a user."""
    _require_admin(actor)
    if user.id == actor.id and not active:
        raise InvalidInput({"": ["No puede desactivar su propia cuenta."]})
    if active and user.role is Role.RECTOR and user.school_id is not None:
        rector = session.scalar(select(User).where(
            User.school_id == user.school_id, User.role == Role.RECTOR, User.active,
            User.id != user.id))
        if rector is not None:
            raise InvalidInput({"": [f"La institución ya tiene rector(a) activo(a): "
                                     f"{rector.name}."]})
    user.active = active
    user.left_team_at = None  # the administrator's decision, whatever the team did before
    if not active:
        end_all_sessions(session, user)
    session.flush()
