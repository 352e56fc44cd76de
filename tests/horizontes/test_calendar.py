"""The calendar of a horizon: validation in Spanish, and the administrator's page."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from tests.conftest import Factory, WebClient
from tests.seguimiento.test_seguimiento import build_plan, opened
from workflow.errors import InvalidInput
from workflow.horizontes.calendar import (
    LEAD_TIME_DEFAULTS,
    CalendarData,
    CheckpointData,
    add_checkpoint,
    calendar_for,
    save_calendar,
)
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar, InstitutionalWeek
from workflow.models import Secretaria
from workflow.roles import Role


def form(**changes: str) -> dict[str, str]:
    """The page's form, filled with Ibagué's 2024–2026 dates, with ``changes``."""
    data = {
        "semana_2024": "2024-01-19", "semana_2025": "2025-01-17", "semana_2026": "2026-01-16",
        "pmi_deadline": "2024-02-16", "self_assessment_opens": "2023-10-02",
        "self_assessment_closes": "2024-02-02",
        **{name: str(value) for name, value in LEAD_TIME_DEFAULTS.items()},
    }
    data.update(changes)
    return data


def data_of(values: dict[str, str]) -> CalendarData:
    return CalendarData(
        first_weeks={year: values[f"semana_{year}"] for year in (2024, 2025, 2026)},
        pmi_deadline=values["pmi_deadline"],
        self_assessment_opens=values["self_assessment_opens"],
        self_assessment_closes=values["self_assessment_closes"],
        lead_times={name: values[name] for name in LEAD_TIME_DEFAULTS})


def save(db: Session, secretaria: Secretaria, **changes: str) -> HorizonCalendar:
    return save_calendar(db, secretaria=secretaria, horizon_start_year=2024,
                         horizon_end_year=2026, data=data_of(form(**changes)), actor=None)


def errors_of(db: Session, secretaria: Secretaria, **changes: str) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as refused:
        save(db, secretaria, **changes)
    return refused.value.errors


# --- the domain ---------------------------------------------------------------------------


def test_save_calendar_stores_every_date_and_lead_time(db: Session, make: Factory) -> None:
    calendar = save(db, make.secretaria(), pmi_lead_days="5")
    db.commit()
    assert [(week.year, week.last_day) for week in calendar.weeks] == [
        (2024, date(2024, 1, 19)), (2025, date(2025, 1, 17)), (2026, date(2026, 1, 16))]
    assert (calendar.pmi_deadline, calendar.self_assessment_opens,
            calendar.self_assessment_closes) == (date(2024, 2, 16), date(2023, 10, 2),
                                                 date(2024, 2, 2))
    assert (calendar.pmi_lead_days, calendar.returned_after_days, calendar.review_wait_days,
            calendar.checkpoint_lead_days, calendar.checkpoint_grace_days) == (5, 10, 5, 7, 3)


def test_save_calendar_deadline_before_the_semana_institucional_is_refused(
        db: Session, make: Factory) -> None:
    assert errors_of(db, make.secretaria(), pmi_deadline="2024-01-12") == {
        "pmi_deadline": [
            "La fecha límite del PMI (12 de enero de 2024) debe ser posterior al último día "
            "de la primera semana institucional de 2024 (19 de enero de 2024): la Circular "
            "0488 pide el reporte después de esa semana."],
        "self_assessment_closes": [
            "La autoevaluación debe cerrar (2 de febrero de 2024) a más tardar en la fecha "
            "límite del PMI (12 de enero de 2024): el PMI parte de ella."],
    }


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"semana_2025": "2024-01-26"}, "semana_2025",
     "El último día de la primera semana institucional de 2025 debe caer en 2025; escribió "
     "26 de enero de 2024."),
    ({"semana_2024": "2024-02-30"}, "semana_2024",
     "El último día de la primera semana institucional de 2024 no es una fecha válida: use el "
     "formato año-mes-día, por ejemplo 2024-02-16."),
    ({"self_assessment_closes": ""}, "self_assessment_closes",
     "Escriba también la fecha en que cierra la autoevaluación: la ventana tiene inicio y "
     "fin."),
    ({"pmi_deadline": "16/02/2024"}, "pmi_deadline",
     "La fecha límite de reporte del PMI no es una fecha válida: use el formato año-mes-día, "
     "por ejemplo 2024-02-16."),
    ({"pmi_deadline": "2027-02-16"}, "pmi_deadline",
     "La fecha límite del PMI debe caer dentro del horizonte 2024–2026."),
    ({"self_assessment_opens": "2024-02-05"}, "self_assessment_closes",
     "La autoevaluación no puede cerrar (2 de febrero de 2024) antes de abrir (5 de febrero "
     "de 2024)."),
    ({"self_assessment_opens": "2021-10-01"}, "self_assessment_opens",
     "La autoevaluación no puede abrir antes de 2023."),
    ({"pmi_lead_days": "0"}, "pmi_lead_days",
     "«Días antes del plazo del PMI para el segundo recordatorio» debe estar entre 1 y 60 "
     "días."),
    ({"review_wait_days": "cinco"}, "review_wait_days",
     "«Días que un PMI puede esperar a un revisor antes de recordarlo» debe ser un número "
     "entero de días."),
])
def test_save_calendar_impossible_values_are_refused_in_spanish(
        db: Session, make: Factory, changes: dict[str, str], field: str, message: str) -> None:
    assert errors_of(db, make.secretaria(), **changes) == {field: [message]}
    assert db.scalar(select(func.count()).select_from(HorizonCalendar)) == 0


def test_save_calendar_later_years_may_wait_until_their_dates_are_published(
        db: Session, make: Factory) -> None:
    """Each year's school calendar is published the year before: 2025 and 2026 stay blank."""
    calendar = save(db, make.secretaria(), semana_2025="", semana_2026="")
    db.commit()
    assert [week.year for week in calendar.weeks] == [2024]
    assert (calendar.year_is_set(2024), calendar.year_is_set(2025)) == (True, False)
    again = save(db, calendar.secretaria, semana_2025="2025-01-17", semana_2026="")
    assert [week.year for week in again.weeks] == [2024, 2025]


