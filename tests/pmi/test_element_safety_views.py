"""PMI elements never lose work, over HTTP: a 409 that keeps both values, a form posted twice
that creates once, a confirmation page before deleting and «Deshacer» after it."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory, WebClient
from tests.core.test_race import run_together
from workflow.models import Ruta, User
from workflow.pmi import plan as pmi
from workflow.pmi.models import Actividad, Hallazgo, Indicador, Meta, Objetivo, PmiPlan
from workflow.roles import Role
from workflow.states import State

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def school_ruta(db: Session, make: Factory) -> tuple[Ruta, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector)
    db.commit()
    return ruta, rector


def page(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def count(db: Session, model: type[Any]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def actividad_form(actividad: Actividad, **changes: Any) -> dict[str, Any]:
    return {"tipo": "actividad", "elemento_id": str(actividad.id), "version": "1",
            "meta_id": str(actividad.meta_id), "descripcion": actividad.descripcion,
            "responsable": actividad.responsable,
            "fecha_inicio": actividad.fecha_inicio.isoformat(),  # type: ignore[union-attr]
            "fecha_fin": actividad.fecha_fin.isoformat(),  # type: ignore[union-attr]
            "recursos": actividad.recursos, "costo": str(actividad.costo),
            "fuente_financiacion": actividad.fuente_financiacion,
            "trayectorias": list(actividad.trayectorias), **changes}


# --- versioned edits ----------------------------------------------------------------------


def test_element_form_carries_the_version(app: Flask, db: Session, make: Factory,
                                          web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    actividad = db.scalars(select(Actividad).order_by(Actividad.id)).first()
    web.login(rector.email)

    html = page(web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=actividad"
                        f"&elemento_id={actividad.id}"))

    assert '<input type="hidden" name="version" value="1">' in html
    assert 'name="form_token"' not in html  # editing creates nothing


def test_element_stale_save_answers_409_with_both_values(app: Flask, db: Session,
                                                         make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    actividad = db.scalars(select(Actividad).order_by(Actividad.id)).first()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    first = web.post(f"/rutas/{ruta.id}/pmi/elemento",
                     actividad_form(actividad, responsable="Rectoría"))
    assert first.status_code == 302

    second = web.post(f"/rutas/{ruta.id}/pmi/elemento",
                      actividad_form(actividad, recursos="Guías impresas y tabletas."))

    html = page(second)
    assert second.status_code == 409
    assert "Otra persona guardó cambios mientras usted editaba" in html
    assert "Guías impresas y tabletas." in html  # the person's own value, kept
    assert re.search(r'id="responsable-guardado"><strong>Quedó guardado:</strong> '
                     r'<span class="prewrap">Rectoría</span>', html)
    assert '<input type="hidden" name="version" value="2">' in html
    db.expire_all()
    assert db.get(Actividad, actividad.id).recursos == actividad.recursos


def test_element_saved_again_after_a_409_keeps_both_changes(app: Flask, db: Session,
                                                            make: Factory,
                                                            web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    actividad = db.scalars(select(Actividad).order_by(Actividad.id)).first()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    web.post(f"/rutas/{ruta.id}/pmi/elemento", actividad_form(actividad, responsable="Rectoría"))
    assert web.post(f"/rutas/{ruta.id}/pmi/elemento", actividad_form(
        actividad, recursos="Guías impresas.")).status_code == 409

    merged = web.post(f"/rutas/{ruta.id}/pmi/elemento", actividad_form(
        actividad, version="2", responsable="Rectoría", recursos="Guías impresas."))

    assert merged.status_code == 302
    db.expire_all()
    saved = db.get(Actividad, actividad.id)
    assert (saved.responsable, saved.recursos, saved.version) == (
        "Rectoría", "Guías impresas.", 3)


def test_element_deleted_meanwhile_keeps_the_values_in_a_new_form(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    actividad = db.scalars(select(Actividad).order_by(Actividad.id)).first()
    form = actividad_form(actividad, recursos="Lo que escribí.")
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    assert web.post(f"/rutas/{ruta.id}/pmi/eliminar", {
        "tipo": "actividad", "elemento_id": str(actividad.id)}).status_code == 302

    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", form)

    html = page(response)
    assert response.status_code == 409
    assert "Otra persona eliminó esta actividad después de que usted abrió este formulario." \
        in html
    assert "Lo que escribí." in html
    assert 'name="elemento_id"' not in html and 'name="form_token"' in html
    assert "Guardar como elemento nuevo" in html


def test_general_stale_save_answers_409_with_both_values(app: Flask, db: Session,
                                                         make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    web.login(rector.email)
    html = page(web.get(f"/rutas/{ruta.id}/pmi"))
    assert '<input type="hidden" name="version" value="1">' in html
    form = {"version": "1", "presupuesto": "18000000", "divulgacion": "En la cartelera.",
            "divulgacion_fecha": ""}
    assert web.post(f"/rutas/{ruta.id}/pmi/general",
                    {**form, "presupuesto": "25000000"}).status_code == 302

    response = web.post(f"/rutas/{ruta.id}/pmi/general", form)

    html = page(response)
    assert response.status_code == 409
    assert "En la cartelera." in html
    assert re.search(r'id="presupuesto-guardado"><strong>Quedó guardado:</strong> '
                     r'<span class="prewrap">25000000</span>', html)
    assert '<input type="hidden" name="version" value="2">' in html
    db.expire_all()
    assert db.get(PmiPlan, ruta.id).presupuesto == 25_000_000


# --- creation once per form -----------------------------------------------------------------


def test_new_element_posted_twice_creates_one(app: Flask, db: Session, make: Factory,
                                              web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    web.login(rector.email)
    token = TOKEN.search(page(web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=hallazgo",
                                      follow_redirects=True)))
    assert token is not None
    form = {"tipo": "hallazgo", "form_token": token.group(1), "fuente": "interna",
            "area": "Ciencias naturales", "grado": "9.°",
            "descripcion": "La mitad de los estudiantes de 9.° no aprueba ciencias."}
    before = count(db, Hallazgo)

    first = web.post(f"/rutas/{ruta.id}/pmi/elemento", form)
    second = web.post(f"/rutas/{ruta.id}/pmi/elemento", form)

    assert count(db, Hallazgo) == before + 1
    assert first.headers["Location"] == second.headers["Location"]
    assert "Ya estaba guardado: Hallazgo 3. No se creó otro." in page(
        web.get(second.headers["Location"]))


def test_new_element_refused_keeps_its_token(app: Flask, db: Session, make: Factory,
                                             web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")

    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "form_token": "t" * 32, "fuente": "interna"})

    html = page(response)
    assert response.status_code == 422
    assert 'name="form_token" value="' + "t" * 32 + '"' in html
    assert '<a href="#area">Escriba el área o la competencia evaluada.</a>' in html


@pytest.mark.postgres
def test_new_element_posted_twice_at_once_creates_one(
        backend: str, db: Session, make: Factory,
        web_factory: Callable[[], WebClient]) -> None:
    if backend != "postgresql":
        pytest.skip("races need PostgreSQL: SQLite serializes writers and hides them")
    ruta, rector = school_ruta(db, make)
    browsers = []
    for _ in range(2):
        browser = web_factory()
        browser.login(rector.email)
        browsers.append(browser)
    token = TOKEN.search(page(browsers[0].get(f"/rutas/{ruta.id}/pmi/elemento?tipo=hallazgo",
                                              follow_redirects=True)))
    assert token is not None
    form = {"tipo": "hallazgo", "form_token": token.group(1), "fuente": "interna",
            "area": "Inglés", "descripcion": "El nivel de inglés de 11.° está bajo el municipal."}
    before = count(db, Hallazgo)
    started = threading.Barrier(2, timeout=10)

    def post(browser: WebClient) -> Any:
        started.wait()
        return browser.post(f"/rutas/{ruta.id}/pmi/elemento", form)

    responses = run_together(*(lambda b=browser: post(b) for browser in browsers))

    assert [response.status_code for response in responses] == [302, 302]
    db.expire_all()
    assert count(db, Hallazgo) == before + 1


# --- deleting and undoing -------------------------------------------------------------------


def test_delete_link_leads_to_a_confirmation_page_with_the_counts(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    objetivo = db.scalars(select(Objetivo).order_by(Objetivo.id)).first()
    web.login(rector.email)
    plan_page = page(web.get(f"/rutas/{ruta.id}/pmi"))
    link = f"/rutas/{ruta.id}/pmi/eliminar?tipo=objetivo&amp;elemento_id={objetivo.id}"
    assert f'href="{link}"' in plan_page

    html = page(web.get(link.replace("&amp;", "&")))

    assert "¿Eliminar Objetivo 1?" in html
    assert ", 1 meta, 1 indicador y 2 actividades." in html
    assert ">Sí, eliminar</button>" in html and ">Cancelar</a>" in html
    assert count(db, Objetivo) == 2  # looking deletes nothing


def test_delete_then_deshacer_brings_everything_back(app: Flask, db: Session, make: Factory,
                                                     web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    before = pmi.plan_content(db, ruta)
    objetivo = db.scalars(select(Objetivo).order_by(Objetivo.id)).first()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    web.post(f"/rutas/{ruta.id}/pmi/eliminar", {"tipo": "objetivo",
                                                 "elemento_id": str(objetivo.id)})
    assert (count(db, Objetivo), count(db, Meta), count(db, Indicador)) == (1, 1, 1)
    html = page(web.get(f"/rutas/{ruta.id}/pmi"))
    deletion = re.search(r'name="eliminacion" value="(\d+)"', html)
    assert deletion is not None

    response = web.post(f"/rutas/{ruta.id}/pmi/deshacer", {"eliminacion": deletion.group(1)})

    assert response.status_code == 302
    assert "Restaurado: Objetivo 1" in page(web.get(response.headers["Location"]))
    db.expire_all()
    assert pmi.plan_content(db, ruta) == before


def test_deshacer_twice_says_it_was_restored(app: Flask, db: Session, make: Factory,
                                             web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    meta = db.scalars(select(Meta).order_by(Meta.id)).first()
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")
    web.post(f"/rutas/{ruta.id}/pmi/eliminar", {"tipo": "meta", "elemento_id": str(meta.id)})
    deletion = re.search(r'name="eliminacion" value="(\d+)"',
                         page(web.get(f"/rutas/{ruta.id}/pmi")))
    assert deletion is not None
    web.post(f"/rutas/{ruta.id}/pmi/deshacer", {"eliminacion": deletion.group(1)})

    again = web.post(f"/rutas/{ruta.id}/pmi/deshacer", {"eliminacion": deletion.group(1)})

    assert again.status_code == 409
    assert "Meta 1.1 ya se había restaurado" in page(again)
    assert count(db, Meta) == 2


def test_new_element_form_keeps_its_token_in_the_address(app: Flask, db: Session,
                                                         make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    meta_id = db.scalar(select(Meta.id).order_by(Meta.id))
    web.login(rector.email)

    drawn = web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=actividad&padre={meta_id}")
    address = drawn.headers["Location"]
    token = re.search(r"token=([A-Za-z0-9_-]+)", address)
    assert drawn.status_code == 302 and token is not None
    assert f"padre={meta_id}" in address

    # Back re-fetches the same address: the same token, so a second «Guardar» creates nothing.
    for _ in range(2):
        html = page(web.get(address))
        assert f'name="form_token" value="{token.group(1)}"' in html


def test_confirmation_page_refuses_when_later_records_depend_on_it(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    from workflow.cierre.models import MetaResult
    from workflow.cierre.models import Verdict as FinalVerdict

    ruta, rector = school_ruta(db, make)
    meta = db.scalars(select(Meta).order_by(Meta.id)).first()
    db.add(MetaResult(ruta_id=ruta.id, meta_id=meta.id, verdict=FinalVerdict.ALCANZADA))
    db.commit()
    web.login(rector.email)

    html = page(web.get(f"/rutas/{ruta.id}/pmi/eliminar?tipo=meta&elemento_id={meta.id}"))
    refused = web.post(f"/rutas/{ruta.id}/pmi/eliminar", {"tipo": "meta",
                                                          "elemento_id": str(meta.id)})

    assert "No se puede eliminar Meta 1.1" in html and "Sí, eliminar" not in html
    assert "1 resultados de metas en la evaluación final" in html
    assert refused.status_code == 409
    assert count(db, Meta) == 2


def test_general_refused_shows_the_error_summary_linked_to_the_field(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make)
    web.login(rector.email)
    web.get(f"/rutas/{ruta.id}/pmi")

    response = web.post(f"/rutas/{ruta.id}/pmi/general", {
        "version": "1", "presupuesto": "mucho", "divulgacion": "Lo que escribí."})

    html = page(response)
    assert response.status_code == 422
    assert html.index('class="error-summary"') < html.index('class="page-head"')
    assert re.search(r'<a href="#presupuesto">El presupuesto debe ser un valor en pesos', html)
    assert ">Lo que escribí.</textarea>" in html
