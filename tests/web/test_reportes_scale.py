"""/reportes/ at scale (issue 17, item 3): read from the per-Ruta aggregates, paginated and
filtered by the database, its charts revalidated with ETags, in a number of statements that
does not grow with the schools."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import cycle

from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.query_counter import counting_statements
from workflow import scope_versions
from workflow.consolidado import aggregates, summary
from workflow.consolidado.aggregates import RutaAggregate
from workflow.consolidado.consolidate import Filters
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Ruta, School, Secretaria, Zona
from workflow.roles import Role
from workflow.search_keys import sort_key
from workflow.states import State

STATES = [State.BORRADOR, State.AUTOEVALUACION_ENVIADA, State.PMI_FORMULADO,
          State.EN_REVISION, State.APROBADO]
# Statements of a view whose plan sections are memoised (``summary.SECTIONS``).
LIMIT = 20


def add_schools(db: Session, secretaria: Secretaria, first: int, how_many: int) -> None:
    """Schools in bulk (as a migration or an import would), half of them urbana in «Comuna
    1», each with a Ruta in one of ``STATES``; then the refresh the scheduler runs."""
    numbers = range(first, first + how_many)
    db.execute(insert(School), [
        {"secretaria_id": secretaria.id, "dane_code": f"8{number:011d}",
         "name": f"Institución Escala {number:03d}",
         "zona": Zona.URBANA if number % 2 else Zona.RURAL,
         "locality": "Comuna 1" if number % 2 else f"Corregimiento {number}"}
        for number in numbers])
    ids = db.scalars(select(School.id).where(School.dane_code.in_(
        [f"8{number:011d}" for number in numbers])).order_by(School.id)).all()
    long_ago = datetime.now(UTC) - timedelta(days=90)
    db.execute(insert(Ruta), [
        {"school_id": school_id, "horizon_start_year": 2024, "horizon_end_year": 2026,
         "state": state, "version": 1, "state_changed_at": long_ago}
        for school_id, state in zip(ids, cycle(STATES))])
    aggregates.refresh_all(db)
    db.commit()


def horizon(db: Session, make: Factory) -> Secretaria:
    """A Secretaría with its 2024–2026 horizon open (a GET never commits opening one)."""
    secretaria = make.secretaria()
    db.add(HorizonCalendar(secretaria_id=secretaria.id, horizon_start_year=2024,
                           horizon_end_year=2026))
    return secretaria


def setup(db: Session, make: Factory, schools: int) -> str:
    secretaria = horizon(db, make)
    person = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    add_schools(db, secretaria, 0, schools)
    return person.email


def rows_of(page: str) -> list[str]:
    return re.findall(r'<th scope="row" class="stack-key"><a href="/rutas/\d+">([^<]+)</a>',
                      page)


def test_the_table_is_paginated_and_filtered_by_the_database(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    web.login(setup(db, make, 45))
    page = web.get("/reportes/").get_data(as_text=True)
    assert rows_of(page) == [f"Institución Escala {number:03d}" for number in range(20)]
    assert "Página 1 de 3" in page
    last = web.get("/reportes/?pagina=3").get_data(as_text=True)
    assert rows_of(last) == [f"Institución Escala {number:03d}" for number in range(40, 45)]
    # Past the last page: the last one.
    assert rows_of(web.get("/reportes/?pagina=99").get_data(as_text=True)) == rows_of(last)

    borrador = web.get("/reportes/?estado=borrador").get_data(as_text=True)
    assert rows_of(borrador) == [f"Institución Escala {number:03d}"
                                 for number in range(0, 45, 5)]
    assert "9 de 45 instituciones" in borrador
    # The funnel and perfil stay the whole scope's: the state filters the table only.
    assert "45 Rutas en total" in borrador

    # A borrador 90 days untouched owes its autoevaluación: estancada; so is a Ruta
    # formulating its PMI. The list above shows them; the link filters the table.
    stalled = web.get("/reportes/?situacion=estancada").get_data(as_text=True)
    assert rows_of(stalled) == [f"Institución Escala {number:03d}"
                                for number in range(45) if number % 5 in (0, 1)][:20]
    assert "18 de 45 instituciones" in stalled

    urbana = web.get("/reportes/?zona=urbana&estado=borrador&orden=colegio&dir=desc"
                     ).get_data(as_text=True)
    assert rows_of(urbana) == [f"Institución Escala {number:03d}"
                               for number in reversed(range(45))
                               if number % 2 and number % 5 == 0]
    assert "22 Rutas en total" in urbana
    # Sorting by state (by its label), then the name.
    by_state = web.get("/reportes/?orden=estado&dir=asc").get_data(as_text=True)
    labels = sorted(STATES, key=lambda state: sort_key(state.label))
    assert rows_of(by_state)[:9] == [f"Institución Escala {number:03d}" for number in range(45)
                                     if STATES[number % 5] is labels[0]]
    # Unknown filters are ignored, never a 500.
    assert web.get("/reportes/?estado=nada&situacion=x&pagina=-3").status_code == 200


def test_the_page_stays_small_and_says_when_its_data_was_refreshed(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    web.login(setup(db, make, 120))
    response = web.get("/reportes/")
    page = response.get_data(as_text=True)
    assert "Datos actualizados el " in page
    # 48 estancadas (borrador and formulating, 90 days): the first 20 listed, then a link.
    assert "Son 48: aquí las primeras 20 por nombre." in page
    assert "situacion=estancada" in page
    assert len(rows_of(page)) == 20


def test_charts_answer_304_while_nothing_changed(app: Flask, db: Session, make: Factory,
                                                 web: WebClient) -> None:
    web.login(setup(db, make, 12))
    first = web.get("/reportes/graficos/embudo.svg")
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert first.headers["Last-Modified"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = web.get("/reportes/graficos/embudo.svg", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.get_data() == b""
    # Each chart has its own tag; another filter is another version.
    areas = web.get("/reportes/graficos/areas.svg")
    assert areas.status_code == 200 and areas.headers["ETag"] != tag
    assert web.get("/reportes/graficos/embudo.svg?zona=rural",
                   headers={"If-None-Match": tag}).status_code == 200
    # A Ruta changes state: the funnel's version changes, and the new SVG says so.
    ruta = db.scalars(select(Ruta).where(Ruta.state == State.BORRADOR)).first()
    assert ruta is not None
    ruta.state = State.AUTOEVALUACION_ENVIADA
    db.commit()
    changed = web.get("/reportes/graficos/embudo.svg", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert changed.get_data() != first.get_data()
    assert web.get("/reportes/graficos/otro.svg").status_code == 404


def count_statements(app: Flask, web: WebClient, url: str) -> tuple[int, list[str]]:
    with counting_statements(app) as statements:
        response = web.client.get(url)
    assert response.status_code == 200
    return statements.count, statements.sent


def test_reportes_sends_the_same_statements_at_5_and_50_schools(
        app: Flask, db: Session, make: Factory, web: WebClient) -> None:
    secretaria = horizon(db, make)
    person = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    add_schools(db, secretaria, 0, 5)
    web.login(person.email)
    pages = ("/reportes/", "/reportes/?estado=borrador&orden=dias&dir=desc&pagina=2",
             "/reportes/imprimir", "/reportes/graficos/areas.svg")
    summary.SECTIONS.clear()
    scope_versions.clear_memos()
    small = {url: count_statements(app, web, url) for url in pages}
    warm = count_statements(app, web, "/reportes/")
    add_schools(db, secretaria, 5, 45)
    summary.SECTIONS.clear()
    scope_versions.clear_memos()
    large = {url: count_statements(app, web, url) for url in pages}
    for url in pages:
        assert large[url][0] <= small[url][0], (url, small[url], large[url])
    # Once the plan sections are memoised for this version of the data, a view is a handful
    # of statements.
    assert warm[0] <= LIMIT, "\n".join(warm[1])
    assert count_statements(app, web, "/reportes/")[0] == warm[0]


def test_rutas_loaded_in_bulk_are_counted_or_said_to_be_missing(
        app: Flask, db: Session, make: Factory, web: WebClient, monkeypatch: object) -> None:
    secretaria = horizon(db, make)
    person = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    db.commit()
    add_schools(db, secretaria, 0, 4)
    db.execute(RutaAggregate.__table__.delete())
    db.commit()
    web.login(person.email)
    # Up to INLINE_REFRESH_MAX the page computes them itself: nothing is missing.
    page = web.get("/reportes/").get_data(as_text=True)
    assert "4 Rutas en total" in page and "Faltan las cifras" not in page
    monkeypatch.setattr(summary, "INLINE_REFRESH_MAX", 2)  # type: ignore[attr-defined]
    page = web.get("/reportes/").get_data(as_text=True)
    assert "Faltan las cifras de 4 Rutas de este filtro" in page
    assert "ruta consolidado actualizar" in page
    assert "0 Rutas en total" in page


def test_a_chart_is_revalidated_against_the_version_of_the_page(
        app: Flask, db: Session, make: Factory) -> None:
    """The charts read only the three figures the version is made of; the page reads them in
    its census. Both must give the same version, or a chart's memo and ETag drift from the
    page's data."""
    secretaria = horizon(db, make)
    person = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    # A school without a Ruta counts in both, as the table shows it («Sin Ruta»).
    make.school(secretaria, name="Institución Sin Ruta")
    db.commit()
    add_schools(db, secretaria, 0, 6)
    now = datetime.now(UTC)

    def both(filters: Filters) -> tuple[str, str]:
        page = summary.summarize(db, person, filters, now=now, stalled_days=30)
        scope, _ = summary.scope_of(db, person, filters, now=now, stalled_days=30)
        return page.version, summary.chart_version(db, scope)[0]

    first, chart = both(Filters())
    assert first == chart
    rural, chart = both(Filters(Zona.RURAL))
    assert rural == chart and rural != first
    # A Ruta changes state: its aggregate is refreshed, and both versions move together.
    ruta = db.scalars(select(Ruta).where(Ruta.state == State.BORRADOR)).first()
    assert ruta is not None
    ruta.state = State.AUTOEVALUACION_ENVIADA
    db.commit()
    changed, chart = both(Filters())
    assert changed == chart and changed != first
