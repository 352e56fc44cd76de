"""A realistic PMI for a demo Ruta, written through the real services (so it is validated).

A complete plan is complete and consistent for review: its metas are the kind a school in
Ibagué would set (raise the share of grade 11 students above the minimum level in Saber 11
mathematics, lower failure rates in 6.° to 9.°), with typed metas, one result indicator each,
hallazgos with their data and every oportunidad prioritised. A draft stops halfway and fails
some rules, to show the report.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from workflow.autoevaluacion.perfil import PriorityInput, classification_for, save_priorities
from workflow.catalogo.catalog import rules_of
from workflow.models import Ruta, User
from workflow.pmi import plan as pmi
from workflow.pmi.models import Comparacion, Fuente, MetaTipo, Trayectoria, ValorUnidad


def prioritise_the_rest(session: Session, ruta: Ruta, actor: User) -> None:
    """Every oportunidad is prioritised before the PMI is sent (the ``checks`` rule): the ones
    a test's autoevaluación left unweighed get a low priority, through the real service (it is
    open while the PMI is formulated)."""
    missing = {item.item.componente_id: PriorityInput("1", "1", "1")
               for item in classification_for(session, ruta).oportunidades
               if item.score is None}
    if missing:
        save_priorities(session, ruta, missing, actor=actor)


def fill_demo_pmi(session: Session, ruta: Ruta, *, actor: User, complete: bool = True) -> None:
    """Write the Ruta's PMI (the Ruta must be in ``autoevaluacion_enviada``). Flushes."""
    start, end = ruta.horizon_start_year, ruta.horizon_end_year
    middle = min(start + 1, end)
    prioritise_the_rest(session, ruta, actor)
    oportunidades = [o.item.componente_id
                     for o in classification_for(session, ruta).oportunidades]
    first, rest = oportunidades[:1], oportunidades[1:rules_of(session, ruta).priority_count]
    pointed = first or [ruta.catalog.componentes[0].id]  # type: ignore[attr-defined]

    def save(kind: str, **form: Any) -> Any:
        return pmi.save_element(session, ruta, kind, None, form, actor=actor)

    saber = save("hallazgo", fuente=Fuente.SABER_11.value, area="Matemáticas",
                 grado="11.°", anio=str(start - 1), valor="68",
                 valor_unidad=ValorUnidad.PORCENTAJE.value,
                 comparacion=Comparacion.MUNICIPAL.value, comparacion_valor="52",
                 componentes=[str(c) for c in pointed],
                 descripcion="El 68 % de los estudiantes quedó en el nivel 1 "
                 "(insuficiente) de matemáticas; la mayor debilidad está en el razonamiento "
                 "cuantitativo y la resolución de problemas.")
    objetivo = save("objetivo", enunciado="Mejorar los desempeños en matemáticas de los "
                    "estudiantes de la media, con énfasis en el razonamiento cuantitativo.",
                    componentes=[str(c) for c in first], hallazgos=[str(saber.id)])
    meta = save("meta", objetivo_id=str(objetivo.id), tipo_meta=MetaTipo.ALCANZAR.value,
                enunciado=f"Aumentar al 45 % la proporción de estudiantes de 11.° por encima "
                          f"del nivel mínimo en matemáticas de Saber 11 a noviembre de {end}.",
                cantidad="45", unidad="%", fecha_limite=date(end, 11, 30).isoformat(),
                linea_base="32")
    if not complete:
        return
    save("indicador", meta_id=str(meta.id), tipo_indicador="resultado",
         nombre="Porcentaje de estudiantes de 11.° en los niveles 2, 3 y 4 de matemáticas",
         formula="Estudiantes de 11.° en los niveles 2 a 4 de matemáticas / estudiantes de "
                 "11.° evaluados × 100",
         unidad="%", frecuencia="Anual", fuente="Resultados de Saber 11 (ICFES)",
         linea_base="32", **_rising(start, end, 32, 45))
    save("actividad", meta_id=str(meta.id),
         descripcion="Talleres semanales de resolución de problemas con preguntas tipo Saber "
                     "para 10.° y 11.°.",
         responsable="Jefatura del área de matemáticas",
         fecha_inicio=date(start, 2, 5).isoformat(), fecha_fin=date(end, 10, 30).isoformat(),
         recursos="Banco de preguntas, fotocopias, sala de informática.",
         costo="4500000", fuente_financiacion="Fondo de Servicios Educativos",
         trayectorias=[])
    save("actividad", meta_id=str(meta.id),
         descripcion="Nivelación en matemáticas para estudiantes en extraedad y estudiantes "
                     "migrantes que ingresan a la media.",
         responsable="Coordinación académica",
         fecha_inicio=date(start, 3, 1).isoformat(), fecha_fin=date(end, 9, 30).isoformat(),
         recursos="Docente de apoyo, guías de aprendizaje flexibles.",
         costo="6000000", fuente_financiacion="Sistema General de Participaciones (calidad)",
         trayectorias=[Trayectoria.EXTRAEDAD.value, Trayectoria.MIGRANTES.value])

    interna = save("hallazgo", fuente=Fuente.INTERNA.value, area="Lenguaje y matemáticas",
                   grado="6.° a 9.°", anio=str(start - 1), valor="14",
                   valor_unidad=ValorUnidad.PORCENTAJE.value,
                   comparacion=Comparacion.ANIO_ANTERIOR.value, comparacion_valor="11",
                   componentes=[str(c) for c in (rest or pointed)],
                   descripcion="La reprobación del año en lenguaje y "
                   "matemáticas de 6.° a 9.° fue del 14 %, concentrada en el primer periodo.")
    second = save("objetivo", enunciado="Fortalecer el seguimiento académico y la evaluación "
                  "formativa en la básica secundaria.",
                  componentes=[str(c) for c in rest or first], hallazgos=[str(interna.id)])
    meta_two = save("meta", objetivo_id=str(second.id), tipo_meta=MetaTipo.REDUCIR_A.value,
                    enunciado=f"Reducir al 8 % la reprobación de lenguaje y matemáticas de 6.° "
                              f"a 9.° a diciembre de {middle}.",
                    cantidad="8", unidad="%", fecha_limite=date(middle, 12, 10).isoformat(),
                    linea_base="14")
    targets = {start: "11", middle: "8"}
    save("indicador", meta_id=str(meta_two.id), tipo_indicador="resultado",
         nombre="Tasa de reprobación en lenguaje y matemáticas de 6.° a 9.°",
         formula="Estudiantes de 6.° a 9.° que reprueban lenguaje o matemáticas / "
                 "estudiantes matriculados de 6.° a 9.° × 100",
         unidad="%", frecuencia="Por periodo académico",
         fuente="Sistema de información académica (SIMAT y boletines)", linea_base="14",
         **{f"meta_{year}": value for year, value in targets.items()})
    save("actividad", meta_id=str(meta_two.id),
         descripcion="Comisiones de evaluación y promoción por periodo con planes de apoyo "
                     "para cada estudiante en riesgo.",
         responsable="Coordinación académica y directores de grupo",
         fecha_inicio=date(start, 2, 15).isoformat(),
         fecha_fin=date(middle, 11, 30).isoformat(),
         recursos="Tiempo institucional de las comisiones, formato de plan de apoyo.",
         costo="0", fuente_financiacion="Recursos propios (tiempo docente)",
         trayectorias=[Trayectoria.INCLUSION.value, Trayectoria.DISCAPACIDAD.value])
    pmi.save_general(session, ruta, {
        "presupuesto": "18000000",
        "divulgacion": "Socialización en la primera semana institucional, en el Consejo "
                       "Directivo, en la asamblea general de padres y madres, y publicación "
                       "en la cartelera y la página web de la institución.",
        "divulgacion_fecha": date(start, 2, 9).isoformat()}, actor=actor)


def _rising(start: int, end: int, base: int, target: int) -> dict[str, str]:
    """Yearly targets from the línea base to the meta, the last one exactly the meta."""
    years = end - start + 1
    return {f"meta_{start + index}": str(round(base + (target - base) * (index + 1) / years))
            for index in range(years)}
