"""The Circular 0488 de 2023 checks over a PMI: a named rule set.

Each rule has a stable id, the criterion of the circular it belongs to, a severity (blocking
rules stop ``formular_pmi``; advice is shown but never blocks) and a title. Running the rules
over a plan gives one finding per element that fails, with a Spanish message naming it.

The rules read the plain data of ``workflow.pmi.plan.plan_content`` (or a frozen snapshot of it),
so the same report is computed for the live plan, for any version and by the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Final

from sqlalchemy.orm import Session

from workflow.dates import fecha
from workflow.models import Ruta
from workflow.pmi.models import CRITERION_LABELS, GUIA_34, Fuente
from workflow.pmi.plan import TOP_PRIORITY, element_labels, plan_content


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

    def for_element(self, key: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.element == key]

    def result(self, rule_id: str) -> RuleResult:
        return next(result for result in self.results if result.rule.id == rule_id)


B, A = Severity.BLOCKING, Severity.ADVICE
RULES: Final[tuple[Rule, ...]] = (
    Rule("plan_con_objetivos", 1, B, "El PMI formula al menos un objetivo"),
    Rule("objetivo_atiende_oportunidad", 1, B,
         "Cada objetivo atiende oportunidades de mejoramiento de la autoevaluación"),
    Rule("prioridades_atendidas", 1, B,
         f"Las {TOP_PRIORITY} oportunidades prioritarias se atienden o se aplazan con una "
         "razón"),
    Rule("meta_con_indicador", 2, B, "Cada meta tiene al menos un indicador que la mide"),
    Rule("meta_medible", 3, B, "Cada meta tiene cantidad, unidad de medida y fecha límite"),
    Rule("meta_en_horizonte", 3, B,
         "La fecha límite de cada meta está dentro del horizonte del plan"),
    Rule("indicador_definido", 4, B,
         "Cada indicador está definido: fórmula, unidad, frecuencia, fuente, línea base y "
         "meta por año"),
    Rule("indicador_mide_su_meta", 4, B,
         "Cada indicador mide su meta: la misma unidad y una meta final igual a la de la meta"),
    Rule("actividad_en_plazo", 5, B,
         "Las fechas de cada actividad están dentro del horizonte y antes de la fecha límite "
         "de su meta"),
    Rule("actividad_con_responsable_y_recursos", 5, B,
         "Cada actividad tiene responsable y recursos con su fuente de financiación"),
    Rule("costos_dentro_del_presupuesto", 5, B,
         "Los costos de las actividades caben en el presupuesto declarado"),
    Rule("objetivo_con_metas", 6, B, "Cada objetivo tiene al menos una meta"),
    Rule("meta_con_actividades", 6, B, "Cada meta tiene actividades que la hacen posible"),
    Rule("debilidades_identificadas", 7, B,
         "El PMI identifica debilidades de pruebas externas (Saber) y de evaluaciones internas"),
    Rule("debilidad_atendida", 7, B, "Cada debilidad identificada la atiende un objetivo"),
    Rule("trayectorias_diversas", 8, A,
         "Alguna actividad atiende a estudiantes con trayectorias diversas"),
    Rule("divulgacion_definida", GUIA_34, A,
         "El plan dice cómo y cuándo se divulga a la comunidad educativa"),
)
del B, A
RULES_BY_ID: Final[Mapping[str, Rule]] = {rule.id: rule for rule in RULES}


# --- the rules ----------------------------------------------------------------------------

Found = Iterator[tuple[str, str]]  # (element key, message without the label)


def _horizon(content: Mapping[str, Any]) -> tuple[date, date]:
    start, end = content["horizon"]
    return date(start, 1, 1), date(end, 12, 31)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: int) -> str:
    return "$" + f"{value:,}".replace(",", ".")


def _number(value: float) -> str:
    return (f"{value:.2f}".rstrip("0").rstrip(".")).replace(".", ",")


def _unit(value: str) -> str:
    cleaned = " ".join(value.lower().split()).rstrip(".")
    return "%" if cleaned in {"%", "porcentaje", "por ciento", "puntos porcentuales"} \
        else cleaned


def _plan_has_objectives(content: Mapping[str, Any]) -> Found:
    if not content["objetivos"]:
        yield "plan", "el PMI todavía no tiene objetivos."


def _objective_addresses_opportunity(content: Mapping[str, Any]) -> Found:
    oportunidades = {o["componente_id"] for o in content["autoevaluacion"]["oportunidades"]}
    for objetivo in content["objetivos"]:
        if not objetivo["componentes"]:
            yield (f"objetivo:{objetivo['id']}", "no dice qué oportunidad de mejoramiento de "
                   "la autoevaluación atiende.")
        elif not oportunidades.intersection(objetivo["componentes"]):
            yield (f"objetivo:{objetivo['id']}", "los componentes que atiende no son "
                   "oportunidades de mejoramiento en la autoevaluación (son fortalezas).")


def _priorities_addressed(content: Mapping[str, Any]) -> Found:
    addressed = {c for objetivo in content["objetivos"] for c in objetivo["componentes"]}
    deferred = {row["componente_id"] for row in content["aplazamientos"]
                if row["razon"].strip()}
    for oportunidad in content["autoevaluacion"]["oportunidades"][:TOP_PRIORITY]:
        componente = oportunidad["componente_id"]
        if componente not in addressed and componente not in deferred:
            yield ("plan", f"la oportunidad prioritaria «{oportunidad['code']} "
                   f"{oportunidad['name']}» no la atiende ningún objetivo ni está aplazada "
                   "con una razón.")


def _meta_has_indicator(content: Mapping[str, Any]) -> Found:
    measured = {row["meta_id"] for row in content["indicadores"]}
    for meta in content["metas"]:
        if meta["id"] not in measured:
            yield f"meta:{meta['id']}", "no tiene indicador."


def _meta_measurable(content: Mapping[str, Any]) -> Found:
    for meta in content["metas"]:
        missing = [name for name, present in (
            ("cantidad", meta["cantidad"] is not None),
            ("unidad de medida", bool(meta["unidad"].strip())),
            ("fecha límite", bool(meta["fecha_limite"]))) if not present]
        if missing:
            yield f"meta:{meta['id']}", "le falta " + " y ".join(missing) + "."


def _meta_in_horizon(content: Mapping[str, Any]) -> Found:
    start, end = _horizon(content)
    for meta in content["metas"]:
        deadline = _date(meta["fecha_limite"])
        if deadline and not start <= deadline <= end:
            yield (f"meta:{meta['id']}", f"la fecha límite ({fecha(deadline)}) queda "
                   f"fuera del horizonte {start.year}–{end.year}.")


def _indicator_defined(content: Mapping[str, Any]) -> Found:
    for row in content["indicadores"]:
        missing = [name for name, present in (
            ("fórmula", bool(row["formula"].strip())), ("unidad", bool(row["unidad"].strip())),
            ("frecuencia", bool(row["frecuencia"].strip())),
            ("fuente", bool(row["fuente"].strip())),
            ("línea base", row["linea_base"] is not None),
            ("meta por año", bool(row["metas_anuales"]))) if not present]
        if missing:
            yield f"indicador:{row['id']}", "le falta " + ", ".join(missing) + "."


def _indicator_measures_meta(content: Mapping[str, Any]) -> Found:
    metas = {meta["id"]: meta for meta in content["metas"]}
    for row in content["indicadores"]:
        meta = metas.get(row["meta_id"])
        if meta is None:
            continue
        key = f"indicador:{row['id']}"
        if meta["unidad"].strip() and row["unidad"].strip() \
                and _unit(meta["unidad"]) != _unit(row["unidad"]):
            yield (key, f"mide en «{row['unidad']}» pero su meta está en «{meta['unidad']}».")
        targets = row["metas_anuales"]
        if not targets or meta["cantidad"] is None:
            continue
        deadline = _date(meta["fecha_limite"])
        year = str(deadline.year) if deadline else None
        final_year = year if year in targets else max(targets)
        if abs(targets[final_year] - meta["cantidad"]) > 1e-6:
            yield (key, f"su meta para {final_year} es {_number(targets[final_year])}, pero "
                   f"la meta que mide espera {_number(meta['cantidad'])}.")


def _activity_in_time(content: Mapping[str, Any]) -> Found:
    start, end = _horizon(content)
    metas = {meta["id"]: meta for meta in content["metas"]}
    for row in content["actividades"]:
        key = f"actividad:{row['id']}"
        begins, ends = _date(row["fecha_inicio"]), _date(row["fecha_fin"])
        if begins is None or ends is None:
            yield key, "le faltan las fechas de inicio y terminación."
            continue
        if not (start <= begins <= end and start <= ends <= end):
            yield key, f"sus fechas quedan fuera del horizonte {start.year}–{end.year}."
        elif ends < begins:
            yield key, "termina antes de empezar."
        deadline = _date(metas[row["meta_id"]]["fecha_limite"]) \
            if row["meta_id"] in metas else None
        if deadline and ends > deadline:
            yield (key, f"termina el {fecha(ends)}, después de la fecha límite de su "
                   f"meta ({fecha(deadline)}).")


def _activity_resourced(content: Mapping[str, Any]) -> Found:
    for row in content["actividades"]:
        missing = [name for name, present in (
            ("responsable", bool(row["responsable"].strip())),
            ("recursos", bool(row["recursos"].strip())),
            ("fuente de financiación", bool(row["fuente_financiacion"].strip())))
            if not present]
        if missing:
            yield f"actividad:{row['id']}", "le falta " + ", ".join(missing) + "."


def _costs_within_budget(content: Mapping[str, Any]) -> Found:
    budget = content["plan"]["presupuesto"]
    if budget is None:
        return
    total = sum(row["costo"] or 0 for row in content["actividades"])
    if total > budget:
        yield ("plan", f"las actividades cuestan {_money(total)} y el presupuesto declarado "
               f"es {_money(budget)}.")


def _objective_has_metas(content: Mapping[str, Any]) -> Found:
    with_metas = {meta["objetivo_id"] for meta in content["metas"]}
    for objetivo in content["objetivos"]:
        if objetivo["id"] not in with_metas:
            yield f"objetivo:{objetivo['id']}", "no tiene metas."


def _meta_has_activities(content: Mapping[str, Any]) -> Found:
    with_activities = {row["meta_id"] for row in content["actividades"]}
    for meta in content["metas"]:
        if meta["id"] not in with_activities:
            yield f"meta:{meta['id']}", "no tiene actividades."


def _weaknesses_identified(content: Mapping[str, Any]) -> Found:
    sources = {row["fuente"] for row in content["hallazgos"]}
    if not sources - {Fuente.INTERNA.value}:
        yield "plan", "no registra debilidades de las pruebas externas (Saber 3.°, 5.°, 9.° u 11)."
    if Fuente.INTERNA.value not in sources:
        yield "plan", "no registra debilidades de las evaluaciones internas."


def _weakness_addressed(content: Mapping[str, Any]) -> Found:
    addressed = {h for objetivo in content["objetivos"] for h in objetivo["hallazgos"]}
    for row in content["hallazgos"]:
        if row["id"] not in addressed:
            yield f"hallazgo:{row['id']}", "ningún objetivo lo atiende."


def _diverse_trajectories(content: Mapping[str, Any]) -> Found:
    if not any(row["trayectorias"] for row in content["actividades"]):
        yield ("plan", "ninguna actividad atiende a estudiantes con trayectorias diversas "
               "(inclusión, extraedad, migrantes, ruralidad, discapacidad…).")


def _divulgation(content: Mapping[str, Any]) -> Found:
    plan = content["plan"]
    if not plan["divulgacion"].strip() or not plan["divulgacion_fecha"]:
        yield "plan", "falta decir cómo y cuándo se divulga el plan a la comunidad educativa."


CHECKS: Final[Mapping[str, Callable[[Mapping[str, Any]], Found]]] = {
    "plan_con_objetivos": _plan_has_objectives,
    "objetivo_atiende_oportunidad": _objective_addresses_opportunity,
    "prioridades_atendidas": _priorities_addressed,
    "meta_con_indicador": _meta_has_indicator,
    "meta_medible": _meta_measurable,
    "meta_en_horizonte": _meta_in_horizon,
    "indicador_definido": _indicator_defined,
    "indicador_mide_su_meta": _indicator_measures_meta,
    "actividad_en_plazo": _activity_in_time,
    "actividad_con_responsable_y_recursos": _activity_resourced,
    "costos_dentro_del_presupuesto": _costs_within_budget,
    "objetivo_con_metas": _objective_has_metas,
    "meta_con_actividades": _meta_has_activities,
    "debilidades_identificadas": _weaknesses_identified,
    "debilidad_atendida": _weakness_addressed,
    "trayectorias_diversas": _diverse_trajectories,
    "divulgacion_definida": _divulgation,
}
assert set(CHECKS) == set(RULES_BY_ID), "every rule has its check"


def run_checks(content: Mapping[str, Any]) -> Report:
    """Every rule over ``content`` (``plan_content`` or a snapshot), in the rule set's order."""
    labels = element_labels(content)
    results = []
    for rule in RULES:
        findings = []
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
        mark = "OK " if result.passed else ("FALLA" if result.rule.severity is Severity.BLOCKING
                                            else "AVISO")
        criterion = (f"criterio {result.rule.criterion}" if result.rule.criterion != GUIA_34
                     else "Guía 34")
        lines.append(f"[{mark}] {result.rule.id} ({result.rule.severity.label}, {criterion}): "
                     f"{result.rule.title}")
        lines.extend(f"    - {finding.message}" for finding in result.findings)
    failures = len(report.blocking_failures)
    lines.append("El PMI cumple todos los criterios obligatorios." if not failures else
                 f"El PMI no cumple {failures} verificación(es) obligatoria(s).")
    return "\n".join(lines)
