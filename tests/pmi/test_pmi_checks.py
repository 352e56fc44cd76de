"""The Circular 0488 rule set: every rule passes on a complete plan and fails on a plan that
breaks exactly it, naming the element and saying why in Spanish."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from workflow.pmi.checks import RULES, RULES_BY_ID, Severity, render_text, run_checks


def complete_plan() -> dict[str, Any]:
    """A small plan that passes every rule: two oportunidades, one objetivo, one meta."""
    return {
        "formato": 2,
        "horizon": [2024, 2026],
        "rules": {"fortaleza_from_level": 3, "priority_count": 3, "min_text_chars": 20,
                  "min_text_words": 3},
        "autoevaluacion": {
            "oportunidades": [
                {"componente_id": 11, "code": "ACA.1.2", "name": "Evaluación",
                 "area": "Gestión académica", "level": 1, "score": 60},
                {"componente_id": 12, "code": "ACA.1.1", "name": "Plan de estudios",
                 "area": "Gestión académica", "level": 2, "score": 30},
            ],
            "fortalezas": [{"componente_id": 13, "code": "DIR.1.1", "name": "Misión",
                            "area": "Gestión directiva", "level": 3}],
        },
        "plan": {"presupuesto": 10_000_000, "divulgacion": "Asamblea de padres.",
                 "divulgacion_fecha": "2024-02-09"},
        "aplazamientos": [{"id": 1, "componente_id": 12,
                           "razon": "Se atiende en la siguiente Ruta."}],
        "hallazgos": [
            {"id": 1, "fuente": "saber_11", "fuente_label": "Saber 11", "fuente_externa": True,
             "area": "Matemáticas", "grado": "11.°",
             "descripcion": "El 68 % quedó en el nivel 1 de matemáticas.", "anio": 2023,
             "valor": 68.0, "valor_unidad": "porcentaje", "comparacion": "municipal",
             "comparacion_valor": 52.0, "componentes": [11]},
            {"id": 2, "fuente": "interna", "fuente_label": "Evaluación interna",
             "fuente_externa": False, "area": "Lenguaje", "grado": "6.°",
             "descripcion": "La reprobación de 6.° fue del 14 % en 2023.", "anio": 2023,
             "valor": 14.0, "valor_unidad": "porcentaje", "comparacion": "anio_anterior",
             "comparacion_valor": 11.0, "componentes": [11]},
        ],
        "objetivos": [{"id": 1, "enunciado": "Mejorar los desempeños en matemáticas.",
                       "componentes": [11], "hallazgos": [1, 2], "razon_fortaleza": ""}],
        "metas": [{"id": 1, "objetivo_id": 1, "tipo": "alcanzar",
                   "enunciado": "Aumentar al 45 % los estudiantes sobre el mínimo.",
                   "cantidad": 45.0, "unidad": "%", "fecha_limite": "2026-11-30",
                   "linea_base": 32.0}],
        "indicadores": [{"id": 1, "meta_id": 1, "tipo": "resultado", "binario": False,
                         "nombre": "Porcentaje sobre el mínimo",
                         "formula": "nivel 2 a 4 / evaluados × 100", "unidad": "porcentaje",
                         "frecuencia": "Anual", "fuente": "ICFES", "linea_base": 32.0,
                         "metas_anuales": {"2024": 36.0, "2025": 40.0, "2026": 45.0}}],
        "actividades": [{"id": 1, "meta_id": 1,
                         "descripcion": "Talleres semanales de resolución de problemas.",
                         "responsable": "Jefe de área", "fecha_inicio": "2024-02-05",
                         "fecha_fin": "2026-10-30", "recursos": "Banco de preguntas.",
                         "costo": 4_500_000, "fuente_financiacion": "FSE",
                         "trayectorias": ["extraedad"]}],
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(plan: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = plan
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return change


# rule id → (how to break the plan, the exact messages of the failure)
BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "plan_con_objetivos": (
        lambda plan: plan.update(objetivos=[], metas=[], indicadores=[], actividades=[]),
        ["El plan en general: el PMI todavía no tiene objetivos."]),
    "objetivo_atiende_oportunidad": (
        _set("objetivos.0.componentes", [11, 13]),
        ["Objetivo 1: trabaja sobre «DIR.1.1 Misión», que la autoevaluación valoró como "
         "fortaleza: escriba por qué (al menos 20 caracteres y 3 palabras)."]),
    "oportunidades_priorizadas": (
        _set("autoevaluacion.oportunidades.1.score", None),
        ["El plan en general: falta por priorizar 1 oportunidad de mejoramiento (ACA.1.1): el "
         "equipo califica su urgencia, tendencia e impacto antes de enviar el PMI."]),
    "areas_atendidas": (
        lambda plan: (plan["autoevaluacion"]["oportunidades"].append(
            {"componente_id": 14, "code": "DIR.2.1", "name": "Consejo directivo",
             "area": "Gestión directiva", "level": 2, "score": 5}),
            plan["aplazamientos"].append({"id": 2, "componente_id": 14,
                                          "razon": "Lo atiende el plan del próximo año."})),
        ["El plan en general: ningún objetivo atiende el área «Gestión directiva», que tiene "
         "1 oportunidad de mejoramiento (DIR.2.1)."]),
    "textos_legibles": (
        _set("actividades.0.descripcion", "x"),
        ["Actividad 1.1.1: la descripción («x») no es una frase que se pueda leer: escriba "
         "al menos 20 caracteres y 3 palabras."]),
    "metas_anuales_hacia_la_meta": (
        _set("indicadores.0.metas_anuales", {"2024": 36.0, "2025": 30.0, "2026": 45.0}),
        ["Indicador 1.1.1: la meta de 2025 (30) no va de la línea base (32) hacia 45: cada "
         "año debe subir o quedarse igual, sin pasarse de la meta."]),
    "meta_coherente": (
        _set("metas.0.enunciado", "Aumentar al 50 % los estudiantes sobre el mínimo."),
        ["Meta 1.1: el enunciado dice 50, pero la cantidad de la meta es 45: corrija uno de "
         "los dos."]),
    "plan_abarca_horizonte": (
        _set("actividades.0.fecha_inicio", "2025-02-01"),
        ["El plan en general: el plan no tiene actividades en 2024: un PMI abarca cada año "
         "de su horizonte (2024–2026)."]),
    "hallazgo_con_datos": (
        lambda plan: plan["hallazgos"][1].update(anio=None, componentes=[]),
        ["Hallazgo 2: le falta registrar año y componentes a los que apunta."]),
    "prioridades_atendidas": (
        _set("aplazamientos", []),
        ["El plan en general: la oportunidad prioritaria «ACA.1.1 Plan de estudios» no la "
         "atiende ningún objetivo ni está aplazada con una razón."]),
    "meta_con_indicador": (
        _set("indicadores.0.tipo", "proceso"),
        ["Meta 1.1: no tiene indicador de resultado: marque como de resultado el indicador "
         "que mide la meta."]),
    "meta_medible": (
        _set("metas.0.cantidad", None), ["Meta 1.1: le falta cantidad."]),
    "meta_en_horizonte": (
        lambda plan: (_set("metas.0.fecha_limite", "2027-06-30")(plan),
                      _set("actividades.0.fecha_fin", "2026-06-30")(plan)),
        ["Meta 1.1: la fecha límite (30 de junio de 2027) queda fuera del horizonte 2024–2026."]),
    "indicador_definido": (
        _set("indicadores.0.fuente", " "), ["Indicador 1.1.1: le falta fuente."]),
    "indicador_mide_su_meta": (
        _set("indicadores.0.linea_base", 30.0),
        ["Indicador 1.1.1: su línea base es 30 y la de su meta es 32."]),
    "actividad_en_plazo": (
        _set("actividades.0.fecha_fin", "2026-12-15"),
        ["Actividad 1.1.1: termina el 15 de diciembre de 2026, después de la fecha límite de su "
         "meta (30 de noviembre de 2026)."]),
    "actividad_con_responsable_y_recursos": (
        _set("actividades.0.responsable", ""), ["Actividad 1.1.1: le falta responsable."]),
    "costos_dentro_del_presupuesto": (
        _set("actividades.0.costo", 12_000_000),
        ["El plan en general: las actividades cuestan $12.000.000 y el presupuesto declarado "
         "es $10.000.000."]),
    "objetivo_con_metas": (
        lambda plan: plan["objetivos"].append(
            {"id": 2, "enunciado": "Mejorar la convivencia escolar en la sede.",
             "componentes": [11], "hallazgos": []}),
        ["Objetivo 2: no tiene metas."]),
    "meta_con_actividades": (
        _set("actividades", []), ["Meta 1.1: no tiene actividades."]),
    "debilidades_identificadas": (
        lambda plan: (plan["hallazgos"].pop(1), _set("objetivos.0.hallazgos", [1])(plan)),
        ["El plan en general: no registra debilidades de las evaluaciones internas."]),
    "debilidad_atendida": (
        _set("objetivos.0.hallazgos", [1]), ["Hallazgo 2: ningún objetivo lo atiende."]),
    "trayectorias_diversas": (
        _set("actividades.0.trayectorias", []),
        ["El plan en general: ninguna actividad atiende a estudiantes con trayectorias "
         "diversas (inclusión, víctimas del conflicto, jóvenes y adultos, ruralidad, "
         "discapacidad, modelos flexibles…)."]),
    "divulgacion_definida": (
        _set("plan.divulgacion_fecha", None),
        ["El plan en general: falta decir cómo y cuándo se divulga el plan a la comunidad "
         "educativa."]),
}


# Rules that cannot fail alone: breaking them breaks these too, by construction.
ALSO_FAILING: dict[str, set[str]] = {
    "plan_con_objetivos": {"prioridades_atendidas", "debilidad_atendida",
                           "trayectorias_diversas", "areas_atendidas"},
    "meta_con_indicador": {"plan_abarca_horizonte"},
    "meta_con_actividades": {"trayectorias_diversas", "plan_abarca_horizonte"},
}


def test_rule_set_covers_every_rule_with_a_failing_plan() -> None:
    assert set(BREAKS) == set(RULES_BY_ID)
    assert {rule.criterion for rule in RULES} == {0, 1, 2, 3, 4, 5, 6, 7, 8}


def test_complete_plan_passes_every_rule() -> None:
    report = run_checks(complete_plan())
    assert [result.rule.id for result in report.results if not result.passed] == []
    assert report.passes is True


@pytest.mark.parametrize("rule_id", list(BREAKS))
def test_rule_fails_only_on_the_plan_that_breaks_it(rule_id: str) -> None:
    plan = copy.deepcopy(complete_plan())
    breaks, messages = BREAKS[rule_id]
    breaks(plan)

    report = run_checks(plan)

    assert {result.rule.id for result in report.results if not result.passed} == {
        rule_id, *ALSO_FAILING.get(rule_id, set())}
    assert [finding.message for finding in report.result(rule_id).findings] == messages
    blocking = RULES_BY_ID[rule_id].severity is Severity.BLOCKING
    assert report.passes is not blocking


def test_meta_without_everything_lists_what_is_missing() -> None:
    plan = complete_plan()
    plan["metas"][0].update(cantidad=None, unidad="", fecha_limite=None)
    findings = run_checks(plan).result("meta_medible").findings
    assert [(finding.element, finding.message) for finding in findings] == [
        ("meta:1", "Meta 1.1: le falta cantidad y unidad de medida y fecha límite.")]


def test_indicator_in_another_unit_does_not_measure_its_meta() -> None:
    plan = complete_plan()
    plan["indicadores"][0]["unidad"] = "estudiantes"
    assert [finding.message for finding in
            run_checks(plan).result("indicador_mide_su_meta").findings] == [
        "Indicador 1.1.1: mide en «estudiantes» pero su meta está en «%»: un indicador de "
        "resultado mide en la unidad de su meta (si sigue las acciones, márquelo como de "
        "proceso)."]


def test_report_text_marks_failures_and_counts_blocking_ones() -> None:
    plan = complete_plan()
    plan["actividades"] = []
    text = render_text(run_checks(plan))
    assert "[FALTA] meta_con_actividades (Obligatorio, criterio 6)" in text
    assert "    - Meta 1.1: no tiene actividades." in text
    assert "[AVISO] trayectorias_diversas (Recomendación, criterio 8)" in text
    # Two rules fail (actividades, and the horizon with no actividad): counted as rules.
    assert text.endswith("Faltan 2 verificaciones obligatorias para que el PMI esté completo "
                         "y consistente para revisión.")


# --- the other branches of each rule: more ways to fail, and edge cases that still pass ------

# rule id, how to change the complete plan, the exact messages of that rule after the change
BRANCHES: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("objetivo_atiende_oportunidad",
     lambda plan: plan["objetivos"][0].update(componentes=[], hallazgos=[]),
     ["Objetivo 1: no dice qué atiende: vincúlelo a las oportunidades de mejoramiento de la "
      "autoevaluación o a los hallazgos de las pruebas que lo motivan."]),
    ("objetivo_atiende_oportunidad",  # only hallazgos: allowed
     _set("objetivos.0.componentes", []), []),
    ("objetivo_atiende_oportunidad",  # a fortaleza with a written reason: allowed
     lambda plan: plan["objetivos"][0].update(
         componentes=[13], razon_fortaleza="Saber 11 muestra que la misión no llega al aula."),
     []),
    ("prioridades_atendidas", _set("aplazamientos.0.razon", "   "),
     ["El plan en general: la oportunidad prioritaria «ACA.1.1 Plan de estudios» no la "
      "atiende ningún objetivo ni está aplazada con una razón."]),
    ("prioridades_atendidas",  # addressed by an objetivo instead of deferred: passes
     lambda plan: (_set("aplazamientos", [])(plan),
                   _set("objetivos.0.componentes", [11, 12])(plan)), []),
    ("meta_medible", _set("metas.0.unidad", "  "), ["Meta 1.1: le falta unidad de medida."]),
    ("meta_en_horizonte", _set("metas.0.fecha_limite", "2023-12-31"),
     ["Meta 1.1: la fecha límite (31 de diciembre de 2023) queda fuera del horizonte "
      "2024–2026."]),
    ("meta_en_horizonte", _set("metas.0.fecha_limite", "2026-12-31"), []),  # the last day
    ("meta_en_horizonte", _set("metas.0.fecha_limite", None), []),  # meta_medible says it
    ("indicador_definido",
     lambda plan: plan["indicadores"][0].update(formula="", linea_base=None, metas_anuales={}),
     ["Indicador 1.1.1: le falta fórmula, línea base, meta por año."]),
    ("indicador_mide_su_meta",  # no target for the deadline's year: the last year is judged
     _set("indicadores.0.metas_anuales", {"2024": 36.0, "2025": 44.0}),
     ["Indicador 1.1.1: su meta para 2025 es 44, pero la meta que mide espera 45."]),
    ("indicador_mide_su_meta", _set("indicadores.0.metas_anuales", {"2025": 45.0}), []),
    ("indicador_mide_su_meta", _set("metas.0.cantidad", None), []),  # nothing to compare
    ("indicador_mide_su_meta", _set("indicadores.0.meta_id", 99), []),  # no such meta
    ("indicador_mide_su_meta", _set("indicadores.0.unidad", "Por ciento."), []),
    ("actividad_en_plazo", _set("actividades.0.fecha_inicio", None),
     ["Actividad 1.1.1: le faltan las fechas de inicio y terminación."]),
    ("actividad_en_plazo", _set("actividades.0.fecha_inicio", "2023-11-01"),
     ["Actividad 1.1.1: sus fechas quedan fuera del horizonte 2024–2026."]),
    ("actividad_en_plazo",
     lambda plan: plan["actividades"][0].update(fecha_inicio="2025-05-01",
                                                fecha_fin="2025-03-01"),
     ["Actividad 1.1.1: termina antes de empezar."]),
    ("actividad_en_plazo", _set("actividades.0.fecha_fin", "2026-11-30"), []),  # the deadline
    ("actividad_con_responsable_y_recursos",
     lambda plan: plan["actividades"][0].update(recursos=" ", fuente_financiacion=""),
     ["Actividad 1.1.1: le falta recursos, fuente de financiación."]),
    ("costos_dentro_del_presupuesto", _set("plan.presupuesto", None), []),  # none declared
    ("costos_dentro_del_presupuesto", _set("actividades.0.costo", 10_000_000), []),  # equal
    ("costos_dentro_del_presupuesto",
     lambda plan: (_set("actividades.0.costo", None)(plan), _set("plan.presupuesto", 0)(plan)),
     []),
    ("debilidades_identificadas",
     lambda plan: (plan["hallazgos"].pop(0), _set("objetivos.0.hallazgos", [2])(plan)),
     ["El plan en general: no registra debilidades de las pruebas externas (Saber 3.°, 5.°, "
      "7.°, 9.° u 11, Evaluar para Avanzar u otra prueba externa)."]),
    ("debilidades_identificadas",
     lambda plan: (_set("hallazgos", [])(plan), _set("objetivos.0.hallazgos", [])(plan)),
     ["El plan en general: no registra debilidades de las pruebas externas (Saber 3.°, 5.°, "
      "7.°, 9.° u 11, Evaluar para Avanzar u otra prueba externa).",
      "El plan en general: no registra debilidades de las evaluaciones internas."]),
    ("divulgacion_definida", _set("plan.divulgacion", "  "),
     ["El plan en general: falta decir cómo y cuándo se divulga el plan a la comunidad "
      "educativa."]),
]


@pytest.mark.parametrize(("rule_id", "change", "messages"), BRANCHES,
                         ids=[f"{row[0]}-{index}" for index, row in enumerate(BRANCHES)])
def test_rule_branch(rule_id: str, change: Callable[[dict[str, Any]], None],
                     messages: list[str]) -> None:
    plan = copy.deepcopy(complete_plan())
    change(plan)
    assert [finding.message for finding in run_checks(plan).result(rule_id).findings] \
        == messages


def test_findings_are_found_by_element_and_split_by_severity() -> None:
    plan = complete_plan()
    plan["actividades"][0].update(trayectorias=[], responsable="")
    report = run_checks(plan)
    assert [finding.rule.id for finding in report.for_element("actividad:1")] == [
        "actividad_con_responsable_y_recursos"]
    assert [finding.rule.id for finding in report.advice] == ["trayectorias_diversas"]
    assert [finding.rule.id for finding in report.blocking_failures] == [
        "actividad_con_responsable_y_recursos"]
    assert report.for_element("meta:1") == []


def test_report_text_of_a_passing_plan() -> None:
    text = render_text(run_checks(complete_plan()))
    assert "[OK   ] divulgacion_definida (Recomendación, Guía 34)" in text
    assert "[OK   ] plan_con_objetivos (Obligatorio, criterio 1)" in text
    assert text.endswith("El PMI está completo y consistente para revisión. Si cumple cada "
                         "criterio de la Circular 0488 lo juzga la Secretaría al revisarlo.")
    assert "cumple todos" not in text
