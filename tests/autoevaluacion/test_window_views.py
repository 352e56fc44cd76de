"""The autoevaluación window through HTTP: the school's pages say the window before anyone sends,
the send button says why it is disabled and the server refuses the same post, and the
administración extends the window for one school from the Ruta page (a form with a token; a
refused prórroga keeps what was typed and saves nothing).

The dates are relative to today, so the tests hold whatever day they run on.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow.autoevaluacion.window import today_in_bogota
from workflow.dates import fecha
from workflow.horizontes.horizons import ensure_horizon
from workflow.horizontes.models import SelfAssessmentExtension
from workflow.models import Ruta, RutaTransition, User, utcnow
from workflow.roles import Role
from workflow.states import State

REASON = "La sede rural estuvo sin conectividad durante un mes"
TOKEN = "prorroga-token-0123456789abcdef"


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def ruta_with_window(make: Factory, *, closed: bool = True) -> tuple[Ruta, User, User]:
    """A complete autoevaluación in borrador whose horizon (this year and the next two) has a
    window that closed ten days ago (or is open); its rector and administrador."""
    today = today_in_bogota()
    ruta = make.completed_self_assessment(make.ruta())
    ruta.horizon_start_year, ruta.horizon_end_year = today.year, today.year + 2
    ruta.created_at = utcnow() - timedelta(days=90)
    horizon = ensure_horizon(make.db, ruta.school.secretaria, today.year, today.year + 2,
                             actor=None)
    if closed:
        opens, closes = today - timedelta(days=60), today - timedelta(days=10)
    else:
        opens, closes = today - timedelta(days=10), today + timedelta(days=10)
    horizon.self_assessment_opens, horizon.self_assessment_closes = opens, closes
    horizon.pmi_deadline = closes + timedelta(days=5)
    rector = make.user(Role.RECTOR, school=ruta.school)
    admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    make.db.commit()
    return ruta, rector, admin


def send_button(page: str) -> str:
    found = re.search(r'<button type="submit"[^>]*>Enviar la autoevaluación</button>', page)
    assert found is not None
    return found.group(0)


def extensions(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(SelfAssessmentExtension)) or 0


def test_closed_window_is_said_on_both_pages_and_the_server_refuses(
        db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector, _ = ruta_with_window(make)
    closes = today_in_bogota() - timedelta(days=10)
    web.login(rector.email)
    autoevaluacion = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion"))
    refusal = (f"La ventana de la autoevaluación se cerró el {fecha(closes)}")
    assert refusal in autoevaluacion and "Pida a la Secretaría una prórroga." in autoevaluacion

    page = text_of(web.get(f"/rutas/{ruta.id}"))
    assert page.count(refusal) == 2  # the autoevaluación card and beside the button
    assert send_button(page) == ('<button type="submit" disabled aria-describedby='
                                 '"envio-cerrado">Enviar la autoevaluación</button>')
    assert "Extender la autoevaluación de esta institución" not in page

    # A page opened before the window closed still posts: the server says no, and keeps the
    # comment the rector wrote.
    response = web.post(f"/rutas/{ruta.id}/acciones/enviar_autoevaluacion",
                        {"version": str(ruta.version), "observaciones": "Enviada por la rectora"})
    assert response.status_code == 422
    refused = text_of(response)
    assert "Todavía no se puede «Enviar la autoevaluación»." in refused
    assert refusal in refused and ">Enviada por la rectora</textarea>" in refused
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.BORRADOR

    # Nothing typed is lost: the autoevaluación stays editable.
    area = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion/areas/ACA"))
    assert "/procesos/" in area


def test_open_window_is_said_and_the_rector_sends(db: Session, make: Factory,
                                                  web: WebClient) -> None:
    ruta, rector, _ = ruta_with_window(make, closed=False)
    closes = today_in_bogota() + timedelta(days=10)
    web.login(rector.email)
    page = text_of(web.get(f"/rutas/{ruta.id}"))
    assert f"Está abierta: se puede enviar hasta el {fecha(closes)}." in page
    assert send_button(page) == '<button type="submit">Enviar la autoevaluación</button>'
    response = web.post(f"/rutas/{ruta.id}/acciones/enviar_autoevaluacion",
                        {"version": str(ruta.version)})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.AUTOEVALUACION_ENVIADA


def test_administrador_extends_the_window_and_the_rector_sends(
        db: Session, make: Factory, web: WebClient, web_factory: Any) -> None:
    ruta, rector, admin = ruta_with_window(make)
    until = today_in_bogota() + timedelta(days=20)
    web.login(admin.email)
    page = text_of(web.get(f"/rutas/{ruta.id}"))
    assert "Extender la autoevaluación de esta institución" in page
    assert "Esta institución no ha recibido prórrogas." in page

    # Without a reason: refused, the date kept, nothing saved.
    refused = web.post(f"/rutas/{ruta.id}/autoevaluacion/prorroga",
                       {"until": until.isoformat(), "reason": "", "form_token": TOKEN})
    assert refused.status_code == 422
    body = text_of(refused)
    assert "No se concedió la prórroga: revise lo que está marcado" in body
    assert "Escriba en unas palabras por qué se concede la prórroga" in body
    assert f'value="{until.isoformat()}"' in body and f'value="{TOKEN}"' in body
    assert extensions(db) == 0

    granted = web.post(f"/rutas/{ruta.id}/autoevaluacion/prorroga",
                       {"until": until.isoformat(), "reason": REASON, "form_token": TOKEN})
    assert granted.status_code == 302
    assert granted.headers["Location"].endswith(f"/rutas/{ruta.id}#prorrogas-titulo")
    page = text_of(web.get(f"/rutas/{ruta.id}"))
    assert (f"Listo: {ruta.school.name} puede enviar su autoevaluación hasta el "
            f"{fecha(until)}.") in page
    assert f"Hasta el {fecha(until)}" in page and f"Motivo: {REASON}" in page
    # The same form again (a double click): nothing more.
    again = web.post(f"/rutas/{ruta.id}/autoevaluacion/prorroga",
                     {"until": until.isoformat(), "reason": REASON, "form_token": TOKEN})
    assert again.status_code == 302
    assert extensions(db) == 1

    school = web_factory()
    school.login(rector.email)
    autoevaluacion = text_of(school.get(f"/rutas/{ruta.id}/autoevaluacion"))
    assert (f"Incluye la prórroga que la Secretaría concedió hasta el {fecha(until)}. "
            f"Motivo: «{REASON}».") in autoevaluacion
    page = text_of(school.get(f"/rutas/{ruta.id}"))
    assert send_button(page) == '<button type="submit">Enviar la autoevaluación</button>'
    assert "Extender la autoevaluación" not in page and f"Motivo: {REASON}" in page
    sent = school.post(f"/rutas/{ruta.id}/acciones/enviar_autoevaluacion",
                       {"version": str(ruta.version)})
    assert sent.status_code == 302
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.AUTOEVALUACION_ENVIADA


def test_only_the_rutas_administracion_may_post_a_prorroga(db: Session, make: Factory,
                                                           web: WebClient,
                                                           web_factory: Any) -> None:
    ruta, rector, _ = ruta_with_window(make)
    form = {"until": (today_in_bogota() + timedelta(days=5)).isoformat(), "reason": REASON}
    web.login(rector.email)
    assert web.post(f"/rutas/{ruta.id}/autoevaluacion/prorroga", form).status_code == 403
    other = make.user(Role.ADMINISTRADOR,
                      secretaria=make.secretaria("Secretaría de Educación del Tolima", "73000"))
    db.commit()
    outsider = web_factory()
    outsider.login(other.email)
    assert outsider.post(f"/rutas/{ruta.id}/autoevaluacion/prorroga", form).status_code == 404
    assert extensions(db) == 0


def test_a_returned_ruta_says_it_may_be_sent_again(db: Session, make: Factory,
                                                   web: WebClient) -> None:
    ruta, rector, admin = ruta_with_window(make)
    earlier = utcnow() - timedelta(days=30)
    for trigger, before, after in (
            ("enviar_autoevaluacion", State.BORRADOR, State.AUTOEVALUACION_ENVIADA),
            ("formular_pmi", State.AUTOEVALUACION_ENVIADA, State.PMI_FORMULADO),
            ("tomar_revision", State.PMI_FORMULADO, State.EN_REVISION)):
        db.add(RutaTransition(ruta_id=ruta.id, trigger=trigger, from_state=before,
                              to_state=after, at=earlier))
    db.add(RutaTransition(ruta_id=ruta.id, trigger="devolver", from_state=State.EN_REVISION,
                          to_state=State.BORRADOR, at=earlier,
                          observations="Rehagan la gestión académica."))
    db.commit()
    web.login(rector.email)
    page = text_of(web.get(f"/rutas/{ruta.id}"))
    assert "La Secretaría devolvió la Ruta a la autoevaluación:" in page
    assert "se puede reenviar en cualquier momento" in page
    assert send_button(page) == '<button type="submit">Enviar la autoevaluación</button>'
    admin_web = WebClient(web.client.application.test_client())
    admin_web.login(admin.email)
    assert "Extender la autoevaluación" not in text_of(admin_web.get(f"/rutas/{ruta.id}"))


def test_no_window_dates_no_notice_of_closing(db: Session, make: Factory,
                                              web: WebClient) -> None:
    ruta = make.completed_self_assessment(make.ruta())
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    web.login(rector.email)
    page = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion"))
    assert ("La Secretaría todavía no ha fijado la ventana de la autoevaluación de este "
            "horizonte") in page
    assert "Pida a la Secretaría una prórroga." not in page
