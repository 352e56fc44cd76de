"""Ibagué-like demo data: a Secretaría, its accounts, schools, and Rutas in every state.

Every Ruta reaches its state through the real services, so its history is the one the
product would have written.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.ajustes import seed_demo_adjustment
from demo.autoevaluacion import fill_demo_autoevaluacion
from demo.calendario import seed_demo_calendar
from demo.cierre import record_demo_final_evaluation, seed_previous_cycle
from demo.horizontes import seed_demo_horizons
from demo.pendientes import NEWCOMER, seed_newcomer_school
from demo.pmi_escuela import fill_school_pmi, revise_after_return
from demo.rubric import APPROVAL_RUBRIC, RETURN_RUBRIC, RETURN_TO_SELF_ASSESSMENT_RUBRIC
from demo.seguimiento import seed_demo_follow_up
from demo.ventana import grant_demo_extensions
from workflow.autoevaluacion import actions as auto_actions
from workflow.catalogo.catalog import load_shipped_catalogs
from workflow.cierre import actions as cierre_actions
from workflow.cuentas.accounts import Passwords
from workflow.horizontes import opening
from workflow.models import Ruta, School, Secretaria, User, Zona
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.states import ReturnTarget, State

DEMO_DOMAIN = "ruta.demo"
NEWCOMER_ZONA = NEWCOMER[1]
# When the demo's people set their passwords: before the 2021–2023 horizon the first school
# walks, so no demo account counts as one that joined late.
ACTIVATED_AT = datetime(2020, 11, 3, 14, 0, tzinfo=UTC)

# (name, zona, comuna or corregimiento). Modelled on Ibagué's official schools.
SCHOOLS: list[tuple[str, Zona, str]] = [
    ("Institución Educativa Técnica Ambiental Combeima", Zona.URBANA, "Comuna 1"),
    ("Institución Educativa San Simón", Zona.URBANA, "Comuna 2"),
    ("Institución Educativa Técnica Ciudad de Ibagué", Zona.URBANA, "Comuna 7"),
    ("Institución Educativa Leonidas Rubio Villegas", Zona.URBANA, "Comuna 6"),
    ("Institución Educativa Técnica Alberto Castilla", Zona.URBANA, "Comuna 5"),
    ("Institución Educativa Niño Jesús de Praga", Zona.URBANA, "Comuna 4"),
    ("Institución Educativa Técnica Germán Pardo García", Zona.URBANA, "Comuna 8"),
    ("Institución Educativa Ismael Santofimio Trujillo", Zona.URBANA, "Comuna 9"),
    ("Institución Educativa Técnica Joaquín París", Zona.URBANA, "Comuna 10"),
    ("Institución Educativa Antonio Reyes Umaña", Zona.URBANA, "Comuna 12"),
    ("Institución Educativa Rural Juntas", Zona.RURAL, "Corregimiento Juntas"),
    ("Institución Educativa Técnica Rural Dantas", Zona.RURAL, "Corregimiento Dantas"),
    ("Institución Educativa Rural San Bernardo", Zona.RURAL, "Corregimiento San Bernardo"),
    ("Institución Educativa Rural Laureles", Zona.RURAL, "Corregimiento Laureles"),
    ("Institución Educativa Técnica Musical Amina Melendro de Pulecio", Zona.URBANA,
     "Comuna 3"),
    ("Institución Educativa Rural Totumo", Zona.RURAL, "Corregimiento El Totumo"),
    ("Institución Educativa Rural Coello Cócora", Zona.RURAL, "Corregimiento Coello"),
    ("Institución Educativa Técnica Exalumnas de la Presentación", Zona.URBANA, "Comuna 11"),
    ("Institución Educativa Rural Cay", Zona.RURAL, "Corregimiento Cay"),
    ("Institución Educativa Técnica Jorge Eliécer Gaitán", Zona.URBANA, "Comuna 13"),
]

FIRST_NAMES = ["Luz Marina", "Jorge Enrique", "Claudia Patricia", "Hernando", "Martha Lucía",
               "Gustavo Adolfo", "Sandra Milena", "Álvaro", "Diana Carolina", "Fabio Nelson",
               "Gloria Inés", "Édgar Mauricio", "Nubia Esperanza", "Óscar Iván"]
LAST_NAMES = ["Rodríguez Bonilla", "Vargas Lozano", "Cárdenas Oviedo", "Prada Murillo",
              "Guzmán Reyes", "Ospina Barreto", "Tovar Aldana", "Londoño Varón",
              "Castillo Ramírez", "Sánchez Quintero", "Rojas Ortiz", "Hernández Díaz"]

# Covering notes of the demo returns; what must change goes in itemized observations.
RETURN_OBSERVATIONS = [
    "El plan va por buen camino. Antes de aprobarlo, atiendan las observaciones numeradas y "
    "respondan cada una en «Revisión y observaciones».",
    "",
]
# The itemized observation of the demo return to the autoevaluación.
AUTO_OBSERVATION = (
    "plan", 1, "La autoevaluación valora en 4 (mejoramiento continuo) todos los componentes "
    "de la gestión académica sin evidencias que lo soporten. Revise las valoraciones con el "
    "equipo de gestión y adjunte las evidencias antes de formular el PMI.")

# Itemized observations of a return to the PMI: (element, criterion of the circular, text).
DEMO_OBSERVATIONS: list[tuple[str, int, str]] = [
    ("plan", 7, "El PMI retoma una prueba externa, pero no las debilidades en lectura crítica "
                "de Saber 11 que la institución identificó en la autoevaluación."),
    ("plan", 5, "Precise cuándo y ante quién se socializa el plan en cada sede."),
]
DEMO_ANSWERS = [
    "Agregamos el hallazgo de lectura crítica de Saber 11 y lo articulamos con el objetivo "
    "que atiende las pruebas externas.",
    "La socialización se hará en la primera semana institucional en cada sede, ante el "
    "Consejo Directivo y la asamblea de padres.",
]

# The path each demo Ruta walks; cycled over the schools so every state appears.
PLANS: list[list[str]] = [
    ["enviar", "formular", "tomar", "aprobar", "iniciar"],              # seguimiento
    [],                                                                 # borrador
    ["enviar", "formular"],                                             # pmi_formulado
    ["enviar"],                                                         # autoevaluacion_enviada
    ["enviar", "formular", "tomar"],                                    # en_revision
    ["enviar", "formular", "tomar", "aprobar"],                         # aprobado
    ["enviar", "formular", "tomar", "devolver_pmi"],                    # returned to the PMI
    ["enviar", "formular", "tomar", "aprobar", "iniciar", "cerrar"],    # cerrado
    ["enviar", "formular", "tomar", "devolver_auto"],                   # returned to borrador
    ["enviar", "formular", "tomar", "devolver_pmi", "formular", "tomar", "aprobar",
     "iniciar"],                                                        # seguimiento, 2nd try
    ["enviar", "formular", "tomar", "devolver_pmi", "formular"],        # resubmitted
    ["enviar", "formular", "tomar", "aprobar", "iniciar"],
    ["enviar"],
    ["enviar", "formular", "tomar"],
]


def dane_code(secretaria: Secretaria, zona: Zona, number: int) -> str:
    sector = "1" if zona is Zona.URBANA else "2"
    return f"{sector}{secretaria.divipola}{number:06d}"


def seed_demo(session: Session, *, school_count: int, password: str,
              passwords: Passwords, rng: random.Random | None = None,
              now: datetime | None = None) -> Secretaria:
    """Create the demo Secretaría of Ibagué with ``school_count`` schools. Flushes only.

    ``now`` is the moment the demo is loaded (the prórrogas the administración grants depend
    on it); the real clock by default.
    """
    rng = rng or random.Random(34)  # Guía 34: the same demo every time
    secretaria = Secretaria(name="Secretaría de Educación de Ibagué", divipola="73001",
                            horizon_start_year=2024, horizon_years=3)
    session.add(secretaria)
    session.flush()
    password_hash = passwords.hash(password)  # one hash: Argon2 is slow on purpose

    def person(email: str, role: Role, name: str, school: School | None = None) -> User:
        # Every demo account was activated before the horizon began: reminders reach it.
        user = User(secretaria=secretaria, email=f"{email}@{DEMO_DOMAIN}", name=name, role=role,
                    school=school, password_hash=password_hash, active=True,
                    activated_at=ACTIVATED_AT, created_at=ACTIVATED_AT)
        session.add(user)
        return user

    admin = person("admin", Role.ADMINISTRADOR, "Adriana Gómez Patiño")
    reviewers = [person("revisor1", Role.REVISOR, "Gabriel Patarroyo Ruiz"),
                 person("revisor2", Role.REVISOR, "Jenny Valbuena Torres")]
    person("consulta", Role.CONSULTA, "Juan Manuel Acevedo (consulta)")
    session.flush()
    load_shipped_catalogs(session)  # before any Ruta opens: each is pinned to the current one

    opened_at = datetime(2024, 1, 9, 13, 0, tzinfo=UTC)
    for index in range(school_count):
        name, zona, locality = SCHOOLS[index % len(SCHOOLS)]
        if index >= len(SCHOOLS):
            name = f"{name} sede {index // len(SCHOOLS) + 1}"
        school = School(secretaria=secretaria, dane_code=dane_code(secretaria, zona, index + 1),
                        name=name, zona=zona, locality=locality, active=True)
        session.add(school)
        rector = person(f"rector{index + 1:02d}", Role.RECTOR,
                        f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", school)
        team_user = person(f"equipo{index + 1:02d}", Role.EQUIPO,
                           f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", school)
        session.flush()
        ruta = opening.open_ruta(session, school, actor=admin, now=opened_at)
        # Complete before the walk submits it; the Ruta that stays in borrador is half done.
        fill_demo_autoevaluacion(session, ruta, rector=rector, team_user=team_user,
                                 complete=bool(PLANS[index % len(PLANS)]), start=opened_at)
        _walk(session, ruta, PLANS[index % len(PLANS)], rector=rector,
              reviewer=reviewers[index % 2], start=opened_at, rng=rng)
        if PLANS[index % len(PLANS)] == ["enviar"]:
            # Formulating: a draft halfway, so the page shows what the checks still ask for.
            fill_school_pmi(session, ruta, actor=rector, complete=False)
    session.flush()
    first_school = session.scalar(select(School).where(School.secretaria_id == secretaria.id)
                                  .order_by(School.id).limit(1))
    if first_school is not None:
        # The first school closed a Ruta 2021–2023, which its current Ruta continues.
        seed_previous_cycle(session, first_school, admin=admin, reviewer=reviewers[0])
    seed_demo_calendar(session, secretaria, actor=admin)
    seed_demo_follow_up(session, secretaria)  # needs the calendar's checkpoints
    seed_demo_horizons(session, secretaria, admin)  # 2021–2023 closed, 2027–2029 ahead
    _adjust_one_plan(session, secretaria)
    # Ibagué's window closed in February 2024: a school still to send its first
    # autoevaluación today gets a prórroga, as the administración would grant it.
    grant_demo_extensions(session, secretaria, now or datetime.now(UTC))
    # One more school, new to the Secretaría: its rector was invited and has not activated
    # the account (the administración's «Pendientes» lists it).
    seed_newcomer_school(session, secretaria, admin=admin,
                         dane_code=dane_code(secretaria, NEWCOMER_ZONA, school_count + 1),
                         rector_email=f"rector{school_count + 1:02d}@{DEMO_DOMAIN}",
                         now=now or datetime.now(UTC))
    return secretaria


def _adjust_one_plan(session: Session, secretaria: Secretaria) -> None:
    """The first Ruta in seguimiento proposed an adjustment of its plan at the start of 2025
    and sent it: the Secretaría finds it waiting for a decision."""
    ruta = session.scalar(select(Ruta).join(Ruta.school).where(
        School.secretaria_id == secretaria.id, Ruta.state == State.SEGUIMIENTO)
        .order_by(Ruta.id).limit(1))
    rector = None if ruta is None else session.scalar(select(User).where(
        User.school_id == ruta.school_id, User.role == Role.RECTOR, User.active))
    if ruta is not None and rector is not None:
        seed_demo_adjustment(session, ruta, rector=rector,
                             now=datetime(2025, 2, 10, 15, 0, tzinfo=UTC))


def _walk(session: Session, ruta: Ruta, plan: list[str], *, rector: User, reviewer: User,
          start: datetime, rng: random.Random) -> None:
    moment = start

    def later(days_low: int, days_high: int) -> datetime:
        nonlocal moment
        moment = moment + timedelta(days=rng.randint(days_low, days_high),
                                    hours=rng.randint(0, 8))
        return moment

    def formulate() -> object:
        if not review.observations(session, ruta):
            fill_school_pmi(session, ruta, actor=rector)
        elif review.unanswered(session, ruta):
            # Returned: the school changes what the observations ask for (a real diff).
            revise_after_return(session, ruta, actor=rector)
        for number, row in enumerate(review.unanswered(session, ruta), 1):
            review.answer(session, ruta, row.id, actor=rector, now=later(1, 3),
                          response=DEMO_ANSWERS[(number - 1) % len(DEMO_ANSWERS)])
        return pmi_actions.submit_pmi(session, ruta, actor=rector,
                                      expected_version=ruta.version, now=later(7, 20))

    def approve() -> object:
        for row in review.open_observations(session, ruta):
            review.judge(session, ruta, row.id, reviewer=reviewer, resolved=True,
                         now=later(1, 2))
        return pmi_actions.approve(
            session, ruta, reviewer=reviewer, expected_version=ruta.version, now=later(2, 9),
            observations="Plan coherente con la autoevaluación; metas medibles y viables.",
            rubric=APPROVAL_RUBRIC)

    def return_to_pmi() -> object:
        for element, criterion, text in DEMO_OBSERVATIONS:
            review.add_observation(session, ruta, reviewer=reviewer, element=element,
                                   criterion=criterion, text=text, now=later(1, 2))
        return pmi_actions.return_with_observations(
            session, ruta, reviewer=reviewer, expected_version=ruta.version, now=later(2, 9),
            observations=RETURN_OBSERVATIONS[0], target=ReturnTarget.PMI, rubric=RETURN_RUBRIC)

    def return_to_autoevaluacion() -> object:
        element, criterion, text = AUTO_OBSERVATION
        review.add_observation(session, ruta, reviewer=reviewer, element=element,
                               criterion=criterion, text=text, now=later(1, 2))
        return pmi_actions.return_with_observations(
            session, ruta, reviewer=reviewer, expected_version=ruta.version, now=later(2, 9),
            observations=RETURN_OBSERVATIONS[1], target=ReturnTarget.AUTOEVALUACION,
            rubric=RETURN_TO_SELF_ASSESSMENT_RUBRIC)

    actions: dict[str, Callable[[], object]] = {
        "enviar": lambda: auto_actions.submit_self_assessment(
            session, ruta, actor=rector, expected_version=ruta.version, now=later(10, 25)),
        "formular": formulate,
        "tomar": lambda: pmi_actions.take_for_review(
            session, ruta, reviewer=reviewer, expected_version=ruta.version, now=later(1, 6)),
        "aprobar": approve,
        "devolver_pmi": return_to_pmi,
        "devolver_auto": return_to_autoevaluacion,
        "iniciar": lambda: seguimiento_actions.start_follow_up(
            session, ruta, actor=None, expected_version=ruta.version, now=later(10, 20)),
        "cerrar": lambda: (record_demo_final_evaluation(
            session, ruta, rector=rector, now=datetime(2026, 11, 9, 15, 0, tzinfo=UTC)),
            cierre_actions.close(
            session, ruta, reviewer=reviewer, expected_version=ruta.version,
            now=datetime(2026, 11, 16, 15, 0, tzinfo=UTC),
            observations="Evaluación final revisada. Resultados comunicados a la comunidad.")),
    }
    for step in plan:
        actions[step]()
