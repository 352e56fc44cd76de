"""The ``ruta`` command: a Flask CLI group, so ``ruta run`` and ``ruta routes`` come with it."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from ruta.config import ConfigError
from ruta.db import db_session, get_db
from workflow.cuentas import accounts
from workflow.errors import DomainError, InvalidInput
from workflow.models import Ruta, School, Secretaria, User
from workflow.pmi.checks import check_ruta, render_text
from workflow.roles import Role
from workflow.states import State, mermaid_diagram


def load_app() -> Flask:
    from ruta import create_app

    try:
        return create_app()
    except ConfigError as error:
        # Flask's CLI would print a traceback (even for --help): say what to set, and stop.
        click.echo(f"Error de configuración: {error}", err=True)
        sys.exit(1)


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _input_errors(error: DomainError) -> str:
    if isinstance(error, InvalidInput):
        return "\n".join(message for messages in error.errors.values() for message in messages)
    return error.message


@click.command("init-db")
@click.option("--owner", help="PostgreSQL: el rol dueño de las tablas, que corre las "
              "migraciones (se crea si no existe). El usuario de DATABASE_URL queda solo con "
              "SELECT/INSERT/UPDATE/DELETE.")
@click.option("--owner-url", envvar="RUTA_OWNER_DATABASE_URL",
              help="Con --owner: conexión de un superusuario (o de un rol con CREATEROLE "
              "miembro del dueño) a la misma base. También RUTA_OWNER_DATABASE_URL.")
@with_appcontext
def init_db_command(owner: str | None, owner_url: str | None) -> None:
    """Create or update the database schema (Alembic migrations) and load the shipped
    Guía 34 catalogs that are not stored yet.

    With ``--owner``, the migrations run as that role through ``--owner-url`` and the
    application's role only reads and writes rows (``ruta.db_roles``).
    """
    from ruta.migrate import upgrade
    from workflow.catalogo.catalog import load_shipped_catalogs

    if owner or owner_url:
        _init_db_as_owner(owner, owner_url)
    else:
        upgrade(get_db().engine)
    database = db_session()
    loaded = load_shipped_catalogs(database)
    database.commit()
    click.echo("Base de datos lista." + (
        f" Instrumentos cargados: {', '.join(item.slug for item in loaded)}." if loaded else ""))


def _init_db_as_owner(owner: str | None, owner_url: str | None) -> None:
    from sqlalchemy.engine import make_url

    from ruta.db import make_engine
    from ruta.db_roles import RoleSetupError, grant_application, prepare_owner
    from ruta.migrate import upgrade_on

    app_url = make_url(get_db().url)
    if not owner or not owner_url:
        _fail("Use --owner y --owner-url juntos: el rol dueño y la conexión que lo crea.")
    if app_url.get_backend_name() != "postgresql":
        _fail("--owner es solo para PostgreSQL (SQLite no tiene roles).")
    target = make_url(owner_url)
    if target.get_backend_name() != "postgresql" or target.database != app_url.database:
        _fail(f"--owner-url debe apuntar a la misma base de PostgreSQL ({app_url.database}).")
    engine = make_engine(owner_url)
    try:
        with engine.connect() as connection, connection.begin():
            prepare_owner(connection, owner=owner, app_role=app_url.username or "")
            upgrade_on(connection)
            grant_application(connection, owner=owner, app_role=app_url.username or "")
    except RoleSetupError as error:
        _fail(str(error))
    finally:
        engine.dispose()
    click.echo(f"Migraciones aplicadas como «{owner}»; «{app_url.username}» solo lee y "
               "escribe filas.")


@click.command("demo")
@click.option("--schools", "school_count", default=14, show_default=True,
              type=click.IntRange(1, 500), help="Cuántas instituciones de ejemplo crear.")
@click.option("--password", default="ruta-demo-2024", show_default=True,
              help="Contraseña de todas las cuentas de ejemplo.")
@click.option("--if-empty", is_flag=True, help="No hacer nada si ya hay datos.")
@with_appcontext
def demo_command(school_count: int, password: str, if_empty: bool) -> None:
    """Load Ibagué-like demo data: accounts, schools and Rutas in every state."""
    from demo.seed import seed_demo
    from ruta.security import passwords

    database = db_session()
    if database.scalar(select(func.count()).select_from(Secretaria)):
        if if_empty:
            click.echo("La base de datos ya tiene datos: no se cargó el ejemplo.")
            _print_demo_accounts()
            return
        _fail("La base de datos ya tiene datos. El ejemplo solo se carga en una base vacía.")
    problems = accounts.password_problems(password)
    if problems:
        _fail(" ".join(problems))
    seed_demo(database, school_count=school_count, password=password, passwords=passwords())
    database.commit()
    click.echo(f"Datos de ejemplo cargados: {school_count} instituciones.")
    _print_demo_accounts(password)


def _print_demo_accounts(password: str | None = None) -> None:
    from demo.seed import DEMO_DOMAIN

    click.echo("Cuentas de ejemplo" + (
        f" (contraseña «{password}»):" if password else
        " (contraseña: la que se dio al cargarlas; por defecto «ruta-demo-2024»):"))
    click.echo(f"  admin@{DEMO_DOMAIN}       administración de la Secretaría")
    click.echo(f"  revisor1@{DEMO_DOMAIN}    revisor(a) de Calidad Educativa (también revisor2)")
    click.echo(f"  rector01@{DEMO_DOMAIN}    rector(a) de la institución 01 (y rector02, …)")
    click.echo(f"  equipo01@{DEMO_DOMAIN}    equipo de gestión de la institución 01 (y equipo02…)")
    click.echo(f"  consulta@{DEMO_DOMAIN}    consulta (solo lectura)")


@click.group("users")
def users_group() -> None:
    """Manage user accounts."""


@users_group.command("reset-mfa")
@click.option("--email", required=True)
@with_appcontext
def users_reset_mfa_command(email: str) -> None:
    """Remove a person's two-step verification (lost phone and recovery codes)."""
    from workflow.cuentas import mfa

    database = db_session()
    user = database.scalar(select(User).where(User.email == accounts.normalize_email(email)))
    if user is None:
        _fail(f"No hay un usuario con el correo {email}.")
    assert user is not None
    had = mfa.reset(database, user, actor=None)
    database.commit()
    click.echo(f"Se restableció la verificación en dos pasos de {user.email}"
               f"{'' if had else ' (no la tenía activa)'}; sus sesiones se cerraron.")


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--school", "school_dane", help="Código DANE de la institución (rector, equipo).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--secretaria", "secretaria_name", help="Nombre de la Secretaría (si hay varias).")
@click.option("--temporal", "temporary", is_flag=True,
              help="La persona debe cambiar la contraseña al ingresar (si no la eligió ella).")
