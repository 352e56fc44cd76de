"""Every e-mail speaks in the Secretaría's register and reads cleanly (issue 12, item 12).

Each template pair is rendered with every variable present (names and dates filled in, every
condition true), so a branch that glues two words together («Torresdesde») or a greeting
that slipped back to «Hola:» shows up without building the event behind each message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from jinja2 import Undefined

from ruta.config import PROJECT_ROOT
from workflow.outbox import EMAIL_TEMPLATES

EMAIL_FOLDER = PROJECT_ROOT / "templates" / "email"
KINDS = sorted(path.name.removesuffix(".subject.txt")
               for path in EMAIL_FOLDER.glob("*.subject.txt"))
# Variables that filters or loops need as real values.
REAL = {"at": datetime(2026, 7, 3, 23, 0, tzinfo=UTC),
        "expires_at": datetime(2026, 7, 10, 23, 0, tzinfo=UTC), "areas": ["Gestión académica"],
        "days": 12, "days_late": 3, "lines": [], "files": [], "observations_list": [],
        "observations": "1. [Meta 1.1 · Criterio 3] Precise la línea base.",
        "comment": "Bien documentado.", "reason": "Incapacidad médica de la revisora."}


class Filled(Undefined):
    """Any other variable: a visible placeholder, true in every condition."""

    def __str__(self) -> str:
        return f"‹{self._undefined_name}›"

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Any:
        return iter(())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return Filled(name=f"{self._undefined_name}.{name}")


@pytest.fixture(scope="module")
def render() -> Any:
    environment = EMAIL_TEMPLATES.overlay(undefined=Filled)

    def rendered(name: str) -> str:
        return environment.get_template(name).render(**REAL)

    return rendered


def _text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_every_kind_has_its_three_templates() -> None:
    assert len(KINDS) >= 18
    for kind in KINDS:
        assert (EMAIL_FOLDER / f"{kind}.txt").exists(), kind
        assert (EMAIL_FOLDER / f"{kind}.html").exists(), kind


@pytest.mark.parametrize("kind", KINDS)
def test_email_opens_with_cordial_saludo_and_closes_as_the_secretaria(render: Any,
                                                                      kind: str) -> None:
    text = render(f"{kind}.txt")
    html = _text_of_html(render(f"{kind}.html"))

    for body in (text, html):
        assert "Hola" not in body
        assert "Cordial saludo." in body
        assert "Atentamente" in body and "Dirección de Calidad Educativa" in body
    first_line = next(line for line in text.splitlines() if line.strip())
    assert first_line.startswith(("Respetado(a) ", "Cordial saludo."))


@pytest.mark.parametrize("kind", KINDS)
def test_email_text_has_no_glued_words_week_codes_or_double_periods(render: Any,
                                                                    kind: str) -> None:
    for body in (render(f"{kind}.txt"), _text_of_html(render(f"{kind}.html")),
                 render(f"{kind}.subject.txt")):
        # A placeholder followed at once by a letter: a line break eaten by a tag.
        assert not re.search(r"›[A-Za-zÁÉÍÓÚáéíóúñÑ]", body), body
        assert not re.search(r"\b\d{4}-W\d{2}\b", body), body
        assert ".." not in body.replace("...", ""), body
        assert "Criterio 0" not in body


def test_takeover_email_names_both_revisores_and_the_reason(render: Any) -> None:
    """The first revisor learns who took the review, when, and why (issue 14, item 2)."""
    text = render("revision_tomada.txt")
    html = _text_of_html(render("revision_tomada.html"))
    subject = render("revision_tomada.subject.txt")
    assert subject.strip() == "‹taker_name› tomó la revisión de ‹school_name›"
    for body in (text, html):
        assert "Cordial saludo." in body
        assert "‹taker_name›, de la Dirección de Calidad Educativa, tomó la revisión" in body
        assert "Incapacidad médica de la revisora." in body
        assert "que estaba en sus manos (‹previous_name›)." in body
