"""The Ruta page, its actions, the school's home and the Secretaría's queue, through HTTP."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC_FORM, Factory, WebClient
from workflow.models import Ruta, RutaTransition
from workflow.pmi import review
from workflow.roles import Role
from workflow.states import State


def text_of(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined]


def action_buttons(html: str) -> list[str]:
    return re.findall(r'action="/rutas/\d+/acciones/([a-z_]+)"', html)


def test_rector_sees_stepper_explanation_and_only_allowed_action(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta = make.ruta(state=State.BORRADOR)
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    web.login(rector.email)

    home = web.client.get("/escuela/")
    assert home.status_code == 302 and home.headers["Location"] == f"/rutas/{ruta.id}"
    html = text_of(web.get(f"/rutas/{ruta.id}"))
    assert html.count('class="step ') == 7
    assert re.search(r'class="step step-current" aria-current="step"><span class="step-label">'
                     r'Autoevaluación en curso', html)
    assert "El equipo de gestión está haciendo la autoevaluación institucional" in html
    assert action_buttons(html) == ["enviar_autoevaluacion"]


def test_team_member_sees_the_ruta_without_actions(db: Session, make: Factory,
                                                   web: WebClient) -> None:
    ruta = make.ruta(state=State.BORRADOR)
    member = make.user(Role.EQUIPO, school=ruta.school)
    db.commit()
    web.login(member.email)
    html = text_of(web.get(f"/rutas/{ruta.id}"))
    assert action_buttons(html) == []
    response = web.post(f"/rutas/{ruta.id}/acciones/enviar_autoevaluacion", {"version": "1"})
    assert response.status_code == 403


def test_reviewer_is_sent_to_the_review_page_to_approve_or_return(
        db: Session, make: Factory, web: WebClient) -> None:
    # Approving and returning carry the rubric: the Ruta page links to the review page, whose
    # decision form has both buttons (changed with the rubric, issue 11).
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)
    html = text_of(web.get(f"/rutas/{ruta.id}"))
    assert action_buttons(html) == []
    assert f'href="/rutas/{ruta.id}/pmi/revision#decision"' in html
    review_page = text_of(web.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert re.findall(r'name="decision" value="([a-z]+)"', review_page) == [
        "aprobar", "devolver"]
    assert "Comentario general para la institución (opcional)" in review_page
    # No itemized observation yet: the form says so and where to write them.
    assert "Todavía no hay observaciones para enviar" in review_page
    assert f'href="/rutas/{ruta.id}/pmi/revision#agregar-observacion"' in review_page


def test_return_form_lists_the_observations_it_sends(db: Session, make: Factory,
                                                     web: WebClient) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="7",
                           text="Incluyan las debilidades de Saber 11 en lectura crítica.")
    db.commit()
    web.login(reviewer.email)
    html = text_of(web.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert "Se envían a la institución 1 observación(es) de la revisión del PMI" in html
    assert ("El plan en general · Criterio 7: Incluyan las debilidades de Saber 11 en lectura "
            "crítica.") in html
    assert "Todavía no hay observaciones para enviar" not in html


def test_rector_submits_and_the_history_records_it(db: Session, make: Factory,
                                                   web: WebClient) -> None:
    ruta = make.ruta(state=State.BORRADOR)
    make.completed_self_assessment(ruta)  # what the guard of the submission requires
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}")

    response = web.post(f"/rutas/{ruta.id}/acciones/enviar_autoevaluacion",
                        {"version": "1", "observaciones": "Enviada tras la jornada del 19."})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/rutas/{ruta.id}"
    html = text_of(web.get(f"/rutas/{ruta.id}"))
    assert "Listo: envió la autoevaluación. La Ruta quedó en «Autoevaluación enviada»." in html
    assert "Enviada tras la jornada del 19." in html
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.AUTOEVALUACION_ENVIADA


def test_return_without_observations_answers_422_and_keeps_the_state(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)
    response = web.post(f"/rutas/{ruta.id}/pmi/decision",
                        {"version": "1", "observaciones": "Corrijan las metas.",
                         "destino": "pmi", "decision": "devolver", **PASSING_RUBRIC_FORM})
    assert response.status_code == 422
    html = text_of(response)
    assert "Agregue al menos una observación antes de devolver" in html
    assert "Corrijan las metas." in html  # what the revisor wrote is kept
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION
    assert db.scalars(select(RutaTransition)).all() == []


def test_returned_observations_are_shown_to_the_rector(db: Session, make: Factory,
                                                       web_factory: object) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    reviewer = make.user(Role.REVISOR)
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="1",
                           text="Revisen las valoraciones de la gestión académica.")
    db.commit()
    secretaria = web_factory()  # type: ignore[operator]
    secretaria.login(reviewer.email)
    observations = "La meta 1 no tiene unidad de medida.\nIncluyan Saber 11 de lectura."
    response = secretaria.post(f"/rutas/{ruta.id}/acciones/devolver",
                               {"version": "1", "observaciones": observations,
                                "destino": "autoevaluacion", **PASSING_RUBRIC_FORM})
    assert response.status_code == 302

    school = web_factory()  # type: ignore[operator]
    school.login(rector.email)
    html = text_of(school.get(f"/rutas/{ruta.id}"))
    assert "Observaciones de la Secretaría" in html
    assert ("La meta 1 no tiene unidad de medida.\nIncluyan Saber 11 de lectura.\n\n"
            "1. [El plan en general · Criterio 1] Revisen las valoraciones de la gestión "
            "académica.") in html
    assert action_buttons(html) == ["enviar_autoevaluacion"]  # back to borrador


def test_stale_form_answers_409_with_reload_link(db: Session, make: Factory,
                                                 web: WebClient) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)
    response = web.post(f"/rutas/{ruta.id}/acciones/tomar_revision", {"version": "0"})
    assert response.status_code == 409
    html = text_of(response)
    assert "Esta Ruta cambió mientras usted la tenía abierta" in html
    assert f'href="/rutas/{ruta.id}"' in html


def test_action_from_the_wrong_state_answers_409(db: Session, make: Factory,
                                                 web: WebClient) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)
    response = web.post(f"/rutas/{ruta.id}/acciones/aprobar", {"version": "1"})
    assert response.status_code == 409
    assert "No se puede «Aprobar el PMI» cuando la Ruta está en «PMI enviado a la Secretaría»" \
        in text_of(response)


def test_bad_action_requests_answer_clearly(db: Session, make: Factory, web: WebClient) -> None:
    ruta = make.ruta(state=State.PMI_FORMULADO)
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)
    assert web.post(f"/rutas/{ruta.id}/acciones/to_aprobado", {"version": "1"}).status_code \
        == 404
    assert web.post(f"/rutas/{ruta.id}/acciones/tomar_revision", {}).status_code == 400
    assert web.post(f"/rutas/{ruta.id}/acciones/tomar_revision",
                    {"version": "uno"}).status_code == 400
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.PMI_FORMULADO


def test_queue_filters_by_state_and_school_and_paginates(db: Session, make: Factory,
                                                         app: object, web: WebClient) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 2  # type: ignore[attr-defined]
    waiting = [make.ruta(school=make.school(name=f"Colegio Espera {n}"),
                         state=State.PMI_FORMULADO) for n in range(3)]
    make.ruta(school=make.school(name="Colegio Borrador"), state=State.BORRADOR)
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)

    first = text_of(web.get("/revision/?estado=pmi_formulado"))
    assert "3 Rutas en «PMI enviado a la Secretaría»." in first
    assert "Página 1 de 2" in first
    assert "Colegio Borrador" not in first
    second = text_of(web.get("/revision/?estado=pmi_formulado&pagina=2"))
    assert second.count("Colegio Espera") == 1

    by_name = text_of(web.get("/revision/?colegio=borrador"))
    assert "1 Ruta." in by_name and "Colegio Borrador" in by_name
    by_code = text_of(web.get(f"/revision/?colegio={waiting[0].school.dane_code}"))
    assert "1 Ruta." in by_code

    # Nonsense filters are ignored, never an error.
    assert web.get("/revision/?estado=nada&pagina=-3").status_code == 200
    assert web.get("/revision/?pagina=999").status_code == 200
    assert "Todas (4)" in first
