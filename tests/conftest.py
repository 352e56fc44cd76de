"""Fixtures shared by the whole suite.

Every test that uses ``app`` or ``db`` runs on SQLite, and again on PostgreSQL when
``TEST_DATABASE_URL`` is set. Without it a developer's laptop skips the PostgreSQL runs with a
clear reason; under CI (``CI=true``) a missing PostgreSQL is a failure, never a skip.

The schema is built by the real Alembic migrations: once per session into a template SQLite
file that each test copies, and once per session on PostgreSQL, truncated between tests.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, make_url, text, update
from sqlalchemy.orm import Session

import workflow.ajustes.models  # noqa: F401  (registers its tables)
import workflow.cuentas.models  # noqa: F401  (registers its tables)
import workflow.horizontes.models  # noqa: F401  (registers its tables)
import workflow.pmi.models  # noqa: F401  (registers its tables)
from blueprints import reportes as reportes_view
from ruta import create_app
from ruta.db import make_engine
from ruta.migrate import upgrade
from workflow import page_stamps, scope_versions
from workflow.autoevaluacion.models import (
    Estamento,
    IdentityReview,
    TeamMember,
    Valoracion,
    Vigencia,
)
from workflow.catalogo import tree as catalog_tree
from workflow.catalogo.catalog import store_catalog
from workflow.catalogo.files import validate_catalog
from workflow.catalogo.models import Catalog
from workflow.consolidado import summary as consolidado_summary
from workflow.cuentas.accounts import Passwords
from workflow.models import Ruta, School, Secretaria, User, Zona
from workflow.pmi.rubric import ORDER as RUBRIC_ORDER
from workflow.pmi.rubric import field_name as rubric_field
from workflow.roles import Role
from workflow.states import State

IN_CI = os.environ.get("CI", "").lower() == "true"

def _share_url_builders() -> None:
    """Every test builds its own app, and werkzeug compiles two Python functions per URL rule
    for each (about 1,200 rules: a quarter of a non-browser test's time went there). The
    functions depend only on the rule's text, its parsed parts, its defaults and converters,
    and take the rule as their first argument, so one compiled function serves every app of
    the process. Only the suite does this: a production process builds one app."""
    from werkzeug.routing.rules import Rule

    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None:  # werkzeug changed: build them each time, as it does
        return
    builders: dict[tuple[Any, ...], Any] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Any:
        key = (self.rule, tuple(self._trace), append_unknown,
               tuple(sorted((name, repr(value)) for name, value in (self.defaults or {}).items())),
               tuple(sorted((name, type(converter).__qualname__)
                            for name, converter in self._converters.items())))
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = shared  # type: ignore[method-assign]


_share_url_builders()


def _share_rule_parsing() -> None:
    """What remained of an app's start-up after ``_share_url_builders`` was mostly werkzeug
    parsing each rule's text again (character by character, for every rule of every test's
    app): about 0.1 s of each test. The parse depends only on the text and the map's
    converter classes; its parts are never changed after, so one parse serves every app of the
    process. Its side effects are replayed on each rule: the trace, and the rule's own
    converters, made anew for its own map."""
    from werkzeug.routing.rules import Rule

    parse = getattr(Rule, "_parse_rule", None)
    if parse is None or not hasattr(Rule, "get_converter"):  # werkzeug changed: parse each time
        return
    parsed: dict[tuple[Any, ...], tuple[list[Any], list[Any], list[Any]]] = {}

    def shared(self: Rule, rule: str) -> Iterator[Any]:
        key = (rule, tuple(sorted(self.map.converters.items())))
        known = parsed.get(key)
        if known is None:
            trace_from = len(self._trace)
            made: list[Any] = []

            def recording(variable: str, name: str, args: Any, kwargs: Any) -> Any:
                made.append((variable, name, args, kwargs))
                return Rule.get_converter(self, variable, name, args, kwargs)

            self.get_converter = recording  # type: ignore[method-assign]
            try:
                parts = list(parse(self, rule))
            finally:
                del self.get_converter
            parsed[key] = (parts, self._trace[trace_from:], made)
            return iter(parts)
        parts, trace, made = known
        self._trace.extend(trace)
        for variable, name, args, kwargs in made:
            self._converters[variable] = self.get_converter(variable, name, args, kwargs)
            self.arguments.add(variable)
        return iter(parts)

    Rule._parse_rule = shared  # type: ignore[method-assign]


_share_rule_parsing()

#: The engine of each test database URL, kept for the whole process (see ``_share_engines``).
_ENGINES: dict[str, Engine | None] = {}


def _share_engines() -> None:
    """Every test builds its own app and, with it, a new engine, whose compiled-statement cache
    starts empty: compiling the same few hundred statements again took a fifth of a test's
    time. The test databases have fixed URLs (one SQLite file per worker, rebuilt from the
    template before each test; the worker's PostgreSQL database), so the apps of a process
    share one engine per URL, disposed (its connections closed) between tests. Other URLs
    (a backup's copy, a second database a test makes) get their own engine, as in production.
    """
    import ruta.db as ruta_db

    build = ruta_db.make_engine

    def shared(url: str, **kwargs: Any) -> Engine:
        if kwargs or url not in _ENGINES:
            return build(url, **kwargs)
        engine = _ENGINES[url]
        if engine is None:
            engine = _ENGINES[url] = build(url)
        return engine

    ruta_db.make_engine = shared  # type: ignore[assignment]


_share_engines()

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
PASSWORD = "clave-de-prueba-segura"

# Cheap Argon2 for tests: the cost parameters are configuration, the algorithm is the same.
TEST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
TEST_PASSWORDS = Passwords(time_cost=1, memory_cost=8, parallelism=1)


def require_postgres() -> str:
    """The PostgreSQL URL, or skip (fail under CI) when there is none."""
    if PG_URL:
        return PG_URL
    if IN_CI:
        pytest.fail("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
    pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped on this machine")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own database beside ``url``'s (``test_gw0``…),
    created when missing: workers truncating one shared schema would empty each other's
    tables mid-test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    if not re.fullmatch(r"[a-z0-9_]+", name):
        pytest.fail(f"Unexpected PostgreSQL database name for the worker: {name!r}")
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                   {"name": name})
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    url = _worker_database(require_postgres())
    engine = make_engine(url)
    with engine.begin() as connection:
        # The database is this worker's alone: another connection to it now is a leftover of
        # an interrupted run (a scheduler or deliverer process a killed worker left behind),
        # which would deadlock the DROP below or write into the new schema.
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
        # A commit here need not wait for the WAL to reach the disk: a test database is
        # thrown away, and what a commit makes visible to other sessions is unchanged. The
        # wait was 5–8 ms of each of the suite's tens of thousands of commits. (This
        # database's own setting, for every later connection: the server's stays.)
        connection.execute(text(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', "
            "current_database()); END $$"))
    upgrade(engine)
    engine.dispose()
    yield url
    # The cleaner's engine lives as long as the session: close its connection with it.
    cleaner = _CLEANERS.pop(url, None)
    if cleaner is not None:
        cleaner.dispose()


_CLEANERS: dict[str, Engine] = {}


#: The cleaning, server-side in one round trip: each table of the schema (not the models
#: imported so far: a stage's models are imported by the first app a worker builds, and a
#: table the cleaner did not know kept its rows while its sequence restarted) emptied when it
#: has rows, then every sequence restarted (a rolled-back insert moves a sequence of a table
#: that stays empty). The names come from the catalog, never from input.
_CLEAN_SCHEMA = """
DO $$
DECLARE
    name text;
    used boolean;
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    FOR name IN SELECT tablename FROM pg_tables
                WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', name) INTO used;
        IF used THEN
            EXECUTE format('DELETE FROM %I', name);
        END IF;
    END LOOP;
    PERFORM setval(oid, 1, false) FROM pg_class
    WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace;
END
$$
"""


def _truncate_postgres(url: str) -> None:
    """Empty every table a test left rows in and restart every sequence, as a fresh schema.

    Only the tables with rows are emptied, by DELETE rather than TRUNCATE: a TRUNCATE that
    cascades over the schema's foreign keys rewrote some thirty tables' files and took about
    a second per test, a DELETE of a few small tables takes milliseconds.
    ``session_replication_role = replica`` (the suite connects as a superuser), for this
    transaction only, keeps the foreign-key and append-only triggers from firing for this
    cleaning alone, so the order does not matter and the history tables empty too. One
    statement (``_CLEAN_SCHEMA``): asked table by table from here it was some thirty round
    trips a test. One engine serves every test.
    """
    engine = _CLEANERS.get(url)
    if engine is None:
        engine = _CLEANERS[url] = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(_CLEAN_SCHEMA))


#: SQLite files of the tests live in memory when the machine has a tmpfs: each commit waits
#: for an fsync on a disk, and a test commits dozens of times.
MEMORY_FOLDER = Path("/dev/shm")  # noqa: S108  (mkdtemp makes a private folder in it)


@pytest.fixture(scope="session")
def sqlite_test_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This process's folder for its SQLite test database (in memory when possible)."""
    if not (MEMORY_FOLDER.is_dir() and os.access(MEMORY_FOLDER, os.W_OK)):
        yield tmp_path_factory.mktemp("database")
        return
    folder = Path(tempfile.mkdtemp(prefix="ruta-test-", dir=MEMORY_FOLDER))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _release_engine(url: str) -> None:
    """Close the shared engine's connections (a file about to be replaced, a schema about to
    be emptied); the engine, and its compiled statements, stay."""
    engine = _ENGINES.setdefault(url, None)
    if engine is not None:
        engine.dispose()
    forget_what_the_process_keeps()


def forget_what_the_process_keeps() -> None:
    """The process's catalog trees are keyed by database and catalog, the consolidado's memos
    and the Ruta page's bodies by a version of the data; a rebuilt database may reuse both,
    so forget them rather than trust the creation and refresh times (or stamps) to differ."""
    catalog_tree.clear()
    for memo in (consolidado_summary.CHARTS, consolidado_summary.SECTIONS,
                 consolidado_summary.PERFILES, reportes_view.PLAN_SECTIONS_HTML,
                 page_stamps.RUTA_BODIES):
        memo.clear()
    # The lists' counts and /reportes/'s bodies are kept per token: a restored copy of a
    # database (``tests.page_cache_support.load_demo``) brings its tokens back.
    scope_versions.clear_memos()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        path = request.getfixturevalue("sqlite_test_folder") / "ruta.db"
        url = f"sqlite:///{path}"
        _release_engine(url)
        for leftover in (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield url
        _release_engine(url)
        return
    url = request.getfixturevalue("postgres_schema")
    _release_engine(url)
    _truncate_postgres(url)
    yield url
    _release_engine(url)


def app_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "RUTA_ENV": "development",
        "SECRET_KEY": "clave-de-pruebas-" + "x" * 32,
        "DATABASE_URL": database_url,
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": None,
        **TEST_ARGON2,
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app, with NO application context pushed.

    A pushed context would be reused by every test-client request (Flask only pushes a new
    one when none is active), so requests would share ``g`` and the database session with
    each other and with the test, hiding real bugs. Use ``app_context`` when a test itself
    needs ``current_app``.
    """
    application = create_app(app_config(database_url))
    yield application
    application.extensions["ruta_db"].dispose()


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """The test's own session, independent of the sessions requests use."""
    session = app.extensions["ruta_db"].session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


# --- factories ----------------------------------------------------------------------------


@dataclass
class Factory:
    """Builds test data directly in the database (flushes; tests commit when they need to)."""

    db: Session
    _numbers = count(1)

    def secretaria(self, name: str = "Secretaría de Educación de Ibagué",
                   divipola: str = "73001") -> Secretaria:
        existing = self.db.query(Secretaria).filter_by(name=name).one_or_none()
        if existing is not None:
            return existing
        secretaria = Secretaria(name=name, divipola=divipola, horizon_start_year=2024,
                                horizon_years=3)
        self.db.add(secretaria)
        self.db.flush()
        return secretaria

    def school(self, secretaria: Secretaria | None = None, name: str | None = None,
               zona: Zona = Zona.URBANA) -> School:
        secretaria = secretaria or self.secretaria()
        number = next(self._numbers)
        school = School(secretaria=secretaria,
                        # A department's divipola («73») is padded to five digits, so its codes
                        # never meet a municipality's («73001»), whatever the counter reached.
                        dane_code=f"1{secretaria.divipola:0<5}{number:06d}"[:12],
                        name=name or f"Institución Educativa Prueba {number}", zona=zona,
                        locality="Comuna 1" if zona is Zona.URBANA else "Corregimiento Juntas")
        self.db.add(school)
        self.db.flush()
        return school

    def user(self, role: Role, school: School | None = None, email: str | None = None,
             secretaria: Secretaria | None = None, password: str = PASSWORD,
             active: bool = True) -> User:
        if role.belongs_to_school and school is None:
            school = self.school(secretaria)
        secretaria = secretaria or (school.secretaria if school else self.secretaria())
        number = next(self._numbers)
        user = User(secretaria=secretaria, email=email or f"{role.value}{number}@prueba.co",
                    name=f"{role.label} {number}", role=role, school=school, active=active,
                    password_hash=TEST_PASSWORDS.hash(password))
        self.db.add(user)
        self.db.flush()
        return user

    def ruta(self, school: School | None = None, state: State = State.BORRADOR,
             catalog: Catalog | None = None) -> Ruta:
        """A Ruta placed directly in ``state`` (for tests of what happens from there)."""
        school = school or self.school()
        ruta = Ruta(school=school, horizon_start_year=2024, horizon_end_year=2026, state=state,
                    catalog_id=catalog.id if catalog else None)
        self.db.add(ruta)
        self.db.flush()
        return ruta

    def catalog(self, slug: str = "prueba-mini",
                secretaria: Secretaria | None = None) -> Catalog:
        """A small catalog (two áreas, three procesos, five componentes), stored once; shared
        by every Secretaría unless ``secretaria`` owns it."""
        existing = self.db.query(Catalog).filter_by(slug=slug).one_or_none()
        if existing is not None:
            return existing
        return store_catalog(self.db, validate_catalog({**MINI_CATALOG, "id": slug}),
                             source="pruebas",
                             secretaria_id=secretaria.id if secretaria else None)

    def completed_self_assessment(self, ruta: Ruta, level: int = 3) -> Ruta:
        """Pin the small catalog to ``ruta`` and complete its autoevaluación: identity
        reviewed, an equipo de gestión of four from three estamentos (the default rules'
        minimum), every componente at ``level`` with evidence. The Ruta's version is kept, as
        when ``open_ruta`` pins the catalog."""
        catalog = self.catalog()
        self.db.execute(update(Ruta).where(Ruta.id == ruta.id).values(catalog_id=catalog.id))
        self.db.refresh(ruta)
        self.db.add(IdentityReview(
            ruta_id=ruta.id, mision="Formar ciudadanos críticos.", vision="Ser referente en 2030.",
            principios="Respeto y responsabilidad.", pei_reference="Acuerdo 04 de 2021",
            mision_vigencia=Vigencia.VIGENTE, vision_vigencia=Vigencia.VIGENTE,
            principios_vigencia=Vigencia.VIGENTE, notes=""))
        self.add_team(ruta)
        for componente in catalog.componentes:
            self.db.add(Valoracion(ruta_id=ruta.id, componente_id=componente.id, level=level,
                                   evidence="Acta 3 de 2024 del Consejo Directivo.",
                                   comments=""))
        self.db.flush()
        return ruta

    def add_team(self, ruta: Ruta, estamentos: tuple[Estamento, ...] = (
            Estamento.DIRECTIVO, Estamento.DOCENTE, Estamento.DOCENTE,
            Estamento.PADRE_MADRE)) -> list[TeamMember]:
        """An equipo de gestión for ``ruta``, one member per estamento given (no accounts)."""
        members = [TeamMember(ruta_id=ruta.id, name=f"Integrante {number} del equipo",
                              email=f"equipo{number}.ruta{ruta.id}@prueba.co",
                              estamento=estamento)
                   for number, estamento in enumerate(estamentos, 1)]
        self.db.add_all(members)
        self.db.flush()
        return members


SCALE = [{"level": level, "name": name, "summary": f"Descripción del nivel {level}."}
         for level, name in ((1, "Existencia"), (2, "Pertinencia"), (3, "Apropiación"),
                             (4, "Mejoramiento continuo"))]
MINI_CATALOG: dict[str, Any] = {
    "id": "prueba-mini", "title": "Instrumento de prueba", "year": 2024, "scale": SCALE,
    "areas": [
        {"code": "DIR", "name": "Gestión directiva", "procesos": [
            {"code": "DIR.1", "name": "Direccionamiento estratégico", "componentes": [
                {"code": "DIR.1.1", "name": "Misión, visión y principios"},
                {"code": "DIR.1.2", "name": "Metas institucionales"}]},
            {"code": "DIR.2", "name": "Gobierno escolar", "componentes": [
                {"code": "DIR.2.1", "name": "Consejo directivo"}]}]},
        {"code": "ACA", "name": "Gestión académica", "procesos": [
            {"code": "ACA.1", "name": "Diseño pedagógico", "componentes": [
                {"code": "ACA.1.1", "name": "Plan de estudios"},
                {"code": "ACA.1.2", "name": "Evaluación"}]}]},
    ],
}


@pytest.fixture
def make(db: Session) -> Factory:
    return Factory(db)


# --- a browser-like client that speaks CSRF ------------------------------------------------

CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebClient:
    """The Flask test client with the CSRF token a real form would carry."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        # Only pages carry forms; a download (an Excel file) is not text.
        found = (CSRF_PATTERN.search(response.get_data(as_text=True))
                 if response.mimetype == "text/html" else None)
        if found:
            self.token = found.group(1)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> Any:
        if csrf and not self.token:
            self.get("/ingresar")
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.token)
        return self.client.post(url, data=form, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        self.get("/ingresar")
        response = self.post("/ingresar", {"email": email, "password": password})
        self.get("/cuenta/contrasena")  # a page with a form: refresh the token
        return response


@pytest.fixture
def web(app: Flask) -> WebClient:
    return WebClient(app.test_client())


@pytest.fixture
def web_factory(app: Flask) -> Any:
    """More than one independent browser (two users at once)."""
    return lambda: WebClient(app.test_client())


@contextmanager
def machine_timezone(name: str) -> Iterator[None]:
    """Run with the process's local timezone set to ``name`` (``TZ``), then restore it."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


#: A rubric judging every criterion «cumple»: returns and approvals carry one.
PASSING_RUBRIC = {criterion: ("cumple", "") for criterion in RUBRIC_ORDER}
#: The same rubric as the review page's form posts it.
PASSING_RUBRIC_FORM = {rubric_field(criterion, "veredicto"): "cumple" for criterion in RUBRIC_ORDER}
