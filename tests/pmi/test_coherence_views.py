"""Meta types, hallazgo data and the Secretaría's sources through the web forms."""

from __future__ import annotations

import csv
import io

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.pmi import fill_demo_pmi
from tests.conftest import Factory, WebClient
from workflow.models import Ruta, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi.models import FuenteSecretaria, Hallazgo, Meta, MetaTipo, Objetivo
from workflow.roles import Role
from workflow.states import State


def page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def school_ruta(db: Session, make: Factory, *, complete: bool) -> tuple[Ruta, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    rector = make.user(Role.RECTOR, school=ruta.school)
    fill_demo_pmi(db, ruta, actor=rector, complete=complete)
    db.commit()
    return ruta, rector


def test_meta_form_refuses_a_type_that_contradicts_its_numbers_and_keeps_what_was_typed(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    objetivo_id = db.scalar(select(Objetivo.id))
    web.login(rector.email)
    form = web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=meta&padre={objetivo_id}",
                   follow_redirects=True)
    assert '<option value="reducir_en">Reducir en (la cantidad es la reducción)</option>' \
        in page(form)
    response = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "meta", "objetivo_id": str(objetivo_id),
        "enunciado": "Aumentar al 45 % la proporción de estudiantes sobre el mínimo.",
        "cantidad": "10", "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": "32"})
    html = page(response)
    assert response.status_code == 422
    assert ("El enunciado dice «aumentar», pero la cantidad (10) queda por debajo de la línea "
            "base (32).") in html
    assert "El enunciado dice 45, pero la cantidad de la meta es 10: corrija uno de los dos." \
        in html
    assert 'name="cantidad" type="text" value="10"' in html
    assert db.scalar(select(func.count()).select_from(Meta)) == 1

    fixed = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "meta", "objetivo_id": str(objetivo_id), "tipo_meta": "reducir_en",
        "enunciado": "Reducir en 5 puntos porcentuales la reprobación de 6.° a 9.°.",
        "cantidad": "5", "unidad": "puntos porcentuales", "fecha_limite": "2026-11-30",
        "linea_base": "14"})
    assert fixed.status_code == 302
    saved = db.scalars(select(Meta).order_by(Meta.id.desc()).limit(1)).one()
    assert (saved.tipo, saved.cantidad, saved.linea_base) == (MetaTipo.REDUCIR_EN, 5.0, 14.0)
    plan = page(web.get(f"/rutas/{ruta.id}/pmi"))
    assert "<dt>Tipo de meta</dt><dd>Reducir en (la cantidad es la reducción)</dd>" in plan


