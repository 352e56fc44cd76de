"""The tables of plan adjustments.

- ``PlanAdjustment``: one proposal to adjust a Ruta's approved PMI (number 1, 2, … per Ruta),
  in its own small machine (``workflow.ajustes.machine``). At most one is open (borrador,
  enviado or devuelto) per Ruta: a partial unique index enforces it, so two tabs creating
  at once make one. An approved adjustment names the PMI version its approval froze
  (``snapshot_id``, a ``PmiSnapshot`` like every submission's).
- ``AdjustmentChange``: one change of it: change, add or remove one meta, indicador or
  actividad, with the proposed values (the PMI form's fields, as posted) and the
  justification the school gives for it (required, also by a CHECK). The revisor's
  observation on a change is kept on it (``observation``) for the school to correct.
- ``AdjustmentEvent``: the append-only history of the adjustments of a Ruta (proposed, sent,
  returned, approved), shown in the Ruta's history beside its own transitions. A decision
  stores the rubric the revisor recorded (``extra["rubric"]``).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum as PyEnum
from typing import Any, Final

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.ajustes.machine import OPEN_STATES, AdjustmentState
from workflow.models import Base, Ruta, User, str_enum, utcnow
from workflow.pmi.models import PmiSnapshot


class ChangeKind(PyEnum):
    CHANGE = "change"
    ADD = "add"
    REMOVE = "remove"

    @property
    def label(self) -> str:
        return {"change": "Modificar", "add": "Agregar", "remove": "Eliminar"}[self.value]


# The plan elements an adjustment may touch, and how pages name them.
ELEMENT_KINDS: Final = ("meta", "indicador", "actividad")
ELEMENT_KIND_LABELS: Final = {"meta": "Meta", "indicador": "Indicador", "actividad": "Actividad"}

_OPEN = ", ".join(f"'{state.value}'" for state in sorted(OPEN_STATES))


class PlanAdjustment(Base):
    __tablename__ = "plan_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[AdjustmentState] = mapped_column(
        str_enum(AdjustmentState, "plan_adjustment_state"), default=AdjustmentState.BORRADOR)
    # The PMI version the approval froze; set only when approved.
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("pmi_snapshots.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    ruta: Mapped[Ruta] = relationship()
    snapshot: Mapped[PmiSnapshot | None] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    changes: Mapped[list[AdjustmentChange]] = relationship(
        back_populates="adjustment", order_by="AdjustmentChange.id",
        cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("ruta_id", "number", name="uq_plan_adjustments_number"),
        Index("uq_plan_adjustments_open_per_ruta", "ruta_id", unique=True,
              postgresql_where=text(f"state IN ({_OPEN})"),
              sqlite_where=text(f"state IN ({_OPEN})")),
        # The adjustments waiting for the Secretaría's decision, longest waiting first (the
        # revision queue lists the first ones): read in order, not sorted.
        Index("ix_plan_adjustments_sent_waiting", "sent_at", "id",
              postgresql_where=text("state = 'enviado'"), sqlite_where=text("state = 'enviado'")),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("state <> 'aprobado' OR snapshot_id IS NOT NULL",
                        name="approved_has_version"),
        CheckConstraint("state = 'borrador' OR sent_at IS NOT NULL", name="sent_has_time"),
    )

    @property
    def label(self) -> str:
        return f"Ajuste {self.number}"


class AdjustmentChange(Base):
    __tablename__ = "plan_adjustment_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    adjustment_id: Mapped[int] = mapped_column(ForeignKey("plan_adjustments.id"), index=True)
    kind: Mapped[ChangeKind] = mapped_column(str_enum(ChangeKind, "plan_adjustment_change_kind"))
    element_kind: Mapped[str] = mapped_column(String(20))
    # The element changed or removed; NULL for an addition (``result_element_id`` then names
    # the element the approval created).
    element_id: Mapped[int | None] = mapped_column(Integer)
    # «Meta 1.2» as numbered in the plan when the change was proposed.
    element_label: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # The PMI form's fields as posted (strings, lists for multiple choices); {} for a removal.
    proposed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    justification: Mapped[str] = mapped_column(Text)
    observation: Mapped[str] = mapped_column(Text, default="", server_default="")
    result_element_id: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    adjustment: Mapped[PlanAdjustment] = relationship(back_populates="changes")

    __table_args__ = (
        CheckConstraint("length(trim(justification)) > 0", name="justification_present"),
        CheckConstraint("element_kind IN ('meta', 'indicador', 'actividad')",
                        name="known_element_kind"),
        CheckConstraint("(kind = 'add') = (element_id IS NULL)", name="target_unless_added"),
    )

    @property
    def element_kind_label(self) -> str:
        return ELEMENT_KIND_LABELS[self.element_kind]


# The events of the history: the machine's triggers and the proposal that opens one.
PROPOSED: Final = "proponer"


class AdjustmentEvent(Base):
    """Append-only: one row per step of an adjustment, for the Ruta's history."""

    __tablename__ = "plan_adjustment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    adjustment_id: Mapped[int] = mapped_column(ForeignKey("plan_adjustments.id"), index=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[AdjustmentState | None] = mapped_column(
        str_enum(AdjustmentState, "plan_adjustment_from_state"))
    to_state: Mapped[AdjustmentState] = mapped_column(
        str_enum(AdjustmentState, "plan_adjustment_to_state"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    adjustment: Mapped[PlanAdjustment] = relationship()
    actor: Mapped[User] = relationship()

    __table_args__ = (
        CheckConstraint("trigger IN ('proponer', 'enviar', 'aprobar', 'devolver')",
                        name="known_trigger"),
        CheckConstraint("trigger <> 'devolver' OR (note IS NOT NULL AND "
                        "length(trim(note)) > 0)", name="return_has_observations"),
    )
