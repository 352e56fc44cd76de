"""The check of each rule of ``workflow.pmi.checks``: a function over the plain plan data.

Each function reads ``plan_content`` (or a frozen version of it) and yields, per element that
fails, its key («meta:7») and a Spanish message that says what to fix; ``checks.run_checks``
labels them. The numbers' coherence is ``coherence``'s, shared with the forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any, Final

from workflow.catalogo.catalog import Rules
from workflow.dates import fecha
from workflow.pmi import coherence
from workflow.pmi.coherence import number_text as _number
from workflow.pmi.coherence import unit_key as _unit
from workflow.pmi.models import Fuente, IndicadorTipo
from workflow.pmi.plan import CONTENT_FORMAT


def plural(count: int, singular: str, many: str) -> str:
    """1 → «1 verificación obligatoria»; 4 → «4 verificaciones obligatorias»."""
    return f"{count} {singular if count == 1 else many}"


# --- the rules ----------------------------------------------------------------------------

Found = Iterator[tuple[str, str]]  # (element key, message without the label)


def _horizon(content: Mapping[str, Any]) -> tuple[date, date]:
    start, end = content["horizon"]
    return date(start, 1, 1), date(end, 12, 31)


def _years(content: Mapping[str, Any]) -> range:
    start, end = content["horizon"]
    return range(start, end + 1)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: int) -> str:
    return "$" + f"{value:,}".replace(",", ".")


def _rules(content: Mapping[str, Any]) -> Rules:
    """The rule set frozen with the plan; the defaults for a plan frozen without one."""
    known = {name for name in Rules.__dataclass_fields__ if name != "number"}
    return Rules(**{name: value for name, value in content.get("rules", {}).items()
                    if name in known})


def _componente_names(content: Mapping[str, Any]) -> dict[int, str]:
    summary = content["autoevaluacion"]
    return {row["componente_id"]: f"{row['code']} {row['name']}"
            for row in [*summary["oportunidades"], *summary.get("fortalezas", [])]}


def _addressed(content: Mapping[str, Any]) -> set[int]:
    """Componentes an objective works on: linked, or pointed to by a hallazgo it links."""
    pointed = {row["id"]: row.get("componentes", []) for row in content["hallazgos"]}
    return {c for objetivo in content["objetivos"]
            for c in [*objetivo["componentes"],
                      *(c for h in objetivo["hallazgos"] for c in pointed.get(h, []))]}


def _result_indicators(content: Mapping[str, Any]) -> dict[int, list[Mapping[str, Any]]]:
    """Each meta's result indicators. Versions frozen before indicators had a type: the
    first one of each meta, as the migration decided."""
    found: dict[int, list[Mapping[str, Any]]] = {}
    seen: set[int] = set()
    for row in content["indicadores"]:
        tipo = row.get("tipo")
        if tipo is None:
            tipo = (IndicadorTipo.PROCESO.value if row["meta_id"] in seen
                    else IndicadorTipo.RESULTADO.value)
        seen.add(row["meta_id"])
        if tipo == IndicadorTipo.RESULTADO.value:
            found.setdefault(row["meta_id"], []).append(row)
    return found


def _plan_has_objectives(content: Mapping[str, Any]) -> Found:
    if not content["objetivos"]:
        yield "plan", "el PMI todavía no tiene objetivos."


def _objective_addresses_opportunity(content: Mapping[str, Any]) -> Found:
    fortalezas = {row["componente_id"] for row in content["autoevaluacion"]["fortalezas"]}
    names = _componente_names(content)
    rules = _rules(content)
    for objetivo in content["objetivos"]:
        key = f"objetivo:{objetivo['id']}"
        if not objetivo["componentes"] and not objetivo["hallazgos"]:
            yield (key, "no dice qué atiende: vincúlelo a las oportunidades de mejoramiento "
                   "de la autoevaluación o a los hallazgos de las pruebas que lo motivan.")
            continue
        linked = [names.get(c, str(c)) for c in objetivo["componentes"] if c in fortalezas]
        if linked and not rules.is_sentence(objetivo.get("razon_fortaleza", "")):
            said = "», «".join(linked)
            yield (key, f"trabaja sobre «{said}», que la autoevaluación valoró como "
                   f"{'fortaleza' if len(linked) == 1 else 'fortalezas'}: escriba por qué "
                   f"({rules.sentence_label}).")


def _opportunities_prioritised(content: Mapping[str, Any]) -> Found:
    missing = [row for row in content["autoevaluacion"]["oportunidades"]
               if row.get("score") is None]
    if missing:
        codes = ", ".join(row["code"] for row in missing[:8]) + ("…" if len(missing) > 8 else "")
        yield ("plan", f"{'falta' if len(missing) == 1 else 'faltan'} por priorizar "
               f"{plural(len(missing), 'oportunidad', 'oportunidades')} de mejoramiento "
               f"({codes}): el equipo califica su urgencia, tendencia e impacto antes de "
               "enviar el PMI.")


def top_priorities(content: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The oportunidades the plan must attend or defer: the highest scores, as many as the
    rule set says; a version frozen before scores were required, the first ones."""
    oportunidades = content["autoevaluacion"]["oportunidades"]
    count = _rules(content).priority_count
    if content.get("formato", 1) < CONTENT_FORMAT:
        return oportunidades[:count]
    scored = [row for row in oportunidades if row.get("score") is not None]
    return sorted(scored, key=lambda row: -row["score"])[:count]


