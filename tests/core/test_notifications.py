"""Every transition queues its e-mails in the same transaction, to the right people, with a
link to where they act; a transition that does not happen queues nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from jobs.deliver import deliver_pending
from ruta import create_app
from tests.conftest import PASSING_RUBRIC, PASSING_RUBRIC_FORM, Factory, WebClient, app_config
from tests.smtp import SmtpServer, mail_config, smtp_fixture  # noqa: F401 (a fixture)
from workflow import notifications
from workflow.models import OutboxMessage, OutboxStatus, Ruta, RutaTransition, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.states import TRANSITIONS, State, Trigger

BASE_URL = "https://ruta.ibague.gov.co"
SCHOOL = "Institución Educativa San Simón"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """conftest's app, with a public address for links and mail really sent."""
    application = create_app(app_config(database_url, RUTA_BASE_URL=BASE_URL, **mail_config()))
    yield application
    application.extensions["ruta_db"].dispose()


@dataclass
class People:
    ruta: Ruta
    rector: User
    team: list[User]
    reviewers: list[User]
    admin: User

    def emails(self, users: list[User]) -> list[str]:
        return sorted(user.email for user in users)


@pytest.fixture
def people(db: Session, make: Factory) -> People:
    """A school with its rector and team, the Secretaría's revisores, and people who must
    not receive anything: inactive accounts, another school's, another Secretaría's."""
    secretaria = make.secretaria()
    school = make.school(secretaria, name=SCHOOL)
    rector = make.user(Role.RECTOR, school=school, email="rectora@sansimon.edu.co")
    team = [make.user(Role.EQUIPO, school=school, email="equipo.b@sansimon.edu.co"),
            make.user(Role.EQUIPO, school=school, email="equipo.a@sansimon.edu.co")]
    make.user(Role.EQUIPO, school=school, email="retirado@sansimon.edu.co", active=False)
    reviewers = [make.user(Role.REVISOR, secretaria=secretaria, email="revisor.b@ibague.gov.co"),
                 make.user(Role.REVISOR, secretaria=secretaria, email="revisor.a@ibague.gov.co")]
    make.user(Role.REVISOR, secretaria=secretaria, email="inactivo@ibague.gov.co", active=False)
    other_secretaria = make.secretaria(name="Secretaría de Educación del Tolima", divipola="73")
    make.user(Role.REVISOR, secretaria=other_secretaria, email="revisor@tolima.gov.co")
    make.user(Role.RECTOR, school=make.school(secretaria), email="otro.rector@prueba.co")
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria, email="admin@ibague.gov.co")
    ruta = make.ruta(school=school)
    db.commit()
    return People(ruta, rector, team, reviewers, admin)


def outbox_rows(db: Session) -> list[OutboxMessage]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def last_entry(db: Session, ruta: Ruta) -> RutaTransition:
    return db.scalars(select(RutaTransition).where(RutaTransition.ruta_id == ruta.id)
                      .order_by(RutaTransition.id.desc()).limit(1)).one()


def move(db: Session, ruta: Ruta, state: State) -> None:
    ruta.state = state
    db.commit()