def test_meta_type_is_chosen_in_its_form(app: Flask, db: Session, make: Factory,
                                         web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    meta = db.scalars(select(Meta)).one()
    web.login(rector.email)
    form = page(web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=meta&elemento_id={meta.id}"))
    assert '<option value="alcanzar" selected>Alcanzar un valor</option>' in form
    assert 'name="tipo" value="meta"' in form and 'name="tipo_meta"' in form


def test_hallazgo_form_records_data_and_the_plan_and_print_pages_show_it(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    componente = ruta.catalog.componentes[4]  # type: ignore[attr-defined]
    web.login(rector.email)
    form = page(web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=hallazgo", follow_redirects=True))
    assert '<option value="evaluar_para_avanzar">Evaluar para Avanzar</option>' in form
    assert '<option value="saber_7">Saber 7.°</option>' in form
    refused = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "fuente": "evaluar_para_avanzar", "area": "Competencia lectora",
        "grado": "5.°", "anio": "2024", "valor": "620", "valor_unidad": "puntaje_500",
        "comparacion": "nacional", "comparacion_valor": "300",
        "componentes": [str(componente.id)],
        "descripcion": "El 40 % de 5.° no identifica la idea principal de un texto."})
    assert refused.status_code == 422
    assert ("El valor (620) está fuera del rango de la unidad «Puntaje global (0 a 500)»: va "
            "de 0 a 500.") in page(refused)
    assert 'name="area" type="text" value="Competencia lectora"' in page(refused)
    assert db.scalar(select(func.count()).select_from(Hallazgo)) == 1

    saved = web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "fuente": "evaluar_para_avanzar", "area": "Competencia lectora",
        "grado": "5.°", "anio": "2024", "valor": "262", "valor_unidad": "puntaje_500",
        "comparacion": "nacional", "comparacion_valor": "300",
        "componentes": [str(componente.id)],
        "descripcion": "El 40 % de 5.° no identifica la idea principal de un texto."})
    assert saved.status_code == 302
    plan = page(web.get(f"/rutas/{ruta.id}/pmi"))
    assert "Hallazgo 2: Evaluar para Avanzar · Competencia lectora · 5.° · 2024" in plan
    assert "<dd>262 (Puntaje global (0 a 500))</dd>" in plan
    assert "<dd>Promedio nacional: 300</dd>" in plan
    printed = page(web.get(f"/rutas/{ruta.id}/pmi/imprimir"))
    assert ('<td data-label="Fuente">Evaluar para Avanzar</td><td data-label="Año">2024</td>'
            '<td data-label="Área o competencia">Competencia lectora</td>'
            '<td data-label="Grado">5.°</td>'
            '<td class="stack-key" data-label="Resultado">262 (Puntaje global (0 a 500))</td>'
            '<td data-label="Comparación">Promedio nacional: 300</td>'
            f'<td data-label="Componentes">{componente.code} {componente.name}</td>') in printed


def test_administrador_extends_the_sources_and_schools_of_that_secretaria_use_them(
        app: Flask, db: Session, make: Factory, web_factory: object) -> None:
    ruta, rector = school_ruta(db, make, complete=False)
    admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    other = make.user(Role.ADMINISTRADOR, secretaria=make.secretaria("Otra", "05001"))
    reviewer = make.user(Role.REVISOR, secretaria=ruta.school.secretaria)
    db.commit()
    admin_web: WebClient = web_factory()  # type: ignore[operator]
    admin_web.login(admin.email)

    listing = page(admin_web.get("/pmi/fuentes"))
    assert "<th scope=\"row\">Evaluar para Avanzar</th>" in listing
    empty = admin_web.post("/pmi/fuentes", {"nombre": " ", "externa": "1"})
    assert empty.status_code == 422
    added = admin_web.post("/pmi/fuentes", {"nombre": "Prueba municipal de lectura",
                                            "externa": "1"})
    assert added.status_code == 302
    again = admin_web.post("/pmi/fuentes", {"nombre": "prueba municipal de lectura",
                                            "externa": "0"})
    assert again.status_code == 422
    assert "«prueba municipal de lectura» ya está en la lista de fuentes." in page(again)
    assert 'value="prueba municipal de lectura"' in page(again)
    shipped_again = admin_web.post("/pmi/fuentes", {"nombre": "Saber 11", "externa": "1"})
    assert shipped_again.status_code == 422
    source = db.scalars(select(FuenteSecretaria)).one()
    assert (source.secretaria_id, source.externa) == (ruta.school.secretaria_id, True)

    revisor_web: WebClient = web_factory()  # type: ignore[operator]
    revisor_web.login(reviewer.email)
    assert revisor_web.get("/pmi/fuentes").status_code == 200
    assert revisor_web.post("/pmi/fuentes", {"nombre": "Otra prueba"}).status_code == 403

    rector_web: WebClient = web_factory()  # type: ignore[operator]
    rector_web.login(rector.email)
    form = page(rector_web.get(f"/rutas/{ruta.id}/pmi/elemento?tipo=hallazgo",
                               follow_redirects=True))
    assert f'<option value="sec_{source.id}">Prueba municipal de lectura</option>' in form
    saved = rector_web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "fuente": f"sec_{source.id}", "area": "Lectura", "grado": "3.°",
        "descripcion": "La mitad de 3.° no lee con fluidez un texto corto."})
    assert saved.status_code == 302

    # Another Secretaría's source is not on this school's list.
    other_web: WebClient = web_factory()  # type: ignore[operator]
    other_web.login(other.email)
    assert other_web.post("/pmi/fuentes", {"nombre": "Prueba de Medellín",
                                           "externa": "1"}).status_code == 302
    foreign = db.scalars(select(FuenteSecretaria).where(
        FuenteSecretaria.secretaria_id != ruta.school.secretaria_id)).one()
    refused = rector_web.post(f"/rutas/{ruta.id}/pmi/elemento", {
        "tipo": "hallazgo", "fuente": f"sec_{foreign.id}", "area": "Lectura", "grado": "3.°",
        "descripcion": "La mitad de 3.° no lee con fluidez un texto corto."})
    assert refused.status_code == 422
    assert f"La fuente «sec_{foreign.id}» no está en la lista de fuentes de la Secretaría." \
        in page(refused)


