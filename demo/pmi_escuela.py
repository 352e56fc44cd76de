"""Each demo school's own PMI: objectives that follow from its hallazgos and weakest componentes.

A reviewer reading the demo should accept it: the school's prioritised oportunidades (by the
score of its rule set) decide which áreas the plan works on; each área has a plan a school in
Ibagué would write (convivencia for the directiva, pruebas externas for the académica, the
teachers' training for the administrativa, permanencia for the comunidad), with a hallazgo that
carries the school's own data, a typed meta, one result indicator (and sometimes a process one),
and actividades across the three years. The académica's plan answers the pruebas externas even
when none of its componentes is a priority: then it is linked to the weakest académica
componente, and when that one is a fortaleza the link says why. Priorities in an área the plan
leaves for later are deferred with a reason. Written through the real services, so the demo is
validated exactly like a school's plan.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from demo.pmi import prioritise_the_rest
from workflow.autoevaluacion.perfil import Rated, classification_for, rated_items
from workflow.catalogo.catalog import rules_of
from workflow.models import Ruta, User
from workflow.pmi import plan as pmi
from workflow.pmi.models import Comparacion, Fuente, MetaTipo, Trayectoria, ValorUnidad

# The external tests the académica's hallazgo may come from: (source, grade, área, where the
# results are published).
PRUEBAS = [
    (Fuente.SABER_11, "11.°", "matemáticas", "Resultados de Saber 11 (ICFES)"),
    (Fuente.SABER_9, "9.°", "lenguaje", "Resultados de Saber 9.° (ICFES)"),
    (Fuente.EVALUAR_PARA_AVANZAR, "5.°", "matemáticas",
     "Informe de resultados de Evaluar para Avanzar (ICFES)"),
]
DEFERRAL = ("La institución atiende primero las áreas con mayor puntaje de prioridad; esta "
            "oportunidad se retoma en la revisión anual del plan, con el Consejo Directivo.")
DIVULGACION = ("Socialización en la primera semana institucional, en el Consejo Directivo y "
               "en la asamblea general de padres y madres; publicación en la cartelera y la "
               "página web de la institución.")


@dataclass
class Plan:
    """What one área's plan writes, as the forms of the PMI pages."""

    hallazgo: dict[str, Any]
    objetivo: str
    meta: dict[str, Any]
    indicadores: list[dict[str, Any]]
    actividades: list[dict[str, Any]]


def _years(ruta: Ruta) -> list[int]:
    return list(range(ruta.horizon_start_year, ruta.horizon_end_year + 1))


def _steps(base: float, final: float, years: list[int]) -> dict[str, str]:
    """Annual targets from the línea base to the final value, the last one exactly the final."""
    count = len(years)
    return {f"meta_{year}": f"{round(base + (final - base) * (index + 1) / count, 1):g}"
            for index, year in enumerate(years)}


def _activity(descripcion: str, responsable: str, begins: date, ends: date, recursos: str,
              costo: int, fuente: str, trayectorias: list[Trayectoria] | None = None
              ) -> dict[str, Any]:
    return {"descripcion": descripcion, "responsable": responsable,
            "fecha_inicio": begins.isoformat(), "fecha_fin": ends.isoformat(),
            "recursos": recursos, "costo": str(costo), "fuente_financiacion": fuente,
            "trayectorias": [item.value for item in trayectorias or []]}


