"""The Ruta de Mejoramiento state machine: states, triggers, guards and who may fire what.

This module is pure: it imports nothing from Flask or the database. One ``Machine`` is built
for the whole process with ``model=None`` and events are fired on a small ``RutaSubject``
wrapper (building a machine per row costs about half a millisecond and ``add_model`` would
overwrite the stored state with the initial one).

The three failure outcomes of firing are distinct on purpose:
- the trigger is not valid from the current state: ``MachineError`` (the view answers 409);
- a guard fails: the event returns ``False`` (422, with the guard's reasons);
- the trigger does not exist: ``KeyError`` (a programming error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from transitions import Machine, MachineError

from workflow.roles import Role

__all__ = [
    "GUARDS",
    "MACHINE",
    "STATE_EXPLANATIONS",
    "STATE_LABELS",
    "STATE_ORDER",
    "SYSTEM",
    "TRANSITIONS",
    "TRIGGER_ACTORS",
    "MachineError",
    "ReturnTarget",
    "RutaSubject",
    "State",
    "Trigger",
    "fire",
    "mermaid_diagram",
    "triggers_from",
]


class State(StrEnum):
    BORRADOR = "borrador"
    AUTOEVALUACION_ENVIADA = "autoevaluacion_enviada"
    PMI_FORMULADO = "pmi_formulado"
    EN_REVISION = "en_revision"
    APROBADO = "aprobado"
    SEGUIMIENTO = "seguimiento"
    CERRADO = "cerrado"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


# The order of the stepper shown to users; it is also the order of the happy path.
STATE_ORDER: Final[tuple[State, ...]] = tuple(State)

STATE_LABELS: Final[Mapping[State, str]] = {
    State.BORRADOR: "Autoevaluación en curso",
    State.AUTOEVALUACION_ENVIADA: "Autoevaluación enviada",
    State.PMI_FORMULADO: "PMI enviado a la Secretaría",
    State.EN_REVISION: "PMI en revisión",
    State.APROBADO: "PMI aprobado",
    State.SEGUIMIENTO: "Seguimiento periódico",
    State.CERRADO: "Ruta cerrada",
}

# What the current state means, in plain words, for the school and for the Secretaría.
STATE_EXPLANATIONS: Final[Mapping[State, tuple[str, str]]] = {
    State.BORRADOR: (
        "El equipo de gestión está haciendo la autoevaluación institucional: revisa la "
        "identidad institucional y valora cada componente de las cuatro áreas de gestión. "
        "Cuando esté completa, el rector o la rectora la envía.",
        "La institución está haciendo su autoevaluación. Todavía no hay nada que revisar.",
    ),
    State.AUTOEVALUACION_ENVIADA: (
        "La autoevaluación quedó enviada. Ahora el equipo formula el Plan de Mejoramiento "
        "Institucional (PMI) a partir de las oportunidades de mejoramiento y, cuando cumpla "
        "los criterios de la Circular 0488, el rector o la rectora lo envía a la Secretaría.",
        "La institución está formulando su PMI. Todavía no hay nada que revisar.",
    ),
    State.PMI_FORMULADO: (
        "El PMI fue enviado a la Secretaría y espera que un revisor o revisora de la "
        "Dirección de Calidad Educativa lo tome.",
        "El PMI espera revisión. Tómelo para revisarlo; mientras lo tenga, nadie más lo toma.",
    ),
    State.EN_REVISION: (
        "Un revisor o revisora de la Secretaría está revisando el PMI. Puede aprobarlo o "
        "devolverlo con observaciones.",
        "El PMI está en revisión. Apruébelo, o devuélvalo con observaciones para la institución.",
    ),
    State.APROBADO: (
        "La Secretaría aprobó el PMI. El seguimiento periódico empieza en la fecha de inicio "
        "del plan.",
        "El PMI está aprobado. El seguimiento empieza en la fecha de inicio del plan, o cuando "
        "usted lo inicie.",
    ),
    State.SEGUIMIENTO: (
        "El plan está en ejecución. En cada corte de seguimiento la institución informa el "
        "avance, las dificultades, los recursos usados y lo que no se hizo y por qué.",
        "El plan está en ejecución y en seguimiento periódico. Al final del horizonte, con la "
        "evaluación final registrada, se cierra la Ruta.",
    ),
    State.CERRADO: (
        "La Ruta terminó: el plan fue evaluado y sus resultados comunicados. La siguiente "
        "Ruta parte de esta.",
        "La Ruta está cerrada. Solo se puede consultar.",
    ),
}


class Trigger(StrEnum):
    ENVIAR_AUTOEVALUACION = "enviar_autoevaluacion"
    FORMULAR_PMI = "formular_pmi"
    TOMAR_REVISION = "tomar_revision"
    APROBAR = "aprobar"
    DEVOLVER = "devolver"
    INICIAR_SEGUIMIENTO = "iniciar_seguimiento"
    CERRAR = "cerrar"

    @property
    def label(self) -> str:
        return TRIGGER_LABELS[self]

    @property
    def past_tense(self) -> str:
        return TRIGGER_PAST[self]


TRIGGER_LABELS: Final[Mapping[Trigger, str]] = {
    Trigger.ENVIAR_AUTOEVALUACION: "Enviar la autoevaluación",
    Trigger.FORMULAR_PMI: "Enviar el PMI a la Secretaría",
    Trigger.TOMAR_REVISION: "Tomar para revisión",
    Trigger.APROBAR: "Aprobar el PMI",
    Trigger.DEVOLVER: "Devolver con observaciones",
    Trigger.INICIAR_SEGUIMIENTO: "Iniciar el seguimiento",
    Trigger.CERRAR: "Cerrar la Ruta",
}

# How the history timeline words each event.
TRIGGER_PAST: Final[Mapping[Trigger, str]] = {
    Trigger.ENVIAR_AUTOEVALUACION: "Envió la autoevaluación",
    Trigger.FORMULAR_PMI: "Envió el PMI a la Secretaría",
    Trigger.TOMAR_REVISION: "Tomó el PMI para revisión",
    Trigger.APROBAR: "Aprobó el PMI",
    Trigger.DEVOLVER: "Devolvió con observaciones",
    Trigger.INICIAR_SEGUIMIENTO: "Inició el seguimiento",
    Trigger.CERRAR: "Cerró la Ruta",
}


class ReturnTarget(StrEnum):
    """Where a returned plan goes back to: the PMI only, or the autoevaluación as well."""

    PMI = "pmi"
    AUTOEVALUACION = "autoevaluacion"

    @property
    def label(self) -> str:
        return {
            ReturnTarget.PMI: "Al PMI (la autoevaluación queda como está)",
            ReturnTarget.AUTOEVALUACION: "A la autoevaluación (se rehace desde el principio)",
        }[self]


# The actor that is not a person: the daily pass that starts seguimiento on the plan's date.
SYSTEM: Final = "sistema"

# Named guards. Each is a fact about the Ruta's content, computed before firing by the
# provider the stage's ``actions`` module passes (``workflow.guards`` lists them); the machine
# only combines them.
GUARDS: Final[tuple[str, ...]] = (
    "self_assessment_complete",
    "pmi_passes_blocking_checks",
    "has_observations",
    "no_open_observations",
    "rubric_allows_approval",
    "final_evaluation_recorded",
    "returns_to_pmi",
    "returns_to_self_assessment",
)

S = State
T = Trigger
TRANSITIONS: Final[tuple[dict[str, object], ...]] = (
    {"trigger": T.ENVIAR_AUTOEVALUACION, "source": S.BORRADOR,
     "dest": S.AUTOEVALUACION_ENVIADA, "conditions": ["self_assessment_complete"]},
    {"trigger": T.FORMULAR_PMI, "source": S.AUTOEVALUACION_ENVIADA,
     "dest": S.PMI_FORMULADO, "conditions": ["pmi_passes_blocking_checks"]},
    {"trigger": T.TOMAR_REVISION, "source": S.PMI_FORMULADO, "dest": S.EN_REVISION},
    {"trigger": T.APROBAR, "source": S.EN_REVISION, "dest": S.APROBADO,
     "conditions": ["no_open_observations", "rubric_allows_approval"]},
    {"trigger": T.DEVOLVER, "source": S.EN_REVISION, "dest": S.AUTOEVALUACION_ENVIADA,
     "conditions": ["has_observations", "returns_to_pmi"]},
    {"trigger": T.DEVOLVER, "source": S.EN_REVISION, "dest": S.BORRADOR,
     "conditions": ["has_observations", "returns_to_self_assessment"]},
    {"trigger": T.INICIAR_SEGUIMIENTO, "source": S.APROBADO, "dest": S.SEGUIMIENTO},
    {"trigger": T.CERRAR, "source": S.SEGUIMIENTO, "dest": S.CERRADO,
     "conditions": ["final_evaluation_recorded"]},
)
del S, T

# Who may fire which trigger. Scope (which Rutas a user sees) is checked separately.
TRIGGER_ACTORS: Final[Mapping[Trigger, frozenset[str]]] = {
    Trigger.ENVIAR_AUTOEVALUACION: frozenset({Role.RECTOR}),
    Trigger.FORMULAR_PMI: frozenset({Role.RECTOR}),
    Trigger.TOMAR_REVISION: frozenset({Role.REVISOR}),
    Trigger.APROBAR: frozenset({Role.REVISOR}),
    Trigger.DEVOLVER: frozenset({Role.REVISOR}),
    Trigger.INICIAR_SEGUIMIENTO: frozenset({Role.REVISOR, SYSTEM}),
    Trigger.CERRAR: frozenset({Role.REVISOR}),
}


@dataclass
class RutaSubject:
    """What the machine moves: a state and the guard facts computed for this attempt."""

    state: str
    facts: Mapping[str, bool] = field(default_factory=dict)

    def _fact(self, name: str) -> bool:
        return bool(self.facts.get(name, False))

    def self_assessment_complete(self) -> bool:
        return self._fact("self_assessment_complete")

    def pmi_passes_blocking_checks(self) -> bool:
        return self._fact("pmi_passes_blocking_checks")

    def has_observations(self) -> bool:
        return self._fact("has_observations")

    def no_open_observations(self) -> bool:
        return self._fact("no_open_observations")

    def rubric_allows_approval(self) -> bool:
        return self._fact("rubric_allows_approval")

    def final_evaluation_recorded(self) -> bool:
        return self._fact("final_evaluation_recorded")

    def returns_to_pmi(self) -> bool:
        return self._fact("returns_to_pmi")

    def returns_to_self_assessment(self) -> bool:
        return self._fact("returns_to_self_assessment")


def _machine_kwargs() -> dict[str, object]:
    return {
        "states": [state.value for state in State],
        "transitions": [
            {key: (value.value if isinstance(value, StrEnum) else value)
             for key, value in row.items()}
            for row in TRANSITIONS
        ],
        "initial": State.BORRADOR.value,
        # Left on, auto transitions would let ``to_aprobado()`` jump over every guard.
        "auto_transitions": False,
    }


MACHINE: Final = Machine(model=None, **_machine_kwargs())


def fire(subject: RutaSubject, trigger: Trigger) -> bool:
    """Fire ``trigger`` on ``subject``. True when the state changed, False when a guard failed.

    Raises ``MachineError`` when the trigger is not valid from the subject's state.
    """
    return bool(MACHINE.events[trigger.value].trigger(subject))


def triggers_from(state: State) -> list[Trigger]:
    """The triggers the machine defines from ``state``, in the table's order."""
    names = set(MACHINE.get_triggers(state.value))
    return [trigger for trigger in Trigger if trigger.value in names]


def mermaid_diagram() -> str:
    """The state diagram in Mermaid syntax, generated from the machine itself."""
    from transitions.extensions import GraphMachine  # only the CLI needs it

    holder = RutaSubject(state=State.BORRADOR.value)
    GraphMachine(model=holder, graph_engine="mermaid", show_conditions=True,
                 title="Ruta de Mejoramiento", **_machine_kwargs())
    return str(holder.get_graph().draw(None))  # type: ignore[attr-defined]
