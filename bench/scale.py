"""National scale, measured: every main page of every role, the daily pass, delivery and the
exports, at N = 100, 1,000 and 10,000 schools on PostgreSQL. ``make bench`` runs it.

    python -m bench.scale [--schools 100,1000,10000] [--database-url URL] [--seconds 5]

``BENCH_QUICK=1`` stops at 1,000 schools and shortens each measurement. The database
(``BENCH_DATABASE_URL``, by default ``postgresql://postgres@127.0.0.1:5432/bench``, created
if missing) is wiped for each N and filled by ``bench.seed`` (the demo's schools, copied).

For each N it prints, in one table at the end:

* per page: the SQL statements it issues (counted in this process, through the app's
  engine, on the second request), p50/p95 for a single user (one request at a time, over
  HTTP), and throughput with ``bench.web.CLIENTS`` clients on loopback against gunicorn
  (``deploy/gunicorn.conf.py`` with ``bench.web.WORKERS`` workers), also as a share of a bare
  Flask «hello» (``bench.hello``) served the same way and measured in the same run, in
  rounds right before each of the page's (``--rounds``: the share is the median of the
  rounds' own ratios); and the CPU the app's processes and PostgreSQL spent per answer
  under that load, with «hello»'s as a share of it (``bench.web.cpu_seconds``: steadier
  than requests per second on a VM whose host lends its cores to other guests);
* the daily pass of a late day of the horizon, and delivery of what it queued to an aiosmtpd
  sink on loopback (``bench.mail``'s, in a process of its own);
* each export linked from /reportes/ and ``ruta export consolidado``: time and peak memory
  of a process that does only that (``bench.probe``; ``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from bench import web
from bench.mail import SinkProcess, free_port
from bench.run import PASSWORD, login
from bench.seed import Seeder, app_config
from jobs.daily import run_daily_pass
from jobs.deliver import deliver_pending
from ruta import create_app
from workflow.correo import retention
from workflow.models import Ruta, User
from workflow.seguimiento.models import FollowUpReport
from workflow.states import State

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench"
# Monday 19 January 2026: the first pass after the last year's semana institucional, the
# busiest day of the horizon's end (yearly seguimiento reminders, plans starting, PMIs overdue).
PASS_DAY = date(2026, 1, 19)
PASS_AT = datetime(2026, 1, 19, 11, 0, tzinfo=UTC)
RECTOR, REVISOR, ADMIN = "rector01@ruta.demo", "revisor1@ruta.demo", "admin@ruta.demo"
# What ``BENCH_QUICK=1`` measures of the exports unless ``--exports`` says otherwise: the
# smallest sheet (one GROUP BY), the one with a row per school, the largest (a row per school
# and proceso), and the console's Excel; the other sheets, and the PDF, in the full run.
QUICK_EXPORTS = "hoja=estados,hoja=instituciones,hoja=perfil"


@dataclass
class Row:
    what: str
    schools: int
    statements: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    per_second: float | None = None
    share: float | None = None
    load_p95_ms: float | None = None
    note: str = ""
    #: Under load: the CPU the app's processes and PostgreSQL spent per answer (ms), and
    #: «hello»'s CPU per answer as a share of it.
    app_cpu_ms: float | None = None
    db_cpu_ms: float | None = None
    cpu_share: float | None = None


@dataclass
class Settings:
    url: str
    seconds: float
    samples: int
    budget_s: float
    folder: Path
    exports: list[str] | None = None  # parts of the export URLs to measure; None: all
    console_export: bool = True
    rounds: int = 5  # rounds of each page under load, each after a round of «hello»
    rows: list[Row] = field(default_factory=list)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_database(url: str) -> None:
    """Create the scratch database if the server does not have it yet."""
    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            if connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": parsed.database}) is None:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        server.dispose()


def pages(app: Any) -> list[tuple[str, str, str]]:
    """(label, account, URL) of every main page of every role, on the demo's own Rutas."""
    with app.extensions["ruta_db"].session_factory() as session:
        rector = session.scalar(select(User).where(User.email == RECTOR))
        ruta = session.scalar(select(Ruta).where(Ruta.school_id == rector.school_id)
                              .order_by(Ruta.horizon_start_year.desc()).limit(1))
        report = session.scalar(select(FollowUpReport.id).where(FollowUpReport.ruta_id == ruta.id)
                                .order_by(FollowUpReport.id.desc()).limit(1))
        reviewed = session.scalar(select(Ruta.id).where(Ruta.state == State.EN_REVISION)
                                  .order_by(Ruta.id).limit(1))
    return [
        # Not a page of the issue: the floor under every signed-in page (the session, the
        # layout, the security headers), as a share of «hello» the others cannot beat.
        ("rector: the layout alone (/accesibilidad)", RECTOR, "/accesibilidad"),
        ("rector: Ruta page", RECTOR, f"/rutas/{ruta.id}"),
        ("rector: autoevaluación", RECTOR, f"/rutas/{ruta.id}/autoevaluacion"),
        ("rector: PMI", RECTOR, f"/rutas/{ruta.id}/pmi"),
        ("rector: seguimiento report", RECTOR, f"/rutas/{ruta.id}/seguimiento/informes/{report}"),
        ("revisor: queue", REVISOR, "/revision/"),
        ("revisor: PMI review", REVISOR, f"/rutas/{reviewed}/pmi/revision"),
        ("administrador: /reportes/", ADMIN, "/reportes/"),
        ("administrador: users", ADMIN, "/admin/usuarios"),
        ("administrador: outbox", ADMIN, "/admin/correo/"),
    ]