@with_appcontext
def users_create_command(email: str, name: str, role: str, school_dane: str | None,
                         password: str, secretaria_name: str | None, temporary: bool) -> None:
    """Create a user with a password."""
    from ruta.security import passwords

    database = db_session()
    secretaria = _one_secretaria(secretaria_name)
    school_id = None
    if school_dane:
        school = database.scalar(select(School).where(School.dane_code == school_dane.strip()))
        if school is None:
            _fail(f"No hay una institución con código DANE {school_dane}.")
        assert school is not None
        school_id = school.id
    try:
        user = accounts.create_user(
            database, actor=None, secretaria_id=secretaria.id,
            data=accounts.UserData(email=email, name=name, role=role, school_id=school_id),
            password=password, passwords=passwords(), temporary=temporary)
    except DomainError as error:
        database.rollback()
        _fail(_input_errors(error))
        return
    database.commit()
    click.echo(f"Usuario creado: {user.email} ({user.role.label}).")


def _one_secretaria(name: str | None) -> Secretaria:
    database = db_session()
    statement = select(Secretaria)
    if name:
        statement = statement.where(Secretaria.name == name)
    found = database.scalars(statement).all()
    if not found:
        _fail("No hay ninguna Secretaría registrada" + (f" con el nombre «{name}»." if name else
              ". Cree una con «ruta secretarias create» o cargue «ruta demo»."))
    if len(found) > 1:
        _fail("Hay varias Secretarías: indique cuál con --secretaria.")
    return found[0]


