"""The CSV import of schools and rectors: reading, validating every row, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ruta.config import PROJECT_ROOT
from tests.conftest import Factory
from workflow.cuentas import school_import
from workflow.cuentas.school_import import ImportReport, UnreadableFile, import_schools, parse
from workflow.models import (
    OPENED,
    OutboxMessage,
    Ruta,
    RutaTransition,
    School,
    Secretaria,
    User,
    Zona,
)
from workflow.roles import Role
from workflow.states import State

HEADER = "codigo_dane,nombre,zona,comuna_o_corregimiento,rector_nombre,rector_correo"


def csv_bytes(*lines: str, header: str = HEADER, delimiter: str = ",",
              encoding: str = "utf-8") -> bytes:
    text = "\r\n".join([header, *lines]).replace(",", delimiter) + "\r\n"
    return text.encode(encoding)


def school_rows(db: Session) -> list[tuple[str, str, Zona, str, bool]]:
    return [(school.dane_code, school.name, school.zona, school.locality, school.active)
            for school in db.scalars(select(School).order_by(School.dane_code))]


def rector_rows(db: Session) -> list[tuple[str, str, str, str | None, bool, bool]]:
    return [(user.email, user.name, user.school.dane_code, user.password_hash,
             user.must_change_password, user.active)
            for user in db.scalars(select(User).where(User.role == Role.RECTOR)
                                   .order_by(User.email))]


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


GOOD_FILE = csv_bytes(
    "173001000101,Institución Educativa San Simón,Urbana,Comuna 1,"
    "Ana María Rojas,Rectoria.SanSimon@Ibague.edu.co",
    "273001000102,Institución Educativa Técnica Juntas,rural,Corregimiento Juntas,,",
)


# --- reading (no database) ----------------------------------------------------------------


def test_parse_accepts_titles_with_accents_capitals_and_spaces() -> None:
    content = csv_bytes("173001000101,Colegio Uno,urbana,Comuna 1,,",
                        header="Código DANE,Nombre,ZONA,Comuna o corregimiento,"
                               "Rector nombre,Rector-correo")
    rows = parse(content)
    assert [(row.number, row.school.dane_code, row.school.name, row.school.zona,
             row.school.locality, row.rector_name, row.rector_email) for row in rows] == [
        (2, "173001000101", "Colegio Uno", "urbana", "Comuna 1", "", "")]


def test_parse_reads_windows_1252_with_semicolons() -> None:
    content = csv_bytes("173001000101,Institución Educativa Ñambí,urbana,Comuna 2,"
                        "José Peña,jose@colegio.edu.co",
                        delimiter=";", encoding="cp1252")
    assert b";" in content and "ó".encode("cp1252") in content
    [row] = parse(content)
    assert (row.school.name, row.rector_name) == ("Institución Educativa Ñambí", "José Peña")


def test_parse_reads_utf8_with_bom() -> None:
    content = csv_bytes("173001000101,Institución Educativa Ibagué,urbana,Comuna 3,,",
                        encoding="utf-8-sig")
    assert content.startswith(b"\xef\xbb\xbf")
    [row] = parse(content)
    assert (row.school.dane_code, row.school.name) == ("173001000101",
                                                        "Institución Educativa Ibagué")


def test_parse_keeps_commas_inside_quotes_and_skips_blank_rows() -> None:
    content = csv_bytes('173001000101,"Colegio Uno, sede central",urbana,Comuna 1,,',
                        ",,,,,", "", "273001000102,Colegio Dos,rural,Corregimiento Juntas,,")
    assert [(row.number, row.school.name) for row in parse(content)] == [
        (2, "Colegio Uno, sede central"), (5, "Colegio Dos")]


def test_parse_names_missing_columns() -> None:
    content = csv_bytes("173001000101,Colegio,urbana", header="codigo_dane,nombre,zona")
    with pytest.raises(UnreadableFile) as raised:
        parse(content)
    assert raised.value.message == (
        "La fila 1 debe tener los títulos de las columnas. Faltan las columnas "
        "comuna_o_corregimiento, rector_nombre, rector_correo. Se esperan: codigo_dane, "
        "nombre, zona, comuna_o_corregimiento, rector_nombre, rector_correo. Se encontraron: "
        "codigo_dane, nombre, zona.")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "El archivo está vacío."),
    (b"\r\n;;;;;\r\n", "El archivo está vacío."),
    (HEADER.encode() + b"\r\n", "El archivo solo tiene la fila de títulos: no hay "
                                "instituciones para importar."),
    (b"PK\x03\x04\x14\x00\x06\x00", "El archivo parece un libro de Excel (.xlsx), no un CSV. "
                                     "En Excel use «Guardar como» y elija «CSV UTF-8 "
                                     "(delimitado por comas)»."),
    (b"codigo\x81\x8d", "No pudimos leer el archivo: no es texto en UTF-8 ni en Windows-1252. "
                        "Guárdelo como «CSV UTF-8» e inténtelo de nuevo."),
], ids=["empty", "only-separators", "only-titles", "xlsx", "binary"])
def test_parse_refuses_unreadable_files(content: bytes, message: str) -> None:
    with pytest.raises(UnreadableFile) as raised:
        parse(content)
    assert raised.value.message == message


def test_parse_refuses_more_rows_than_the_limit() -> None:
    lines = [f"1730010{number:05d},Colegio {number},urbana,Comuna 1,,"
             for number in range(school_import.MAX_ROWS + 1)]
    with pytest.raises(UnreadableFile) as raised:
        parse(csv_bytes(*lines))
    assert raised.value.message == ("El archivo tiene 5001 filas de datos; el máximo es 5000. "
                                    "Divídalo en varios archivos.")


def test_parse_refuses_a_file_over_the_size_limit() -> None:
    with pytest.raises(UnreadableFile) as raised:
        parse(b"x" * (school_import.MAX_BYTES + 1))
    assert raised.value.message == ("El archivo pesa más de 2 MB. Divídalo en archivos de hasta "
                                    "5000 filas.")


def test_report_summary_counts_what_was_created() -> None:
    report = ImportReport(schools_created=2, rutas_opened=2, rectors_created=1,
                          horizon_label="2024–2026")
    assert report.summary() == ("Importación completa: 2 instituciones nuevas, 2 Rutas abiertas "
                                "(horizonte 2024–2026) y 1 cuenta de rector(a) sin contraseña. "
                                "Cada rector(a) recibirá por correo su invitación para elegir la "
                                "contraseña.")


# --- importing ----------------------------------------------------------------------------


def test_import_creates_schools_rutas_and_rectors_without_password(
        db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    admin = make.user(Role.ADMINISTRADOR, secretaria=secretaria)

    report = import_schools(db, actor=admin, secretaria=secretaria, content=GOOD_FILE)
    db.commit()

    assert (report.errors, report.schools_created, report.rutas_opened,
            report.rectors_created) == ([], 2, 2, 1)
    assert school_rows(db) == [
        ("173001000101", "Institución Educativa San Simón", Zona.URBANA, "Comuna 1", True),
        ("273001000102", "Institución Educativa Técnica Juntas", Zona.RURAL,
         "Corregimiento Juntas", True)]
    assert rector_rows(db) == [
        ("rectoria.sansimon@ibague.edu.co", "Ana María Rojas", "173001000101", None, False,
         True)]
    rutas = db.scalars(select(Ruta).join(Ruta.school).order_by(School.dane_code)).all()
    assert [(ruta.school.dane_code, ruta.horizon_start_year, ruta.horizon_end_year, ruta.state)
            for ruta in rutas] == [("173001000101", 2024, 2026, State.BORRADOR),
                                   ("273001000102", 2024, 2026, State.BORRADOR)]
    opened = db.scalars(select(RutaTransition).order_by(RutaTransition.id)).all()
    assert [(row.trigger, row.to_state, row.actor_id) for row in opened] == [
        (OPENED, State.BORRADOR, admin.id), (OPENED, State.BORRADOR, admin.id)]
    # The page says rectors will be invited: each new rector's invitation is in the outbox.
    queued = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invitacion")).all()
    assert [message.recipients for message in queued] == [["rectoria.sansimon@ibague.edu.co"]]
    assert "/invitacion/" in queued[0].secret_link


def test_import_with_two_bad_rows_imports_nothing_and_reports_both(
        db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    content = csv_bytes(
        "173001000101,Colegio Bueno,urbana,Comuna 1,Ana Rojas,ana@colegio.edu.co",
        "17300100010,Colegio Código Corto,urbana,Comuna 2,,",
        "273001000103,Colegio Bueno Dos,rural,Corregimiento Juntas,,",
        "273001000104,Colegio Sin Zona,montaña,,Pedro Gil,pedro-sin-arroba",
    )

    report = import_schools(db, actor=None, secretaria=secretaria, content=content)

    assert report.errors == [
        "Fila 3: el código DANE «17300100010» debe tener exactamente 12 dígitos, sin espacios "
        "ni guiones.",
        "Fila 5: la zona debe ser «urbana» o «rural».",
        "Fila 5: escriba la comuna (zona urbana) o el corregimiento (zona rural).",
        "Fila 5: el correo del rector o la rectora «pedro-sin-arroba» no es válido; debe ser "
        "como nombre@dominio.edu.co.",
    ]
    assert report.summary() == ("No se importó nada: el archivo tiene errores (2 filas con "
                                "problemas). Corríjalos y súbalo de nuevo completo.")
    db.rollback()
    assert (count(db, School), count(db, Ruta), count(db, User)) == (0, 0, 0)


def test_import_refuses_codes_and_emails_repeated_inside_the_file(
        db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    content = csv_bytes(
        "173001000101,Colegio Uno,urbana,Comuna 1,Ana Rojas,ana@colegio.edu.co",
        "173001000101,Colegio Uno Bis,urbana,Comuna 1,,",
        "173001000102,Colegio Dos,urbana,Comuna 2,Ana R.,ANA@colegio.edu.co",
    )
    report = import_schools(db, actor=None, secretaria=secretaria, content=content)
    assert report.errors == [
        "Fila 3: el código DANE 173001000101 está repetido: ya aparece en la fila 2.",
        "Fila 4: el correo ana@colegio.edu.co está repetido: ya aparece en la fila 2.",
    ]
    assert count(db, School) == 0


def test_import_refuses_a_school_already_registered_with_the_same_data(
        db: Session, make: Factory) -> None:
    existing = make.school(name="Institución Educativa Ya Registrada")
    rector = make.user(Role.RECTOR, school=existing)
    db.commit()
    content = csv_bytes(
        f"{existing.dane_code},Institución Educativa Ya Registrada,urbana,Comuna 1,"
        "Otro Rector,otro@colegio.edu.co")

    report = import_schools(db, actor=None, secretaria=existing.secretaria, content=content)

    assert report.errors == [
        f"Fila 2: la institución {existing.dane_code} («Institución Educativa Ya Registrada») "
        "ya está registrada con estos mismos datos. La importación solo crea instituciones "
        "nuevas: quite la fila del archivo.",
        f"Fila 2: «Institución Educativa Ya Registrada» ya tiene rector(a) activo(a): "
        f"{rector.name}.",
    ]
    assert count(db, School) == 1


def test_import_refuses_a_registered_code_with_other_data(db: Session, make: Factory) -> None:
    existing = make.school(name="Institución Educativa Original")
    db.commit()
    content = csv_bytes(f"{existing.dane_code},Otro Nombre,rural,Corregimiento Juntas,,")
    report = import_schools(db, actor=None, secretaria=existing.secretaria, content=content)
    assert report.errors == [
        f"Fila 2: el código DANE {existing.dane_code} ya es de «Institución Educativa "
        "Original», registrada antes con otros datos. La importación solo crea instituciones "
        "nuevas: para corregir una institución, edítela en la lista de instituciones."]


def test_import_does_not_name_a_school_of_another_secretaria(db: Session,
                                                             make: Factory) -> None:
    ibague = make.secretaria()
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    existing = make.school(secretaria=ibague, name="Colegio de Ibagué")
    db.commit()
    content = csv_bytes(f"{existing.dane_code},Colegio de Ibagué,urbana,Comuna 1,,")
    report = import_schools(db, actor=None, secretaria=tolima, content=content)
    assert report.errors == [f"Fila 2: el código DANE {existing.dane_code} ya está registrado "
                             "en otra Secretaría de Educación."]


def test_import_refuses_rector_emails_already_in_use_and_half_filled_rectors(
        db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    make.user(Role.REVISOR, secretaria=secretaria, email="revisora@ibague.gov.co")
    db.commit()
    content = csv_bytes(
        "173001000101,Colegio Uno,urbana,Comuna 1,Rosa Díaz,Revisora@Ibague.gov.co",
        "173001000102,Colegio Dos,urbana,Comuna 2,Rosa Díaz,",
        "173001000103,Colegio Tres,urbana,Comuna 3,,sin.nombre@colegio.edu.co",
    )
    report = import_schools(db, actor=None, secretaria=secretaria, content=content)
    assert report.errors == [
        "Fila 2: ya existe un usuario con el correo revisora@ibague.gov.co.",
        "Fila 3: escriba el nombre y el correo del rector o la rectora, o deje ambos vacíos si "
        "la institución todavía no tiene.",
        "Fila 4: escriba el nombre y el correo del rector o la rectora, o deje ambos vacíos si "
        "la institución todavía no tiene.",
    ]


def test_import_explains_codes_excel_turned_into_numbers_and_unquoted_separators(
        db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    content = csv_bytes(
        "1.73001E+11;Colegio Uno;urbana;Comuna 1;;",
        "173001000102;Colegio Dos; sede B;urbana;Comuna 2;;",
        header=HEADER.replace(",", ";"))
    report = import_schools(db, actor=None, secretaria=secretaria, content=content)
    assert report.errors == [
        "Fila 2: el código DANE «1.73001E+11» quedó en notación científica: Excel lo convirtió "
        "en número. Dé formato de texto a la columna y escriba los 12 dígitos.",
        "Fila 3: la zona debe ser «urbana» o «rural».",
        "Fila 3: tiene más celdas que títulos. Si un nombre lleva el separador (coma o punto y "
        "coma), enciérrelo entre comillas.",
    ]


def test_import_refuses_codes_of_another_municipality(db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    content = csv_bytes("105001000101,Colegio de Medellín,urbana,Comuna 1,,")
    report = import_schools(db, actor=None, secretaria=secretaria, content=content)
    assert report.errors == [
        "Fila 2: el código DANE «105001000101» no es de Secretaría de Educación de Ibagué: "
        "después del primer dígito debe seguir 73001."]


def test_shipped_example_file_imports_cleanly(db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    content = (PROJECT_ROOT / "docs" / "ejemplo-importacion-colegios.csv").read_bytes()
    report = import_schools(db, actor=None, secretaria=secretaria, content=content)
    assert (report.errors, report.schools_created, report.rectors_created) == ([], 4, 3)


# --- the command line ---------------------------------------------------------------------


def test_cli_import_prints_the_report_and_saves(app: Flask, db: Session, make: Factory,
                                                tmp_path: Path) -> None:
    make.secretaria()
    db.commit()
    path = tmp_path / "colegios.csv"
    path.write_bytes(GOOD_FILE)

    result = app.test_cli_runner().invoke(args=["schools", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output == ("Importación completa: 2 instituciones nuevas, 2 Rutas abiertas "
                             "(horizonte 2024–2026) y 1 cuenta de rector(a) sin contraseña. Cada "
                             "rector(a) recibirá por correo su invitación para elegir la "
                             "contraseña.\n")
    assert [row[0] for row in school_rows(db)] == ["173001000101", "273001000102"]


def test_cli_import_with_errors_exits_non_zero_and_saves_nothing(
        app: Flask, db: Session, make: Factory, tmp_path: Path) -> None:
    make.secretaria()
    db.commit()
    path = tmp_path / "colegios.csv"
    path.write_bytes(csv_bytes("173001000101,Colegio Uno,urbana,Comuna 1,,",
                               "173001000102,,urbana,Comuna 2,,"))

    result = app.test_cli_runner().invoke(args=["schools", "import", str(path)])

    assert result.exit_code == 1
    assert result.output == (
        "Fila 3: escriba el nombre de la institución.\n"
        "No se importó nada: el archivo tiene errores (1 fila con problemas). Corríjalos y "
        "súbalo de nuevo completo.\n")
    assert count(db, School) == 0


def test_cli_import_asks_which_secretaria_when_there_are_several(
        app: Flask, db: Session, make: Factory, tmp_path: Path) -> None:
    make.secretaria()
    make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    db.commit()
    path = tmp_path / "colegios.csv"
    path.write_bytes(GOOD_FILE)

    several = app.test_cli_runner().invoke(args=["schools", "import", str(path)])
    chosen = app.test_cli_runner().invoke(args=[
        "schools", "import", str(path), "--secretaria", "Secretaría de Educación del Tolima"])

    assert (several.exit_code, several.output) == (
        1, "Hay varias Secretarías: indique cuál con --secretaria.\n")
    assert chosen.exit_code == 0, chosen.output
    tolima = db.scalar(select(Secretaria).where(Secretaria.divipola == "73"))
    assert tolima is not None
    assert db.scalars(select(School.secretaria_id)).all() == [tolima.id, tolima.id]
