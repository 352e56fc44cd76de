"""Finding and sorting like people expect, on SQLite and PostgreSQL alike: search ignores case
and accents, names sort in Spanish order, comunas in natural order, every list sorts by its
columns and shows numbered pages; bad parameters fall back to the defaults, never a 500."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow.models import School, Zona, utcnow
from workflow.roles import Role
from workflow.states import State

NAMES = ("San Simón", "Ángel María Úsuga", "Ñáñez Bustos", "Zapata", "Óscar Olaya",
         "Nariño")


def school_rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


def queue_rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row" class="stack-key"><a href="[^"]+">([^<]+)</a></th>', html)


def with_schools(make: Factory, role: Role = Role.ADMINISTRADOR) -> dict[str, School]:
    schools = {name: make.school(name=name) for name in NAMES}
    user = make.user(role)
    make.db.commit()
    return schools | {"_user": user}  # type: ignore[dict-item]


@pytest.mark.parametrize(("query", "found"), [
    ("simon", ["San Simón"]),
    ("ANGEL", ["Ángel María Úsuga"]),
    ("nanez", ["Ñáñez Bustos"]),
    ("ÑÁÑEZ", ["Ñáñez Bustos"]),
    ("  san   SIMÓN ", ["San Simón"]),
    # «o» is in every name with an o, accented or not, in Spanish order.
    ("o", ["Nariño", "Ñáñez Bustos", "Óscar Olaya", "San Simón"]),
])
def test_school_search_ignores_case_and_accents(web: WebClient, make: Factory, query: str,
                                                found: list[str]) -> None:
    admin = with_schools(make)["_user"]
    web.login(admin.email)  # type: ignore[attr-defined]

    html = web.get("/admin/instituciones", query_string={"q": query}).get_data(as_text=True)

    assert school_rows(html) == found


def test_schools_sort_in_spanish_order_and_comunas_naturally(db: Session, web: WebClient,
                                                             make: Factory) -> None:
    schools = with_schools(make)
    for number, name in enumerate(NAMES):
        schools[name].locality = f"Comuna {[10, 2, 1, 3, 11, 20][number]}"
    db.commit()
    web.login(schools["_user"].email)  # type: ignore[attr-defined]

    by_name = web.get("/admin/instituciones").get_data(as_text=True)
    by_comuna = web.get("/admin/instituciones?orden=comuna").get_data(as_text=True)
    backwards = web.get("/admin/instituciones?orden=colegio&dir=desc").get_data(as_text=True)

    assert school_rows(by_name) == ["Ángel María Úsuga", "Nariño", "Ñáñez Bustos",
                                    "Óscar Olaya", "San Simón", "Zapata"]
    assert school_rows(by_comuna) == ["Ñáñez Bustos", "Ángel María Úsuga", "Zapata",
                                      "San Simón", "Óscar Olaya", "Nariño"]
    assert school_rows(backwards) == list(reversed(school_rows(by_name)))
    assert 'aria-sort="descending"' in backwards


def test_users_search_and_sort_by_name_ignore_accents(db: Session, web: WebClient,
                                                       make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    admin.name = "Zoila Admin"
    for name in ("Ángela Núñez", "Ñusta Pérez", "Andrés Olaya"):
        make.user(Role.CONSULTA).name = name
    db.commit()
    web.login(admin.email)

    found = web.get("/admin/usuarios?q=NUNEZ").get_data(as_text=True)
    every = web.get("/admin/usuarios?estado=activos").get_data(as_text=True)

    assert school_rows(found) == ["Ángela Núñez"]
    assert school_rows(every) == ["Andrés Olaya", "Ángela Núñez", "Ñusta Pérez", "Zoila Admin"]


@pytest.mark.parametrize("query", [
    "%", "_", "\\", "%%%", "' OR 1=1 --", "a%' ; DROP TABLE schools; --", "*", "[a-z]"])
def test_wildcards_and_sql_in_a_search_find_nothing_extra(web: WebClient, make: Factory,
                                                         query: str) -> None:
    admin = with_schools(make)["_user"]
    make.school(name="Colegio 100% Nuestro")
    make.db.commit()
    web.login(admin.email)  # type: ignore[attr-defined]

    response = web.get("/admin/instituciones", query_string={"q": query})

    assert response.status_code == 200
    expected = ["Colegio 100% Nuestro"] if query == "%" else []
    assert school_rows(response.get_data(as_text=True)) == expected


def test_a_10000_character_search_answers_clearly_within_scope(web: WebClient,
                                                               make: Factory) -> None:
    admin = with_schools(make)["_user"]
    other = make.secretaria("Secretaría de Otra Ciudad", divipola="05001")
    make.school(secretaria=other, name="San Simón " + "x" * 150)
    make.db.commit()
    web.login(admin.email)  # type: ignore[attr-defined]

    response = web.get("/admin/instituciones", query_string={"q": "san simon" + "x" * 9991})
    queue = web.get("/revision/", query_string={"colegio": "simon" * 2000})

    assert response.status_code == 200 and queue.status_code == 200
    html = response.get_data(as_text=True)
    assert "se usaron sus primeros 100 caracteres" in html
    assert "se usaron sus primeros 100 caracteres" in queue.get_data(as_text=True)
    assert school_rows(html) == []  # the other Secretaría's school is never shown


@pytest.mark.parametrize("params", [
    "orden=nada", "orden=colegio&dir=arriba", "orden=%27%3B--&dir=desc", "pagina=abc",
    "pagina=-3", "pagina=99999999999999999999", "orden=", "dir=desc",
])
def test_bad_sort_or_page_falls_back_to_the_default(app: Flask, web: WebClient, make: Factory,
                                                     params: str) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 4
    admin = with_schools(make)["_user"]
    web.login(admin.email)  # type: ignore[attr-defined]

    response = web.get(f"/admin/instituciones?{params}")
    queue = web.get(f"/revision/?{params}")

    assert response.status_code == 200 and queue.status_code == 200
    # The first page in the default order (a direction alone does not pick a column).
    rows = school_rows(response.get_data(as_text=True))
    assert rows == ["Ángel María Úsuga", "Nariño", "Ñáñez Bustos", "Óscar Olaya"]


def test_a_page_past_the_last_shows_the_last_with_numbered_links(app: Flask, web: WebClient,
                                                                 make: Factory) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 2
    admin = with_schools(make)["_user"]
    web.login(admin.email)  # type: ignore[attr-defined]

    html = web.get("/admin/instituciones?pagina=40&orden=colegio&dir=desc").get_data(
        as_text=True)

    assert "Página 3 de 3" in html
    assert school_rows(html) == ["Nariño", "Ángel María Úsuga"]
    assert re.findall(r'aria-label="Página (\d)[^"]*"', html) == ["1", "2", "3"]
    assert ('href="/admin/instituciones?pagina=1&amp;orden=colegio&amp;dir=desc"'
            in html)
    assert 'aria-current="page"' in html


def test_queue_finds_without_accents_and_sorts_by_days_state_and_progress(
        db: Session, web: WebClient, make: Factory) -> None:
    schools = with_schools(make, Role.REVISOR)
    now = utcnow()
    waits = {"San Simón": 30, "Ángel María Úsuga": 3, "Ñáñez Bustos": 10}
    states = {"San Simón": State.PMI_FORMULADO, "Ángel María Úsuga": State.EN_REVISION,
              "Ñáñez Bustos": State.BORRADOR}
    for name, days in waits.items():
        ruta = make.ruta(schools[name], state=states[name])
        ruta.state_changed_at = now - timedelta(days=days, hours=1)
    db.commit()
    web.login(schools["_user"].email)  # type: ignore[attr-defined]

    found = web.get("/revision/?colegio=simon").get_data(as_text=True)
    angel = web.get("/revision/?colegio=ANGEL").get_data(as_text=True)
    default = web.get("/revision/").get_data(as_text=True)
    fewest_days = web.get("/revision/?orden=dias&dir=asc").get_data(as_text=True)
    by_school = web.get("/revision/?orden=colegio").get_data(as_text=True)
    by_progress = web.get("/revision/?orden=avance&dir=desc").get_data(as_text=True)
    by_reminder = web.get("/revision/?orden=recordatorio").get_data(as_text=True)

    assert queue_rows(found) == ["San Simón"]
    assert "30 días" in found
    assert queue_rows(angel) == ["Ángel María Úsuga"]
    assert queue_rows(default) == ["San Simón", "Ñáñez Bustos", "Ángel María Úsuga"]
    assert queue_rows(fewest_days) == ["Ángel María Úsuga", "Ñáñez Bustos", "San Simón"]
    assert queue_rows(by_school) == ["Ángel María Úsuga", "Ñáñez Bustos", "San Simón"]
    assert queue_rows(by_progress) == ["Ángel María Úsuga", "San Simón", "Ñáñez Bustos"]
    assert sorted(queue_rows(by_reminder)) == sorted(waits)


def test_keys_follow_a_renamed_school(db: Session, make: Factory, web: WebClient) -> None:
    schools = with_schools(make)
    schools["Zapata"].name = "Colegio Simón Bolívar"
    schools["Zapata"].locality = "Comuna 12"
    db.commit()
    web.login(schools["_user"].email)  # type: ignore[attr-defined]

    html = web.get("/admin/instituciones?q=BOLIVAR").get_data(as_text=True)

    assert school_rows(html) == ["Colegio Simón Bolívar"]
    assert schools["Zapata"].locality_sort == "comuna 000012"
    assert schools["Zapata"].zona is Zona.URBANA


def consolidado_rows(html: str) -> list[str]:
    table = html[html.index('id="instituciones"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<th scope="row" class="stack-key">(?:<a href="[^"]+">)?([^<]+)<', table)


def test_consolidado_table_sorts_pages_and_lists_comunas_naturally(
        app: Flask, db: Session, web: WebClient, make: Factory) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 4
    schools = with_schools(make, Role.CONSULTA)
    for number, name in enumerate(NAMES):
        schools[name].locality = f"Comuna {[10, 2, 1, 3, 11, 20][number]}"
    waits = {"San Simón": 30, "Ángel María Úsuga": 3, "Ñáñez Bustos": 10}
    for name, days in waits.items():
        ruta = make.ruta(schools[name], state=State.PMI_FORMULADO)
        ruta.state_changed_at = utcnow() - timedelta(days=days, hours=1)
    db.commit()
    web.login(schools["_user"].email)  # type: ignore[attr-defined]

    first = web.get("/reportes/").get_data(as_text=True)
    last = web.get("/reportes/?pagina=9").get_data(as_text=True)
    by_days = web.get("/reportes/?orden=dias&dir=desc").get_data(as_text=True)
    bad = web.get("/reportes/?orden=%25&dir=x&pagina=y")

    assert consolidado_rows(first) == ["Ángel María Úsuga", "Nariño", "Ñáñez Bustos",
                                       "Óscar Olaya"]
    assert consolidado_rows(last) == ["San Simón", "Zapata"]
    assert "Página 2 de 2" in last
    # The schools without a Ruta (no days) go last whichever the direction.
    assert consolidado_rows(by_days) == ["San Simón", "Ñáñez Bustos", "Ángel María Úsuga",
                                         "Nariño"]
    assert bad.status_code == 200
    assert consolidado_rows(bad.get_data(as_text=True)) == consolidado_rows(first)
    options = re.findall(r'<option value="(Comuna \d+)"', first)
    assert options == ["Comuna 1", "Comuna 2", "Comuna 3", "Comuna 10", "Comuna 11",
                       "Comuna 20"]


def test_queue_filters_by_reviewer_zona_and_comuna_and_every_link_keeps_them(
        db: Session, web: WebClient, make: Factory) -> None:
    schools = with_schools(make, Role.REVISOR)
    me = schools["_user"]
    colleague = make.user(Role.REVISOR)
    schools["Zapata"].zona = Zona.RURAL
    schools["Zapata"].locality = "Corregimiento Dantas"
    schools["Nariño"].locality = "Comuna 2"
    held = {"San Simón": me, "Nariño": me, "Zapata": colleague, "Óscar Olaya": None}
    for name, reviewer in held.items():
        ruta = make.ruta(schools[name], state=State.EN_REVISION)
        ruta.reviewer_id = reviewer.id if reviewer else None
    db.commit()
    web.login(me.email)  # type: ignore[attr-defined]

    mine = web.get("/revision/?revisor=mias&orden=colegio").get_data(as_text=True)
    unheld = web.get("/revision/?revisor=sin").get_data(as_text=True)
    rural = web.get("/revision/?zona=rural").get_data(as_text=True)
    comuna = web.get("/revision/", query_string={"comuna": "Comuna 2"}).get_data(as_text=True)
    nonsense = web.get("/revision/?revisor=%25&zona=luna&comuna=" + "x" * 500)

    assert queue_rows(mine) == ["Nariño", "San Simón"]
    assert "Todas (2)" in mine
    # The state tabs, the sort headers and the page links keep the reviewer filter.
    assert 'href="/revision/?estado=en_revision&amp;revisor=mias&amp;orden=colegio' in mine
    assert re.search(r'class="sort-link" href="/revision/\?orden=estado&amp;dir=asc&amp;'
                     r'revisor=mias"', mine)
    assert queue_rows(unheld) == ["Óscar Olaya"]
    assert queue_rows(rural) == ["Zapata"]
    assert '<option value="Corregimiento Dantas">' in rural
    assert queue_rows(comuna) == ["Nariño"]
    assert nonsense.status_code == 200
    assert queue_rows(nonsense.get_data(as_text=True)) == []
