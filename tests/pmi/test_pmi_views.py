"""The PMI pages over HTTP: the plan with its live report, forms, review, versions, printing."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import PASSING_RUBRIC, PASSING_RUBRIC_FORM, Factory, WebClient
from workflow.models import Ruta, User
from workflow.observations import ObservationStatus
from workflow.pmi import actions as pmi_actions
from workflow.pmi import plan as pmi
from workflow.pmi import review
from workflow.pmi.models import Actividad, Hallazgo, Indicador, Meta, Objetivo, PmiPlan
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
    assert "Faltan 5 verificaciones obligatorias" in html
    assert "cumple" not in html.lower().replace("si cumple cada criterio", "")
    assert "Meta 1.1: no tiene indicador." in html
    assert 'class="rule-fail" id="regla-meta_con_indicador"' in html
    assert 'class="rule-ok" id="regla-meta_medible"' in html
    assert re.search(rf'href="/rutas/{ruta.id}/pmi/elemento\?tipo=objetivo&amp;token=[\w-]{{32}}"',
                     html)


def test_meta_without_cantidad_answers_422_and_saves_nothing(app: Flask, db: Session,
                                                             make: Factory,
                                                             web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    objetivo_id = db.scalar(select(Objetivo.id))
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=meta&padre={objetivo_id}")
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "meta", "objetivo_id": str(objetivo_id), "enunciado": "Mejorar.",
        "cantidad": "", "unidad": "%", "fecha_limite": "2026-11-30"})
    assert response.status_code == 422
    assert "Escriba la cantidad de la meta: un número (por ejemplo, 60 o 12,5)." in page(response)
    assert db.scalar(select(func.count()).select_from(Meta)) == 1


def test_rector_adds_an_element_through_the_form(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    meta_id = db.scalar(select(Meta.id))
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=actividad&padre={meta_id}")
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "actividad", "meta_id": str(meta_id),
        "descripcion": "Talleres semanales con preguntas tipo Saber.",
        "responsable": "Jefatura de matemáticas", "fecha_inicio": "2024-02-05",
        "fecha_fin": "2026-10-30", "recursos": "Fotocopias", "costo": "1.500.000",
        "fuente_financiacion": "FSE", "trayectorias": ["rural", "migrantes"]})
    assert response.status_code == 302
    saved = db.scalars(select(Actividad)).one()
    assert (saved.costo, saved.trayectorias, response.headers["Location"]) == (
        1_500_000, ["rural", "migrantes"], f"/rutas/{ruta.id}/pmi#actividad-{saved.id}")


def test_editing_a_plan_under_review_answers_409(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()
    web.login(rector.email)
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "fuente": "interna", "area": "Ciencias", "descripcion": "Bajo."})
    assert response.status_code == 409
    assert "El PMI no se puede modificar mientras la Ruta está en «PMI enviado a la " \
           "Secretaría»." in page(response)
    assert db.scalar(select(func.count()).select_from(Hallazgo)) == 2


def test_review_pages_carry_the_loop(app: Flask, db: Session, make: Factory,
                                     web_factory: object) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    reviewer = make.user(Role.REVISOR)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
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
        "observaciones": "", **PASSING_RUBRIC_FORM})
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
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()
    web.login(rector.email)
    versions = page(web.get(f"/rutas/{ruta.id}/pmi/versiones"))
    assert "Versión 1: enviada el" in versions
    printed = web.get(f"/rutas/{ruta.id}/pmi/imprimir")
    assert printed.status_code == 200
    html = page(printed)
    assert "Versión 1, enviada a la Secretaría el" in html
    assert "El PMI está completo y consistente para revisión." in html
    assert "Cumple todas" not in html
    assert "Porcentaje de estudiantes de 11.° en los niveles 2, 3 y 4 de matemáticas" in html
    missing = web.get(f"/rutas/{ruta.id}/pmi/imprimir?version=7")
    assert missing.status_code == 404


# --- budget and divulgación (/pmi/general) ------------------------------------------------


def test_rector_saves_budget_and_divulgacion(app: Flask, db: Session, make: Factory,
                                             web: WebClient, web_factory: object) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    response = web.post(f"/rutas/{ruta.id}/pmi/general", {
        "presupuesto": "$ 25.000.000", "divulgacion": "Asamblea de padres y Consejo Directivo.",
        "divulgacion_fecha": "2024-03-15"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/rutas/{ruta.id}/pmi#general"
    db.expire_all()
    saved = db.get(PmiPlan, ruta.id)
    assert saved is not None
    assert (saved.presupuesto, saved.divulgacion, saved.divulgacion_fecha.isoformat(),
            saved.updated_by_id) == (25_000_000, "Asamblea de padres y Consejo Directivo.",
                                     "2024-03-15", rector.id)
    html = page(web.get(f"/rutas/{ruta.id}/pmi"))
    assert "Guardado: presupuesto y divulgación del plan." in html
    assert 'name="presupuesto" type="text" inputmode="numeric" value="25000000"' in html
    assert 'name="divulgacion_fecha" type="date" value="2024-03-15"' in html
    # Who only reads the plan sees the values as people write them.
    reader = make.user(Role.CONSULTA, secretaria=ruta.school.secretaria)
    db.commit()
    reader_web: WebClient = web_factory()  # type: ignore[operator]
    reader_web.login(reader.email)
    shown = page(reader_web.get(f"/rutas/{ruta.id}/pmi"))
    assert "<dd>$25.000.000</dd>" in shown
    assert "<dd>15 de marzo de 2024</dd>" in shown


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"presupuesto": "-5000000"}, "presupuesto", "El presupuesto no puede ser negativo."),
    ({"presupuesto": "veinte millones"}, "presupuesto",
     "El presupuesto debe ser un valor en pesos, sin decimales (por ejemplo, 2500000)."),
    ({"presupuesto": "2500000,50"}, "presupuesto",
     "El presupuesto debe ser un valor en pesos, sin decimales (por ejemplo, 2500000)."),
    ({"divulgacion_fecha": "2030-03-01"}, "divulgacion_fecha",
     "La fecha de divulgación (2030-03-01) queda fuera del horizonte del plan (2024–2026)."),
    ({"divulgacion_fecha": "15/03/2024"}, "divulgacion_fecha",
     "La fecha de divulgación no es una fecha válida (AAAA-MM-DD)."),
], ids=["negative", "words", "decimals", "outside-horizon", "not-a-date"])
def test_bad_budget_or_date_answers_422_and_saves_nothing(
        app: Flask, db: Session, make: Factory, web: WebClient, form: dict[str, str],
        field: str, message: str) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    before = db.get(PmiPlan, ruta.id)
    stored = None if before is None else (before.presupuesto, before.divulgacion,
                                          before.divulgacion_fecha)
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    posted = {"presupuesto": "", "divulgacion": "Reunión de padres.", "divulgacion_fecha": "",
              **form}
    response = web.post(f"/rutas/{ruta.id}/pmi/general", posted)
    assert response.status_code == 422
    html = page(response)
    assert message in html
    assert f'value="{posted[field]}"' in html or posted[field] in html  # kept for correction
    db.expire_all()
    after = db.get(PmiPlan, ruta.id)
    assert (None if after is None else (after.presupuesto, after.divulgacion,
                                        after.divulgacion_fecha)) == stored


def test_budget_cannot_change_while_the_plan_is_in_review(app: Flask, db: Session,
                                                          make: Factory,
                                                          web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()
    web.login(rector.email)
    response = web.post(f"/rutas/{ruta.id}/pmi/general", {"presupuesto": "1000"})
    assert response.status_code == 409
    assert "El PMI no se puede modificar mientras la Ruta está en «PMI enviado a la " \
           "Secretaría»." in page(response)
    db.expire_all()
    assert db.get(PmiPlan, ruta.id).presupuesto != 1000  # type: ignore[union-attr]


def test_team_outsider_cannot_save_the_budget(app: Flask, db: Session, make: Factory,
                                              web: WebClient) -> None:
    ruta, _ = school_ruta(db, make, complete=True)
    budget = db.get(PmiPlan, ruta.id).presupuesto  # type: ignore[union-attr]
    outsider = make.user(Role.RECTOR)  # the rector of another school
    db.commit()
    web.login(outsider.email)
    response = web.post(f"/rutas/{ruta.id}/pmi/general", {"presupuesto": "1000"})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(PmiPlan, ruta.id).presupuesto == budget != 1000  # type: ignore[union-attr]


# --- deleting -----------------------------------------------------------------------------


def test_deleting_an_element_while_in_review_answers_409_and_keeps_it(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=make.user(Role.REVISOR),
                                expected_version=ruta.version)
    db.commit()
    actividad_id = db.scalar(select(Actividad.id).order_by(Actividad.id))
    counts = {model: db.scalar(select(func.count()).select_from(model))
              for model in (Objetivo, Meta, Actividad)}
    web.login(rector.email)
    for kind, element_id in (("actividad", actividad_id),
                             ("objetivo", db.scalar(select(Objetivo.id)))):
        response = web.post(f"/rutas/{ruta.id}/pmi/eliminar",
                            {"tipo": kind, "elemento_id": str(element_id)})
        assert response.status_code == 409
        assert "El PMI no se puede modificar mientras la Ruta está en «PMI en revisión»." \
            in page(response)
    db.expire_all()
    assert {model: db.scalar(select(func.count()).select_from(model))
            for model in counts} == counts


def test_deleting_an_element_while_formulating_takes_its_children(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    meta_id = db.scalar(select(Meta.id).order_by(Meta.id))
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    response = web.post(f"/rutas/{ruta.id}/pmi/eliminar",
                        {"tipo": "meta", "elemento_id": str(meta_id)})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Meta, meta_id) is None
    assert db.scalar(select(func.count()).select_from(Indicador)
                     .where(Indicador.meta_id == meta_id)) == 0
    html = page(web.get(f"/rutas/{ruta.id}/pmi"))
    # The flash says what went with it and offers «Deshacer» (tests/pmi/test_deletions.py).
    assert "Eliminado: la meta «Meta 1.1: " in html
    assert "Puede deshacerlo con «Deshacer»" in html


# --- approval on the versions and print pages ---------------------------------------------


def _approved_on_second_version(db: Session, make: Factory) -> tuple[Ruta, User, User]:
    ruta, rector = school_ruta(db, make, complete=True)
    reviewer = make.user(Role.REVISOR)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    row = review.add_observation(db, ruta, reviewer=reviewer, element="plan", criterion="0",
                                 text="Precise la fecha de divulgación.")
    pmi_actions.return_with_observations(db, ruta, reviewer=reviewer,
                                         expected_version=ruta.version, observations="",
                                         target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
    review.answer(db, ruta, row.id, actor=rector, response="Precisada.")
    meta = db.scalars(select(Meta).order_by(Meta.id)).first()
    assert meta is not None
    pmi.save_element(db, ruta, "meta", meta.id, {
        "objetivo_id": str(meta.objetivo_id), "enunciado": meta.enunciado, "cantidad": "45",
        "unidad": "%", "fecha_limite": "2026-10-31", "linea_base": "32"}, actor=rector)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    review.judge(db, ruta, row.id, reviewer=reviewer, resolved=True)
    pmi_actions.approve(db, ruta, reviewer=reviewer, expected_version=ruta.version,
                        rubric=PASSING_RUBRIC)
    db.commit()
    return ruta, rector, reviewer


def test_versions_page_says_which_version_each_review_judged(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector, reviewer = _approved_on_second_version(db, make)
    web.login(rector.email)
    html = page(web.get(f"/rutas/{ruta.id}/pmi/versiones"))
    assert f"<strong>Aprobado sobre la versión 2</strong> por {reviewer.name}, el" in html
    first = html[html.index('id="version-1"'):html.index('id="version-2"')]
    assert "Tomada para revisión por" in first and "Devuelta con observaciones por" in first
    assert "Aprobada" not in first
    assert f"Aprobada por {reviewer.name}, el" in html[html.index('id="version-2"'):]
    # The diff of version 1 to 2, as people read it: no ids, no ISO dates.
    assert "Modificado: Meta 1.1" in html
    assert "<td class=\"prewrap\">30 de noviembre de 2026</td>" in html
    assert "<td class=\"prewrap\">31 de octubre de 2026</td>" in html
    assert "2026-10-31" not in html


def test_print_page_shows_the_approval_or_that_it_is_not_approved(
        app: Flask, db: Session, make: Factory, web: WebClient, web_factory: object) -> None:
    ruta, rector, reviewer = _approved_on_second_version(db, make)
    web.login(rector.email)
    approved = page(web.get(f"/rutas/{ruta.id}/pmi/imprimir"))
    assert "<strong>Aprobado por la Secretaría</strong> el " in approved
    assert f"Revisor(a): {reviewer.name}" in approved
    older = page(web.get(f"/rutas/{ruta.id}/pmi/imprimir?version=1"))
    assert "<strong>Versión no aprobada.</strong> La Secretaría aprobó la versión 2 el" in older

    draft, draft_rector = school_ruta(db, make, complete=True)
    other: WebClient = web_factory()  # type: ignore[operator]
    other.login(draft_rector.email)
    html = page(other.get(f"/rutas/{draft.id}/pmi/imprimir"))
    assert "<strong>Sin aprobar</strong> · Estado actual de la Ruta: «Autoevaluación enviada»" \
        in html
    assert "Aprobado por la Secretaría" not in html


def test_print_page_keeps_flash_messages_off_paper(app: Flask, db: Session, make: Factory,
                                                   web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    saved = web.post(f"/rutas/{ruta.id}/pmi/general", {"presupuesto": "1000000"})
    assert saved.status_code == 302
    # The message was flashed for the next page; that page is the printable one.
    html = page(web.get(f"/rutas/{ruta.id}/pmi/imprimir"))
    assert '<div class="flashes no-print" role="status">' in html
    assert "Guardado: presupuesto y divulgación del plan." in html
    assert '<div class="flashes" role="status">' not in html
    # Shown once, as any message.
    assert "Guardado: presupuesto" not in page(web.get(f"/rutas/{ruta.id}/pmi/imprimir"))


def test_review_page_return_form_says_an_observation_is_needed(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    reviewer = make.user(Role.REVISOR)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    pmi_actions.take_for_review(db, ruta, reviewer=reviewer, expected_version=ruta.version)
    db.commit()
    web.login(reviewer.email)
    html = page(web.get(f"/rutas/{ruta.id}/pmi/revision"))
    assert "Todavía no hay observaciones para enviar" in html
    assert 'id="agregar-observacion"' in html
    refused = web.post(f"/rutas/{ruta.id}/acciones/devolver", {
        "version": str(ruta.version), "destino": "pmi", "observaciones": "Corrijan.",
        **PASSING_RUBRIC_FORM})
    assert refused.status_code == 422
    assert "Agregue al menos una observación antes de devolver" in page(refused)
    db.expire_all()
    assert db.get(Ruta, ruta.id).state is State.EN_REVISION
