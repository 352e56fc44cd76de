"""``Passwords``: an unknown account costs a verification as a known one does, and the hash
that verification runs against is made at the process's first sign-in, known account or not,
not when the app starts."""

from __future__ import annotations

from argon2 import PasswordHasher

from workflow.cuentas.accounts import Passwords


class _Counting(PasswordHasher):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.hashed = 0
        self.verified = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashed += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        self.verified += 1
        return super().verify(hash, password)


def _passwords() -> tuple[Passwords, _Counting]:
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1)
    counting = _Counting(time_cost=1, memory_cost=8, parallelism=1)
    passwords.hasher = counting
    return passwords, counting


def test_starting_hashes_nothing() -> None:
    passwords, counting = _passwords()
    assert "_dummy" not in vars(passwords)
    assert counting.hashed == 0


def test_an_unknown_account_is_verified_against_a_hash_of_the_same_cost() -> None:
    passwords, counting = _passwords()
    known = passwords.hash("una clave larga y propia")
    assert passwords.verify(None, "una clave larga y propia") is False
    assert counting.verified == 1  # an argon2 verification ran, as for a known account
    dummy = vars(passwords)["_dummy"]
    assert dummy.split("$")[3] == known.split("$")[3]  # m=8,t=1,p=1: the same parameters
    assert passwords.verify(None, "otra") is False
    assert counting.hashed == 2  # the account's and the dummy's, once: the dummy is kept
    assert counting.verified == 2
    assert passwords.verify(known, "una clave larga y propia") is True


def test_the_first_sign_in_costs_the_same_whether_the_account_exists() -> None:
    # A known account's first verification also makes the dummy: a process's first sign-in
    # takes as long for an account that exists as for one that does not.
    passwords, counting = _passwords()
    known = passwords.hash("una clave larga y propia")
    assert passwords.verify(known, "una clave larga y propia") is True
    assert "_dummy" in vars(passwords)
    assert counting.hashed == 2  # the account's, then the dummy's
    assert passwords.verify("no es un hash", "clave") is False  # refused, not raised
