"""The production stack of the README: Debian's nginx with deploy/nginx/ in front of gunicorn
with deploy/gunicorn.conf.py (finding E18, issue 15 item 8).

Without a buffering proxy, a few clients that send their request one byte every few seconds
hold every gunicorn thread and the service stops answering. These tests start the real
thing on loopback (nginx from Debian's package, gunicorn in production mode on a SQLite
file), open 50 such clients, and time one ordinary request past them. They also check what
nginx adds: gzip, a year of cache for hashed static files, its own answers in Spanish, and
access logs without the tokens of one-time links.

nginx is ``apt-get install nginx-light`` (``.ci/run`` installs it): a developer's machine
without it skips these tests with that reason; under CI (``CI=true``) a missing nginx fails.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ruta.assets import IMMUTABLE, REVALIDATE
from ruta.config import PROJECT_ROOT, load_config
from tests.conftest import IN_CI

pytestmark = pytest.mark.nginx

NGINX = Path("/usr/sbin/nginx")
DEPLOY = PROJECT_ROOT / "deploy"
# What the shipped files say, for the layout the README describes; the tests put their own
# temporary places instead.
SHIPPED_ROOT = "/srv/ruta"
SHIPPED_UPSTREAM = "127.0.0.1:8000"
SLOW_CLIENTS = 50
SLOW_BYTE_INTERVAL = 0.5
# A failure past this, not a wait: typically gunicorn's worker imports the app in 2–5 s, but
# on a 2-core machine busy with the rest of the suite it has taken up to 12 s.
START_DEADLINE = 20.0
STYLESHEET = re.compile(r'href="(/static/ruta\.css\?v=[0-9a-f]+)"')
SECRET_KEY = "prueba-de-produccion-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
ONE_TIME_TOKEN = "TokenSecretoDeUnSoloUso123"  # noqa: S105


def require_nginx() -> None:
    if NGINX.exists():
        return
    if IN_CI:
        pytest.fail(f"CI=true but {NGINX} is missing: .ci/run installs nginx-light")
    pytest.skip(f"{NGINX} is missing (apt-get install nginx-light): production stack "
                "tests skipped on this machine")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render(name: str, replacements: dict[str, str]) -> str:
    """A shipped nginx file with its production values replaced; each must be there."""
    text = (DEPLOY / "nginx" / name).read_text(encoding="utf-8")
    for shipped, ours in replacements.items():
        assert shipped in text, f"{name} no longer says {shipped}"
        text = text.replace(shipped, ours)
    return text


def nginx_top_level(folder: Path, port: int) -> str:
    """The top level the tests fill: every path nginx writes is inside ``folder``."""
    return f"""
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
daemon off;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/ruta-http.conf;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        access_log {folder}/access.log ruta;
        include {folder}/ruta-server.conf;
    }}
}}
"""


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Stack:
    folder: Path
    nginx_port: int
    gunicorn_port: int
    gunicorn: subprocess.Popen[bytes]
    gunicorn_log: Path

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                timeout: float = 5.0) -> tuple[http.client.HTTPResponse, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.nginx_port, timeout=timeout)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response, response.read()
        finally:
            connection.close()

    def stop_gunicorn(self) -> str:
        """Stop gunicorn and return what it logged (each line is written as it happens)."""
        kill_group(self.gunicorn)
        return self.gunicorn_log.read_text(encoding="utf-8")


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a process started in its own session and all its children (gunicorn's master and
    worker): certain, and at once, where a graceful stop would wait seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def start_nginx(folder: Path, port: int, upstream: str) -> subprocess.Popen[bytes]:
    """nginx with the shipped files, rendered into ``folder``, listening on ``port``."""
    folder.mkdir()
    (folder / "ruta-http.conf").write_text(
        render("ruta-http.conf", {SHIPPED_UPSTREAM: upstream}), encoding="utf-8")
    (folder / "ruta-server.conf").write_text(
        render("ruta-server.conf", {SHIPPED_ROOT: str(PROJECT_ROOT)}), encoding="utf-8")
    (folder / "nginx.conf").write_text(nginx_top_level(folder, port), encoding="utf-8")
    with (folder / "nginx.out").open("wb") as output:
        nginx = subprocess.Popen([str(NGINX), "-p", str(folder), "-c",
                                  str(folder / "nginx.conf"), "-e", str(folder / "error.log")],
                                 stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, nginx)
    except BaseException:
        stop(nginx)
        raise
    return nginx


@pytest.fixture
def stack(tmp_path: Path, sqlite_template: Path) -> Iterator[Stack]:
    require_nginx()
    nginx_port, gunicorn_port = free_port(), free_port()
    upstream = f"127.0.0.1:{gunicorn_port}"
    database = tmp_path / "ruta.db"
    shutil.copyfile(sqlite_template, database)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RUTA_ENV": "production",
           "SECRET_KEY": SECRET_KEY, "DATABASE_URL": f"sqlite:///{database}",
           "EVIDENCE_FOLDER": str(tmp_path / "evidencias"),
           "EXPORT_FOLDER": str(tmp_path / "exportaciones"), "TRUSTED_PROXIES": "1",
           # One process (4 threads): the fewest threads for nginx to protect, and the
           # quickest start.
           "WEB_CONCURRENCY": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    gunicorn_log = tmp_path / "gunicorn.log"
    nginx = start_nginx(tmp_path / "nginx", nginx_port, upstream)
    try:
        with gunicorn_log.open("wb") as output:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"),
                 "--bind", upstream, "ruta:create_app()"],
                cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            ready = Stack(tmp_path / "nginx", nginx_port, gunicorn_port, gunicorn,
                          gunicorn_log)
            wait_until_serving(ready)
            yield ready
        finally:
            kill_group(gunicorn)
    finally:
        stop(nginx)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process ended at start-up"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on {port} after {START_DEADLINE} s")


def wait_until_serving(stack: Stack) -> None:
    """Poll the sign-in page through nginx until gunicorn answers it.

    nginx answers 502 at once until gunicorn's master listens; from then on a request waits
    in the listening queue until the worker has imported the app."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        assert stack.gunicorn.poll() is None, stack.gunicorn_log.read_text(encoding="utf-8")
        response, _ = stack.request("GET", "/ingresar",
                                    timeout=max(deadline - time.monotonic(), 0.1))
        if response.status == 200:
            return
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer within {START_DEADLINE} s: "
                + stack.gunicorn_log.read_text(encoding="utf-8"))