def count_statements(app: Any, listing: list[tuple[str, str, str]]) -> tuple[dict[str, int],
                                                                             str]:
    """Statements per page (second request: the first fills the process's caches), and the
    HTML of /reportes/ (its export links)."""
    engine = app.extensions["ruta_db"].engine
    counter = [0]

    def count(*_: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    clients: dict[str, Any] = {}
    counts: dict[str, int] = {}
    reportes = ""
    try:
        for label, email, url in listing:
            if email not in clients:
                clients[email] = app.test_client()
                login(clients[email], email)
            clients[email].get(url)
            counter[0] = 0
            response = clients[email].get(url)
            counts[label] = counter[0]
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code} in process")
            if url == "/reportes/":
                reportes = response.get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts, reportes


def _cpu_share(measured: web.Paired) -> float | None:
    """«hello»'s CPU per answer as a share of the page's (app and database), per round, the
    median: what the host's other guests take (steal) is in neither side, so these move much
    less from run to run than requests per second."""
    shares = sorted(100 * (hello.app_cpu_ms or 0.0) / (page.app_cpu_ms + (page.db_cpu_ms or 0.0))
                    for hello, page in measured.rounds
                    if hello.app_cpu_ms and page.app_cpu_ms)
    return statistics.median(shares) if shares else None


