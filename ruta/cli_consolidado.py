"""``ruta consolidado actualizar``: refresh the consolidado's per-Ruta aggregates now.

The scheduler does it every day (job ``consolidado``) and every change of a Ruta refreshes its
own; this is for after an upgrade or a bulk load, or to see today's figures at once.
"""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from workflow.consolidado.aggregates import refresh_in_batches
from workflow.models import utcnow


@click.group("consolidado")
def consolidado_group() -> None:
    """Cifras del consolidado de la Secretaría."""


@consolidado_group.command("actualizar")
@with_appcontext
def refresh_command() -> None:
    """Recalcular ahora las cifras por Ruta que lee el consolidado (/reportes/)."""
    start = time.perf_counter()
    written = refresh_in_batches(current_app.extensions["ruta_db"].session_factory,
                                 now=utcnow())
    click.echo(f"Cifras del consolidado actualizadas: {written} Ruta(s) en "
               f"{time.perf_counter() - start:.1f} s.")
