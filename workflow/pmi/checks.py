"""The Circular 0488 de 2023 checks over a PMI: a named rule set.

What software can check is whether the plan is complete and consistent for review («completo y
consistente para revisión»): every part present, the numbers agreeing with each other, texts
that can be read. Whether the plan complies with each criterion is the Secretaría reviewer's
judgement, never these rules'.

Each rule has a stable id, the criterion of the circular it belongs to, a severity (blocking
rules stop ``formular_pmi``; advice is shown but never blocks) and a title. Running the rules
over a plan gives one finding per element that fails, with a Spanish message naming it and
saying what to fix. Counts count rules, not findings.

The rules added with meta types, hallazgo data and minimum lengths (``NEW_RULES``) judge only
plans with ``content["formato"] >= 2``: a version frozen before them keeps the verdict it had.

The rules read the plain data of ``workflow.pmi.plan.plan_content`` (or a frozen snapshot of it),
so the same report is computed for the live plan, for any version and by the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from sqlalchemy.orm import Session

from workflow.models import Ruta
from workflow.pmi.criteria import CHECKS, plural
from workflow.pmi.criteria_names import (
    CRITERION_LABELS,
    GUIA_34,
)
from workflow.pmi.plan import CONTENT_FORMAT, element_labels, plan_content


class Severity(StrEnum):
    BLOCKING = "bloqueante"
    ADVICE = "recomendacion"

    @property
    def label(self) -> str:
        return "Obligatorio" if self is Severity.BLOCKING else "Recomendación"


@dataclass(frozen=True)
class Rule:
    id: str
    criterion: int
    severity: Severity
    title: str

    @property
    def criterion_label(self) -> str:
        return CRITERION_LABELS[self.criterion]


@dataclass(frozen=True)
class Finding:
    rule: Rule
    element: str  # "plan", "objetivo:3", "meta:7", ...
    label: str  # "Meta 1.2"
    message: str

    @property
    def blocking(self) -> bool:
        return self.rule.severity is Severity.BLOCKING


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class Report:
    results: list[RuleResult]
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [finding for result in self.results for finding in result.findings]

    @property
    def blocking_failures(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.blocking]

    @property
    def advice(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.blocking]

    @property
    def passes(self) -> bool:
        return not self.blocking_failures

    @property
    def failed_rules(self) -> list[RuleResult]:
        """The blocking rules that fail (what the counts count)."""
        return [result for result in self.results
                if result.rule.severity is Severity.BLOCKING and not result.passed]

    @property
    def advice_rules(self) -> list[RuleResult]:
        return [result for result in self.results
                if result.rule.severity is Severity.ADVICE and not result.passed]

    @property
    def summary(self) -> str:
        """«Faltan 4 verificaciones obligatorias», or that the plan is ready for review."""
        failed = len(self.failed_rules)
        if failed:
            return (f"{'Falta' if failed == 1 else 'Faltan'} "
                    f"{plural(failed, 'verificación obligatoria', 'verificaciones obligatorias')}")
        return "El PMI está completo y consistente para revisión"

    @property
    def advice_summary(self) -> str:
        count = len(self.advice_rules)
        if not count:
            return ""
        return (f"{'Queda' if count == 1 else 'Quedan'} "
                f"{plural(count, 'recomendación', 'recomendaciones')}")

    def for_element(self, key: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.element == key]

    def result(self, rule_id: str) -> RuleResult:
        return next(result for result in self.results if result.rule.id == rule_id)


B, A = Severity.BLOCKING, Severity.ADVICE
RULES: Final[tuple[Rule, ...]] = (
    Rule("plan_con_objetivos", 1, B, "El PMI formula al menos un objetivo"),
    Rule("objetivo_atiende_oportunidad", 1, B,
         "Cada objetivo dice qué hallazgos o componentes de la autoevaluación atiende; si "
         "trabaja sobre una fortaleza, dice por qué"),
    Rule("oportunidades_priorizadas", 1, B,
         "Todas las oportunidades de mejoramiento están priorizadas (urgencia, tendencia e "
         "impacto)"),
    Rule("prioridades_atendidas", 1, B,
         "Las oportunidades prioritarias (las de mayor puntaje) se atienden o se aplazan con "
         "una razón"),
    Rule("areas_atendidas", 1, A,
         "Los objetivos atienden cada área de gestión con oportunidades de mejoramiento"),
    Rule("textos_legibles", 2, B,
         "Los objetivos, metas, actividades, hallazgos y razones son frases que se pueden leer"),
    Rule("meta_con_indicador", 2, B,
         "Cada meta tiene exactamente un indicador de resultado; los demás son de proceso"),
    Rule("metas_anuales_hacia_la_meta", 2, B,
         "El indicador de resultado tiene una meta por año, de la línea base hacia la meta"),
    Rule("meta_medible", 3, B, "Cada meta tiene cantidad, unidad de medida y fecha límite"),
    Rule("meta_coherente", 3, B,
         "El tipo, la cantidad, la línea base y el enunciado de cada meta concuerdan"),
    Rule("meta_en_horizonte", 3, B,
         "La fecha límite de cada meta está dentro del horizonte del plan"),
    Rule("indicador_definido", 4, B,
         "Cada indicador está definido: fórmula, unidad, frecuencia, fuente, línea base y "
         "meta por año, con valores posibles en su unidad"),
    Rule("indicador_mide_su_meta", 4, B,
         "Cada indicador de resultado mide su meta: la misma unidad, la misma línea base y "
         "la meta final de la meta"),
    Rule("actividad_en_plazo", 5, B,
         "Las fechas de cada actividad están dentro del horizonte y antes de la fecha límite "
         "de su meta"),
    Rule("actividad_con_responsable_y_recursos", 5, B,
         "Cada actividad tiene responsable y recursos con su fuente de financiación"),
    Rule("costos_dentro_del_presupuesto", 5, B,
         "Los costos de las actividades caben en el presupuesto declarado"),
    Rule("plan_abarca_horizonte", 5, B,
         "El plan abarca cada año del horizonte: metas anuales de resultado y actividades"),
    Rule("objetivo_con_metas", 6, B, "Cada objetivo tiene al menos una meta"),
    Rule("meta_con_actividades", 6, B, "Cada meta tiene actividades que la hacen posible"),
    Rule("debilidades_identificadas", 7, B,
         "El PMI identifica debilidades de pruebas externas (Saber, Evaluar para Avanzar u "
         "otras) y de evaluaciones internas"),
    Rule("hallazgo_con_datos", 7, B,
         "Cada hallazgo registra sus datos: año, grado, área o competencia, valor con su "
         "unidad, comparación y los componentes a los que apunta"),
    Rule("debilidad_atendida", 7, B, "Cada debilidad identificada la atiende un objetivo"),
    Rule("trayectorias_diversas", 8, A,
         "Alguna actividad atiende a estudiantes con trayectorias diversas"),
    Rule("divulgacion_definida", GUIA_34, A,
         "El plan dice cómo y cuándo se divulga a la comunidad educativa"),
)
del B, A
RULES_BY_ID: Final[Mapping[str, Rule]] = {rule.id: rule for rule in RULES}
# Rules that judge only plans of ``CONTENT_FORMAT`` 2 or later (see the module docstring).
NEW_RULES: Final = frozenset({
    "oportunidades_priorizadas", "areas_atendidas", "textos_legibles",
    "metas_anuales_hacia_la_meta", "meta_coherente", "plan_abarca_horizonte",
    "hallazgo_con_datos"})
assert set(CHECKS) == set(RULES_BY_ID), "every rule has its check"



def run_checks(content: Mapping[str, Any]) -> Report:
    """Every rule over ``content`` (``plan_content`` or a snapshot), in the rule set's order."""
    labels = element_labels(content)
    current = content.get("formato", 1) >= CONTENT_FORMAT
    results = []
    for rule in RULES:
        findings = []
        if current or rule.id not in NEW_RULES:
            for element, message in CHECKS[rule.id](content):
                label = labels.get(element, element)
                findings.append(Finding(rule, element, label, f"{label}: {message}"))
        results.append(RuleResult(rule, findings))
    return Report(results, labels)


def check_ruta(session: Session, ruta: Ruta) -> Report:
    return run_checks(plan_content(session, ruta))


def render_text(report: Report) -> str:
    """The report as plain text (the CLI prints it)."""
    lines = []
    for result in report.results:
        mark = "OK   " if result.passed else ("FALTA" if result.rule.severity
                                              is Severity.BLOCKING else "AVISO")
        criterion = (f"criterio {result.rule.criterion}" if result.rule.criterion != GUIA_34
                     else "Guía 34")
        lines.append(f"[{mark}] {result.rule.id} ({result.rule.severity.label}, {criterion}): "
                     f"{result.rule.title}")
        lines.extend(f"    - {finding.message}" for finding in result.findings)
    if report.passes:
        lines.append(f"{report.summary}. Si cumple cada criterio de la Circular 0488 lo juzga "
                     "la Secretaría al revisarlo.")
    else:
        lines.append(f"{report.summary} para que el PMI esté completo y consistente para "
                     "revisión.")
    return "\n".join(lines)
