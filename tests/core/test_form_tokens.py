"""One-time form tokens: a creation posted twice is recorded once."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.core.test_race import run_together
from workflow import form_tokens
from workflow.models import FormSubmission
from workflow.roles import Role


def test_first_use_is_recorded_and_the_second_finds_its_result(db: Session,
                                                               make: Factory) -> None:
    rector = make.user(Role.RECTOR)
    token = form_tokens.new_token()

    assert form_tokens.claim(db, token, user=rector) is None
    form_tokens.record(db, token, "objetivo:7")
    db.commit()

    assert form_tokens.claim(db, token, user=rector) == form_tokens.Earlier("objetivo:7")


def test_a_rolled_back_use_leaves_the_token_unused(db: Session, make: Factory) -> None:
    rector = make.user(Role.RECTOR)
    db.commit()
    token = form_tokens.new_token()

    assert form_tokens.claim(db, token, user=rector) is None
    db.rollback()  # the save was refused: the same form may be posted again

    assert form_tokens.claim(db, token, user=rector) is None


@pytest.mark.parametrize("token", [None, "", "short", "x" * 65, "with spaces in it here"])
def test_missing_or_malformed_tokens_protect_nothing(db: Session, make: Factory,
                                                     token: str | None) -> None:
    rector = make.user(Role.RECTOR)

    assert form_tokens.claim(db, token, user=rector) is None
    assert form_tokens.claim(db, token, user=rector) is None
    assert db.scalar(select(func.count()).select_from(FormSubmission)) == 0


def test_purge_forgets_only_old_tokens(db: Session, make: Factory) -> None:
    rector = make.user(Role.RECTOR)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    old, recent = form_tokens.new_token(), form_tokens.new_token()
    form_tokens.claim(db, old, user=rector, now=now - timedelta(days=40))
    form_tokens.claim(db, recent, user=rector, now=now - timedelta(days=1))

    assert form_tokens.purge(db, before=now - timedelta(days=30)) == 1
    assert db.scalars(select(FormSubmission.token)).all() == [recent]


@pytest.mark.postgres
def test_two_posts_of_one_token_at_once_claim_it_once(backend: str, app: Flask, db: Session,
                                                      make: Factory) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    rector = make.user(Role.RECTOR)
    db.commit()
    token = form_tokens.new_token()
    factory = app.extensions["ruta_db"].session_factory
    inserted = threading.Barrier(2, timeout=5)

    def post() -> str:
        with factory() as session:
            earlier = form_tokens.claim(session, token, user=session.get(type(rector),
                                                                         rector.id))
            if earlier is not None:
                return f"earlier:{earlier.result}"
            form_tokens.record(session, token, "meta:3")
            with contextlib.suppress(threading.BrokenBarrierError):
                inserted.wait()  # the other post is now blocked on our uncommitted row
            session.commit()
            return "first"

    results = run_together(post, post)

    assert sorted(results) == ["earlier:meta:3", "first"]
