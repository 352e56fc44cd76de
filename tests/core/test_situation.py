"""A returned Ruta is named as returned, not as a first formulation (issue 12, item 9)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory, WebClient
from tests.pmi.test_review import in_review
from workflow.models import Ruta
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.situation import situation_of, situations_of
from workflow.states import ReturnTarget, State


def _return(db: Session, make: Factory, target: ReturnTarget) -> tuple[Ruta, object, object]:
    ruta, rector, reviewer = in_review(db, make)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="7",
                           text="Falta la debilidad de lectura crítica en Saber 11.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=target, rubric=PASSING_RUBRIC)
    return ruta, rector, reviewer


def test_a_first_formulation_is_not_a_return(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)

    situation = situation_of(db, ruta)

    assert (situation.returned, situation.label) == (False, "Autoevaluación enviada")


def test_a_pmi_returned_to_the_school_is_named_so(db: Session, make: Factory) -> None:
    ruta, _, _ = _return(db, make, ReturnTarget.PMI)

    situation = situation_of(db, ruta)

    assert (ruta.state, situation.label) == (State.AUTOEVALUACION_ENVIADA,
                                            "PMI devuelto con observaciones")
    assert situation.explanation(0).startswith("La Secretaría devolvió el PMI")


def test_a_return_to_the_self_assessment_is_named_so(db: Session, make: Factory) -> None:
    ruta, _, _ = _return(db, make, ReturnTarget.AUTOEVALUACION)

    assert (ruta.state, situation_of(db, ruta).label) == (
        State.BORRADOR, "Autoevaluación devuelta con observaciones")


def test_sending_again_ends_the_returned_situation(db: Session, make: Factory) -> None:
    ruta, rector, _ = _return(db, make, ReturnTarget.PMI)
    review.answer(db, ruta, review.observations(db, ruta)[0].id, actor=rector,
                  response="Agregada la debilidad de lectura crítica.")

    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)

    assert situation_of(db, ruta).label == "PMI enviado a la Secretaría"


def test_situations_of_many_rutas_take_each_ones_last_transition(db: Session,
                                                                 make: Factory) -> None:
    returned, _, _ = _return(db, make, ReturnTarget.PMI)
    fresh = make.ruta(state=State.AUTOEVALUACION_ENVIADA)

    found = situations_of(db, [returned, fresh])

    assert {ruta_id: item.label for ruta_id, item in found.items()} == {
        returned.id: "PMI devuelto con observaciones", fresh.id: "Autoevaluación enviada"}
    assert situations_of(db, []) == {}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_name_the_returned_pmi_and_the_version_under_correction(
        db: Session, make: Factory, web: WebClient, web_factory: Any) -> None:
    ruta, rector, reviewer = _return(db, make, ReturnTarget.PMI)
    db.commit()

    web.login(rector.email)
    page = _text(web.get(f"/rutas/{ruta.id}").get_data(as_text=True))
    assert "Estado actual: PMI devuelto con observaciones" in page
    assert "La Secretaría devolvió el PMI con observaciones" in page
    assert "Ahora el equipo formula" not in page
    assert "PMI devuelto con observaciones (etapa actual)" in page

    web = web_factory()
    web.login(reviewer.email)
    queue = _text(web.get("/revision/").get_data(as_text=True))
    assert "PMI devuelto con observaciones" in queue
    revision = _text(web.get(f"/rutas/{ruta.id}/pmi/revision").get_data(as_text=True))
    assert "la Secretaría devolvió la versión 1 del PMI" in revision
    assert "cuando envíe la versión 2" in revision
    assert "La Secretaría revisa la versión 1" not in revision