def _academica(rng: random.Random, years: list[int]) -> Plan:
    fuente, grado, area, publicado = rng.choice(PRUEBAS)
    start, end = years[0], years[-1]
    low = rng.randint(38, 66)  # share in the lowest level
    base = 100 - low
    final = min(95, base + rng.randint(8, 14))
    return Plan(
        hallazgo={"fuente": fuente.value, "area": area.capitalize(), "grado": grado,
                  "anio": str(start - 1), "valor": str(low),
                  "valor_unidad": ValorUnidad.PORCENTAJE.value,
                  "comparacion": Comparacion.MUNICIPAL.value,
                  "comparacion_valor": str(low - rng.randint(8, 16)),
                  "descripcion": f"El {low} % de los estudiantes de {grado} quedó en el nivel "
                                 f"más bajo de {area} en {fuente.label}, por encima del "
                                 "promedio municipal; la mayor debilidad está en la "
                                 "resolución de problemas y la lectura inferencial."},
        objetivo=f"Mejorar los desempeños en {area} de los estudiantes de {grado} con "
                 "prácticas de aula que usen los resultados de las pruebas externas.",
        meta={"tipo_meta": MetaTipo.ALCANZAR.value, "cantidad": str(final), "unidad": "%",
              "linea_base": str(base), "fecha_limite": date(end, 11, 30).isoformat(),
              "enunciado": f"Aumentar al {final} % la proporción de estudiantes de {grado} por "
                           f"encima del nivel mínimo en {area} de {fuente.label} a noviembre "
                           f"de {end}."},
        indicadores=[
            {"tipo_indicador": "resultado",
             "nombre": f"Porcentaje de estudiantes de {grado} por encima del nivel mínimo en "
                       f"{area}",
             "formula": f"Estudiantes de {grado} por encima del nivel mínimo / estudiantes de "
                        f"{grado} evaluados × 100",
             "unidad": "%", "frecuencia": "Anual", "fuente": publicado,
             "linea_base": str(base), **_steps(base, final, years)},
            {"tipo_indicador": "proceso",
             "nombre": f"Talleres de análisis de resultados y resolución de problemas de "
                       f"{area} realizados",
             "formula": "Número de talleres realizados en el año",
             "unidad": "talleres", "frecuencia": "Semestral",
             "fuente": "Actas de la jefatura de área", "linea_base": "0",
             **{f"meta_{year}": str(rng.randint(8, 12)) for year in years}},
        ],
        actividades=[
            _activity(f"Talleres semanales de resolución de problemas de {area} con "
                      "preguntas tipo prueba externa y retroalimentación.",
                      f"Jefatura del área de {area}", date(start, 2, 5), date(end, 10, 30),
                      "Banco de preguntas, fotocopias, sala de informática.",
                      rng.randrange(3_000_000, 6_000_000, 250_000),
                      "Fondo de Servicios Educativos"),
            _activity(f"Análisis por competencias de los resultados de {fuente.label} con "
                      "cada equipo de grado, al inicio de cada año.",
                      "Coordinación académica", date(start, 1, 15), date(end, 3, 31),
                      "Tiempo de la semana institucional, informe del ICFES.", 0,
                      "Recursos propios (tiempo docente)"),
        ])


