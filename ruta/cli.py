"""The ``ruta`` command: a Flask CLI group, so ``ruta run`` and ``ruta routes`` come with it."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from ruta.config import ConfigError
from ruta.db import db_session, get_db
from workflow import accounts
from workflow.errors import DomainError, InvalidInput
from workflow.models import Ruta, School, Secretaria
from workflow.roles import Role
from workflow.states import State, mermaid_diagram


def _create_app() -> Flask:
    from ruta import create_app

    return create_app()


def main() -> None:
    group = FlaskGroup(create_app=_create_app, help="Ruta de Mejoramiento: administración.")
    try:
        group.main(prog_name="ruta")
    except ConfigError as error:
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
@with_appcontext
def init_db_command() -> None:
    """Create or update the database schema (Alembic migrations)."""
    from ruta.migrate import upgrade

    upgrade(get_db().engine)
    click.echo("Base de datos lista.")


@click.command("demo")
@click.option("--schools", "school_count", default=14, show_default=True,
              type=click.IntRange(1, 500), help="Cuántas instituciones de ejemplo crear.")
@click.option("--password", default="ruta-demo-2024", show_default=True,
              help="Contraseña de todas las cuentas de ejemplo.")
@click.option("--if-empty", is_flag=True, help="No hacer nada si ya hay datos.")
@with_appcontext
def demo_command(school_count: int, password: str, if_empty: bool) -> None:
    """Load Ibagué-like demo data: accounts, schools and Rutas in every state."""
    from ruta.security import passwords
    from workflow.demo import seed_demo

    database = db_session()
    if database.scalar(select(func.count()).select_from(Secretaria)):
        if if_empty:
            click.echo("La base de datos ya tiene datos: no se cargó el ejemplo.")
            _print_demo_accounts(database)
            return
        _fail("La base de datos ya tiene datos. El ejemplo solo se carga en una base vacía.")
    problems = accounts.password_problems(password)
    if problems:
        _fail(" ".join(problems))
    seed_demo(database, school_count=school_count, password=password, passwords=passwords())
    database.commit()
    click.echo(f"Datos de ejemplo cargados: {school_count} instituciones.")
    _print_demo_accounts(database, password)


def _print_demo_accounts(database: object, password: str | None = None) -> None:
    from workflow.demo import DEMO_DOMAIN

    click.echo("Cuentas de ejemplo" + (f" (contraseña «{password}»):" if password else ":"))
    click.echo(f"  admin@{DEMO_DOMAIN}       administración de la Secretaría")
    click.echo(f"  revisor1@{DEMO_DOMAIN}    revisor(a) de Calidad Educativa (también revisor2)")
    click.echo(f"  rector01@{DEMO_DOMAIN}    rector(a) de la institución 01 (y rector02, …)")
    click.echo(f"  consulta@{DEMO_DOMAIN}    consulta (solo lectura)")


@click.group("users")
def users_group() -> None:
    """Manage user accounts."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--school", "school_dane", help="Código DANE de la institución (rector, equipo).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--secretaria", "secretaria_name", help="Nombre de la Secretaría (si hay varias).")
@with_appcontext
def users_create_command(email: str, name: str, role: str, school_dane: str | None,
                         password: str, secretaria_name: str | None) -> None:
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
            password=password, passwords=passwords())
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


@click.command("states")
@click.option("--format", "output_format", type=click.Choice(["mermaid", "table"]),
              default="mermaid", show_default=True)
def states_command(output_format: str) -> None:
    """Print the Ruta state machine, generated from the machine itself."""
    if output_format == "mermaid":
        click.echo(mermaid_diagram())
        return
    from workflow.states import TRANSITIONS, TRIGGER_ACTORS, Trigger

    for row in TRANSITIONS:
        trigger = Trigger(str(row["trigger"]))
        conditions = ", ".join(row.get("conditions", [])) or "—"  # type: ignore[arg-type]
        who = ", ".join(sorted(TRIGGER_ACTORS[trigger]))
        click.echo(f"{trigger.value:<22} {row['source']!s:>24} → {row['dest']!s:<24} "
                   f"[{who}] si: {conditions}")


def init_app(app: Flask) -> None:
    for command in (init_db_command, demo_command, users_group, secretarias_group,
                    rutas_group, states_command):
        app.cli.add_command(command)
