"""«En manos de X», «Tomar de X» and the refusals, through HTTP (issue 14, item 2)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSING_RUBRIC_FORM, Factory, WebClient
from tests.pmi.test_review import in_review
from workflow.models import OutboxMessage, Ruta, RutaTakeover
from workflow.roles import Role
from workflow.states import State

REASON = "La revisora está incapacitada esta semana."


def text_of(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined]


def test_another_revisor_sees_who_holds_it_and_cannot_decide(db: Session, make: Factory,
                                                             web: WebClient) -> None:
    ruta, _rector, first = in_review(db, make)
    second = make.user(Role.REVISOR)
    db.commit()
    web.login(second.email)
    html = text_of(web.get(f"/rutas/{ruta.id}"))
    assert f"En manos de {first.name} desde el" in html
    assert f"Tomar de {first.name}</button>" in html
    assert "Decidir en la revisión del PMI" not in html
    refused = web.post(f"/rutas/{ruta.id}/pmi/decision",
                       {"version": str(ruta.version), "decision": "aprobar",
                        "observaciones": "Plan muy completo.", **PASSING_RUBRIC_FORM})
    assert refused.status_code == 422
    assert f"en manos de {first.name}" in text_of(refused)
    assert "Plan muy completo." in text_of(refused)  # nothing typed is lost
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION


def test_take_over_without_a_reason_keeps_what_was_typed(db: Session, make: Factory,
                                                         web: WebClient) -> None:
    ruta, _rector, first = in_review(db, make)
    second = make.user(Role.REVISOR)
    db.commit()
    web.login(second.email)
    web.get(f"/rutas/{ruta.id}")
    response = web.post(f"/rutas/{ruta.id}/tomar",
                        {"version": str(ruta.version), "motivo": "urgente"})
    assert response.status_code == 422
    html = text_of(response)
    assert "No se tomó la revisión" in html and "al menos 3 palabras" in html
    assert re.search(r'<textarea id="motivo"[^>]*>urgente</textarea>', html)
    assert db.scalar(select(func.count()).select_from(RutaTakeover)) == 0


def test_take_over_with_a_reason_then_approve(db: Session, make: Factory,
                                              web: WebClient) -> None:
    ruta, _rector, first = in_review(db, make)
    second = make.user(Role.REVISOR)
    db.commit()
    web.login(second.email)
    web.get(f"/rutas/{ruta.id}")
    form = {"version": str(ruta.version), "motivo": REASON}
    response = web.post(f"/rutas/{ruta.id}/tomar", form)
    assert response.status_code == 302
    again = web.post(f"/rutas/{ruta.id}/tomar", form, follow_redirects=True)
    assert "Usted ya tiene esta revisión" in text_of(again)
    html = text_of(web.get(f"/rutas/{ruta.id}"))
    assert f"{second.name} tomó la revisión de {first.name}" in html and REASON in html
    assert "Decidir en la revisión del PMI" in html
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(RutaTakeover)) == 1
    [mail] = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "revision_tomada"))
    assert mail.recipients == [first.email]
    current = db.get(Ruta, ruta.id)
    approved = web.post(f"/rutas/{ruta.id}/pmi/decision",
                        {"version": str(current.version), "decision": "aprobar",
                         **PASSING_RUBRIC_FORM})
    assert approved.status_code == 302
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.APROBADO


def test_a_stale_take_over_is_a_clear_409(db: Session, make: Factory,
                                          web: WebClient) -> None:
    ruta, _rector, _first = in_review(db, make)
    second = make.user(Role.REVISOR)
    db.commit()
    web.login(second.email)
    web.get(f"/rutas/{ruta.id}")
    response = web.post(f"/rutas/{ruta.id}/tomar",
                        {"version": str(ruta.version - 1), "motivo": REASON})
    assert response.status_code == 409
    assert "cambió mientras usted la tenía abierta" in text_of(response)
    assert REASON in text_of(response)


def test_the_rector_cannot_take_over(db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector, _first = in_review(db, make)
    db.commit()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}")
    assert web.post(f"/rutas/{ruta.id}/tomar",
                    {"version": str(ruta.version), "motivo": REASON}).status_code == 403
