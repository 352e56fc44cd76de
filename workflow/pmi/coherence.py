"""Whether the numbers of a meta, its indicadores and a hallazgo agree with each other.

Plain functions over the plain rows of ``workflow.pmi.plan.plan_content`` (a meta, an
indicador, a hallazgo as dicts), so the same judgement refuses a contradiction when a form is
saved (``plan``) and reports it over a stored plan or a frozen version (``checks``).

A meta's type says what its cantidad is and where the measure goes:

- «alcanzar un valor», «reducir a» and «mantener»: the cantidad is the final value;
- «aumentar en» and «reducir en»: the cantidad is the change from the línea base, so «reducir
  en 5 puntos porcentuales» from 14 % ends at 9 %, the value its result indicator must reach.

When the enunciado states a quantity (a number followed by «%», «puntos» or the meta's unit),
it must be the cantidad; for the «en» types the final value is accepted too («reducir en 5
puntos, al 9 %»). The línea base may also be stated («del 32 % al 45 %»). Years and grades
(«11.°», «Saber 11», «2026») are not quantities.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workflow.pmi.models import META_TIPO_LABELS, MetaTipo, ValorUnidad

UP, DOWN, FLAT = 1, -1, 0
EPSILON = 1e-6
CHANGE_TYPES = frozenset({MetaTipo.AUMENTAR_EN.value, MetaTipo.REDUCIR_EN.value})
BINARY_UNITS = frozenset({"sí/no", "si/no", "sí o no", "si o no", "binario", "binaria"})
PERCENT_UNITS = frozenset({"%", "porcentaje", "por ciento", "puntos porcentuales"})
UP_WORDS = ("aument", "increment", "elev", "mejorar el porcentaje", "subir")
DOWN_WORDS = ("reduc", "dismin", "baj")

Problems = list[tuple[str, str]]  # (form field, Spanish message)


def number_text(value: float) -> str:
    """45.0 → "45"; 12.5 → "12,5"."""
    return (f"{value:.2f}".rstrip("0").rstrip(".")).replace(".", ",")


def unit_key(value: str) -> str:
    cleaned = " ".join(value.lower().split()).rstrip(".")
    if cleaned in PERCENT_UNITS:
        return "%"
    if cleaned in BINARY_UNITS:
        return "sí/no"
    return cleaned


def is_binary(row: Mapping[str, Any]) -> bool:
    return bool(row.get("binario")) or unit_key(str(row.get("unidad", ""))) == "sí/no"


def meta_type(meta: Mapping[str, Any]) -> str:
    # Versions frozen before metas had a type: their cantidad was the final value.
    return str(meta.get("tipo") or MetaTipo.ALCANZAR.value)


def type_label(tipo: str) -> str:
    found = next((label for item, label in META_TIPO_LABELS.items() if item.value == tipo),
                 tipo)
    return found.split(" (")[0].lower()


def final_value(meta: Mapping[str, Any]) -> float | None:
    """The value the meta's result indicator must reach."""
    tipo, cantidad, base = meta_type(meta), meta.get("cantidad"), meta.get("linea_base")
    if cantidad is None:
        return None
    if tipo == MetaTipo.AUMENTAR_EN.value:
        return None if base is None else base + cantidad
    if tipo == MetaTipo.REDUCIR_EN.value:
        return None if base is None else base - cantidad
    return float(cantidad)


def direction(meta: Mapping[str, Any]) -> int | None:
    tipo = meta_type(meta)
    if tipo in {MetaTipo.AUMENTAR_EN.value}:
        return UP
    if tipo in {MetaTipo.REDUCIR_EN.value, MetaTipo.REDUCIR_A.value}:
        return DOWN
    if tipo == MetaTipo.MANTENER.value:
        return FLAT
    final, base = final_value(meta), meta.get("linea_base")
    if final is None or base is None:
        return None
    return UP if final > base + EPSILON else DOWN if final < base - EPSILON else FLAT


def _verb(enunciado: str) -> int | None:
    words = enunciado.lower().split()
    first = " ".join(words[:3])
    if any(word in first for word in UP_WORDS):
        return UP
    if any(word in first for word in DOWN_WORDS):
        return DOWN
    return None


