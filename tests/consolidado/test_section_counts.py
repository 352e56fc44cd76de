"""The plan sections and the municipal perfil read from the per-comuna sums
(workflow.consolidado.section_counts, section_read) say exactly what the functions over the
raw rows say, on the demo, after a series of changes of every kind the sums depend on, on
both backends: a change the refresh missed fails here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tests.consolidado.test_aggregates import perfil_shape
from tests.demo_copy import load_demo
from workflow.autoevaluacion.models import Valoracion
from workflow.cierre.models import FinalEvaluation
from workflow.consolidado import section_counts, section_read, summary
from workflow.consolidado.consolidate import Filters, consolidate
from workflow.consolidado.models import RutaAggregate, RutaSectionCount, SectionSum
from workflow.consolidado.rubric import rubric_shares
from workflow.consolidado.secciones import secciones
from workflow.models import Ruta, RutaTransition, School, User, Zona
from workflow.pmi.models import Hallazgo, Meta, Objetivo, Observation, RubricVerdict, Verdict
from workflow.roles import Role
from workflow.states import State, Trigger

STALLED_DAYS = 30


def _tallies(items: Any) -> list[tuple[Any, ...]]:
    return [tuple(vars(item).values()) for item in items]


def _by_round(shares: Any, plans: Any) -> list[Any]:
    return [(number, plans(number), _tallies(shares.overall(number)),
             [(zona, _tallies(tallies)) for zona, tallies in shares.zonas(number)],
             [(zona, comuna, _tallies(tallies))
              for zona, comuna, tallies in shares.comunas(number)])
            for number in shares.rounds]


def shape(rubric: Any, sections: Any, metas: Any) -> dict[str, Any]:
    """Every figure the page shows of the plan sections, as plain values."""
    cuts, chosen, results = sections.hallazgos, sections.componentes, sections.resultados
    return {
        "hallazgos": (
            [(item.label, item.external, item.hallazgos, item.schools) for item in cuts.fuentes],
            [(item.label, item.hallazgos, item.schools) for item in cuts.grados],
            [(item.label, item.hallazgos, item.schools) for item in cuts.areas],
            cuts.hallazgos, cuts.schools, cuts.plans),
        "componentes": ([(item.code, item.name, item.area_name, item.schools, item.objetivos,
                          item.prioritised) for item in chosen.componentes], chosen.plans),
        "rubric": _by_round(rubric, rubric.plans),
        "observed": _by_round(sections.observed, sections.observed.count),
        "resultados": (
            [(area.name, area.alcanzadas, area.parciales, area.no_alcanzadas, area.metas,
              area.schools) for area in results.areas],
            dict(results.totals), results.metas, results.expected, results.registered,
            results.writing, results.not_begun, results.lecciones_hidden,
            [(item.school.name, item.ruta_id, item.state, item.registered_at, item.text)
             for item in results.lecciones_on_page]),
        "metas": (metas.metas, metas.schools, metas.plans, [
            (area.name, area.metas, area.schools, area.unidades, [
                (item.code, item.name, item.metas, item.schools, item.hidden,
                 [tuple(vars(sample).values()) for sample in item.samples])
                for item in area.componentes]) for area in metas.areas]),
    }


def assert_sums_match_the_rows(db: Session, admin: User) -> None:
    db.expire_all()
    now = datetime.now(UTC)
    # The whole Secretaría, a zona and a comuna: the three levels the sums are kept at (the
    # school that moves below leaves one zona and comuna for the others).
    for filters in (Filters(), Filters(Zona.RURAL), Filters(None, "Comuna 7")):
        full = consolidate(db, admin, filters, now=now, stalled_days=STALLED_DAYS)
        data = summary.summarize(db, admin, filters, now=now, stalled_days=STALLED_DAYS)
        assert data.scope is not None
        read = section_read.sections(db, data.scope, data.funnel)
        expected = shape(rubric_shares(db, full), secciones(db, full), full.metas_por_area)
        assert shape(read["rubric"], read["secciones"], read["metas_por_area"]) == expected
        assert (perfil_shape(data.perfil), data.perfil_schools, data.low_rated) == (
            perfil_shape(full.perfil), full.perfil_schools, full.low_rated)
    # What the changes added up to equals the sums computed again from the per-Ruta rows.
    kept = _sums(db)
    section_counts.rebuild_sums(db)
    assert _sums(db) == kept
    db.rollback()


def _sums(db: Session) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in db.execute(select(
        SectionSum.secretaria_id, SectionSum.horizon_start_year, SectionSum.zona,
        SectionSum.comuna, SectionSum.section, SectionSum.key, SectionSum.rutas, SectionSum.a,
        SectionSum.b, SectionSum.c, SectionSum.d).order_by(
        SectionSum.secretaria_id, SectionSum.horizon_start_year, SectionSum.zona,
        SectionSum.comuna, SectionSum.section, SectionSum.key))]


def observed_rounds(db: Session, ruta_id: int) -> int:
    """How many decisions of the Ruta its counts of the criteria observed hold."""
    return sum(db.scalars(select(RutaSectionCount.a).where(
        RutaSectionCount.ruta_id == ruta_id, RutaSectionCount.section == "observed.plans")))


def test_sections_from_the_sums_match_the_raw_rows_after_each_change(
        app: Flask, db: Session) -> None:
    load_demo(db)
    admin = db.scalars(select(User).where(User.role == Role.ADMINISTRADOR)).first()
    assert admin is not None
    # The demo has something in every section: a test of empty sums would prove nothing.
    assert {"perfil", "fuente", "componente", "metas.componente", "rubric", "observed.plans",
            "final.area"} <= set(db.scalars(select(SectionSum.section).distinct()))
    assert_sums_match_the_rows(db, admin)

    def first(statement: Any) -> Any:
        found = db.scalars(statement.limit(1)).first()
        assert found is not None
        return found

    # A valoración rated again, a hallazgo respelled and moved to another source.
    valoracion = first(select(Valoracion).where(Valoracion.level == 3).order_by(Valoracion.id))
    valoracion.level = 1
    hallazgo = first(select(Hallazgo).order_by(Hallazgo.id))
    hallazgo.grado, hallazgo.fuente = "  QUINTO  ", "otra_externa"
    db.commit()
    assert_sums_match_the_rows(db, admin)

    # A meta more, another moved to a different objetivo with a new unidad, an objetivo's
    # componentes changed, a rubric verdict changed.
    meta = first(select(Meta).order_by(Meta.id.desc()))
    db.add(Meta(ruta_id=meta.ruta_id, objetivo_id=meta.objetivo_id, enunciado="Otra meta.",
                cantidad=2, unidad="Talleres"))
    other = first(select(Objetivo).where(Objetivo.ruta_id == meta.ruta_id,
                                         Objetivo.id != meta.objetivo_id))
    moved = first(select(Meta).where(Meta.objetivo_id != other.id,
                                     Meta.ruta_id == meta.ruta_id).order_by(Meta.id))
    moved.objetivo_id, moved.unidad = other.id, "  Actas de  reunión "
    objetivo = first(select(Objetivo).where(Objetivo.componentes.any()).order_by(Objetivo.id))
    objetivo.componentes = objetivo.componentes[1:]
    verdict = first(select(RubricVerdict).where(RubricVerdict.verdict == Verdict.CUMPLE)
                    .order_by(RubricVerdict.id))
    verdict.verdict, verdict.note = Verdict.NO_CUMPLE, "Falta la línea base de la meta."
    db.commit()
    assert_sums_match_the_rows(db, admin)

    # An observation about another criterion, a final evaluation back to being written.
    observation = first(select(Observation).where(Observation.returned_at.is_not(None))
                        .order_by(Observation.id))
    observation.criterion = 8 if observation.criterion != 8 else 1
    evaluation = first(select(FinalEvaluation).where(FinalEvaluation.registered_at.is_not(None)))
    evaluation.registered_at, evaluation.registered_by_id = None, None
    db.commit()
    assert_sums_match_the_rows(db, admin)

    # A school moves to another zona and comuna; another closes; a plan goes back to draft.
    schools = list(db.scalars(select(School).join(Ruta, Ruta.school_id == School.id)
                              .where(Ruta.state.in_([State.SEGUIMIENTO, State.CERRADO]))
                              .order_by(School.id)))
    assert len(schools) >= 2
    schools[0].zona = Zona.RURAL if schools[0].zona is Zona.URBANA else Zona.URBANA
    schools[0].locality = "Comuna 7"
    schools[1].active = False
    sent = first(select(Ruta).where(Ruta.state == State.APROBADO).order_by(Ruta.id))
    sent.state = State.AUTOEVALUACION_ENVIADA
    db.commit()
    assert_sums_match_the_rows(db, admin)

    # A transition inside the counted states (a seguimiento closed; the daily pass starting
    # one is another) recomputes no count; one that leaves them (a plan back to its
    # autoevaluación) or a Ruta moved to another horizon recomputes them all.
    started = first(select(Ruta).where(Ruta.state == State.SEGUIMIENTO).order_by(Ruta.id))
    started.state, started.version = State.CERRADO, started.version + 1
    assert section_counts.kinds_moved_by_ruta(started) == frozenset()
    db.commit()
    assert_sums_match_the_rows(db, admin)
    db.refresh(started)  # loaded again: its history starts from the stored state
    started.state = State.AUTOEVALUACION_ENVIADA
    assert section_counts.kinds_moved_by_ruta(started) == section_counts.EVERY_KIND
    db.commit()
    assert_sums_match_the_rows(db, admin)
    started.horizon_start_year += 30  # a horizon of its own: no other Ruta of the school
    started.horizon_end_year += 30
    assert section_counts.kinds_moved_by_ruta(started) == section_counts.EVERY_KIND
    db.commit()
    assert_sums_match_the_rows(db, admin)

    # Of the transitions written, only a decision on a plan moves a count (a round of the
    # criteria observed); a seguimiento started moves none.
    deciding = first(select(Ruta).join(School, School.id == Ruta.school_id)
                     .where(Ruta.state == State.SEGUIMIENTO, School.active.is_(True))
                     .order_by(Ruta.id))
    approval = RutaTransition(ruta_id=deciding.id, trigger=Trigger.APROBAR.value,
                              from_state=State.EN_REVISION, to_state=State.APROBADO)
    start = RutaTransition(ruta_id=deciding.id, trigger=Trigger.INICIAR_SEGUIMIENTO.value,
                           from_state=State.APROBADO, to_state=State.SEGUIMIENTO)
    assert section_counts.kinds_moved_by(approval) == {"observed"}
    assert section_counts.kinds_moved_by(start) == frozenset()
    rounds_before = observed_rounds(db, deciding.id)
    db.add_all([approval, start])
    db.commit()
    assert observed_rounds(db, deciding.id) == rounds_before + 1
    assert_sums_match_the_rows(db, admin)

    # Sums lost (or never written) come back whole from the daily job's rebuild.
    db.execute(delete(SectionSum))
    db.commit()
    section_counts.rebuild_sums(db)
    db.commit()
    assert_sums_match_the_rows(db, admin)

    # As after the upgrade that added them: no counts anywhere. A valoración saved computes
    # every kind of its Ruta's counts, not only the perfil; the page computes the others.
    db.execute(delete(RutaSectionCount))
    db.execute(delete(SectionSum))
    db.execute(update(RutaAggregate).values(sections_version=0))
    db.commit()
    valoracion = first(select(Valoracion).join(Ruta, Ruta.id == Valoracion.ruta_id)
                       .join(School, School.id == Ruta.school_id)
                       .where(Ruta.state == State.SEGUIMIENTO, School.active.is_(True),
                              Valoracion.level == 2).order_by(Valoracion.id))
    valoracion.level = 4
    db.commit()
    assert {"perfil", "componente", "rubric"} <= set(db.scalars(
        select(RutaSectionCount.section).where(RutaSectionCount.ruta_id
                                               == valoracion.ruta_id)))
    assert_sums_match_the_rows(db, admin)
