"""The plan adjustment's own state machine, beside the Ruta's (``workflow.states``).

An adjustment of an approved PMI lives while the Ruta stays in ``seguimiento``::

    borrador ──(rector: enviar)──▶ enviado ──(revisor: aprobar)──▶ aprobado
                                     │  ▲
                 (revisor: devolver, │  │ (rector: enviar, after correcting)
                  ≥ 1 observation)   ▼  │
                                   devuelto

Like the Ruta's machine this module is pure (no Flask, no database): one ``Machine`` for the
process built with ``model=None`` and ``auto_transitions=False``, fired on a small subject
that carries the guard facts computed by ``workflow.ajustes.actions``. Wrong state raises
``MachineError``; a failed guard returns False. ``ruta states`` draws it after the Ruta's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from transitions import Machine, MachineError

from workflow.roles import Role

__all__ = ["MACHINE", "OPEN_STATES", "TRANSITIONS", "TRIGGER_ACTORS", "AdjustmentState",
           "AdjustmentSubject", "AdjustmentTrigger", "MachineError", "fire",
           "mermaid_diagram", "triggers_from"]


class AdjustmentState(StrEnum):
    BORRADOR = "borrador"
    ENVIADO = "enviado"
    APROBADO = "aprobado"
    DEVUELTO = "devuelto"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS: Final[Mapping[AdjustmentState, str]] = {
    AdjustmentState.BORRADOR: "En preparación",
    AdjustmentState.ENVIADO: "Enviado a la Secretaría",
    AdjustmentState.APROBADO: "Aprobado",
    AdjustmentState.DEVUELTO: "Devuelto con observaciones",
}
# At most one adjustment of a Ruta is in one of these (a partial unique index says so too).
OPEN_STATES: Final = frozenset({AdjustmentState.BORRADOR, AdjustmentState.ENVIADO,
                                AdjustmentState.DEVUELTO})
# The school edits its changes in these.
EDITABLE_STATES: Final = frozenset({AdjustmentState.BORRADOR, AdjustmentState.DEVUELTO})


class AdjustmentTrigger(StrEnum):
    ENVIAR = "enviar"
    APROBAR = "aprobar"
    DEVOLVER = "devolver"

    @property
    def label(self) -> str:
        return TRIGGER_LABELS[self]

    @property
    def past_tense(self) -> str:
        return TRIGGER_PAST[self]


TRIGGER_LABELS: Final[Mapping[AdjustmentTrigger, str]] = {
    AdjustmentTrigger.ENVIAR: "Enviar el ajuste a la Secretaría",
    AdjustmentTrigger.APROBAR: "Aprobar el ajuste",
    AdjustmentTrigger.DEVOLVER: "Devolver el ajuste con observaciones",
}
TRIGGER_PAST: Final[Mapping[AdjustmentTrigger, str]] = {
    AdjustmentTrigger.ENVIAR: "Envió el ajuste del plan a la Secretaría",
    AdjustmentTrigger.APROBAR: "Aprobó el ajuste del plan",
    AdjustmentTrigger.DEVOLVER: "Devolvió el ajuste del plan con observaciones",
}

S = AdjustmentState
T = AdjustmentTrigger
TRANSITIONS: Final[tuple[dict[str, object], ...]] = (
    {"trigger": T.ENVIAR, "source": [S.BORRADOR, S.DEVUELTO], "dest": S.ENVIADO,
     "conditions": ["has_changes"]},
    {"trigger": T.APROBAR, "source": S.ENVIADO, "dest": S.APROBADO,
     "conditions": ["rubric_allows_approval", "changes_apply"]},
    {"trigger": T.DEVOLVER, "source": S.ENVIADO, "dest": S.DEVUELTO,
     "conditions": ["has_observations"]},
)
del S, T

TRIGGER_ACTORS: Final[Mapping[AdjustmentTrigger, frozenset[str]]] = {
    AdjustmentTrigger.ENVIAR: frozenset({Role.RECTOR}),
    AdjustmentTrigger.APROBAR: frozenset({Role.REVISOR}),
    AdjustmentTrigger.DEVOLVER: frozenset({Role.REVISOR}),
}


@dataclass
class AdjustmentSubject:
    """What the machine moves: a state and the guard facts computed for this attempt."""

    state: str
    facts: Mapping[str, bool] = field(default_factory=dict)

    def has_changes(self) -> bool:
        return bool(self.facts.get("has_changes", False))

    def rubric_allows_approval(self) -> bool:
        return bool(self.facts.get("rubric_allows_approval", False))

    def changes_apply(self) -> bool:
        return bool(self.facts.get("changes_apply", False))

    def has_observations(self) -> bool:
        return bool(self.facts.get("has_observations", False))


def _value(item: object) -> object:
    if isinstance(item, StrEnum):
        return item.value
    if isinstance(item, list):
        return [_value(part) for part in item]
    return item


def _machine_kwargs() -> dict[str, object]:
    return {
        "states": [state.value for state in AdjustmentState],
        "transitions": [{key: _value(value) for key, value in row.items()}
                        for row in TRANSITIONS],
        "initial": AdjustmentState.BORRADOR.value,
        "auto_transitions": False,
    }


MACHINE: Final = Machine(model=None, **_machine_kwargs())


def fire(subject: AdjustmentSubject, trigger: AdjustmentTrigger) -> bool:
    """True when the state changed, False when a guard failed; ``MachineError`` from a
    state the trigger does not leave."""
    return bool(MACHINE.events[trigger.value].trigger(subject))


def triggers_from(state: AdjustmentState) -> list[AdjustmentTrigger]:
    names = set(MACHINE.get_triggers(state.value))
    return [trigger for trigger in AdjustmentTrigger if trigger.value in names]


def mermaid_diagram() -> str:
    """The adjustment's state diagram in Mermaid syntax, generated from the machine."""
    from transitions.extensions import GraphMachine  # only the CLI needs it

    holder = AdjustmentSubject(state=AdjustmentState.BORRADOR.value)
    GraphMachine(model=holder, graph_engine="mermaid", show_conditions=True,
                 title="Ajuste del plan (durante el seguimiento)", **_machine_kwargs())
    return str(holder.get_graph().draw(None))  # type: ignore[attr-defined]
