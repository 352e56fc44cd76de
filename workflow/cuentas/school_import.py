"""Import of schools and their rectors from a CSV file, all or nothing.

The file is what a Secretaría exports from Excel: UTF-8 (with or without BOM) or Windows-1252,
separated by ``,`` or ``;``. Every row is validated before anything is written; one bad row
and nothing is imported, and every bad row is reported as "Fila N: …", N counted as a
spreadsheet counts them (the titles are row 1).

Rows name only new schools: a school already registered is refused, even with identical data,
so re-importing a file never half-applies it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.cuentas.accounts import EMAIL_PATTERN, UserData, create_user, normalize_email
from workflow.cuentas.invitations import send_invitation
from workflow.cuentas.schools import SchoolData, register_school, validate_school
from workflow.errors import InvalidInput
from workflow.horizontes.horizons import current_horizon
from workflow.models import School, Secretaria, User
from workflow.roles import Role

COLUMNS = ("codigo_dane", "nombre", "zona", "comuna_o_corregimiento", "rector_nombre",
           "rector_correo")
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
DELIMITERS = (",", ";")
# A long number Excel shows (and then saves) in scientific notation: 1,73001E+11.
SCIENTIFIC_NOTATION = re.compile(r"^\d+([.,]\d+)?[eE][+-]?\d+$")
# Excel's own files start like a zip archive.
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ImportRow:
    number: int  # as the spreadsheet numbers it: the titles are row 1
    school: SchoolData
    rector_name: str
    rector_email: str
    # More filled cells than titles: the mark of a separator inside an unquoted value.
    extra_cells: bool = False

    @property
    def has_rector(self) -> bool:
        return bool(self.rector_name or self.rector_email)


@dataclass
class ImportReport:
    """What an import did, or why it did nothing (``errors``)."""

    errors: list[str] = field(default_factory=list)
    schools_created: int = 0
    rutas_opened: int = 0
    rectors_created: int = 0
    horizon_label: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            rows = {message.split(":", 1)[0] for message in self.errors
                    if message.startswith("Fila ")}
            detail = (f" ({len(rows)} fila{'s' if len(rows) != 1 else ''} con problemas)"
                      if rows else "")
            return f"No se importó nada: el archivo tiene errores{detail}. Corríjalos y súbalo " \
                   "de nuevo completo."
        schools = _count(self.schools_created, "institución nueva", "instituciones nuevas")
        rutas = _count(self.rutas_opened, "Ruta abierta", "Rutas abiertas")
        rectors = _count(self.rectors_created, "cuenta de rector(a)", "cuentas de rector(a)")
        invited = (" Cada rector(a) recibirá por correo su invitación para elegir la "
                   "contraseña." if self.rectors_created else "")
        return (f"Importación completa: {schools}, {rutas} (horizonte {self.horizon_label}) y "
                f"{rectors} sin contraseña.{invited}")


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


class UnreadableFile(Exception):
    """The file as a whole cannot be read; ``message`` says why, in Spanish."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- reading ------------------------------------------------------------------------------


def decode(content: bytes) -> str:
    """The file's text: UTF-8 (BOM or not) first, Windows-1252 as Excel in Colombia saves."""
    if content.startswith(ZIP_MAGIC):
        raise UnreadableFile("El archivo parece un libro de Excel (.xlsx), no un CSV. En Excel "
                             "use «Guardar como» y elija «CSV UTF-8 (delimitado por comas)».")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError:
        raise UnreadableFile("No pudimos leer el archivo: no es texto en UTF-8 ni en Windows-1252. "
                             "Guárdelo como «CSV UTF-8» e inténtelo de nuevo.") from None


def header_key(title: str) -> str:
    """A column title as a key: no accents, case or spacing ("Código DANE" → codigo_dane)."""
    without_accents = "".join(
        char for char in unicodedata.normalize("NFKD", title)
        if not unicodedata.combining(char))
    return re.sub(r"[^a-z0-9]+", "_", without_accents.lower()).strip("_")


def detect_delimiter(first_line: str) -> str:
    return max(DELIMITERS, key=first_line.count)


