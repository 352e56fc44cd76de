"""``ruta horizontes listar`` and ``ruta horizontes abrir``."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow.catalogo.models import InstrumentSettings
from workflow.horizontes.horizons import ensure_horizon
from workflow.horizontes.models import HorizonCalendar


def stored(db: Session) -> list[tuple[int, int, int | None]]:
    db.expire_all()
    return [(row.horizon_start_year, row.horizon_end_year, row.catalog_id)
            for row in db.scalars(select(HorizonCalendar)
                                  .order_by(HorizonCalendar.horizon_start_year))]


def world(db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    db.add(InstrumentSettings(secretaria_id=secretaria.id, catalog_id=make.catalog().id))
    ensure_horizon(db, secretaria, 2024, 2026, actor=None)
    db.commit()


def test_cli_opens_the_next_horizon_on_the_current_instrument(app: Flask, db: Session,
                                                              make: Factory) -> None:
    world(db, make)
    result = app.test_cli_runner().invoke(args=["horizontes", "abrir", "2027"])
    assert result.exit_code == 0, result.output
    assert ("Horizonte 2027–2029 abierto para Secretaría de Educación de Ibagué con el "
            "instrumento prueba-mini.") in result.output
    mini = make.catalog().id
    assert stored(db) == [(2024, 2026, mini), (2027, 2029, mini)]


def test_cli_opens_a_horizon_on_the_named_instrument_and_secretaria(
        app: Flask, db: Session, make: Factory) -> None:
    world(db, make)
    other = make.catalog("otro-instrumento")
    tolima = make.secretaria("Secretaría de Educación del Tolima", "73")
    db.commit()
    result = app.test_cli_runner().invoke(args=[
        "horizontes", "abrir", "2027", "--secretaria", str(tolima.id),
        "--instrumento", "otro-instrumento"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    found = db.scalars(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == tolima.id)).one()
    assert (found.horizon_label, found.catalog_id) == ("2027–2029", other.id)


def test_cli_refuses_bad_input_in_spanish_and_opens_nothing(app: Flask, db: Session,
                                                            make: Factory) -> None:
    world(db, make)
    runner = app.test_cli_runner()
    cases = [
        (["2025"], "El horizonte 2025–2027 se cruza con el horizonte 2024–2026"),
        (["2024"], "El horizonte 2024–2026 ya está abierto."),
        (["dos-mil"], "Escriba el año en que empieza el horizonte, por ejemplo 2027."),
        (["2027", "--instrumento", "no-existe"],
         "No hay ninguna versión del instrumento «no-existe»"),
        (["2027", "--secretaria", "999"], "No hay ninguna Secretaría con el número 999."),
    ]
    for arguments, message in cases:
        result = runner.invoke(args=["horizontes", "abrir", *arguments])
        assert result.exit_code == 1, arguments
        assert message in result.output, arguments
    assert stored(db) == [(2024, 2026, make.catalog().id)]


def test_cli_lists_horizons_with_what_their_calendars_lack(app: Flask, db: Session,
                                                           make: Factory) -> None:
    world(db, make)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["horizontes", "abrir", "2027"]).exit_code == 0
    result = runner.invoke(args=["horizontes", "listar"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2024–2026  vigente    instrumento: prueba-mini  reglas: 1")
    assert "    2027: falta la primera semana institucional, la fecha límite del PMI, la " \
           "ventana de la autoevaluación y los cortes de seguimiento." in lines
    assert any(line.startswith("2027–2029  próximo") for line in lines)
    assert lines[-1] == "2 horizonte(s) de Secretaría de Educación de Ibagué."
