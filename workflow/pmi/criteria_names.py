"""The eight criteria of Circular 0488, and the Guía 34 step it does not number, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# The eight considerations of the circular, numbered as it lists them.
CRITERIA: Final[Mapping[int, str]] = {
    1: "Coherencia entre la autoevaluación institucional y las acciones del PMI",
    2: "Coherencia entre los objetivos, metas e indicadores",
    3: "Las metas contienen cantidad, unidad de medida y tiempo",
    4: "El indicador es claro y está relacionado con la meta y el objetivo",
    5: "Viabilidad de las acciones en tiempo y recursos",
    6: "Las acciones son eficaces para cumplir los objetivos y metas",
    7: "El PMI identifica las debilidades de las pruebas externas e internas",
    8: "El PMI se articula con la oferta a estudiantes con trayectorias diversas",
}
# Guía 34 steps the circular does not list but the plan needs (divulgación).
GUIA_34 = 0
CRITERION_LABELS: Final[Mapping[int, str]] = {
    **CRITERIA, GUIA_34: "Guía 34: divulgación del plan a la comunidad educativa"}


def criterion_name(criterion: int) -> str:
    """How a criterion is named in a line of text: «Criterio 3», and the Guía 34 step (which
    the circular does not number) by its name, never «Criterio 0»."""
    return "Divulgación (Guía 34)" if criterion == GUIA_34 else f"Criterio {criterion}"
