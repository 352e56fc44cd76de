"""Rule sets pinned to each Ruta: a change of the Secretaría's settings, made on the admin page,
never moves the results of Rutas already opened, sent, approved or closed; Rutas opened
afterwards take it. The page lists every version with the Rutas that use it.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.seed import DEMO_DOMAIN, seed_demo
from tests.conftest import PASSWORD, TEST_PASSWORDS, Factory, WebClient
from workflow.autoevaluacion.perfil import classification_for, classify, priorities_of, rated_items
from workflow.catalogo.catalog import Rules, rule_set_usage, rules_for, rules_of
from workflow.catalogo.models import RuleSet
from workflow.horizontes import opening
from workflow.models import Ruta, User
from workflow.pmi.checks import check_ruta
from workflow.roles import Role
from workflow.states import State

FORM_FIELDS = ("evidence_from_level", "fortaleza_from_level", "priority_formula",
               "priority_count", "min_text_chars", "min_text_words", "team_min_members",
               "team_min_estamentos")


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def form_of(rules: Rules, **changes: str) -> dict[str, str]:
    return {name: str(changes.get(name, getattr(rules, name))) for name in FORM_FIELDS}


def verdicts(db: Session) -> dict[int, tuple[Any, ...]]:
    """Every Ruta's results: fortalezas, scored oportunidades and each PMI rule's verdict."""
    db.expire_all()
    found = {}
    for ruta in db.scalars(select(Ruta).order_by(Ruta.id)):
        classification = classification_for(db, ruta)
        report = check_ruta(db, ruta)
        found[ruta.id] = (
            ruta.state,
            [item.code for item in classification.fortalezas],
            [(item.item.code, item.score) for item in classification.oportunidades],
            [(result.rule.id, result.passed) for result in report.results])
    return found


SENT = {State.PMI_FORMULADO, State.EN_REVISION, State.APROBADO, State.SEGUIMIENTO,
        State.CERRADO}


def test_rule_set_pinning_keeps_the_verdicts_of_sent_approved_and_closed_rutas(
        db: Session, web: WebClient) -> None:
    secretaria = seed_demo(db, school_count=14, password=PASSWORD, passwords=TEST_PASSWORDS)
    db.commit()
    before = verdicts(db)
    states = {state for state, *_ in before.values()}
    assert {State.PMI_FORMULADO, State.EN_REVISION, State.APROBADO, State.SEGUIMIENTO,
            State.CERRADO} <= states

    web.login(f"admin@{DEMO_DOMAIN}")
    current = rules_for(db, secretaria.id)
    assert (current.fortaleza_from_level, current.priority_formula) == (3, "suma")
    response = web.post("/catalogos/reglas", form_of(
        current, fortaleza_from_level="4", priority_formula="producto"), follow_redirects=True)
    assert response.status_code == 200
    assert ("Listo: se guardó el conjunto de reglas 2. Lo toman las Rutas que se abran desde "
            "ahora; las ya abiertas conservan el suyo.") in text_of(response)
    db.expire_all()
    changed = rules_for(db, secretaria.id)
    assert (changed.number, changed.fortaleza_from_level, changed.priority_formula) == (
        2, 4, "producto")

    assert verdicts(db) == before
    # The test could fail: under the new rules, the sent Rutas' results would have moved.
    moved = [ruta for ruta in db.scalars(select(Ruta)) if ruta.state in SENT
             and classify(rated_items(db, ruta), changed, priorities_of(db, ruta))
             != classification_for(db, ruta)]
    assert len(moved) >= 7


def test_rule_set_pinning_a_ruta_opened_afterwards_takes_the_new_set(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    earlier = opening.open_ruta(db, make.school(admin.secretaria), actor=admin)
    db.commit()
    web.login(admin.email)
    web.get("/catalogos/")
    web.post("/catalogos/reglas", form_of(Rules(), fortaleza_from_level="4",
                                          priority_formula="producto", priority_count="5"))
    later = opening.open_ruta(db, make.school(admin.secretaria), actor=admin)
    db.commit()
    assert rules_of(db, earlier) == Rules(number=1)
    assert rules_of(db, later) == Rules(fortaleza_from_level=4, priority_formula="producto",
                                        priority_count=5, number=2)


def usage_rows(page: str) -> list[list[str]]:
    table = page.split("<caption>Conjuntos de reglas y Rutas que usan cada uno</caption>")[1]
    body = table.split("<tbody>")[1].split("</tbody>")[0]
    return [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in body.split("</tr>") if "<t" in row]


def test_rule_set_page_lists_each_version_with_its_rutas_and_says_what_a_change_does(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    for _ in range(3):
        opening.open_ruta(db, make.school(admin.secretaria), actor=admin)
    db.commit()
    web.login(admin.email)
    web.post("/catalogos/reglas", form_of(Rules(), team_min_members="6"))
    opening.open_ruta(db, make.school(admin.secretaria), actor=admin)
    db.commit()
    page = text_of(web.get("/catalogos/"))
    rows = usage_rows(page)
    assert [(row[0], row[6], row[7].split()[0]) for row in rows] == [
        ("2 (vigente)", "6 integrantes, 2 estamentos", "1"),
        ("1", "4 integrantes, 2 estamentos", "3")]
    # Which Rutas: each set lists its schools and horizons.
    newest = db.scalars(select(Ruta).order_by(Ruta.id.desc())).first()
    assert f"{newest.school.name} (2024–2026)" in rows[0][7]
    assert f"{newest.school.name} (2024–2026)" not in rows[1][7]
    assert ("Un cambio crea un conjunto de reglas nuevo que solo toman las Rutas que se abran "
            "después. Las Rutas ya abiertas, enviadas, aprobadas o cerradas conservan el "
            "conjunto con el que se abrieron, y sus resultados no cambian.") in page
    assert [(entry.rule_set.number, entry.count)
            for entry in rule_set_usage(db, admin.secretaria_id)] == [(2, 1), (1, 3)]


def test_rule_set_page_counts_only_the_rutas_of_its_secretaria(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    other = make.secretaria(name="Secretaría de Educación del Tolima", divipola="73000")
    other_admin = make.user(Role.ADMINISTRADOR, secretaria=other)
    opening.open_ruta(db, make.school(admin.secretaria), actor=admin)
    opening.open_ruta(db, make.school(other), actor=other_admin)
    opening.open_ruta(db, make.school(other), actor=other_admin)
    db.commit()
    web.login(admin.email)
    assert [row[-1].split()[0] for row in usage_rows(text_of(web.get("/catalogos/")))] == ["1"]


def test_rule_set_bad_values_are_refused_with_the_typed_values_kept(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    db.commit()
    web.login(admin.email)
    web.get("/catalogos/")
    refused = web.post("/catalogos/reglas", form_of(
        Rules(), fortaleza_from_level="4", priority_formula="potencia", priority_count="0",
        min_text_chars="veinte", team_min_members="12"))
    page = text_of(refused)
    assert refused.status_code == 422
    for message in ("Elija cómo se calcula el puntaje de prioridad: suma o producto.",
                    "Las oportunidades prioritarias que el PMI debe atender son de 1 a 10.",
                    "El mínimo de caracteres de un texto es un número de 1 a 200."):
        assert message in page
    assert 'id="priority_count" name="priority_count" inputmode="numeric" value="0"' in page
    assert 'name="min_text_chars" inputmode="numeric" value="veinte"' in page
    assert 'name="team_min_members" inputmode="numeric" value="12"' in page
    assert '<option value="4" selected>4</option>' in page
    assert db.scalar(select(func.count()).select_from(RuleSet)) == 0


def test_rule_set_unchanged_stores_no_new_version(db: Session, make: Factory,
                                                  web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    db.commit()
    web.login(admin.email)
    web.get("/catalogos/")
    first = web.post("/catalogos/reglas", form_of(Rules(), priority_count="4"),
                     follow_redirects=True)
    assert "se guardó el conjunto de reglas 1" in text_of(first)
    again = web.post("/catalogos/reglas", form_of(Rules(), priority_count="4"),
                     follow_redirects=True)
    assert "No cambió ninguna regla: se conserva el conjunto vigente." in text_of(again)
    assert db.scalars(select(RuleSet.number)).all() == [1]


@pytest.mark.parametrize("role", [Role.REVISOR, Role.CONSULTA, Role.RECTOR, Role.EQUIPO])
def test_rule_set_changes_are_only_for_administrators(db: Session, make: Factory,
                                                      web: WebClient, role: Role) -> None:
    secretaria = make.secretaria()
    user: User = make.user(role, secretaria=secretaria)
    db.commit()
    web.login(user.email)
    refused = web.post("/catalogos/reglas", form_of(Rules(), fortaleza_from_level="4"))
    assert refused.status_code == 403
    assert db.scalar(select(func.count()).select_from(RuleSet)) == 0
    page = web.get("/catalogos/")
    if role.belongs_to_school:
        assert page.status_code == 403
    else:  # the Secretaría reads the rules, without the form
        assert page.status_code == 200
        assert 'action="/catalogos/reglas"' not in text_of(page)
