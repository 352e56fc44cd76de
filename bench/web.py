"""The HTTP side of ``bench.scale``: gunicorn with the shipped settings, a keep-alive client
that signs in as a browser does, single-user timings and a threaded load generator.

Pages are driven by URL only, as a browser would; nothing here knows how a page is built.
Every request carries what nginx adds in production (``X-Forwarded-Proto: https``,
``X-Forwarded-For``) and asks for compressed answers, as browsers do.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
WORKERS = 2
CLIENTS = 4
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Client:
    """One browser: its cookies, and a keep-alive connection, or (``keep_alive=False``) a
    connection per request, as nginx sends them to gunicorn in production
    (deploy/nginx/ruta-server.conf): each request then goes to whichever worker accepts it
    first. Four keep-alive connections stay on the workers that accepted them, and when all
    four land on one of the two, that run measures one process's threads sharing its lock
    while the other process idles (the Ruta page read 7.9 % of «hello» in such a run, 17–22 %
    in others, with its rounds 7.1–9.6 % apart)."""

    def __init__(self, port: int, *, keep_alive: bool = True) -> None:
        self.port = port
        self.keep_alive = keep_alive
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def request(self, method: str, url: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        sent = {"Host": "ruta.bench.co", "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "10.0.0.1", "Accept-Encoding": "gzip, deflate, br",
                "User-Agent": "bench.scale", **(headers or {})}
        if not self.keep_alive:
            sent["Connection"] = "close"  # http.client opens another for the next request
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            try:
                self.connection.request(method, url, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: open another, once.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                             timeout=300)
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def get(self, url: str) -> tuple[int, bytes]:
        return self.request("GET", url)

    def sign_in(self, email: str, password: str) -> None:
        status, page = self.request("GET", "/ingresar", headers={"Accept-Encoding": "identity"})
        match = CSRF.search(page.decode("utf-8", "replace"))
        if status != 200 or match is None:
            raise SystemExit(f"/ingresar answered {status} without a form")
        form = urlencode({"email": email, "password": password, "csrf_token": match.group(1)})
        status, _ = self.request("POST", "/ingresar", body=form.encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            # Over HTTPS flask-wtf wants a same-origin Referer, as browsers send.
            "Referer": "https://ruta.bench.co/ingresar", "Origin": "https://ruta.bench.co"})
        if status not in (302, 303):
            raise SystemExit(f"signing in as {email} answered {status}")

    def close(self) -> None:
        self.connection.close()


@dataclass
class Timing:
    p50_ms: float
    p95_ms: float
    samples: int
    kib: float


def single_user(client: Client, url: str, *, samples: int, budget_s: float) -> Timing:
    """One request at a time: the median and 95th percentile (nearest rank) of up to
    ``samples`` requests, fewer (at least three) when the page is slow."""
    begin = time.perf_counter()
    status, body = client.get(url)  # warm: compiled statements, caches
    warm_ms = (time.perf_counter() - begin) * 1000
    if status != 200:
        raise SystemExit(f"{url} answered {status}")
    # A page slower than the whole budget: its first answer counts too (compiling a few
    # statements is nothing beside it), and two more make the three samples.
    times: list[float] = [warm_ms] if warm_ms > budget_s * 1000 else []
    start = time.perf_counter()
    while len(times) < samples and (len(times) < 3 or time.perf_counter() - start < budget_s):
        begin = time.perf_counter()
        status, body = client.get(url)
        times.append((time.perf_counter() - begin) * 1000)
        if status != 200:
            raise SystemExit(f"{url} answered {status}")
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return Timing(statistics.median(times), p95, len(times), len(body) / 1024)


@dataclass
class Load:
    per_second: float
    ok: int
    errors: int
    p95_ms: float
    #: CPU the server's processes (gunicorn's master and workers) and PostgreSQL's spent per
    #: answer, in ms (None: not measured, or not on Linux).
    app_cpu_ms: float | None = None
    db_cpu_ms: float | None = None
    seconds: float = 0.0
    #: Every answer's time (ms), so that loads can be put together (``combined``).
    latencies: list[float] = field(default_factory=list, repr=False)


def _p95(latencies: list[float]) -> float:
    every = sorted(latencies)
    return every[min(len(every) - 1, max(0, round(0.95 * len(every)) - 1))] if every else 0.0


def combined(loads: list[Load]) -> Load:
    """Several loads of the same page as one: answers over the time they took together, the
    p95 of all their answers, CPU per answer over all the answers."""
    ok = sum(load.ok for load in loads)
    seconds = sum(load.seconds for load in loads)
    latencies = [value for load in loads for value in load.latencies]
    result = Load(ok / seconds if seconds else 0.0, ok, sum(load.errors for load in loads),
                  _p95(latencies), seconds=seconds, latencies=latencies)
    if ok and all(load.app_cpu_ms is not None for load in loads):
        result.app_cpu_ms = sum((load.app_cpu_ms or 0.0) * load.ok for load in loads) / ok
        result.db_cpu_ms = sum((load.db_cpu_ms or 0.0) * load.ok for load in loads) / ok
    return result


@dataclass
class Paired:
    """A page measured in rounds, each right after the yardstick: ``rounds`` are the
    (yardstick, page) pairs; the share is the median of each round's own ratio, so that a
    moment when the host gave this VM less is in both sides of the ratio it moves."""

    rounds: list[tuple[Load, Load]]

    @property
    def shares(self) -> list[float]:
        return sorted(100 * page.per_second / hello.per_second
                      for hello, page in self.rounds if hello.per_second)

    @property
    def share(self) -> float | None:
        shares = self.shares
        return statistics.median(shares) if shares else None

    @property
    def page(self) -> Load:
        return combined([page for _, page in self.rounds])

    @property
    def hello(self) -> Load:
        return combined([hello for hello, _ in self.rounds])


def paired(yardstick: list[Client], hello_pid: int | None, clients: list[Client], url: str, *,
           server_pid: int | None, rounds: int, seconds: float,
           database: str | None = None) -> Paired:
    """``rounds`` times: the yardstick's «/» under load, then ``url``, ``seconds`` each."""
    return Paired([(load(yardstick, "/", seconds=seconds, server_pid=hello_pid,
                         database=database),
                    load(clients, url, seconds=seconds, server_pid=server_pid,
                         database=database))
                   for _ in range(rounds)])


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds of the process and of its reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    command = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), from the state (3) on here.
    return command, int(fields[1]), sum(int(value) for value in fields[11:15]) / _TICK


