"""S21: common and breached passwords are refused wherever a password is set."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, TEST_PASSWORDS, Factory
from workflow.cuentas import accounts, tokens
from workflow.cuentas.accounts import COMMON_PASSWORD, COMMON_PASSWORDS_FILE, password_problems
from workflow.cuentas.models import TokenPurpose
from workflow.errors import InvalidInput
from workflow.roles import Role


@pytest.mark.parametrize("password", ["1234567890", "password12", "contraseña", "qwertyuiop",
                                      "Colombia2024", "CONTRASENA123", "Millonarios1985",
                                      "  iloveyou12  ", "bienvenido2023*"])
def test_common_password_is_refused(password: str) -> None:
    assert password_problems(password) == [COMMON_PASSWORD]


@pytest.mark.parametrize("password", [PASSWORD, "una frase nueva y larga",
                                      "colombia83920481x", "tolima-sabe-a-lechona"])
def test_uncommon_password_is_accepted(password: str) -> None:
    assert password_problems(password) == []


def test_the_shipped_list_is_large_sorted_and_normalized() -> None:
    entries = gzip.decompress(COMMON_PASSWORDS_FILE.read_bytes()).decode().split("\n")
    assert entries[-1] == ""  # every line ends in a newline
    entries.pop()
    assert len(entries) >= 100_000
    assert entries == sorted(set(entries))
    assert all(entry == accounts.normalized_password(entry) and entry for entry in entries)
    for expected in ("contraseña", "contrasena", "colombia2024", "ibague1990", "123456"):
        assert expected.encode() in accounts.common_passwords()


def test_common_password_is_refused_on_a_reset_link(db: Session, make: Factory) -> None:
    user = make.user(Role.REVISOR)
    token = tokens.issue(db, user, TokenPurpose.PASSWORD_RESET)
    with pytest.raises(InvalidInput) as refused:
        tokens.redeem(db, token, TokenPurpose.PASSWORD_RESET, password="Colombia2024",
                      confirm="Colombia2024", passwords=TEST_PASSWORDS)
    assert refused.value.errors == {"new": [COMMON_PASSWORD]}
    assert tokens.check(db, token, TokenPurpose.PASSWORD_RESET) is user  # link still usable

