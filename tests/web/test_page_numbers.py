"""The page links of a paginated list (``macros.pagination``): the first, the last, two
either side of the current page, and one «…» for each run of numbers left out."""

from __future__ import annotations

import pytest

from ruta.presentation import page_numbers


def every_number(page: int, pages: int) -> list[int | None]:
    """What the macro drew when it went through every number (the definition)."""
    shown: list[int | None] = []
    gap = False
    for number in range(1, pages + 1):
        if number in (1, pages) or abs(number - page) <= 2:
            shown.append(number)
            gap = False
        elif not gap:
            shown.append(None)
            gap = True
    return shown


@pytest.mark.parametrize("pages", range(1, 40))
def test_the_links_are_those_of_every_number(pages: int) -> None:
    for page in range(-3, pages + 5):
        assert page_numbers(page, pages) == every_number(page, pages), (page, pages)


def test_a_long_list_shows_a_window_around_the_page() -> None:
    assert page_numbers(250, 500) == [1, None, 248, 249, 250, 251, 252, None, 500]
    assert page_numbers(1, 500) == [1, 2, 3, None, 500]
    assert page_numbers(4, 500) == [1, 2, 3, 4, 5, 6, None, 500]