@click.group("secretarias")
def secretarias_group() -> None:
    """Manage Secretarías de Educación."""


@secretarias_group.command("create")
@click.option("--name", required=True, help="Por ejemplo: Secretaría de Educación de Ibagué")
@click.option("--divipola", required=True, help="Código DIVIPOLA (73001 para Ibagué).")
@click.option("--horizon-start", default=2024, show_default=True, type=int)
@click.option("--horizon-years", default=3, show_default=True, type=click.IntRange(1, 10))
@with_appcontext
def secretarias_create_command(name: str, divipola: str, horizon_start: int,
                               horizon_years: int) -> None:
    """Register a Secretaría de Educación."""
    divipola = divipola.strip()
    if not divipola.isdigit() or len(divipola) not in (2, 5):
        _fail("El código DIVIPOLA tiene 2 dígitos (departamento) o 5 (municipio).")
    database = db_session()
    if database.scalar(select(Secretaria).where(Secretaria.name == name.strip())):
        _fail(f"Ya existe la Secretaría «{name}».")
    database.add(Secretaria(name=name.strip(), divipola=divipola,
                            horizon_start_year=horizon_start, horizon_years=horizon_years))
    database.commit()
    click.echo(f"Secretaría creada: {name}.")


@click.group("schools")
def schools_group() -> None:
    """Manage schools (instituciones educativas)."""


@schools_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--secretaria", "secretaria_name", help="Nombre de la Secretaría (si hay varias).")
@with_appcontext
def schools_import_command(csv_file: str, secretaria_name: str | None) -> None:
    """Import new schools and their rectors from a CSV file: all rows or none."""
    from sqlalchemy.exc import IntegrityError

    from workflow.cuentas import school_import

    database = db_session()
    secretaria = _one_secretaria(secretaria_name)
    with open(csv_file, "rb") as handle:
        # One byte over the limit is enough for the import to say the file is too big.
        content = handle.read(school_import.MAX_BYTES + 1)
    try:
        report = school_import.import_schools(database, actor=None, secretaria=secretaria,
                                               content=content)
        if report.ok:
            database.commit()
    except IntegrityError:
        report = school_import.ImportReport(errors=[
            "Otra persona registró al mismo tiempo un código DANE o un correo del archivo. "
            "Vuelva a intentarlo."])
    if not report.ok:
        database.rollback()
        for message in report.errors:
            click.echo(message, err=True)
        _fail(report.summary())
    click.echo(report.summary())


@click.group("rutas")
def rutas_group() -> None:
    """Inspect Rutas."""


@rutas_group.command("list")
@click.option("--state", type=click.Choice([state.value for state in State]))
@with_appcontext
def rutas_list_command(state: str | None) -> None:
    """List Rutas with their school and state."""
    statement = select(Ruta).join(Ruta.school).order_by(School.name, Ruta.horizon_start_year)
    if state:
        statement = statement.where(Ruta.state == State(state))
    rutas = db_session().scalars(statement).all()
    for ruta in rutas:
        click.echo(f"{ruta.id:>5}  {ruta.school.dane_code}  {ruta.horizon_label}  "
                   f"{ruta.state.value:<24} {ruta.school.name}")
    click.echo(f"{len(rutas)} Ruta(s).")


@rutas_group.command("check")
@click.argument("ruta_id", type=int)
@with_appcontext
def rutas_check_command(ruta_id: int) -> None:
    """Print the Circular 0488 checks of a Ruta's PMI; exit 1 when a blocking rule fails."""
    ruta = db_session().get(Ruta, ruta_id)
    if ruta is None:
        _fail(f"No existe la Ruta {ruta_id}.")
        return
    report = check_ruta(db_session(), ruta)
    click.echo(f"PMI de {ruta.school.name}, Ruta {ruta.horizon_label} ({ruta.state.label})")
    click.echo(render_text(report))
    if not report.passes:
        sys.exit(1)


