"""The PMI review page never loses a rubric being typed: adding an observation posts it along
and shows it again, and a decision refused with 409 keeps it."""

from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC, Factory, WebClient
from tests.pmi.test_rubric_views import checked, form, in_review
from workflow.models import Ruta
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.pmi.models import Observation
from workflow.states import ReturnTarget

NOTE_3 = "La meta 1.1 no dice en qué unidad se mide."
TOKEN = re.compile(r'name="form_token" value="([^"]+)" form="decision-form"')


def text(response: object) -> str:
    return html_lib.unescape(response.get_data(as_text=True))  # type: ignore[attr-defined]


def observations(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Observation)) or 0


def test_add_observation_fields_belong_to_the_decision_form(db: Session, make: Factory,
                                                            web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)

    page = text(web.get(f"/rutas/{ruta.id}/pmi/revision"))

    assert '<textarea id="texto" name="texto" rows="4" form="decision-form">' in page
    assert (f'form="decision-form" formaction="/rutas/{ruta.id}/pmi/observaciones" '
            'formnovalidate>Agregar la observación</button>') in page
    assert TOKEN.search(page) is not None


def test_add_observation_keeps_the_rubric_being_typed(db: Session, make: Factory,
                                                      web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    token = TOKEN.search(text(web.get(f"/rutas/{ruta.id}/pmi/revision")))
    assert token is not None
    before = observations(db)

    response = web.post(f"/rutas/{ruta.id}/pmi/observaciones", {
        **form(**{"rubrica-3-veredicto": "no_cumple", "rubrica-3-nota": NOTE_3}),
        "version": str(ruta.version), "observaciones": "Buen trabajo en general.",
        "elemento": "plan", "criterio": "3", "texto": "Indique la unidad de la meta 1.1.",
        "form_token": token.group(1)})

    page = text(response)
    assert response.status_code == 200
    assert "Observación agregada." in page
    assert observations(db) == before + 1
    assert checked(page, 3) == ["no_cumple"] and checked(page, 1) == ["cumple"]
    assert f">{NOTE_3}</textarea>" in page
    assert ">Buen trabajo en general.</textarea>" in page


def test_add_observation_posted_twice_adds_one(db: Session, make: Factory,
                                               web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    token = TOKEN.search(text(web.get(f"/rutas/{ruta.id}/pmi/revision")))
    assert token is not None
    posted = {**form(), "elemento": "plan", "criterio": "3",
              "texto": "Indique la unidad de la meta 1.1.", "form_token": token.group(1)}
    before = observations(db)

    web.post(f"/rutas/{ruta.id}/pmi/observaciones", posted)
    again = web.post(f"/rutas/{ruta.id}/pmi/observaciones", posted)

    assert "Ya estaba agregada: no se agregó otra vez." in text(again)
    assert checked(text(again), 1) == ["cumple"]
    assert observations(db) == before + 1


def test_decision_refused_with_409_keeps_the_rubric(db: Session, make: Factory,
                                                    web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    web.login(reviewer.email)
    web.get(f"/rutas/{ruta.id}/pmi/revision")
    stale = ruta.version - 1  # the page was drawn before someone else moved the Ruta

    response = web.post(f"/rutas/{ruta.id}/pmi/decision", {
        **form(**{"rubrica-3-veredicto": "no_cumple", "rubrica-3-nota": NOTE_3}),
        "version": str(stale), "decision": "devolver", "destino": "pmi"})

    page = text(response)
    assert response.status_code == 409
    assert "Esta Ruta cambió mientras usted la tenía abierta" in page
    assert "Lo que escribió en la decisión sigue en el formulario" in page
    assert checked(page, 3) == ["no_cumple"]
    assert f">{NOTE_3}</textarea>" in page
    assert f'name="version" value="{db.get(Ruta, ruta.id).version}"' in page


# --- deleting and judging observations on the review page (the rubric comes along) --------


def _draft(db: Session, ruta: Ruta, reviewer: object, text_value: str) -> Observation:
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="7",
                                 text=text_value)
    db.commit()
    return row


def test_delete_buttons_belong_to_the_decision_form(db: Session, make: Factory,
                                                    web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    row = _draft(db, ruta, reviewer, "Falta la debilidad de lectura crítica.")
    web.login(reviewer.email)

    page = text(web.get(f"/rutas/{ruta.id}/pmi/revision"))

    assert (f'form="decision-form" formaction="/rutas/{ruta.id}/pmi/observaciones/eliminar" '
            f'formnovalidate name="observacion" value="{row.id}">') in page


def test_deleting_an_observation_asks_first_and_keeps_the_rubric(db: Session, make: Factory,
                                                                 web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    row = _draft(db, ruta, reviewer, "Falta la debilidad de lectura crítica.")
    web.login(reviewer.email)
    rubric = form(**{"rubrica-3-veredicto": "no_cumple", "rubrica-3-nota": NOTE_3})
    before = observations(db)

    asked = web.post(f"/rutas/{ruta.id}/pmi/observaciones/eliminar",
                     {**rubric, "observacion": str(row.id)})

    page = text(asked)
    assert asked.status_code == 200
    assert "¿Eliminar esta observación?" in page
    assert "Falta la debilidad de lectura crítica." in page
    assert f'name="rubrica-3-nota" value="{NOTE_3}"' in page
    assert observations(db) == before

    back = web.post(f"/rutas/{ruta.id}/pmi/observaciones/eliminar",
                    {**rubric, "observacion": str(row.id), "confirmado": "no"})
    assert observations(db) == before
    assert checked(text(back), 3) == ["no_cumple"]

    done = web.post(f"/rutas/{ruta.id}/pmi/observaciones/eliminar",
                    {**rubric, "observacion": str(row.id), "confirmado": "si"})

    page = text(done)
    assert done.status_code == 200
    assert "Observación eliminada." in page
    assert observations(db) == before - 1
    assert checked(page, 3) == ["no_cumple"] and f">{NOTE_3}</textarea>" in page
    assert "Eliminó la observación «Falta la debilidad de lectura crítica.»" in page


def test_undo_adds_the_deleted_observation_back(db: Session, make: Factory,
                                                web: WebClient) -> None:
    ruta, _, reviewer = in_review(db, make)
    row = _draft(db, ruta, reviewer, "Falta la debilidad de lectura crítica.")
    web.login(reviewer.email)
    web.post(f"/rutas/{ruta.id}/pmi/observaciones/eliminar",
             {"observacion": str(row.id), "confirmado": "si"})

    page = text(web.get(f"/rutas/{ruta.id}/pmi/revision"))
    undo = re.search(r'<div class="undo" id="deshacer">(.*?)</div>', page, re.S)
    assert undo is not None
    fields = dict(re.findall(r'name="([a-z_-]+)" value="([^"]*)"', undo.group(1)))
    assert (fields["deshacer-elemento"], fields["deshacer-criterio"],
            fields["deshacer-texto"], fields["deshacer"]) == (
        "plan", "7", "Falta la debilidad de lectura crítica.", "1")
    # The page's decision form carries them (with whatever rubric is being typed).
    assert 'name="deshacer-texto" value="Falta la debilidad de lectura crítica." ' \
           'form="decision-form"' in page
    web.post(f"/rutas/{ruta.id}/pmi/observaciones",
             {**fields, **form(), "elemento": "plan", "criterio": "", "texto": ""})

    db.expire_all()
    again = db.scalars(select(Observation).where(Observation.ruta_id == ruta.id)).all()
    assert [(item.element, item.criterion, item.text) for item in again] == [
        ("plan", 7, "Falta la debilidad de lectura crítica.")]
    # Offered once: the next visit no longer shows it.
    assert 'id="deshacer"' not in text(web.get(f"/rutas/{ruta.id}/pmi/revision"))


def test_judging_an_answered_observation_keeps_the_rubric(db: Session, make: Factory,
                                                          web: WebClient) -> None:
    ruta, rector, reviewer = in_review(db, make)
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="7",
                                 text="Falta la debilidad de lectura crítica.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    review.answer(db, ruta, row.id, actor=rector, response="Agregada en el objetivo 2.")
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    db.commit()
    web.login(reviewer.email)
    page = text(web.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert f'formnovalidate name="juicio" value="{row.id}:resuelta">Marcar resuelta' in page

    judged = web.post(f"/rutas/{ruta.id}/pmi/observaciones/valorar", {
        **form(**{"rubrica-3-veredicto": "cumple_parcialmente", "rubrica-3-nota": NOTE_3}),
        "version": str(ruta.version), "juicio": f"{row.id}:resuelta"})

    page = text(judged)
    assert judged.status_code == 200
    assert "La observación quedó «resuelta»." in page
    assert checked(page, 3) == ["cumple_parcialmente"] and f">{NOTE_3}</textarea>" in page
    db.expire_all()
    assert db.get(Observation, row.id).status.value == "resuelta"
