"""The semáforo of seguimiento is not told by colour alone (issue 18, item 3): each light
carries its word and a shape of its own, the shape hidden from screen readers since the word
says the same."""

from __future__ import annotations

import re

from flask import Flask, render_template_string

from workflow.seguimiento.progress import Semaforo

LIGHT = '{% from "seguimiento/_macros.html" import light with context %}{{ light(value) }}'
ICON = re.compile(r'<svg class="semaforo-icon" data-shape="([a-z-]+)" viewBox="0 0 16 16" '
                  r'width="16" height="16" aria-hidden="true" focusable="false">(.*?)</svg>', re.S)


def test_each_light_has_its_word_its_class_and_its_own_hidden_shape(app: Flask) -> None:
    shapes: dict[str, str] = {}
    drawings: set[str] = set()
    with app.test_request_context():
        for value in Semaforo:
            markup = render_template_string(LIGHT, value=value)
            icon = ICON.search(markup)
            assert icon is not None, markup
            assert markup.startswith(f'<span class="semaforo semaforo-{value.value}"><svg')
            # The word follows the shape, inside the badge: it is what a screen reader reads.
            assert markup.endswith(f"</svg>{value.label}</span>")
            shapes[value.value] = icon.group(1)
            drawings.add(icon.group(2))

    assert shapes == {"verde": "circulo-con-visto", "amarillo": "triangulo-con-exclamacion",
                      "rojo": "octagono-con-equis", "cancelada": "circulo-tachado",
                      "sin_cronograma": "circulo-punteado"}
    assert len(drawings) == len(Semaforo)


def test_no_light_says_so_in_words(app: Flask) -> None:
    with app.test_request_context():
        assert render_template_string(LIGHT, value=None) == (
            '<span class="meta">Sin informar</span>')