# (start, trigger, who acts, form, kind, audience, subject, to, cc)
CASES: list[tuple[State, Trigger, str, dict[str, str], str, str, str, str, str]] = [
    (State.BORRADOR, Trigger.ENVIAR_AUTOEVALUACION, "rector", {}, "autoevaluacion_enviada",
     "revisores", f"{SCHOOL} envió su autoevaluación institucional", "reviewers", ""),
    (State.AUTOEVALUACION_ENVIADA, Trigger.FORMULAR_PMI, "rector", {}, "pmi_enviado",
     "revisores", f"PMI por revisar: {SCHOOL}", "reviewers", ""),
    (State.PMI_FORMULADO, Trigger.TOMAR_REVISION, "reviewer", {}, "pmi_en_revision",
     "rector", f"Su PMI está en revisión en la Secretaría: {SCHOOL}", "rector", ""),
    (State.EN_REVISION, Trigger.DEVOLVER, "reviewer",
     {"observaciones": "Falta la unidad de medida de la meta 2.", "destino": "pmi"},
     "ruta_devuelta", "rector_y_equipo", f"Ruta devuelta con observaciones: {SCHOOL}",
     "rector", "team"),
    (State.EN_REVISION, Trigger.APROBAR, "reviewer", {}, "pmi_aprobado", "rector_y_equipo",
     f"PMI aprobado: {SCHOOL}", "rector", "team"),
    (State.APROBADO, Trigger.INICIAR_SEGUIMIENTO, "reviewer", {}, "seguimiento_iniciado",
     "rector", f"Comenzó el seguimiento del PMI: {SCHOOL}", "rector", ""),
    (State.SEGUIMIENTO, Trigger.CERRAR, "reviewer", {}, "ruta_cerrada", "rector",
     f"Ruta de Mejoramiento cerrada: {SCHOOL}", "rector", ""),
]


def _group(people: People, name: str) -> list[str]:
    return {
        "": [],
        "reviewers": people.emails(people.reviewers),
        "rector": [people.rector.email],
        "team": people.emails(people.team),
    }[name]


def record_transition(db: Session, people: People, trigger: Trigger, who: str,
                      form: dict[str, str]) -> RutaTransition:
    """The audit row a service would write, without the guards of content built elsewhere
    (a complete autoevaluación, a PMI): this checks who hears about what, for every trigger."""
    actor = people.rector if who == "rector" else people.reviewers[0]
    destination = {"pmi": State.AUTOEVALUACION_ENVIADA, "": None}
    target = form.get("destino", "")
    row = next(row for row in TRANSITIONS if row["trigger"] == trigger)
    entry = RutaTransition(
        ruta=people.ruta, trigger=trigger.value, from_state=State(str(row["source"])),
        to_state=destination[target] or State(str(row["dest"])), actor_id=actor.id,
        observations=form.get("observaciones") or None,
        extra={"return_target": target} if target else {})
    db.add(entry)
    db.flush()
    return entry


@pytest.mark.parametrize(("start", "trigger", "who", "form", "kind", "audience", "subject",
                          "to", "cc"), CASES, ids=[case[1].value for case in CASES])
def test_each_transition_queues_exactly_its_message(
        db: Session, people: People, start: State, trigger: Trigger, who: str,
        form: dict[str, str], kind: str, audience: str, subject: str, to: str,
        cc: str) -> None:
    entry = record_transition(db, people, trigger, who, form)

    queued = notifications.transition_happened(db, entry)
    db.commit()

    [row] = outbox_rows(db)
    link = f"{BASE_URL}/rutas/{people.ruta.id}"
    actor = people.rector if who == "rector" else people.reviewers[0]
    assert queued == 1
    assert (row.kind, row.recipients, row.cc, row.subject) == (
        kind, _group(people, to), _group(people, cc), subject)
    assert (row.dedupe_key, row.secretaria_id, row.ruta_id, row.status, row.attempts) == (
        f"transition:{entry.id}:{audience}", people.ruta.school.secretaria_id,
        people.ruta.id, OutboxStatus.PENDING, 0)
    assert f"\n{link}\n" in row.text_body
    assert f'<a href="{link}">' in row.html_body
    assert actor.name in row.text_body
    assert actor.name in row.html_body


def _queued(db: Session) -> list[tuple[Any, ...]]:
    """Everything an outbox row says, in dedupe key order."""
    return [(row.dedupe_key, row.kind, row.recipients, row.cc, row.subject, row.text_body,
             row.html_body, row.secretaria_id, row.ruta_id, row.next_attempt_at, row.status)
            for row in sorted(outbox_rows(db), key=lambda row: row.dedupe_key)]


