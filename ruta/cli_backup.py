"""``ruta backup`` and ``ruta restore``: the installation's database and evidence files,
together, with a manifest of checksums (``ruta.backup``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ruta.backup import BackupError, backup, restore
from workflow.models import utcnow


def _evidence_folder() -> Path | None:
    """The evidence folder, or None when the evidence lives in an S3 bucket."""
    config = current_app.config
    if config.get("EVIDENCE_STORAGE", "local") != "local":
        return None
    return Path(config["EVIDENCE_FOLDER"])


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Carpeta nueva (o vacía) donde dejar el respaldo.")
@with_appcontext
def backup_command(out: Path) -> None:
    """Back up the database and the evidence files into a new folder, with a manifest."""
    evidence = _evidence_folder()
    try:
        summary = backup(current_app.config["DATABASE_URL"], out, evidence_folder=evidence,
                         now=utcnow())
    except BackupError as error:
        click.echo(f"No se hizo el respaldo: {error}", err=True)
        sys.exit(1)
    rows = sum(summary.tables.values())
    click.echo(f"Respaldo listo en {summary.folder}: base de datos {summary.engine} "
               f"({len(summary.tables)} tablas, {rows} filas) y {summary.files} archivos de "
               f"evidencias ({summary.evidence_bytes} bytes), con sus sumas de verificación en "
               "manifest.json.")
    if evidence is None:
        click.echo("Las evidencias están en S3: no se copiaron; su respaldo es el del bucket "
                   "(active su versionado o su replicación).")


@click.command("restore")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@with_appcontext
def restore_command(folder: Path) -> None:
    """Restore a backup into this installation's empty database and evidence folder."""
    try:
        summary = restore(folder, current_app.config["DATABASE_URL"],
                          evidence_folder=_evidence_folder())
    except BackupError as error:
        click.echo(f"No se restauró: {error}", err=True)
        sys.exit(1)
    click.echo(f"Respaldo restaurado: {len(summary.tables)} tablas con "
               f"{sum(summary.tables.values())} filas, como dice su manifiesto, y "
               f"{summary.files} archivos de evidencias. El esquema quedó al día.")