def test_page_wording_says_complete_and_consistent_never_cumple(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    web.login(rector.email)
    plan = page(web.get(f"/rutas/{ruta.id}/pmi"))
    assert "El PMI está completo y consistente para revisión." in plan
    assert "El plan está completo y consistente para revisión." in plan
    detail = page(web.get(f"/rutas/{ruta.id}"))
    assert ("El PMI está completo y consistente para revisión: la Secretaría juzga si cumple "
            "cada criterio de la Circular 0488.") in detail
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    db.commit()
    printed = page(web.get(f"/rutas/{ruta.id}/pmi/imprimir"))
    assert "Completo: El PMI formula al menos un objetivo" in printed
    for html in (plan, detail, printed):
        assert "Cumple todas" not in html and "cumple todas" not in html
        assert "verificación(es)" not in html


def test_consolidado_lists_each_hallazgo_with_its_data(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    ruta, rector = school_ruta(db, make, complete=True)
    pmi_actions.submit_pmi(db, ruta, actor=rector, expected_version=ruta.version)
    admin = make.user(Role.ADMINISTRADOR, secretaria=ruta.school.secretaria)
    db.commit()
    web.login(admin.email)
    response = web.client.get("/reportes/consolidado.csv?hoja=hallazgos")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(
        response.get_data().decode("utf-8").removeprefix("\ufeff")), delimiter=";"))
    response.close()
    componente = ruta.catalog.componentes[0]  # type: ignore[attr-defined]
    assert rows[0][5:] == ["Hallazgo", "Fuente", "Prueba externa", "Año", "Grado",
                           "Área o competencia", "Valor", "Unidad del valor", "Comparación",
                           "Valor de comparación", "Componentes a los que apunta",
                           "Objetivos que lo atienden", "Qué se encontró"]
    assert rows[1][:2] == [ruta.school.dane_code, ruta.school.name]
    assert rows[1][5:16] == ["1", "Saber 11", "Sí", "2023", "11.°", "Matemáticas", "68,0",
                             "Porcentaje (0 a 100 %)", "Promedio municipal", "52,0",
                             f"{componente.code} {componente.name}"]
    assert rows[1][16] == "Objetivo 1"
    assert rows[2][5:8] == ["2", "Evaluación interna", "No"]
    assert len(rows) == 3
    por_fuente = web.client.get("/reportes/consolidado.csv?hoja=hallazgos-por-fuente")
    counted = list(csv.reader(io.StringIO(
        por_fuente.get_data().decode("utf-8").removeprefix("\ufeff")), delimiter=";"))
    por_fuente.close()
    # One hallazgo each: a tie, broken by the source's code, whatever order the rows came in.
    assert counted == [["Fuente", "Prueba externa", "Hallazgos", "Instituciones"],
                       ["Evaluación interna", "No", "1", "1"], ["Saber 11", "Sí", "1", "1"]]
