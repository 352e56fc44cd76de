"""The sections that feed the Secretaría's plan: hallazgos by cut, componentes worked on,
criteria observed in reviews without a rubric, final results and lessons; on a seeded set
whose answers are counted by hand in the docstrings, with another Secretaría that must never
count."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask, render_template
from sqlalchemy.orm import Session

from tests.conftest import Factory, WebClient
from workflow.autoevaluacion.models import Priorizacion
from workflow.catalogo.models import Catalog
from workflow.cierre.models import FinalEvaluation, MetaResult, Verdict
from workflow.consolidado.consolidate import Filters, consolidate
from workflow.consolidado.criteria_observed import ObservedTally
from workflow.consolidado.secciones import Secciones, secciones
from workflow.models import Ruta, RutaTransition, Secretaria, User, Zona
from workflow.observations import ObservationStatus
from workflow.pmi.models import (
    Decision,
    Hallazgo,
    Meta,
    Objetivo,
    Observation,
    PmiSnapshot,
    RubricVerdict,
)
from workflow.pmi.models import Verdict as RubricVerdictValue
from workflow.pmi.rubric import ORDER
from workflow.roles import Role
from workflow.states import State

NOW = datetime(2024, 9, 2, 15, 0, tzinfo=UTC)
T1 = datetime(2024, 4, 1, 15, 0, tzinfo=UTC)


@dataclass
class Seeded:
    admin: User
    rutas: dict[str, Ruta]


class Builder:
    """Plans, reviews and final evaluations of one Ruta, written directly."""

    def __init__(self, db: Session, catalog: Catalog, reviewer: User) -> None:
        self.db = db
        self.by_code = {componente.code: componente for componente in catalog.componentes}
        self.reviewer = reviewer

    def hallazgo(self, ruta: Ruta, fuente: str, grado: str, area: str) -> None:
        self.db.add(Hallazgo(ruta_id=ruta.id, fuente=fuente, grado=grado, area=area,
                             descripcion="Bajo desempeño."))

    def objetivo(self, ruta: Ruta, codes: list[str], verdicts: list[Verdict] = ()) -> None:
        row = Objetivo(ruta_id=ruta.id, enunciado="Mejorar.",
                       componentes=[self.by_code[code] for code in codes])
        self.db.add(row)
        self.db.flush()
        for verdict in verdicts:
            meta = Meta(ruta_id=ruta.id, objetivo_id=row.id, enunciado="Subir.", cantidad=1)
            self.db.add(meta)
            self.db.flush()
            self.db.add(MetaResult(ruta_id=ruta.id, meta_id=meta.id, verdict=verdict))

    def prioritise(self, ruta: Ruta, code: str) -> None:
        self.db.add(Priorizacion(ruta_id=ruta.id, componente_id=self.by_code[code].id,
                                 urgencia=5, tendencia=4, impacto=5))

    def final(self, ruta: Ruta, lessons: str, *, registered: bool) -> None:
        self.db.add(FinalEvaluation(
            ruta_id=ruta.id, lecciones=lessons,
            registered_at=NOW - timedelta(days=3) if registered else None,
            registered_by_id=self.reviewer.id if registered else None))

    def decision(self, ruta: Ruta, trigger: str, at: datetime, criteria: list[int], *,
                 rubric: bool = False, snapshot: int | None = None) -> None:
        extra = {}
        if snapshot is not None:
            row = PmiSnapshot(ruta_id=ruta.id, number=snapshot, content={})
            self.db.add(row)
            self.db.flush()
            extra = {"snapshot_id": row.id}
        entry = RutaTransition(ruta=ruta, trigger=trigger, from_state=State.EN_REVISION,
                               to_state=State.APROBADO if trigger == "aprobar"
                               else State.AUTOEVALUACION_ENVIADA,
                               actor_id=self.reviewer.id, at=at, extra=extra,
                               observations="Ver las observaciones.")
        self.db.add(entry)
        self.db.flush()
        for criterion in criteria:
            self.db.add(Observation(ruta_id=ruta.id, element="plan", element_label="El plan",
                                    criterion=criterion, text="Precísese.",
                                    status=ObservationStatus.ENVIADA, returned_at=at,
                                    author_id=self.reviewer.id))
        if rubric:
            for criterion in ORDER:
                self.db.add(RubricVerdict(
                    ruta_id=ruta.id, transition_id=entry.id, round=1,
                    decision=Decision.DEVUELTO, criterion=criterion,
                    verdict=RubricVerdictValue.CUMPLE, note="", author_id=self.reviewer.id,
                    decided_at=at))
        self.db.flush()


def populate(db: Session, make: Factory, secretaria: Secretaria, build: Builder,
             prefix: str = "") -> dict[str, Ruta]:
    """U1 aprobado (urbana, Comuna 1), U2 seguimiento (urbana, Comuna 2), R1 cerrado (rural),
    S3 seguimiento (rural), B autoevaluación enviada (urbana: a draft, never counted)."""
    places = {"U1": (Zona.URBANA, State.APROBADO), "U2": (Zona.URBANA, State.SEGUIMIENTO),
              "R1": (Zona.RURAL, State.CERRADO), "S3": (Zona.RURAL, State.SEGUIMIENTO),
              "B": (Zona.URBANA, State.AUTOEVALUACION_ENVIADA)}
    rutas = {}
    for key, (zona, state) in places.items():
        school = make.school(secretaria, name=f"{prefix}Institución {key}", zona=zona)
        if key == "U2":
            school.locality = "Comuna 2"
        rutas[key] = make.ruta(school, state)
    u1, u2, r1, s3, b = (rutas[key] for key in ("U1", "U2", "R1", "S3", "B"))
    build.hallazgo(u1, "saber_11", "11", "Matemáticas")
    build.hallazgo(u1, "interna", "", "Lectura crítica")
    build.hallazgo(u2, "saber_11", " 11 ", "matematicas")
    build.hallazgo(b, "saber_5", "5", "Ciencias")
    build.objetivo(u1, ["ACA.1.1", "ACA.1.2"])
    build.objetivo(u1, ["DIR.1.2"])
    build.objetivo(u2, ["ACA.1.1"], [Verdict.ALCANZADA, Verdict.PARCIAL])
    build.objetivo(r1, ["DIR.1.2"], [Verdict.NO_ALCANZADA])
    build.objetivo(r1, [], [Verdict.ALCANZADA])
    build.objetivo(s3, ["ACA.1.1"], [Verdict.ALCANZADA])  # being written: never counts
    build.objetivo(b, ["DIR.1.1"])
    build.prioritise(u1, "ACA.1.1")
    build.prioritise(u2, "DIR.2.1")  # weighed but not in the plan: not «priorizado» here
    build.prioritise(s3, "ACA.1.1")
    build.final(u2, "Las metas anuales ayudan.", registered=True)
    build.final(r1, "Faltó tiempo institucional.", registered=True)
    build.final(s3, "Borrador de lecciones.", registered=False)
    # U1: a return without rubric (criterion 3 twice, 7 once), then an approval without one.
    build.decision(u1, "devolver", T1, [3, 3, 7])
    build.decision(u1, "aprobar", T1 + timedelta(days=20), [])
    # U2: a return with a rubric: counted by the rubric, never here.
    build.decision(u2, "devolver", T1, [5], rubric=True)
    # R1: a return without rubric (criterion 3); a draft observation is not sent.
    build.decision(r1, "devolver", T1, [3])
    db.add(Observation(ruta_id=r1.id, element="plan", element_label="El plan", criterion=1,
                       text="Borrador.", author_id=build.reviewer.id))
    # S3: a return without rubric that judged version 2 of the plan (criterion 8).
    build.decision(s3, "devolver", T1, [8], snapshot=2)
    db.flush()
    return rutas


def seed(db: Session, make: Factory) -> Seeded:
    catalog = make.catalog()
    ibague = make.secretaria()
    reviewer = make.user(Role.REVISOR, secretaria=ibague)
    rutas = populate(db, make, ibague, Builder(db, catalog, reviewer))
    # Another Secretaría with the same data: a single row of it in any count is a leak.
    tolima = make.secretaria("Secretaría de Educación del Tolima", divipola="73")
    populate(db, make, tolima, Builder(db, catalog, make.user(Role.REVISOR, secretaria=tolima)),
             prefix="Tolima ")
    admin = make.user(Role.ADMINISTRADOR, secretaria=ibague)
    db.commit()
    return Seeded(admin, rutas)


def sections(db: Session, seeded: Seeded, filters: Filters | None = None) -> Secciones:
    data = consolidate(db, seeded.admin, filters or Filters(), now=NOW, stalled_days=30)
    return secciones(db, data)


def test_hallazgos_by_source_grade_and_area(db: Session, make: Factory) -> None:
    found = sections(db, seed(db, make)).hallazgos
    assert (found.hallazgos, found.schools, found.plans) == (3, 2, 4)
    assert [(item.label, item.external, item.hallazgos, item.schools)
            for item in found.fuentes] == [("Saber 11", True, 2, 2),
                                           ("Evaluación interna", False, 1, 1)]
    # « 11 » and «11» are one grade; «matematicas» and «Matemáticas» one área.
    assert [(item.label, item.hallazgos, item.schools) for item in found.grados] == [
        ("11", 2, 2), ("Sin grado", 1, 1)]
    assert [(item.label, item.hallazgos, item.schools) for item in found.areas] == [
        ("Matemáticas", 2, 2), ("Lectura crítica", 1, 1)]


def test_hallazgos_follow_the_zona_filter(db: Session, make: Factory) -> None:
    found = sections(db, seed(db, make), Filters(zona=Zona.RURAL)).hallazgos
    assert (found.hallazgos, found.schools, found.plans) == (0, 0, 2)
    assert found.fuentes == [] and found.grados == [] and found.areas == []


def test_componentes_most_worked_on(db: Session, make: Factory) -> None:
    chosen = sections(db, seed(db, make)).componentes
    assert chosen.plans == 4
    assert [(item.code, item.area_name, item.schools, item.objetivos, item.prioritised)
            for item in chosen.componentes] == [
        ("ACA.1.1", "Gestión académica", 3, 3, 2),
        ("DIR.1.2", "Gestión directiva", 2, 2, 0),
        ("ACA.1.2", "Gestión académica", 1, 1, 0)]


def test_componentes_of_rural_schools_in_the_order_of_the_instrument(
        db: Session, make: Factory) -> None:
    chosen = sections(db, seed(db, make), Filters(zona=Zona.RURAL)).componentes
    assert [(item.code, item.schools, item.prioritised) for item in chosen.componentes] == [
        ("DIR.1.2", 1, 0), ("ACA.1.1", 1, 1)]


def counts(tallies: list[ObservedTally]) -> dict[int, tuple[int, int, int]]:
    return {tally.criterion: (tally.plans, tally.observed, tally.observations)
            for tally in tallies if tally.observed}


def test_criteria_observed_for_decisions_without_rubric(db: Session, make: Factory) -> None:
    observed = sections(db, seed(db, make)).observed
    assert observed.rounds == [1, 2]
    # Round 1: U1's and R1's returns (U2's had a rubric). Round 2: U1's approval (2nd decision)
    # and S3's return of version 2.
    assert (observed.count(1), observed.count(2)) == (2, 2)
    assert counts(observed.overall(1)) == {3: (2, 2, 3), 7: (2, 1, 1)}
    assert counts(observed.overall(2)) == {8: (2, 1, 1)}
    assert observed.overall(1)[ORDER.index(3)].share == 1.0
    assert observed.overall(1)[ORDER.index(5)].observed == 0
    zonas = {zona: counts(tallies) for zona, tallies in observed.zonas(1)}
    assert zonas == {Zona.URBANA: {3: (1, 1, 2), 7: (1, 1, 1)}, Zona.RURAL: {3: (1, 1, 1)}}
    comunas = [(zona, comuna) for zona, comuna, _ in observed.comunas(2)]
    assert comunas == [(Zona.RURAL, "Corregimiento Juntas"), (Zona.URBANA, "Comuna 1")]


def test_final_results_per_area_and_lessons(db: Session, make: Factory) -> None:
    results = sections(db, seed(db, make)).resultados
    assert (results.expected, results.registered, results.writing, results.not_begun) == (
        3, 2, 1, 0)
    assert [(area.name, area.alcanzadas, area.parciales, area.no_alcanzadas, area.schools)
            for area in results.areas] == [
        ("Gestión directiva", 0, 0, 1, 1), ("Gestión académica", 1, 1, 0, 1),
        ("Sin componente asociado", 1, 0, 0, 1)]
    assert (results.totals[Verdict.ALCANZADA], results.totals[Verdict.PARCIAL],
            results.totals[Verdict.NO_ALCANZADA], results.metas) == (2, 1, 1, 4)
    assert [(item.school.name, item.text) for item in results.lecciones] == [
        ("Institución R1", "Faltó tiempo institucional."),
        ("Institución U2", "Las metas anuales ayudan.")]


def test_final_results_follow_the_comuna_filter(db: Session, make: Factory) -> None:
    results = sections(db, seed(db, make), Filters(comuna="Comuna 2")).resultados
    assert (results.expected, results.registered, results.metas) == (1, 1, 2)
    assert [item.school.name for item in results.lecciones] == ["Institución U2"]


def test_sections_are_empty_for_a_secretaria_without_data(db: Session, make: Factory) -> None:
    seed(db, make)
    lonely = make.secretaria("Secretaría de Educación de Neiva", divipola="41001")
    admin = make.user(Role.ADMINISTRADOR, secretaria=lonely)
    db.commit()
    found = secciones(db, consolidate(db, admin, Filters(), now=NOW, stalled_days=30))
    assert found.hallazgos.hallazgos == 0 and found.componentes.componentes == []
    assert found.observed.rounds == [] and found.resultados.metas == 0
    assert found.resultados.lecciones == []


def csv_rows(web: WebClient, sheet: str, **query: str) -> list[list[str]]:
    response = web.get("/reportes/consolidado.csv", query_string={"hoja": sheet, **query})
    assert response.status_code == 200
    text = response.get_data().decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_sheets_of_the_new_sections(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    assert csv_rows(web, "hallazgos-por-corte") == [
        ["Corte", "Valor", "Prueba externa", "Hallazgos", "Instituciones"],
        ["Fuente", "Saber 11", "Sí", "2", "2"], ["Fuente", "Evaluación interna", "No", "1", "1"],
        ["Grado", "11", "", "2", "2"], ["Grado", "Sin grado", "", "1", "1"],
        ["Área o competencia", "Matemáticas", "", "2", "2"],
        ["Área o competencia", "Lectura crítica", "", "1", "1"]]
    assert csv_rows(web, "componentes-trabajados")[1:] == [
        ["Gestión académica", "ACA.1.1", "Plan de estudios", "3", "3", "2"],
        ["Gestión directiva", "DIR.1.2", "Metas institucionales", "2", "2", "0"],
        ["Gestión académica", "ACA.1.2", "Evaluación", "1", "1", "0"]]
    results = csv_rows(web, "resultados-finales")
    assert results[0] == ["Área de gestión", "Metas alcanzadas", "Parcialmente alcanzadas",
                          "No alcanzadas", "Metas evaluadas", "Instituciones"]
    assert results[1:] == [["Gestión directiva", "0", "0", "1", "1", "1"],
                           ["Gestión académica", "1", "1", "0", "2", "1"],
                           ["Sin componente asociado", "1", "0", "0", "1", "1"],
                           ["Todas las áreas (cada meta una vez)", "2", "1", "1", "4", "2"]]
    lessons = csv_rows(web, "lecciones")
    assert [row[1] for row in lessons[1:]] == ["Institución R1", "Institución U2"]
    assert lessons[1][-1] == "Faltó tiempo institucional."
    observed = csv_rows(web, "criterios-observaciones")
    assert observed[0][-4:] == ["Planes valorados sin rúbrica",
                                "Planes con observaciones en el criterio",
                                "% con observaciones", "Observaciones"]
    first_round = {row[3]: row[6:] for row in observed[1:]
                   if row[:3] == ["1", "Todas", "Todas"]}
    assert len(first_round) == len(ORDER)
    assert ["2", "2", "100,0", "3"] in first_round.values()
    # Rural schools only: none of U1's or U2's rows.
    assert [row[1] for row in csv_rows(web, "lecciones", zona="rural")[1:]] == [
        "Institución R1"]


def test_page_shows_the_new_sections(web: WebClient, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    web.login(seeded.admin.email)
    page = web.get("/reportes/").get_data(as_text=True)
    for heading in ("Hallazgos de las instituciones", "Componentes que más trabajan los planes",
                    "Criterios con observaciones en revisiones sin rúbrica",
                    "Resultados finales del horizonte", "Lecciones aprendidas"):
        assert heading in page
    assert "3 hallazgos de 2 instituciones (4 planes enviados a la Secretaría)" in page
    assert ("Rutas que llegaron al seguimiento: 3. Con la evaluación final registrada: 2; "
            "preparándola: 1.") in page
    assert "Faltó tiempo institucional." in page
    assert "Borrador de lecciones." not in page  # not registered
    assert "Tolima" not in page
    assert "hoja=lecciones" in page


def test_partials_printable_have_no_links(app: Flask, db: Session, make: Factory) -> None:
    seeded = seed(db, make)
    found = sections(db, seeded)
    with app.test_request_context("/reportes/"):
        for name in ("_hallazgos", "_componentes", "_criterios_observaciones",
                     "_resultados_finales"):
            shown = render_template(f"reportes/{name}.html", secciones=found, query={},
                                    printable=False)
            printed = render_template(f"reportes/{name}.html", secciones=found, query={},
                                      printable=True)
            assert "<a " in shown, name
            assert "<a " not in printed and "<details" not in printed, name
            assert "<table" in printed, name
