"""Keys that make finding and sorting work the way people expect, on SQLite and PostgreSQL alike.

``search_key`` is a name as people type it: lower case, accents and the tilde of ñ gone,
spaces collapsed («San Simón» → «san simon», «ÑÁÑEZ» → «nanez»). The application keeps it
beside each name (``schools.search_key``, ``users.search_key``) and searches it with LIKE, the
user's text normalised the same way, so both databases give the same answer. ``sort_key``
(``schools.sort_key``, ``users.sort_key``) is the Spanish order people expect (Á with A, Ñ
after N, never after Z), compared byte by byte on both databases (``bytewise``).

``natural_key`` pads the numbers of a comuna so «Comuna 2» sorts before «Comuna 10».
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+")
# Ñ and ñ, precomposed or as N plus a combining tilde.
_ENYE = re.compile("[Ññ]|[Nn]\u0303")
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


def sort_key(text: str | None) -> str:
    """The order of Spanish names, compared byte by byte: accents ignored, Ñ after every N
    (ñ becomes «n{», and «{» follows «z»), case ignored: «Ángel», «Nariño», «Ñáñez», «Óscar»."""
    return search_key(_ENYE.sub("n{", text or ""))


def natural_key(text: str | None) -> str:
    """The sort key with every number zero-padded: «Comuna 10» sorts after «Comuna 2»."""
    return _NUMBER.sub(lambda match: match.group().zfill(NUMBER_WIDTH), sort_key(text))


def escape_like(text: str) -> str:
    """The text with LIKE's wildcards (``%``, ``_``) and the escape itself taken literally."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
            .replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_"))


def contains_pattern(query: str) -> str:
    """A LIKE pattern (escape ``\\``) finding the normalised query anywhere in a search key."""
    return f"%{escape_like(search_key(query))}%"


class bytewise(FunctionElement[str]):  # noqa: N801 - reads as SQL, like func.lower
    """A key column compared byte by byte («COLLATE "C"» on PostgreSQL, whatever the
    database's locale; SQLite compares bytes already): the same order on both databases."""

    type = String()
    inherit_cache = True


@compiles(bytewise)
def _bytewise_default(element: bytewise, compiler: Any, **kwargs: Any) -> str:
    return str(compiler.process(element.clauses, **kwargs))


@compiles(bytewise, "postgresql")
def _bytewise_postgresql(element: bytewise, compiler: Any, **kwargs: Any) -> str:
    return f'({compiler.process(element.clauses, **kwargs)}) COLLATE "C"'
