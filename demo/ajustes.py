"""Demo plan adjustment: one Ruta in seguimiento proposes an adjustment and sends it, so the
Secretaría finds one waiting for its decision.

``seed_demo_adjustment(session, ruta, *, rector)`` writes it through the real services: the
first actividad of the plan gets a new responsable, with its justification; the adjustment is
sent (mailing the revisores through the outbox). It does nothing when the Ruta is not in
seguimiento, has no actividad, or already has an adjustment. Flushes, never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.ajustes import actions, changes
from workflow.ajustes.models import ChangeKind, PlanAdjustment
from workflow.models import Ruta, User
from workflow.pmi.models import Actividad
from workflow.states import State

RESPONSABLE = "Biblioteca escolar y coordinación académica"
JUSTIFICATION = ("Desde 2025 la biblioteca escolar dirige los talleres de lectura: el informe "
                 "del primer corte mostró que la coordinación sola no alcanzaba a hacerlos.")


def seed_demo_adjustment(session: Session, ruta: Ruta, *, rector: User,
                         now: datetime | None = None) -> PlanAdjustment | None:
    """One sent adjustment of ``ruta``'s plan, proposed by ``rector`` (None: not applicable)."""
    if ruta.state is not State.SEGUIMIENTO or session.scalar(
            select(PlanAdjustment.id).where(PlanAdjustment.ruta_id == ruta.id)) is not None:
        return None
    actividad = session.scalar(select(Actividad).where(Actividad.ruta_id == ruta.id)
                               .order_by(Actividad.meta_id, Actividad.id).limit(1))
    if actividad is None:
        return None
    adjustment = changes.create_adjustment(session, ruta, actor=rector, token=None,
                                           now=now).adjustment
    form = {**changes.initial_values(session, ruta, "actividad", actividad.id),
            "responsable": RESPONSABLE}
    changes.add_change(session, adjustment, actor=rector, kind=ChangeKind.CHANGE,
                       element_kind="actividad", element_id=actividad.id, form=form,
                       justification=JUSTIFICATION, token=None, now=now)
    actions.send(session, adjustment, actor=rector, expected_version=adjustment.version,
                 now=now)
    return adjustment
