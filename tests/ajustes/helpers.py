"""A Ruta in seguimiento with an approved, versioned PMI, and the forms an adjustment posts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.seguimiento.test_seguimiento import Plan, build_plan
from workflow.autoevaluacion.models import Estamento, TeamMember
from workflow.models import RutaTransition
from workflow.pmi import versions
from workflow.pmi.rubric import ORDER, field_name
from workflow.states import State, Trigger

APPROVED_AT = datetime(2024, 1, 20, 15, 0, tzinfo=UTC)


def approved_plan(make: Factory) -> Plan:
    """``build_plan``'s Ruta, whose PMI version 1 was approved on 2024-01-20."""
    plan = build_plan(make)
    db = make.db
    snapshot = versions.freeze(db, plan.ruta, actor=plan.rector,
                               now=datetime(2024, 1, 10, 15, 0, tzinfo=UTC))
    # The equipo account is a member of the equipo de gestión (it edits the PMI).
    db.add(TeamMember(ruta_id=plan.ruta.id, name=plan.equipo.name, email=plan.equipo.email,
                      estamento=Estamento.DOCENTE))
    db.add(RutaTransition(ruta_id=plan.ruta.id, trigger=Trigger.APROBAR.value,
                          from_state=State.EN_REVISION, to_state=State.APROBADO,
                          actor_id=plan.revisor.id, at=APPROVED_AT,
                          extra={"snapshot_id": snapshot.id}))
    db.commit()
    return plan


def meta_form(plan: Plan, **overrides: str) -> dict[str, Any]:
    """The first meta's fields, as the change form posts them, with a new cantidad."""
    meta = plan.first.meta
    values = {"objetivo_id": str(meta.objetivo_id), "tipo_meta": "alcanzar",
              "enunciado": "Subir al 50 % el puntaje de lectura crítica de los estudiantes "
                           "de grado once.",
              "cantidad": "50", "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": ""}
    values.update(overrides)
    return values


def actividad_form(plan: Plan, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "meta_id": str(plan.first.meta_id),
        "descripcion": "Clubes de lectura en la biblioteca escolar para grado once.",
        "responsable": "Coordinación académica", "fecha_inicio": "2025-02-01",
        "fecha_fin": "2025-11-30", "recursos": "Biblioteca y libros donados",
        "costo": "0", "fuente_financiacion": "Recursos propios", "trayectorias": []}
    values.update(overrides)
    return values


def rubric(verdict: str = "cumple", note: str = "") -> dict[int, tuple[str, str]]:
    return {criterion: (verdict, note) for criterion in ORDER}


def rubric_form(verdict: str = "cumple", note: str = "") -> dict[str, str]:
    form = {}
    for criterion in ORDER:
        form[field_name(criterion, "veredicto")] = verdict
        form[field_name(criterion, "nota")] = note
    return form


def reload(db: Session, row: Any) -> Any:
    db.expire_all()
    return db.get(type(row), row.id)