def _priorities_addressed(content: Mapping[str, Any]) -> Found:
    addressed = _addressed(content)
    deferred = {row["componente_id"] for row in content["aplazamientos"]
                if row["razon"].strip()}
    for oportunidad in top_priorities(content):
        componente = oportunidad["componente_id"]
        if componente not in addressed and componente not in deferred:
            yield ("plan", f"la oportunidad prioritaria «{oportunidad['code']} "
                   f"{oportunidad['name']}» no la atiende ningún objetivo ni está aplazada "
                   "con una razón.")


def _areas_addressed(content: Mapping[str, Any]) -> Found:
    summary = content["autoevaluacion"]
    areas = {row["componente_id"]: row["area"]
             for row in [*summary["oportunidades"], *summary.get("fortalezas", [])]}
    covered = {areas[c] for c in _addressed(content) if c in areas}
    pending: dict[str, list[str]] = {}
    for row in summary["oportunidades"]:
        if row["area"] not in covered:
            pending.setdefault(row["area"], []).append(row["code"])
    for area, codes in pending.items():
        yield ("plan", f"ningún objetivo atiende el área «{area}», que tiene "
               f"{plural(len(codes), 'oportunidad', 'oportunidades')} de mejoramiento "
               f"({', '.join(codes)}).")


READABLE: Final = (("hallazgos", "hallazgo", "descripcion", "la descripción"),
                   ("objetivos", "objetivo", "enunciado", "el enunciado"),
                   ("objetivos", "objetivo", "razon_fortaleza", "la razón para trabajar "
                    "sobre una fortaleza"),
                   ("metas", "meta", "enunciado", "el enunciado"),
                   ("actividades", "actividad", "descripcion", "la descripción"),
                   ("aplazamientos", "aplazamiento", "razon", "la razón"))


def _readable_texts(content: Mapping[str, Any]) -> Found:
    rules = _rules(content)
    for section, kind, name, label in READABLE:
        for row in content[section]:
            text = row.get(name) or ""
            if name == "razon_fortaleza" and not text.strip():
                continue
            if not rules.is_sentence(text):
                yield (f"{kind}:{row['id']}", f"{label} («{text.strip()[:40]}») no es una "
                       f"frase que se pueda leer: escriba {rules.sentence_label}.")


