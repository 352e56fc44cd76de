"""Measure /reportes/ on the first view after a change, and what the change costs.

Usage: ``python -m bench.sections --database-url URL [--upgrade] [--rounds 20]`` on a
database seeded by ``python -m bench.seed --schools 10000`` (realistic: the demo's schools
copied, with PMIs, rubrics, observations, final evaluations). ``--upgrade`` migrates it to the
head and refreshes every aggregate as the daily job does (timed), as after an upgrade.

Each round saves one valoración of a Ruta of the Secretaría (another level, through the ORM,
committed: the session hook refreshes that Ruta's aggregates and section counts), then asks
for /reportes/ twice as the demo's revisor: the first view after the change (nothing of it is
memoised: the data's version changed) and the warm view. Prints p50/p95 of both and of the
save, the statements of each, and the save's time and statements without the hook (the hook
removed for a second series of saves).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bench.consolidado import make_app
from bench.run import login
from workflow.autoevaluacion.models import Valoracion
from workflow.consolidado import aggregates
from workflow.models import Ruta
from workflow.states import State

REVISOR = "revisor1@ruta.demo"


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(round(share * (len(ordered) - 1))), len(ordered) - 1)]


class Counter:
    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: object) -> None:
        self.count += 1


@contextmanager
def without_hook() -> Iterator[None]:
    event.remove(Session, "after_flush", aggregates._note)
    event.remove(Session, "before_commit", aggregates._refresh_noted)
    event.remove(Session, "after_rollback", aggregates._forget)
    try:
        yield
    finally:
        aggregates.track()


def timed(counter: Counter, action: Callable[[], object]) -> tuple[float, int, object]:
    before = counter.count
    start = time.perf_counter()
    result = action()
    return (time.perf_counter() - start) * 1000, counter.count - before, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--upgrade", action="store_true")
    parser.add_argument("--rounds", type=int, default=20)
    options = parser.parse_args()
    if options.upgrade:
        from bench.consolidado import upgrade_and_refresh

        upgrade_and_refresh(options.database_url)
    app = make_app(options.database_url)
    database = app.extensions["ruta_db"]  # type: ignore[attr-defined]
    counter = Counter(database.engine)
    client = app.test_client()  # type: ignore[attr-defined]
    login(client, REVISOR)
    with database.session_factory() as session:
        targets = list(session.scalars(
            select(Valoracion.id).join(Ruta, Ruta.id == Valoracion.ruta_id)
            .where(Ruta.state == State.SEGUIMIENTO, Valoracion.level.is_not(None))
            .order_by(Valoracion.id).limit(options.rounds * 2)))

    def save(valoracion_id: int) -> Callable[[], None]:
        def run() -> None:
            with database.session_factory() as session:
                found = session.get(Valoracion, valoracion_id)
                assert found is not None and found.level is not None
                found.level = found.level % 4 + 1
                session.commit()
        return run

    def page() -> object:
        response = client.get("/reportes/")
        assert response.status_code == 200, response.status_code
        return response

    page()  # the process's first view: catalog, templates
    saves, first, warm = [], [], []
    for valoracion_id in targets[:options.rounds]:
        saves.append(timed(counter, save(valoracion_id))[:2])
        first.append(timed(counter, page)[:2])
        warm.append(timed(counter, page)[:2])
    bare = []
    with without_hook():
        for valoracion_id in targets[options.rounds:]:
            bare.append(timed(counter, save(valoracion_id))[:2])
    database.dispose()
    print(f"load average {os.getloadavg()}; {len(first)} rounds")
    print("| measurement | p50 (ms) | p95 (ms) | statements (median) |")
    print("|---|---:|---:|---:|")
    for name, samples in (("GET /reportes/, first view after a change", first),
                          ("GET /reportes/, warm view", warm),
                          ("valoración saved and committed, with the hook", saves),
                          ("valoración saved and committed, without the hook", bare)):
        times = [ms for ms, _ in samples]
        print(f"| {name} | {statistics.median(times):.1f} | {percentile(times, 0.95):.1f} | "
              f"{statistics.median(count for _, count in samples):.0f} |")


if __name__ == "__main__":
    main()
