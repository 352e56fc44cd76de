"""Issue 17: every main page, for every role, in a handful of SQL statements, as many at 50
schools as at 5 (a guard on the number of statements, not a timing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from itertools import cycle

import pytest
from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tests.conftest import TEST_PASSWORDS, Factory, WebClient
from tests.query_counter import counting_statements
from tests.seguimiento.test_seguimiento import JULY_1, build_plan
from workflow.ajustes.machine import AdjustmentState
from workflow.ajustes.models import AdjustmentChange, ChangeKind, PlanAdjustment
from workflow.autoevaluacion.models import Valoracion
from workflow.models import Ruta, School, User, Zona
from workflow.roles import Role
from workflow.seguimiento import reports as seguimiento
from workflow.states import State

LIMIT = 12
JULY_1_NOON = datetime.combine(JULY_1, time(12), tzinfo=UTC)
SMALL, LARGE = 5, 50

#: Pages of one Ruta every role sees ({ruta} and {report} filled in).
RUTA_PAGES = [
    "/rutas/{ruta}",
    "/rutas/{ruta}/autoevaluacion",
    "/rutas/{ruta}/autoevaluacion/areas/DIR",
    "/rutas/{ruta}/autoevaluacion/identidad",
    "/rutas/{ruta}/autoevaluacion/equipo",
    "/rutas/{ruta}/autoevaluacion/perfil",
    "/rutas/{ruta}/autoevaluacion/fortalezas",
    "/rutas/{ruta}/autoevaluacion/imprimir",
    "/rutas/{ruta}/pmi",
    "/rutas/{ruta}/pmi/revision",
    "/rutas/{ruta}/pmi/versiones",
    "/rutas/{ruta}/pmi/imprimir",
    "/rutas/{ruta}/seguimiento",
    "/rutas/{ruta}/seguimiento/informes/{report}",
    "/rutas/{ruta}/cierre",
    "/cuenta/contrasena",
]
SCHOOL_PAGES = ["/escuela/", *RUTA_PAGES]
SECRETARIA_PAGES = [
    *RUTA_PAGES,
    "/revision/",
    "/reportes/",
    "/reportes/imprimir",
    "/reportes/exportaciones",
    "/admin/usuarios",
    "/admin/instituciones",
    "/admin/horizontes/",
    "/admin/equivalencias/",
    "/catalogos/",
    "/catalogos/{catalog}",
    "/pmi/fuentes",
]
PAGES: dict[Role, list[str]] = {
    Role.RECTOR: SCHOOL_PAGES,
    Role.EQUIPO: SCHOOL_PAGES,
    Role.CONSULTA: SECRETARIA_PAGES,
    Role.REVISOR: [*SECRETARIA_PAGES, "/pendientes/"],
    Role.ADMINISTRADOR: [*SECRETARIA_PAGES, "/pendientes/", "/admin/correo/",
                         "/admin/correo/inciertos", "/admin/calendario/"],
}

#: The consolidado's pages read the per-Ruta aggregates; tests/web/test_reportes_scale.py
#: holds their warm view to a ceiling of its own (a first view after a change recomputes the
#: plan sections): here only their independence from the number of schools is guarded.
CONSOLIDADO_PAGES = frozenset({"/reportes/", "/reportes/imprimir"})

#: The states the other schools' Rutas are spread over (every listing finds some).
OTHER_STATES = [State.EN_REVISION, State.BORRADOR, State.SEGUIMIENTO, State.PMI_FORMULADO,
                State.EN_REVISION, State.APROBADO]


@dataclass
class Scene:
    urls: dict[str, str]
    email: str
    secretaria_id: int
    catalog_id: int
    schools: int


def build_scene(make: Factory, role: Role) -> Scene:
    """A Ruta in seguimiento with a completed autoevaluación and an open report, the person
    with ``role``, and four more schools with their rector and Ruta."""
    plan = build_plan(make)
    db = make.db
    make.completed_self_assessment(plan.ruta)
    report = seguimiento.open_report(db, plan.ruta, plan.june.id, actor=plan.rector,
                                     today=JULY_1)
    catalog = make.catalog()
    secretaria = plan.ruta.school.secretaria
    person = {Role.RECTOR: plan.rector, Role.EQUIPO: plan.equipo,
              Role.REVISOR: plan.revisor}.get(role) or make.user(role, secretaria=secretaria)
    db.commit()
    scene = Scene(urls={}, email=person.email, secretaria_id=secretaria.id,
                  catalog_id=catalog.id, schools=1)
    add_schools(db, scene, SMALL - 1)
    for url in PAGES[role]:
        scene.urls[url] = url.format(ruta=plan.ruta.id, report=report.id, catalog=catalog.id)
    return scene


def add_schools(db: Session, scene: Scene, how_many: int) -> None:
    """``how_many`` more schools in bulk, each with an active rector and a Ruta whose
    autoevaluación is complete, in states spread over ``OTHER_STATES``; each Ruta in
    seguimiento has a plan adjustment sent to the Secretaría (as most do late in a horizon:
    the reviewer's queue lists them)."""
    first = scene.schools
    numbers = range(first, first + how_many)
    db.execute(insert(School), [
        {"secretaria_id": scene.secretaria_id, "dane_code": f"9{number:011d}",
         "name": f"Institución Educativa Masiva {number}", "zona": Zona.RURAL,
         "locality": f"Corregimiento {number}"} for number in numbers])
    school_ids = db.scalars(select(School.id).where(School.dane_code.in_(
        [f"9{number:011d}" for number in numbers])).order_by(School.id)).all()
    password_hash = TEST_PASSWORDS.hash("clave-masiva-de-prueba")
    rector_ids = db.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), [
        {"secretaria_id": scene.secretaria_id, "email": f"rector.masivo{number}@prueba.co",
         "name": f"Rector masivo {number}", "role": Role.RECTOR, "school_id": school_id,
         "active": True, "password_hash": password_hash}
        for number, school_id in zip(numbers, school_ids, strict=True)]).all()
    states = [state for state, _ in zip(cycle(OTHER_STATES), school_ids)]
    ruta_ids = db.scalars(insert(Ruta).returning(Ruta.id, sort_by_parameter_order=True), [
        {"school_id": school_id, "horizon_start_year": 2024, "horizon_end_year": 2026,
         "state": state, "catalog_id": scene.catalog_id, "version": 1}
        for school_id, state in zip(school_ids, states, strict=True)]).all()
    following = [(ruta_id, rector_id) for ruta_id, rector_id, state
                 in zip(ruta_ids, rector_ids, states, strict=True) if state is State.SEGUIMIENTO]
    if following:
        adjustment_ids = db.scalars(
            insert(PlanAdjustment).returning(PlanAdjustment.id, sort_by_parameter_order=True), [
                {"ruta_id": ruta_id, "number": 1, "state": AdjustmentState.ENVIADO,
                 "created_by_id": rector_id, "sent_at": JULY_1_NOON, "version": 1}
                for ruta_id, rector_id in following]).all()
        db.execute(insert(AdjustmentChange), [
            {"adjustment_id": adjustment_id, "kind": ChangeKind.ADD, "element_kind": "meta",
             "proposed": {}, "justification": "Los resultados de 2024 lo piden.",
             "created_by_id": rector_id}
            for adjustment_id, (_, rector_id) in zip(adjustment_ids, following, strict=True)])
    componente_ids = db.scalars(select(Valoracion.componente_id).distinct()).all()
    db.execute(insert(Valoracion), [
        {"ruta_id": ruta_id, "componente_id": componente_id, "level": 2,
         "evidence": "Acta del consejo.", "comments": ""}
        for ruta_id in ruta_ids for componente_id in componente_ids])
    db.commit()
    scene.schools += how_many