def backend_database(pid: str) -> str | None:
    """The database a PostgreSQL backend serves, from its process title («postgres:
    [cluster:] user database host(port) state»); None for the server's own processes
    (checkpointer, walwriter…) and for anything else."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace")
    except OSError:
        return None
    words = title.split()
    if not words or words[0] != "postgres:":
        return None
    words = words[1:]
    if words and words[0].endswith(":"):  # cluster_name, as Debian sets it («15/main:»)
        words = words[1:]
    if len(words) < 3 or "(" not in words[2] and words[2] != "[local]":
        return None
    return words[1]


def cpu_seconds(server_pid: int, database: str | None = None) -> tuple[float, float]:
    """CPU seconds spent so far by the server (its master, with the workers it reaped, and
    its live workers) and by PostgreSQL: with ``database``, only the backends serving that
    database (what runs beside the bench on other databases is not counted; the server's
    own writers are shared, and left out), otherwise every PostgreSQL process. Read from
    /proc, so they count only what ran: time the host gave its other guests (steal) is in
    neither, which makes a cost per request steadier than requests per second on a shared
    VM."""
    app = used = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        found = _stat(entry.name)
        if found is None:
            continue
        command, parent, seconds = found
        if int(entry.name) == server_pid or parent == server_pid:
            app += seconds
        elif (command == "postgres" or command.startswith("postgres:")) and (
                database is None or backend_database(entry.name) == database):
            used += seconds
    return app, used


def load(clients: list[Client], url: str, *, seconds: float,
         server_pid: int | None = None, database: str | None = None) -> Load:
    """Every client requests ``url`` back to back for ``seconds`` (each finishes the request
    it started); throughput counts the answers 200 over the whole time. With the server's
    pid (Linux), also the CPU it and PostgreSQL (``database``'s backends, if given) spent
    per answer."""
    counts = [[0, 0] for _ in clients]
    latencies: list[list[float]] = [[] for _ in clients]
    stop = time.perf_counter() + seconds

    def run(index: int) -> None:
        client = clients[index]
        while time.perf_counter() < stop:
            begin = time.perf_counter()
            try:
                status, _ = client.get(url)
            except (OSError, http.client.HTTPException):
                status = 0
            latencies[index].append((time.perf_counter() - begin) * 1000)
            counts[index][0 if status == 200 else 1] += 1

    measured = server_pid is not None and Path("/proc/self/stat").exists()
    before = cpu_seconds(server_pid, database) if measured and server_pid is not None else None
    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    ok = sum(count[0] for count in counts)
    every = [value for values in latencies for value in values]
    result = Load(ok / elapsed, ok, sum(count[1] for count in counts), _p95(every),
                  seconds=elapsed, latencies=every)
    if before is not None and server_pid is not None and ok:
        after = cpu_seconds(server_pid, database)
        result.app_cpu_ms = (after[0] - before[0]) * 1000 / ok
        result.db_cpu_ms = (after[1] - before[1]) * 1000 / ok
    return result


def server_environment(database_url: str, folder: Path) -> dict[str, str]:
    """Production mode, as deployed behind nginx; two-step verification off (the load
    generator cannot read an authenticator app) and nothing else relaxed."""
    return {**os.environ, "RUTA_ENV": "production", "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(48), "MFA_REQUIRED_ROLES": "",
            "TRUSTED_PROXIES": "1", "RUTA_BASE_URL": "https://ruta.bench.co",
            "EXPORT_FOLDER": str(folder / "exportaciones"),
            "EVIDENCE_FOLDER": str(folder / "evidencias"),
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@dataclass(frozen=True)
class Served:
    port: int
    pid: int  # gunicorn's master


@contextmanager
def gunicorn(app: str, environment: dict[str, str], log: Path) -> Iterator[Served]:
    """``gunicorn -c deploy/gunicorn.conf.py`` with ``WORKERS`` workers on a free loopback
    port; yields its port and master's pid once the app answers."""
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 (fixed arguments)
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF),
             "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", app],
            cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                probe = Client(port)
                probe.get("/")
                probe.close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"gunicorn did not start ({app}):\n{tail}") from None
                time.sleep(0.2)
        yield Served(port, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_timeouts(log: Path) -> int:
    """How many times gunicorn killed a worker for its timeout (its log says so)."""
    if not log.exists():
        return 0
    return log.read_text(errors="replace").count("WORKER TIMEOUT")