def measure_pages(settings: Settings, schools: int, listing: list[tuple[str, str, str]],
                  counts: dict[str, int]) -> None:
    """Each page alone, then under load, as a share of the «hello» of the same run.

    Under load, each page is measured in ``settings.rounds`` rounds, each right after a round
    of the yardstick of the same length (``web.paired``), and its share is the median of the
    rounds' own ratios. On this shared two-core VM the same «hello» answered from 574 to
    1,504 req/s within one hour, and from 1,645 to 3,864 within one run (the host's other
    guests): a ratio against a yardstick measured at another moment, even a median of
    them, moved a page's share from 9 % to 15 % between runs minutes apart. The table's
    «hello» row gives the median of every yardstick round. Every request comes on a
    connection of its own, as nginx sends them in production (``web.Client``). Both gunicorns
    run side by side; the idle one costs nothing."""
    environment = web.server_environment(settings.url, settings.folder)
    log = settings.folder / f"gunicorn-{schools}.log"
    each = max(0.5, settings.seconds / settings.rounds)
    database = make_url(settings.url).database
    hello_log = settings.folder / "hello.log"
    with web.gunicorn("bench.hello:app", environment, hello_log) as hello_server, \
            web.gunicorn("ruta:create_app()", environment, log) as server:
        port = server.port
        yardstick = [web.Client(hello_server.port, keep_alive=False)
                     for _ in range(web.CLIENTS)]
        single = web.single_user(yardstick[0], "/", samples=settings.samples,
                                 budget_s=settings.budget_s)
        hello_row = Row("bare Flask «hello» (the yardstick)", schools, None, single.p50_ms,
                        single.p95_ms, share=100.0)
        settings.rows.append(hello_row)
        hellos: list[web.Load] = []
        signed: dict[str, list[web.Client]] = {}
        for label, email, url in listing:
            if email not in signed:
                signed[email] = [web.Client(port, keep_alive=False)
                                 for _ in range(web.CLIENTS)]
                for client in signed[email]:
                    client.sign_in(email, PASSWORD)
            single = web.single_user(signed[email][0], url, samples=settings.samples,
                                     budget_s=settings.budget_s)
            measured = web.paired(yardstick, hello_server.pid, signed[email], url,
                                  server_pid=server.pid, rounds=settings.rounds,
                                  seconds=each, database=database)
            hellos.extend(hello for hello, _ in measured.rounds)
            loaded = measured.page
            shares = measured.shares
            note = (f"{single.kib:.1f} KiB compressed; share: median of {len(shares)} rounds "
                    f"after «hello» ({shares[0]:.1f}–{shares[-1]:.1f} %)" if shares else
                    f"{single.kib:.1f} KiB compressed")
            if loaded.errors:
                note += f"; {loaded.errors} answers not 200 under load"
            settings.rows.append(Row(label, schools, counts.get(label), single.p50_ms,
                                     single.p95_ms, loaded.per_second, measured.share,
                                     loaded.p95_ms, note, loaded.app_cpu_ms,
                                     loaded.db_cpu_ms, _cpu_share(measured)))
            say(f"{label}: p50 {single.p50_ms:.0f} ms, {loaded.per_second:.1f} req/s, "
                f"{measured.share or 0:.1f} % of «hello» (median of {len(shares)} rounds)")
        for client in yardstick:
            client.close()
    if hellos:
        rates = sorted(hello.per_second for hello in hellos)
        hello_row.per_second = statistics.median(rates)
        hello_row.load_p95_ms = statistics.median(hello.p95_ms for hello in hellos)
        hello_row.note = (f"median of {len(rates)} rounds, one before each round of each page "
                          f"({rates[0]:,.0f}–{rates[-1]:,.0f} req/s)")
        costs = [hello.app_cpu_ms for hello in hellos if hello.app_cpu_ms]
        if costs:
            hello_row.app_cpu_ms = statistics.median(costs)
            hello_row.cpu_share = 100.0
    timeouts = web.worker_timeouts(log)
    if timeouts:
        settings.rows.append(Row("gunicorn worker timeouts during the page runs", schools,
                                 note=str(timeouts)))


def measure_mail(settings: Settings, schools: int) -> None:
    port = free_port()
    sink = SinkProcess(port)
    app = create_app(app_config(settings.url, MAIL_SERVER="127.0.0.1", MAIL_PORT=port,
                                MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                                MAIL_SUPPRESS_SEND=False,
                                MAIL_DEFAULT_SENDER="Ruta <no-responder@bench.co>"))
    database = app.extensions["ruta_db"]
    try:
        # The day before's pass emptied the bodies past their retention (the seeded history
        # reaches back two years): the measured pass prunes one day's worth, as each day's does.
        with database.session_factory() as session:
            backlog = retention.prune_sent(session, now=PASS_AT - timedelta(days=1))
            session.commit()
        start = time.perf_counter()
        daily = run_daily_pass(app, now=PASS_AT, day=PASS_DAY)
        pass_s = time.perf_counter() - start
        start = time.perf_counter()
        report = deliver_pending(app, now=PASS_AT)
        deliver_s = time.perf_counter() - start
    finally:
        counts = sink.stop()
        database.dispose()
    settings.rows.append(Row(f"daily pass {PASS_DAY.isoformat()}", schools, p50_ms=pass_s * 1000,
                             note=f"{len(daily.queued):,} reminders queued, "
                                  f"{len(daily.started):,} seguimientos started, "
                                  f"{daily.pruned_messages:,} bodies pruned (the day before: "
                                  f"{backlog:,})"))
    settings.rows.append(Row("delivery to a loopback SMTP sink", schools,
                             p50_ms=deliver_s * 1000,
                             per_second=report.sent / deliver_s if deliver_s else None,
                             note=f"{report.sent:,} messages sent, the sink got "
                                  f"{counts['messages']:,}"))
    say(f"pass {pass_s:.1f} s, delivery {report.sent} in {deliver_s:.1f} s")