def measure(app: Flask, web: WebClient, scene: Scene) -> dict[str, tuple[int, int, list[str]]]:
    """Each page's status, statement count and statements on its second view, as
    ``bench.scale`` counts them: the first fills what the process keeps per version of the
    data (``scope_versions``: the badge, the queue's counts...), as any earlier view of the
    Secretaría's pages since its data last changed would have."""
    figures = {}
    for page, url in scene.urls.items():
        web.client.get(url)
        with counting_statements(app) as statements:
            response = web.client.get(url)
        figures[page] = (response.status_code, statements.count, statements.sent)
    return figures


@pytest.mark.parametrize("role", list(PAGES), ids=lambda role: role.value)
def test_main_pages_send_a_handful_of_statements_whatever_the_schools(
        role: Role, app: Flask, make: Factory, web: WebClient) -> None:
    scene = build_scene(make, role)
    assert web.login(scene.email).status_code == 302
    small = measure(app, web, scene)
    add_schools(make.db, scene, LARGE - SMALL)
    large = measure(app, web, scene)
    problems = []
    for page in scene.urls:
        status, count_small, sent = small[page]
        count_large = large[page][1]
        if status not in (200, 302) or large[page][0] != status:
            problems.append(f"{page}: answered {status} then {large[page][0]}")
        elif count_large > count_small or (page in CONSOLIDADO_PAGES
                                           and count_large != count_small):
            problems.append(f"{page}: {count_small} statements at {SMALL} schools, "
                            f"{count_large} at {LARGE}:\n  " + "\n  ".join(large[page][2]))
        elif page not in CONSOLIDADO_PAGES and count_small > LIMIT:
            problems.append(f"{page}: {count_small} statements (limit {LIMIT}):\n  "
                            + "\n  ".join(sent))
    assert not problems, "\n".join(problems)
