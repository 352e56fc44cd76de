"""The sections of the consolidado that feed the Secretaría's plan, on the page and as sheets.

The circular asks the Secretaría to consolidate «insumos para la elaboración de metas de
calidad educativa»: the hallazgos of the schools (``insumos.hallazgo_cuts``), the componentes
their plans work on (``insumos.componentes_elegidos``), the criteria plans fail on in review
(the rubric, ``rubric``, and before it the observations, ``criteria_observed``), the final
results and lessons (``resultados``), and the Rutas estancadas (``stalled``). Each has one
sheet here, in the export beside the existing ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from workflow.cierre.models import Verdict
from workflow.consolidado import criteria_observed, insumos, resultados
from workflow.consolidado.consolidate import Consolidado
from workflow.consolidado.sheet import SCHOOL_HEADER, Row, Sheet, lazy, school_cells


@dataclass(frozen=True)
class Secciones:
    hallazgos: insumos.HallazgoCuts
    componentes: insumos.ComponentesElegidos
    observed: criteria_observed.ObservedCriteria
    resultados: resultados.FinalResults


def secciones(session: Session, data: Consolidado) -> Secciones:
    """Everything the new sections of the page show, under the consolidado's filters."""
    return Secciones(insumos.hallazgo_cuts(session, data.plan_rows),
                     insumos.componentes_elegidos(session, data.plan_rows),
                     criteria_observed.observed_criteria(session, data),
                     resultados.final_results(session, data.schools))


# --- sheets -------------------------------------------------------------------------------


def _cut_rows(cuts: insumos.HallazgoCuts) -> list[Row]:
    rows: list[Row] = [("Fuente", item.label, "Sí" if item.external else "No", item.hallazgos,
                        item.schools) for item in cuts.fuentes]
    rows += [("Grado", item.label, "", item.hallazgos, item.schools) for item in cuts.grados]
    rows += [("Área o competencia", item.label, "", item.hallazgos, item.schools)
             for item in cuts.areas]
    return rows


def _componente_rows(chosen: insumos.ComponentesElegidos) -> list[Row]:
    return [(item.area_name, item.code, item.name, item.schools, item.objetivos,
             item.prioritised) for item in chosen.componentes]


def _result_rows(results: resultados.FinalResults) -> list[Row]:
    rows: list[Row] = [(area.name, area.alcanzadas, area.parciales, area.no_alcanzadas,
                        area.metas, area.schools) for area in results.areas]
    if results.metas:
        rows.append(("Todas las áreas (cada meta una vez)", results.totals[Verdict.ALCANZADA],
                     results.totals[Verdict.PARCIAL], results.totals[Verdict.NO_ALCANZADA],
                     results.metas, results.registered))
    return rows


def _lesson_rows(session: Session, data: Consolidado) -> list[Row]:
    by_ruta = {row.ruta.id: row for row in data.schools if row.ruta is not None}
    return [(*school_cells(by_ruta[item.ruta_id]), item.registered_at, item.text)
            for item in resultados.final_results(session, data.schools).lecciones]


def _stalled_rows(data: Consolidado) -> list[Row]:
    return [(*school_cells(row), row.owes, row.idle_days) for row in data.stalled]


SHEET_LABELS = {
    "hallazgos-por-corte": "hallazgos por fuente, grado y área o competencia",
    "componentes-trabajados": "componentes que trabajan los planes",
    "criterios-observaciones": "criterios con observaciones (revisiones sin rúbrica)",
    "resultados-finales": "metas alcanzadas por área (evaluación final)",
    "lecciones": "lecciones aprendidas",
    "estancadas": "Rutas estancadas",
}


def sheets(session: Session, data: Consolidado) -> list[Sheet]:
    """One sheet per section, computed once each, when first counted or written."""
    return [
        lazy("hallazgos-por-corte", "Hallazgos por corte",
             ("Corte", "Valor", "Prueba externa", "Hallazgos", "Instituciones"),
             lambda: _cut_rows(insumos.hallazgo_cuts(session, data.plan_rows))),
        lazy("componentes-trabajados", "Componentes trabajados",
             ("Área de gestión", "Código", "Componente", "Instituciones que lo trabajan",
              "Objetivos que lo atienden", "Instituciones que lo priorizaron"),
             lambda: _componente_rows(insumos.componentes_elegidos(session, data.plan_rows))),
        lazy("criterios-observaciones", "Criterios con observaciones",
             criteria_observed.SHEET_HEADER,
             lambda: criteria_observed.sheet_rows(
                 criteria_observed.observed_criteria(session, data))),
        lazy("resultados-finales", "Resultados finales por área",
             ("Área de gestión", "Metas alcanzadas", "Parcialmente alcanzadas",
              "No alcanzadas", "Metas evaluadas", "Instituciones"),
             lambda: _result_rows(resultados.final_results(session, data.schools))),
        lazy("lecciones", "Lecciones aprendidas",
             (*SCHOOL_HEADER, "Evaluación final registrada", "Lecciones aprendidas"),
             lambda: _lesson_rows(session, data)),
        lazy("estancadas", "Rutas estancadas",
             (*SCHOOL_HEADER, "Debe", "Días sin transición ni informe"),
             lambda: _stalled_rows(data)),
    ]
