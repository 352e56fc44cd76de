"""Observations and decisions serialize (issue 16, item 3): a reviewer approving while another
tab adds an observation never leaves a Ruta «aprobado» with an observation nobody resolved.

Both sides lock the Ruta's row before they look: the approval's guard ``no_open_observations``
and ``review.add_observation``. Whichever locks second sees what the first did: the approval
is refused (the new draft is open) or the observation is refused (the plan is approved)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory
from tests.core.test_race import run_together
from tests.pmi.test_review import in_review
from workflow.errors import GuardFailed, NotEditable
from workflow.models import Ruta, User
from workflow.observations import ObservationStatus
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.pmi.models import Observation, RubricVerdict
from workflow.states import State

ROUNDS = 100


def back_in_review(db: Session, ruta_id: int) -> None:
    """Undo the last round: the Ruta in review again, no observations, no rubric."""
    db.execute(delete(Observation).where(Observation.ruta_id == ruta_id))
    db.execute(delete(RubricVerdict).where(RubricVerdict.ruta_id == ruta_id))
    db.execute(update(Ruta).where(Ruta.id == ruta_id).values(state=State.EN_REVISION,
                                                            version=Ruta.version + 1))
    db.commit()


@pytest.mark.postgres
def test_approving_while_an_observation_is_added_never_approves_with_it_open(
        backend: str, app: Flask, db: Session, make: Factory) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    ruta, _, reviewer = in_review(db, make)
    db.commit()
    ruta_id, reviewer_id = ruta.id, reviewer.id
    factory = app.extensions["ruta_db"].session_factory
    outcomes: dict[str, int] = {}

    def approve() -> str:
        with factory() as session:
            mine = session.get(Ruta, ruta_id)
            pmi_actions.approve(session, mine, reviewer=session.get(User, reviewer_id),
                                expected_version=mine.version, rubric=PASSING_RUBRIC)
            session.commit()
            return "aprobado"

    def observe() -> str:
        with factory() as session:
            review.add_observation(session, session.get(Ruta, ruta_id),
                                   reviewer=session.get(User, reviewer_id), element="plan",
                                   criterion="3", text="La meta 1.1 no tiene unidad de medida.")
            session.commit()
            return "observada"

    for _ in range(ROUNDS):
        results = run_together(approve, observe)
        db.expire_all()
        state = db.get(Ruta, ruta_id).state
        open_rows = db.scalars(select(Observation).where(
            Observation.ruta_id == ruta_id,
            Observation.status != ObservationStatus.RESUELTA)).all()
        # Exactly one side won; the loser was told why in Spanish, nothing half-done.
        assert not (state is State.APROBADO and open_rows), results
        assert sorted(type(result).__name__ for result in results) in (
            ["GuardFailed", "str"], ["NotEditable", "str"]), results
        loser = next(result for result in results if not isinstance(result, str))
        assert isinstance(loser, GuardFailed | NotEditable)
        if isinstance(loser, GuardFailed):
            assert state is State.EN_REVISION and len(open_rows) == 1
        else:
            assert state is State.APROBADO and not open_rows
            assert "en revisión" in str(loser.args[0] if loser.args else loser)
        winner = "observada" if isinstance(loser, GuardFailed) else "aprobado"
        outcomes[winner] = outcomes.get(winner, 0) + 1
        back_in_review(db, ruta_id)

    assert sum(outcomes.values()) == ROUNDS