@click.command("states")
@click.option("--format", "output_format", type=click.Choice(["mermaid", "table"]),
              default="mermaid", show_default=True)
def states_command(output_format: str) -> None:
    """Print the Ruta state machine, then the plan adjustment's (its own small machine),
    each generated from the machine itself."""
    from workflow.ajustes import machine as adjustment_machine

    if output_format == "mermaid":
        click.echo(mermaid_diagram())
        click.echo()
        click.echo(adjustment_machine.mermaid_diagram())
        return
    from workflow.states import TRANSITIONS, TRIGGER_ACTORS, Trigger

    for row in TRANSITIONS:
        trigger = Trigger(str(row["trigger"]))
        conditions = ", ".join(row.get("conditions", [])) or "—"  # type: ignore[arg-type]
        who = ", ".join(sorted(TRIGGER_ACTORS[trigger]))
        click.echo(f"{trigger.value:<22} {row['source']!s:>24} → {row['dest']!s:<24} "
                   f"[{who}] si: {conditions}")
    click.echo()
    click.echo("Ajuste del plan (durante el seguimiento; la Ruta sigue en seguimiento):")
    for row in adjustment_machine.TRANSITIONS:
        step = adjustment_machine.AdjustmentTrigger(str(row["trigger"]))
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        conditions = ", ".join(row.get("conditions", [])) or "—"  # type: ignore[arg-type]
        who = ", ".join(sorted(adjustment_machine.TRIGGER_ACTORS[step]))
        for source in sources:
            click.echo(f"{step.value:<22} {source!s:>24} → {row['dest']!s:<24} "
                       f"[{who}] si: {conditions}")


@click.group("catalog")
def catalog_group() -> None:
    """Autoevaluación instruments (Guía 34 catalogs): versions are never edited in place."""


@catalog_group.command("list")
@with_appcontext
def catalog_list_command() -> None:
    """Every catalog version with its counts of áreas, procesos and componentes."""
    from workflow.catalogo.catalog import catalog_counts, current_catalog
    from workflow.catalogo.models import Catalog

    database = db_session()
    found = database.scalars(select(Catalog).order_by(Catalog.year, Catalog.slug)).all()
    counts = catalog_counts(database, [item.id for item in found])
    current: dict[int, list[str]] = {}
    for secretaria in database.scalars(select(Secretaria).order_by(Secretaria.name)):
        chosen = current_catalog(database, secretaria.id)
        if chosen is not None:
            current.setdefault(chosen.id, []).append(secretaria.name)
    for item in found:
        areas, procesos, componentes = counts[item.id]
        owner = item.secretaria.name if item.secretaria else "todas las Secretarías"
        line = (f"{item.slug:<24} {item.year}  {areas} áreas · {procesos} procesos · "
                f"{componentes} componentes  [{owner}]")
        if item.id in current:
            line += f"  vigente en: {', '.join(current[item.id])}"
        click.echo(line)
    click.echo(f"{len(found)} catálogo(s).")


@catalog_group.command("load")
@click.argument("catalog_file", type=click.Path(exists=True, dir_okay=False, readable=True))
@with_appcontext
def catalog_load_command(catalog_file: str) -> None:
    """Load a catalog file (JSON) as a new version, for every Secretaría."""
    from pathlib import Path

    from workflow.catalogo.catalog import load_catalog
    from workflow.catalogo.files import MAX_FILE_BYTES, CatalogProblems

    database = db_session()
    path = Path(catalog_file)
    with path.open("rb") as handle:
        content = handle.read(MAX_FILE_BYTES + 1)
    try:
        loaded = load_catalog(database, content, source=path.name)
    except CatalogProblems as refused:
        database.rollback()
        for problem in refused.problems:
            click.echo(str(problem), err=True)
        _fail(refused.message)
        return
    database.commit()
    click.echo(_catalog_summary("Catálogo cargado", loaded.id, loaded.slug))


