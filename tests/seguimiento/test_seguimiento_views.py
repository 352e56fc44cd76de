"""Seguimiento through the web: the Ruta page, the report form, sending, the revisor's review,
bad input and scope."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.seguimiento.test_seguimiento import Plan, build_plan, form_for
from workflow.evidencias.models import EvidenceFile
from workflow.models import Ruta, RutaTransition
from workflow.seguimiento.models import (
    FollowUpLine,
    FollowUpObservation,
    FollowUpReport,
    ReportStatus,
)
from workflow.states import State

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def plan(db: Session, make: Factory, app: Flask, tmp_path: Path) -> Plan:
    app.config["EVIDENCE_FOLDER"] = str(tmp_path / "evidencias")
    return build_plan(make)


def signed_in(web_factory: Callable[[], WebClient], email: str) -> WebClient:
    client = web_factory()
    assert client.login(email).status_code == 302
    return client


def open_june(client: WebClient, plan: Plan) -> str:
    response = client.post(f"/rutas/{plan.ruta.id}/seguimiento/informes",
                           {"corte": str(plan.june.id)})
    assert response.status_code == 302
    return response.headers["Location"]


def test_ruta_page_shows_plan_start_and_checkpoints(plan: Plan, web: WebClient) -> None:
    web.login(plan.rector.email)
    page = web.get(f"/rutas/{plan.ruta.id}").get_data(as_text=True)
    assert "Inicio del plan: <strong>1 de febrero de 2024</strong>" in page
    assert "Seguimiento 1er semestre 2024" in page
    assert "Diligenciar el informe" in page


def test_full_web_flow_rector_sends_reviewer_returns_and_acknowledges(
        plan: Plan, db: Session, web_factory: Callable[[], WebClient]) -> None:
    rector = signed_in(web_factory, plan.rector.email)
    url = open_june(rector, plan)
    report_id = int(url.rsplit("/", 1)[1])
    form = rector.get(url).get_data(as_text=True)
    assert "Talleres de lectura" in form and "Puntaje promedio" in form
    saved = rector.post(f"{url}/guardar", {**form_for(plan), "version": "1"})
    assert saved.status_code == 302
    upload = rector.post(f"{url}/evidencias",
                         {"archivo": (io.BytesIO(PDF), "actas.pdf")},
                         content_type="multipart/form-data")
    assert upload.status_code == 302
    version = db.scalar(select(FollowUpReport.version).where(FollowUpReport.id == report_id))
    sent = rector.post(f"{url}/enviar", {"version": str(version)})
    assert sent.status_code == 302
    page = rector.get(url).get_data(as_text=True)
    assert "Enviado a la Secretaría" in page and "actas.pdf" in page
    assert 'name="avance-' not in page  # read-only once sent

    reviewer = signed_in(web_factory, plan.revisor.email)
    review = reviewer.get(url).get_data(as_text=True)
    assert "Dar por recibido el informe" in review
    refused = reviewer.post(f"{url}/devolver", {"version": str(version + 1)})
    assert refused.status_code == 422
    assert "Escriba al menos una observación" in refused.get_data(as_text=True)
    added = reviewer.post(f"{url}/observaciones",
                          {"elemento": f"actividad:{plan.first.id}", "texto": "Aclare."})
    assert added.status_code == 302
    assert reviewer.post(f"{url}/devolver", {"version": str(version + 1)}).status_code == 302

    observation = rector.get(url).get_data(as_text=True)
    assert "Su respuesta a la observación 1" in observation
    row = db.scalar(select(FollowUpObservation))
    assert rector.post(f"{url}/observaciones/responder",
                       {"observacion": str(row.id), "respuesta": "Aclarado."}).status_code == 302
    db.expire_all()
    version = db.get(FollowUpReport, report_id).version
    assert rector.post(f"{url}/enviar", {"version": str(version)}).status_code == 302
    still_open = reviewer.post(f"{url}/reconocer", {"version": str(version + 1)})
    assert still_open.status_code == 422
    assert "no está resuelta" in still_open.get_data(as_text=True)
    assert reviewer.post(f"{url}/observaciones/valorar",
                         {"observacion": str(row.id), "veredicto": "resuelta"}).status_code == 302
    done = reviewer.post(f"{url}/reconocer", {"version": str(version + 1)})
    assert done.status_code == 302
    db.expire_all()
    assert db.get(FollowUpReport, report_id).status is ReportStatus.RECONOCIDO
    ruta_page = rector.get(f"/rutas/{plan.ruta.id}").get_data(as_text=True)
    assert "Recibido por la Secretaría" in ruta_page


@pytest.mark.parametrize(("field", "value", "message"), [
    ("avance-{first}", "150", "debe estar entre 0 y 100"),
    ("avance-{first}", "cuarenta", "debe ser un número"),
    ("estado-{second}", "cancelada", "explique por qué"),
])
def test_bad_input_answers_422_with_the_message_and_stores_nothing(
        plan: Plan, db: Session, web: WebClient, field: str, value: str, message: str) -> None:
    web.login(plan.rector.email)
    url = open_june(web, plan)
    name = field.format(first=plan.first.id, second=plan.second.id)
    response = web.post(f"{url}/guardar", {**form_for(plan, **{name: value}), "version": "1"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'value="{value}"' in page or value in page  # what was typed is kept
    assert db.scalar(select(func.count()).select_from(FollowUpLine)) == 0


def test_checkpoint_that_does_not_exist_or_is_not_given(plan: Plan, db: Session,
                                                        web: WebClient, make: Factory) -> None:
    other = build_plan(make, secretaria_name="Secretaría de Educación del Tolima")
    web.login(plan.rector.email)
    for corte in (str(other.june.id), "999999", "10000000000000000000000"):
        response = web.post(f"/rutas/{plan.ruta.id}/seguimiento/informes", {"corte": corte})
        assert response.status_code in (404, 422), corte
    missing = web.post(f"/rutas/{plan.ruta.id}/seguimiento/informes", {})
    assert missing.status_code == 422
    assert "Elija el corte" in missing.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(FollowUpReport)) == 0


def test_editing_a_sent_report_is_refused(plan: Plan, db: Session, web: WebClient) -> None:
    web.login(plan.rector.email)
    url = open_june(web, plan)
    web.post(f"{url}/guardar", {**form_for(plan), "version": "1"})
    web.post(f"{url}/enviar", {"version": "2"})
    response = web.post(f"{url}/guardar",
                        {**form_for(plan, **{f"avance-{plan.first.id}": "80"}), "version": "3"})
    assert response.status_code == 409
    assert "ya fue enviado" in response.get_data(as_text=True)
    avance = db.scalar(select(FollowUpLine.avance).where(
        FollowUpLine.actividad_id == plan.first.id))
    assert avance == 45


def test_evidence_with_wrong_content_or_path_name_is_refused(plan: Plan, db: Session,
                                                              web: WebClient) -> None:
    web.login(plan.rector.email)
    url = open_june(web, plan)
    wrong = web.post(f"{url}/evidencias", {"archivo": (io.BytesIO(b"MZ\x90\x00"), "x.pdf")},
                     content_type="multipart/form-data")
    assert wrong.status_code == 422
    assert "no es de un tipo permitido" in wrong.get_data(as_text=True)
    path = web.post(f"{url}/evidencias", {"archivo": (io.BytesIO(PDF), "../../etc/a.pdf")},
                    content_type="multipart/form-data")
    assert path.status_code == 422
    assert "no puede ser una ruta" in path.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 0


def test_evidence_over_the_quota_is_413(plan: Plan, app: Flask, db: Session,
                                        web: WebClient) -> None:
    app.config["EVIDENCE_QUOTA_BYTES_PER_SCHOOL"] = 20
    web.login(plan.rector.email)
    url = open_june(web, plan)
    response = web.post(f"{url}/evidencias", {"archivo": (io.BytesIO(PDF), "actas.pdf")},
                        content_type="multipart/form-data")
    assert response.status_code == 413
    assert "no cabe" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(EvidenceFile)) == 0


def test_another_schools_rector_gets_404(plan: Plan, make: Factory, db: Session,
                                         web_factory: Callable[[], WebClient]) -> None:
    other = build_plan(make)
    owner = signed_in(web_factory, plan.rector.email)
    url = open_june(owner, plan)
    stranger = signed_in(web_factory, other.rector.email)
    assert stranger.get(url).status_code == 404
    assert stranger.post(f"{url}/guardar", {**form_for(plan), "version": "1"}).status_code \
        == 404
    assert stranger.post(f"/rutas/{plan.ruta.id}/seguimiento/informes",
                         {"corte": str(plan.june.id)}).status_code == 404
    # Their own Ruta with this report's id: not found either.
    report_id = url.rsplit("/", 1)[1]
    assert stranger.get(f"/rutas/{other.ruta.id}/seguimiento/informes/{report_id}"
                        ).status_code == 404


def test_reviewer_starts_seguimiento_by_hand_from_the_ruta_page(
        db: Session, make: Factory, web: WebClient) -> None:
    plan = build_plan(make, State.APROBADO)
    web.login(plan.revisor.email)
    page = web.get(f"/rutas/{plan.ruta.id}").get_data(as_text=True)
    assert "Iniciar el seguimiento" in page and "Inicio del plan" in page
    response = web.post(f"/rutas/{plan.ruta.id}/acciones/iniciar_seguimiento",
                        {"version": str(plan.ruta.version)})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Ruta, plan.ruta.id).state is State.SEGUIMIENTO
    entry = db.scalars(select(RutaTransition).where(
        RutaTransition.trigger == "iniciar_seguimiento")).one()
    assert entry.actor_id == plan.revisor.id
