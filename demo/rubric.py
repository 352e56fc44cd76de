"""The rubrics the demo's revisores record: a return that judges honestly, and approvals.

Every return and approval carries a verdict per criterion of Circular 0488 (and divulgación);
the demo's returned plans show a filled rubric beside their itemized observations.
"""

from __future__ import annotations

from workflow.pmi.rubric import RawRubric

# A return to the PMI: what the itemized observations say, judged criterion by criterion.
RETURN_RUBRIC: RawRubric = {
    1: ("cumple", ""),
    2: ("cumple", ""),
    3: ("cumple", ""),
    4: ("cumple", ""),
    5: ("cumple_parcialmente", "El cronograma no dice cuándo ni ante quién se socializa el "
                               "plan en cada sede."),
    6: ("cumple", ""),
    7: ("no_cumple", "Faltan las debilidades de lectura crítica de Saber 11 que la "
                     "autoevaluación identificó."),
    8: ("cumple_parcialmente", "Las actividades no nombran la oferta para estudiantes "
                               "migrantes ni los modelos flexibles de la institución."),
    0: ("cumple_parcialmente", "Precise la fecha y los medios de divulgación a la "
                               "comunidad educativa."),
}

# A return to the autoevaluación: the plan cannot be judged on valoraciones without evidence.
RETURN_TO_SELF_ASSESSMENT_RUBRIC: RawRubric = {
    **{criterion: ("cumple", "") for criterion in (2, 3, 4, 5, 6, 7, 8, 0)},
    1: ("no_cumple", "Las valoraciones de la gestión académica no tienen evidencias: el "
                     "plan no se puede contrastar con la autoevaluación."),
}

# An approval: every obligatory criterion met; the recommendation judged on its own.
APPROVAL_RUBRIC: RawRubric = {
    **{criterion: ("cumple", "") for criterion in (1, 2, 3, 4, 5, 6, 7, 0)},
    8: ("cumple_parcialmente", "Conviene articular las actividades con la oferta de "
                               "educación para jóvenes y adultos (CLEI) del municipio."),
}
