"""Schools (establecimientos educativos): validation of the código DANE, create and edit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.errors import Forbidden, InvalidInput
from workflow.horizontes import opening
from workflow.models import School, Secretaria, User, Zona
from workflow.roles import Role


def dane_code_problems(code: str, secretaria: Secretaria) -> list[str]:
    """Why ``code`` is not a valid código DANE of an establecimiento of ``secretaria``.

    A código DANE of an establecimiento has 12 digits: the first tells the sector and zone
    (1–4), the next five are the DIVIPOLA code of the municipality, so a school of Ibagué
    (73001) reads 1 73001 ...... or 2 73001 .......
    """
    if not code:
        return ["Escriba el código DANE de la institución (12 dígitos)."]
    if not code.isascii() or not code.isdigit() or len(code) != 12:
        return [f"El código DANE «{code[:40]}» debe tener exactamente 12 dígitos, sin espacios "
                "ni guiones."]
    if code[0] not in "1234":
        return [f"El código DANE «{code}» no es de un establecimiento educativo: debe empezar "
                "por 1, 2, 3 o 4."]
    if not code[1:].startswith(secretaria.divipola):
        return [f"El código DANE «{code}» no es de {secretaria.name}: después del primer "
                f"dígito debe seguir {secretaria.divipola}."]
    return []


@dataclass
class SchoolData:
    dane_code: str
    name: str
    zona: str
    locality: str


def validate_school(session: Session, secretaria: Secretaria, data: SchoolData, *,
                    existing: School | None = None) -> tuple[str, str, Zona, str]:
    errors: dict[str, list[str]] = {}
    code = data.dane_code.strip()
    problems = dane_code_problems(code, secretaria)
    if problems:
        errors["dane_code"] = problems
    else:
        other = session.scalar(select(School).where(School.dane_code == code))
        if other is not None and other is not existing:
            errors["dane_code"] = [f"El código DANE {code} ya es de «{other.name}»."]
    name = " ".join(data.name.split())
    if not name:
        errors["name"] = ["Escriba el nombre de la institución."]
    elif len(name) > 200:
        errors["name"] = ["El nombre no puede tener más de 200 caracteres."]
    try:
        zona = Zona(data.zona.strip().lower())
    except ValueError:
        errors["zona"] = ["La zona debe ser «urbana» o «rural»."]
        zona = None
    locality = " ".join(data.locality.split())
    if not locality and zona is not None:
        article = "la comuna" if zona is Zona.URBANA else "el corregimiento"
        errors["locality"] = [f"Escriba {article} de la institución."]
    elif not locality:
        errors["locality"] = ["Escriba la comuna (zona urbana) o el corregimiento (zona rural)."]
    elif len(locality) > 120:
        errors["locality"] = ["La comuna o el corregimiento no puede tener más de 120 caracteres."]
    if errors:
        raise InvalidInput(errors)
    assert zona is not None
    return code, name, zona, locality


def _require_admin(actor: User | None) -> None:
    if actor is not None and actor.role is not Role.ADMINISTRADOR:
        raise Forbidden("Solo la administración de la Secretaría gestiona instituciones.")


def create_school(session: Session, *, actor: User | None, secretaria: Secretaria,
                  data: SchoolData) -> School:
    """Create a school. Changes: a new row (its Ruta is opened by the caller's choice)."""
    _require_admin(actor)
    code, name, zona, locality = validate_school(session, secretaria, data)
    school = School(secretaria=secretaria, dane_code=code, name=name, zona=zona,
                    locality=locality, active=True)
    session.add(school)
    session.flush()
    return school


def register_school(session: Session, *, actor: User | None, secretaria: Secretaria,
                    data: SchoolData) -> School:
    """Create a school with its Ruta open for the Secretaría's current horizon.

    Changes: the school row, its Ruta in ``borrador`` and the Ruta's opening history row.
    """
    school = create_school(session, actor=actor, secretaria=secretaria, data=data)
    opening.open_ruta(session, school, actor=actor)
    return school


def update_school(session: Session, school: School, *, actor: User, data: SchoolData) -> School:
    _require_admin(actor)
    code, name, zona, locality = validate_school(session, school.secretaria, data,
                                                 existing=school)
    school.dane_code, school.name, school.zona, school.locality = code, name, zona, locality
    session.flush()
    return school


def set_school_active(session: Session, school: School, *, actor: User, active: bool) -> None:
    """Deactivate or reactivate a school. Its history stays; its users keep their accounts."""
    _require_admin(actor)
    school.active = active
    session.flush()
