"""Messages read as Spanish sentences (issue 12, item 12): agreement, names of criteria."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from tests.autoevaluacion.test_autoevaluacion import COMPLETE_IDENTITY, School, school  # noqa: F401
from workflow.autoevaluacion.team import MAX_TEXT, save_identity
from workflow.errors import InvalidInput
from workflow.pmi.criteria_names import (
    CRITERIA,
    GUIA_34,
    criterion_name,
)


def test_criteria_are_named_by_number_and_the_guia_34_step_by_its_name() -> None:
    assert criterion_name(3) == "Criterio 3"
    assert criterion_name(GUIA_34) == "Divulgación (Guía 34)"
    assert all("0" not in criterion_name(number) for number in CRITERIA)


@pytest.mark.parametrize(("field", "subject"), [
    ("mision", "la misión"), ("vision", "la visión"), ("principios", "los principios"),
    ("notes", "las notas del equipo")])
def test_a_too_long_identity_text_is_refused_in_a_sentence_that_agrees(
        db: Session, school: School, field: str, subject: str) -> None:  # noqa: F811
    too_long = replace(COMPLETE_IDENTITY, **{field: "Texto largo. " * (MAX_TEXT // 10)})

    with pytest.raises(InvalidInput) as refused:
        save_identity(db, school.ruta, too_long, actor=school.rector)

    assert refused.value.errors[field] == [
        f"El texto de {subject} no puede pasar de {MAX_TEXT} caracteres."]
