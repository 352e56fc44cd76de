"""plain_rows: a column-only SELECT read from the connection gives what the ORM gives."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow.models import Ruta, RutaTransition, School
from workflow.plain_rows import plain_rows
from workflow.states import State


def test_plain_rows_are_the_rows_the_session_reads(db: Session, make: Factory) -> None:
    school = make.school(make.secretaria(), name="Institución «Ñandú» & Cía")
    ruta = make.ruta(school, State.SEGUIMIENTO)
    db.commit()
    statement = (select(School.name, School.zona, Ruta.id, Ruta.state, Ruta.state_changed_at,
                        Ruta.horizon_start_year)
                 .join(Ruta, Ruta.school_id == School.id).where(Ruta.id == ruta.id))
    through_orm = db.execute(statement).all()
    plain = plain_rows(db, statement).all()
    assert plain == through_orm
    # The same types: the enums and the aware moment the columns' types give.
    assert [type(value) for value in plain[0]] == [type(value) for value in through_orm[0]]
    assert plain[0].state is State.SEGUIMIENTO and plain[0].state_changed_at.tzinfo is not None


def test_plain_rows_refuses_entities(db: Session) -> None:
    with pytest.raises(TypeError, match="not entities"):
        plain_rows(db, select(RutaTransition))
    with pytest.raises(TypeError, match="not entities"):
        plain_rows(db, select(Ruta.id, School).join(Ruta.school))