def test_many_transitions_queue_what_each_would_alone(db: Session, make: Factory,
                                                      people: People) -> None:
    # Three schools: San Simón (rector, team, two revisores), one of another Secretaría,
    # one whose rector is inactive (its returns go to the team).
    tolima = make.secretaria(name="Secretaría de Educación del Tolima", divipola="73001")
    far = make.school(tolima, name="Institución Educativa del Líbano")
    far_people = People(make.ruta(school=far),
                        make.user(Role.RECTOR, school=far, email="rector@libano.edu.co"),
                        [make.user(Role.EQUIPO, school=far, email="equipo@libano.edu.co")],
                        [make.user(Role.REVISOR, secretaria=tolima, email="revisor@tol.gov.co")],
                        people.admin)
    lone = make.school(people.ruta.school.secretaria, name="Colegio Sin Rector")
    lone_people = People(make.ruta(school=lone),
                         make.user(Role.RECTOR, school=lone, email="ido@sinrector.edu.co",
                                   active=False),
                         [make.user(Role.EQUIPO, school=lone, email="equipo@sinrector.edu.co")],
                         people.reviewers, people.admin)
    db.commit()
    entries = [record_transition(db, group, trigger, who, form)
               for group in (people, far_people, lone_people)
               for _, trigger, who, form, *_ in CASES]
    db.commit()

    alone = sum(notifications.transition_happened(db, entry) for entry in entries)
    db.commit()
    queued_alone = _queued(db)
    db.execute(delete(OutboxMessage))
    db.commit()
    together = notifications.transitions_happened(db, entries)
    db.commit()

    # Every trigger has one message; the inactive rector's school gets its returns and
    # approvals (to the team) and the revisores' messages, not the rector's alone.
    assert alone == together == 3 * len(CASES) - 3
    assert _queued(db) == queued_alone
    assert {row[2][0] for row in queued_alone if row[8] == far_people.ruta.id} == {
        "rector@libano.edu.co", "revisor@tol.gov.co"}
    assert [row[2] for row in queued_alone if row[8] == lone_people.ruta.id
            and row[1] in ("ruta_devuelta", "pmi_aprobado")] == [
        ["equipo@sinrector.edu.co"], ["equipo@sinrector.edu.co"]]
    assert notifications.transitions_happened(db, []) == 0


@pytest.mark.parametrize(("start", "trigger", "form", "expected"), [
    (State.PMI_FORMULADO, Trigger.TOMAR_REVISION, {},
     ("pmi_en_revision", ["rector"], [])),
    (State.EN_REVISION, Trigger.DEVOLVER,
     {"observaciones": "Falta la unidad de medida de la meta 2.", "destino": "pmi",
      **PASSING_RUBRIC_FORM},
     ("ruta_devuelta", ["rector"], ["team"])),
], ids=["tomar_revision", "devolver"])
def test_transition_through_the_web_queues_its_message_in_the_same_commit(
        db: Session, web: WebClient, people: People, start: State, trigger: Trigger,
        form: dict[str, str], expected: tuple[str, list[str], list[str]]) -> None:
    move(db, people.ruta, start)
    if trigger is Trigger.DEVOLVER:  # a return sends at least one itemized observation
        review.add_observation(db, people.ruta, reviewer=people.reviewers[0], element="plan",
                               criterion="3", text="La meta 2 no tiene unidad de medida.")
        db.commit()
    web.login(people.reviewers[0].email)
    web.get(f"/rutas/{people.ruta.id}")  # the page the reviewer acts from (and its CSRF token)

    response = web.post(f"/rutas/{people.ruta.id}/acciones/{trigger.value}",
                        {"version": str(people.ruta.version), **form})

    assert response.status_code == 302
    entry = last_entry(db, people.ruta)
    kind, to, cc = expected
    assert [(row.kind, row.recipients, row.cc, row.dedupe_key) for row in outbox_rows(db)] == [
        (kind, [email for name in to for email in _group(people, name)],
         [email for name in cc for email in _group(people, name)],
         f"transition:{entry.id}:{'rector' if not cc else 'rector_y_equipo'}")]


