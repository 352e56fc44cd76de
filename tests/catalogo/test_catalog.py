"""Catalogs of the autoevaluación: parsing with line numbers, versions, adaptation, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import MINI_CATALOG, Factory
from workflow.catalogo.catalog import (
    DEFAULT_CATALOG_SLUG,
    SHIPPED_DIR,
    Derivation,
    catalog_counts,
    current_catalog,
    derive_catalog,
    load_catalog,
    load_shipped_catalogs,
    rules_for,
    set_current_catalog,
    set_rules,
    shipped_files,
)
from workflow.catalogo.files import CatalogProblems, catalog_to_dict, parse_catalog
from workflow.catalogo.models import Catalog, CatalogComponente
from workflow.errors import Forbidden, InvalidInput, NotFound
from workflow.horizontes import opening
from workflow.roles import Role

SHIPPED_2008 = SHIPPED_DIR / "guia34-2008.json"


def problems_of(content: str | bytes) -> list[str]:
    with pytest.raises(CatalogProblems) as refused:
        parse_catalog(content)
    return [str(problem) for problem in refused.value.problems]


def line_of(text: str, content: str) -> int:
    """The number of the first line of ``text`` that is ``content`` once stripped."""
    return next(number for number, line in enumerate(text.splitlines(), start=1)
                if line.strip() == content)


def mini(**changes: Any) -> str:
    return json.dumps({**MINI_CATALOG, **changes}, ensure_ascii=False, indent=1)


# --- parsing (no database) ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "counts"), [
    ("guia34-2008.json", (4, 19, 93)),
    ("guia34-2026.json", (4, 15, 45)),
])
def test_shipped_catalogs_parse_with_their_official_counts(name: str,
                                                           counts: tuple[int, int, int]) -> None:
    spec = parse_catalog((SHIPPED_DIR / name).read_bytes())
    assert spec.counts == counts
    assert [area.code for area in spec.areas] == ["DIR", "ACA", "ADM", "COM"]
    assert [step["level"] for step in spec.scale] == [1, 2, 3, 4]


def test_shipped_catalogs_are_part_of_the_project() -> None:
    # The service must not read ../shared at run time.
    assert Path(__file__).resolve().parents[2] / "catalogs" == SHIPPED_DIR
    assert sorted(path.name for path in SHIPPED_DIR.glob("*.json")) == [
        "crosswalk-guia34-2008-guia34-2026.json", "guia34-2008.json", "guia34-2026.json"]
    assert [path.name for path in shipped_files()] == ["guia34-2008.json", "guia34-2026.json"]


def test_problems_carry_the_line_they_are_on() -> None:
    text = SHIPPED_2008.read_text(encoding="utf-8")
    broken = text.replace('"code": "DIR.1.2"', '"code": "DIR.1.1"', 1)
    broken = broken.replace('"level": 3,', '"level": 7,', 1)
    broken = broken.replace('"code": "ACA.2.1"', '"code": "ACB.2.1"', 1)
    duplicate_line = line_of(text, '"code": "DIR.1.2",')
    first_line = line_of(text, '"code": "DIR.1.1",')
    level_line = line_of(text, '"level": 3,')
    wrong_prefix_line = line_of(text, '"code": "ACA.2.1",')
    scale_line = line_of(text, '"scale": [')

    assert problems_of(broken) == [
        f"Línea {scale_line}: La escala debe describir los niveles 1 a 4: falta 3.",
        f"Línea {level_line}: La escala: «level» debe ser 1, 2, 3 o 4.",
        f"Línea {duplicate_line}: El código «DIR.1.1» está repetido (línea {first_line}).",
        f"Línea {wrong_prefix_line}: Componente: «code» debe ser «ACA.2.» seguido de un número "
        "o una sigla (por ejemplo «ACA.2.1»); llegó «ACB.2.1».",
    ]


def test_json_syntax_error_says_line_and_column_in_spanish() -> None:
    text = mini().replace('"year": 2024,', '"year": 2024', 1)
    line = line_of(text, '"year": 2024') + 1  # where the comma was expected
    assert problems_of(text) == [
        f"Línea {line}: El archivo no es JSON válido en la columna 2: falta una coma entre dos "
        "elementos."]


@pytest.mark.parametrize(("content", "expected"), [
    (b"", ["El archivo está vacío."]),
    ("[1, 2]", ["Línea 1: El archivo debe ser un objeto JSON con «id», «title», «year», "
                "«scale» y «areas»."]),
    (b"\xff\xfe{}", ["Línea 1: El archivo no está en UTF-8. Guárdelo como «UTF-8» e inténtelo "
                     "de nuevo."]),
    (b" " * 1_000_001, ["El archivo pesa más de 1 MB: no parece un catálogo de la Guía 34."]),
])
def test_unreadable_files_are_refused_clearly(content: str | bytes,
                                              expected: list[str]) -> None:
    assert problems_of(content) == expected


def test_missing_fields_are_each_reported() -> None:
    data = json.loads(mini())
    data["id"] = "Con Mayúsculas"
    data["year"] = 1800
    del data["title"]
    data["areas"][0]["procesos"][0]["componentes"] = []
    data["areas"][1]["procesos"][0]["componentes"][0]["name"] = "  "
    found = [problem.split(": ", 1)[1] for problem in problems_of(json.dumps(data, indent=1))]
    # In the order of the file: a missing key is reported on the line of its object.
    assert found == [
        "El catálogo: falta «title» (un texto).",
        "«id» debe ser el nombre de la versión en minúsculas, con números y guiones (por "
        "ejemplo «guia34-ibague-2025»).",
        "«year» debe ser un año entre 1990 y 2100.",
        "Proceso DIR.1: «componentes» debe ser una lista con al menos un elemento.",
        "Componente ACA.1.1: falta «name» (un texto).",
    ]


def test_catalog_round_trips_through_its_file_format(db: Session, make: Factory) -> None:
    catalog = make.catalog()
    assert catalog_to_dict(catalog) == MINI_CATALOG


# --- storing versions ---------------------------------------------------------------------


def test_load_shipped_catalogs_once(db: Session) -> None:
    first = load_shipped_catalogs(db)
    again = load_shipped_catalogs(db)
    assert [catalog.slug for catalog in first] == ["guia34-2008", "guia34-2026"]
    assert again == []
    assert catalog_counts(db, [catalog.id for catalog in first]) == {
        first[0].id: (4, 19, 93), first[1].id: (4, 15, 45)}
    componente = db.scalar(select(CatalogComponente).where(
        CatalogComponente.catalog_id == first[0].id, CatalogComponente.code == "DIR.1.2"))
    assert (componente.proceso.code, componente.proceso.area.code) == ("DIR.1", "DIR")


def test_a_version_is_never_replaced(db: Session, make: Factory) -> None:
    make.catalog()
    with pytest.raises(CatalogProblems) as refused:
        load_catalog(db, mini(), source="otra.json")
    assert [str(problem) for problem in refused.value.problems] == [
        "Ya existe un catálogo con el identificador «prueba-mini». Una versión nunca se "
        "reemplaza: use otro «id»."]
    assert db.scalar(select(func.count()).select_from(Catalog)) == 1


def test_administrator_loads_a_catalog_for_their_secretaria_only(db: Session,
                                                                 make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    loaded = load_catalog(db, mini(id="ibague-2025"), source="ibague.json", actor=admin)
    assert (loaded.secretaria_id, loaded.source) == (admin.secretaria_id, "ibague.json")
    tolima = make.secretaria("Secretaría de Educación del Tolima", "73")
    other_admin = make.user(Role.ADMINISTRADOR, secretaria=tolima)
    with pytest.raises(NotFound):
        set_current_catalog(db, loaded, actor=other_admin)


def test_only_administrators_load_catalogs(db: Session, make: Factory) -> None:
    with pytest.raises(Forbidden):
        load_catalog(db, mini(id="otra"), source="x.json", actor=make.user(Role.REVISOR))


def test_derived_version_renames_adds_and_removes_componentes(db: Session,
                                                              make: Factory) -> None:
    source = make.catalog()
    admin = make.user(Role.ADMINISTRADOR)
    derived = derive_catalog(db, source, Derivation(
        slug="prueba-ibague", title="Instrumento de Ibagué",
        renames={"ACA.1.2": "Sistema institucional de evaluación (SIEE)"},
        removals={"DIR.1.2"}, additions=[("ACA.1", "ACA.1.3", "Proyectos transversales")]),
        actor=admin)

    assert [(c.code, c.name) for c in derived.componentes] == [
        ("DIR.1.1", "Misión, visión y principios"), ("DIR.2.1", "Consejo directivo"),
        ("ACA.1.1", "Plan de estudios"), ("ACA.1.2", "Sistema institucional de evaluación (SIEE)"),
        ("ACA.1.3", "Proyectos transversales")]
    assert (derived.derived_from_id, derived.secretaria_id) == (source.id, admin.secretaria_id)
    # The source version is untouched.
    assert [c.code for c in source.componentes] == [
        "DIR.1.1", "DIR.1.2", "DIR.2.1", "ACA.1.1", "ACA.1.2"]


def test_derivation_with_mistakes_stores_nothing(db: Session, make: Factory) -> None:
    source = make.catalog()
    with pytest.raises(CatalogProblems) as refused:
        derive_catalog(db, source, Derivation(
            slug="prueba-mala", title="Mala", removals={"DIR.2.1", "XYZ.9.9"},
            additions=[("ACA.9", "ACA.9.1", "Nuevo"), ("ACA.1", "ACA.1.1", "Repetido")]),
            actor=make.user(Role.ADMINISTRADOR))
    assert [str(problem) for problem in refused.value.problems] == [
        "El componente «XYZ.9.9» no existe en «prueba-mini».",
        "El proceso «ACA.9» no existe en «prueba-mini».",
        "Proceso DIR.2: «componentes» debe ser una lista con al menos un elemento.",
        "El código «ACA.1.1» está repetido.",
    ]
    assert db.scalar(select(func.count()).select_from(Catalog)) == 1


# --- the Secretaría's current catalog and rules -------------------------------------------


def test_default_current_catalog_is_the_guia_of_2008(db: Session, make: Factory) -> None:
    secretaria = make.secretaria()
    assert current_catalog(db, secretaria.id) is None
    load_shipped_catalogs(db)
    assert current_catalog(db, secretaria.id).slug == DEFAULT_CATALOG_SLUG


def test_open_ruta_pins_the_horizons_catalog_and_a_change_of_current_leaves_it_alone(
        db: Session, make: Factory) -> None:
    """Switching the current instrument (to prepare the next cycle) never changes what the
    running horizon shows: its Rutas, even those opened later, keep the horizon's version;
    a horizon opened afterwards takes the new one."""
    first, update = load_shipped_catalogs(db)
    admin = make.user(Role.ADMINISTRADOR)
    early = opening.open_ruta(db, make.school(), actor=admin)
    set_current_catalog(db, update, actor=admin)
    late = opening.open_ruta(db, make.school(), actor=admin)
    following = opening.open_ruta(db, make.school(), actor=admin, start_year=2027)
    db.commit()
    db.expire_all()
    assert (early.catalog_id, late.catalog_id, following.catalog_id) == (
        first.id, first.id, update.id)
    assert early.version == 1  # pinning is part of opening, not a later change


def test_rules_default_and_change(db: Session, make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    default = rules_for(db, admin.secretaria_id)
    assert (default.evidence_from_level, default.fortaleza_from_level) == (3, 3)
    assert default.evidence_label == "Los niveles 3 y 4 exigen evidencia."
    assert default.cutoff_label == ("Oportunidad de mejoramiento: niveles 1 y 2. Fortaleza: "
                                    "niveles 3 y 4.")
    changed, stored = set_rules(db, actor=admin, evidence_from_level="2",
                                fortaleza_from_level="4")
    assert stored and changed.number == 1
    assert rules_for(db, admin.secretaria_id) == changed
    assert changed.evidence_label == "Los niveles 2, 3 y 4 exigen evidencia."
    assert changed.cutoff_label == ("Oportunidad de mejoramiento: niveles 1 a 3. Fortaleza: "
                                    "nivel 4.")
    assert set_rules(db, actor=admin, evidence_from_level="4",
                     fortaleza_from_level="2")[0].cutoff_label == (
        "Oportunidad de mejoramiento: nivel 1. Fortaleza: niveles 2 a 4.")


def test_bad_rules_are_refused(db: Session, make: Factory) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    with pytest.raises(InvalidInput) as refused:
        set_rules(db, actor=admin, evidence_from_level="0", fortaleza_from_level="uno")
    assert refused.value.errors == {
        "evidence_from_level": ["Elija desde qué nivel se exige evidencia (1 a 4), o «nunca»."],
        "fortaleza_from_level": ["Elija desde qué nivel un componente es fortaleza (2, 3 o 4)."],
    }
    assert rules_for(db, admin.secretaria_id).fortaleza_from_level == 3


# --- the console ----------------------------------------------------------------------------


def test_cli_lists_every_version_with_its_counts(app: Flask, db: Session,
                                                 make: Factory) -> None:
    make.secretaria()
    db.commit()
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["catalog", "load-shipped"])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.splitlines() == [
        "Catálogo cargado: guia34-2008 (4 áreas, 19 procesos, 93 componentes).",
        "Catálogo cargado: guia34-2026 (4 áreas, 15 procesos, 45 componentes).",
    ]
    listed = runner.invoke(args=["catalog", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        "guia34-2008              2008  4 áreas · 19 procesos · 93 componentes  [todas las "
        "Secretarías]  vigente en: Secretaría de Educación de Ibagué",
        "guia34-2026              2026  4 áreas · 15 procesos · 45 componentes  [todas las "
        "Secretarías]",
        "2 catálogo(s).",
    ]
    assert runner.invoke(args=["catalog", "load-shipped"]).output == (
        "Los catálogos incluidos ya estaban cargados.\n")


def test_cli_load_reports_errors_per_line_and_stores_nothing(app: Flask, db: Session,
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "ibague.json"
    text = mini(id="ibague-2025")
    bad.write_text(text.replace('"DIR.1.2"', '"DIR.1.1"'), encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["catalog", "load", str(bad)])
    assert result.exit_code == 1
    duplicate, first = line_of(text, '"code": "DIR.1.2",'), line_of(text, '"code": "DIR.1.1",')
    assert result.output.splitlines() == [
        f"Línea {duplicate}: El código «DIR.1.1» está repetido (línea {first}).",
        "El catálogo no se cargó: tiene 1 problema. No se guardó nada.",
    ]
    assert db.scalar(select(func.count()).select_from(Catalog)) == 0

    good = tmp_path / "bueno.json"
    good.write_text(mini(id="ibague-2025"), encoding="utf-8")
    result = runner.invoke(args=["catalog", "load", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output == ("Catálogo cargado: ibague-2025 (2 áreas, 3 procesos, "
                             "5 componentes).\n")
    assert db.scalar(select(Catalog.source).where(Catalog.slug == "ibague-2025")) == \
        "bueno.json"
