"""The PMI review page never loses a rubric being typed: adding an observation posts it along
and shows it again, and a decision refused with 409 keeps it."""

from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.pmi.test_rubric_views import checked, form, in_review
from workflow.models import Ruta
from workflow.pmi.models import Observation

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