def _directiva(rng: random.Random, years: list[int]) -> Plan:
    start, end = years[0], years[-1]
    base = rng.randint(18, 32)  # share of students reporting bullying
    drop = rng.randint(5, 9)
    return Plan(
        hallazgo={"fuente": Fuente.INTERNA.value, "area": "Convivencia escolar",
                  "grado": "6.° a 11.°", "anio": str(start - 1), "valor": str(base),
                  "valor_unidad": ValorUnidad.PORCENTAJE.value,
                  "comparacion": Comparacion.ANIO_ANTERIOR.value,
                  "comparacion_valor": str(base - rng.randint(2, 5)),
                  "descripcion": f"En la encuesta de clima escolar el {base} % de los "
                                 "estudiantes de secundaria dijo haber vivido situaciones de "
                                 "acoso; el Comité de Convivencia no hace seguimiento a los "
                                 "casos."},
        objetivo="Fortalecer la convivencia escolar con una ruta de atención que el Comité "
                 "de Convivencia aplique y siga en cada caso.",
        meta={"tipo_meta": MetaTipo.REDUCIR_EN.value, "cantidad": str(drop),
              "unidad": "puntos porcentuales", "linea_base": str(base),
              "fecha_limite": date(end, 11, 30).isoformat(),
              "enunciado": f"Reducir en {drop} puntos porcentuales la proporción de "
                           "estudiantes que reporta situaciones de acoso escolar, a noviembre "
                           f"de {end}."},
        indicadores=[
            {"tipo_indicador": "resultado",
             "nombre": "Porcentaje de estudiantes que reporta situaciones de acoso escolar",
             "formula": "Estudiantes que reportan acoso en la encuesta / estudiantes "
                        "encuestados × 100",
             "unidad": "%", "frecuencia": "Anual",
             "fuente": "Encuesta institucional de clima escolar", "linea_base": str(base),
             **_steps(base, base - drop, years)},
        ],
        actividades=[
            _activity("Sesiones mensuales del Comité de Convivencia con seguimiento escrito "
                      "de cada caso reportado.", "Rectoría y Comité de Convivencia",
                      date(start, 2, 1), date(end, 11, 15),
                      "Formato de seguimiento de casos, tiempo institucional.", 0,
                      "Recursos propios (tiempo docente)"),
            _activity("Talleres de mediación escolar para estudiantes líderes y directores "
                      "de grupo, con atención a estudiantes víctimas del conflicto.",
                      "Orientación escolar", date(start, 3, 1), date(end, 9, 30),
                      "Facilitador externo, materiales impresos.",
                      rng.randrange(2_000_000, 4_000_000, 250_000),
                      "Sistema General de Participaciones (calidad)",
                      [Trayectoria.VICTIMAS, Trayectoria.INCLUSION]),
        ])


def _administrativa(rng: random.Random, years: list[int]) -> Plan:
    start, end = years[0], years[-1]
    base = rng.randint(20, 40)  # share of teachers in training
    final = min(90, base + rng.randint(30, 40))
    return Plan(
        hallazgo={"fuente": Fuente.INTERNA.value, "area": "Talento humano",
                  "grado": "Todos los grados", "anio": str(start - 1), "valor": str(base),
                  "valor_unidad": ValorUnidad.PORCENTAJE.value,
                  "comparacion": Comparacion.ETC.value,
                  "comparacion_valor": str(base + rng.randint(10, 20)),
                  "descripcion": f"Solo el {base} % de los docentes participó en formación "
                                 "durante el año, por debajo del promedio de la entidad "
                                 "territorial; no hay un plan de formación institucional."},
        objetivo="Consolidar un plan de formación docente que responda a las necesidades "
                 "pedagógicas que mostró la autoevaluación.",
        meta={"tipo_meta": MetaTipo.ALCANZAR.value, "cantidad": str(final), "unidad": "%",
              "linea_base": str(base), "fecha_limite": date(end, 11, 30).isoformat(),
              "enunciado": f"Lograr que el {final} % de los docentes participe en el plan de "
                           f"formación institucional a noviembre de {end}."},
        indicadores=[
            {"tipo_indicador": "resultado",
             "nombre": "Porcentaje de docentes que participa en el plan de formación",
             "formula": "Docentes con asistencia al 80 % de las sesiones / docentes de la "
                        "planta × 100",
             "unidad": "%", "frecuencia": "Semestral",
             "fuente": "Listas de asistencia y certificados", "linea_base": str(base),
             **_steps(base, final, years)},
        ],
        actividades=[
            _activity("Diagnóstico de necesidades de formación y plan anual acordado con la "
                      "Secretaría de Educación.", "Rectoría y Consejo Académico",
                      date(start, 2, 1), date(end, 3, 31),
                      "Encuesta a docentes, tiempo de la semana institucional.", 0,
                      "Recursos propios (tiempo docente)"),
            _activity("Jornadas de formación por semestre en evaluación formativa y "
                      "educación inclusiva.", "Coordinación académica", date(start, 4, 1),
                      date(end, 10, 31), "Formadores de la Secretaría, aula múltiple.",
                      rng.randrange(1_500_000, 3_500_000, 250_000),
                      "Fondo de Servicios Educativos", [Trayectoria.INCLUSION]),
        ])


