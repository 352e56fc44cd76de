"""``ruta export consolidado --out FILE.xlsx``: the Secretaría's consolidated workbook."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ruta.cli import _fail, _one_secretaria
from ruta.db import db_session
from workflow.consolidado import consolidate as consolidado
from workflow.consolidado import exports
from workflow.consolidado.export_scope import ExportScope
from workflow.errors import NotFound
from workflow.models import User, Zona
from workflow.roles import Role


@click.group("export")
def export_group() -> None:
    """Exportar datos de la Secretaría."""


@export_group.command("consolidado")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False,
                                                                   path_type=Path),
              help="Archivo .xlsx que se va a escribir.")
@click.option("--secretaria", "secretaria_name", help="Nombre de la Secretaría (si hay varias).")
@click.option("--zona", type=click.Choice([zona.value for zona in Zona]), default=None)
@click.option("--comuna", default=None, help="Comuna o corregimiento.")
@click.option("--horizonte", type=int, default=None,
              help="Año en que empieza el horizonte (por omisión, el vigente).")
@click.option("--perfil-componentes", "perfil_componentes", is_flag=True, default=False,
              help="Agregar la hoja del perfil por componente (una fila por institución y "
                   "componente: el detalle).")
@with_appcontext
def export_consolidado_command(out_path: Path, secretaria_name: str | None, zona: str | None,
                               comuna: str | None, horizonte: int | None,
                               perfil_componentes: bool) -> None:
    """Escribir el consolidado en Excel: instituciones, estados, perfil, PMI y metas por área."""
    if out_path.suffix.lower() != ".xlsx":
        _fail("El archivo de salida debe terminar en .xlsx.")
    if not out_path.parent.is_dir():
        _fail(f"La carpeta {out_path.parent} no existe.")
    secretaria = _one_secretaria(secretaria_name)
    # Read as the Secretaría's administración would (a transient actor, never stored), so the
    # command sees exactly what /reportes/ shows it.
    actor = User(secretaria_id=secretaria.id, role=Role.ADMINISTRADOR, active=True,
                 email="consola@ruta.local", name="Consola")
    database = db_session()
    try:
        scope = ExportScope(
            database, actor, consolidado.Filters.parse(zona, comuna, horizonte),
            now=datetime.now(UTC), stalled_days=current_app.config["STALLED_DAYS"])
    except NotFound as missing:
        _fail(f"{missing.message} Vea los horizontes con «ruta horizontes listar».")
    all_sheets = exports.sheets(database, scope, perfil_componentes=perfil_componentes)
    total = exports.total_rows(all_sheets)
    partial = out_path.with_name(f".{out_path.name}.part")
    with click.progressbar(length=total,
                           label="Escribiendo filas") as bar, open(partial, "wb") as out:
        exports.write_xlsx(all_sheets, out, progress=bar.update)
    partial.replace(out_path)
    database.rollback()
    click.echo(f"Listo: {out_path} ({total} filas en "
               f"{len(all_sheets)} hojas).")
