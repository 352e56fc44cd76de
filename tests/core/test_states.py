"""The machine alone: no Flask, no database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workflow.roles import Role
from workflow.states import (
    GUARDS,
    MACHINE,
    SYSTEM,
    TRANSITIONS,
    TRIGGER_ACTORS,
    MachineError,
    RutaSubject,
    State,
    Trigger,
    fire,
    mermaid_diagram,
    triggers_from,
)

ALL_TRUE = dict.fromkeys(GUARDS, True)

# The whole table of DESIGN.md, pinned: (trigger, source) → every possible destination.
EXPECTED_TABLE = {
    ("enviar_autoevaluacion", "borrador"): {"autoevaluacion_enviada"},
    ("formular_pmi", "autoevaluacion_enviada"): {"pmi_formulado"},
    ("tomar_revision", "pmi_formulado"): {"en_revision"},
    ("aprobar", "en_revision"): {"aprobado"},
    ("devolver", "en_revision"): {"autoevaluacion_enviada", "borrador"},
    ("iniciar_seguimiento", "aprobado"): {"seguimiento"},
    ("cerrar", "seguimiento"): {"cerrado"},
}


def test_transition_table_is_exactly_the_designed_one() -> None:
    table: dict[tuple[str, str], set[str]] = {}
    for row in TRANSITIONS:
        table.setdefault((str(row["trigger"]), str(row["source"])), set()).add(str(row["dest"]))
    assert table == EXPECTED_TABLE
    assert [state.value for state in State] == [
        "borrador", "autoevaluacion_enviada", "pmi_formulado", "en_revision", "aprobado",
        "seguimiento", "cerrado"]


def test_who_may_fire_each_trigger_is_pinned() -> None:
    assert {trigger.value: set(actors) for trigger, actors in TRIGGER_ACTORS.items()} == {
        "enviar_autoevaluacion": {"rector"},
        "formular_pmi": {"rector"},
        "tomar_revision": {"revisor"},
        "aprobar": {"revisor"},
        "devolver": {"revisor"},
        "iniciar_seguimiento": {"revisor", SYSTEM},
        "cerrar": {"revisor"},
    }
    assert not any(Role.ADMINISTRADOR in actors or Role.CONSULTA in actors
                   or Role.EQUIPO in actors for actors in TRIGGER_ACTORS.values())


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_every_state_trigger_pair(state: State, trigger: Trigger) -> None:
    facts = dict(ALL_TRUE, returns_to_self_assessment=False)
    subject = RutaSubject(state=state.value, facts=facts)
    expected = EXPECTED_TABLE.get((trigger.value, state.value))
    if expected is None:
        with pytest.raises(MachineError):
            fire(subject, trigger)
        assert subject.state == state.value
    else:
        assert fire(subject, trigger) is True
        assert subject.state in expected


@pytest.mark.parametrize(("trigger", "state", "guard"), [
    (Trigger.ENVIAR_AUTOEVALUACION, State.BORRADOR, "self_assessment_complete"),
    (Trigger.FORMULAR_PMI, State.AUTOEVALUACION_ENVIADA, "pmi_passes_blocking_checks"),
    (Trigger.APROBAR, State.EN_REVISION, "no_open_observations"),
    (Trigger.DEVOLVER, State.EN_REVISION, "has_observations"),
    (Trigger.CERRAR, State.SEGUIMIENTO, "final_evaluation_recorded"),
])
def test_a_failed_guard_returns_false_and_keeps_the_state(trigger: Trigger, state: State,
                                                           guard: str) -> None:
    subject = RutaSubject(state=state.value, facts=dict(ALL_TRUE, **{guard: False}))
    assert fire(subject, trigger) is False
    assert subject.state == state.value


def test_return_goes_where_the_reviewer_said() -> None:
    to_pmi = RutaSubject("en_revision", dict(ALL_TRUE, returns_to_self_assessment=False))
    to_self_assessment = RutaSubject("en_revision", dict(ALL_TRUE, returns_to_pmi=False))
    nowhere = RutaSubject("en_revision", dict(ALL_TRUE, returns_to_pmi=False,
                                              returns_to_self_assessment=False))
    assert fire(to_pmi, Trigger.DEVOLVER) and to_pmi.state == "autoevaluacion_enviada"
    assert fire(to_self_assessment, Trigger.DEVOLVER) and to_self_assessment.state == "borrador"
    assert fire(nowhere, Trigger.DEVOLVER) is False and nowhere.state == "en_revision"


def test_no_auto_transitions_can_jump_over_guards() -> None:
    assert MACHINE.auto_transitions is False
    assert not any(name.startswith("to_") for name in MACHINE.events)
    with pytest.raises(KeyError):
        MACHINE.events["to_aprobado"]


def test_triggers_from_each_state() -> None:
    assert triggers_from(State.BORRADOR) == [Trigger.ENVIAR_AUTOEVALUACION]
    assert triggers_from(State.EN_REVISION) == [Trigger.APROBAR, Trigger.DEVOLVER]
    assert triggers_from(State.CERRADO) == []


def test_mermaid_diagram_is_generated_from_the_machine() -> None:
    diagram = mermaid_diagram()
    assert diagram.splitlines()[0:4] == ["---", "Ruta de Mejoramiento", "---", "stateDiagram-v2"]
    for row in TRANSITIONS:
        assert f"{row['source']} --> {row['dest']}: {row['trigger']}" in diagram
    assert "[*] --> borrador" in diagram


def test_states_module_imports_neither_flask_nor_the_database() -> None:
    source = Path(__file__).parents[2] / "workflow" / "states.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "dataclasses", "enum", "typing",
                        "transitions", "workflow"}
    assert "flask" not in imported and "sqlalchemy" not in imported
