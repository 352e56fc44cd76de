"""Demo data for the end of a cycle: final evaluations, and a closed Ruta 2021–2023.

The first demo school walked the whole previous horizon: its Ruta 2021–2023 has a complete
autoevaluación (somewhat lower than today's, so the 2024–2026 perfil shows the change), a PMI
returned once with observations and then approved (reviews recorded before the rubric existed:
the consolidado counts the criteria of their observations), seguimiento, a registered final
evaluation (one meta reached, one not) and the closing by the Secretaría. Its Ruta 2024–2026
continues it (``previous_ruta_id``). Everything goes through the real services with dates in
2021–2023, so the history reads as it happened.
Each piece draws from its own random generator, so the rest of the demo is unchanged.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from demo.autoevaluacion import fill_demo_autoevaluacion, school_team_account
from demo.pmi_escuela import fill_school_pmi
from demo.rubric import APPROVAL_RUBRIC, RETURN_RUBRIC
from workflow.autoevaluacion import actions as auto_actions
from workflow.autoevaluacion.models import IdentityReview
from workflow.autoevaluacion.perfil import rated_items
from workflow.autoevaluacion.ratings import RatingInput, save_proceso
from workflow.catalogo.catalog import rules_for
from workflow.cierre import actions as cierre_actions
from workflow.cierre import evaluacion_final as final
from workflow.cierre.models import Verdict
from workflow.horizontes import opening
from workflow.models import Ruta, School, User
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.pmi.coherence import final_value
from workflow.pmi.models import Meta, RubricVerdict
from workflow.roles import Role
from workflow.seguimiento import actions as seguimiento_actions
from workflow.states import ReturnTarget

PREVIOUS_START = 2021

LESSONS = (
    "Las metas con seguimiento por periodo (reprobación) avanzaron; las que dependen de una "
    "prueba anual (Saber 11) necesitan acciones desde 9.° y no solo en 11.°. Los talleres "
    "funcionaron en la jornada de la mañana; en la tarde faltó tiempo institucional. En la "
    "próxima Ruta: metas intermedias por año, responsables por sede y un banco de preguntas "
    "compartido entre áreas."
)
COMMUNICATION = (
    "Asamblea general de padres y madres, sesión del Consejo Directivo y publicación del "
    "resumen de resultados en la cartelera y la página web de la institución."
)

# The 2021 return: (element, criterion of Circular 0488, observation, the school's answer).
PREVIOUS_RETURN = [
    ("plan", 7, "El PMI no retoma los resultados de Saber 11 de 2020 en lectura crítica.",
     "Agregamos el hallazgo de lectura crítica y lo articulamos con el objetivo académico."),
    ("plan", 4, "Las metas del objetivo de convivencia no tienen línea base.",
     "Tomamos como línea base los casos tipo II registrados en 2020."),
    ("plan", 7, "Falta el análisis de la prueba Saber 9.° de 2017 en matemáticas.",
     "Incluimos el análisis por competencias de Saber 9.° en el diagnóstico."),
]


def _return_once_in_2021(session: Session, ruta: Ruta, *, rector: User,
                         reviewer: User) -> None:
    """The 2021 plan went back once with itemized observations, was answered and sent again,
    and was taken for review again. Flushes."""
    for element, criterion, text, _ in PREVIOUS_RETURN:
        review.add_observation(session, ruta, reviewer=reviewer, element=element,
                               criterion=criterion, text=text,
                               now=datetime(2021, 3, 16, 14, 0, tzinfo=UTC))
    pmi_actions.return_with_observations(
        session, ruta, reviewer=reviewer, expected_version=ruta.version,
        now=datetime(2021, 3, 17, 15, 0, tzinfo=UTC), target=ReturnTarget.PMI,
        observations="Revise las observaciones y envíe de nuevo el plan.",
        rubric=RETURN_RUBRIC)
    answers = {text: answer for _, _, text, answer in PREVIOUS_RETURN}
    for row in review.unanswered(session, ruta):
        review.answer(session, ruta, row.id, actor=rector, response=answers[row.text],
                      now=datetime(2021, 3, 19, 16, 0, tzinfo=UTC))
    pmi_actions.submit_pmi(session, ruta, actor=rector, expected_version=ruta.version,
                           now=datetime(2021, 3, 22, 15, 30, tzinfo=UTC))
    pmi_actions.take_for_review(session, ruta, reviewer=reviewer, expected_version=ruta.version,
                                now=datetime(2021, 3, 23, 13, 0, tzinfo=UTC))
    for row in review.open_observations(session, ruta):
        review.judge(session, ruta, row.id, reviewer=reviewer, resolved=True,
                     now=datetime(2021, 3, 25, 13, 0, tzinfo=UTC))


# Per meta, in the plan's order: (verdict, share of the way from línea base to the meta).
PREVIOUS_RESULTS = [(Verdict.NO_ALCANZADA, 0.3), (Verdict.ALCANZADA, 1.1)]
CURRENT_RESULTS = [(Verdict.PARCIAL, 0.7), (Verdict.ALCANZADA, 1.0)]


def _reached(meta: Meta, share: float) -> float | None:
    """The value reached: ``share`` of the way from the línea base to the meta's final value
    (for «aumentar en» and «reducir en» the cantidad is the change, not the final value)."""
    final = final_value({"tipo": meta.tipo.value if meta.tipo else None,
                         "cantidad": meta.cantidad, "linea_base": meta.linea_base})
    if final is None or meta.linea_base is None:
        return meta.cantidad
    return round(meta.linea_base + (final - meta.linea_base) * share, 1)


def record_demo_final_evaluation(session: Session, ruta: Ruta, *, rector: User,
                                 now: datetime, results: list[tuple[Verdict, float]]
                                 | None = None, register: bool = True) -> None:
    """Fill the Ruta's final evaluation (it must be in seguimiento, recording open) and mark
    it registrada. Flushes."""
    results = results or CURRENT_RESULTS
    view = final.load(session, ruta, now=now)
    form: dict[str, str] = {
        "lecciones": LESSONS, "comunicacion_medio": COMMUNICATION,
        "comunicacion_fecha": (now - timedelta(days=3)).astimezone(UTC).date().isoformat()}
    for index, row in enumerate(view.metas):
        verdict, share = results[index % len(results)]
        value = _reached(row.meta, share)
        form[final.verdict_field(row.meta.id)] = verdict.value
        form[final.value_field(row.meta.id)] = "" if value is None else str(value)
        form[final.comment_field(row.meta.id)] = {
            Verdict.ALCANZADA: "Se cumplió con las comisiones por periodo y los planes "
                               "de apoyo.",
            Verdict.PARCIAL: "Avanzó, pero no llegó a la meta: los talleres empezaron "
                             "tarde en la jornada de la tarde.",
            Verdict.NO_ALCANZADA: "La rotación docente en matemáticas interrumpió los "
                                  "talleres durante un año."}[verdict]
        for indicator in row.indicadores:
            form[final.indicator_field(indicator.indicador.id)] = form[
                final.value_field(row.meta.id)]
    final.save(session, ruta, form, actor=rector, now=now)
    if register:
        final.register(session, ruta, actor=rector, now=now + timedelta(days=2))


def _lower_some_levels(session: Session, ruta: Ruta, *, actor: User, now: datetime,
                       rng: random.Random) -> None:
    """Make the earlier autoevaluación plausibly weaker: about half the componentes one level
    lower, a few one higher (the comparison then shows ↑, ↓ and =)."""
    catalog = ruta.catalog  # type: ignore[attr-defined]
    rules = rules_for(session, ruta.school.secretaria_id)
    items = {item.componente_id: item for item in rated_items(session, ruta)}
    for area in catalog.areas:
        for proceso in area.procesos:
            entries: dict[int, RatingInput] = {}
            for componente in proceso.componentes:
                item = items[componente.id]
                if item.level is None:
                    continue
                draw = rng.random()
                level = max(1, item.level - 1) if draw < 0.5 else (
                    min(4, item.level + 1) if draw > 0.9 else item.level)
                evidence = item.evidence
                if rules.needs_evidence(level) and not evidence.strip():
                    evidence = "Actas del Consejo Académico de 2020."
                entries[componente.id] = RatingInput(str(level), evidence, item.comments)
            save_proceso(session, ruta, proceso, entries, actor=actor, now=now)


def seed_previous_cycle(session: Session, school: School, *, admin: User,
                        reviewer: User) -> Ruta:
    """Walk ``school``'s Ruta 2021–2023 from opening to closing and link its Ruta 2024–2026
    to it. Flushes."""
    rng = random.Random(f"cierre-{school.dane_code}")
    rector = session.scalar(select(User).where(User.school_id == school.id,
                                               User.role == Role.RECTOR, User.active))
    team_user = school_team_account(session, school.id)
    assert rector is not None, "the demo school has a rector"
    opened_at = datetime(PREVIOUS_START, 1, 12, 14, 0, tzinfo=UTC)
    ruta = opening.open_ruta(session, school, actor=admin, start_year=PREVIOUS_START,
                             years=3, now=opened_at)
    fill_demo_autoevaluacion(session, ruta, rector=rector, team_user=team_user, complete=True,
                             start=opened_at)
    _lower_some_levels(session, ruta, actor=rector, now=opened_at + timedelta(days=20),
                       rng=rng)
    identity = session.get(IdentityReview, ruta.id)
    if identity is not None:
        identity.notes = ("La visión debe precisar metas medibles y alinearse con el horizonte "
                          "de la Ruta 2021–2023; la misión y los principios siguen vigentes.")
    auto_actions.submit_self_assessment(session, ruta, actor=rector, expected_version=ruta.version,
                                        now=datetime(2021, 2, 19, 16, 0, tzinfo=UTC))
    fill_school_pmi(session, ruta, actor=rector)
    pmi_actions.submit_pmi(session, ruta, actor=rector, expected_version=ruta.version,
                           now=datetime(2021, 3, 10, 15, 30, tzinfo=UTC))
    pmi_actions.take_for_review(session, ruta, reviewer=reviewer, expected_version=ruta.version,
                                now=datetime(2021, 3, 15, 13, 0, tzinfo=UTC))
    _return_once_in_2021(session, ruta, rector=rector, reviewer=reviewer)
    pmi_actions.approve(session, ruta, reviewer=reviewer, expected_version=ruta.version,
                        now=datetime(2021, 3, 26, 20, 0, tzinfo=UTC),
                        observations="Plan coherente con la autoevaluación; metas medibles.",
                        rubric=APPROVAL_RUBRIC)
    # The rubric arrived with the 2024–2026 horizon: the 2021 reviews were recorded with their
    # itemized observations only, as a Secretaría that moved its history here would have them.
    session.execute(delete(RubricVerdict).where(RubricVerdict.ruta_id == ruta.id))
    seguimiento_actions.start_follow_up(session, ruta, actor=None, expected_version=ruta.version,
                                        now=datetime(2021, 4, 5, 10, 0, tzinfo=UTC))
    record_demo_final_evaluation(session, ruta, rector=rector,
                                 now=datetime(2023, 11, 17, 15, 0, tzinfo=UTC),
                                 results=PREVIOUS_RESULTS)
    cierre_actions.close(session, ruta, reviewer=reviewer, expected_version=ruta.version,
                         now=datetime(2023, 11, 28, 16, 0, tzinfo=UTC),
                         observations="Evaluación final revisada. Resultados comunicados a la "
                                      "comunidad educativa.")
    current = session.scalar(select(Ruta).where(Ruta.school_id == school.id,
                                                Ruta.horizon_start_year == PREVIOUS_START + 3))
    if current is not None:
        current.previous_ruta_id = ruta.id
    session.flush()
    return ruta