def stated_quantities(enunciado: str, unidad: str) -> list[float]:
    """The quantities the enunciado states: numbers followed by «%», «puntos» or the unit."""
    units = [r"%", r"por\s+ciento", r"puntos?\b", r"pp\b"]
    word = unidad.strip().lower().split(" ")[0] if unidad.strip() else ""
    if len(word) >= 3 and word.isalpha():
        units.append(re.escape(word.rstrip("s")) + r"\w*")
    pattern = re.compile(r"(?<![\d.,°])(\d{1,3}(?:\.\d{3})+|\d+(?:[.,]\d+)?)\s*(?:"
                         + "|".join(units) + r")", re.IGNORECASE)
    found = []
    for match in pattern.finditer(enunciado):
        raw = match.group(1)
        if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw) and "%" not in match.group(0):
            raw = raw.replace(".", "")
        found.append(float(raw.replace(",", ".")))
    return found


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= EPSILON


def meta_problems(meta: Mapping[str, Any]) -> Problems:
    """Contradictions between a meta's type, cantidad, línea base, unit and enunciado."""
    tipo, cantidad, base = meta_type(meta), meta.get("cantidad"), meta.get("linea_base")
    unidad, enunciado = str(meta.get("unidad", "")), str(meta.get("enunciado", ""))
    name = f"«{type_label(tipo)}»"
    problems: Problems = []
    if cantidad is None:
        return problems
    if (tipo in CHANGE_TYPES or tipo == MetaTipo.REDUCIR_A.value) and base is None:
        return [("linea_base", f"Una meta {name} necesita la línea base: la meta se mide "
                               "desde ella.")]
    if tipo in CHANGE_TYPES and cantidad <= EPSILON:
        problems.append(("cantidad", f"En una meta {name} la cantidad es el cambio sobre la "
                                     "línea base: no puede ser 0."))
    if tipo == MetaTipo.REDUCIR_EN.value and base is not None and cantidad > base + EPSILON:
        problems.append(("cantidad", f"La reducción ({number_text(cantidad)}) es mayor que la "
                                     f"línea base ({number_text(base)}): la meta quedaría por "
                                     "debajo de 0."))
    if tipo == MetaTipo.REDUCIR_A.value and base is not None and cantidad >= base - EPSILON:
        problems.append(("cantidad", f"Una meta «reducir a» termina por debajo de la línea base "
                                     f"({number_text(base)}), pero la cantidad es "
                                     f"{number_text(cantidad)}."))
    if tipo == MetaTipo.ALCANZAR.value and _same(cantidad, base):
        problems.append(("tipo", f"La cantidad ({number_text(cantidad)}) es igual a la línea "
                                 "base: si la meta es sostener ese valor, elija el tipo "
                                 "«mantener»."))
    final = final_value(meta)
    if unit_key(unidad) == "%" and final is not None and final > 100 + EPSILON:
        problems.append(("cantidad", f"La meta llegaría a {number_text(final)} %: un porcentaje "
                                     "no pasa de 100."))
    if unit_key(unidad) == "sí/no" and (tipo != MetaTipo.ALCANZAR.value or cantidad != 1):
        problems.append(("cantidad", "Una meta sí/no es del tipo «alcanzar un valor» con "
                                     "cantidad 1 (logrado)."))
    verb = _verb(enunciado)
    moves = direction(meta)
    if verb is not None and moves is not None and moves != FLAT and verb != moves:
        said = "aumentar" if verb == UP else "reducir"
        if tipo == MetaTipo.ALCANZAR.value and base is not None:
            where = "por debajo" if verb == UP else "por encima"
            problems.append(("cantidad", f"El enunciado dice «{said}», pero la cantidad "
                                         f"({number_text(cantidad)}) queda {where} de la línea "
                                         f"base ({number_text(base)})."))
        else:
            problems.append(("tipo", f"El enunciado dice «{said}», pero el tipo de meta es "
                                     f"{name}."))
    stated = stated_quantities(enunciado, unidad)
    if stated:
        accepted = [cantidad, *([final] if tipo in CHANGE_TYPES else [])]
        if not any(_same(value, wanted) for value in stated for wanted in accepted):
            said = ", ".join(number_text(value) for value in stated)
            problems.append(("enunciado", f"El enunciado dice {said}, pero la cantidad de la "
                                          f"meta es {number_text(cantidad)}: corrija uno de "
                                          "los dos."))
    return problems


