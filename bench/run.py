"""Measure what a Secretaría at full scale would feel: ~9,000 schools (all 96 Secretarías).

Usage: ``python -m bench.run [--schools 9000] [--database-url URL]``. Prints a Markdown table
of medians over repeated runs. Uses a throw-away SQLite file unless a URL is given (the
PostgreSQL database is wiped: point it at a scratch database).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from ruta import create_app
from ruta.db import make_engine
from ruta.migrate import upgrade
from workflow.cuentas.accounts import Passwords
from workflow.models import Ruta, RutaTransition, School, Secretaria, User, Zona
from workflow.pmi import actions as pmi_actions
from workflow.roles import Role
from workflow.states import RutaSubject, State, Trigger, fire

PASSWORD = "clave-de-benchmark"  # noqa: S105 (accounts of a throw-away database)
FAST_HASH = Passwords(time_cost=1, memory_cost=8, parallelism=1)


def prepare(url: str) -> None:
    engine = make_engine(url)
    if url.startswith("postgresql"):
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()


def seed(app_db: object, school_count: int) -> tuple[int, int]:
    """Schools spread over every state, each Ruta with a realistic history length."""
    session = app_db.session_factory()  # type: ignore[attr-defined]
    secretaria = Secretaria(name="Secretaría de benchmark", divipola="73001")
    session.add(secretaria)
    session.flush()
    hashed = FAST_HASH.hash(PASSWORD)
    reviewer = User(secretaria=secretaria, email="revisor@bench.co", name="Revisor",
                    role=Role.REVISOR, password_hash=hashed)
    session.add(reviewer)
    states = list(State)
    for number in range(school_count):
        school = School(secretaria=secretaria, dane_code=f"173001{number:06d}",
                        name=f"Institución Educativa {number:05d}", zona=Zona.URBANA,
                        locality=f"Comuna {number % 13 + 1}")
        ruta = Ruta(school=school, horizon_start_year=2024, horizon_end_year=2026,
                    state=states[number % len(states)])
        session.add_all([school, ruta])
        for step in range(number % len(states) + 1):
            session.add(RutaTransition(ruta=ruta, trigger="abrir_ruta" if step == 0 else
                                       "enviar_autoevaluacion", from_state=None,
                                       to_state=State.BORRADOR))
        if number % 1000 == 999:
            session.flush()
    rector_school = session.query(School).first()
    session.add(User(secretaria=secretaria, email="rector@bench.co", name="Rector",
                     role=Role.RECTOR, school=rector_school, password_hash=hashed))
    session.commit()
    ids = (session.query(Ruta.id).filter(Ruta.state == State.PMI_FORMULADO).first()[0],
           session.query(Ruta.id).filter(Ruta.school_id == rector_school.id).first()[0])
    session.close()
    return ids


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm caches and compiled statements
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def page(client: object, url: str) -> Callable[[], object]:
    """A GET that must answer 200: a fast error page is not a fast page."""
    def get() -> object:
        response = client.get(url)  # type: ignore[attr-defined]
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return response
    return get


def login(client: object, email: str) -> None:
    page = client.get("/ingresar").get_data(as_text=True)  # type: ignore[attr-defined]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/ingresar", data={"email": email, "password": PASSWORD,  # type: ignore[attr-defined]
                                   "csrf_token": token})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", type=int, default=9000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--repeat", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        prepare(url)
        app = create_app({"TESTING": True, "RUTA_ENV": "development", "DATABASE_URL": url,
                          "SECRET_KEY": "b" * 40, "WTF_CSRF_ENABLED": True,
                          "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8,
                          "ARGON2_PARALLELISM": 1})
        database = app.extensions["ruta_db"]
        start = time.perf_counter()
        waiting_id, own_id = seed(database, options.schools)
        seeded_s = time.perf_counter() - start
        if url.startswith("postgresql"):
            # Production has planner statistics (autovacuum); a fresh bulk load does not, and
            # without them the state filter picks a nested loop 60 times slower.
            with database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("ANALYZE"))

        reviewer, rector = app.test_client(), app.test_client()
        login(reviewer, "revisor@bench.co")
        login(rector, "rector@bench.co")
        rows: list[tuple[str, float]] = []
        rows.append(("machine: fire one trigger (pure)", median_ms(
            lambda: fire(RutaSubject("pmi_formulado"), Trigger.TOMAR_REVISION),
            options.repeat * 100)))
        rows.append(("queue, first page, all states", median_ms(
            page(reviewer, "/revision/"), options.repeat)))
        rows.append(("queue filtered by state, page 40", median_ms(
            page(reviewer, "/revision/?estado=borrador&pagina=40"), options.repeat)))
        rows.append(("queue searched by school name", median_ms(
            page(reviewer, "/revision/?colegio=04321"), options.repeat)))
        rows.append(("Ruta page (reviewer)", median_ms(
            page(reviewer, f"/rutas/{waiting_id}"), options.repeat)))
        rows.append(("Ruta page (rector, own school)", median_ms(
            page(rector, f"/rutas/{own_id}"), options.repeat)))

        def transition_round_trip() -> None:
            session = database.session_factory()
            ruta = session.get(Ruta, waiting_id)
            actor = session.query(User).filter_by(email="revisor@bench.co").one()
            if ruta.state is State.PMI_FORMULADO:
                pmi_actions.take_for_review(session, ruta, reviewer=actor,
                                            expected_version=ruta.version)
            session.rollback()  # measure the work, keep the data as it was
            session.close()

        rows.append(("service: take for review, rolled back", median_ms(
            transition_round_trip, options.repeat)))

        tracemalloc.start()
        page(reviewer, "/revision/")()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        database.dispose()

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n{options.schools} schools on {backend}; seeded in {seeded_s:.1f} s; "
          f"median of {options.repeat} runs\n")
    print("| measurement | median (ms) |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:.3f} |" if value < 1 else f"| {name} | {value:.1f} |")
    print(f"| peak Python memory while rendering the queue | {peak / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
