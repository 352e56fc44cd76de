"""Measure the consolidado (/reportes/) of one Secretaría with 10,000 schools.

Usage: ``python -m bench.consolidado [--schools 10000] [--database-url URL] [--repeat 5]``.
Seeds with ``bench.run.seed`` (schools in every state, each with its transitions), then gives
every Ruta past ``borrador`` a complete autoevaluación (every componente of the shipped Guía 34
catalog rated: about 90 valoraciones per school) so the municipal perfil has its real size.
Prints the median time of the page and of each chart, the page's size, and the peak memory
of the process serving it (``ru_maxrss``: what a gunicorn worker would hold). The PostgreSQL
database is wiped: point it at a scratch database.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, text, update

from bench.run import login, prepare, seed
from ruta import create_app
from workflow.autoevaluacion.models import Valoracion
from workflow.catalogo.catalog import current_catalog, load_shipped_catalogs
from workflow.models import Ruta, Secretaria
from workflow.states import State

CHUNK = 20_000


def rate_everything(database: object) -> int:
    """Every Ruta past borrador: the default catalog and a level for each componente."""
    session = database.session_factory()  # type: ignore[attr-defined]
    load_shipped_catalogs(session)
    # The Secretaría has no instrument settings: its horizons take the default catalog.
    secretaria = session.scalars(select(Secretaria)).one()
    catalog = current_catalog(session, secretaria.id)
    assert catalog is not None
    session.execute(update(Ruta).values(catalog_id=catalog.id))
    componentes = [componente.id for area in catalog.areas
                   for componente in area.componentes]
    rutas = list(session.scalars(select(Ruta.id).where(Ruta.state != State.BORRADOR)))
    per_chunk = max(CHUNK // max(len(componentes), 1), 1)
    for start in range(0, len(rutas), per_chunk):
        session.execute(insert(Valoracion), [
            {"ruta_id": ruta_id, "componente_id": componente_id,
             "level": (ruta_id * 7 + componente_id) % 4 + 1, "evidence": "Acta del consejo",
             "comments": ""}
            for ruta_id in rutas[start:start + per_chunk] for componente_id in componentes])
    open_horizon(session, secretaria)
    session.commit()
    session.close()
    return len(rutas) * len(componentes)


def open_horizon(session: object, secretaria: Secretaria) -> None:
    """The current horizon's calendar, as opening the horizon stores it: without it every
    view of /reportes/ would create it again in its own (never committed) transaction, taking
    the Secretaría's row lock for the whole request."""
    from workflow.horizontes.horizons import ensure_horizon

    ensure_horizon(session, secretaria, secretaria.horizon_start_year,  # type: ignore[arg-type]
                   secretaria.horizon_start_year + secretaria.horizon_years - 1, actor=None)


def timed(client: object, url: str, repeat: int, **headers: str) -> tuple[float, object]:
    samples = []
    response = None
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, headers=headers)  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code not in (200, 304):
            raise SystemExit(f"{url} answered {response.status_code}")
    return statistics.median(samples), response


def upgrade_and_refresh(url: str) -> None:
    from ruta.db import make_engine
    from ruta.migrate import upgrade
    from workflow.consolidado.aggregates import refresh_in_batches

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = make_app(url)
    database = app.extensions["ruta_db"]  # type: ignore[attr-defined]
    with database.session_factory() as session:
        open_horizon(session, session.scalars(select(Secretaria)).one())
        session.commit()
    start = time.perf_counter()
    written = refresh_in_batches(database.session_factory)
    print(f"Aggregates of {written} Rutas refreshed in {time.perf_counter() - start:.1f} s "
          "(the scheduler's daily job, in transactions of 500).\n", flush=True)
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    database.dispose()


def make_app(url: str) -> object:
    return create_app({"TESTING": True, "RUTA_ENV": "development", "DATABASE_URL": url,
                       "SECRET_KEY": "b" * 40, "WTF_CSRF_ENABLED": True,
                       "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8,
                       "ARGON2_PARALLELISM": 1})


def serve(url: str, repeat: int) -> None:
    """In a process of its own (as a web worker would be): the page, its charts, the memory."""
    app = make_app(url)
    database = app.extensions["ruta_db"]  # type: ignore[attr-defined]
    client = app.test_client()  # type: ignore[attr-defined]
    login(client, "revisor@bench.co")
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = []
    page_ms, response = timed(client, "/reportes/", repeat)
    size = len(response.data)  # type: ignore[union-attr]
    rows.append(("GET /reportes/", page_ms))
    etags = {}
    for chart in ("embudo", "areas", "niveles"):
        chart_ms, answer = timed(client, f"/reportes/graficos/{chart}.svg", repeat)
        rows.append((f"GET /reportes/graficos/{chart}.svg", chart_ms))
        etags[chart] = answer.headers.get("ETag")  # type: ignore[union-attr]
    if etags["areas"]:
        again_ms, answer = timed(client, "/reportes/graficos/areas.svg", repeat,
                                 **{"If-None-Match": etags["areas"]})
        rows.append((f"GET areas.svg with If-None-Match (answers "
                     f"{answer.status_code})", again_ms))  # type: ignore[union-attr]
    page_ms, _ = timed(client, "/reportes/?pagina=200", repeat)
    rows.append(("GET /reportes/?pagina=200", page_ms))
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    database.dispose()
    print("| measurement | median (ms) |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:.1f} |")
    print(f"| /reportes/ page size | {size / 1024:.0f} KiB |")
    print(f"| serving process peak RSS (after sign-in: {before_mb:.0f} MB) | "
          f"{maxrss_mb:.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--serve-only", action="store_true",
                        help="measure an already seeded --database-url")
    parser.add_argument("--upgrade", action="store_true",
                        help="upgrade an already seeded --database-url (seeded before the "
                             "aggregates existed), time the refresh of every aggregate, "
                             "then measure")
    options = parser.parse_args()
    if options.upgrade:
        upgrade_and_refresh(options.database_url)
    if options.serve_only or options.upgrade:
        serve(options.database_url, options.repeat)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        prepare(url)
        app = make_app(url)
        database = app.extensions["ruta_db"]  # type: ignore[attr-defined]
        start = time.perf_counter()
        seed(database, options.schools)
        valoraciones = rate_everything(database)
        refresh_s = None
        try:
            from workflow.consolidado import aggregates
        except ImportError:  # before issue 17, item 3: nothing to refresh
            aggregates = None
        if aggregates is not None:
            moment = time.perf_counter()
            aggregates.refresh_in_batches(database.session_factory)
            refresh_s = time.perf_counter() - moment
        seeded_s = time.perf_counter() - start
        if url.startswith("postgresql"):
            with database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("ANALYZE"))
        database.dispose()
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(f"\n{options.schools} schools, {valoraciones} valoraciones on {backend}; seeded "
              f"in {seeded_s:.1f} s" + (f" (aggregates refreshed in {refresh_s:.1f} s)"
                                        if refresh_s is not None else "")
              + f"; median of {options.repeat} requests\n", flush=True)
        subprocess.run([sys.executable, "-m", "bench.consolidado", "--serve-only",  # noqa: S603
                        "--database-url", url, "--repeat", str(options.repeat)], check=True)


if __name__ == "__main__":
    main()