EXPORT_LINK = re.compile(r'href="(/reportes/consolidado\.(?:csv|xlsx|pdf)[^"]*)"')


def export_urls(reportes: str) -> list[str]:
    """The export links /reportes/ offers, one per sheet (the first separator of each)."""
    seen: dict[str, str] = {}
    for match in EXPORT_LINK.finditer(reportes):
        url = html.unescape(match.group(1))
        key = re.sub(r"[?&]separador=[^&]*", "", url)
        seen.setdefault(key, url)
    return list(seen.values())


def _child(command: list[str], environment: dict[str, str]) -> tuple[int, str, float]:
    """Run ``command``; its exit code, output and seconds. (Its memory: ``bench.peak`` and
    ``bench.probe`` report their own; a child's ``ru_maxrss`` starts from this process's.)"""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE,  # noqa: S603 (our own modules)
                          stderr=subprocess.DEVNULL, env=environment, cwd=web.ROOT,
                          check=False)
    return done.returncode, done.stdout.decode(), time.perf_counter() - start


def wanted(url: str, parts: list[str] | None) -> bool:
    """Whether ``--exports`` asks for this export: ``hoja=X`` names that sheet exactly (not
    ``hoja=X-detalle``), anything else is a part of the URL (``.pdf``)."""
    if parts is None:
        return True
    sheet = parse_qs(urlsplit(url).query).get("hoja", [""])[0]
    return any(part == f"hoja={sheet}" if part.startswith("hoja=") else part in url
               for part in parts)


def measure_exports(settings: Settings, schools: int, reportes: str) -> None:
    environment = {**os.environ, "PYTHONPATH": str(web.ROOT)}
    urls = [url for url in export_urls(reportes) if wanted(url, settings.exports)]
    _, output, _ = _child([sys.executable, "-m", "bench.probe", *urls,
                           "--database-url", settings.url, "--email", ADMIN,
                           "--password", PASSWORD], environment)
    results = {line["url"]: line for line in map(json.loads, output.strip().splitlines())}
    for url in urls:
        result = results.get(url)
        if result is None:
            settings.rows.append(Row(f"export {url}", schools, note="the probe stopped"))
            continue
        note = (f"HTTP {result['status']}, {result['bytes'] / 1024:,.0f} KiB; peak "
                f"{result['peak_mib']:.0f} MiB resident, from {result['before_mib']:.0f}")
        settings.rows.append(Row(f"export {url}", schools, p50_ms=result["seconds"] * 1000,
                                 note=note))
        say(f"{url}: {result['seconds']:.1f} s, {result['peak_mib']:.0f} MiB")
    if not settings.console_export:
        return
    out = settings.folder / "consolidado.xlsx"
    report = settings.folder / "consolidado.peak"
    # The console command of this checkout (the installed «ruta» script may be another's),
    # its own peak memory written by bench.peak (wait4's would start from this process's).
    command = [sys.executable, "-m", "bench.peak", str(report), "--", "export",
               "consolidado", "--out", str(out)]
    code, _, seconds = _child(command, {**environment, "RUTA_ENV": "development",
                                        "DATABASE_URL": settings.url})
    peak = float(report.read_text()) if report.exists() else 0.0
    size = out.stat().st_size / 1024 if out.exists() else 0
    settings.rows.append(Row("export: ruta export consolidado (Excel, console)", schools,
                             p50_ms=seconds * 1000,
                             note=f"exit {code}, {size:,.0f} KiB; peak {peak:.0f} MiB "
                                  "(the whole command: imports, app, export)"))
    say(f"ruta export consolidado: {seconds:.1f} s, {peak:.0f} MiB")