class SlowClients:
    """``count`` connections that send a request header one byte every ``interval``."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        self.interval = interval
        self.sockets: list[socket.socket] = []
        try:
            for _ in range(count):
                self.sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                self.sockets[-1].sendall(b"G")
        except BaseException:
            for slow in self.sockets:
                slow.close()
            raise
        self.rounds = 0
        self.two_rounds = threading.Event()
        self._stop = threading.Event()
        self._header = iter(b"ET /ingresar HTTP/1.1\r\nHost: localhost\r\nX-Lento: "
                            + b"a" * 1000)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        for byte in self._header:
            if self._stop.wait(self.interval):
                return
            for slow in self.sockets:
                # nginx may have closed it (its header timeout): the test is over by then.
                with contextlib.suppress(OSError):
                    slow.sendall(bytes([byte]))
            self.rounds += 1
            if self.rounds >= 2:
                self.two_rounds.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for slow in self.sockets:
            slow.close()


def test_behind_nginx_fifty_slow_clients_do_not_stop_a_normal_request(stack: Stack) -> None:
    """The finding's scenario on the README's stack, then what else nginx is there for:
    compression, static files cached for a year, logs without one-time tokens; last, the
    same slow clients straight at gunicorn, which is what the finding measured."""
    slow = SlowClients(stack.nginx_port, SLOW_CLIENTS, SLOW_BYTE_INTERVAL)
    try:
        # Every slow client is mid-header (two bytes after the first): without nginx, each
        # would now hold a gunicorn thread.
        assert slow.two_rounds.wait(timeout=5)
        started = time.perf_counter()
        response, body = stack.request("GET", "/ingresar", timeout=5)
        elapsed = time.perf_counter() - started
    finally:
        slow.close()
    assert response.status == 200
    assert "Ingresar" in body.decode("utf-8")
    assert elapsed < 1.0, f"{elapsed:.2f} s behind {SLOW_CLIENTS} slow clients"

    page, body = stack.request("GET", "/ingresar", headers={"Accept-Encoding": "gzip"})
    assert (page.status, page.getheader("Content-Encoding")) == (200, "gzip")
    html = gzip.decompress(body).decode("utf-8")
    assert page.getheader("Cache-Control") == "no-store"
    stylesheet = STYLESHEET.search(html)
    assert stylesheet is not None, html

    hashed, css = stack.request("GET", stylesheet.group(1), headers={"Accept-Encoding": "gzip"})
    assert (hashed.status, hashed.getheader("Content-Encoding"),
            hashed.getheader("Cache-Control")) == (200, "gzip", IMMUTABLE)
    assert gzip.decompress(css) == (PROJECT_ROOT / "static" / "ruta.css").read_bytes()
    bare, _ = stack.request("GET", "/static/ruta.css")
    assert (bare.status, bare.getheader("Cache-Control")) == (200, REVALIDATE)

    # A one-time link's token stays out of both access logs.
    # (The link's page moves the token into the session and sends the browser on, 303.)
    link, _ = stack.request("GET", f"/invitacion/{ONE_TIME_TOKEN}")
    assert (link.status, link.getheader("Location")) == (303, "/invitacion")

    # The same clients straight at gunicorn, as in the finding: it stops answering.
    direct = SlowClients(stack.gunicorn_port, SLOW_CLIENTS, SLOW_BYTE_INTERVAL)
    unprotected = http.client.HTTPConnection("127.0.0.1", stack.gunicorn_port, timeout=1.0)
    try:
        with pytest.raises(TimeoutError):
            unprotected.request("GET", "/ingresar")
            unprotected.getresponse()
    finally:
        unprotected.close()
        direct.close()
    gunicorn_log = stack.stop_gunicorn()
    nginx_log = (stack.folder / "access.log").read_text(encoding="utf-8")
    assert '"GET /invitacion/[oculto] HTTP/1.1" 303' in nginx_log
    assert '"GET /invitacion/[oculto] HTTP/1.1" 303' in gunicorn_log
    assert ONE_TIME_TOKEN not in nginx_log + gunicorn_log


def test_nginx_answers_in_spanish_what_it_answers_itself(tmp_path: Path) -> None:
    """The app down (a restart) and a body over nginx's limit: nginx's own pages, in
    Spanish, not its English defaults."""
    require_nginx()
    port = free_port()
    nginx = start_nginx(tmp_path / "nginx", port, f"127.0.0.1:{free_port()}")
    try:
        down = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            down.request("GET", "/ingresar")
            answer = down.getresponse()
            body = answer.read().decode("utf-8")
        finally:
            down.close()
        big = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            # Refused from its announced length, before any of it is sent.
            big.putrequest("POST", "/ingresar")
            big.putheader("Content-Type", "application/x-www-form-urlencoded")
            big.putheader("Content-Length", str(70 * 1024 * 1024))
            big.endheaders()
            refused = big.getresponse()
            refused_body = refused.read().decode("utf-8")
        finally:
            big.close()
    finally:
        stop(nginx)
    assert (answer.status, answer.getheader("Retry-After")) == (502, "30")
    assert "El servicio no está disponible por un momento" in body
    assert (refused.status, refused.getheader("Retry-After")) == (413, None)
    assert "Lo enviado es demasiado grande" in refused_body


def test_nginx_body_limit_lets_the_biggest_form_reach_the_app() -> None:
    """The app answers bodies up to the proceso form's limit itself (in Spanish, keeping
    what was typed); nginx's limit must be above it."""
    from blueprints.evidencias import FORM_FILES_ALLOWANCE, FORM_OVERHEAD

    shipped = (DEPLOY / "nginx" / "ruta-server.conf").read_text(encoding="utf-8")
    megabytes = re.search(r"^client_max_body_size (\d+)m;$", shipped, re.MULTILINE)
    assert megabytes is not None
    app_limit = (load_config({}, mode="development")["EVIDENCE_MAX_BYTES"]
                 * FORM_FILES_ALLOWANCE + FORM_OVERHEAD)
    assert app_limit < int(megabytes.group(1)) * 1024 * 1024 <= app_limit + 1024 * 1024