def parse(content: bytes) -> list[ImportRow]:
    """The file's data rows, or ``UnreadableFile``. Blank rows are skipped."""
    if len(content) > MAX_BYTES:
        raise UnreadableFile(f"El archivo pesa más de {MAX_BYTES // (1024 * 1024)} MB. Divídalo "
                             f"en archivos de hasta {MAX_ROWS} filas.")
    text = decode(content)
    if not text.strip():
        raise UnreadableFile("El archivo está vacío.")
    if "\x00" in text:
        raise UnreadableFile("El archivo no es un CSV de texto. Guárdelo como «CSV UTF-8» "
                             "e inténtelo de nuevo.")
    first_line = text.lstrip("\r\n").splitlines()[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(first_line))
    try:
        records = list(reader)
    except csv.Error as error:
        raise UnreadableFile(f"El archivo no es un CSV válido (cerca de la fila "
                             f"{reader.line_num}): revise las comillas.") from error
    # Rows Excel leaves behind with nothing but separators count as blank.
    numbered = [(number, record) for number, record in enumerate(records, start=1)
                if any(cell.strip() for cell in record)]
    if not numbered:
        raise UnreadableFile("El archivo está vacío.")
    header_number, header = numbered[0]
    positions = _column_positions(header, header_number)
    data = numbered[1:]
    if not data:
        raise UnreadableFile("El archivo solo tiene la fila de títulos: no hay instituciones "
                             "para importar.")
    if len(data) > MAX_ROWS:
        raise UnreadableFile(f"El archivo tiene {len(data)} filas de datos; el máximo es "
                             f"{MAX_ROWS}. Divídalo en varios archivos.")
    return [_row(number, record, positions, len(header)) for number, record in data]


def _column_positions(header: list[str], number: int) -> dict[str, int]:
    positions: dict[str, int] = {}
    repeated = []
    for position, title in enumerate(header):
        key = header_key(title)
        if key in COLUMNS:
            if key in positions:
                repeated.append(title.strip())
            positions[key] = position
    problems = []
    missing = [column for column in COLUMNS if column not in positions]
    if missing:
        problems.append("Faltan las columnas " + ", ".join(missing) + ".")
    if repeated:
        problems.append("Hay columnas repetidas: " + ", ".join(repeated) + ".")
    if problems:
        found = ", ".join(title.strip() for title in header if title.strip()) or "ninguno"
        raise UnreadableFile(
            f"La fila {number} debe tener los títulos de las columnas. " + " ".join(problems)
            + f" Se esperan: {', '.join(COLUMNS)}. Se encontraron: {found}.")
    return positions


def _row(number: int, record: list[str], positions: dict[str, int],
         header_length: int) -> ImportRow:
    def cell(column: str) -> str:
        position = positions[column]
        return record[position].strip() if position < len(record) else ""

    return ImportRow(
        number=number,
        school=SchoolData(dane_code=cell("codigo_dane"), name=cell("nombre"),
                          zona=cell("zona"), locality=cell("comuna_o_corregimiento")),
        rector_name=cell("rector_nombre"),
        rector_email=cell("rector_correo"),
        # Excel pads every row to the same width, titles included: a longer row was split.
        extra_cells=len(record) > header_length,
    )


# --- validating ---------------------------------------------------------------------------


def validate(session: Session, secretaria: Secretaria, rows: list[ImportRow]) -> list[str]:
    """Every problem of every row, as "Fila N: …", in row order. Changes nothing."""
    codes = {row.school.dane_code for row in rows}
    existing_schools = {school.dane_code: school for school in session.scalars(
        select(School).where(School.dane_code.in_(codes)))} if codes else {}
    emails = {normalize_email(row.rector_email) for row in rows if row.rector_email}
    existing_emails = set(session.scalars(
        select(User.email).where(User.email.in_(emails)))) if emails else set()

    errors: list[str] = []
    first_row_of_code: dict[str, int] = {}
    first_row_of_email: dict[str, int] = {}
    for row in rows:
        problems = _school_problems(session, secretaria, row, existing_schools,
                                    first_row_of_code)
        problems += _rector_problems(row, existing_emails, first_row_of_email)
        errors.extend(f"Fila {row.number}: {problem}" for problem in problems)
    return errors


def _school_problems(session: Session, secretaria: Secretaria, row: ImportRow,
                     existing_schools: dict[str, School],
                     first_row_of_code: dict[str, int]) -> list[str]:
    code = row.school.dane_code
    if SCIENTIFIC_NOTATION.match(code):
        problems = [f"el código DANE «{code}» quedó en notación científica: Excel lo convirtió "
                    "en número. Dé formato de texto a la columna y escriba los 12 dígitos."]
        code_checked = True
    else:
        problems = []
        code_checked = False
    existing = existing_schools.get(code)
    try:
        # ``existing`` spares the lookup validate_school would report in its own words.
        validate_school(session, secretaria, row.school, existing=existing)
    except InvalidInput as invalid:
        for column, messages in invalid.errors.items():
            if column == "dane_code" and code_checked:
                continue
            problems.extend(_lowercase_first(message) for message in messages)
    if existing is not None:
        problems.extend(_existing_school_problems(session, secretaria, row, existing))
    elif code in first_row_of_code:
        problems.append(f"el código DANE {code} está repetido: ya aparece en la fila "
                        f"{first_row_of_code[code]}.")
    elif code:
        first_row_of_code[code] = row.number
    return problems