def _comunidad(rng: random.Random, years: list[int]) -> Plan:
    start, end = years[0], years[-1]
    base = round(rng.uniform(4.5, 9.0), 1)  # dropout rate
    final = round(base - rng.uniform(1.5, 3.0), 1)
    return Plan(
        hallazgo={"fuente": Fuente.INTERNA.value, "area": "Permanencia escolar",
                  "grado": "Todos", "anio": str(start - 1), "valor": f"{base:g}",
                  "valor_unidad": ValorUnidad.PORCENTAJE.value,
                  "comparacion": Comparacion.MUNICIPAL.value,
                  "comparacion_valor": f"{round(base - rng.uniform(1.0, 2.5), 1):g}",
                  "descripcion": f"La deserción escolar fue del {base:g} % según el SIMAT, "
                                 "mayor que el promedio municipal; se concentra en extraedad "
                                 "y en familias que llegaron este año."},
        objetivo="Mejorar la permanencia escolar con una ruta de alertas tempranas y el "
                 "acompañamiento de las familias.",
        meta={"tipo_meta": MetaTipo.REDUCIR_A.value, "cantidad": f"{final:g}", "unidad": "%",
              "linea_base": f"{base:g}", "fecha_limite": date(end, 12, 10).isoformat(),
              "enunciado": f"Reducir al {final:g} % la deserción escolar a diciembre de "
                           f"{end}."},
        indicadores=[
            {"tipo_indicador": "resultado", "nombre": "Tasa de deserción escolar",
             "formula": "Estudiantes retirados sin traslado / estudiantes matriculados × 100",
             "unidad": "%", "frecuencia": "Anual", "fuente": "SIMAT",
             "linea_base": f"{base:g}", **_steps(base, final, years)},
        ],
        actividades=[
            _activity("Alertas tempranas de inasistencia con llamada a la familia al tercer "
                      "día de ausencia.", "Directores de grupo y orientación escolar",
                      date(start, 2, 1), date(end, 11, 30),
                      "Registro diario de asistencia, línea telefónica institucional.",
                      rng.randrange(500_000, 1_500_000, 250_000),
                      "Fondo de Servicios Educativos",
                      [Trayectoria.EXTRAEDAD, Trayectoria.MIGRANTES]),
            _activity("Escuela de familias por periodo sobre acompañamiento escolar, con "
                      "sesiones en la sede rural.", "Orientación escolar",
                      date(start, 3, 1), date(end, 10, 31),
                      "Refrigerios, transporte a la sede rural.",
                      rng.randrange(1_000_000, 2_500_000, 250_000),
                      "Sistema General de Participaciones (calidad)", [Trayectoria.RURAL]),
        ])


PLANS: dict[str, Callable[[random.Random, list[int]], Plan]] = {
    "DIR": _directiva, "ACA": _academica, "ADM": _administrativa, "COM": _comunidad}


