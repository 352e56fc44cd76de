"""Dates as people in Colombia read them: Bogotá's time zone and Spanish (Colombia)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

BOGOTA: Final = ZoneInfo("America/Bogota")
LOCALE: Final = "es_CO"


def fecha(value: datetime | date | None, style: str = "long") -> str:
    """A date or timestamp in Spanish (Colombia), timestamps in Bogotá's time.

    ``style="short"`` abbreviates the month, for tables.
    """
    if value is None:
        return ""
    return _formatted(value, style)


# Babel takes some 80 µs a date; a list page shows dozens, and the same ones view after view
# (the queue: 50 a page). The text depends on the moment (equal moments in other time zones
# read the same in Bogotá), whether it is a date and the style alone.
@lru_cache(maxsize=4096)
def _formatted(value: datetime | date, style: str) -> str:
    if isinstance(value, datetime):
        if style == "short":
            return format_datetime(value, "d MMM y, h:mm a", tzinfo=BOGOTA, locale=LOCALE)
        return format_datetime(value, "d 'de' MMMM 'de' y, h:mm a", tzinfo=BOGOTA,
                               locale=LOCALE)
    return format_date(value, "d 'de' MMMM 'de' y", locale=LOCALE)