def _existing_school_problems(session: Session, secretaria: Secretaria, row: ImportRow,
                              existing: School) -> list[str]:
    code = existing.dane_code
    if existing.secretaria_id != secretaria.id:
        return [f"el código DANE {code} ya está registrado en otra Secretaría de Educación."]
    same = (" ".join(row.school.name.split()) == existing.name
            and row.school.zona.strip().lower() == existing.zona.value
            and " ".join(row.school.locality.split()) == existing.locality)
    if same:
        problems = [f"la institución {code} («{existing.name}») ya está registrada con estos "
                    "mismos datos. La importación solo crea instituciones nuevas: quite la fila "
                    "del archivo."]
    else:
        problems = [f"el código DANE {code} ya es de «{existing.name}», registrada antes con "
                    "otros datos. La importación solo crea instituciones nuevas: para corregir "
                    "una institución, edítela en la lista de instituciones."]
    if row.has_rector:
        rector = session.scalar(select(User).where(
            User.school_id == existing.id, User.role == Role.RECTOR, User.active))
        if rector is not None:
            problems.append(f"«{existing.name}» ya tiene rector(a) activo(a): {rector.name}.")
    return problems


def _rector_problems(row: ImportRow, existing_emails: set[str],
                     first_row_of_email: dict[str, int]) -> list[str]:
    if row.extra_cells:
        return ["tiene más celdas que títulos. Si un nombre lleva el separador (coma o punto y "
                "coma), enciérrelo entre comillas."]
    if not row.has_rector:
        return []
    if not row.rector_name or not row.rector_email:
        return ["escriba el nombre y el correo del rector o la rectora, o deje ambos vacíos "
                "si la institución todavía no tiene."]
    problems = []
    if len(" ".join(row.rector_name.split())) > 200:
        problems.append("el nombre del rector o la rectora no puede tener más de 200 "
                        "caracteres.")
    email = normalize_email(row.rector_email)
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        problems.append(f"el correo del rector o la rectora «{row.rector_email[:80]}» no es "
                        "válido; debe ser como nombre@dominio.edu.co.")
    elif email in existing_emails:
        problems.append(f"ya existe un usuario con el correo {email}.")
    elif email in first_row_of_email:
        problems.append(f"el correo {email} está repetido: ya aparece en la fila "
                        f"{first_row_of_email[email]}.")
    else:
        first_row_of_email[email] = row.number
    return problems


def _lowercase_first(message: str) -> str:
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


# --- importing ----------------------------------------------------------------------------


def import_schools(session: Session, *, actor: User | None, secretaria: Secretaria,
                   content: bytes) -> ImportReport:
    """Validate the whole file, then create every school, its Ruta and its rector.

    Changes nothing when any row is bad (the report lists why). Otherwise: one School per
    row, its Ruta for the Secretaría's current horizon (with its opening row in the history)
    and, where the row names one, an active rector without password and their invitation (one
    outbox message each, sent once the import commits). Flushes; the caller commits once.
    """
    # The label of the horizon the Rutas open in (its own years, stored with it), not one
    # recomputed from the Secretaría's settings.
    current = current_horizon(session, secretaria)
    report = ImportReport(horizon_label=current.horizon_label if current is not None else
                          f"{secretaria.horizon_start_year}–{secretaria.horizon_end_year}")
    try:
        rows = parse(content)
    except UnreadableFile as unreadable:
        report.errors.append(unreadable.message)
        return report
    report.errors = validate(session, secretaria, rows)
    if report.errors:
        return report
    for row in rows:
        school = register_school(session, actor=actor, secretaria=secretaria, data=row.school)
        report.schools_created += 1
        report.rutas_opened += 1
        if row.has_rector:
            rector = create_user(session, actor=actor, secretaria_id=secretaria.id,
                                 password=None,
                                 data=UserData(email=row.rector_email,
                                               name=" ".join(row.rector_name.split()),
                                               role=Role.RECTOR.value, school_id=school.id))
            # Queued in the outbox with the import: sent once it commits, never if it fails.
            send_invitation(session, rector, actor=actor)
            report.rectors_created += 1
    return report