def test_link_in_the_messages_opens_the_ruta_page(app: Flask, people: People) -> None:
    endpoint = app.url_map.bind("ruta.ibague.gov.co").match(f"/rutas/{people.ruta.id}")
    assert endpoint == ("rutas.detail", {"ruta_id": people.ruta.id})


def test_returned_plan_mail_carries_the_observations_and_where_it_goes(
        db: Session, web: WebClient, people: People) -> None:
    move(db, people.ruta, State.EN_REVISION)
    review.add_observation(db, people.ruta, reviewer=people.reviewers[0], element="plan",
                           criterion="1", text="Revisen las valoraciones <sin> evidencias.")
    db.commit()
    web.login(people.reviewers[0].email)
    web.get(f"/rutas/{people.ruta.id}")  # the page the reviewer acts from (and its CSRF token)
    note = "Meta 2: falta la unidad.\nMeta 3: <revisar> el indicador & la línea base."

    web.post(f"/rutas/{people.ruta.id}/acciones/devolver",
             {"version": str(people.ruta.version), "observaciones": note,
              "destino": "autoevaluacion", **PASSING_RUBRIC_FORM})

    [row] = outbox_rows(db)
    itemized = "1. [El plan en general · Criterio 1] Revisen las valoraciones <sin> evidencias."
    assert f"Observaciones de la Secretaría:\n\n{note}\n\n{itemized}\n" in row.text_body
    assert ("La Ruta vuelve a la autoevaluación institucional (se rehace desde el principio)."
            in row.text_body)
    assert ("<blockquote>Meta 2: falta la unidad.<br>\nMeta 3: &lt;revisar&gt; el indicador "
            "&amp; la línea base.<br>\n<br>\n1. [El plan en general · Criterio 1] Revisen las "
            "valoraciones &lt;sin&gt; evidencias.</blockquote>") in row.html_body


def test_stale_transition_queues_nothing(db: Session, web: WebClient, people: People) -> None:
    move(db, people.ruta, State.PMI_FORMULADO)
    web.login(people.reviewers[0].email)
    web.get(f"/rutas/{people.ruta.id}")  # the page the reviewer acts from (and its CSRF token)

    response = web.post(f"/rutas/{people.ruta.id}/acciones/tomar_revision",
                        {"version": str(people.ruta.version - 1)})

    assert response.status_code == 409
    assert outbox_rows(db) == []


def test_refused_transition_queues_nothing(db: Session, web: WebClient,
                                           people: People) -> None:
    move(db, people.ruta, State.EN_REVISION)
    web.login(people.reviewers[0].email)
    web.get(f"/rutas/{people.ruta.id}")  # the page the reviewer acts from (and its CSRF token)

    response = web.post(f"/rutas/{people.ruta.id}/acciones/devolver",
                        {"version": str(people.ruta.version), "observaciones": "  ",
                         "destino": "pmi", **PASSING_RUBRIC_FORM})

    assert response.status_code == 422
    assert outbox_rows(db) == []


def test_rolled_back_transition_leaves_no_mail(db: Session, people: People) -> None:
    move(db, people.ruta, State.PMI_FORMULADO)
    pmi_actions.take_for_review(db, people.ruta, reviewer=people.reviewers[0],
                                expected_version=people.ruta.version)
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1

    db.rollback()

    assert outbox_rows(db) == []


def test_system_start_of_follow_up_says_it_began_on_the_plan_date(
        db: Session, people: People) -> None:
    move(db, people.ruta, State.APROBADO)

    seguimiento_actions.start_follow_up(db, people.ruta, actor=None,
                                        expected_version=people.ruta.version)
    db.commit()

    [row] = outbox_rows(db)
    assert row.recipients == [people.rector.email]
    assert ", en la fecha de inicio del plan." in row.text_body
    assert "por decisión de" not in row.text_body


