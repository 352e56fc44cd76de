"""The «Pendientes» page and the count in the header: who may open it, what it lists, and
that no parameter, however bad, answers 500 or shows more than the actor's scope."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.pendientes.helpers import Desk, build_desk
from workflow.models import Ruta, School, Zona
from workflow.pendientes.desk import BADGE_CAP, BADGES, badge_count, count_pending
from workflow.roles import Role
from workflow.states import State


@pytest.fixture
def desk(db: Session, make: Factory) -> Desk:
    return build_desk(db, make)


def page(web: WebClient, url: str = "/pendientes/") -> str:
    response = web.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row" class="stack-key">([^<]+?) <span', html)


def test_the_header_counts_what_waits_and_the_page_lists_it(web: WebClient,
                                                            desk: Desk) -> None:
    web.login(desk.revisor.email)
    html = page(web, "/revision/")
    assert 'aria-label="Pendientes: 5 asuntos esperan a la Secretaría"' in html
    html = page(web)
    assert rows(html) == ["Institución Educativa Rural Juntas",
                          "Institución Educativa San Simón", "Institución Educativa San Simón",
                          desk.plan.ruta.school.name, desk.plan.ruta.school.name]
    report_path = f"/rutas/{desk.plan.ruta.id}/seguimiento/informes/{desk.report.id}"
    assert f'<a href="{report_path}">Revisar el informe</a>' in html
    assert "5 pendientes." in html
    mine = page(web, "/pendientes/?vista=mios")
    assert "3 pendientes a su cargo o sin tomar." in mine
    assert "Institución Educativa San Simón" not in rows(mine)
    assert "(usted)" in mine


def test_past_99_the_header_says_99_plus_and_the_page_still_counts_them_all(
        web: WebClient, db: Session, desk: Desk) -> None:
    """The count in the header stops at 100 items (it runs on every page); the page itself
    counts every one."""
    # At 99 or fewer the header counts exactly.
    assert badge_count(db, desk.revisor) == count_pending(db, desk.revisor) == 5
    secretaria_id, catalog_id = desk.revisor.secretaria_id, desk.plan.ruta.catalog_id
    school_ids = db.scalars(insert(School).returning(School.id), [
        {"secretaria_id": secretaria_id, "dane_code": f"8{number:011d}",
         "name": f"Institución Educativa Espera {number}", "zona": Zona.URBANA,
         "locality": "Comuna 1"} for number in range(100)]).all()
    db.execute(insert(Ruta), [
        {"school_id": school_id, "horizon_start_year": 2024, "horizon_end_year": 2026,
         "state": State.PMI_FORMULADO, "catalog_id": catalog_id, "version": 1}
        for school_id in school_ids])
    db.commit()
    assert count_pending(db, desk.revisor) == 105
    assert badge_count(db, desk.revisor) == BADGE_CAP + 1 == 100

    web.login(desk.revisor.email)
    html = page(web)
    assert 'aria-label="Pendientes: más de 99 asuntos esperan a la Secretaría"' in html
    assert html.count('Pendientes <span class="nav-count">(99+)</span>') == 2
    assert "105 pendientes." in html


def test_the_administracion_sees_schools_without_rector(web: WebClient, desk: Desk) -> None:
    web.login(desk.admin.email)
    html = page(web)
    assert "Institución Educativa Nueva Sin Rector" in rows(html)
    assert 'href="/admin/usuarios/nuevo">Crear la cuenta del rector(a)</a>' in html
    assert 'aria-label="Pendientes: 7 asuntos esperan a la Secretaría"' in html
    mine = page(web, "/pendientes/?vista=mios")
    assert "2 pendientes de la administración." in mine
    assert rows(mine) == ["Institución Educativa Nueva Sin Rector",
                          "Institución Educativa Invitada"]


@pytest.mark.parametrize("role", [Role.CONSULTA, Role.RECTOR])
def test_other_roles_have_no_desk_and_no_count(web: WebClient, make: Factory, desk: Desk,
                                               role: Role) -> None:
    user = (desk.plan.rector if role is Role.RECTOR
            else make.user(role, secretaria=desk.revisor.secretaria))
    make.db.commit()
    web.login(user.email)
    assert web.get("/pendientes/").status_code == 403
    assert "Pendientes" not in web.get("/cuenta/contrasena").get_data(as_text=True)


def test_a_revisor_of_another_secretaria_sees_an_empty_desk(web: WebClient, make: Factory,
                                                            desk: Desk) -> None:
    stranger = make.user(Role.REVISOR, secretaria=make.secretaria(
        "Secretaría de Educación del Tolima", divipola="73"))
    make.db.commit()
    web.login(stranger.email)
    html = page(web)
    assert rows(html) == [] and "Nada espera a la Secretaría: no hay pendientes." in html
    assert 'aria-label="Pendientes: 0 asuntos esperan a la Secretaría"' in html


def test_filters_narrow_and_say_when_nothing_matches(web: WebClient, desk: Desk) -> None:
    web.login(desk.revisor.email)
    assert rows(page(web, "/pendientes/?zona=rural")) == ["Institución Educativa Rural Juntas"]
    assert rows(page(web, "/pendientes/?comuna=Corregimiento+Juntas")) == [
        "Institución Educativa Rural Juntas"]
    assert rows(page(web, "/pendientes/?tipo=ajuste")) == [desk.plan.ruta.school.name]
    html = page(web, "/pendientes/?q=zzz")
    assert rows(html) == [] and "No hay pendientes con estos filtros." in html


@pytest.mark.parametrize("query, notice", [
    ("vista=nadie", "la vista «nadie» no existe"),
    ("zona=marte", "la zona «marte» no existe"),
    ("comuna=Comuna+99", "no hay instituciones en «Comuna 99»"),
    ("tipo=sin_rector", "el tipo de pendiente «sin_rector» no existe"),
    ("tipo=%27%3B+DROP+TABLE+rutas", "no existe"),
])
def test_an_unknown_parameter_is_ignored_and_said(web: WebClient, desk: Desk, query: str,
                                                  notice: str) -> None:
    web.login(desk.revisor.email)
    html = page(web, f"/pendientes/?{query}")
    assert "Se ignoró parte de la dirección" in html and notice in html
    assert len(rows(html)) == 5  # the filter is dropped, the scope is not


@pytest.mark.parametrize("query", [
    "q=" + "a" * 10_000, "q=%25", "q=_", "q=%5C", "pagina=abc", "pagina=-3",
    "pagina=99999999999999999999", "pagina=7", "vista=" + "x" * 10_000, "comuna=%2A",
    "zona=urbana&comuna=Corregimiento+Juntas",
])
def test_bad_input_never_answers_500_nor_widens_the_scope(web: WebClient, desk: Desk,
                                                          query: str) -> None:
    web.login(desk.revisor.email)
    html = page(web, f"/pendientes/?{query}")
    assert len(rows(html)) <= 5
    if query.startswith("q=a"):
        assert "se usaron sus primeros 100 caracteres" in html


def test_pages_are_numbered_and_never_overlap(web: WebClient, app, desk: Desk) -> None:  # noqa: ANN001
    app.config["QUEUE_PAGE_SIZE"] = 2
    web.login(desk.revisor.email)
    first, second, third = (rows(page(web, f"/pendientes/?pagina={n}")) for n in (1, 2, 3))
    assert len(first) == 2 and len(second) == 2 and len(third) == 1
    assert first + second + third == [
        "Institución Educativa Rural Juntas", "Institución Educativa San Simón",
        "Institución Educativa San Simón", desk.plan.ruta.school.name,
        desk.plan.ruta.school.name]
    html = page(web, "/pendientes/?pagina=2&vista=mios")
    assert 'aria-label="Página 1"' in html and "Página 2 de 2" in html


def test_a_nul_character_is_refused_as_the_whole_app_refuses_it(web: WebClient,
                                                                desk: Desk) -> None:
    web.login(desk.revisor.email)
    assert web.get("/pendientes/?comuna=%00").status_code == 400


def test_the_header_count_is_one_query_per_page_then_one_per_change(
        app, web: WebClient, db: Session, desk: Desk) -> None:  # noqa: ANN001
    from sqlalchemy import event

    web.login(desk.revisor.email)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    def unions(url: str, shown: str) -> int:
        statements.clear()
        engine = app.extensions["ruta_db"].engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            html = page(web, url)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        # The menu is drawn twice (phone and wide) and counted at most once.
        assert html.count(f"Pendientes <span class=\"nav-count\">({shown})</span>") == 2
        return sum("UNION ALL" in statement for statement in statements)

    BADGES.clear()
    assert unions("/cuenta/contrasena", "5") == 1  # one UNION of every kind
    # The process keeps it while nothing it counts changes (``scope_versions``)...
    assert unions("/accesibilidad", "5") == 0
    # ... and counts again after a change: the PMI to take is sent back to the school.
    db.get(Ruta, desk.to_take.id).state = State.AUTOEVALUACION_ENVIADA
    db.commit()
    assert unions("/accesibilidad", "4") == 1