def _meta_has_indicator(content: Mapping[str, Any]) -> Found:
    results = _result_indicators(content)
    measured = {row["meta_id"] for row in content["indicadores"]}
    for meta in content["metas"]:
        key = f"meta:{meta['id']}"
        count = len(results.get(meta["id"], []))
        if meta["id"] not in measured:
            yield key, "no tiene indicador."
        elif count == 0:
            yield (key, "no tiene indicador de resultado: marque como de resultado el "
                   "indicador que mide la meta.")
        elif count > 1:
            yield (key, f"tiene {count} indicadores de resultado: solo uno mide la meta; "
                   "marque los demás como de proceso.")


def _annual_targets(content: Mapping[str, Any]) -> Found:
    metas = {meta["id"]: meta for meta in content["metas"]}
    for meta_id, rows in _result_indicators(content).items():
        if meta_id not in metas:
            continue
        for row in rows:
            for message in coherence.target_problems(row, metas[meta_id], _years(content)):
                yield f"indicador:{row['id']}", message


def _meta_measurable(content: Mapping[str, Any]) -> Found:
    for meta in content["metas"]:
        missing = [name for name, present in (
            ("cantidad", meta["cantidad"] is not None),
            ("unidad de medida", bool(meta["unidad"].strip())),
            ("fecha límite", bool(meta["fecha_limite"]))) if not present]
        if missing:
            yield f"meta:{meta['id']}", "le falta " + " y ".join(missing) + "."


def _meta_coherent(content: Mapping[str, Any]) -> Found:
    for meta in content["metas"]:
        for _, message in coherence.meta_problems(meta):
            yield f"meta:{meta['id']}", message[0].lower() + message[1:]


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
        for _, message in coherence.indicator_value_problems(row):
            yield f"indicador:{row['id']}", message[0].lower() + message[1:]


def _indicator_measures_meta(content: Mapping[str, Any]) -> Found:
    metas = {meta["id"]: meta for meta in content["metas"]}
    for meta_id, rows in _result_indicators(content).items():
        meta = metas.get(meta_id)
        if meta is None:
            continue
        for row in rows:
            key = f"indicador:{row['id']}"
            if meta["unidad"].strip() and row["unidad"].strip() \
                    and _unit(meta["unidad"]) != _unit(row["unidad"]):
                yield (key, f"mide en «{row['unidad']}» pero su meta está en "
                       f"«{meta['unidad']}»: un indicador de resultado mide en la unidad de "
                       "su meta (si sigue las acciones, márquelo como de proceso).")
            base = meta["linea_base"]
            if base is not None and row["linea_base"] is not None \
                    and abs(row["linea_base"] - base) > coherence.EPSILON:
                yield (key, f"su línea base es {_number(row['linea_base'])} y la de su meta "
                       f"es {_number(base)}.")
            targets = row["metas_anuales"]
            final = coherence.final_value(meta)
            if not targets or final is None:
                continue
            deadline = _date(meta["fecha_limite"])
            year = str(deadline.year) if deadline else None
            final_year = year if year in targets else max(targets)
            if abs(targets[final_year] - final) > coherence.EPSILON:
                yield (key, f"su meta para {final_year} es {_number(targets[final_year])}, "
                       f"pero la meta que mide espera {_number(final)}.")


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


def _plan_spans_horizon(content: Mapping[str, Any]) -> Found:
    if not content["metas"]:
        return
    targeted = {int(year) for rows in _result_indicators(content).values() for row in rows
                for year in row["metas_anuales"]}
    active: set[int] = set()
    for row in content["actividades"]:
        begins, ends = _date(row["fecha_inicio"]), _date(row["fecha_fin"])
        if begins and ends:
            active.update(range(begins.year, ends.year + 1))
    for year in _years(content):
        missing = [what for what, present in (("metas anuales de resultado", year in targeted),
                                              ("actividades", year in active)) if not present]
        if missing:
            first, last = content["horizon"]
            yield ("plan", f"el plan no tiene {' ni '.join(missing)} en {year}: un PMI abarca "
                   f"cada año de su horizonte ({first}–{last}).")


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


