"""The autoevaluación pages and the catalogs pages, through HTTP."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import MINI_CATALOG, Factory, WebClient
from workflow.autoevaluacion.models import IdentityReview, TeamMember, Valoracion
from workflow.autoevaluacion.team import MemberData, add_member
from workflow.catalogo.catalog import current_catalog, load_shipped_catalogs
from workflow.catalogo.models import Catalog
from workflow.horizontes import opening
from workflow.models import OutboxMessage, Ruta, User
from workflow.roles import Role
from workflow.states import State


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


class School:
    def __init__(self, db: Session, make: Factory, state: State = State.BORRADOR) -> None:
        self.catalog = make.catalog()
        self.ruta = make.ruta(state=state, catalog=self.catalog)
        self.rector = make.user(Role.RECTOR, school=self.ruta.school)
        self.db = db

    def componente(self, code: str) -> Any:
        return next(c for c in self.catalog.componentes if c.code == code)

    def proceso(self, code: str) -> Any:
        return next(p for a in self.catalog.areas for p in a.procesos if p.code == code)

    def url(self, path: str = "") -> str:
        return f"/rutas/{self.ruta.id}/autoevaluacion{path}"

    def form(self, levels: dict[str, str], evidence: str = "Acta 5 de 2024.") -> dict[str, Any]:
        data: dict[str, Any] = {"componente": []}
        for code, level in levels.items():
            cid = self.componente(code).id
            data["componente"].append(str(cid))
            data[f"nivel-{cid}"] = level
            data[f"evidencia-{cid}"] = evidence if level else ""
            data[f"comentario-{cid}"] = ""
        return data

    def stored(self) -> dict[str, int | None]:
        self.db.expire_all()
        rows = self.db.scalars(select(Valoracion).where(
            Valoracion.ruta_id == self.ruta.id))
        return {row.componente.code: row.level for row in rows}


def signed_in(web: WebClient, user: User) -> WebClient:
    web.login(user.email)
    return web


# --- rating through the área page -------------------------------------------------------------


def test_rector_rates_a_proceso_and_comes_back_to_it(db: Session, make: Factory,
                                                     web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    signed_in(web, school.rector)
    page = text_of(web.get(school.url("/areas/DIR")))
    proceso = school.proceso("DIR.1")
    assert f'action="/rutas/{school.ruta.id}/autoevaluacion/procesos/{proceso.id}"' in page
    assert "Apropiación" in page and "Las acciones están articuladas" not in page  # short scale

    response = web.post(school.url(f"/procesos/{proceso.id}"),
                        school.form({"DIR.1.1": "3", "DIR.1.2": "2"}))

    assert response.status_code == 302
    assert response.headers["Location"] == school.url(f"/areas/DIR#proceso-{proceso.id}")
    assert school.stored() == {"DIR.1.1": 3, "DIR.1.2": 2}
    page = text_of(web.get(school.url("/areas/DIR")))
    assert "Guardado: «Direccionamiento estratégico»." in page
    assert "2 de 3 componentes valorados" in page
    assert re.search(r'name="nivel-\d+" value="3" checked', page)


def test_saving_level_three_without_evidence_warns(db: Session, make: Factory,
                                                   web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    signed_in(web, school.rector)
    web.get(school.url("/areas/DIR"))
    response = web.post(school.url(f"/procesos/{school.proceso('DIR.2').id}"),
                        school.form({"DIR.2.1": "4"}, evidence=""), follow_redirects=True)
    page = text_of(response)
    assert ("Guardado: «Gobierno escolar». Falta la evidencia de DIR.2.1: escriba cuál es o "
            "adjunte un archivo; sin ella la autoevaluación no se podrá enviar.") in page
    assert "Falta la evidencia: el nivel 4 la exige." in page


def test_level_outside_the_scale_answers_422_keeps_the_input_and_saves_nothing(
        db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    signed_in(web, school.rector)
    web.get(school.url("/areas/DIR"))
    data = school.form({"DIR.1.1": "3", "DIR.1.2": "9"})
    data[f"evidencia-{school.componente('DIR.1.1').id}"] = "Evidencia que no se pierde"
    response = web.post(school.url(f"/procesos/{school.proceso('DIR.1').id}"), data)
    page = text_of(response)
    assert response.status_code == 422
    assert "«DIR.1.2 Metas institucionales»: el nivel debe ser 1, 2, 3 o 4 (llegó «9»)." in page
    assert "Evidencia que no se pierde</textarea>" in page
    assert school.stored() == {}


def test_unknown_or_foreign_componente_answers_422(db: Session, make: Factory,
                                                   web: WebClient) -> None:
    school = School(db, make)
    foreign = make.catalog("prueba-2026").componentes[0]
    db.commit()
    signed_in(web, school.rector)
    web.get(school.url("/areas/DIR"))
    url = school.url(f"/procesos/{school.proceso('DIR.1').id}")
    unknown = web.post(url, {"componente": ["987654", "abc"], "nivel-987654": "3"})
    assert unknown.status_code == 422
    assert "El formulario trae un componente que no existe." in text_of(unknown)
    other = web.post(url, {"componente": [str(foreign.id)], f"nivel-{foreign.id}": "3"})
    assert other.status_code == 422
    assert ("es de otra versión del instrumento («prueba-2026»), no de la que usa esta Ruta "
            "(«prueba-mini»).") in text_of(other)
    assert school.stored() == {}


def test_member_rating_an_area_not_assigned_gets_403_with_the_reason(
        db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    teacher = make.user(Role.EQUIPO, school=school.ruta.school, email="docente@prueba.co")
    add_member(db, school.ruta, MemberData(
        name="Docente", email=teacher.email, estamento="docente",
        area_ids=[str(school.catalog.areas[1].id)]), actor=school.rector)
    db.commit()
    signed_in(web, teacher)
    page = text_of(web.get(school.url("/areas/DIR")))
    assert "Usted puede consultar esta área." in page
    assert "/procesos/" not in page  # no form where they cannot save
    response = web.post(school.url(f"/procesos/{school.proceso('DIR.1').id}"),
                        school.form({"DIR.1.1": "3"}))
    assert response.status_code == 403
    assert "Usted no tiene asignada el área «Gestión directiva»." in text_of(response)
    allowed = web.post(school.url(f"/procesos/{school.proceso('ACA.1').id}"),
                       school.form({"ACA.1.1": "2"}))
    assert allowed.status_code == 302
    assert school.stored() == {"ACA.1.1": 2}


def test_saving_after_submission_answers_409(db: Session, make: Factory,
                                             web: WebClient) -> None:
    school = School(db, make, state=State.AUTOEVALUACION_ENVIADA)
    db.commit()
    signed_in(web, school.rector)
    page = text_of(web.get(school.url("/areas/DIR")))
    assert "La autoevaluación fue enviada: se puede consultar, no modificar." in page
    response = web.post(school.url(f"/procesos/{school.proceso('DIR.1').id}"),
                        school.form({"DIR.1.1": "3"}))
    assert response.status_code == 409
    assert "La autoevaluación ya fue enviada y no se puede modificar." in text_of(response)
    assert school.stored() == {}


# --- the Ruta page and the guard ---------------------------------------------------------------


def test_ruta_page_shows_progress_and_links_to_what_is_missing(db: Session, make: Factory,
                                                               web: WebClient) -> None:
    school = School(db, make)
    db.add(Valoracion(ruta_id=school.ruta.id,
                      componente_id=school.componente("DIR.1.1").id, level=2))
    db.commit()
    signed_in(web, school.rector)
    page = text_of(web.get(f"/rutas/{school.ruta.id}"))
    assert '<progress id="autoevaluacion-avance" max="5" value="1">' in page
    assert "1 de 5 componentes valorados (20 %)" in page
    assert (f'<a href="{school.url("/areas/DIR")}#proceso-{school.proceso("DIR.1").id}">'
            "Gestión directiva › Direccionamiento estratégico: falta 1 de 2 componentes por "
            "valorar (DIR.1.2).</a>") in page
    assert f'<a href="{school.url("/identidad")}">Revisión de la identidad' in page


def test_refused_submission_lists_reasons_and_then_succeeds(db: Session, make: Factory,
                                                            web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    signed_in(web, school.rector)
    web.get(f"/rutas/{school.ruta.id}")
    refused = web.post(f"/rutas/{school.ruta.id}/acciones/enviar_autoevaluacion",
                       {"version": str(school.ruta.version)})
    page = text_of(refused)
    assert refused.status_code == 422
    assert "Todavía no se puede" in page
    assert ("Gestión académica › Diseño pedagógico: faltan 2 de 2 componentes por valorar "
            "(ACA.1.1, ACA.1.2).") in page

    make.completed_self_assessment(school.ruta)
    db.commit()
    done = web.post(f"/rutas/{school.ruta.id}/acciones/enviar_autoevaluacion",
                    {"version": str(school.ruta.version)})
    assert done.status_code == 302
    db.expire_all()
    assert db.get(Ruta, school.ruta.id).state is State.AUTOEVALUACION_ENVIADA


def test_legacy_ruta_is_started_from_its_autoevaluacion_page(db: Session, make: Factory,
                                                             web: WebClient) -> None:
    load_shipped_catalogs(db)
    ruta = make.ruta()
    rector = make.user(Role.RECTOR, school=ruta.school)
    db.commit()
    signed_in(web, rector)
    page = text_of(web.get(f"/rutas/{ruta.id}/autoevaluacion"))
    assert "Sin instrumento de autoevaluación" in page
    response = web.post(f"/rutas/{ruta.id}/autoevaluacion/empezar")
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Ruta, ruta.id).catalog.slug == "guia34-2008"


# --- identity, team, perfil, priorities, print ------------------------------------------------


def test_identity_form_saves_and_refuses_a_bad_verdict(db: Session, make: Factory,
                                                       web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    signed_in(web, school.rector)
    web.get(school.url("/identidad"))
    bad = web.post(school.url("/identidad"), {"mision": "Formar.", "mision_vigencia": "tal vez"})
    assert bad.status_code == 422
    assert "La misión: elija «Sigue vigente» o «Requiere ajustes»." in text_of(bad)
    assert db.get(IdentityReview, school.ruta.id) is None
    good = web.post(school.url("/identidad"), {
        "mision": "Formar ciudadanos críticos.", "vision": "Ser referente en la región.",
        "principios": "Respeto, responsabilidad y solidaridad.",
        "pei_reference": "Acuerdo 1 de 2020", "mision_vigencia": "vigente",
        "vision_vigencia": "vigente", "principios_vigencia": "vigente", "notes": ""},
        follow_redirects=True)
    assert "Guardado: la revisión de la identidad institucional está completa." in \
        text_of(good)


def test_rector_adds_a_member_who_is_invited(db: Session, make: Factory,
                                             web: WebClient) -> None:
    school = School(db, make)
    db.commit()
    signed_in(web, school.rector)
    web.get(school.url("/equipo"))
    bad = web.post(school.url("/equipo"), {"name": "", "email": "no-es-correo",
                                           "estamento": ""})
    assert bad.status_code == 422
    assert "Escriba un correo electrónico válido, como nombre@dominio.co." in text_of(bad)
    response = web.post(school.url("/equipo"), {
        "name": "Marleny Yate", "email": "marleny@prueba.co", "estamento": "estudiante",
        "areas": [str(school.catalog.areas[1].id)]}, follow_redirects=True)
    page = text_of(response)
    assert ("Listo: Marleny Yate hace parte del equipo de gestión. Le llegará la invitación "
            "a marleny@prueba.co.") in page
    assert "Estudiante · marleny@prueba.co · invitación enviada, cuenta sin activar" in page
    assert db.scalar(select(OutboxMessage.recipients)) == ["marleny@prueba.co"]


def test_team_member_cannot_add_members(db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    teacher = make.user(Role.EQUIPO, school=school.ruta.school)
    db.commit()
    signed_in(web, teacher)
    assert "Agregar un integrante" not in text_of(web.get(school.url("/equipo")))
    response = web.post(school.url("/equipo"), {"name": "X", "email": "x@prueba.co",
                                                "estamento": "docente"})
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(TeamMember)) == 0


def test_perfil_page_has_tables_and_svg_charts_served_as_images(
        db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    make.completed_self_assessment(school.ruta)
    db.commit()
    signed_in(web, school.rector)
    page = text_of(web.get(school.url("/perfil")))
    assert "Promedio institucional: <strong>3,0</strong> sobre 4" in page
    for chart in ("areas", "niveles", "procesos"):
        assert f'<img src="{school.url(f"/perfil/{chart}.svg")}"' in page
    assert "<svg" not in page and "style=" not in page
    chart = web.get(school.url("/perfil/areas.svg"))
    assert chart.status_code == 200
    assert chart.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert chart.headers["Content-Security-Policy"] == (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    svg = chart.get_data(as_text=True)
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    assert "<title>Gestión directiva: 3,0</title>" in svg
    assert "<script" not in svg
    assert web.get(school.url("/perfil/otra.svg")).status_code == 404


def test_priorities_are_saved_from_the_fortalezas_page(db: Session, make: Factory,
                                                       web: WebClient) -> None:
    school = School(db, make)
    make.completed_self_assessment(school.ruta, level=2)
    db.commit()
    signed_in(web, school.rector)
    page = text_of(web.get(school.url("/fortalezas")))
    assert "Oportunidades de mejoramiento (5)" in page
    assert "Fortalezas (0)" in page
    cid = school.componente("ACA.1.2").id
    bad = web.post(school.url("/priorizacion"), {"componente": [str(cid)],
                                                 f"urgencia-{cid}": "9",
                                                 f"tendencia-{cid}": "2", f"impacto-{cid}": "2"})
    assert bad.status_code == 422
    assert "«ACA.1.2»: la urgencia debe ser un número de 1 a 5." in text_of(bad)
    good = web.post(school.url("/priorizacion"), {"componente": [str(cid)],
                                                  f"urgencia-{cid}": "5",
                                                  f"tendencia-{cid}": "4", f"impacto-{cid}": "3"},
                    follow_redirects=True)
    page = text_of(good)
    assert "Guardado: 1 priorización actualizada." in page
    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    # The rule set's default score is the sum (5 + 4 + 3), as the 2026 guide computes it.
    assert "ACA.1.2 · Evaluación" in first_row and '<td data-label="Puntaje">12' in first_row


def test_printable_page_has_every_part(db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    make.completed_self_assessment(school.ruta)
    db.commit()
    reviewer = make.user(Role.REVISOR)
    db.commit()
    signed_in(web, reviewer)
    page = text_of(web.get(school.url("/imprimir")))
    for heading in ("Identidad institucional", "Equipo de gestión",
                    "Valoración de los componentes", "Perfil institucional",
                    "Fortalezas y oportunidades de mejoramiento"):
        assert f">{heading}</h2>" in page
    assert "Misión (sigue vigente)" in page
    assert "Acta 3 de 2024 del Consejo Directivo." in page
    # One stylesheet, print rules included (static/ruta.css, under @media print).
    assert page.count('rel="stylesheet"') == 1


# --- the catalogs -------------------------------------------------------------------------------


def test_administrator_sees_versions_with_counts_and_the_current_one(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    load_shipped_catalogs(db)
    db.commit()
    signed_in(web, admin)
    page = text_of(web.get("/catalogos/"))
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", page, re.S)
    cells = [re.findall(r"<td>(\d+)</td>", row) for row in rows]
    assert cells == [["2008", "4", "19", "93"], ["2026", "4", "15", "45"]]
    assert "<strong>Vigente</strong>" in rows[0]
    assert "Usar «guia34-2026» en las nuevas Rutas" in rows[1]


def test_uploaded_catalog_with_errors_lists_them_per_line(db: Session, make: Factory,
                                                          web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    db.commit()
    signed_in(web, admin)
    web.get("/catalogos/")
    content = json.dumps({**MINI_CATALOG, "id": "ibague-2025", "year": 3000}, indent=1)
    response = web.post("/catalogos/cargar", {
        "archivo": (io.BytesIO(content.encode()), "ibague.json")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Línea 4: «year» debe ser un año entre 1990 y 2100." in text_of(response)
    assert db.scalar(select(func.count()).select_from(Catalog)) == 0

    good = json.dumps({**MINI_CATALOG, "id": "ibague-2025"}, indent=1)
    response = web.post("/catalogos/cargar", {
        "archivo": (io.BytesIO(good.encode()), "ibague.json")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    loaded = db.scalar(select(Catalog).where(Catalog.slug == "ibague-2025"))
    assert (loaded.secretaria_id, loaded.source) == (admin.secretaria_id, "ibague.json")
    download = web.get(f"/catalogos/{loaded.id}.json")
    assert json.loads(download.get_data(as_text=True)) == {**MINI_CATALOG, "id": "ibague-2025"}


def test_adapted_version_made_current_is_used_by_new_rutas_only(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    source = make.catalog()
    early = opening.open_ruta(db, make.school(), actor=admin)  # no current catalog yet
    db.commit()
    signed_in(web, admin)
    web.get(f"/catalogos/{source.id}/adaptar")
    refused = web.post(f"/catalogos/{source.id}/adaptar", {
        "slug": "prueba-mini", "title": "Igual", "quitar-DIR.2.1": "1"})
    assert refused.status_code == 422
    page = text_of(refused)
    assert "Proceso DIR.2: «componentes» debe ser una lista con al menos un elemento." in page
    response = web.post(f"/catalogos/{source.id}/adaptar", {
        "slug": "prueba-ibague", "title": "Instrumento de Ibagué",
        "nombre-ACA.1.2": "Sistema institucional de evaluación (SIEE)",
        "quitar-DIR.1.2": "1", "nuevo-proceso-0": "ACA.1", "nuevo-codigo-0": "ACA.1.3",
        "nuevo-nombre-0": "Proyectos pedagógicos transversales"})
    assert response.status_code == 302
    derived = db.scalar(select(Catalog).where(Catalog.slug == "prueba-ibague"))
    assert [c.code for c in derived.componentes] == [
        "DIR.1.1", "DIR.2.1", "ACA.1.1", "ACA.1.2", "ACA.1.3"]
    assert web.post(f"/catalogos/{derived.id}/vigente").status_code == 302
    assert current_catalog(db, admin.secretaria_id).id == derived.id
    late = opening.open_ruta(db, make.school(), actor=db.get(User, admin.id))
    db.commit()
    db.expire_all()
    assert (db.get(Ruta, early.id).catalog_id, db.get(Ruta, late.id).catalog_id) == (
        None, derived.id)


def test_revisor_reads_catalogs_without_forms(db: Session, make: Factory,
                                              web: WebClient, app: Flask) -> None:
    catalog = make.catalog()
    reviewer = make.user(Role.REVISOR)
    db.commit()
    signed_in(web, reviewer)
    page = text_of(web.get("/catalogos/"))
    assert "Cargar una versión nueva" not in page and "Guardar las reglas" not in page
    detail = text_of(web.get(f"/catalogos/{catalog.id}"))
    assert "DIR.1.1 · Misión, visión y principios" in detail
    assert "Crear una versión adaptada" not in detail


def test_perfil_page_compares_with_the_schools_previous_ruta(
        db: Session, make: Factory, web: WebClient) -> None:
    school = School(db, make)
    previous = Ruta(school=school.ruta.school, horizon_start_year=2021, horizon_end_year=2023,
                    state=State.CERRADO, catalog_id=school.catalog.id)
    db.add(previous)
    db.flush()
    make.completed_self_assessment(previous, level=2)
    make.completed_self_assessment(school.ruta, level=3)
    db.commit()
    signed_in(web, school.rector)

    page = text_of(web.get(school.url("/perfil")))

    assert '<th scope="col">Ruta 2021–2023</th><th scope="col">Cambio</th>' in page
    assert 'data-label="Ruta 2021–2023">2,0</td>' in page  # the previous averages
    assert "+1,0" in page  # every componente went from 2 to 3
