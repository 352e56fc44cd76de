"""Plausible autoevaluaciones for the demo, written through the real services.

Each school gets its own random generator (seeded by its DANE code), so adding this to the
demo changes none of the names or dates the rest of the demo draws.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import Estamento
from workflow.autoevaluacion.perfil import PriorityInput, classification_for, save_priorities
from workflow.autoevaluacion.ratings import RatingInput, save_proceso
from workflow.autoevaluacion.team import IdentityData, MemberData, add_member, save_identity
from workflow.catalogo.catalog import rules_for
from workflow.catalogo.models import Catalog
from workflow.models import Ruta, User
from workflow.roles import Role

AREA_BASE = {"DIR": 2.7, "ACA": 2.5, "ADM": 2.8, "COM": 2.2}

EVIDENCE = {
    "DIR": [
        "Acta {n} de {year} del Consejo Directivo, con la revisión del PEI.",
        "PEI actualizado y socializado en la jornada pedagógica de enero de {year} "
        "(lista de asistencia y presentación).",
        "Encuesta de clima escolar aplicada a {m} estudiantes y {k} familias; informe de "
        "resultados.",
        "Plan operativo anual con responsables y seguimiento trimestral.",
        "Cronograma y actas del gobierno escolar; elección de personería y consejo estudiantil.",
        "Manual de convivencia ajustado a la Ley 1620, adoptado por el Acuerdo {n} de {year}.",
    ],
    "ACA": [
        "Plan de estudios por áreas articulado con los DBA, aprobado en el acta {n} del Consejo "
        "Académico.",
        "Análisis institucional de los resultados Saber 11 de {year} por competencias.",
        "Registros del SIEE por período y actas de las comisiones de evaluación y promoción.",
        "Formatos de planeación de clase revisados por coordinación académica.",
        "Plan de apoyo pedagógico para estudiantes con desempeño bajo, con seguimiento.",
        "Observación de aula entre pares: {k} docentes observados este año.",
    ],
    "ADM": [
        "Inventario actualizado de la planta física y de la dotación ({year}).",
        "Ejecución presupuestal del Fondo de Servicios Educativos publicada en la cartelera.",
        "Proceso de matrícula documentado en el SIMAT, con cronograma y responsables.",
        "Plan de mantenimiento con registro de las reparaciones hechas en {year}.",
        "Evaluación de desempeño docente y plan de formación acordado con la Secretaría.",
        "Rendición de cuentas a la comunidad en asamblea del {day} de noviembre.",
    ],
    "COM": [
        "Actas de la escuela de familias: {k} encuentros este año.",
        "Registro de casos y seguimiento del Comité Escolar de Convivencia.",
        "Caracterización de estudiantes con discapacidad y plan individual de ajustes (PIAR).",
        "Convenio con la junta de acción comunal para el uso de la cancha y el aula múltiple.",
        "Plan escolar de gestión del riesgo con simulacro de evacuación en {year}.",
        "Servicio social estudiantil con proyecto comunitario documentado.",
    ],
}

COMMENTS = [
    "Falta sistematizar el seguimiento: se hace, pero no queda registro.",
    "Se aplica en la jornada de la mañana; en la tarde todavía no.",
    "La sede rural no tiene conectividad, lo que limita esta práctica.",
    "Se debe socializar mejor con las familias.",
    "Buen avance frente al año anterior.",
    "Depende de pocas personas; hay que institucionalizarlo.",
]

TEAM = [  # (name, e-mail local part, estamento, área codes)
    ("Coordinación académica", "coordinacion", Estamento.DIRECTIVO, ["DIR", "ACA"]),
    ("Representante de las familias", "familias", Estamento.PADRE_MADRE, ["COM"]),
    ("Personería estudiantil", "personeria", Estamento.ESTUDIANTE, ["COM"]),
    ("Pagaduría", "pagaduria", Estamento.ADMINISTRATIVO, ["ADM"]),
]
FIRST = ["Marleny", "Wilson", "Yaneth", "Fredy", "Lorena", "Nelson", "Deisy", "Rubén"]
LAST = ["Bocanegra", "Lozano", "Montealegre", "Quiroga", "Barragán", "Perdomo", "Yate", "Oyola"]



def school_team_account(session: Session, school_id: int) -> User | None:
    """The school's own «equipo» account of the seed (``equipoNN``): the first one made.
    Adding the demo team creates an account for each member too, so «any equipo account of
    the school» is one of those on PostgreSQL now and then (no order without ORDER BY), and
    its member would be added twice."""
    return session.scalar(select(User).where(User.school_id == school_id,
                                             User.role == Role.EQUIPO)
                          .order_by(User.id).limit(1))

def fill_demo_autoevaluacion(session: Session, ruta: Ruta, *, rector: User,
                             team_user: User | None, complete: bool,
                             start: datetime) -> None:
    """Fill the Ruta's autoevaluación: all of it when ``complete``, about half otherwise."""
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    if catalog is None:
        return
    rng = random.Random(f"autoevaluacion-{ruta.school.dane_code}")
    moment = start

    def later() -> datetime:
        nonlocal moment
        moment = moment + timedelta(hours=rng.randint(1, 8))
        return moment

    areas = {area.code: area for area in catalog.areas}
    domain = rector.email.split("@")[1]
    number = rector.email.split("@")[0].removeprefix("rector")
    members: dict[str, User] = {}
    if team_user is not None:
        # The school's team account works on the académica and the comunidad.
        add_member(session, ruta, MemberData(
            name=team_user.name, email=team_user.email, estamento=Estamento.DOCENTE.value,
            area_ids=[str(areas[code].id) for code in ("ACA", "COM") if code in areas]),
            actor=rector, now=later(), invite=False)
        members = {code: team_user for code in ("ACA", "COM")}
    for label, local, estamento, codes in TEAM:
        add_member(session, ruta, MemberData(
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)} ({label.lower()})",
            email=f"{local}{number}@{domain}", estamento=estamento.value,
            area_ids=[str(areas[code].id) for code in codes if code in areas]),
            actor=rector, now=later(), invite=False)

    school = ruta.school.name
    save_identity(session, ruta, IdentityData(
        mision=f"La {school} forma niños, niñas, adolescentes y jóvenes críticos, "
               "responsables y solidarios, con una educación inclusiva de calidad que les "
               "permita construir su proyecto de vida y transformar su entorno.",
        vision="En 2030 seremos reconocidos en Ibagué por la calidad de nuestros procesos "
               "pedagógicos, la convivencia pacífica y el compromiso con el cuidado del "
               "ambiente.",
        principios="Respeto por la diferencia, responsabilidad, honestidad, solidaridad y "
                   "cuidado de la vida y del entorno." if complete else "",
        pei_reference=f"PEI adoptado por el Acuerdo {rng.randint(1, 9):02d} de "
                      f"{rng.choice([2017, 2019, 2021])} del Consejo Directivo; última "
                      "actualización en 2023." if complete else "",
        mision_vigencia="vigente" if complete else "",
        vision_vigencia="ajustar" if complete else "",
        principios_vigencia="vigente" if complete else "",
        notes="La visión debe precisar metas medibles y alinearse con el horizonte de la "
              "Ruta 2024–2026; la misión y los principios siguen vigentes." if complete else "",
    ), actor=rector, now=later())

    rules = rules_for(session, ruta.school.secretaria_id)
    bias = rng.uniform(-0.5, 0.5)
    componentes = catalog.componentes
    to_rate = len(componentes) if complete else (len(componentes) + 1) // 2
    rated = 0
    for area in catalog.areas:
        base = AREA_BASE.get(area.code, 2.5) + bias
        evidence = EVIDENCE.get(area.code, EVIDENCE["DIR"])
        for proceso in area.procesos:
            entries: dict[int, RatingInput] = {}
            for componente in proceso.componentes:
                if rated >= to_rate:
                    break
                rated += 1
                level = min(4, max(1, round(base + rng.gauss(0, 0.75))))
                text = ""
                if rules.needs_evidence(level) or rng.random() < 0.4:
                    text = rng.choice(evidence).format(
                        n=rng.randint(2, 14), year=rng.choice([2022, 2023]),
                        m=rng.randint(120, 600), k=rng.randint(4, 25), day=rng.randint(2, 28))
                comment = rng.choice(COMMENTS) if rng.random() < 0.25 else ""
                entries[componente.id] = RatingInput(str(level), text, comment)
            if entries:
                actor = members.get(area.code, rector)
                save_proceso(session, ruta, proceso, entries, actor=actor, now=later())

    if complete:
        # Every oportunidad weighed, as the PMI requires before it is sent.
        oportunidades = classification_for(session, ruta).oportunidades
        save_priorities(session, ruta, {
            item.item.componente_id: PriorityInput(
                str(rng.randint(1, 5)), str(rng.randint(1, 5)), str(rng.randint(1, 5)))
            for item in oportunidades}, actor=rector, now=later())