def test_save_calendar_a_year_outside_the_horizon_is_refused(
        db: Session, make: Factory) -> None:
    data = data_of(form())
    data.first_weeks[2027] = "2027-01-15"
    with pytest.raises(InvalidInput) as refused:
        save_calendar(db, secretaria=make.secretaria(), horizon_start_year=2024,
                      horizon_end_year=2026, data=data, actor=None)
    assert refused.value.errors == {"semana_2027": [
        "El año 2027 no pertenece al horizonte 2024–2026."]}
    assert db.scalar(select(func.count()).select_from(InstitutionalWeek)) == 0


def test_save_calendar_deadline_after_a_checkpoint_is_refused(
        db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    seed_demo_calendar(db, secretaria)
    db.commit()
    assert errors_of(db, secretaria, pmi_deadline="2024-07-05") == {"pmi_deadline": [
        "La fecha límite del PMI debe ser anterior a todos los cortes de seguimiento; "
        "«Seguimiento 1er semestre 2024» es el 28 de junio de 2024."]}


@pytest.mark.parametrize(("name", "due_on", "errors"), [
    ("", "2024-06-28", {"name": [
        "Escriba el nombre del corte, por ejemplo «Seguimiento 1er semestre 2024»."]}),
    ("Seguimiento 1ER semestre 2024", "2024-07-05", {"name": [
        "Ya hay un corte llamado «Seguimiento 1ER semestre 2024» en este horizonte."]}),
    ("Corte temprano", "2024-02-10", {"due_on": [
        "Un corte de seguimiento (10 de febrero de 2024) debe ser posterior a la fecha límite "
        "del PMI (16 de febrero de 2024)."]}),
    ("Corte tardío", "2027-06-25", {"due_on": [
        "La fecha del corte debe caer dentro del horizonte 2024–2026."]}),
    ("Corte sin fecha", "", {"due_on": ["Escriba la fecha del corte."]}),
])
def test_add_checkpoint_refuses_impossible_ones(db: Session, make: Factory, name: str,
                                                due_on: str,
                                                errors: dict[str, list[str]]) -> None:
    calendar = seed_demo_calendar(db, make.secretaria())
    db.commit()
    with pytest.raises(InvalidInput) as refused:
        add_checkpoint(db, calendar, CheckpointData(name=name, due_on=due_on))
    assert refused.value.errors == errors


# --- the page -----------------------------------------------------------------------------


@pytest.fixture
def admin_web(db: Session, make: Factory, web: WebClient) -> WebClient:
    admin = make.user(Role.ADMINISTRADOR, email="admin@ibague.gov.co")
    db.commit()
    web.login(admin.email)
    return web


def test_calendar_page_of_a_horizon_without_dates_shows_an_empty_form(
        admin_web: WebClient) -> None:
    response = admin_web.get("/admin/calendario/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/calendario/2024")
    page = admin_web.get("/admin/calendario/2024").get_data(as_text=True)
    assert "<h1>Calendario del horizonte 2024–2026</h1>" in page
    assert 'id="semana_2026" name="semana_2026" value=""' in page
    assert 'id="pmi_lead_days" name="pmi_lead_days" value="7"' in page


def test_calendar_page_saves_the_dates(admin_web: WebClient, db: Session) -> None:
    response = admin_web.post("/admin/calendario/2024", form())
    assert response.status_code == 302
    page = admin_web.get(response.headers["Location"]).get_data(as_text=True)
    assert "Se guardó el calendario del horizonte 2024–2026." in page
    assert 'id="pmi_deadline" name="pmi_deadline" value="2024-02-16"' in page
    calendar = db.scalars(select(HorizonCalendar)).one()
    assert calendar.first_week_end(2024) == date(2024, 1, 19)
    assert calendar.updated_by_id is not None


def test_calendar_page_deadline_before_the_week_answers_422_and_saves_nothing(
        admin_web: WebClient, db: Session) -> None:
    response = admin_web.post("/admin/calendario/2024", form(pmi_deadline="2024-01-15",
                                                             self_assessment_closes="2024-01-10"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert ("La fecha límite del PMI (15 de enero de 2024) debe ser posterior al último día de "
            "la primera semana institucional de 2024 (19 de enero de 2024)") in page
    assert 'value="2024-01-15" aria-invalid="true"' in page
    assert db.scalar(select(func.count()).select_from(HorizonCalendar)) == 0


def test_calendar_page_edits_an_existing_calendar(admin_web: WebClient, db: Session,
                                                  make: Factory) -> None:
    seed_demo_calendar(db, make.secretaria())
    db.commit()
    response = admin_web.post("/admin/calendario/2024", form(pmi_deadline="2024-02-23",
                                                             review_wait_days="8"))
    assert response.status_code == 302
    db.expire_all()
    calendar = db.scalars(select(HorizonCalendar)).one()
    assert (calendar.pmi_deadline, calendar.review_wait_days) == (date(2024, 2, 23), 8)
    assert len(calendar.checkpoints) == 6


def test_calendar_page_adds_edits_and_deletes_a_checkpoint(
        admin_web: WebClient, db: Session, make: Factory) -> None:
    calendar = seed_demo_calendar(db, make.secretaria())
    db.commit()
    added = admin_web.post("/admin/calendario/2024/cortes",
                           {"name": "Seguimiento extraordinario 2024", "due_on": "2024-09-13"})
    assert added.status_code == 302
    point = db.scalars(select(FollowUpCheckpoint).where(
        FollowUpCheckpoint.name == "Seguimiento extraordinario 2024")).one()
    assert point.due_on == date(2024, 9, 13)

    edited = admin_web.post(f"/admin/calendario/2024/cortes/{point.id}",
                            {"name": "Seguimiento de mitad de año", "due_on": "2024-09-20"})
    assert edited.status_code == 302
    db.expire_all()
    assert (point.name, point.due_on) == ("Seguimiento de mitad de año", date(2024, 9, 20))

    refused = admin_web.post(f"/admin/calendario/2024/cortes/{point.id}",
                             {"name": "Seguimiento de mitad de año", "due_on": "2024-01-05"})
    assert refused.status_code == 422
    assert ("Un corte de seguimiento (5 de enero de 2024) debe ser posterior a la fecha límite "
            "del PMI (16 de febrero de 2024).") in refused.get_data(as_text=True)

    deleted = admin_web.post(f"/admin/calendario/2024/cortes/{point.id}/eliminar")
    assert deleted.status_code == 302
    assert db.scalar(select(func.count()).select_from(FollowUpCheckpoint).where(
        FollowUpCheckpoint.calendar_id == calendar.id)) == 6


def test_calendar_page_keeps_a_checkpoint_a_school_reported_on(
        admin_web: WebClient, db: Session, make: Factory) -> None:
    plan = build_plan(make)
    opened(db, plan)
    point = plan.june
    response = admin_web.post(f"/admin/calendario/2024/cortes/{point.id}/eliminar")
    assert response.status_code == 422
    assert (f"El corte «{point.name}» ya tiene 1 informe de seguimiento"
            in response.get_data(as_text=True))
    db.expire_all()
    assert db.get(FollowUpCheckpoint, point.id) is not None


def test_calendar_page_checkpoint_may_come_before_the_other_dates(
        admin_web: WebClient, db: Session) -> None:
    """Dates are entered when known: a checkpoint does not wait for the PMI deadline."""
    response = admin_web.post("/admin/calendario/2024/cortes",
                              {"name": "Seguimiento 1er semestre 2024", "due_on": "2024-06-28"})
    assert response.status_code == 302
    assert [point.due_on for point in db.scalars(select(FollowUpCheckpoint))] == [
        date(2024, 6, 28)]


def test_a_checkpoint_before_its_years_semana_institucional_is_refused(
        db: Session, make: Factory) -> None:
    calendar = save(db, make.secretaria())
    with pytest.raises(InvalidInput) as refused:
        add_checkpoint(db, calendar, CheckpointData("Seguimiento temprano 2025", "2025-01-10"))
    assert refused.value.errors == {"due_on": [
        "Un corte de seguimiento (10 de enero de 2025) debe ser posterior a la primera semana "
        "institucional de 2025, que termina el 17 de enero de 2025."]}


def test_calendar_page_other_secretarias_checkpoint_is_not_found(
        admin_web: WebClient, db: Session, make: Factory) -> None:
    other = make.secretaria(name="Secretaría de Educación del Tolima", divipola="73")
    calendar = seed_demo_calendar(db, other)
    db.commit()
    point = calendar.checkpoints[0]
    response = admin_web.post(f"/admin/calendario/2024/cortes/{point.id}",
                              {"name": "Cambiado", "due_on": "2024-06-28"})
    assert response.status_code == 404
    assert admin_web.post(
        f"/admin/calendario/2024/cortes/{point.id}/eliminar").status_code == 404
    db.expire_all()
    assert point.name == "Seguimiento 1er semestre 2024"


def test_calendar_page_unknown_horizon_is_not_found(admin_web: WebClient) -> None:
    assert admin_web.get("/admin/calendario/2030").status_code == 404


@pytest.mark.parametrize("role", [Role.REVISOR, Role.CONSULTA, Role.RECTOR, Role.EQUIPO])
def test_calendar_page_is_forbidden_to_everyone_but_administrators(
        db: Session, make: Factory, web: WebClient, role: Role) -> None:
    user = make.user(role)
    seed_demo_calendar(db, make.secretaria())
    db.commit()
    web.login(user.email)
    assert web.get("/admin/calendario/2024").status_code == 403
    assert web.post("/admin/calendario/2024", form(pmi_deadline="2024-03-01")).status_code == 403
    assert web.post("/admin/calendario/2024/cortes",
                    {"name": "Otro", "due_on": "2024-09-13"}).status_code == 403
    db.expire_all()
    secretaria = make.secretaria()
    calendar = calendar_for(db, secretaria.id, 2024)
    assert calendar is not None and calendar.pmi_deadline == date(2024, 2, 16)
    assert len(calendar.checkpoints) == 6


def test_calendar_page_lists_the_reminder_rules(admin_web: WebClient) -> None:
    page = admin_web.get("/admin/calendario/2024").get_data(as_text=True)
    assert "<dt>Plazo del PMI vencido</dt>" in page
    assert ("Vencida la fecha límite, una vez por semana, a cada Ruta que aún no ha enviado el "
            "PMI.") in page


def test_demo_command_seeds_the_2024_calendar(app: Flask, db: Session) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--schools", "3", "--password",
                                                "clave-demo-larga"])
    assert result.exit_code == 0, result.output
    calendar = db.scalars(select(HorizonCalendar)
                          .where(HorizonCalendar.horizon_start_year == 2024)).one()
    assert calendar.first_week_end(2024) == date(2024, 1, 19)
    assert calendar.pmi_deadline == date(2024, 2, 16)
    assert [point.name for point in calendar.checkpoints][:2] == [
        "Seguimiento 1er semestre 2024", "Seguimiento 2.º semestre 2024"]
