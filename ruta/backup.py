"""Backups the IT staff can restore: ``ruta backup --out DIR`` and ``ruta restore DIR``.

A backup is one folder with everything an installation holds:

- the database, dumped by the engine's own tool: PostgreSQL's ``pg_dump`` (custom format,
  without owners or privileges, so it restores under any role) or SQLite's online backup
  API (a consistent copy while the service runs);
- the evidence files of ``EVIDENCE_FOLDER`` under ``evidencias/`` (with S3 storage the
  bucket keeps them: its versioning or replication is their backup, and the manifest says so);
- ``manifest.json``, written last (a folder without it is an unfinished backup): the moment,
  the engine, the schema revision, the row count of every table and the size and SHA-256 of
  every file.

On PostgreSQL the row counts are read in the very snapshot ``pg_dump`` dumps (an exported
snapshot held open by a REPEATABLE READ transaction), so they are exact even while people
work; on SQLite they are read from the copy. The files are copied after the database: a file
uploaded meanwhile is an unused extra, never a missing one, except for a file deleted in
between, which is why the README asks for the nightly backup at an hour without uploads.

``restore`` checks every checksum before touching anything, restores only into an empty
database and an empty evidence folder, checks every table's row count against the manifest,
and then migrates the schema to this version's (a backup of an older version is brought up to
date). Nothing here imports Flask: the commands in ``ruta.cli_backup`` pass the settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from ruta.db import make_engine
from ruta.migrate import upgrade

MANIFEST: Final = "manifest.json"
FORMAT: Final = 1
POSTGRES_DUMP: Final = "base-de-datos.dump"
SQLITE_COPY: Final = "base-de-datos.sqlite3"
EVIDENCE: Final = "evidencias"
CHUNK: Final = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is for the person, in Spanish."""


@dataclass(frozen=True)
class Summary:
    folder: Path
    engine: str
    tables: dict[str, int]
    files: int
    evidence_bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The address as pg_dump and pg_restore read it (no SQLAlchemy driver name), and their
    environment: the password goes in PGPASSWORD, never on a command line ``ps`` shows."""
    url = make_url(database_url).set(drivername="postgresql")
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), environment


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError("Una base de datos SQLite en memoria no se puede respaldar.")
    return Path(database)


def _counts(connection: Connection, names: list[str] | None = None) -> dict[str, int]:
    """Rows per table, in one connection's view: ``names`` (a manifest's), or every table
    the database has."""
    names = sorted(names if names is not None else inspect(connection).get_table_names())
    return {name: connection.scalar(select(func.count()).select_from(table(name))) or 0
            for name in names}


def _revision(connection: Connection) -> str | None:
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


def _run(command: list[str], what: str, environment: dict[str, str]) -> None:
    # A fixed program and arguments built here, no shell.
    done = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                          env=environment)
    if done.returncode != 0:
        raise BackupError(f"{what} falló: {done.stderr.strip() or done.stdout.strip()}")


@contextmanager
def _disposed(engine: Engine) -> Iterator[Engine]:
    try:
        yield engine
    finally:
        engine.dispose()


# --- backup -------------------------------------------------------------------------------


def _dump_postgres(engine: Engine, database_url: str, out: Path) -> tuple[dict[str, int],
                                                                           str | None]:
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            counts, revision = _counts(connection), _revision(connection)
            # pg_dump reads the same snapshot while this transaction keeps it alive.
            address, environment = _libpq(database_url)
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                  f"--snapshot={snapshot}", f"--file={out / POSTGRES_DUMP}",
                  f"--dbname={address}"], "pg_dump", environment)
    return counts, revision


def _copy_sqlite(database_url: str, out: Path) -> tuple[dict[str, int], str | None]:
    source = sqlite3.connect(_sqlite_path(database_url))
    target = sqlite3.connect(out / SQLITE_COPY)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    with _disposed(make_engine(f"sqlite:///{out / SQLITE_COPY}")) as copy, \
            copy.connect() as connection:
        return _counts(connection), _revision(connection)


def _copy_files(source: Path, target: Path) -> int:
    """Copy every stored blob under ``source`` to the same place under ``target`` (not the
    ``.part`` files of uploads in progress); returns the bytes copied."""
    total = 0
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.endswith(".part"):
            continue
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
        total += path.stat().st_size
    return total


def backup(database_url: str, out: Path, *, evidence_folder: Path | None,
           now: datetime) -> Summary:
    """Back the installation up into ``out`` (created; refused when it holds anything)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"La carpeta {out} ya tiene archivos: elija una carpeta nueva o "
                          "vacía para el respaldo.")
    out.mkdir(parents=True, exist_ok=True)
    engine_name = make_url(database_url).get_backend_name()
    with _disposed(make_engine(database_url)) as engine:
        if engine_name == "postgresql":
            counts, revision = _dump_postgres(engine, database_url, out)
        else:
            counts, revision = _copy_sqlite(database_url, out)
    evidence_bytes = (_copy_files(evidence_folder, out / EVIDENCE)
                      if evidence_folder is not None and evidence_folder.is_dir() else 0)
    files = [{"ruta": path.relative_to(out).as_posix(), "bytes": path.stat().st_size,
              "sha256": _sha256(path)}
             for path in sorted(out.rglob("*")) if path.is_file()]
    manifest: dict[str, Any] = {
        "formato": FORMAT, "creado": now.isoformat(), "motor": engine_name,
        "revision": revision, "tablas": counts,
        "evidencias": "carpeta" if evidence_folder is not None else "s3",
        "archivos": files,
    }
    temporary = out / f"{MANIFEST}.part"
    temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, out / MANIFEST)  # its presence marks a finished backup
    evidence_files = sum(1 for entry in files if entry["ruta"].startswith(f"{EVIDENCE}/"))
    return Summary(out, engine_name, counts, evidence_files, evidence_bytes)