def test_shipped_site_passes_nginx_configuration_check(tmp_path: Path) -> None:
    """deploy/nginx/ruta.conf, in Debian's own nginx.conf, as the README installs it."""
    require_nginx()
    site = tmp_path / "deploy" / "nginx"
    site.mkdir(parents=True)
    for name in ("ruta-http.conf", "ruta-server.conf"):
        shutil.copyfile(DEPLOY / "nginx" / name, site / name)
    certificate, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=ruta",
                    "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=30)
    (site / "ruta.conf").write_text(render("ruta.conf", {
        SHIPPED_ROOT: str(tmp_path), "/etc/ssl/ruta/fullchain.pem": str(certificate),
        "/etc/ssl/ruta/privkey.pem": str(key), "/var/log/nginx": str(tmp_path)}),
        encoding="utf-8")
    debian = Path("/etc/nginx/nginx.conf").read_text(encoding="utf-8")
    debian = (debian.replace("include /etc/nginx/sites-enabled/*;", f"include {site}/ruta.conf;")
              .replace("/var/log/nginx", str(tmp_path)).replace("/run/nginx.pid",
                                                                 str(tmp_path / "nginx.pid")))
    (tmp_path / "nginx.conf").write_text(debian, encoding="utf-8")
    # Debian's prefix (no -p): its modules-enabled/ names modules relative to it.
    result = subprocess.run([str(NGINX), "-t", "-c",
                             str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
