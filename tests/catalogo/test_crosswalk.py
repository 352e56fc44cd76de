"""Crosswalks between instrument versions: the shipped file, loading, and the perfil's
comparison of a Ruta with a previous one on another version (issue 13: 2026 «Consejo
directivo» was compared with 2008 «Liderazgo» because both are DIR.2.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow.autoevaluacion.models import Valoracion
from workflow.autoevaluacion.perfil import compare_rutas, perfil_for
from workflow.catalogo.catalog import SHIPPED_DIR, load_shipped_catalogs
from workflow.catalogo.crosswalk import (
    CrosswalkProblems,
    crosswalk_between,
    crosswalks_for,
    equivalence_between,
    load_crosswalk,
    parse_crosswalk,
    shipped_files,
)
from workflow.catalogo.files import parse_catalog
from workflow.catalogo.models import Catalog, Crosswalk, CrosswalkEntry
from workflow.errors import Forbidden
from workflow.models import Ruta, School
from workflow.roles import Role
from workflow.states import State

SHIPPED = SHIPPED_DIR / "crosswalk-guia34-2008-guia34-2026.json"


def codes_of(name: str) -> list[str]:
    spec = parse_catalog((SHIPPED_DIR / name).read_bytes())
    return [componente.code for area in spec.areas for proceso in area.procesos
            for componente in proceso.componentes]


def shipped_data() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def with_entries(change: dict[str, str | None] | None = None, *, drop: str | None = None,
                 **top: Any) -> str:
    """The shipped crosswalk with some entries changed or dropped, as file text."""
    data = shipped_data()
    entries = [{"source": item["source"],
                "target": (change or {}).get(item["source"], item["target"])}
               for item in data["componentes"] if item["source"] != drop]
    return json.dumps({**data, "componentes": entries, **top}, ensure_ascii=False)


def count(db: Session, model: type[Any]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- the shipped crosswalk (no database) ----------------------------------------------------


def test_shipped_crosswalk_covers_every_2008_componente_once_and_names_only_2026_ones() -> None:
    spec = parse_crosswalk(SHIPPED.read_bytes())
    assert (spec.source, spec.target) == ("guia34-2008", "guia34-2026")
    assert [code for code, _ in spec.entries] == codes_of("guia34-2008.json")
    targets = set(codes_of("guia34-2026.json"))
    assert {equivalent for _, equivalent in spec.entries} - {None} <= targets
    assert sum(1 for _, equivalent in spec.entries if equivalent is None) == 15
    assert "por su sentido, no por su código" in spec.note
    assert [path.name for path in shipped_files()] == [SHIPPED.name]


def test_shipped_crosswalk_matches_by_meaning_not_by_code() -> None:
    mapping = dict(parse_crosswalk(SHIPPED.read_bytes()).entries)
    assert mapping["DIR.2.1"] == "DIR.1.3"  # Liderazgo → Liderazgo y articulación
    assert mapping["DIR.3.1"] == "DIR.2.1"  # Consejo directivo → Consejo directivo
    assert mapping["DIR.3.3"] is None  # Comisión de evaluación y promoción: none in 2026


@pytest.mark.parametrize(("content", "message"), [
    ("", "El archivo está vacío."),
    ('{"source": "guia34-2008",\n "target": }',
     "Línea 2: El archivo no es JSON válido en la columna 12: se esperaba un valor (¿sobra "
     "una coma antes de «]»?)."),
    ("[]", "El archivo debe ser un objeto JSON con «source», «target», «title» y "
           "«componentes»."),
    ('{"source": "guia34-2008", "target": "guia34-2008", "title": "T", "componentes": '
     '[{"source": "DIR.1.1", "target": null}]}',
     "La versión de origen y la de destino son la misma («guia34-2008»): una tabla de "
     "equivalencias une dos versiones distintas."),
    ('{"source": "a-1", "target": "b-2", "title": "T", "componentes": [{"source": "DIR.1.1"}]}',
     "Elemento 1 de «componentes» (DIR.1.1): falta «target», el código del componente "
     "equivalente, o null si no tiene equivalente."),
    ('{"source": "a-1", "target": "b-2", "title": "T", "componentes": ['
     '{"source": "DIR.1.1", "target": "DIR.1.1"}, {"source": "DIR.1.1", "target": null}]}',
     "El componente «DIR.1.1» está dos veces (elementos 1 y 2): cada componente de la versión "
     "de origen va una sola vez."),
])
def test_malformed_crosswalk_files_are_refused_with_a_spanish_reason(content: str,
                                                                     message: str) -> None:
    with pytest.raises(CrosswalkProblems) as refused:
        parse_crosswalk(content.encode())
    assert [str(problem) for problem in refused.value.problems] == [message]
    assert refused.value.message.endswith("No se guardó nada.")


# --- loading ------------------------------------------------------------------------------


def test_shipped_crosswalk_is_loaded_with_the_shipped_catalogs_once(db: Session) -> None:
    load_shipped_catalogs(db)
    load_shipped_catalogs(db)
    stored = db.scalars(select(Crosswalk)).one()
    assert (stored.label, stored.secretaria_id, stored.source) == (
        "guia34-2008 → guia34-2026", None, SHIPPED.name)
    assert len(stored.entries) == 93
    pairs = {entry.source_componente.code: entry.target_componente.name
             if entry.target_componente else None for entry in stored.entries}
    assert pairs["DIR.3.1"] == "Consejo directivo"
    assert pairs["DIR.2.1"] == "Liderazgo y articulación institucional"
    assert pairs["DIR.2.5"] is None


@pytest.mark.parametrize(("content", "messages"), [
    (with_entries(source="guia34-1994"),
     ["No existe el catálogo «guia34-1994» (la versión de origen). Cárguelo primero o corrija "
      "«source»/«target»."]),
    (with_entries({"DIR.2.1": "DIR.9.9"}),
     ["El componente «DIR.9.9» (equivalente de «DIR.2.1») no existe en la versión de destino "
      "«guia34-2026»."]),
    (with_entries({"DIR.2.1": "DIR.2.1"}).replace('"source": "DIR.2.2"', '"source": "DIR.2.9"'),
     ["El componente «DIR.2.9» no existe en la versión de origen «guia34-2008».",
      "Falta el componente «DIR.2.2 Articulación de planes, proyectos y acciones» de "
      "«guia34-2008»: cada componente de la versión de origen debe aparecer, con su "
      "equivalente o con null («sin equivalente»)."]),
    (with_entries(drop="COM.4.3"),
     ["Falta el componente «COM.4.3 Programas de seguridad» de «guia34-2008»: cada "
      "componente de la versión de origen debe aparecer, con su equivalente o con null («sin "
      "equivalente»)."]),
])
def test_a_bad_crosswalk_says_what_is_wrong_and_leaves_the_stored_one_alone(
        db: Session, make: Factory, content: str, messages: list[str]) -> None:
    secretaria = make.secretaria()
    load_shipped_catalogs(db)
    own = load_crosswalk(db, with_entries({"DIR.2.1": None}), source="propia.json",
                         secretaria_id=secretaria.id)
    db.commit()
    with pytest.raises(CrosswalkProblems) as refused:
        load_crosswalk(db, content, source="mala.json", secretaria_id=secretaria.id)
    db.rollback()
    assert [str(problem) for problem in refused.value.problems] == messages
    assert (count(db, Crosswalk), count(db, CrosswalkEntry)) == (2, 186)
    assert db.scalars(select(Crosswalk).where(
        Crosswalk.secretaria_id == secretaria.id)).one().id == own.id


def test_loading_again_replaces_the_secretarias_own_and_leaves_the_shared_one(
        db: Session, make: Factory) -> None:
    ibague = make.secretaria()
    other = make.secretaria("Secretaría de Educación del Tolima", "73000")
    load_shipped_catalogs(db)
    first = load_crosswalk(db, with_entries({"DIR.2.1": None}), source="v1.json",
                           secretaria_id=ibague.id)
    db.commit()
    second = load_crosswalk(db, with_entries({"DIR.2.1": "DIR.2.1"}), source="v2.json",
                            secretaria_id=ibague.id)
    db.commit()
    own = db.scalars(select(Crosswalk).where(Crosswalk.secretaria_id == ibague.id)).all()
    assert [item.source for item in own] == ["v2.json"]
    assert (first.source, second.source) == ("v1.json", "v2.json")
    assert {entry.source_componente.code: entry.target_componente_id
            for entry in own[0].entries}["DIR.2.1"] is not None
    assert (count(db, Crosswalk), count(db, CrosswalkEntry)) == (2, 186)
    source, target = (db.scalars(select(Catalog).where(Catalog.slug == slug)).one()
                      for slug in ("guia34-2008", "guia34-2026"))
    assert crosswalk_between(db, source, target, ibague.id).source == "v2.json"
    assert crosswalk_between(db, source, target, other.id).source == SHIPPED.name
    assert [(item.source, answers) for item, answers in crosswalks_for(db, ibague.id)] == [
        (SHIPPED.name, False), ("v2.json", True)]
    assert [(item.source, answers) for item, answers in crosswalks_for(db, other.id)] == [
        (SHIPPED.name, True)]


def test_only_the_administracion_loads_a_crosswalk_and_only_for_its_secretaria(
        db: Session, make: Factory) -> None:
    load_shipped_catalogs(db)
    with pytest.raises(Forbidden):
        load_crosswalk(db, SHIPPED.read_bytes(), source="x.json",
                       actor=make.user(Role.REVISOR))
    admin = make.user(Role.ADMINISTRADOR)
    loaded = load_crosswalk(db, SHIPPED.read_bytes(), source="x.json", actor=admin,
                            secretaria_id=None)
    assert (loaded.secretaria_id, loaded.loaded_by_id) == (admin.secretaria_id, admin.id)


def test_cli_loads_a_secretarias_crosswalk_and_refuses_a_bad_one(
        app: Flask, db: Session, make: Factory, tmp_path: Path) -> None:
    secretaria = make.secretaria()
    load_shipped_catalogs(db)
    db.commit()
    runner = app.test_cli_runner()
    bad = tmp_path / "mala.json"
    bad.write_text(with_entries({"ACA.1.1": "ACA.7.7"}), encoding="utf-8")
    refused = runner.invoke(args=["catalog", "crosswalks", "load", str(bad), "--secretaria",
                                  str(secretaria.id)])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        "El componente «ACA.7.7» (equivalente de «ACA.1.1») no existe en la versión de destino "
        "«guia34-2026».",
        "La tabla de equivalencias no se cargó: tiene 1 problema. No se guardó nada."]
    assert count(db, Crosswalk) == 1
    good = tmp_path / "ibague.json"
    good.write_text(with_entries({"DIR.2.1": None}), encoding="utf-8")
    loaded = runner.invoke(args=["catalog", "crosswalks", "load", str(good), "--secretaria",
                                 str(secretaria.id)])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output == ("Tabla de equivalencias cargada: guia34-2008 → guia34-2026 "
                             "(93 componentes, 16 sin equivalente) para Secretaría de "
                             "Educación de Ibagué.\n")
    unknown = runner.invoke(args=["catalog", "crosswalks", "load", str(good), "--secretaria",
                                  "999"])
    assert (unknown.exit_code, unknown.output) == (
        1, "No hay ninguna Secretaría con el id o el nombre «999».\n")
    listed = runner.invoke(args=["catalog", "crosswalks", "list"]).output.splitlines()
    assert len(listed) == 3 and listed[-1] == "2 tabla(s) de equivalencias."
    assert "[Secretaría de Educación de Ibagué]  ibague.json" in listed[1]


# --- the perfil across versions -------------------------------------------------------------


def two_cycles(db: Session, make: Factory, *, earlier: dict[str, int],
               later: dict[str, int], default: int = 2) -> tuple[Ruta, Ruta]:
    """A closed Ruta on the 2008 version and the next one on 2026, rated as given (every
    other componente at ``default``)."""
    guia_2008, guia_2026 = load_shipped_catalogs(db)
    school: School = make.school()
    before = Ruta(school=school, horizon_start_year=2024, horizon_end_year=2026,
                  state=State.CERRADO, catalog_id=guia_2008.id)
    db.add(before)
    db.flush()
    after = Ruta(school=school, horizon_start_year=2027, horizon_end_year=2029,
                 state=State.BORRADOR, catalog_id=guia_2026.id, previous_ruta_id=before.id)
    db.add(after)
    db.flush()
    for ruta, catalog, levels in ((before, guia_2008, earlier), (after, guia_2026, later)):
        for componente in catalog.componentes:
            db.add(Valoracion(ruta_id=ruta.id, componente_id=componente.id,
                              level=levels.get(componente.code, default), evidence="Acta."))
    db.flush()
    db.expire_all()
    return before, after


def changes(perfil: Any) -> dict[str, Any]:
    return {item.code: item for item in perfil.componentes}


def test_perfil_across_versions_compares_only_through_the_crosswalk(
        db: Session, make: Factory) -> None:
    # The issue: 2008 DIR.2.1 «Liderazgo» at 1 and 2026 DIR.2.1 «Consejo directivo» at 4 read
    # as «Subió». The 2026 consejo directivo is the 2008 one (DIR.3.1), also at 4: «Igual».
    before, after = two_cycles(db, make, earlier={"DIR.2.1": 1, "DIR.3.1": 4},
                               later={"DIR.2.1": 4})
    perfil, found = perfil_for(db, after)
    assert found.id == before.id
    by_code = changes(perfil)
    consejo = by_code["DIR.2.1"]
    assert (consejo.previous, consejo.level, consejo.trend.label) == (4, 4, "Igual")
    assert consejo.sources == (("DIR.3.1", "Consejo directivo"),)
    # Liderazgo (1) and Articulación (2) merged into «Liderazgo y articulación» (2): 1,5 → 2.
    merged = by_code["DIR.1.3"]
    assert (merged.previous, merged.previous_is_average, merged.trend.label) == (1.5, True,
                                                                               "Subió")
    # No 2008 componente answers for these two 2026 ones.
    assert [(code, item.trend.label) for code, item in by_code.items()
            if not item.comparable] == [("DIR.1.1", "No comparable"),
                                        ("COM.1.1", "No comparable")]
    assert (perfil.count("up"), perfil.count("down"), perfil.count("same"),
            perfil.count("none")) == (1, 0, 42, 2)
    assert perfil.equivalence.found and perfil.equivalence.reason == ""
    # Áreas compare by code; procesos only within one version.
    assert [area.trend.label for area in perfil.areas] == ["Subió", "Igual", "Igual", "Igual"]
    assert all(proceso.previous is None for area in perfil.areas for proceso in area.procesos)


def test_without_a_crosswalk_no_componente_is_comparable_and_the_reason_is_given(
        db: Session, make: Factory) -> None:
    before, after = two_cycles(db, make, earlier={}, later={"DIR.2.1": 4})
    db.query(CrosswalkEntry).delete()
    db.query(Crosswalk).delete()
    perfil = compare_rutas(db, after, before)
    assert {item.trend.key for item in perfil.componentes} == {"none"}
    assert (perfil.count("up"), perfil.count("none")) == (0, 45)
    assert perfil.equivalence.reason == (
        "No hay una tabla de equivalencias entre guia34-2008 y guia34-2026: ningún componente "
        "se puede comparar con la Ruta anterior.")
    # The áreas are still the same áreas.
    assert [area.comparable for area in perfil.areas] == [True] * 4


def test_a_secretarias_own_crosswalk_answers_for_its_rutas(db: Session,
                                                           make: Factory) -> None:
    before, after = two_cycles(db, make, earlier={"DIR.3.1": 1}, later={"DIR.2.1": 4})
    load_crosswalk(db, with_entries({"DIR.3.1": None}), source="propia.json",
                   secretaria_id=after.school.secretaria_id)
    consejo = changes(compare_rutas(db, after, before))["DIR.2.1"]
    assert (consejo.comparable, consejo.trend.label) == (False, "No comparable")


def test_same_version_compares_by_identity_without_a_crosswalk(db: Session,
                                                               make: Factory) -> None:
    guia_2008, _ = load_shipped_catalogs(db)
    assert equivalence_between(db, guia_2008, guia_2008, None) is None
    school = make.school()
    rutas = [Ruta(school=school, horizon_start_year=start, horizon_end_year=start + 2,
                  state=state, catalog_id=guia_2008.id)
             for start, state in ((2021, State.CERRADO), (2024, State.BORRADOR))]
    db.add_all(rutas)
    db.flush()
    for ruta, level in zip(rutas, (1, 3), strict=True):
        db.add(Valoracion(ruta_id=ruta.id, componente_id=next(
            item.id for item in guia_2008.componentes if item.code == "DIR.2.1"), level=level))
    db.flush()
    perfil = compare_rutas(db, rutas[1], rutas[0])
    liderazgo = changes(perfil)["DIR.2.1"]
    assert (liderazgo.previous, liderazgo.level, liderazgo.trend.label, liderazgo.renamed) == (
        1, 3, "Subió", False)
    assert perfil.equivalence is None and perfil.count("none") == 0
    assert perfil.areas[0].procesos[1].previous == 1.0
