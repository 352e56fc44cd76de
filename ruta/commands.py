"""The ``ruta`` console script: every command of the project in one Flask CLI group.

Its commands are the group's own, so listing them builds no application: ``ruta --help`` and
``ruta states`` need no configuration (no ``SECRET_KEY``, no database). A command that needs
the application builds it when it runs, and a missing setting is then said in Spanish
(``ruta.cli.load_app``).
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from jobs.cli import jobs_group
from jobs.scheduler import scheduler_command
from ruta import cli
from ruta.cli_backup import backup_command, restore_command
from ruta.cli_consolidado import consolidado_group
from ruta.cli_export import export_group
from ruta.doctor import doctor_command


class RutaGroup(FlaskGroup):
    """A FlaskGroup that lists its own commands without loading the application."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return click.Group.list_commands(self, ctx)


def all_commands() -> list[click.Command]:
    """Every command of ``ruta`` (besides Flask's own run, shell and routes)."""
    return [cli.init_db_command, cli.demo_command, cli.users_group, cli.secretarias_group,
            cli.rutas_group, cli.states_command, cli.schools_group, cli.catalog_group,
            cli.horizontes_group, export_group, consolidado_group, jobs_group,
            scheduler_command,
            backup_command, restore_command, doctor_command]


def init_app(app: Flask) -> None:
    """The same commands on the application's own CLI (``app.test_cli_runner``, ``flask``)."""
    for command in all_commands():
        app.cli.add_command(command)


def main() -> None:
    group = RutaGroup(create_app=cli.load_app,
                      help="Ruta de Mejoramiento: administración.")
    for command in all_commands():
        group.add_command(command)
    group.main(prog_name="ruta")
