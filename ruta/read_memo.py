"""A page's repeated reads answered once (issue 17).

A Ruta's pages are drawn by the stages' own functions (the autoevaluación's summary, the PMI's,
the seguimiento's, the cierre's...), and several of them read the same rows: the calendar of
the horizon, the plan's elements, the extensions of the window. Within one GET request the
database does not change under the page (the request writes nothing), so an identical SELECT
with identical parameters gets the rows the first one got.

Only for a session marked by ``enable`` (the web app marks GET and HEAD requests), and only
while nothing is pending in it: any write through the session (a flush, an UPDATE, a commit,
a rollback) forgets everything. Locking reads, streamed reads and reads that refresh what is
loaded always go to the database. The rows handed back are the session's own objects (the
first read put them in its identity map), so nothing is detached or copied.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import FrozenResult
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from workflow.ruta_rows import MEMO_KEY, memo_of

INFO_KEY = MEMO_KEY  # where ``workflow.ruta_rows`` finds it too
_BYPASS_OPTIONS = ("populate_existing", "yield_per", "stream_results")


def enable(session: Session) -> None:
    session.info[INFO_KEY] = {}


def _forget(session: Session, *_args: Any) -> None:
    memo = session.info.get(INFO_KEY)
    if memo:
        memo.clear()


def _key(state: ORMExecuteState) -> Any:
    cache_key = state.statement._generate_cache_key()
    if cache_key is None:
        return None
    return (cache_key.key, repr([bind.effective_value for bind in cache_key.bindparams]),
            repr(state.parameters))


def _answer(state: ORMExecuteState) -> Any:
    memo: dict[Any, FrozenResult[Any]] | None = memo_of(state.session)
    if memo is None:
        return None
    if not state.is_select:
        memo.clear()
        return None
    if (state.is_relationship_load or state.is_column_load
            or getattr(state.statement, "_for_update_arg", None) is not None
            or any(state.execution_options.get(name) for name in _BYPASS_OPTIONS)):
        return None
    key = _key(state)
    if key is None:
        return None
    found = memo.get(key)
    if found is None:
        found = memo[key] = state.invoke_statement().freeze()
    return found()


def install(factory: sessionmaker[Session]) -> None:
    """Listen on every session ``factory`` makes (marked ones only are answered)."""
    event.listen(factory, "do_orm_execute", _answer)
    for name in ("after_flush", "after_commit", "after_rollback", "after_soft_rollback"):
        event.listen(factory, name, _forget)
