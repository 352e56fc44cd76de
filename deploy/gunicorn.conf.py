"""gunicorn's settings for Ruta in production, always behind the nginx of deploy/nginx/.

    gunicorn -c deploy/gunicorn.conf.py 'ruta:create_app()'

gunicorn must never face the network by itself: a slow client (one byte every few seconds,
on purpose or from a bad mobile link) holds a gunicorn thread for as long as it likes, and a
few dozen of them make the service unreachable (finding E18). nginx reads each request whole
before handing it over and takes each answer at loopback speed, so gunicorn's threads only
ever talk to nginx. That is why the default bind is loopback.

Worker class: ``gthread`` (processes with threads), not ``sync``. Behind a buffering proxy
both are safe from slow clients, but a few requests of Ruta take seconds of their own (the
consolidado's PDF, an inline Excel of up to 500 Rutas, Argon2 at sign-in): with ``sync`` each
one holds a whole process, with threads the other threads of the process keep answering. The
app is thread-safe: one SQLAlchemy session per thread, removed at the end of each request
(the development server is threaded too). Concurrency = workers × threads; each process
keeps its own database pool (5 + 10 overflow), above its 4 threads.

Everything can be overridden on the command line (``--bind``, ``--workers``, ``--threads``)
or with ``GUNICORN_CMD_ARGS``; ``WEB_CONCURRENCY`` sets the number of processes.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re

from gunicorn.glogging import Logger

bind = "127.0.0.1:8000"

worker_class = "gthread"
# Two per core plus one, as gunicorn's documentation suggests; each has `threads` threads.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = 4

# A process that shows no sign of life for this long (stuck, not merely busy: with gthread
# its main loop reports every second while its threads work) is killed and replaced. A long
# request is not cut here: nginx stops waiting after 75 s (proxy_read_timeout) and answers
# its Spanish 504; the slowest legitimate request, the consolidado's PDF at its size limit,
# takes a few seconds.
timeout = 60
# On a restart or a deploy (SIGHUP, SIGTERM), requests in flight get this long to finish.
graceful_timeout = 30
# nginx opens a new loopback connection per request; a short keep-alive is enough.
keepalive = 5

# A process is replaced after this many requests (with jitter, so they do not all restart at
# once): whatever a library leaks cannot grow for months. Not much more often: a new process
# builds the app again (seconds of a core) and starts with empty caches (compiled statements,
# prepared statements, kept page bodies, catalog trees). At 2,000 a busy worker of a national
# deployment was replaced every half a minute, and a replacement in the middle of a measured
# page cost it up to a fifth of its throughput in bench.scale.
max_requests = 20000
max_requests_jitter = 2000

# The heartbeat file of each worker: in memory, not on a disk that may stall (and
# /tmp may be a slow disk or noexec in a hardened server).
# (S108: the heartbeat is an empty file gunicorn creates and unlinks at once; nothing to read.)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# The app reads the client's address and scheme from X-Forwarded-For / -Proto itself
# (ProxyFix, with TRUSTED_PROXIES=1). gunicorn also honours X-Forwarded-Proto, but only
# from nginx on this same machine.
forwarded_allow_ips = "127.0.0.1,::1"

# Logs to standard output and error, for systemd's journal.
accesslog = "-"
errorlog = "-"
loglevel = "info"
# No query string, no referrer: the links of an invitation or a password reset carry their
# token (in the path, redacted below; a page opened from such a link sends it as referrer).
# %(h)s is nginx; the client's address is in nginx's own log.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# Paths whose last part is a secret (one-time links sent by mail).
TOKEN_PATH = re.compile(r"^(/(?:restablecer|invitacion)/)[^/]+")


def redact_path(path: str) -> str:
    """The path with the token of a one-time link replaced by «[oculto]»."""
    return TOKEN_PATH.sub(r"\1[oculto]", path)


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the tokens of one-time links left out of the access log."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_path(atoms.get("U", ""))
        return atoms


logger_class = RedactingLogger


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """With PROMETHEUS_MULTIPROC_DIR, drop a dead worker's live gauges from /metricas."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Once the worker has built the app: what exists now (the modules, the app and its
    routes: some 190,000 objects) lives as long as the process, so Python's cyclic collector
    is told to leave it out of its passes. Without this each full pass walked all of it: at
    10,000 schools one every hundred views of the revision queue, a pause of about 180 ms in
    that worker, and some 2.8 ms a view on average."""
    gc.collect()
    gc.freeze()
