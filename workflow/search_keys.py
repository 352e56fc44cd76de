"""Keys that make finding and sorting work the way people expect, on SQLite and PostgreSQL alike.

``search_key`` is a name as people type it: lower case, accents and the tilde of ñ gone,
spaces collapsed («San Simón» → «san simon», «ÑÁÑEZ» → «nanez»). The application keeps it
beside each name (``schools.search_key``, ``users.search_key``) and searches it with LIKE, the
user's text normalised the same way, so both databases give the same answer; sorting by it is
the Spanish order people expect (Á with A, Ñ after N, never after Z).

``natural_key`` pads the numbers of a comuna so «Comuna 2» sorts before «Comuna 10».
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+")
#: Numbers are padded to this many digits in a natural key.
NUMBER_WIDTH = 6
#: The escape character of every LIKE this module builds.
LIKE_ESCAPE = "\\"


def search_key(text: str | None) -> str:
    """«  Ángel  NÚÑEZ » → «angel nunez»: the form both a stored name and a typed query take."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    # Dropping the combining marks turns á into a and ñ into n; ß → ss and the like by casefold.
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SPACES.sub(" ", bare.casefold()).strip()


def natural_key(text: str | None) -> str:
    """The search key with every number zero-padded: «Comuna 10» sorts after «Comuna 2»."""
    return _NUMBER.sub(lambda match: match.group().zfill(NUMBER_WIDTH), search_key(text))


def escape_like(text: str) -> str:
    """The text with LIKE's wildcards (``%``, ``_``) and the escape itself taken literally."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
            .replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_"))


def contains_pattern(query: str) -> str:
    """A LIKE pattern (escape ``\\``) finding the normalised query anywhere in a search key."""
    return f"%{escape_like(search_key(query))}%"