def fill_school_pmi(session: Session, ruta: Ruta, *, actor: User,
                    complete: bool = True) -> None:
    """Write the Ruta's PMI from its own autoevaluación (the Ruta must be in
    ``autoevaluacion_enviada``); a draft (``complete=False``) stops after the first meta.
    Flushes."""
    rng = random.Random(f"pmi-{ruta.school.dane_code}")
    rules = rules_of(session, ruta)
    prioritise_the_rest(session, ruta, actor)
    prioritised = [o for o in classification_for(session, ruta).oportunidades
                   if o.score is not None][:rules.priority_count]
    by_area: dict[str, list[Rated]] = {}
    for oportunidad in prioritised:
        by_area.setdefault(oportunidad.item.area_code, []).append(oportunidad.item)
    worked = [code for code in by_area if code in PLANS][:2]
    deferred = [item for code, items in by_area.items() if code not in worked
                for item in items]
    if "ACA" not in worked:
        # The pruebas externas are always answered: by the weakest académica componente.
        academica = sorted((item for item in rated_items(session, ruta)
                            if item.area_code == "ACA" and item.level is not None),
                           key=lambda item: item.level or 0)
        by_area["ACA"] = academica[:1]
        worked.append("ACA")
    years = _years(ruta)

    def save(kind: str, **form: Any) -> Any:
        return pmi.save_element(session, ruta, kind, None, form, actor=actor)

    costs = 0
    for code in worked:
        plan = PLANS[code](rng, years)
        items = by_area[code]
        componentes = [str(item.componente_id) for item in items]
        hallazgo = save("hallazgo", componentes=componentes, **plan.hallazgo)
        strong = [item for item in items if item.level and rules.is_fortaleza(item.level)]
        reason = "" if not strong else (
            f"«{strong[0].code} {strong[0].name}» es una fortaleza, pero los resultados de "
            "las pruebas externas muestran que no llega al aula; el objetivo la aprovecha.")
        objetivo = save("objetivo", enunciado=plan.objetivo, componentes=componentes,
                        hallazgos=[str(hallazgo.id)], razon_fortaleza=reason)
        meta = save("meta", objetivo_id=str(objetivo.id), **plan.meta)
        if not complete:
            return
        for indicador in plan.indicadores:
            save("indicador", meta_id=str(meta.id), **indicador)
        for actividad in plan.actividades:
            save("actividad", meta_id=str(meta.id), **actividad)
            costs += int(actividad["costo"])
    for item in deferred:
        save("aplazamiento", componente_id=str(item.componente_id), razon=DEFERRAL)
    pmi.save_general(session, ruta, {
        # What the actividades cost and a reserve, rounded to the million.
        "presupuesto": str((costs // 1_000_000 + rng.randint(2, 5)) * 1_000_000),
        "divulgacion": DIVULGACION,
        "divulgacion_fecha": date(years[0], 2, 9).isoformat()}, actor=actor)


def revise_after_return(session: Session, ruta: Ruta, *, actor: User) -> None:
    """What a school changes after the demo return to the PMI (``demo.seed``'s observations):
    it adds the lectura crítica hallazgo of Saber 11 to its académica objective and says where
    the plan is socialised in each sede, so the two versions differ. Flushes."""
    view = pmi.load_plan(session, ruta)
    # The académica's objective: the one that answers the pruebas externas.
    objetivo = next((row for row in view.objetivos if "pruebas externas" in row.enunciado),
                    None)
    if objetivo is None:
        return
    rng = random.Random(f"revision-{ruta.school.dane_code}")
    low = rng.randint(30, 55)
    hallazgo = pmi.save_element(session, ruta, "hallazgo", None, {
        "fuente": Fuente.SABER_11.value, "area": "Lectura crítica", "grado": "11.°",
        "anio": str(ruta.horizon_start_year - 1), "valor": str(low),
        "valor_unidad": ValorUnidad.PORCENTAJE.value,
        "comparacion": Comparacion.NACIONAL.value,
        "comparacion_valor": str(low - rng.randint(5, 12)),
        "componentes": [str(item.id) for item in objetivo.componentes],
        "descripcion": f"El {low} % de los estudiantes de 11.° quedó en el nivel más bajo de "
                       "lectura crítica en Saber 11, por encima del promedio nacional; les "
                       "cuesta reconocer la intención y los argumentos de un texto."},
        actor=actor)
    pmi.save_element(session, ruta, "objetivo", objetivo.id, {
        "enunciado": objetivo.enunciado,
        "componentes": [str(item.id) for item in objetivo.componentes],
        "hallazgos": [str(item.id) for item in objetivo.hallazgos] + [str(hallazgo.id)],
        "razon_fortaleza": objetivo.razon_fortaleza or ""}, actor=actor)
    general = view.general
    pmi.save_general(session, ruta, {
        "presupuesto": "" if general is None or general.presupuesto is None
        else str(general.presupuesto),
        "divulgacion": DIVULGACION + " En cada sede, la primera semana institucional de cada "
                       "año, ante su consejo de docentes y las familias.",
        "divulgacion_fecha": date(ruta.horizon_start_year, 2, 9).isoformat()}, actor=actor)