# --- restore ------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file it lists against its size and checksum."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} no es un respaldo terminado de Ruta: le falta "
                          f"{MANIFEST}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed = {entry["ruta"]: entry for entry in manifest["archivos"]}
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(f"El archivo {MANIFEST} del respaldo está dañado.") from error
    if manifest.get("formato") != FORMAT:
        raise BackupError("Este respaldo es de un formato que esta versión de Ruta no conoce.")
    for name, entry in listed.items():
        file = folder / name
        if not file.is_file():
            raise BackupError(f"Al respaldo le falta el archivo {name}: no se restauró nada.")
        if file.stat().st_size != entry["bytes"] or _sha256(file) != entry["sha256"]:
            raise BackupError(f"El archivo {name} del respaldo está dañado (su suma de "
                              "verificación no coincide): no se restauró nada.")
    return manifest


def _require_empty_database(database_url: str, engine_name: str) -> None:
    if engine_name == "sqlite":
        # Never opened here: opening would create the file (and its WAL) under the copy.
        target = _sqlite_path(database_url)
        for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            if path.exists() and path.stat().st_size > 0:
                raise BackupError(f"El archivo de base de datos {path} ya existe: restaure "
                                  "en un archivo nuevo.")
        return
    with _disposed(make_engine(database_url)) as engine:
        if inspect(engine).get_table_names():
            raise BackupError("La base de datos de destino ya tiene tablas: restaure en una "
                              "base vacía (recién creada), nunca sobre una instalación en uso.")


def _require_empty_folder(evidence_folder: Path | None) -> None:
    if evidence_folder is not None and evidence_folder.exists() and any(
            evidence_folder.iterdir()):
        raise BackupError(f"La carpeta de evidencias {evidence_folder} ya tiene archivos: "
                          "restaure en una carpeta vacía.")


def restore(folder: Path, database_url: str, *, evidence_folder: Path | None) -> Summary:
    """Restore the backup in ``folder`` into an empty database and evidence folder."""
    manifest = read_manifest(folder)
    engine_name = make_url(database_url).get_backend_name()
    if manifest["motor"] != engine_name:
        raise BackupError(f"El respaldo es de {manifest['motor']} y el destino es "
                          f"{engine_name}: restaure en el mismo motor de base de datos.")
    _require_empty_database(database_url, engine_name)
    _require_empty_folder(evidence_folder)
    if engine_name == "postgresql":
        address, environment = _libpq(database_url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
              f"--dbname={address}", str(folder / POSTGRES_DUMP)], "pg_restore", environment)
    else:
        target = _sqlite_path(database_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / SQLITE_COPY, target)
    evidence_bytes = 0
    if evidence_folder is not None and (folder / EVIDENCE).is_dir():
        evidence_bytes = _copy_files(folder / EVIDENCE, evidence_folder)
    with _disposed(make_engine(database_url)) as engine:
        with engine.connect() as connection:
            counts = _counts(connection, list(manifest["tablas"]))
        if counts != manifest["tablas"]:
            differing = sorted(name for name in counts
                               if counts[name] != manifest["tablas"].get(name))
            raise BackupError("La base restaurada no tiene las filas que el respaldo dice "
                              f"tener (tablas: {', '.join(differing)}). Revísela antes de "
                              "usarla.")
        upgrade(engine)  # a backup of an older version comes up to this one's schema
    files = sum(1 for name in manifest["archivos"] if name["ruta"].startswith(f"{EVIDENCE}/"))
    return Summary(folder, engine_name, counts, files, evidence_bytes)
