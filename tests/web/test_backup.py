"""Backups that are tested (issue 16, item 5): ``ruta backup`` of the demo with its evidence
files, ``ruta restore`` into a fresh database and folder, and every table and file compared;
a damaged backup, a used database and a used folder are refused, in Spanish, touching nothing.
On SQLite and on PostgreSQL (with the engine's own pg_dump and pg_restore)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, inspect, select, table, text
from sqlalchemy.engine import make_url

from ruta import create_app
from ruta.db import make_engine
from tests.conftest import app_config


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in primary-key order (all columns when it has none)."""
    rows = {}
    inspector = inspect(engine)
    with engine.connect() as connection:
        for name in sorted(inspector.get_table_names()):
            columns = [column["name"] for column in inspector.get_columns(name)]
            keys = inspector.get_pk_constraint(name)["constrained_columns"] or columns
            found = table(name, *[_column(column) for column in columns])
            rows[name] = [tuple(row) for row in connection.execute(
                select(found).order_by(*[found.c[key] for key in keys]))]
    return rows


def _column(name: str) -> Any:
    from sqlalchemy import column

    return column(name)


def every_file(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def target_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database beside the test's: a new SQLite file, or a new PostgreSQL database."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restaurada' / 'ruta.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_restaurada"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def installation(database_url: str, evidence: Path) -> Flask:
    return create_app(app_config(database_url, EVIDENCE_FOLDER=str(evidence)))


def test_the_demo_backed_up_and_restored_is_the_same_table_by_table_and_file_by_file(
        database_url: str, target_url: str, tmp_path: Path) -> None:
    source = installation(database_url, tmp_path / "evidencias")
    demo = source.test_cli_runner().invoke(args=["demo", "--schools", "4"])
    assert demo.exit_code == 0, demo.output
    blobs = {"ab/3f9c.pdf": b"%PDF-1.7 acta del consejo directivo",
             "cd/77e1.png": b"\x89PNG\r\n\x1a\n foto de la jornada"}
    for name, content in blobs.items():
        (tmp_path / "evidencias" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "evidencias" / name).write_bytes(content)
    # An upload in progress is not a stored blob: it is left out.
    (tmp_path / "evidencias" / "subida.part").write_bytes(b"a medias")

    made = source.test_cli_runner().invoke(args=["backup", "--out",
                                                 str(tmp_path / "respaldo")])
    target = installation(target_url, tmp_path / "restaurada" / "evidencias")
    restored = target.test_cli_runner().invoke(args=["restore", str(tmp_path / "respaldo")])

    assert made.exit_code == 0, made.output
    assert "2 archivos de evidencias" in made.output
    assert restored.exit_code == 0, restored.output
    assert restored.output.startswith("Respaldo restaurado: ")
    manifest = json.loads((tmp_path / "respaldo" / "manifest.json").read_text())
    assert all(len(entry["sha256"]) == 64 for entry in manifest["archivos"])
    source_engine, target_engine = (source.extensions["ruta_db"].engine,
                                    target.extensions["ruta_db"].engine)
    before, after = every_row(source_engine), every_row(target_engine)
    assert manifest["tablas"] == {name: len(rows) for name, rows in before.items()}
    assert manifest["tablas"]["rutas"] >= 5 and manifest["tablas"]["evidence_files"] >= 0
    assert set(before) == set(after)
    for name in before:
        assert after[name] == before[name], name
    assert sum(len(rows) for rows in after.values()) > 500
    assert every_file(tmp_path / "restaurada" / "evidencias") == blobs
    source.extensions["ruta_db"].dispose()
    target.extensions["ruta_db"].dispose()


def test_a_damaged_backup_a_used_database_and_a_used_folder_are_refused(
        database_url: str, target_url: str, tmp_path: Path) -> None:
    source = installation(database_url, tmp_path / "evidencias")
    (tmp_path / "evidencias").mkdir()
    (tmp_path / "evidencias" / "acta.pdf").write_bytes(b"%PDF-1.7 acta")
    source.test_cli_runner().invoke(args=["demo", "--schools", "2"])
    runner = source.test_cli_runner()
    assert runner.invoke(args=["backup", "--out", str(tmp_path / "respaldo")]).exit_code == 0

    again = runner.invoke(args=["backup", "--out", str(tmp_path / "respaldo")])
    onto_itself = runner.invoke(args=["restore", str(tmp_path / "respaldo")])
    evidence = tmp_path / "respaldo" / "evidencias" / "acta.pdf"
    evidence.write_bytes(b"%PDF-1.7 otra")
    target = installation(target_url, tmp_path / "nuevas")
    damaged = target.test_cli_runner().invoke(args=["restore", str(tmp_path / "respaldo")])
    unfinished = target.test_cli_runner().invoke(args=["restore", str(tmp_path)])

    assert again.exit_code == 1
    assert "ya tiene archivos: elija una carpeta nueva o vacía" in again.output
    assert onto_itself.exit_code == 1
    assert "No se restauró: " in onto_itself.output
    assert damaged.exit_code == 1
    assert ("El archivo evidencias/acta.pdf del respaldo está dañado (su suma de verificación "
            "no coincide): no se restauró nada.") in damaged.output
    assert unfinished.exit_code == 1
    assert "no es un respaldo terminado de Ruta: le falta manifest.json" in unfinished.output
    # Nothing was written in the target.
    if target_url.startswith("sqlite"):
        assert not Path(str(make_url(target_url).database)).exists()
    else:
        assert inspect(target.extensions["ruta_db"].engine).get_table_names() == []
    assert not (tmp_path / "nuevas").exists()
    source.extensions["ruta_db"].dispose()
    target.extensions["ruta_db"].dispose()
