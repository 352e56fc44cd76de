"""Horizons on the web: the list, opening the next one, and the horizon selector of the
consolidado (each horizon with its own instrument), its exports and the reviewer queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from tests.consolidado.test_consolidado import NOW, seed
from workflow.catalogo.catalog import set_current_catalog
from workflow.consolidado.consolidate import Filters, consolidate
from workflow.consolidado.export_jobs import request_export
from workflow.errors import NotFound
from workflow.horizontes.horizons import ensure_horizon, horizon_starting, open_horizon
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Ruta, Secretaria
from workflow.roles import Role
from workflow.states import State


def token_of(page: str) -> str:
    return page.split('name="form_token" value="')[1].split('"')[0]


def stored_current_horizon(db: Session, make: Factory) -> None:
    """The current horizon's row, as migration 0018 stores it for every Secretaría."""
    ensure_horizon(db, make.secretaria(), 2024, 2026, actor=None)


@pytest.fixture
def admin_web(db: Session, make: Factory, web: WebClient) -> WebClient:
    admin = make.user(Role.ADMINISTRADOR, email="admin@ibague.gov.co")
    make.catalog()
    stored_current_horizon(db, make)
    db.commit()
    web.login(admin.email)
    return web


def horizons(db: Session) -> list[tuple[int, int]]:
    db.expire_all()
    return [(row.horizon_start_year, row.horizon_end_year) for row in db.scalars(
        select(HorizonCalendar).order_by(HorizonCalendar.horizon_start_year))]


# --- the horizons page ----------------------------------------------------------------------


def test_horizons_page_lists_the_current_horizon_and_prefills_the_next(
        admin_web: WebClient, db: Session) -> None:
    page = admin_web.get("/admin/horizontes/").get_data(as_text=True)
    assert "<h1>Horizontes de la Secretaría</h1>" in page
    assert '<th scope="row" class="stack-key">2024–2026</th>' in page
    assert ">Vigente<" in page
    assert "2025: falta la primera semana institucional y los cortes de seguimiento." in page
    assert 'id="start_year" name="start_year" value="2027"' in page
    assert 'href="/reportes/?horizonte=2024"' in page