def _is_external(row: Mapping[str, Any]) -> bool:
    return bool(row.get("fuente_externa", row["fuente"] != Fuente.INTERNA.value))


def _weaknesses_identified(content: Mapping[str, Any]) -> Found:
    if not any(_is_external(row) for row in content["hallazgos"]):
        yield ("plan", "no registra debilidades de las pruebas externas (Saber 3.°, 5.°, 7.°, "
               "9.° u 11, Evaluar para Avanzar u otra prueba externa).")
    if not any(not _is_external(row) for row in content["hallazgos"]):
        yield "plan", "no registra debilidades de las evaluaciones internas."


def _hallazgo_has_data(content: Mapping[str, Any]) -> Found:
    for row in content["hallazgos"]:
        missing = [name for name, present in (
            ("año", row.get("anio") is not None), ("grado", bool(row["grado"].strip())),
            ("valor con su unidad", row.get("valor") is not None),
            ("comparación", row.get("comparacion") is not None),
            ("componentes a los que apunta", bool(row.get("componentes")))) if not present]
        if missing:
            yield (f"hallazgo:{row['id']}", "le falta registrar " + ", ".join(missing[:-1])
                   + (" y " if len(missing) > 1 else "") + missing[-1] + ".")


def _weakness_addressed(content: Mapping[str, Any]) -> Found:
    addressed = {h for objetivo in content["objetivos"] for h in objetivo["hallazgos"]}
    for row in content["hallazgos"]:
        if row["id"] not in addressed:
            yield f"hallazgo:{row['id']}", "ningún objetivo lo atiende."


def _diverse_trajectories(content: Mapping[str, Any]) -> Found:
    if not any(row["trayectorias"] for row in content["actividades"]):
        yield ("plan", "ninguna actividad atiende a estudiantes con trayectorias diversas "
               "(inclusión, víctimas del conflicto, jóvenes y adultos, ruralidad, "
               "discapacidad, modelos flexibles…).")


def _divulgation(content: Mapping[str, Any]) -> Found:
    plan = content["plan"]
    if not plan["divulgacion"].strip() or not plan["divulgacion_fecha"]:
        yield "plan", "falta decir cómo y cuándo se divulga el plan a la comunidad educativa."


CHECKS: Final[Mapping[str, Callable[[Mapping[str, Any]], Found]]] = {
    "plan_con_objetivos": _plan_has_objectives,
    "objetivo_atiende_oportunidad": _objective_addresses_opportunity,
    "oportunidades_priorizadas": _opportunities_prioritised,
    "prioridades_atendidas": _priorities_addressed,
    "areas_atendidas": _areas_addressed,
    "textos_legibles": _readable_texts,
    "meta_con_indicador": _meta_has_indicator,
    "metas_anuales_hacia_la_meta": _annual_targets,
    "meta_medible": _meta_measurable,
    "meta_coherente": _meta_coherent,
    "meta_en_horizonte": _meta_in_horizon,
    "indicador_definido": _indicator_defined,
    "indicador_mide_su_meta": _indicator_measures_meta,
    "actividad_en_plazo": _activity_in_time,
    "actividad_con_responsable_y_recursos": _activity_resourced,
    "costos_dentro_del_presupuesto": _costs_within_budget,
    "plan_abarca_horizonte": _plan_spans_horizon,
    "objetivo_con_metas": _objective_has_metas,
    "meta_con_actividades": _meta_has_activities,
    "debilidades_identificadas": _weaknesses_identified,
    "hallazgo_con_datos": _hallazgo_has_data,
    "debilidad_atendida": _weakness_addressed,
    "trayectorias_diversas": _diverse_trajectories,
    "divulgacion_definida": _divulgation,
}