def measure(settings: Settings, seeder: Seeder, schools: int) -> None:
    say(f"{schools:,} schools: seeding")
    report = seeder.seed(settings.url, schools)
    with create_engine(settings.url.replace("postgresql://", "postgresql+psycopg://", 1)
                       ).connect() as connection:
        valoraciones = connection.scalar(text("SELECT count(*) FROM valoraciones"))
    settings.rows.append(Row("seed (bench.seed)", schools, p50_ms=report.seconds * 1000,
                             note=f"{report.copy_s:.1f} s copying; {valoraciones:,} valoraciones"))
    say(f"seeded in {report.seconds:.1f} s ({valoraciones:,} valoraciones)")
    app = create_app(app_config(settings.url, WTF_CSRF_ENABLED=True))
    try:
        listing = pages(app)
        counts, reportes = count_statements(app, listing)
    finally:
        app.extensions["ruta_db"].dispose()
    measure_pages(settings, schools, listing, counts)
    measure_mail(settings, schools)
    measure_exports(settings, schools, reportes)


def _cell(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    order: dict[str, int] = {}
    for row in rows:
        order.setdefault(row.what, len(order))
    lines = ["| what | schools | SQL statements | p50 / time (ms) | p95 (ms) | "
             f"req/s, {web.CLIENTS} clients | % of hello | p95 under load (ms) | "
             "CPU ms per answer (app + database) | % of hello by CPU | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in sorted(rows, key=lambda row: (order[row.what], row.schools)):
        share = "" if row.share is None else f"{row.share:.2f} %"
        cpu = ("" if row.app_cpu_ms is None else
               f"{row.app_cpu_ms:.2f}" + ("" if row.db_cpu_ms is None or row.cpu_share == 100.0
                                          else f" + {row.db_cpu_ms:.2f}"))
        cpu_share = "" if row.cpu_share is None else f"{row.cpu_share:.2f} %"
        lines.append(f"| {row.what} | {row.schools:,} | {_cell(row.statements)} | "
                     f"{_cell(row.p50_ms, 1)} | {_cell(row.p95_ms, 1)} | "
                     f"{_cell(row.per_second, 1)} | {share} | {_cell(row.load_p95_ms)} | "
                     f"{cpu} | {cpu_share} | {row.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", default="100,1000" if quick else "100,1000,10000")
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--seconds", type=float, default=2.0 if quick else 5.0,
                        help="how long each page is under load")
    parser.add_argument("--rounds", type=int, default=3 if quick else 5,
                        help="rounds of each page under load, each right after a round of "
                             "«hello» as long; a page's share is the median of the rounds'")
    parser.add_argument("--exports", default=QUICK_EXPORTS if quick else "",
                        help="measure only the exports whose URL contains one of these "
                             "comma-separated parts (default: every one /reportes/ links)")
    parser.add_argument("--no-console-export", action="store_true",
                        help="leave out «ruta export consolidado»")
    options = parser.parse_args(argv)
    if not options.database_url.startswith("postgresql"):
        raise SystemExit("bench.scale measures PostgreSQL: give a postgresql:// URL.")
    ensure_database(options.database_url)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(url=options.database_url, seconds=options.seconds,
                            samples=10 if quick else 20, budget_s=2.0 if quick else 10.0,
                            folder=Path(folder),
                            exports=[part for part in options.exports.split(",") if part]
                            or None, console_export=not options.no_console_export,
                            rounds=max(1, options.rounds))
        seeder = Seeder()
        for schools in (int(value) for value in options.schools.split(",")):
            measure(settings, seeder, schools)
        print(f"\nbench.scale on PostgreSQL, {os.cpu_count()} CPUs; gunicorn "
              f"deploy/gunicorn.conf.py with {web.WORKERS} workers; {web.CLIENTS} clients on "
              f"loopback for {options.seconds:g} s per page in {settings.rounds} rounds, "
              f"each after a round of «hello» as long; whole run "
              f"{time.perf_counter() - started:.0f} s\n")
        print(table(settings.rows))


if __name__ == "__main__":
    main()
