"""Plan adjustments through the web: the Ruta page's link, a change's form (refusals keep
what was typed), sending, the revisor's decision, the history, and scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.ajustes.helpers import approved_plan, meta_form, rubric_form
from tests.conftest import Factory, WebClient
from tests.seguimiento.test_seguimiento import Plan, sent
from workflow.ajustes import changes
from workflow.ajustes.machine import AdjustmentState
from workflow.ajustes.models import AdjustmentChange, PlanAdjustment
from workflow.models import Ruta
from workflow.pmi.models import Meta
from workflow.roles import Role
from workflow.states import State


@pytest.fixture
def plan(db: Session, make: Factory) -> Plan:
    return approved_plan(make)


def signed_in(web_factory: Callable[[], WebClient], email: str) -> WebClient:
    client = web_factory()
    assert client.login(email).status_code == 302
    return client


def opened(client: WebClient, plan: Plan) -> str:
    response = client.post(f"/rutas/{plan.ruta.id}/ajustes", {"form_token": "a" * 32})
    assert response.status_code == 302
    return response.headers["Location"]


def test_the_ruta_page_offers_to_propose_an_adjustment(plan: Plan, web: WebClient) -> None:
    web.login(plan.rector.email)
    page = web.get(f"/rutas/{plan.ruta.id}").get_data(as_text=True)
    assert "Proponer un ajuste del plan" in page


def test_a_change_without_justification_keeps_the_typed_values(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    url = opened(rector, plan)
    assert url.endswith(f"/rutas/{plan.ruta.id}/ajustes/1")
    form_page = rector.get(f"{url}/cambios/nuevo?accion=change:meta:{plan.first.meta_id}")
    assert form_page.status_code == 200
    assert 'value="45"' in form_page.get_data(as_text=True)
    posted = {**meta_form(plan), "accion": f"change:meta:{plan.first.meta_id}",
              "justificacion": "", "form_token": "b" * 32}
    refused = rector.post(f"{url}/cambios/nuevo", posted)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Escriba la justificación de este cambio" in html
    assert 'value="50"' in html
    assert db.scalar(select(func.count()).select_from(AdjustmentChange)) == 0
    posted["justificacion"] = "Los resultados de 2024 superaron lo previsto."
    assert rector.post(f"{url}/cambios/nuevo", posted).status_code == 302
    again = rector.post(f"{url}/cambios/nuevo", posted)  # the same form, posted twice
    assert again.status_code == 302
    assert db.scalar(select(func.count()).select_from(AdjustmentChange)) == 1
    page = rector.get(url).get_data(as_text=True)
    assert "Los resultados de 2024 superaron lo previsto." in page
    assert ">45<" in page and ">50<" in page


def test_removing_a_meta_with_reports_shows_a_clear_message(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    sent(db, plan)
    rector = signed_in(web_factory, plan.rector.email)
    url = opened(rector, plan)
    refused = rector.post(f"{url}/cambios/nuevo", {
        "accion": f"remove:meta:{plan.first.meta_id}", "justificacion": "Ya no aplica.",
        "form_token": "c" * 32})
    assert refused.status_code == 422
    assert "No se puede eliminar la Meta 1.1: sus actividades o indicadores ya tienen " \
           "informes de seguimiento" in refused.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(AdjustmentChange)) == 0


def test_send_return_resend_and_approve_through_the_web(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    url = opened(rector, plan)
    rector.post(f"{url}/cambios/nuevo", {
        **meta_form(plan), "accion": f"change:meta:{plan.first.meta_id}",
        "justificacion": "Se superó la meta.", "form_token": "d" * 32})
    adjustment = db.scalar(select(PlanAdjustment))
    assert rector.post(f"{url}/enviar", {"version": str(adjustment.version)}).status_code == 302

    reviewer = signed_in(web_factory, plan.revisor.email)
    queue = reviewer.get("/revision/").get_data(as_text=True)
    assert "Ajustes del plan por decidir (1)" in queue and url in queue
    page = reviewer.get(url).get_data(as_text=True)
    assert "Decisión de la Secretaría" in page
    db.expire_all()
    adjustment = db.scalar(select(PlanAdjustment))
    change = adjustment.changes[0]
    no_observation = reviewer.post(f"{url}/decidir", {
        **rubric_form(), "decision": "devolver", "version": str(adjustment.version)})
    assert no_observation.status_code == 422
    returned = reviewer.post(f"{url}/decidir", {
        **rubric_form(), "decision": "devolver", "version": str(adjustment.version),
        f"observacion-{change.id}": "Sustente el 50 % con los datos de 2024."})
    assert returned.status_code == 302
    page = rector.get(url).get_data(as_text=True)
    assert "Sustente el 50 % con los datos de 2024." in page
    assert "Reenviar el ajuste a la Secretaría" in page

    edit = rector.get(f"{url}/cambios/{change.id}").get_data(as_text=True)
    assert "Se superó la meta." in edit
    corrected = rector.post(f"{url}/cambios/{change.id}", {
        **meta_form(plan), "justificacion": "En 2024 llegamos al 47 %: el 50 % es alcanzable.",
        "version": "1"})
    assert corrected.status_code == 302
    stale = rector.post(f"{url}/cambios/{change.id}", {
        **meta_form(plan), "justificacion": "Texto viejo que no se pierde.", "version": "1"})
    assert stale.status_code == 409
    assert "Texto viejo que no se pierde." in stale.get_data(as_text=True)
    db.expire_all()
    adjustment = db.scalar(select(PlanAdjustment))
    assert rector.post(f"{url}/enviar", {"version": str(adjustment.version)}).status_code == 302
    db.expire_all()
    adjustment = db.scalar(select(PlanAdjustment))
    approved = reviewer.post(f"{url}/decidir", {
        **rubric_form(), "decision": "aprobar", "version": str(adjustment.version)})
    assert approved.status_code == 302
    db.expire_all()
    assert db.scalar(select(PlanAdjustment)).state is AdjustmentState.APROBADO
    assert db.get(Meta, plan.first.meta_id).cantidad == 50
    assert db.get(Ruta, plan.ruta.id).state is State.SEGUIMIENTO
    history = rector.get(f"/rutas/{plan.ruta.id}").get_data(as_text=True)
    assert "Devolvió con observaciones el" in history
    assert "Los cambios quedaron como la versión 2 del PMI." in history


def test_a_stale_decision_keeps_the_reviewers_text(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    url = opened(rector, plan)
    rector.post(f"{url}/cambios/nuevo", {
        **meta_form(plan), "accion": f"change:meta:{plan.first.meta_id}",
        "justificacion": "Se superó la meta.", "form_token": "e" * 32})
    adjustment = db.scalar(select(PlanAdjustment))
    rector.post(f"{url}/enviar", {"version": str(adjustment.version)})
    reviewer = signed_in(web_factory, plan.revisor.email)
    answer = reviewer.post(f"{url}/decidir", {
        **rubric_form(), "decision": "aprobar", "version": "1",
        "observaciones": "Comentario que no se pierde."})
    assert answer.status_code == 409
    assert "Comentario que no se pierde." in answer.get_data(as_text=True)


def test_other_schools_do_not_see_the_adjustment(
        plan: Plan, make: Factory, db: Session, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    url = opened(rector, plan)
    stranger = make.user(Role.RECTOR, school=make.school())
    db.commit()
    other = signed_in(web_factory, stranger.email)
    assert other.get(url).status_code == 404
    reviewer = signed_in(web_factory, plan.revisor.email)
    assert reviewer.post(f"/rutas/{plan.ruta.id}/ajustes",
                         {"form_token": "f" * 32}).status_code == 403


def test_the_queue_lists_the_oldest_adjustments_and_counts_them_all(
        plan: Plan, make: Factory, db: Session, web_factory: Callable[[], WebClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    url = opened(rector, plan)
    rector.post(f"{url}/cambios/nuevo", {
        **meta_form(plan), "accion": f"change:meta:{plan.first.meta_id}",
        "justificacion": "Se superó la meta.", "form_token": "g" * 32})
    adjustment = db.scalar(select(PlanAdjustment))
    assert rector.post(f"{url}/enviar", {"version": str(adjustment.version)}).status_code == 302
    secretaria = plan.ruta.school.secretaria
    later = make.ruta(make.school(secretaria, name="Institución Educativa Tardía"),
                      State.SEGUIMIENTO)
    db.add(PlanAdjustment(ruta=later, number=1, state=AdjustmentState.ENVIADO,
                          created_by_id=plan.rector.id, sent_at=datetime(2099, 1, 1, tzinfo=UTC)))
    consulta = make.user(Role.CONSULTA, secretaria=secretaria)
    db.commit()
    monkeypatch.setattr(changes, "WAITING_LISTED", 1)

    queue = signed_in(web_factory, plan.revisor.email).get("/revision/").get_data(as_text=True)
    assert "Ajustes del plan por decidir (2)" in queue
    assert f'href="{url}"' in queue and "· 1 cambio<" in queue
    assert f"/rutas/{later.id}/ajustes/1" not in queue
    assert "Se muestra el enviado hace más tiempo." in queue
    assert 'href="/pendientes/?tipo=ajuste">Ver los 2 en Pendientes' in queue
    # «Pendientes» is the desk of revisores and the administración, not of consulta.
    read_only = signed_in(web_factory, consulta.email).get("/revision/").get_data(as_text=True)
    assert "Se muestra el enviado hace más tiempo." in read_only
    assert "Ver los 2 en Pendientes" not in read_only