@catalog_group.command("load-shipped")
@with_appcontext
def catalog_load_shipped_command() -> None:
    """Load the catalogs shipped with Ruta (Guía 34 of 2008 and 2026) that are missing."""
    from workflow.catalogo.catalog import load_shipped_catalogs

    database = db_session()
    loaded = load_shipped_catalogs(database)
    database.commit()
    for item in loaded:
        click.echo(_catalog_summary("Catálogo cargado", item.id, item.slug))
    if not loaded:
        click.echo("Los catálogos incluidos ya estaban cargados.")


@catalog_group.group("crosswalks")
def crosswalks_group() -> None:
    """Crosswalks between catalog versions (tablas de equivalencias): how a Ruta's perfil
    compares with a previous Ruta opened on another version."""


@crosswalks_group.command("load")
@click.argument("crosswalk_file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--secretaria", "secretaria_key",
              help="Id o nombre de la Secretaría dueña de la tabla. Sin esta opción, la tabla "
                   "vale para todas las Secretarías que no tengan una propia.")
@with_appcontext
def crosswalks_load_command(crosswalk_file: str, secretaria_key: str | None) -> None:
    """Load a crosswalk file (JSON). Replaces the Secretaría's (or the shared) table for the
    same pair of versions, all at once."""
    from pathlib import Path

    from workflow.catalogo.crosswalk import CrosswalkProblems, load_crosswalk
    from workflow.catalogo.files import MAX_FILE_BYTES

    database = db_session()
    secretaria = None
    if secretaria_key:
        secretaria = database.scalar(select(Secretaria).where(
            Secretaria.id == int(secretaria_key) if secretaria_key.isdigit()
            else Secretaria.name == secretaria_key))
        if secretaria is None:
            _fail(f"No hay ninguna Secretaría con el id o el nombre «{secretaria_key}».")
            return
    path = Path(crosswalk_file)
    with path.open("rb") as handle:
        content = handle.read(MAX_FILE_BYTES + 1)
    try:
        loaded = load_crosswalk(database, content, source=path.name,
                                secretaria_id=None if secretaria is None else secretaria.id)
    except CrosswalkProblems as refused:
        database.rollback()
        for problem in refused.problems:
            click.echo(str(problem), err=True)
        _fail(refused.message)
        return
    database.commit()
    empty = sum(1 for entry in loaded.entries if entry.target_componente_id is None)
    click.echo(f"Tabla de equivalencias cargada: {loaded.label} ({len(loaded.entries)} "
               f"componentes, {empty} sin equivalente) para "
               f"{secretaria.name if secretaria else 'todas las Secretarías'}.")


@crosswalks_group.command("list")
@with_appcontext
def crosswalks_list_command() -> None:
    """Every stored crosswalk, with whose it is."""
    from workflow.catalogo.models import Crosswalk

    database = db_session()
    found = database.scalars(select(Crosswalk).order_by(Crosswalk.id)).all()
    for item in found:
        empty = sum(1 for entry in item.entries if entry.target_componente_id is None)
        owner = item.secretaria.name if item.secretaria else "todas las Secretarías"
        click.echo(f"{item.label:<36} {len(item.entries)} componentes · {empty} sin "
                   f"equivalente  [{owner}]  {item.source}")
    click.echo(f"{len(found)} tabla(s) de equivalencias.")


def _catalog_summary(prefix: str, catalog_id: int, slug: str) -> str:
    from workflow.catalogo.catalog import catalog_counts

    areas, procesos, componentes = catalog_counts(db_session(), [catalog_id])[catalog_id]
    return (f"{prefix}: {slug} ({areas} áreas, {procesos} procesos, "
            f"{componentes} componentes).")


@click.group("horizontes")
def horizontes_group() -> None:
    """A Secretaría's horizons (2024–2026, 2027–2029, …): list them, open the next one."""


