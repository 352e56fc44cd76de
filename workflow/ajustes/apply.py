"""What an approved adjustment does to the plan.

``problems`` re-checks every change against the plan as it is at the decision (the PMI's
parsers again, a removal against the reports sent meanwhile) and writes nothing: it is the
``changes_apply`` guard. ``apply_changes`` then writes, in the order the changes were
proposed: a change sets the element's columns (and bumps its version), an add creates the
element, a remove deletes it (a meta with its indicadores and actividades, none of which any
report speaks of). Finally it freezes the next PMI version (``workflow.pmi.versions.freeze``),
the version in force from that day (``workflow.seguimiento.plan_version``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from workflow.ajustes.changes import MODELS, parse_values, removal_refusal
from workflow.ajustes.models import ChangeKind, PlanAdjustment
from workflow.models import User
from workflow.pmi import versions
from workflow.pmi.models import PmiSnapshot


def problems(session: Session, adjustment: PlanAdjustment) -> list[str]:
    """Why the changes cannot be applied to the plan as it is now (empty: they can)."""
    found: list[str] = []
    ruta = adjustment.ruta
    for change in adjustment.changes:
        model = MODELS[change.element_kind]
        element = session.get(model, change.element_id) if change.element_id else None
        if change.kind is not ChangeKind.ADD and (element is None
                                                   or element.ruta_id != ruta.id):
            found.append(f"{change.element_label} ya no está en el plan.")
            continue
        if change.kind is ChangeKind.REMOVE:
            refusal = removal_refusal(session, change.element_kind, element,
                                      change.element_label)
            if refusal:
                found.append(refusal)
            continue
        _values, errors = parse_values(session, ruta, change.element_kind, change.element_id,
                                       change.proposed)
        found += [f"{change.kind.label} {change.element_label}: {message}"
                  for messages in errors.values() for message in messages]
    return found


def apply_changes(session: Session, adjustment: PlanAdjustment, *, actor: User,
                  now: datetime) -> PmiSnapshot:
    """Write the changes into the plan and freeze the next version. Flushes."""
    ruta = adjustment.ruta
    for change in adjustment.changes:
        model = MODELS[change.element_kind]
        if change.kind is ChangeKind.REMOVE:
            session.delete(session.get(model, change.element_id))
            session.flush()
            continue
        values, errors = parse_values(session, ruta, change.element_kind, change.element_id,
                                      change.proposed)
        if errors:  # ``problems`` said none: the plan changed under this transaction
            raise RuntimeError("an adjustment change no longer parses")
        if change.kind is ChangeKind.ADD:
            element = model(ruta_id=ruta.id, version=1)
            session.add(element)
        else:
            element = session.get(model, change.element_id)
            element.version += 1
        for name, value in values.items():
            setattr(element, name, value)
        session.flush()
        change.result_element_id = element.id
    session.flush()
    # Relationships loaded before (a meta's actividades) must not hide what was written.
    session.expire_all()
    return versions.freeze(session, ruta, actor=actor, now=now)