def test_school_without_an_active_rector_gets_no_rector_mail(db: Session,
                                                             people: People) -> None:
    people.rector.active = False
    move(db, people.ruta, State.PMI_FORMULADO)

    pmi_actions.take_for_review(db, people.ruta, reviewer=people.reviewers[0],
                                expected_version=people.ruta.version)
    db.commit()

    assert outbox_rows(db) == []


def test_return_without_an_active_rector_goes_to_the_team(db: Session,
                                                          people: People) -> None:
    people.rector.active = False
    move(db, people.ruta, State.EN_REVISION)

    pmi_actions.approve(db, people.ruta, reviewer=people.reviewers[0],
                        expected_version=people.ruta.version, rubric=PASSING_RUBRIC)
    db.commit()

    [row] = outbox_rows(db)
    assert (row.recipients, row.cc) == (people.emails(people.team), [])


def test_queueing_the_same_transition_twice_adds_nothing(db: Session, people: People) -> None:
    move(db, people.ruta, State.PMI_FORMULADO)
    entry = pmi_actions.take_for_review(db, people.ruta, reviewer=people.reviewers[0],
                                        expected_version=people.ruta.version)

    again = notifications.transition_happened(db, entry)
    db.commit()

    assert again == 0
    assert len(outbox_rows(db)) == 1


def test_every_trigger_says_who_hears_about_it() -> None:
    assert set(notifications.MESSAGES) == set(Trigger)


def test_transition_mail_arrives_by_smtp_with_both_parts_and_the_link(
        app: Flask, db: Session, web: WebClient, people: People, smtp: SmtpServer) -> None:
    move(db, people.ruta, State.EN_REVISION)
    web.login(people.reviewers[0].email)
    web.get(f"/rutas/{people.ruta.id}")  # the page the reviewer acts from (and its CSRF token)
    web.post(f"/rutas/{people.ruta.id}/acciones/aprobar",
             {"version": str(people.ruta.version), **PASSING_RUBRIC_FORM})
    # Nothing is sent from inside the request.
    assert smtp.received == []
    app.config.update(mail_config(smtp))

    report = deliver_pending(app)

    assert report.sent == 1
    [received] = smtp.received
    link = f"{BASE_URL}/rutas/{people.ruta.id}"
    assert received.rcpt_tos == ("rectora@sansimon.edu.co", "equipo.a@sansimon.edu.co",
                                 "equipo.b@sansimon.edu.co")
    assert received.addresses("To") == {"rectora@sansimon.edu.co"}
    assert received.addresses("Cc") == {"equipo.a@sansimon.edu.co", "equipo.b@sansimon.edu.co"}
    assert received.addresses("From") == {"no-responder@ruta.prueba.co"}
    assert received.subject == f"PMI aprobado: {SCHOOL}"
    assert f"\n{link}\n" in received.text
    assert f'<a href="{link}">Consultar el plan aprobado</a>' in received.html
    assert [row.status for row in outbox_rows(db)] == [OutboxStatus.SENT]


def test_transition_context_is_plain_values(db: Session, people: People) -> None:
    move(db, people.ruta, State.PMI_FORMULADO)
    entry = pmi_actions.take_for_review(db, people.ruta, reviewer=people.reviewers[0],
                                        expected_version=people.ruta.version)

    context: dict[str, Any] = notifications.transition_context(db, entry)

    assert {key: value for key, value in context.items() if key != "at"} == {
        "school_name": SCHOOL,
        "dane_code": people.ruta.school.dane_code,
        "secretaria_name": "Secretaría de Educación de Ibagué",
        "horizon": "2024–2026",
        "ruta_url": f"{BASE_URL}/rutas/{people.ruta.id}",
        "actor_name": people.reviewers[0].name,
        "reviewer_name": people.reviewers[0].name,
        "state_label": "PMI en revisión",
        "observations": None,
        "return_target": None,
    }
    assert context["at"] == entry.at