def _secretaria_by_id_or_name(given: str | None) -> Secretaria:
    if given is not None and given.strip().isdigit():
        found = db_session().get(Secretaria, int(given.strip()))
        if found is None:
            _fail(f"No hay ninguna Secretaría con el número {given.strip()}.")
        assert found is not None
        return found
    return _one_secretaria(given)


@horizontes_group.command("listar")
@click.option("--secretaria", "secretaria_given",
              help="Número o nombre de la Secretaría (si hay varias).")
@with_appcontext
def horizontes_list_command(secretaria_given: str | None) -> None:
    """Every horizon with its estado, instrument, rule set, Rutas and missing dates."""
    from datetime import UTC, datetime

    from workflow.catalogo.models import Catalog, RuleSet
    from workflow.horizontes.horizons import (
        bogota_day,
        horizon_state,
        horizons_of,
        missing_dates,
    )

    database = db_session()
    secretaria = _secretaria_by_id_or_name(secretaria_given)
    today = bogota_day(datetime.now(UTC))
    counts = dict(database.execute(
        select(Ruta.horizon_start_year, func.count(Ruta.id)).join(School)
        .where(School.secretaria_id == secretaria.id).group_by(Ruta.horizon_start_year)).all())
    found = horizons_of(database, secretaria.id)
    for horizon in found:
        catalog = database.get(Catalog, horizon.catalog_id) if horizon.catalog_id else None
        rules = database.get(RuleSet, horizon.rule_set_id) if horizon.rule_set_id else None
        click.echo(f"{horizon.horizon_label}  {horizon_state(horizon, secretaria):<9}  "
                   f"instrumento: {catalog.slug if catalog else '—'}  "
                   f"reglas: {rules.number if rules else '—'}  "
                   f"Rutas: {counts.get(horizon.horizon_start_year, 0)}")
        for missing in missing_dates(horizon, today):
            click.echo(f"    {missing.sentence}")
    click.echo(f"{len(found)} horizonte(s) de {secretaria.name}.")


@horizontes_group.command("abrir")
@click.argument("start_year")
@click.option("--secretaria", "secretaria_given",
              help="Número o nombre de la Secretaría (si hay varias).")
@click.option("--instrumento", "catalog_slug",
              help="Versión del instrumento (slug, ver «ruta catalog list»); por defecto, "
                   "la vigente de la Secretaría.")
@with_appcontext
def horizontes_open_command(start_year: str, secretaria_given: str | None,
                            catalog_slug: str | None) -> None:
    """Open the horizon starting in START_YEAR (it becomes current when its first year
    starts). Its calendar dates are entered later, when each year's are published."""
    from workflow.catalogo.models import Catalog
    from workflow.horizontes.horizons import open_horizon

    database = db_session()
    secretaria = _secretaria_by_id_or_name(secretaria_given)
    catalog_id = None
    if catalog_slug is not None:
        catalog = database.scalar(select(Catalog).where(
            Catalog.slug == catalog_slug.strip(),
            (Catalog.secretaria_id.is_(None)) | (Catalog.secretaria_id == secretaria.id)))
        if catalog is None:
            _fail(f"No hay ninguna versión del instrumento «{catalog_slug.strip()}»: vea "
                  "«ruta catalog list».")
        assert catalog is not None
        catalog_id = catalog.id
    try:
        horizon = open_horizon(database, secretaria, start_year, actor=None,
                               catalog_id=catalog_id)
    except DomainError as error:
        database.rollback()
        _fail(_input_errors(error))
        return
    database.commit()
    chosen = database.get(Catalog, horizon.catalog_id) if horizon.catalog_id else None
    click.echo(f"Horizonte {horizon.horizon_label} abierto para {secretaria.name}"
               f" con el instrumento {chosen.slug if chosen else '—'}. Ingrese las fechas de "
               "su calendario en /admin/calendario/"
               f"{horizon.horizon_start_year} cuando se publiquen.")
