"""Three years and a half of daily passes: every reminder each school and revisor receives.

The world: Ibagué's demo calendar 2024–2026 (first semanas institucionales 2024-01-19,
2025-01-17, 2026-01-16; PMI deadline 2024-02-16; six checkpoints, late joiners get 30 days),
three revisores (one never activated the account), and four schools:

- Alfa walks the whole Ruta: autoevaluación, PMI, returned, sent again, approved, seguimiento
  with reports for some checkpoints, closed in November 2026; its 2027–2029 Ruta is returned
  before the deadline and stays returned past it.
- Beta never sends anything, in either horizon.
- Gamma is imported on 2025-05-05; its rector activates the account on 2025-06-10, which gives
  it until 2025-07-10 for its PMI.
- Delta is imported on 2025-05-05 and its rector never activates the account.

The 2027–2029 horizon is opened on 2026-10-01 with only its first year's dates (semana
institucional 2027-01-15, PMI deadline 2027-02-19). The daily pass runs for every day from the
opening of the autoevaluación (2023-10-02) to 2028-03-31; what happens in the world happens at
15:00 in Bogotá, after that day's 06:00 pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from demo.calendario import seed_demo_calendar
from jobs.daily import run_daily_pass
from tests.conftest import Factory
from workflow.dates import BOGOTA
from workflow.horizontes.calendar import LEAD_TIME_DEFAULTS, CalendarData, save_calendar
from workflow.horizontes.horizons import open_horizon
from workflow.horizontes.models import ReminderSent
from workflow.horizontes.opening import open_ruta
from workflow.models import OutboxMessage, Ruta, RutaTransition, School, Secretaria, User
from workflow.roles import Role
from workflow.seguimiento.models import FollowUpReport, ReportStatus
from workflow.states import State, Trigger

FIRST_DAY, LAST_DAY = date(2023, 10, 2), date(2028, 3, 31)

# (day, Ruta, rule, to, cc): people by short name.
Row = tuple[date, str, str, tuple[str, ...], tuple[str, ...]]
REVIEWERS = ("R1", "R2")  # every activated revisor, in account order


def bogota(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=BOGOTA).astimezone(UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def weekly(first: str, last_monday: str, ruta: str, to: str) -> list[Row]:
    """«PMI vencido»: the first day after the deadline, then every Monday (a new ISO week)."""
    day = d(first)
    rows: list[Row] = [(day, ruta, "pmi_vencido", (to,), REVIEWERS)]
    monday = day + timedelta(days=7 - day.weekday())
    while monday <= d(last_monday):
        rows.append((monday, ruta, "pmi_vencido", (to,), REVIEWERS))
        monday += timedelta(days=7)
    return rows


def one(day: str, ruta: str, rule: str, to: tuple[str, ...],
        cc: tuple[str, ...] = ()) -> Row:
    return (d(day), ruta, rule, to, cc)


EXPECTED: list[Row] = [
    # --- 2024–2026 ------------------------------------------------------------------------
    one("2024-01-20", "Alfa 2024", "pmi_pendiente", ("rector Alfa",)),
    one("2024-01-20", "Beta 2024", "pmi_pendiente", ("rector Beta",)),
    one("2024-02-09", "Beta 2024", "pmi_proximo", ("rector Beta",)),
    # Alfa sent its PMI on 02-05; nobody took it for more than five days.
    one("2024-02-11", "Alfa 2024", "revision_pendiente", REVIEWERS),
    # Alfa, returned on 02-16 (the deadline), gets «devuelta» after ten days, never «vencido».
    one("2024-02-27", "Alfa 2024", "devuelta_sin_reenviar", ("rector Alfa",)),
    *weekly("2024-02-17", "2026-12-28", "Beta 2024", "rector Beta"),
    # Sent again on 03-04, taken on 03-05, approved on 03-08: no wait of more than five days.
    one("2024-06-21", "Alfa 2024", "corte_proximo", ("rector Alfa",)),
    one("2024-11-22", "Alfa 2024", "corte_proximo", ("rector Alfa",)),
    one("2025-06-20", "Alfa 2024", "corte_proximo", ("rector Alfa",)),
    one("2025-06-30", "Alfa 2024", "corte_vencido", ("rector Alfa",)),  # no report
    # Gamma: imported 2025-05-05, activated 2025-06-10, its own deadline 2025-07-10.
    # A new year of seguimiento, after each later year's first semana institucional.
    one("2025-01-18", "Alfa 2024", "seguimiento_anual", ("rector Alfa",)),
    one("2026-01-17", "Alfa 2024", "seguimiento_anual", ("rector Alfa",)),
    one("2026-01-17", "Gamma 2024", "seguimiento_anual", ("rector Gamma",)),
    one("2025-06-11", "Gamma 2024", "pmi_pendiente", ("rector Gamma",)),
    one("2025-07-03", "Gamma 2024", "pmi_proximo", ("rector Gamma",)),
    one("2025-07-11", "Gamma 2024", "pmi_vencido", ("rector Gamma",), REVIEWERS),
    one("2025-07-14", "Gamma 2024", "pmi_vencido", ("rector Gamma",), REVIEWERS),
    one("2025-07-21", "Gamma 2024", "revision_pendiente", REVIEWERS),  # sent 07-15
    one("2025-11-21", "Alfa 2024", "corte_proximo", ("rector Alfa",)),
    one("2025-11-21", "Gamma 2024", "corte_proximo", ("rector Gamma",)),
    one("2026-06-19", "Alfa 2024", "corte_proximo", ("rector Alfa",)),
    one("2026-06-19", "Gamma 2024", "corte_proximo", ("rector Gamma",)),
    one("2026-06-29", "Gamma 2024", "corte_vencido", ("rector Gamma",)),
    one("2026-11-20", "Alfa 2024", "corte_proximo", ("rector Alfa",)),
    one("2026-11-20", "Gamma 2024", "corte_proximo", ("rector Gamma",)),
    # Alfa closed its Ruta on 11-25: no «informe pendiente» for the last checkpoint.
    one("2026-11-30", "Gamma 2024", "corte_vencido", ("rector Gamma",)),
    # --- 2027–2029 (only 2027's dates) ----------------------------------------------------
    one("2027-01-16", "Beta 2027", "pmi_pendiente", ("rector Beta",)),
    one("2027-01-17", "Alfa 2027", "revision_pendiente", ("R1",)),  # taken by R1 on 01-11
    one("2027-01-31", "Alfa 2027", "devuelta_sin_reenviar", ("rector Alfa",)),
    one("2027-02-12", "Beta 2027", "pmi_proximo", ("rector Beta",)),
    *weekly("2027-02-20", "2028-03-27", "Beta 2027", "rector Beta"),
    one("2027-03-21", "Alfa 2027", "revision_pendiente", REVIEWERS),  # sent again 03-15
    # Alfa 2027 is in seguimiento from 2027-04-01, but 2028 has no dates: no reminder of 2028.
]


# What the schools and revisores do (at 15:00 in Bogotá): (day, Ruta, trigger, new state,
# the revisor who takes it). A state change as its service makes it: state, moment, log row.
MOVES: list[tuple[str, str, Trigger, State, str | None]] = [
    ("2024-01-25", "Alfa 2024", Trigger.ENVIAR_AUTOEVALUACION, State.AUTOEVALUACION_ENVIADA,
     None),
    ("2024-02-05", "Alfa 2024", Trigger.FORMULAR_PMI, State.PMI_FORMULADO, None),
    ("2024-02-12", "Alfa 2024", Trigger.TOMAR_REVISION, State.EN_REVISION, "R1"),
    ("2024-02-16", "Alfa 2024", Trigger.DEVOLVER, State.AUTOEVALUACION_ENVIADA, None),
    ("2024-03-04", "Alfa 2024", Trigger.FORMULAR_PMI, State.PMI_FORMULADO, None),
    ("2024-03-05", "Alfa 2024", Trigger.TOMAR_REVISION, State.EN_REVISION, "R1"),
    ("2024-03-08", "Alfa 2024", Trigger.APROBAR, State.APROBADO, None),
    ("2024-04-01", "Alfa 2024", Trigger.INICIAR_SEGUIMIENTO, State.SEGUIMIENTO, None),
    ("2025-07-15", "Gamma 2024", Trigger.FORMULAR_PMI, State.PMI_FORMULADO, None),
    ("2025-07-22", "Gamma 2024", Trigger.TOMAR_REVISION, State.EN_REVISION, "R2"),
    ("2025-07-25", "Gamma 2024", Trigger.APROBAR, State.APROBADO, None),
    ("2025-08-01", "Gamma 2024", Trigger.INICIAR_SEGUIMIENTO, State.SEGUIMIENTO, None),
    ("2026-11-25", "Alfa 2024", Trigger.CERRAR, State.CERRADO, None),
    ("2027-01-08", "Alfa 2027", Trigger.ENVIAR_AUTOEVALUACION, State.AUTOEVALUACION_ENVIADA,
     None),
    ("2027-01-10", "Alfa 2027", Trigger.FORMULAR_PMI, State.PMI_FORMULADO, None),
    ("2027-01-11", "Alfa 2027", Trigger.TOMAR_REVISION, State.EN_REVISION, "R1"),
    ("2027-01-20", "Alfa 2027", Trigger.DEVOLVER, State.AUTOEVALUACION_ENVIADA, None),
    ("2027-03-15", "Alfa 2027", Trigger.FORMULAR_PMI, State.PMI_FORMULADO, None),
    ("2027-03-22", "Alfa 2027", Trigger.TOMAR_REVISION, State.EN_REVISION, "R1"),
    ("2027-03-25", "Alfa 2027", Trigger.APROBAR, State.APROBADO, None),
    ("2027-04-01", "Alfa 2027", Trigger.INICIAR_SEGUIMIENTO, State.SEGUIMIENTO, None),
]
# Seguimiento reports sent: (day, Ruta, checkpoint index in the 2024–2026 calendar).
REPORTS: list[tuple[str, str, int]] = [
    ("2024-06-26", "Alfa 2024", 0), ("2024-11-27", "Alfa 2024", 1),
    ("2025-11-25", "Gamma 2024", 3), ("2025-11-26", "Alfa 2024", 3),
    ("2026-06-24", "Alfa 2024", 4),
]


class World:
    """The schools, people and Rutas of the test, and what happens to them on which day."""

    def __init__(self, db: Session, make: Factory) -> None:
        self.db, self.make = db, make
        self.secretaria = make.secretaria()
        self.calendar = seed_demo_calendar(db, self.secretaria)
        self.people: dict[str, str] = {}  # e-mail → short name
        self.rutas: dict[int, str] = {}  # Ruta id → short name
        self.by_name: dict[str, Ruta] = {}
        self.reviewers = {name: self.person(Role.REVISOR, name,
                                            activated=None if name == "R3" else FIRST_DAY)
                          for name in ("R1", "R2", "R3")}
        for school in ("Alfa", "Beta"):
            self.join(school, FIRST_DAY, activated=FIRST_DAY)
        db.commit()

    def person(self, role: Role, name: str, *, school_name: str | None = None,
               activated: date | None) -> User:
        school = self.by_name[f"{school_name} 2024"].school if school_name else None
        user = self.make.user(role, school=school,
                              email=f"{name.lower().replace(' ', '.')}@prueba.co")
        user.activated_at = None if activated is None else bogota(activated, 15)
        self.people[user.email] = name
        return user

    def join(self, name: str, day: date, *, activated: date | None) -> User:
        """The school is imported on ``day`` with its 2024–2026 Ruta and its rector."""
        school = self.make.school(self.secretaria, name=f"Institución Educativa {name}")
        self.open(school, name, 2024, day)
        return self.person(Role.RECTOR, f"rector {name}", school_name=name, activated=activated)

    def open(self, school: School, name: str, start_year: int, day: date) -> Ruta:
        ruta = open_ruta(self.db, school, actor=None, start_year=start_year,
                         now=bogota(day, 15))
        self.rutas[ruta.id] = f"{name} {start_year}"
        self.by_name[f"{name} {start_year}"] = ruta
        return ruta

    def move(self, name: str, trigger: Trigger, to: State, day: date, *,
             reviewer: User | None = None, observations: str | None = None) -> None:
        """The state change a service makes: the new state, its moment, the log row."""
        ruta, at = self.by_name[name], bogota(day, 15)
        self.db.add(RutaTransition(ruta=ruta, trigger=trigger.value, from_state=ruta.state,
                                   to_state=to, at=at, observations=observations, extra={},
                                   actor_id=reviewer.id if reviewer else None))
        ruta.state, ruta.state_changed_at = to, at
        if reviewer is not None:
            ruta.reviewer = reviewer

    def report(self, name: str, checkpoint: int, day: date) -> None:
        self.db.add(FollowUpReport(
            ruta_id=self.by_name[name].id, checkpoint_id=self.calendar.checkpoints[checkpoint].id,
            status=ReportStatus.ENVIADO, submitted_at=bogota(day, 15),
            last_submitted_at=bogota(day, 15), submissions=1))

    def open_next_horizon(self, day: date) -> None:
        horizon = open_horizon(self.db, self.secretaria, "2027", actor=None,
                               now=bogota(day, 15))
        save_calendar(self.db, secretaria=self.secretaria, horizon_start_year=2027,
                      horizon_end_year=2029, actor=None, now=bogota(day, 15),
                      data=CalendarData(first_weeks={2027: "2027-01-15"},
                                        pmi_deadline="2027-02-19", self_assessment_opens="",
                                        self_assessment_closes="",
                                        lead_times={name: str(value) for name, value
                                                    in LEAD_TIME_DEFAULTS.items()}))
        assert horizon.year_is_set(2027) and not horizon.year_is_set(2028)

    def events(self) -> dict[date, list[Callable[[date], object]]]:
        by_day: dict[date, list[Callable[[date], object]]] = {}
        for text, name, trigger, to, reviewer in MOVES:
            by_day.setdefault(d(text), []).append(
                lambda day, name=name, trigger=trigger, to=to, reviewer=reviewer: self.move(
                    name, trigger, to, day, reviewer=self.reviewers[reviewer] if reviewer
                    else None,
                    observations="Las metas no tienen unidad de medida."
                    if trigger is Trigger.DEVOLVER else None))
        for text, name, checkpoint in REPORTS:
            by_day.setdefault(d(text), []).append(
                lambda day, name=name, checkpoint=checkpoint: self.report(name, checkpoint, day))
        others: list[tuple[str, Callable[[date], object]]] = [
            # Gamma and Delta are imported; Delta's rector never activates the account.
            ("2025-05-05", lambda day: self.join("Gamma", day, activated=None)),
            ("2025-05-05", lambda day: self.join("Delta", day, activated=None)),
            ("2025-06-10", lambda day: self.activate("rector Gamma", day)),
            ("2026-10-01", self.open_next_horizon),
            ("2026-11-02", lambda day: self.open(self.by_name["Alfa 2024"].school, "Alfa", 2027,
                                                 day)),
            ("2026-11-02", lambda day: self.open(self.by_name["Beta 2024"].school, "Beta", 2027,
                                                 day)),
        ]
        for text, action in others:
            by_day.setdefault(d(text), []).append(action)
        return by_day

    def activate(self, name: str, day: date) -> None:
        email = next(email for email, short in self.people.items() if short == name)
        person = self.db.scalars(select(User).where(User.email == email)).one()
        person.activated_at = bogota(day, 15)


@pytest.fixture
def commits_without_waiting_for_the_disk(app: Flask) -> Iterator[None]:
    """1,643 passes commit 1,643 times: the test does not wait for each commit to reach the
    disk (what is committed and read back is the same; only durability after a crash, which
    this test does not look at, is given up)."""
    engine = app.extensions["ruta_db"].engine
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _no_wait(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF" if sqlite else "SET synchronous_commit TO off")
        cursor.close()
        if not sqlite:
            dbapi_connection.commit()  # a SET inside a transaction rolled back is undone

    engine.dispose()  # connections opened before the listener get it too
    yield
    # The suite's engines outlive the test (one per database URL): the next test commits as
    # usual.
    event.remove(engine, "connect", _no_wait)
    engine.dispose()


def days() -> Iterator[date]:
    day = FIRST_DAY
    while day <= LAST_DAY:
        yield day
        day += timedelta(days=1)


def test_three_years_of_daily_passes_send_exactly_the_expected_reminders(
        commits_without_waiting_for_the_disk: None, app: Flask, db: Session,
        make: Factory) -> None:
    world = World(db, make)
    events = world.events()
    received: list[Row] = []
    advanced: list[tuple[date, list[str]]] = []
    for day in days():
        result = run_daily_pass(app, now=bogota(day, 6))
        assert result.ran
        received += [(day, world.rutas[item.ruta_id], item.rule.value,
                      tuple(world.people[email] for email in item.to),
                      tuple(world.people[email] for email in item.cc))
                     for item in result.queued]
        if result.advanced:
            advanced.append((day, result.advanced))
        for happening in events.get(day, []):
            happening(day)
        db.commit()

    def ordered(rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda row: (row[0], row[1], row[2]))

    # Readable when it fails: what was expected and not sent, and what was sent unexpectedly.
    assert (ordered(list(set(EXPECTED) - set(received))),
            ordered(list(set(received) - set(EXPECTED)))) == ([], [])
    assert ordered(received) == ordered(EXPECTED)
    assert len(set(received)) == len(received)  # no reminder twice
    # Nobody who never activated the account is written to, nor copied.
    everyone = {name for row in received for name in (*row[3], *row[4])}
    assert everyone == {"rector Alfa", "rector Beta", "rector Gamma", "R1", "R2"}
    # Nothing after the 2024–2026 horizon for its Rutas.
    assert max(row[0] for row in received if row[1].endswith("2024")) == date(2026, 12, 28)
    # The pass made the second horizon current on its first day.
    assert advanced == [(date(2027, 1, 1), ["Secretaría de Educación de Ibagué: 2027–2029"])]
    db.expire_all()
    assert db.get(Secretaria, world.secretaria.id).horizon_start_year == 2027
    # Every reminder is a row and an e-mail.
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == len(EXPECTED)
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind.like("recordatorio_%"))) == len(EXPECTED)
    # Gamma's first «vencido» counts from its own deadline, not the horizon's 2024-02-16.
    gamma = db.scalars(select(OutboxMessage).where(
        OutboxMessage.ruta_id == world.by_name["Gamma 2024"].id,
        OutboxMessage.kind == "recordatorio_pmi_vencido").order_by(OutboxMessage.id)).first()
    assert gamma is not None
    assert "venció el 10 de julio de 2025 (hace 1 día)" in " ".join(gamma.text_body.split())