def indicator_value_problems(row: Mapping[str, Any]) -> Problems:
    """A binary indicator's línea base and targets are 0 (no) or 1 (sí); a percentage's stay
    within 0 to 100."""
    problems: Problems = []
    values = [("linea_base", "la línea base", row.get("linea_base")),
              *((f"meta_{year}", f"la meta de {year}", value)
                for year, value in sorted(row.get("metas_anuales", {}).items()))]
    for field, label, value in values:
        if value is None:
            continue
        if is_binary(row) and value not in (0, 1):
            problems.append((field, f"Es un indicador sí/no: {label} es 0 (no) o 1 (sí)."))
        elif unit_key(str(row.get("unidad", ""))) == "%" and value > 100 + EPSILON:
            problems.append((field, f"{label[0].upper()}{label[1:]} ({number_text(value)}) es "
                                    "un porcentaje: no pasa de 100."))
    return problems


def target_problems(row: Mapping[str, Any], meta: Mapping[str, Any],
                    years: range) -> list[str]:
    """A result indicator's annual targets: one for each year up to the meta's deadline,
    moving from the línea base toward the meta's final value without going back or past."""
    targets = {int(year): value for year, value in row.get("metas_anuales", {}).items()}
    deadline = meta.get("fecha_limite")
    last = min(int(deadline[:4]), years[-1]) if deadline else years[-1]
    wanted = [year for year in years if year <= last]
    missing = [str(year) for year in wanted if year not in targets]
    if missing:
        return [f"le falta la meta de {' y de '.join(missing)}: un indicador de resultado "
                "tiene una meta por cada año del horizonte hasta la fecha límite de su meta."]
    final, moves = final_value(meta), direction(meta)
    if is_binary(row):
        final, moves = 1.0, UP
    start = row.get("linea_base")
    if start is None:
        start = meta.get("linea_base")
    if final is None or moves is None or start is None:
        return []
    previous = start
    for year in wanted:
        value = targets[year]
        wrong = {UP: value < previous - EPSILON or value > final + EPSILON,
                 DOWN: value > previous + EPSILON or value < final - EPSILON,
                 FLAT: not _same(value, final)}[moves]
        if wrong:
            way = {UP: "subir", DOWN: "bajar", FLAT: "mantenerse"}[moves]
            return [f"la meta de {year} ({number_text(value)}) no va de la línea base "
                    f"({number_text(start)}) hacia {number_text(final)}: cada año debe "
                    f"{way} o quedarse igual, sin pasarse de la meta."
                    if moves != FLAT else
                    f"la meta de {year} ({number_text(value)}) no es el valor que la meta "
                    f"mantiene ({number_text(final)})."]
        previous = value
    return []


def hallazgo_value_problems(row: Mapping[str, Any], horizon_end: int) -> Problems:
    """A hallazgo's value and comparison value within its unit's range; a plausible year."""
    problems: Problems = []
    unit = next((item for item in ValorUnidad if item.value == row.get("valor_unidad")), None)
    if unit is not None:
        low, high = unit.bounds
        for field, label in (("valor", "El valor"),
                             ("comparacion_valor", "El valor de comparación")):
            value = row.get(field)
            if value is not None and not low - EPSILON <= value <= high + EPSILON:
                problems.append((field, f"{label} ({number_text(value)}) está fuera del rango de "
                                        f"la unidad «{unit.label}»: va de "
                                        f"{number_text(low)} a {number_text(high)}."))
    anio = row.get("anio")
    if anio is not None and not 2000 <= anio <= horizon_end:
        problems.append(("anio", f"El año ({anio}) debe estar entre 2000 y {horizon_end}."))
    return problems