def test_horizons_page_opens_the_next_horizon_on_the_chosen_instrument(
        admin_web: WebClient, db: Session, make: Factory) -> None:
    other = make.catalog("otro-instrumento")
    db.commit()
    page = admin_web.get("/admin/horizontes/").get_data(as_text=True)
    response = admin_web.post("/admin/horizontes/", {
        "start_year": "2027", "catalog_id": str(other.id), "form_token": token_of(page)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/calendario/2027")
    assert horizons(db) == [(2024, 2026), (2027, 2029)]
    opened = horizon_starting(db, make.secretaria().id, 2027)
    assert opened is not None and opened.catalog_id == other.id
    assert make.secretaria().horizon_start_year == 2024  # current only when 2027 starts
    calendar = admin_web.get("/admin/calendario/2027").get_data(as_text=True)
    assert "<h1>Calendario del horizonte 2027–2029</h1>" in calendar
    assert "2027: falta la primera semana institucional, la fecha límite del PMI, " \
           "la ventana de la autoevaluación y los cortes de seguimiento" in calendar


def test_horizons_page_the_same_form_twice_opens_one_horizon(
        admin_web: WebClient, db: Session) -> None:
    page = admin_web.get("/admin/horizontes/").get_data(as_text=True)
    posted = {"start_year": "2027", "catalog_id": "", "form_token": token_of(page)}
    assert admin_web.post("/admin/horizontes/", posted).status_code == 303
    again = admin_web.post("/admin/horizontes/", posted)
    assert again.status_code == 303
    assert again.headers["Location"].endswith("/admin/horizontes/")
    assert horizons(db) == [(2024, 2026), (2027, 2029)]


@pytest.mark.parametrize(("typed", "message"), [
    ("2025", "El horizonte 2025–2027 se cruza con el horizonte 2024–2026: los horizontes de "
             "una Secretaría no pueden compartir años."),
    ("2024", "El horizonte 2024–2026 ya está abierto."),
    ("dos mil", "Escriba el año en que empieza el horizonte, por ejemplo 2027."),
    ("3000", "Escriba un año de inicio entre 2000 y 2098."),
])
def test_horizons_page_refuses_bad_years_keeping_what_was_typed(
        admin_web: WebClient, db: Session, typed: str, message: str) -> None:
    admin_web.get("/admin/horizontes/")
    response = admin_web.post("/admin/horizontes/", {"start_year": typed, "catalog_id": ""})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="start_year" name="start_year" value="{typed}"' in page
    assert horizons(db) == [(2024, 2026)]


def test_horizons_page_refuses_an_unknown_instrument(admin_web: WebClient, db: Session) -> None:
    admin_web.get("/admin/horizontes/")
    response = admin_web.post("/admin/horizontes/", {"start_year": "2027",
                                                     "catalog_id": "999999"})
    assert response.status_code == 422
    assert "Elija una versión del instrumento de la lista." in response.get_data(as_text=True)
    assert horizons(db) == [(2024, 2026)]


@pytest.mark.parametrize("role", [Role.REVISOR, Role.CONSULTA])
def test_horizons_page_is_read_only_for_the_rest_of_the_secretaria(
        db: Session, make: Factory, web: WebClient, role: Role) -> None:
    user = make.user(role)
    stored_current_horizon(db, make)
    db.commit()
    web.login(user.email)
    page = web.get("/admin/horizontes/").get_data(as_text=True)
    assert "2024–2026" in page
    assert "Abrir el siguiente horizonte" not in page
    assert web.post("/admin/horizontes/", {"start_year": "2027"}).status_code == 403
    assert horizons(db) == [(2024, 2026)]


@pytest.mark.parametrize("role", [Role.RECTOR, Role.EQUIPO])
def test_horizons_page_is_forbidden_to_schools(db: Session, make: Factory, web: WebClient,
                                               role: Role) -> None:
    user = make.user(role)
    db.commit()
    web.login(user.email)
    assert web.get("/admin/horizontes/").status_code == 403


# --- the consolidado of each horizon ----------------------------------------------------------


def test_consolidado_keeps_the_horizons_instrument_when_the_current_one_changes(
        db: Session, make: Factory) -> None:
    """The issue: making guia34-2026 current emptied the running horizon's perfil."""
    seeded = seed(db, make)
    secretaria = make.secretaria()
    mini = make.catalog()
    db.execute(update(HorizonCalendar).where(HorizonCalendar.secretaria_id == secretaria.id)
               .values(catalog_id=mini.id))
    newer = make.catalog("otro-instrumento")
    set_current_catalog(db, newer, actor=seeded.admin)  # to prepare the next cycle
    db.commit()
    data = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)
    assert data.catalog is not None and data.catalog.id == mini.id
    assert data.perfil_schools == 4  # B, C, D and E, as before the switch
    assert data.horizon_label == "2024–2026"


def test_consolidado_shows_each_horizon_with_its_schools_and_instrument(
        db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    secretaria = make.secretaria()
    newer = make.catalog("otro-instrumento")
    open_horizon(db, secretaria, "2027", actor=seeded.admin, catalog_id=newer.id)
    ruta = make.ruta(seeded.schools["F"], State.AUTOEVALUACION_ENVIADA, catalog=newer)
    db.execute(update(Ruta).where(Ruta.id == ruta.id).values(horizon_start_year=2027,
                                                              horizon_end_year=2029))
    db.commit()
    later = consolidate(db, seeded.admin, Filters(horizonte=2027), now=NOW, stalled_days=30)
    assert (later.horizon_label, later.total_rutas) == ("2027–2029", 1)
    assert later.catalog is not None and later.catalog.id == newer.id
    assert [row.school.name for row in later.schools if row.ruta] == ["Institución F"]
    current = consolidate(db, seeded.admin, Filters(), now=NOW, stalled_days=30)
    assert current.total_rutas == 6
    with pytest.raises(NotFound):
        consolidate(db, seeded.admin, Filters(horizonte=2030), now=NOW, stalled_days=30)


def test_consolidado_page_switches_horizon_and_keeps_the_filters(
        db: Session, make: Factory, web: WebClient) -> None:
    seeded = seed(db, make)
    open_horizon(db, make.secretaria(), "2027", actor=seeded.admin,
                 catalog_id=make.catalog("otro-instrumento").id)
    db.commit()
    web.login(seeded.admin.email)
    page = web.get("/reportes/?zona=urbana").get_data(as_text=True)
    assert "Horizonte 2024–2026 · instrumento" in page
    assert '<option value="2024" selected>2024–2026 (vigente)</option>' in page
    assert '<option value="2027">2027–2029 (próximo)</option>' in page
    later = web.get("/reportes/?horizonte=2027&zona=urbana").get_data(as_text=True)
    assert "Horizonte 2027–2029" in later
    assert "Institución A</a>" not in later  # its Ruta is a 2024–2026 one
    assert '<input type="hidden" name="horizonte" value="2027">' in later
    missing = web.get("/reportes/?horizonte=2030")
    assert missing.status_code == 404
    assert "No hay un horizonte que empiece en ese año." in missing.get_data(as_text=True)


def test_export_job_records_its_horizon(db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    open_horizon(db, make.secretaria(), "2027", actor=seeded.admin)
    current, _ = request_export(db, seeded.admin, Filters(), now=datetime.now(UTC))
    later, created = request_export(db, seeded.admin, Filters(horizonte=2027),
                                    now=datetime.now(UTC))
    assert created and later.id != current.id
    assert (current.horizon_start_year, later.horizon_start_year) == (2024, 2027)
    assert later.filters == Filters(horizonte=2027)
    with pytest.raises(NotFound):
        request_export(db, seeded.admin, Filters(horizonte=2031), now=datetime.now(UTC))


# --- the queue --------------------------------------------------------------------------------


def test_queue_shows_the_current_horizon_unless_another_is_chosen(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    secretaria = db.get(Secretaria, admin.secretaria_id)
    assert secretaria is not None
    old = make.ruta(make.school(name="Institución Antigua"), State.CERRADO)
    db.execute(update(Ruta).where(Ruta.id == old.id).values(horizon_start_year=2021,
                                                             horizon_end_year=2023))
    db.add(HorizonCalendar(secretaria_id=secretaria.id, horizon_start_year=2021,
                           horizon_end_year=2023))
    make.ruta(make.school(name="Institución Actual"), State.PMI_FORMULADO)
    db.commit()
    web.login(admin.email)
    page = web.get("/revision/").get_data(as_text=True)
    assert "Institución Actual" in page and "Institución Antigua" not in page
    assert '<option value="2021">2021–2023 (terminado)</option>' in page
    older = web.get("/revision/?horizonte=2021&estado=cerrado").get_data(as_text=True)
    assert "Institución Antigua" in older and "Institución Actual" not in older
    assert 'href="/revision/?horizonte=2021"' in older  # the state tabs keep the horizon
    assert web.get("/revision/?horizonte=2040").status_code == 404


# --- the school import --------------------------------------------------------------------------


def test_school_import_opens_rutas_in_the_current_horizon_and_names_it(
        db: Session, make: Factory) -> None:
    from tests.cuentas.test_school_import import GOOD_FILE
    from workflow.cuentas.school_import import import_schools

    secretaria = make.secretaria()
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)
    # A horizon stored with its own years (four, not the Secretaría's three), and a later one.
    ensure_horizon(db, secretaria, 2024, 2027, actor=None)
    open_horizon(db, secretaria, "2028", actor=admin)
    report = import_schools(db, actor=admin, secretaria=secretaria, content=GOOD_FILE)
    assert report.errors == []
    assert "(horizonte 2024–2027)" in report.summary()
    assert sorted(set(db.scalars(select(Ruta.horizon_end_year)))) == [2027]


def test_horizons_page_says_a_finished_horizon_sends_nothing_more(
        admin_web: WebClient, db: Session, make: Factory) -> None:
    db.add(HorizonCalendar(secretaria_id=make.secretaria().id, horizon_start_year=2021,
                           horizon_end_year=2023))
    db.commit()
    page = admin_web.get("/admin/horizontes/").get_data(as_text=True)
    row = page.split('id="horizonte-2021"')[1].split("</tr>")[0]
    assert ">Terminado<" in row
    assert "Terminado: ya no envía recordatorios" in row
    assert "falta" not in row


def test_calendar_page_says_what_each_year_lacks_and_since_when(
        admin_web: WebClient, db: Session, make: Factory) -> None:
    from datetime import date

    db.execute(update(HorizonCalendar).values(
        opened_at=datetime(2023, 12, 6, 15, 0, tzinfo=UTC)))
    db.commit()
    chosen = admin_web.get("/admin/calendario/?horizonte=2024")
    assert chosen.headers["Location"].endswith("/admin/calendario/2024")
    assert admin_web.post("/admin/calendario/2024", {
        "semana_2024": "2024-01-19", "pmi_deadline": "2024-02-16",
        "self_assessment_opens": "2023-10-02", "self_assessment_closes": "2024-02-02",
        "pmi_lead_days": "7", "returned_after_days": "10", "review_wait_days": "5",
        "checkpoint_lead_days": "7", "checkpoint_grace_days": "3",
        "late_join_grace_days": "30"}).status_code == 302
    page = admin_web.get("/admin/calendario/2024").get_data(as_text=True)
    assert ("2025: falta la primera semana institucional y los cortes de seguimiento — sin "
            "fecha desde el 6 de diciembre de 2023 (apertura del horizonte)") in page
    started = date.today() >= date(2025, 1, 1)
    assert ("el año ya empezó: no se envían sus recordatorios" in page) is started
    assert '<option value="2024" selected>2024–2026 (vigente)</option>' in page
    assert 'id="semana_2025" name="semana_2025" value=""' in page
