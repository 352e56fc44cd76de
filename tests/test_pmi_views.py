"""The PMI pages over HTTP: the plan with its live report, forms, review, versions, printing."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow import pmi, review, services
from workflow.models import Ruta, User
from workflow.pmi_demo import fill_demo_pmi
from workflow.review import ObservationStatus
from workflow.roles import Role
from workflow.states import ReturnTarget, State


def school_ruta(db: Session, make: Factory, *, complete: bool) -> tuple[Ruta, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector, complete=complete)
    db.commit()
    return ruta, rector


def page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_plan_page_shows_the_report_element_by_element(app: Flask, db: Session, make: Factory,
                                                       web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    web.login(rector.email)
    response = web.get(f"/rutas/{ruta.id}/pmi")
    html = page(response)
    assert response.status_code == 200
    assert "Faltan 5 verificación(es) obligatoria(s)" in html
    assert "Meta 1.1: no tiene indicador." in html
    assert 'class="rule-fail" id="regla-meta_con_indicador"' in html
    assert 'class="rule-ok" id="regla-meta_medible"' in html
    assert f'href="/rutas/{ruta.id}/pmi/elemento?tipo=objetivo"' in html


def test_meta_without_cantidad_answers_422_and_saves_nothing(app: Flask, db: Session,
                                                             make: Factory,
                                                             web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    objetivo_id = db.scalar(select(pmi.Objetivo.id))
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=meta&padre={objetivo_id}")
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "meta", "objetivo_id": str(objetivo_id), "enunciado": "Mejorar.",
        "cantidad": "", "unidad": "%", "fecha_limite": "2026-11-30"})
    assert response.status_code == 422
    assert "Escriba la cantidad de la meta: un número (por ejemplo, 60 o 12,5)." in page(response)
    assert db.scalar(select(func.count()).select_from(pmi.Meta)) == 1


def test_rector_adds_an_element_through_the_form(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    meta_id = db.scalar(select(pmi.Meta.id))
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=actividad&padre={meta_id}")
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "actividad", "meta_id": str(meta_id), "descripcion": "Talleres Saber.",
        "responsable": "Jefatura de matemáticas", "fecha_inicio": "2024-02-05",
        "fecha_fin": "2026-10-30", "recursos": "Fotocopias", "costo": "1.500.000",
        "fuente_financiacion": "FSE", "trayectorias": ["rural", "migrantes"]})
    assert response.status_code == 302
    saved = db.scalars(select(pmi.Actividad)).one()
    assert (saved.costo, saved.trayectorias, response.headers["Location"]) == (
        1_500_000, ["rural", "migrantes"], f"/rutas/{ruta.id}/pmi#actividad-{saved.id}")


def test_editing_a_plan_under_review_answers_409(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    services.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()
    web.login(rector.email)
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "fuente": "interna", "area": "Ciencias", "descripcion": "Bajo."})
    assert response.status_code == 409
    assert "El PMI no se puede modificar mientras la Ruta está en «PMI enviado a la " \
           "Secretaría»." in page(response)
    assert db.scalar(select(func.count()).select_from(pmi.Hallazgo)) == 2


def test_review_pages_carry_the_loop(app: Flask, db: Session, make: Factory,
                                     web_factory: object) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    reviewer = make.user(Role.REVISOR)
    services.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    services.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    db.commit()
    revisor_web: WebClient = web_factory()  # type: ignore[operator]
    rector_web: WebClient = web_factory()  # type: ignore[operator]
    revisor_web.login(reviewer.email)
    rector_web.login(rector.email)

    revisor_web.get(f"/rutas/{ruta.id}/pmi/revision")
    added = revisor_web.post(f"/rutas/{ruta.id}/pmi/observaciones", {
        "elemento": "plan", "criterio": "8", "texto": "Articule la oferta para migrantes."})
    assert added.status_code == 302
    refused = revisor_web.post(f"/rutas/{ruta.id}/pmi/observaciones", {
        "elemento": "plan", "criterio": "", "texto": "Sin criterio."})
    assert refused.status_code == 422
    assert "Elija el criterio de la Circular 0488 al que se refiere." in page(refused)
    returned = revisor_web.post(f"/rutas/{ruta.id}/acciones/devolver", {
        "version": str(db.get(Ruta, ruta.id).version), "destino": ReturnTarget.PMI.value,
        "observaciones": ""})
    assert returned.status_code == 302

    db.expire_all()
    row = review.observations(db, ruta)[0]
    html = page(rector_web.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert "Observación 1 · El plan en general" in html
    assert "Articule la oferta para migrantes." in html
    answered = rector_web.post(f"/rutas/{ruta.id}/pmi/observaciones/responder", {
        "observacion": str(row.id), "respuesta": "Agregamos nivelación para migrantes."})
    assert answered.status_code == 302
    db.expire_all()
    assert (row.status, row.response) == (ObservationStatus.RESPONDIDA,
                                          "Agregamos nivelación para migrantes.")
    detail = page(rector_web.get(f"/rutas/{ruta.id}"))
    assert "Observaciones de la Secretaría: 1 (1 sin resolver)." in detail
    assert "[El plan en general · Criterio 8] Articule la oferta para migrantes." in detail


def test_versions_and_print_pages_show_the_sent_plan(app: Flask, db: Session, make: Factory,
                                                     web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    services.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()
    web.login(rector.email)
    versions = page(web.get(f"/rutas/{ruta.id}/pmi/versiones"))
    assert "Versión 1: enviada el" in versions
    printed = web.get(f"/rutas/{ruta.id}/pmi/imprimir")
    assert printed.status_code == 200
    html = page(printed)
    assert "Versión 1, enviada a la Secretaría el" in html
    assert "Cumple todas las verificaciones obligatorias." in html
    assert "Porcentaje de estudiantes de 11.° en los niveles 2, 3 y 4 de matemáticas" in html
    missing = web.get(f"/rutas/{ruta.id}/pmi/imprimir?version=7")
    assert missing.status_code == 404
