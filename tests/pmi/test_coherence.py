"""Checks that catch the incoherent plan and let the coherent one through (issue 11, item 2).

The two bad plans of the issue (one-letter texts; «Pintar la fachada») fail with messages that
say what to fix; the four good plans that used to be blocked pass. Where a contradiction lies
within one element, saving it is refused with a Spanish message and nothing is written.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.pmi.test_pmi_checks import complete_plan
from workflow.errors import InvalidInput
from workflow.models import Ruta, User
from workflow.pmi import coherence
from workflow.pmi import plan as pmi
from workflow.pmi.checks import run_checks
from workflow.pmi.models import Hallazgo, Indicador, Meta, MetaTipo, Objetivo
from workflow.roles import Role
from workflow.states import State


def failed(content: dict[str, Any]) -> set[str]:
    return {result.rule.id for result in run_checks(content).results if not result.passed}


def messages(content: dict[str, Any], rule_id: str) -> list[str]:
    return [finding.message for finding in run_checks(content).result(rule_id).findings]


# --- the two bad plans --------------------------------------------------------------------


def test_plan_of_x_is_not_complete() -> None:
    plan = complete_plan()
    for section, name in (("hallazgos", "descripcion"), ("objetivos", "enunciado"),
                          ("metas", "enunciado"), ("actividades", "descripcion"),
                          ("aplazamientos", "razon")):
        for row in plan[section]:
            row[name] = "x"

    report = run_checks(plan)

    assert report.passes is False
    assert messages(plan, "textos_legibles") == [
        f"{label}: {what} («x») no es una frase que se pueda leer: escriba al menos 20 "
        "caracteres y 3 palabras."
        for label, what in (("Hallazgo 1", "la descripción"), ("Hallazgo 2", "la descripción"),
                            ("Objetivo 1", "el enunciado"), ("Meta 1.1", "el enunciado"),
                            ("Actividad 1.1.1", "la descripción"),
                            ("Oportunidad aplazada ACA.1.1", "la razón"))]
    # Counted as rules, not findings: six texts, one rule.
    assert report.summary == "Falta 1 verificación obligatoria"


def facade_plan() -> dict[str, Any]:
    plan = complete_plan()
    plan["objetivos"][0]["enunciado"] = "Pintar la fachada"
    plan["metas"][0].update(enunciado="Aumentar al 45 %", cantidad=10.0, linea_base=32.0)
    plan["indicadores"][0].update(nombre="Número de brochas compradas", unidad="brochas",
                                  formula="Brochas compradas", linea_base=0.0,
                                  metas_anuales={"2024": 10.0})
    plan["actividades"][0].update(descripcion="Comprar pintura", fecha_inicio="2024-03-01",
                                  fecha_fin="2024-03-01")
    return plan


def test_facade_painting_plan_is_caught() -> None:
    plan = facade_plan()

    assert failed(plan) >= {"textos_legibles", "meta_coherente", "indicador_mide_su_meta",
                            "metas_anuales_hacia_la_meta", "plan_abarca_horizonte"}
    assert messages(plan, "meta_coherente") == [
        "Meta 1.1: el enunciado dice «aumentar», pero la cantidad (10) queda por debajo de la "
        "línea base (32).",
        "Meta 1.1: el enunciado dice 45, pero la cantidad de la meta es 10: corrija uno de "
        "los dos."]
    assert messages(plan, "indicador_mide_su_meta") == [
        "Indicador 1.1.1: mide en «brochas» pero su meta está en «%»: un indicador de "
        "resultado mide en la unidad de su meta (si sigue las acciones, márquelo como de "
        "proceso).",
        "Indicador 1.1.1: su línea base es 0 y la de su meta es 32."]
    assert messages(plan, "metas_anuales_hacia_la_meta") == [
        "Indicador 1.1.1: le falta la meta de 2025 y de 2026: un indicador de resultado tiene "
        "una meta por cada año del horizonte hasta la fecha límite de su meta."]
    assert messages(plan, "plan_abarca_horizonte") == [
        "El plan en general: el plan no tiene metas anuales de resultado ni actividades en "
        "2025: un PMI abarca cada año de su horizonte (2024–2026).",
        "El plan en general: el plan no tiene metas anuales de resultado ni actividades en "
        "2026: un PMI abarca cada año de su horizonte (2024–2026)."]
    assert [finding.element for finding in run_checks(plan).result("textos_legibles").findings
            ] == ["objetivo:1", "meta:1", "actividad:1"]
    assert run_checks(plan).passes is False


# --- the four good plans ------------------------------------------------------------------


def test_reduce_by_points_with_percent_indicator() -> None:
    plan = complete_plan()
    plan["metas"][0].update(
        tipo="reducir_en", cantidad=5.0, unidad="puntos porcentuales", linea_base=14.0,
        enunciado="Reducir en 5 puntos porcentuales la reprobación de 6.° a 9.° en 2026.")
    plan["indicadores"][0].update(nombre="Tasa de reprobación de 6.° a 9.°", unidad="%",
                                  linea_base=14.0,
                                  metas_anuales={"2024": 12.0, "2025": 10.0, "2026": 9.0})
    assert coherence.final_value(plan["metas"][0]) == 9.0
    assert failed(plan) == set()

    # The same meta ending anywhere but 14 − 5 is caught.
    plan["indicadores"][0]["metas_anuales"]["2026"] = 5.0
    assert messages(plan, "indicador_mide_su_meta") == [
        "Indicador 1.1.1: su meta para 2026 es 5, pero la meta que mide espera 9."]


def test_result_and_process_indicators() -> None:
    plan = complete_plan()
    plan["indicadores"].append({
        "id": 2, "meta_id": 1, "tipo": "proceso", "binario": False,
        "nombre": "Talleres de resolución de problemas realizados", "formula": "Conteo",
        "unidad": "talleres", "frecuencia": "Semestral", "fuente": "Actas", "linea_base": 0.0,
        "metas_anuales": {"2024": 20.0, "2025": 20.0, "2026": 20.0}})
    assert failed(plan) == set()

    plan["indicadores"][1]["tipo"] = "resultado"
    assert messages(plan, "meta_con_indicador") == [
        "Meta 1.1: tiene 2 indicadores de resultado: solo uno mide la meta; marque los demás "
        "como de proceso."]


def test_binary_indicator_for_an_agreement() -> None:
    plan = complete_plan()
    plan["metas"][0].update(
        tipo="alcanzar", cantidad=1.0, unidad="sí/no", linea_base=0.0,
        enunciado="Lograr que el Consejo Directivo apruebe el acuerdo de convivencia.")
    plan["indicadores"][0].update(nombre="Acuerdo de convivencia aprobado", unidad="Sí/No",
                                  binario=True, linea_base=0.0, formula="Acta de aprobación",
                                  metas_anuales={"2024": 0.0, "2025": 1.0, "2026": 1.0})
    assert failed(plan) == set()

    plan["indicadores"][0]["metas_anuales"]["2025"] = 2.0
    assert messages(plan, "indicador_definido") == [
        "Indicador 1.1.1: es un indicador sí/no: la meta de 2025 es 0 (no) o 1 (sí)."]


def test_saber_objective_linked_to_a_fortaleza_with_reason() -> None:
    plan = complete_plan()
    plan["autoevaluacion"]["fortalezas"].append(
        {"componente_id": 42, "code": "ACA.4.2",
         "name": "Uso pedagógico de las evaluaciones externas",
         "area": "Gestión académica", "level": 3})
    plan["objetivos"][0].update(componentes=[11, 42], razon_fortaleza=(
        "Los resultados de Saber 11 muestran que el análisis de las pruebas no llega al aula."))
    assert failed(plan) == set()

    plan["objetivos"][0]["razon_fortaleza"] = ""
    assert messages(plan, "objetivo_atiende_oportunidad") == [
        "Objetivo 1: trabaja sobre «ACA.4.2 Uso pedagógico de las evaluaciones externas», que "
        "la autoevaluación valoró como fortaleza: escriba por qué (al menos 20 caracteres y 3 "
        "palabras)."]


def test_evaluar_para_avanzar_is_an_external_source() -> None:
    plan = complete_plan()
    plan["hallazgos"][0].update(fuente="evaluar_para_avanzar",
                                fuente_label="Evaluar para Avanzar", fuente_externa=True)
    assert failed(plan) == set()


# --- criterion 1: prioritisation and áreas --------------------------------------------------


def test_only_scored_oportunidades_are_priorities_and_all_must_be_scored() -> None:
    plan = complete_plan()
    plan["autoevaluacion"]["oportunidades"].insert(0, {
        "componente_id": 14, "code": "DIR.2.1", "name": "Consejo directivo",
        "area": "Gestión académica", "level": 1, "score": None})
    # Unscored: no «top» in instrument order is enforced, but the plan cannot be sent.
    assert messages(plan, "prioridades_atendidas") == []
    assert failed(plan) == {"oportunidades_priorizadas"}


def test_versions_frozen_before_these_rules_keep_their_verdict() -> None:
    plan = complete_plan()
    old = copy.deepcopy(plan)
    del old["formato"]
    for row in old["metas"]:
        del row["tipo"]
    for row in old["indicadores"]:
        del row["tipo"]
    old["objetivos"][0]["enunciado"] = "x"
    old["hallazgos"][0].update(anio=None)
    assert failed(old) == set()
    plan["objetivos"][0]["enunciado"] = "x"
    assert failed(plan) == {"textos_legibles"}


# --- at save time: contradictions refused, nothing half-saved -------------------------------


def formulating(make: Factory) -> tuple[Ruta, User]:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=2)
    return ruta, make.user(Role.RECTOR, school=ruta.school)


def an_objetivo(db: Session, ruta: Ruta, rector: User) -> Objetivo:
    componente = ruta.catalog.componentes[0]  # type: ignore[attr-defined]
    return pmi.save_element(db, ruta, "objetivo", None, {
        "enunciado": "Mejorar los desempeños en matemáticas de la media.",
        "componentes": [str(componente.id)]}, actor=rector)


def count(db: Session, model: type[Any]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


META = {"tipo_meta": "alcanzar", "enunciado": "Aumentar al 45 % los estudiantes sobre el mínimo.",
        "cantidad": "45", "unidad": "%", "fecha_limite": "2026-11-30", "linea_base": "32"}


@pytest.mark.parametrize(("change", "errors"), [
    ({"enunciado": "Aumentar al 45 % los estudiantes sobre el mínimo.", "cantidad": "10"},
     {"cantidad": ["El enunciado dice «aumentar», pero la cantidad (10) queda por debajo de "
                   "la línea base (32)."],
      "enunciado": ["El enunciado dice 45, pero la cantidad de la meta es 10: corrija uno de "
                    "los dos."]}),
    ({"tipo_meta": "reducir_a", "enunciado": "Disminuir la deserción escolar al 40 % en la media.",
      "cantidad": "40"},
     {"cantidad": ["Una meta «reducir a» termina por debajo de la línea base (32), pero la "
                   "cantidad es 40."]}),
    ({"tipo_meta": "reducir_en", "enunciado": "Reducir la reprobación en la básica secundaria.",
      "cantidad": "40"},
     {"cantidad": ["La reducción (40) es mayor que la línea base (32): la meta quedaría por "
                   "debajo de 0."]}),
    ({"tipo_meta": "aumentar_en", "linea_base": "",
      "enunciado": "Aumentar el promedio de lectura crítica de la media."},
     {"linea_base": ["Una meta «aumentar en» necesita la línea base: la meta se mide desde "
                     "ella."]}),
    ({"tipo_meta": "aumentar_en", "cantidad": "80",
      "enunciado": "Aumentar en 80 puntos los estudiantes sobre el mínimo."},
     {"cantidad": ["La meta llegaría a 112 %: un porcentaje no pasa de 100."]}),
    ({"tipo_meta": "subir"}, {"tipo_meta": ["Elija el tipo de meta."]}),
    ({"enunciado": "x"},
     {"enunciado": ["Escriba la meta en una frase que se pueda leer: al menos 20 caracteres "
                    "y 3 palabras."]}),
])
def test_meta_whose_type_contradicts_its_numbers_is_refused(
        db: Session, make: Factory, change: dict[str, str],
        errors: dict[str, list[str]]) -> None:
    ruta, rector = formulating(make)
    objetivo = an_objetivo(db, ruta, rector)
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, "meta", None,
                         {**META, "objetivo_id": str(objetivo.id), **change}, actor=rector)
    assert refused.value.errors == errors
    assert count(db, Meta) == 0


def test_meta_of_each_type_is_saved_with_it(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    objetivo = an_objetivo(db, ruta, rector)
    meta = pmi.save_element(db, ruta, "meta", None, {
        **META, "objetivo_id": str(objetivo.id), "tipo_meta": "reducir_en", "cantidad": "5",
        "unidad": "puntos porcentuales", "linea_base": "14",
        "enunciado": "Reducir en 5 puntos porcentuales la reprobación de 6.° a 9.°."},
        actor=rector)
    indicator = pmi.save_element(db, ruta, "indicador", None, {
        "meta_id": str(meta.id), "tipo_indicador": "resultado", "nombre": "Tasa de reprobación",
        "formula": "Reprobados / matriculados × 100", "unidad": "%", "frecuencia": "Anual",
        "fuente": "SIMAT", "linea_base": "14", "meta_2024": "12", "meta_2025": "10",
        "meta_2026": "9"}, actor=rector)
    assert (meta.tipo, meta.cantidad, indicator.metas_anuales["2026"]) == (
        MetaTipo.REDUCIR_EN, 5.0, 9.0)
    content = pmi.plan_content(db, ruta)
    assert run_checks(content).result("indicador_mide_su_meta").passed
    assert run_checks(content).result("meta_coherente").passed


def test_binary_indicator_values_are_zero_or_one(db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    objetivo = an_objetivo(db, ruta, rector)
    meta = pmi.save_element(db, ruta, "meta", None, {
        **META, "objetivo_id": str(objetivo.id), "cantidad": "1", "unidad": "sí/no",
        "linea_base": "0",
        "enunciado": "Lograr que el Consejo Directivo apruebe el acuerdo de convivencia."},
        actor=rector)
    form = {"meta_id": str(meta.id), "tipo_indicador": "resultado", "binario": "1",
            "nombre": "Acuerdo aprobado", "formula": "Acta del Consejo Directivo",
            "frecuencia": "Anual", "fuente": "Actas", "linea_base": "0", "meta_2024": "0",
            "meta_2025": "2", "meta_2026": "1"}
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, "indicador", None, form, actor=rector)
    assert refused.value.errors == {
        "meta_2025": ["Es un indicador sí/no: la meta de 2025 es 0 (no) o 1 (sí)."]}
    assert count(db, Indicador) == 0
    saved = pmi.save_element(db, ruta, "indicador", None, {**form, "meta_2025": "1"},
                             actor=rector)
    assert (saved.binario, saved.unidad) == (True, "sí/no")


def test_fortaleza_link_needs_a_written_reason(db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.AUTOEVALUACION_ENVIADA)
    make.completed_self_assessment(ruta, level=3)  # every componente a fortaleza
    rector = make.user(Role.RECTOR, school=ruta.school)
    componente = ruta.catalog.componentes[4]  # type: ignore[attr-defined]
    form = {"enunciado": "Usar los resultados de Saber en la planeación de aula.",
            "componentes": [str(componente.id)]}
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, "objetivo", None, form, actor=rector)
    assert refused.value.errors == {"razon_fortaleza": [
        "Escriba por qué el objetivo trabaja sobre la fortaleza ACA.1.2."]}
    assert count(db, Objetivo) == 0
    saved = pmi.save_element(db, ruta, "objetivo", None, {
        **form, "razon_fortaleza": "Saber 11 muestra que el análisis de las pruebas no llega "
                                   "al aula."}, actor=rector)
    assert saved.razon_fortaleza.startswith("Saber 11 muestra")


HALLAZGO = {"fuente": "saber_11", "area": "Matemáticas", "grado": "11.°", "anio": "2023",
            "valor": "68", "valor_unidad": "porcentaje", "comparacion": "municipal",
            "comparacion_valor": "52",
            "descripcion": "El 68 % quedó en el nivel 1 de matemáticas."}


@pytest.mark.parametrize(("change", "errors"), [
    ({"valor": "140"},
     {"valor": ["El valor (140) está fuera del rango de la unidad «Porcentaje (0 a 100 %)»: "
                "va de 0 a 100."]}),
    ({"valor_unidad": "nivel", "valor": "2", "comparacion_valor": "7"},
     {"comparacion_valor": ["El valor de comparación (7) está fuera del rango de la unidad "
                            "«Nivel de desempeño (1 a 4)»: va de 1 a 4."]}),
    ({"fuente": "pisa_2025"},
     {"fuente": ["La fuente «pisa_2025» no está en la lista de fuentes de la Secretaría."]}),
    ({"fuente": "otra_externa"}, {"fuente_nombre": [
        "Escriba el nombre de la otra prueba externa."]}),
    ({"valor_unidad": ""}, {"valor_unidad": [
        "Escriba el valor junto con su unidad (porcentaje, puntaje, nivel)."]}),
    ({"anio": "23"}, {"anio": [
        "El año del resultado debe ser un año de cuatro cifras (por ejemplo, 2023)."]}),
    ({"descripcion": "Bajo"}, {"descripcion": [
        "Escriba qué se encontró en una frase que se pueda leer: al menos 20 caracteres y 3 "
        "palabras."]}),
])
def test_hallazgo_bad_data_is_refused_and_nothing_saved(
        db: Session, make: Factory, change: dict[str, str],
        errors: dict[str, list[str]]) -> None:
    ruta, rector = formulating(make)
    with pytest.raises(InvalidInput) as refused:
        pmi.save_element(db, ruta, "hallazgo", None, {**HALLAZGO, **change}, actor=rector)
    assert refused.value.errors == errors
    assert count(db, Hallazgo) == 0


def test_hallazgo_records_its_data_and_the_componentes_it_points_to(
        db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    componente = ruta.catalog.componentes[4]  # type: ignore[attr-defined]
    saved = pmi.save_element(db, ruta, "hallazgo", None, {
        **HALLAZGO, "fuente": "evaluar_para_avanzar", "componentes": [str(componente.id)]},
        actor=rector)
    row = pmi.plan_content(db, ruta)["hallazgos"][0]
    assert saved.id == row["id"]
    assert {name: row[name] for name in (
        "fuente", "fuente_label", "fuente_externa", "anio", "valor", "valor_unidad",
        "comparacion", "comparacion_valor", "componentes")} == {
        "fuente": "evaluar_para_avanzar", "fuente_label": "Evaluar para Avanzar",
        "fuente_externa": True, "anio": 2023, "valor": 68.0, "valor_unidad": "porcentaje",
        "comparacion": "municipal", "comparacion_valor": 52.0,
        "componentes": [componente.id]}


def test_new_trayectorias_are_offered_and_old_values_stay_valid(
        db: Session, make: Factory) -> None:
    ruta, rector = formulating(make)
    objetivo = an_objetivo(db, ruta, rector)
    meta = pmi.save_element(db, ruta, "meta", None, {**META, "objetivo_id": str(objetivo.id)},
                            actor=rector)
    chosen = ["victimas", "clei", "talentos", "hospitalarias", "srpa", "flexibles",
              "extraedad"]
    saved = pmi.save_element(db, ruta, "actividad", None, {
        "meta_id": str(meta.id), "descripcion": "Nivelación con modelos flexibles y CLEI.",
        "trayectorias": chosen}, actor=rector)
    assert saved.trayectorias == chosen


def test_diff_names_the_new_fields_as_a_person_reads_them() -> None:
    from workflow.pmi.versions import diff

    before = complete_plan()
    after = copy.deepcopy(before)
    after["metas"][0].update(tipo="reducir_en")
    after["hallazgos"][0].update(componentes=[11, 12], fuente_label="Saber 11 (ICFES)")
    after["indicadores"][0].update(tipo="proceso")
    changes = {change.element: [(field.label, field.before_text, field.after_text)
                                for field in change.fields]
               for change in diff(before, after)}
    assert changes["meta:1"] == [("Tipo de meta", "Alcanzar un valor",
                                  "Reducir en (la cantidad es la reducción)")]
    assert changes["hallazgo:1"] == [("Componentes a los que apunta", "ACA.1.2 Evaluación",
                                      "ACA.1.2 Evaluación; ACA.1.1 Plan de estudios")]
    assert changes["indicador:1"] == [("Tipo de indicador", "De resultado", "De proceso")]


def test_diff_from_a_version_frozen_before_the_new_fields_shows_only_real_changes() -> None:
    from workflow.pmi.versions import diff

    after = complete_plan()
    before = copy.deepcopy(after)
    for row in before["metas"]:
        del row["tipo"]
    for row in before["indicadores"]:
        del row["tipo"], row["binario"]
    for row in before["hallazgos"]:
        for name in ("anio", "valor", "valor_unidad", "comparacion", "comparacion_valor",
                     "fuente_label", "fuente_externa"):
            del row[name]
    del before["objetivos"][0]["razon_fortaleza"]
    changes = {change.element: [(field.label, field.after_text) for field in change.fields]
               for change in diff(before, after)}
    # The data typed since is a change; the defaults nobody chose are not.
    assert changes == {
        "hallazgo:1": [("Año", "2023"), ("Valor", "68"), ("Unidad del valor",
                                                          "Porcentaje (0 a 100 %)"),
                       ("Comparación", "Promedio municipal"), ("Valor de comparación", "52")],
        "hallazgo:2": [("Año", "2023"), ("Valor", "14"), ("Unidad del valor",
                                                          "Porcentaje (0 a 100 %)"),
                       ("Comparación", "Resultado del año anterior"),
                       ("Valor de comparación", "11")]}
