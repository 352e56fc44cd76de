"""The keys that make search ignore case and accents and sort comunas in natural order."""

from __future__ import annotations

import pytest

from workflow.search_keys import contains_pattern, escape_like, natural_key, search_key, sort_key


@pytest.mark.parametrize(("text", "key"), [
    ("San Simón", "san simon"),
    ("ÁNGEL  María\tÚsuga", "angel maria usuga"),
    ("Ñáñez", "nanez"),
    ("  Institución   Educativa  ", "institucion educativa"),
    ("Über Straße", "uber strasse"),
    ("Ñoño", "nono"),
    ("", ""),
    (None, ""),
])
def test_search_key_drops_case_accents_and_extra_spaces(text: str | None, key: str) -> None:
    assert search_key(text) == key


def test_spanish_order_puts_accented_names_with_their_letter() -> None:
    names = ["Zapata", "Ángel", "Ñáñez", "Nariño", "Óscar", "Olaya", "Bello"]

    assert sorted(names, key=sort_key) == [
        "Ángel", "Bello", "Nariño", "Ñáñez", "Olaya", "Óscar", "Zapata"]


def test_natural_key_sorts_comuna_2_before_comuna_10() -> None:
    comunas = ["Comuna 10", "Comuna 2", "Comuna 1", "Corregimiento Juntas", "comuna 09"]

    assert sorted(comunas, key=natural_key) == [
        "Comuna 1", "Comuna 2", "comuna 09", "Comuna 10", "Corregimiento Juntas"]


def test_like_wildcards_and_the_escape_are_taken_literally() -> None:
    assert escape_like("100%_a\\b") == "100\\%\\_a\\\\b"
    assert contains_pattern(" 50%  ÉXITO_ ") == "%50\\% exito\\_%"
