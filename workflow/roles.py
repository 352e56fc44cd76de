"""User roles. Stored as their string values."""

from enum import StrEnum


class Role(StrEnum):
    ADMINISTRADOR = "administrador"
    REVISOR = "revisor"
    RECTOR = "rector"
    EQUIPO = "equipo"
    CONSULTA = "consulta"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def belongs_to_school(self) -> bool:
        return self in SCHOOL_ROLES


ROLE_LABELS: dict[Role, str] = {
    Role.ADMINISTRADOR: "Administrador(a) de la Secretaría",
    Role.REVISOR: "Revisor(a) de Calidad Educativa",
    Role.RECTOR: "Rector(a)",
    Role.EQUIPO: "Integrante del equipo de gestión",
    Role.CONSULTA: "Consulta",
}

# Roles whose users act for one school; the others act for the whole Secretaría.
SCHOOL_ROLES = frozenset({Role.RECTOR, Role.EQUIPO})
