"""The seguimiento report's form as the school posts it: reading each field, and one
actividad's line checked against the rules (avance, status, reasons required), with the
messages in Spanish. Saving the parsed form is ``workflow.seguimiento.reports.save_report``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from workflow.pmi.models import Actividad
from workflow.seguimiento.models import LineStatus
from workflow.seguimiento.progress import planned_percent, reason_required

# The longest text a field of the report takes (also the revisor's acknowledgement comment).
MAX_TEXT = 5000

Form = Mapping[str, Any]
NUMBER = re.compile(r"^-?\d{1,12}([.,]\d{1,4})?$")


def _text(form: Form, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


class FormParser:
    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, label: str) -> str:
        value = _text(self.form, name)
        if len(value) > MAX_TEXT:
            self.error(name, f"{label[0].upper()}{label[1:]} no puede pasar de {MAX_TEXT} "
                             "caracteres.")
        return value

    def number(self, name: str, label: str) -> float | None:
        raw = _text(self.form, name).replace(" ", "").removesuffix("%")
        if not raw:
            return None
        if not NUMBER.match(raw):
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un número (por ejemplo, "
                             "60 o 12,5).")
            return None
        return float(raw.replace(",", "."))

    def pesos(self, name: str, label: str) -> int | None:
        raw = _text(self.form, name).replace("$", "").replace(" ", "").replace(".", "")
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 15:
            self.error(name, f"{label[0].upper()}{label[1:]} debe ser un valor en pesos, sin "
                             "decimales ni signo (por ejemplo, 2500000).")
            return None
        return int(raw)


def parse_line(parse: FormParser, actividad: Actividad, label: str,
               due_on: date) -> dict[str, Any] | None:
    """The values of one actividad's line, or None (errors recorded in ``parse``)."""
    key = actividad.id
    avance = parse.number(f"avance-{key}", f"el % de avance de la {label}")
    if avance is None and f"avance-{key}" not in parse.errors:
        parse.error(f"avance-{key}", f"Escriba el % de avance de la {label}: un número de 0 "
                                     "a 100.")
    elif avance is not None and not 0 <= avance <= 100:
        parse.error(f"avance-{key}", f"El % de avance de la {label} debe estar entre 0 y 100; "
                                     f"escribió {avance:g}.")
        avance = None
    raw_status = _text(parse.form, f"estado-{key}")
    status = next((item for item in LineStatus if item.value == raw_status), None)
    if status is None:
        parse.error(f"estado-{key}", f"Elija el estado de la {label}: no iniciada, en curso, "
                                     "cumplida o cancelada.")
    dificultades = parse.text(f"dificultades-{key}", f"las dificultades de la {label}")
    recursos = parse.text(f"recursos-{key}", f"los recursos usados en la {label}")
    costo = parse.pesos(f"costo-{key}", f"lo gastado en la {label}")
    razones = parse.text(f"razones-{key}", f"las razones de la {label}")
    if avance is None or status is None:
        return None
    if status is LineStatus.CUMPLIDA and avance < 100:
        parse.error(f"avance-{key}", f"La {label} está «cumplida»: su avance es 100 %. Si no "
                                     "terminó, márquela «en curso».")
        return None
    if status is LineStatus.NO_INICIADA and avance > 0:
        parse.error(f"avance-{key}", f"La {label} está «no iniciada» pero tiene {avance:g} % "
                                     "de avance: márquela «en curso» o deje el avance en 0.")
        return None
    planned = planned_percent(actividad.fecha_inicio, actividad.fecha_fin, due_on)
    if reason_required(avance, status, planned) and not razones:
        why = {LineStatus.CANCELADA: "está cancelada",
               LineStatus.NO_INICIADA: "no se ha iniciado y ya debía empezar"}.get(
            status, f"va atrasada (avance {avance:g} %, esperado {planned or 0:g} %)")
        parse.error(f"razones-{key}", f"La {label} {why}: explique por qué en «Razones de lo "
                                      "no realizado».")
        return None
    return {"avance": avance, "status": status, "dificultades": dificultades,
            "recursos": recursos, "costo": costo, "razones": razones}
