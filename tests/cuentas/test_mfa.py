"""Two-step verification in the domain (workflow/cuentas/mfa.py): enrolment, codes accepted
once, recovery codes spent once, the shared throttling, the administrador's reset, and which
roles the production configuration obliges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ruta.config import ConfigError, load_config
from tests.conftest import PASSWORD, TEST_PASSWORDS, Factory
from workflow.cuentas import accounts, mfa
from workflow.cuentas.models import MfaEnrolment, MfaRecoveryCode, SecurityEvent
from workflow.errors import Forbidden, InvalidInput
from workflow.models import LoginFailure, User, UserSession
from workflow.roles import Role

KEY = "clave-de-pruebas-" + "k" * 32
BOX = mfa.SecretBox([KEY])
POLICY = accounts.ThrottlePolicy(max_failures_per_account=5, max_failures_per_address=20)
NOW = datetime(2026, 3, 2, 14, 0, 10, tzinfo=UTC)
ADDRESS = "192.0.2.7"


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def enrolled(db: Session, user: User) -> tuple[str, list[str]]:
    """Enrol ``user`` at NOW; the secret and the recovery codes."""
    secret = mfa.begin_enrolment(db, user, box=BOX, now=NOW)
    codes = mfa.confirm_enrolment(db, user, code_at(secret, NOW), box=BOX, address=ADDRESS,
                                  policy=POLICY, now=NOW)
    return secret, codes


def failures(db: Session, user: User) -> int:
    return db.scalar(select(func.count()).select_from(LoginFailure)
                     .where(LoginFailure.email == user.email)) or 0


def verify(db: Session, user: User, code: str, moment: datetime) -> mfa.Verification:
    return mfa.verify(db, user, code, box=BOX, address=ADDRESS, policy=POLICY, now=moment)


def test_enrolment_confirmed_by_a_code_gives_ten_recovery_codes(db: Session,
                                                                make: Factory) -> None:
    user = make.user(Role.RECTOR)
    secret = mfa.begin_enrolment(db, user, box=BOX, now=NOW)
    # Reloading the page before confirming shows the same secret (the QR already scanned).
    assert mfa.begin_enrolment(db, user, box=BOX, now=NOW) == secret
    assert mfa.is_enrolled(db, user) is False

    codes = mfa.confirm_enrolment(db, user, code_at(secret, NOW), box=BOX, address=ADDRESS,
                                  policy=POLICY, now=NOW)

    assert mfa.is_enrolled(db, user) is True
    assert len(codes) == len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert mfa.recovery_codes_left(db, user) == 10
    row = db.get_one(MfaEnrolment, user.id)
    # Stored encrypted: neither the secret nor the codes appear in the database.
    assert secret not in row.secret_encrypted and row.secret_encrypted.startswith("v1.")
    stored_hashes = set(db.scalars(select(MfaRecoveryCode.code_hash)))
    assert not any(code.replace("-", "") in stored_hashes for code in codes)
    with pytest.raises(InvalidInput):  # enrolled: the secret is never handed out again
        mfa.begin_enrolment(db, user, box=BOX, now=NOW)


def test_enrolment_with_a_wrong_code_stays_pending_and_counts(db: Session,
                                                             make: Factory) -> None:
    user = make.user(Role.RECTOR)
    mfa.begin_enrolment(db, user, box=BOX, now=NOW)

    with pytest.raises(mfa.CodeRefused) as refused:
        mfa.confirm_enrolment(db, user, "000000x", box=BOX, address=ADDRESS, policy=POLICY,
                              now=NOW)

    assert "El código no es correcto" in refused.value.message
    assert (mfa.is_enrolled(db, user), failures(db, user)) == (False, 1)


def test_secret_sealed_with_a_previous_key_opens_and_is_resealed(db: Session,
                                                                 make: Factory) -> None:
    user = make.user(Role.REVISOR)
    secret, _ = enrolled(db, user)
    old_seal = db.get_one(MfaEnrolment, user.id).secret_encrypted
    other = mfa.SecretBox(["otra-clave-" + "z" * 32])
    with pytest.raises(mfa.CodeRefused):
        other.open(old_seal)
    rotated = mfa.SecretBox(["otra-clave-" + "z" * 32, KEY])
    later = NOW + timedelta(minutes=1)

    mfa.verify(db, user, code_at(secret, later), box=rotated, address=ADDRESS, policy=POLICY,
               now=later)

    new_seal = db.get_one(MfaEnrolment, user.id).secret_encrypted
    assert new_seal != old_seal and other.open(new_seal) == (secret, True)


def test_a_code_is_accepted_once_and_never_an_older_one(db: Session, make: Factory) -> None:
    user = make.user(Role.REVISOR)
    secret, _ = enrolled(db, user)
    later = NOW + timedelta(minutes=2)
    code = code_at(secret, later)

    assert verify(db, user, code, later) == mfa.Verification(recovery=False, codes_left=10)
    with pytest.raises(mfa.CodeRefused):  # replayed within its 30 seconds
        verify(db, user, code, later + timedelta(seconds=5))
    with pytest.raises(mfa.CodeRefused):  # the step before, still inside the window
        verify(db, user, code_at(secret, later - timedelta(seconds=30)), later)
    assert failures(db, user) == 2
    # A phone clock 30 seconds late still works, for a step not used yet.
    assert verify(db, user, code_at(secret, later + timedelta(seconds=30)),
                  later + timedelta(seconds=60)).recovery is False
    assert failures(db, user) == 0  # a right code clears the account's failures


def test_a_recovery_code_works_once(db: Session, make: Factory) -> None:
    user = make.user(Role.ADMINISTRADOR)
    _, codes = enrolled(db, user)

    # Typed loosely: capitals, spaces, no hyphen.
    checked = verify(db, user, f" {codes[3].upper().replace('-', ' ')} ", NOW)

    assert checked == mfa.Verification(recovery=True, codes_left=9)
    with pytest.raises(mfa.CodeRefused):
        verify(db, user, codes[3], NOW)
    assert mfa.recovery_codes_left(db, user) == 9


def test_regenerated_recovery_codes_replace_the_old_ones(db: Session, make: Factory) -> None:
    user = make.user(Role.RECTOR)
    secret, old = enrolled(db, user)
    later = NOW + timedelta(minutes=1)

    new = mfa.regenerate_recovery_codes(db, user, code_at(secret, later), box=BOX,
                                        address=ADDRESS, policy=POLICY, now=later)

    assert len(new) == 10 and set(new).isdisjoint(old)
    with pytest.raises(mfa.CodeRefused):
        verify(db, user, old[0], later)
    assert verify(db, user, new[0], later).codes_left == 9


def test_codes_share_the_password_throttling(db: Session, make: Factory) -> None:
    user = make.user(Role.REVISOR)
    secret, _ = enrolled(db, user)
    db.commit()
    for _ in range(4):
        with pytest.raises(mfa.CodeRefused):
            verify(db, user, "123456" if code_at(secret, NOW) != "123456" else "654321", NOW)
    # The right password does not wipe the count while a code is still due.
    accounts.authenticate(db, user.email, PASSWORD, address=ADDRESS, passwords=TEST_PASSWORDS,
                          policy=POLICY, now=NOW)
    assert failures(db, user) == 4
    with pytest.raises(mfa.CodeRefused):
        verify(db, user, "000000" if code_at(secret, NOW) != "000000" else "111111", NOW)

    # Past the limit even the right code is not checked, and the password step is shut too.
    with pytest.raises(accounts.LoginThrottled):
        verify(db, user, code_at(secret, NOW + timedelta(minutes=1)), NOW)
    with pytest.raises(accounts.LoginThrottled):
        accounts.authenticate(db, user.email, PASSWORD, address=ADDRESS,
                              passwords=TEST_PASSWORDS, policy=POLICY, now=NOW)
    assert db.get_one(MfaEnrolment, user.id).last_used_step == NOW.timestamp() // 30


def test_disable_needs_a_code_and_is_refused_when_the_role_requires_it(
        db: Session, make: Factory) -> None:
    rector = make.user(Role.RECTOR)
    reviewer = make.user(Role.REVISOR)
    rector_secret, _ = enrolled(db, rector)
    reviewer_secret, _ = enrolled(db, reviewer)
    later = NOW + timedelta(minutes=1)
    required = mfa.parse_roles("administrador,revisor")

    with pytest.raises(Forbidden):
        mfa.disable(db, reviewer, code_at(reviewer_secret, later), box=BOX, address=ADDRESS,
                    policy=POLICY, required_roles=required, now=later)
    with pytest.raises(mfa.CodeRefused):
        mfa.disable(db, rector, "12", box=BOX, address=ADDRESS, policy=POLICY,
                    required_roles=required, now=later)
    mfa.disable(db, rector, code_at(rector_secret, later), box=BOX, address=ADDRESS,
                policy=POLICY, required_roles=required, now=later)

    assert (mfa.is_enrolled(db, rector), mfa.is_enrolled(db, reviewer)) == (False, True)
    assert mfa.recovery_codes_left(db, rector) == 0


def test_admin_reset_removes_everything_ends_sessions_and_is_logged(
        db: Session, make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    reviewer = make.user(Role.REVISOR)
    enrolled(db, reviewer)
    accounts.start_session(db, reviewer)

    with pytest.raises(Forbidden):
        mfa.reset(db, reviewer, actor=make.user(Role.REVISOR), now=NOW)
    with pytest.raises(InvalidInput):
        mfa.reset(db, admin, actor=admin, now=NOW)
    assert mfa.reset(db, reviewer, actor=admin, now=NOW) is True

    assert mfa.enrolment(db, reviewer) is None
    assert db.scalar(select(func.count()).select_from(MfaRecoveryCode)) == 0
    assert db.scalar(select(func.count()).select_from(UserSession)
                     .where(UserSession.user_id == reviewer.id)) == 0
    event = db.scalars(select(SecurityEvent).where(SecurityEvent.kind == "mfa_reset")).one()
    assert (event.user_id, event.secretaria_id, event.at.replace(tzinfo=None), event.detail) == (
        admin.id, reviewer.secretaria_id, NOW.replace(tzinfo=None),
        {"user_id": reviewer.id, "user_email": reviewer.email, "had_enrolment": True,
         "by": "administrador"})


def test_production_requires_it_of_administrador_and_revisor_only() -> None:
    production = load_config({}, mode="production")["MFA_REQUIRED_ROLES"]
    assert mfa.parse_roles(production) == {Role.ADMINISTRADOR, Role.REVISOR}
    assert load_config({}, mode="development")["MFA_REQUIRED_ROLES"] == frozenset()
    assert load_config({"MFA_REQUIRED_ROLES": ""}, mode="production")[
        "MFA_REQUIRED_ROLES"] == frozenset()
    assert load_config({"MFA_REQUIRED_ROLES": " Rector, revisor"}, mode="development")[
        "MFA_REQUIRED_ROLES"] == {"rector", "revisor"}
    with pytest.raises(ConfigError, match="«jefe» no lo es"):
        load_config({"MFA_REQUIRED_ROLES": "administrador,jefe"}, mode="production")


def test_console_reset_serves_the_last_administrador(app: Flask, db: Session,
                                                     make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    enrolled(db, admin)
    db.commit()

    result = app.test_cli_runner().invoke(args=["users", "reset-mfa", "--email",
                                                admin.email.upper()])
    missing = app.test_cli_runner().invoke(args=["users", "reset-mfa", "--email",
                                                 "nadie@prueba.co"])

    assert (result.exit_code, result.output) == (
        0, f"Se restableció la verificación en dos pasos de {admin.email}; sus sesiones se "
        "cerraron.\n")
    assert missing.exit_code != 0 and "No hay un usuario" in missing.output
    db.expire_all()
    assert mfa.enrolment(db, admin) is None
