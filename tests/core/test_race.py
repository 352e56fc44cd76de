"""Two people acting on one Ruta at the same moment: exactly one wins.

These run on PostgreSQL only: SQLite serializes every write, which would hide the race.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, PASSING_RUBRIC_FORM, Factory, WebClient
from workflow.errors import StaleRuta
from workflow.models import Ruta, RutaTransition
from workflow.pmi import actions as pmi_actions
from workflow.roles import Role
from workflow.states import State


@pytest.fixture
def pg_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")


def run_together(*actions: Callable[[], Any]) -> list[Any]:
    """Run ``actions`` in threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def runner(index: int, action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except Exception as error:  # the loser's exception is the result we check
            results[index] = error

    threads = [threading.Thread(target=runner, args=(index, action))
               for index, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def approvals(db: Session, ruta_id: int) -> int:
    return db.scalar(select(func.count()).select_from(RutaTransition).where(
        RutaTransition.ruta_id == ruta_id, RutaTransition.trigger == "aprobar")) or 0


@pytest.mark.postgres
def test_two_services_approving_at_once_one_wins(pg_only: None, app: Flask, db: Session,
                                                 make: Factory) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    first, second = make.user(Role.REVISOR), make.user(Role.REVISOR)
    db.commit()
    factory = app.extensions["ruta_db"].session_factory
    loaded = threading.Barrier(2)

    def approve_as(reviewer_id: int) -> str:
        with factory() as session:
            mine = session.get(Ruta, ruta.id)
            reviewer = session.get(type(first), reviewer_id)
            version = mine.version
            loaded.wait()  # both have read version 1 before either writes
            pmi_actions.approve(session, mine, reviewer=reviewer, expected_version=version,
                                rubric=PASSING_RUBRIC)
            session.commit()
            return "aprobado"

    results = run_together(lambda: approve_as(first.id), lambda: approve_as(second.id))

    assert sorted(type(result).__name__ for result in results) == ["StaleRuta", "str"]
    assert any(isinstance(result, StaleRuta) for result in results)
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.APROBADO
    assert db.get(Ruta, ruta.id).version == 2
    assert approvals(db, ruta.id) == 1


@pytest.mark.postgres
def test_two_reviewers_approving_through_the_web_one_gets_409(
        pg_only: None, db: Session, make: Factory,
        web_factory: Callable[[], WebClient]) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewers = [make.user(Role.REVISOR), make.user(Role.REVISOR)]
    db.commit()
    browsers = []
    for reviewer in reviewers:
        browser = web_factory()
        browser.login(reviewer.email)
        # The decision form (with the rubric) is on the PMI's review page.
        page = browser.get(f"/rutas/{ruta.id}/pmi/revision")
        assert 'name="version" value="1"' in page.get_data(as_text=True)
        browsers.append(browser)

    def approve(browser: WebClient) -> Any:
        return browser.post(f"/rutas/{ruta.id}/pmi/decision",
                            {"version": "1", "decision": "aprobar", **PASSING_RUBRIC_FORM})

    responses = run_together(*(lambda b=browser: approve(b) for browser in browsers))

    assert sorted(response.status_code for response in responses) == [302, 409]
    loser = next(response for response in responses if response.status_code == 409)
    assert "Esta Ruta cambió mientras usted la tenía abierta" in loser.get_data(as_text=True)
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.APROBADO
    assert approvals(db, ruta.id) == 1
