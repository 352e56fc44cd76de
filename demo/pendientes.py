"""Demo «Pendientes» of the administración: a school that joined the Secretaría recently and
whose rector was invited but has not activated the account yet.

``seed_newcomer_school`` writes it through the real services (create the school, create the
rector's account without a password, send the invitation through the outbox), twelve days
before ``now``, so the administración's «Pendientes» lists «Institución sin rector(a)
activo(a)» with its days waiting. Its Ruta is not opened: the administración opens it from
«Instituciones» («Abrir Rutas») when it decides. Flushes, never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from workflow.cuentas.accounts import UserData, create_user
from workflow.cuentas.invitations import send_invitation
from workflow.cuentas.schools import SchoolData, create_school
from workflow.models import School, Secretaria, User, Zona
from workflow.roles import Role

NEWCOMER = ("Institución Educativa Rural Totumo", Zona.RURAL, "Corregimiento El Totumo")
RECTOR_NAME = "Yolanda Barrios Medina"
INVITED_DAYS_AGO = 12


def seed_newcomer_school(session: Session, secretaria: Secretaria, *, admin: User,
                         dane_code: str, rector_email: str, now: datetime) -> School:
    """The school and its invited rector (never activated). Returns the school."""
    name, zona, locality = NEWCOMER
    invited_at = now - timedelta(days=INVITED_DAYS_AGO)
    school = create_school(session, actor=admin, secretaria=secretaria, data=SchoolData(
        dane_code=dane_code, name=name, zona=zona.value, locality=locality))
    school.created_at = invited_at
    rector = create_user(session, actor=admin, secretaria_id=secretaria.id, data=UserData(
        email=rector_email, name=RECTOR_NAME, role=Role.RECTOR.value, school_id=school.id))
    rector.created_at = invited_at
    send_invitation(session, rector, actor=admin, now=invited_at)
    session.flush()
    return school
