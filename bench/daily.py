"""The daily pass alone, measured as ``bench.scale`` measures it, on fresh copies of a seeded
database, optionally alternating with the code of another checkout.

    python -m bench.daily --template bench_s33 [--runs 3] [--other /path/to/checkout]
                          [--profile FILE] [--dump DIR]

Each run copies ``--template`` (a database ``bench.seed`` filled, which nobody else may be
connected to) into a scratch database, then, in a process of its own, empties the bodies
the day before's pass would have (``retention.prune_sent``) and times ``run_daily_pass``
for ``bench.scale``'s day: the wall time, the CPU of the process (``time.process_time``, all
its threads) and the CPU PostgreSQL's backends spent for it (from ``/proc``, so the server
must run on this machine). With ``--other`` the runs alternate between this checkout and
that one (the old code, say), each on its own fresh copy: the machine's noise falls on both.
``--dump DIR`` writes what each run's pass wrote (``dump_tables``), to diff between the two.
The scratch database is dropped after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ruta.db import make_engine

SERVER = "postgresql://postgres@127.0.0.1:5432"
SCRATCH = "daily_bench_run"
# What the pass writes, each table read in an order that does not depend on its ids, with the
# columns that must differ between two runs (ids, the moment a row was written) left out.
DUMPS = {
    "rutas": "SELECT id, state, state_changed_at, version, reviewer_id FROM rutas ORDER BY id",
    "ruta_transitions": "SELECT ruta_id, trigger, from_state, to_state, actor_id, at, "
                        "observations, extra::text FROM ruta_transitions ORDER BY ruta_id, at, "
                        "trigger",
    "outbox": "SELECT secretaria_id, ruta_id, kind, regexp_replace(dedupe_key, "
              "'^transition:[0-9]+:', 'transition:<entry>:'), recipients::text, cc::text, "
              "subject, text_body, html_body, status, attempts, next_attempt_at, claimed_at, "
              "claim_token, last_error, refused_recipients::text, created_at, sent_at, "
              "secret_link, body_pruned_at FROM outbox ORDER BY 4, 2, 3, 5, 6, 7, 8, 9, 12, 17",
    "reminders_sent": "SELECT ruta_id, rule, occurrence_key, day, summary, recipients, "
                      "created_at FROM reminders_sent ORDER BY 1, 2, 3",
    "job_runs": "SELECT job, day, started_at, finished_at, queued FROM job_runs ORDER BY 1, 2",
    # refreshed_at is the clock's at the refresh, not the pass's moment.
    "ruta_aggregates": "SELECT to_jsonb(a) - 'refreshed_at' FROM ruta_aggregates a "
                       "ORDER BY ruta_id",
    "form_submissions": "SELECT count(*) FROM form_submissions",
}


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds (user + system) of every other backend connected to the database of
    ``url``, by pid. Read here rather than through ``bench.web.cpu_seconds``: a run of
    ``--other`` imports that checkout's ``bench`` package, which may predate it."""
    tick = os.sysconf("SC_CLK_TCK")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            pids = connection.scalars(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).all()
    finally:
        engine.dispose()
    cpu = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    return cpu


def measure(url: str, *, profile: str | None, dump: str | None) -> dict[str, Any]:
    """One pass on the database at ``url`` (in this process, with this checkout's code)."""
    from bench.scale import PASS_AT, PASS_DAY
    from bench.seed import app_config
    from jobs.daily import run_daily_pass
    from ruta import create_app
    from workflow.correo import retention

    app = create_app(app_config(url))
    database = app.extensions["ruta_db"]
    with database.session_factory() as session:
        retention.prune_sent(session, now=PASS_AT - timedelta(days=1))
        session.commit()
    before = backend_cpu(url)
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    daily = run_daily_pass(app, now=PASS_AT, day=PASS_DAY)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    after = backend_cpu(url)
    database.dispose()
    if dump:
        engine = make_engine(url)
        with engine.connect() as connection, open(dump, "w") as out:
            for table, query in DUMPS.items():
                out.write(f"== {table}\n")
                for row in connection.execute(text(query)):
                    out.write("\t".join("" if value is None else str(value) for value in row)
                              + "\n")
        engine.dispose()
    return {"wall": wall, "cpu": cpu,
            "db_cpu": sum(after[pid] - before.get(pid, 0.0) for pid in after),
            "queued": len(daily.queued), "started": len(daily.started)}


def _psql(*arguments: str) -> None:
    subprocess.run(arguments, check=True,  # noqa: S603 (createdb/dropdb, our arguments)
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template",
                        help="a database bench.seed filled, that nobody is connected to")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--other", help="another checkout whose runs alternate with this one's")
    parser.add_argument("--profile", help="a cProfile file per run: FILE.<label>.<run>")
    parser.add_argument("--dump", help="a directory for each run's dump of the written rows")
    parser.add_argument("--once", help=argparse.SUPPRESS)  # a database URL: one run, as JSON
    arguments = parser.parse_args()
    if arguments.once:
        print(json.dumps(measure(arguments.once, profile=arguments.profile,
                                 dump=arguments.dump)))
        return
    if not arguments.template:
        parser.error("--template is required: the seeded database each run copies")
    here = Path(__file__).resolve().parent.parent
    checkouts = [("new", here)] + ([("old", Path(arguments.other))] if arguments.other else [])
    if arguments.dump:
        Path(arguments.dump).mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in checkouts}
    for run in range(arguments.runs):
        # Alternate which goes first, so neither always follows the other.
        for label, checkout in (checkouts if run % 2 == 0 else checkouts[::-1]):
            _psql("dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", SCRATCH)
            _psql("createdb", "-h", "127.0.0.1", "-U", "postgres", "-T", arguments.template,
                  SCRATCH)
            # This file, run with the other checkout's code (-P: not beside this file's folder).
            command = [sys.executable, "-P", __file__, "--once", f"{SERVER}/{SCRATCH}"]
            if arguments.profile:
                command += ["--profile", f"{arguments.profile}.{label}.{run}"]
            if arguments.dump:
                command += ["--dump", f"{arguments.dump}/{label}.{run}.tsv"]
            output = subprocess.run(  # noqa: S603 (this interpreter, this file)
                command, cwd=checkout, check=True, capture_output=True,
                text=True, env={**os.environ, "PYTHONPATH": str(checkout)})
            result = json.loads(output.stdout.strip().splitlines()[-1])
            results[label].append(result)
            print(f"run {run} {label}: wall {result['wall']:.3f} s, cpu {result['cpu']:.3f} s, "
                  f"postgres {result['db_cpu']:.2f} s ({result['queued']} queued, "
                  f"{result['started']} started)", flush=True)
    _psql("dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", SCRATCH)
    for label, runs in results.items():
        print(f"{label}: median wall {statistics.median(r['wall'] for r in runs):.3f} s, "
              f"cpu {statistics.median(r['cpu'] for r in runs):.3f} s, "
              f"postgres {statistics.median(r['db_cpu'] for r in runs):.2f} s")


if __name__ == "__main__":
    main()
